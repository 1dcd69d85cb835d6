//! A socket wrapper with the write timeout (the longest stall of a write),
//! and a write the peer refused held back until what it sent was read, for
//! backends that own their sockets.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// Marker inside an `io::Error` raised when a write made no progress
/// within the write timeout.
#[derive(Debug)]
pub struct WriteTimedOut(pub Duration);

impl std::fmt::Display for WriteTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no write progress for {:?}", self.0)
    }
}

impl std::error::Error for WriteTimedOut {}

/// The write timeout in force on a connection, changed per request (the
/// connection's clones share it). Stored as nanoseconds; 0 means none.
#[derive(Debug, Clone, Default)]
pub struct WriteTimeout(Arc<AtomicU64>);

impl WriteTimeout {
    /// Sets it (`None`: no write timeout).
    pub fn set(&self, d: Option<Duration>) {
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

/// Whether a stream has something to read (or was closed): polled to hold
/// a refused write back until then.
pub type ReadReady<S> = fn(&S, &mut Context<'_>) -> Poll<io::Result<()>>;

pin_project_lite::pin_project! {
    /// A stream whose writes fail with a `WriteTimedOut` io error once a
    /// write (or flush) has been pending for longer than the write timeout.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use httpswap_adapter::{TimedIo, WriteTimeout};
    /// use tokio::io::AsyncWriteExt;
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    /// let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    /// let timeout = WriteTimeout::default();
    /// timeout.set(Some(std::time::Duration::from_secs(30)));
    /// let mut io = TimedIo::new(tcp, tokio::net::TcpStream::poll_read_ready, timeout);
    /// io.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    /// # });
    /// ```
    pub struct TimedIo<S> {
        stream: S,
        read_ready: ReadReady<S>,
        timeout: WriteTimeout,
        timer: Option<Pin<Box<Sleep>>>,
        // a write the peer refused (reset, or closed), held back until
        // what it sent before is read (see `poll_write`)
        refused: Option<Refused>,
    }
}

/// A write the peer refused, and how far holding it back has gone.
struct Refused {
    error: io::Error,
    /// The socket was seen readable (what the peer sent before is in).
    readable: bool,
    /// A read was made since: hyper had its turn at what the peer sent.
    read_since: bool,
    /// Writes and flushes held back since the socket was seen readable.
    turns: u8,
}

impl<S: AsyncRead + AsyncWrite + Unpin> TimedIo<S> {
    /// Wraps `stream`; `read_ready` polls its read readiness (as tokio's
    /// `TcpStream::poll_read_ready`).
    pub fn new(stream: S, read_ready: ReadReady<S>, timeout: WriteTimeout) -> Self {
        TimedIo {
            stream,
            read_ready,
            timeout,
            timer: None,
            refused: None,
        }
    }

    /// A write (or flush) within the write timeout; one the peer refused
    /// is held back (see [`poll_refused`](Self::poll_refused)).
    fn write_op<T>(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if self.refused.is_none() {
            match self.as_mut().guard(cx, op) {
                Poll::Ready(Err(e)) if refused_by_peer(&e) => {
                    *self.as_mut().project().refused = Some(Refused {
                        error: e,
                        readable: false,
                        read_since: false,
                        turns: 0,
                    });
                }
                other => return other,
            }
        }
        self.poll_refused(cx).map(Err)
    }

    /// A server may answer before it has read the whole request body (a
    /// 413 during a large upload) and then reset the connection. The
    /// answer is in the socket's receive queue, but hyper polls its read
    /// side only once tokio has seen the socket readable, and a write
    /// fails at once: the request would fail with the write's error and
    /// the answer be lost. So a write the peer refused is held back until
    /// the socket is readable and hyper has read since, then reported
    /// (`round_trip_early_response_during_upload`). "Read since" is a read
    /// made, not a turn passed: hyper flushes right after it writes, in
    /// the same pass, before its next read; reporting the error at that
    /// flush lost the answer about one upload in three. A connection
    /// whose reads have ended (so hyper makes none) gets the error after
    /// a few held writes and flushes, a pass of hyper's loop or two.
    fn poll_refused(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Error> {
        /// Held writes and flushes, once readable, before the error is
        /// reported with no read made: more than one pass of hyper's
        /// loop (a write, then a flush).
        const TURNS: u8 = 4;
        let this = self.project();
        let refused = this.refused.as_mut().expect("a refused write");
        if refused.read_since || refused.turns >= TURNS {
            let error = this.refused.take().expect("a refused write").error;
            return Poll::Ready(error);
        }
        // a reset or a FIN makes the socket readable: this ends
        ready!((this.read_ready)(this.stream, cx)).ok();
        refused.readable = true;
        refused.turns += 1;
        // hyper reads before it writes again, in its next pass
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn guard<T>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>,
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

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        if let Some(refused) = this.refused.as_mut() {
            // what the peer sent before it refused the write is being read
            refused.read_since |= refused.readable;
        }
        Pin::new(this.stream).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write_op(cx, |s, cx| s.poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_op(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_op(cx, |s, cx| s.poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.project().stream).poll_shutdown(cx)
    }
}

/// The peer reset or closed the connection under a write.
fn refused_by_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The client's end of a connection whose server sent `answer` and
    /// then reset it; the reset is in (the socket reads as ended).
    async fn reset_after(answer: &[u8]) -> TimedIo<tokio::net::TcpStream> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = tokio::net::TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        server.write_all(answer).await.expect("answer");
        server.set_zero_linger().expect("linger");
        drop(server); // RST
        client.readable().await.expect("the reset is in");
        tokio::time::sleep(Duration::from_millis(50)).await;
        TimedIo::new(
            client,
            tokio::net::TcpStream::poll_read_ready,
            WriteTimeout::default(),
        )
    }

    /// The server answers and resets the connection; the client's next
    /// write fails at once. That failure is held back until the answer
    /// was read (hyper reads before it writes again), then reported.
    #[tokio::test]
    async fn a_write_the_peer_refused_waits_for_what_it_sent() {
        let mut io = reset_after(b"answer").await;
        let first =
            std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_write(cx, b"more body")))
                .await;
        assert!(first.is_pending(), "held back: {first:?}");
        // hyper flushes in the same pass, before its next read: held too
        let flush = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_flush(cx))).await;
        assert!(flush.is_pending(), "held back until a read: {flush:?}");
        let mut got = [0u8; 6];
        io.read_exact(&mut got).await.expect("the answer");
        assert_eq!(&got, b"answer");
        let err = io.write(b"more body").await.expect_err("refused");
        assert!(refused_by_peer(&err), "{err:?}");
    }

    /// With no read made (hyper reads no more on that connection), the
    /// refused write is reported after a few held turns, not held forever.
    #[tokio::test]
    async fn a_refused_write_with_no_read_is_reported_after_a_few_turns() {
        let mut io = reset_after(b"").await;
        let mut held = 0;
        let err = loop {
            let polled =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut io).poll_write(cx, b"body")))
                    .await;
            match polled {
                Poll::Pending => held += 1,
                Poll::Ready(r) => break r.expect_err("refused"),
            }
            assert!(held <= 8, "held for good");
        };
        assert!(refused_by_peer(&err), "{err:?}");
        assert!(
            held >= 2,
            "held for a pass of hyper's loop at least: {held}"
        );
    }
}
