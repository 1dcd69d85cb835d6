//! Socket wrapper that enforces the write timeout (gap between writes).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::error::WriteTimedOut;

/// The write timeout in force on a connection, changed per request.
/// Stored as nanoseconds; 0 means none.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteTimeout(Arc<AtomicU64>);

impl WriteTimeout {
    pub(crate) fn set(&self, d: Option<Duration>) {
        let nanos = d.map_or(0, |d| {
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.0.store(nanos, Ordering::Relaxed);
    }

    fn get(&self) -> Option<Duration> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            n => Some(Duration::from_nanos(n)),
        }
    }
}

/// A plain or TLS stream (tokio-util's `Either` forwards every I/O call).
pub(crate) type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

pin_project_lite::pin_project! {
    /// A stream whose writes fail with a `WriteTimedOut` io error once a
    /// write (or flush) has been pending for longer than the write timeout.
    pub(crate) struct TimedIo {
        stream: Stream,
        timeout: WriteTimeout,
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl TimedIo {
    pub(crate) fn new(stream: Stream, timeout: WriteTimeout) -> Self {
        TimedIo {
            stream,
            timeout,
            timer: None,
        }
    }

    fn guard<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut Stream>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let this = self.project();
        match op(Pin::new(this.stream), cx) {
            Poll::Ready(r) => {
                // (checked first: the usual case has no timer, and the
                // drop glue is a call)
                if this.timer.is_some() {
                    *this.timer = None;
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                let Some(limit) = this.timeout.get() else {
                    return Poll::Pending;
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                ready!(timer.as_mut().poll(cx));
                *this.timer = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    WriteTimedOut(limit),
                )))
            }
        }
    }
}

use std::future::Future as _;

impl AsyncRead for TimedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(self.project().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TimedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.guard(cx, |s, cx| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.project().stream).poll_shutdown(cx)
    }
}
