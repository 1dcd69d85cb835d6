//! A response body with the read-gap timeout, the total deadline, error
//! mapping, and a guard released at its end.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_core::{Error, ErrorKind};
use tokio::time::{Instant, Sleep};

/// Wraps a library's response body:
///
/// - no chunk within the read timeout: `ReadTimeout`;
/// - past the total deadline: `Timeout`;
/// - the library's errors mapped by one function;
/// - the guard (a pool slot, say) dropped as soon as the body ends, fails,
///   or is dropped, never later.
///
/// After an error the body is over: it yields nothing more.
pub struct TimedBody<B: http_body::Body> {
    inner: B,
    map_err: fn(B::Error) -> Error,
    read: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    guard: Option<Box<dyn Any + Send + Sync>>,
    what: Arc<str>,
    done: bool,
}

impl<B: http_body::Body> fmt::Debug for TimedBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedBody")
            .field("what", &self.what)
            .field("read", &self.read)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<B> TimedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    /// Wraps `inner`; `what` names the peer in messages.
    pub fn new(inner: B, map_err: fn(B::Error) -> Error, what: impl Into<Arc<str>>) -> Self {
        TimedBody {
            inner,
            map_err,
            read: None,
            timer: None,
            deadline: None,
            guard: None,
            what: what.into(),
            done: false,
        }
    }

    /// The longest wait for the next chunk.
    pub fn read_timeout(mut self, read: Option<Duration>) -> Self {
        self.read = read;
        self
    }

    /// The instant the whole exchange must be over by, and the total
    /// timeout it came from (for the message).
    pub fn deadline(mut self, deadline: Option<(Instant, Duration)>) -> Self {
        self.deadline = deadline.map(|(at, total)| (Box::pin(tokio::time::sleep_until(at)), total));
        self
    }

    /// Something to drop when the body ends.
    pub fn guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self.guard = Some(Box::new(guard));
        if self.inner.is_end_stream() {
            self.finish();
        }
        self
    }

    fn finish(&mut self) {
        self.done = true;
        self.timer = None;
        self.deadline = None;
        self.guard = None;
    }

    fn fail(&mut self, err: Error) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        self.finish();
        Poll::Ready(Some(Err(err)))
    }
}

impl<B> http_body::Body for TimedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
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
                let err = Error::timeout(ErrorKind::Timeout, *total, &this.what);
                return this.fail(err);
            }
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.timer = None;
                if this.inner.is_end_stream() {
                    this.finish();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.finish();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let err = (this.map_err)(e);
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
                let err = Error::timeout(ErrorKind::ReadTimeout, limit, &this.what);
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

    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn io_err(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Read, e.to_string())
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_is_a_read_timeout_and_frees_the_guard() {
        let freed = Arc::new(AtomicBool::new(false));
        let mut body = TimedBody::new(Never, io_err, "peer")
            .read_timeout(Some(Duration::from_millis(20)))
            .guard(Flag(freed.clone()));
        let err = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect_err("stalled");
        assert_eq!(err.kind(), ErrorKind::ReadTimeout);
        assert!(freed.load(Ordering::SeqCst));
        assert!(
            std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
                .await
                .is_none()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_is_a_timeout() {
        let mut body = TimedBody::new(Never, io_err, "peer").deadline(Some((
            Instant::now() + Duration::from_millis(5),
            Duration::from_millis(5),
        )));
        let err = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx))
            .await
            .expect("a frame")
            .expect_err("late");
        assert_eq!(err.kind(), ErrorKind::Timeout);
    }

    #[tokio::test]
    async fn errors_are_mapped() {
        let full = http_body_util_like::Fails;
        let mut body = TimedBody::new(full, io_err, "peer");
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
