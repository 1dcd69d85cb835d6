//! The fast path: the future of a request already handed to an idle
//! HTTP/1 connection (see [`Inner::start`]), which only waits for the
//! response head.
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
use httpswap_core::{Error, ErrorKind, Request, Response};
use hyper::body::Incoming;

use crate::connect::Target;
use crate::error::{is_dead_connection, map_hyper, Phase, BACKEND};
use crate::pool::{H1Lease, HeadWait, Leased};
use crate::{respond, Inner, Start};

/// What the future owns until the head arrives.
pub(crate) struct Waiting {
    pub(crate) lease: H1Lease,
    pub(crate) target: Target,
    /// The copy sent on a fresh connection if this one turns out dead.
    pub(crate) backup: Option<Box<Request>>,
}

type Retry<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'a>>;

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
        pub(crate) retry: Option<Retry<'a>>,
    }
}

impl<F> Future for Fast<'_, F>
where
    F: Future<Output = hyper::Result<http::Response<Incoming>>>,
{
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Some(retry) = this.retry {
            return retry.as_mut().poll(cx);
        }
        // `None`: the connection ended without an answer (see `ConnEnd`)
        let outcome = match this.send.as_mut().poll(cx) {
            Poll::Ready(outcome) => Some(outcome),
            Poll::Pending => {
                let Some(waiting) = this.waiting.as_mut() else {
                    return Poll::Pending;
                };
                let conn = waiting.lease.conn();
                if let (Some(limit), false) = (*this.read, *this.timer_set) {
                    // first poll: the pool read the clock at checkout,
                    // microseconds ago, with nothing waited for since
                    *this.timer_set = true;
                    let now = conn
                        .checkout_time()
                        .unwrap_or_else(tokio::time::Instant::now);
                    conn.set_head_deadline(now, limit);
                }
                match ready!(conn.poll_head_wait(cx, this.read.is_some())) {
                    HeadWait::TimedOut => {
                        let waiting = this.waiting.take().expect("checked above");
                        let limit = this.read.unwrap_or_default();
                        // the connection closes with the lease: its answer is late
                        return Poll::Ready(Err(Error::timeout(
                            ErrorKind::ReadTimeout,
                            limit,
                            waiting.target.origin(),
                        )
                        .with_backend(BACKEND)));
                    }
                    // one more look: hyper may have answered at that moment
                    HeadWait::Ended => match this.send.as_mut().poll(cx) {
                        Poll::Ready(outcome) => Some(outcome),
                        Poll::Pending => None,
                    },
                }
            }
        };
        let Waiting {
            lease,
            target,
            backup,
        } = this.waiting.take().expect("polled after completion");
        let dead = match &outcome {
            Some(Ok(_)) => false,
            Some(Err(err)) => is_dead_connection(err),
            None => true,
        };
        match (outcome, backup) {
            (Some(Ok(res)), _) => {
                let limits = BodyLimits {
                    read: *this.read,
                    deadline: None,
                    backend: Some(BACKEND),
                };
                Poll::Ready(
                    respond(
                        res,
                        Leased::H1(lease),
                        target,
                        &this.inner.config.response_head,
                        limits,
                    )
                    .map_err(|e| e.with_backend(BACKEND)),
                )
            }
            (_, Some(request)) if dead => {
                tracing::debug!(
                    ?target,
                    "reused connection was dead; retrying on a fresh one"
                );
                drop(lease);
                let inner = *this.inner;
                let timeouts = inner.timeouts_for(&request);
                let retry = this.retry.insert(Box::pin(
                    inner
                        .send_inner(request, timeouts, None, Start::Retry)
                        .map_err(|e| e.with_backend(BACKEND)),
                ));
                retry.as_mut().poll(cx)
            }
            (Some(Err(err)), _) => {
                Poll::Ready(Err(
                    map_hyper(err, Phase::Request, &target.origin()).with_backend(BACKEND)
                ))
            }
            (None, _) => Poll::Ready(Err(crate::not_sent(&target).error.with_backend(BACKEND))),
        }
    }
}
