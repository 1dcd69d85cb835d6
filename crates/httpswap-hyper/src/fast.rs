//! The fast path: the future of a request already handed to an idle
//! HTTP/1 connection (see `Inner::start`), which only waits for the
//! response head. It waits as the general path does
//! ([`H1Conn::poll_answer`](crate::h1::H1Conn::poll_answer)), and resends
//! by the same rule ([`Failed::resend`]).
//!
//! Written by hand rather than as an `async` block: such a block keeps what
//! it captures (here hyper's send future, which has room for a whole
//! request) apart from its locals, and every request allocates its future
//! and moves it whole. This one is about half the general path's size, and
//! polls hyper's future and the connection's head timer directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::TryFutureExt;
use httpswap_adapter::BodyLimits;
use httpswap_core::{Error, ErrorKind, Response};
use hyper::body::Incoming;

use crate::connect::Target;
use crate::error::BACKEND;
use crate::h1::Waited;
use crate::send::{respond, Backup, Choice, Failed};
use crate::{H1Lease, Inner, Lease};

/// What the future owns until the head arrives.
pub(crate) struct Waiting {
    pub(crate) lease: H1Lease,
    pub(crate) target: Target,
    /// The copy sent on a fresh connection if this one turns out dead.
    pub(crate) backup: Option<Backup>,
}

type Resend<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'a>>;

pin_project_lite::pin_project! {
    /// A request handed to an idle HTTP/1 connection, waiting for its head
    /// within the read timeout (the connection's head timer, started from
    /// the pool's clock reading at checkout).
    pub(crate) struct Fast<'a, F> {
        #[pin]
        pub(crate) send: F,
        pub(crate) inner: &'a Arc<Inner>,
        pub(crate) read: Option<Duration>,
        pub(crate) timer_set: bool,
        // `None` once the outcome is known
        pub(crate) waiting: Option<Waiting>,
        // the general path, after the connection turned out dead
        pub(crate) resend: Option<Resend<'a>>,
    }
}

impl<F> Future for Fast<'_, F>
where
    F: Future<Output = hyper::Result<http::Response<Incoming>>>,
{
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(resend) = this.resend {
            return resend.as_mut().poll(cx);
        }
        let Some(waiting) = this.waiting.as_mut() else {
            return Poll::Pending;
        };
        let conn = waiting.lease.conn();
        if let (Some(limit), false) = (*this.read, *this.timer_set) {
            *this.timer_set = true;
            conn.start_head_timer(limit, true);
        }
        let waited = ready!(conn.poll_answer(cx, this.send.as_mut(), this.read.is_some()));
        let Waiting {
            lease,
            target,
            backup,
        } = this.waiting.take().expect("checked above");
        let failed = match waited {
            Waited::Answer(Ok(res)) => {
                let limits = BodyLimits {
                    read: *this.read,
                    deadline: None,
                    backend: Some(BACKEND),
                };
                return Poll::Ready(
                    respond(
                        res,
                        Lease::H1(lease),
                        target,
                        &this.inner.config.response_head,
                        limits,
                    )
                    .map_err(|e| e.with_backend(BACKEND)),
                );
            }
            Waited::TimedOut => {
                let limit = this.read.unwrap_or_default();
                // the connection closes with the lease: its answer is late
                return Poll::Ready(Err(Error::timeout(
                    ErrorKind::ReadTimeout,
                    limit,
                    target.origin(),
                )
                .with_backend(BACKEND)));
            }
            Waited::Answer(Err(err)) => Failed::from_hyper(err, None, &target),
            Waited::NotSent => Failed::not_sent(&target),
            Waited::BodyHandedOver => unreachable!("the fast path sends no body"),
        };
        drop(lease);
        match failed.resend(backup, &target) {
            Ok(request) => {
                let inner = *this.inner;
                // checked when the request started
                let timeouts = match inner.timeouts_for(&request) {
                    Ok(t) => t,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                let resend = this.resend.insert(Box::pin(
                    inner
                        .send_inner(request, timeouts, None, Choice::NewOnly)
                        .map_err(|e| e.with_backend(BACKEND)),
                ));
                resend.as_mut().poll(cx)
            }
            Err(e) => Poll::Ready(Err(e.with_backend(BACKEND))),
        }
    }
}
