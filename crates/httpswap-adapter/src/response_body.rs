//! A response body with the read-gap timeout, the total deadline, error
//! mapping, and a guard released at its end.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_core::{Error, ErrorKind};
use tokio::time::{Instant, Sleep};

/// Something held while a response body is read, told at the end whether
/// the body completed (a pooled connection goes back only then).
pub trait EndGuard: Send + Unpin + 'static {
    /// The body ended: `complete` if it was read to its end.
    fn end(self, complete: bool);
}

/// No guard.
impl EndGuard for () {
    fn end(self, _complete: bool) {}
}

/// The limits a [`TimedBody`] enforces; the default is none.
#[derive(Debug, Clone, Copy, Default)]
pub struct BodyLimits {
    /// The longest wait for the next chunk.
    pub read: Option<Duration>,
    /// The instant the whole exchange must be over by, and the total
    /// timeout it came from (for the message).
    pub deadline: Option<(Instant, Duration)>,
    /// The backend named in the timeout errors the body raises.
    pub backend: Option<&'static str>,
}

/// Wraps a library's response body:
///
/// - no chunk within the read timeout: `ReadTimeout`;
/// - past the total deadline: `Timeout`;
/// - the library's errors mapped by one function;
/// - the guard (a pool slot, a connection lease) ended as soon as the body
///   ends or fails, never later (dropped with the body otherwise).
///
/// `W` names the peer in messages; it is formatted only when an error is
/// made, so a cheap handle costs nothing per response. After an error the
/// body is over: it yields nothing more.
pub struct TimedBody<B: http_body::Body, W, G: EndGuard = ()> {
    inner: B,
    map_err: fn(B::Error, &W) -> Error,
    read: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    guard: Option<G>,
    what: W,
    backend: Option<&'static str>,
    done: bool,
}

impl<B: http_body::Body, W: fmt::Display, G: EndGuard> fmt::Debug for TimedBody<B, W, G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedBody")
            .field("what", &self.what.to_string())
            .field("read", &self.read)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B, W, G> TimedBody<B, W, G>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    W: fmt::Display,
    G: EndGuard,
{
    /// Wraps `inner`, holding `guard` until the body ends, with `limits`.
    /// (One constructor rather than setters: a response body is made per
    /// request, and each by-value setter copied it whole.)
    pub fn new(
        inner: B,
        what: W,
        map_err: fn(B::Error, &W) -> Error,
        guard: G,
        limits: BodyLimits,
    ) -> Self {
        let mut body = TimedBody {
            inner,
            map_err,
            read: limits.read,
            timer: None,
            deadline: None,
            guard: Some(guard),
            what,
            backend: limits.backend,
            done: false,
        };
        if body.inner.is_end_stream() {
            body.finish(true);
        } else if let Some((at, total)) = limits.deadline {
            body.deadline = Some((Box::pin(tokio::time::sleep_until(at)), total));
        }
        body
    }

    fn finish(&mut self, complete: bool) {
        self.done = true;
        self.timer = None;
        self.deadline = None;
        if let Some(g) = self.guard.take() {
            g.end(complete);
        }
    }

    fn fail(&mut self, err: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.finish(false);
        Poll::Ready(Some(Err(err)))
    }

    fn timeout(&self, kind: ErrorKind, after: Duration) -> Error {
        let err = Error::timeout(kind, after, &self.what);
        match self.backend {
            Some(b) => err.with_backend(b),
            None => err,
        }
    }
}

impl<B, W, G> http_body::Body for TimedBody<B, W, G>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    W: fmt::Display + Unpin,
    G: EndGuard,
{
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
                let err = this.timeout(ErrorKind::Timeout, total);
                return this.fail(err);
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                // the next gap is timed afresh (checked first: the usual
                // case has no timer, and the drop glue is a call)
                if this.timer.is_some() {
                    this.timer = None;
                }
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
                let err = (this.map_err)(e, &this.what);
                this.fail(err)
            }
            Poll::Pending => {
                let Some(limit) = this.read else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let err = this.timeout(ErrorKind::ReadTimeout, limit);
                this.fail(err)
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

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    struct Never;
    impl http_body::Body for Never {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            Poll::Pending
        }
    }

    /// Records how the body ended.
    struct Flag(Arc<AtomicBool>, Arc<AtomicBool>);
    impl EndGuard for Flag {
        fn end(self, complete: bool) {
            self.0.store(true, Ordering::SeqCst);
            self.1.store(complete, Ordering::SeqCst);
        }
    }

    fn io_err(e: std::io::Error, what: &&str) -> Error {
        Error::new(ErrorKind::Read, format!("{what}: {e}"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_a_read_timeout_and_frees_the_guard() {
        let freed = Arc::new(AtomicBool::new(false));
        let complete = Arc::new(AtomicBool::new(true));
        let limits = BodyLimits {
            read: Some(Duration::from_millis(20)),
            backend: Some("test"),
            ..BodyLimits::default()
        };
        let guard = Flag(freed.clone(), complete.clone());
        let mut body = TimedBody::new(Never, "peer", io_err, guard, limits);
        let err = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect_err("stalled");
        assert_eq!(err.kind(), ErrorKind::ReadTimeout);
        assert_eq!(err.backend(), Some("test"));
        assert!(freed.load(Ordering::SeqCst) && !complete.load(Ordering::SeqCst));
        assert!(
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
                .await
                .is_none()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_a_timeout() {
        let limits = BodyLimits {
            deadline: Some((
                Instant::now() + Duration::from_millis(5),
                Duration::from_millis(5),
            )),
            ..BodyLimits::default()
        };
        let mut body = TimedBody::new(Never, "peer", io_err, (), limits);
        let err = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect_err("late");
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn a_complete_body_says_so_to_its_guard() {
        let (freed, complete) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        fn same(e: Error, _: &&str) -> Error {
            e
        }
        let inner = httpswap_core::Body::from_stream(futures_util::stream::iter([Ok::<_, Error>(
            Bytes::from_static(b"ab"),
        )]));
        let guard = Flag(freed.clone(), complete.clone());
        let mut body = TimedBody::new(inner, "peer", same, guard, BodyLimits::default());
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            frame.expect("data");
        }
        assert!(freed.load(Ordering::SeqCst) && complete.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn errors_are_mapped() {
        let full = http_body_util_like::Fails;
        let mut body = TimedBody::new(full, "peer", io_err, (), BodyLimits::default());
        let err = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect_err("fails");
        assert_eq!(err.kind(), ErrorKind::Read);
    }

    mod http_body_util_like {
        use super::*;
        pub struct Fails;
        impl http_body::Body for Fails {
            type Data = Bytes;
            type Error = std::io::Error;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
                Poll::Ready(Some(Err(std::io::Error::other("boom"))))
            }
        }
    }
}
