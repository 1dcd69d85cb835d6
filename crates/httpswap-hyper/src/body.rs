//! Body wrappers: the request body tells when it was fully handed to hyper
//! (the read timeout for the response head starts then); the response body
//! enforces the read timeout between chunks, maps errors, and gives the
//! connection back to the pool at its end.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_core::{Body, Error, ErrorKind};
use hyper::body::Incoming;
use tokio::sync::Notify;
use tokio::time::Sleep;

use crate::connect::Target;
use crate::error::{map_hyper, Phase, BACKEND};
use crate::pool::Leased as Lease;

/// Whether the request body has been fully produced.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    done: AtomicBool,
    pub(crate) notify: Notify,
}

impl Progress {
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
    fn mark_done(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.notify.notify_waiters();
        }
    }
}

/// The request body as hyper sees it.
pub(crate) struct ReqBody {
    inner: Body,
    /// `None` for a body that was empty from the start.
    progress: Option<Arc<Progress>>,
}

impl ReqBody {
    pub(crate) fn new(inner: Body, progress: Option<Arc<Progress>>) -> Self {
        ReqBody { inner, progress }
    }

    pub(crate) fn into_inner(self) -> Body {
        self.inner
    }
}

impl http_body::Body for ReqBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(progress) = &this.progress {
            match &polled {
                Poll::Ready(None) | Poll::Ready(Some(Err(_))) => progress.mark_done(),
                Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => progress.mark_done(),
                _ => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body handed to users.
pub(crate) struct ResBody {
    inner: Incoming,
    read_timeout: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    /// The total deadline of the request, and its length for the message.
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    lease: Option<Lease>,
    target: Target,
    done: bool,
}

impl ResBody {
    pub(crate) fn new(
        inner: Incoming,
        read_timeout: Option<Duration>,
        deadline: Option<(tokio::time::Instant, Duration)>,
        lease: Lease,
        target: Target,
    ) -> Self {
        let mut body = ResBody {
            inner,
            read_timeout,
            timer: None,
            deadline: deadline.map(|(at, total)| (Box::pin(tokio::time::sleep_until(at)), total)),
            lease: Some(lease),
            target,
            done: false,
        };
        if http_body::Body::is_end_stream(&body.inner) {
            body.finish(true);
        }
        body
    }

    /// Ends the body: a complete response gives an HTTP/1 connection back
    /// for reuse; anything else closes it.
    fn finish(&mut self, complete: bool) {
        self.done = true;
        self.timer = None;
        self.deadline = None;
        match self.lease.take() {
            Some(Lease::H1(lease)) if complete => lease.release(),
            other => drop(other),
        }
    }
}

impl http_body::Body for ResBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if let Some((sleep, total)) = &mut this.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                let total = *total;
                this.finish(false);
                return Poll::Ready(Some(Err(Error::timeout(
                    ErrorKind::Timeout,
                    total,
                    this.target.origin(),
                )
                .with_backend(BACKEND))));
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer = None;
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish(true);
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.finish(false);
                Poll::Ready(Some(Err(map_hyper(
                    e,
                    Phase::ResponseBody,
                    &this.target.origin(),
                ))))
            }
            Poll::Pending => {
                let Some(limit) = this.read_timeout else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.finish(false);
                Poll::Ready(Some(Err(Error::timeout(
                    ErrorKind::ReadTimeout,
                    limit,
                    this.target.origin(),
                )
                .with_backend(BACKEND))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if self.done {
            SizeHint::with_exact(0)
        } else {
            self.inner.size_hint()
        }
    }
}
