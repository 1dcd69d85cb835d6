//! Body wrappers: the request body tells when it was fully handed to hyper
//! (the read timeout for the response head starts then); the response body
//! is the adapter's `TimedBody` (read gap, deadline, error mapping) holding
//! the connection lease, which goes back to the pool at its end.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_adapter::{EndGuard, TimedBody};
use httpswap_core::{Body, Error};
use hyper::body::Incoming;
use tokio::sync::Notify;

use crate::connect::Target;
use crate::error::{map_hyper, Phase};
use crate::Lease;

/// Whether the request body has been handed to hyper whole (the read
/// timeout for the response head starts then). Not the adapter crate's
/// `UploadProgress`, which also times each chunk.
#[derive(Debug, Default)]
pub(crate) struct HandedOver {
    done: AtomicBool,
    pub(crate) notify: Notify,
}

impl HandedOver {
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
    fn mark_done(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }
}

/// The request body as hyper sees it. A body with nothing to send (most
/// requests') is a variant without data: hyper moves every request
/// several times between the caller and the connection task, and a body
/// inline there made each move 80 bytes longer.
pub(crate) enum ReqBody {
    Empty,
    Sending(Box<Sending>),
}

/// A body to send, and how far it got.
pub(crate) struct Sending {
    inner: Body,
    /// `None` for a body that was empty from the start.
    handed_over: Option<Arc<HandedOver>>,
}

impl ReqBody {
    pub(crate) fn new(inner: Body, handed_over: Option<Arc<HandedOver>>) -> Self {
        if handed_over.is_none() && http_body::Body::is_end_stream(&inner) {
            ReqBody::Empty
        } else {
            ReqBody::Sending(Box::new(Sending { inner, handed_over }))
        }
    }

    /// The body as it was given (an empty one as [`Body::empty`]).
    pub(crate) fn into_inner(self) -> Body {
        match self {
            ReqBody::Empty => Body::empty(),
            ReqBody::Sending(s) => s.inner,
        }
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let ReqBody::Sending(this) = self.get_mut() else {
            return Poll::Ready(None);
        };
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(handed_over) = &this.handed_over {
            match &polled {
                Poll::Ready(None) | Poll::Ready(Some(Err(_))) => handed_over.mark_done(),
                Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => handed_over.mark_done(),
                _ => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReqBody::Empty => true,
            ReqBody::Sending(s) => s.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ReqBody::Empty => SizeHint::with_exact(0),
            ReqBody::Sending(s) => s.inner.size_hint(),
        }
    }
}

/// A connection lease held by a response body: a body read to its end
/// gives an HTTP/1 connection back for reuse; anything else closes it.
impl EndGuard for Lease {
    fn end(self, complete: bool) {
        match self {
            Lease::H1(lease) if complete => lease.release(),
            other => drop(other),
        }
    }
}

/// The response body handed to users: the adapter's [`TimedBody`] (read
/// gap, total deadline) holding the connection lease.
pub(crate) type ResBody = TimedBody<Incoming, Target, Lease>;

/// Maps an error while reading the response body.
pub(crate) fn map_body_error(e: hyper::Error, target: &Target) -> Error {
    map_hyper(e, Phase::ResponseBody, &target.origin())
}
