//! The streams of connections: TCP, a Unix socket, TLS over TCP; each
//! under the adapter's `TimedIo` (the write timeout).

use std::io;
use std::task::{Context, Poll};

use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// A connection without TLS: TCP, or a Unix socket.
pub(crate) type Plain = Either<TcpStream, UnixStream>;
/// A plain or TLS stream (tokio-util's `Either` forwards every I/O call).
pub(crate) type Stream = Either<Plain, Box<TlsStream<TcpStream>>>;
/// A stream with the write timeout.
pub(crate) type TimedIo = httpswap_adapter::TimedIo<Stream>;
pub(crate) use httpswap_adapter::WriteTimeout;

/// The addresses of the socket under `stream`: remote, local (`None` for
/// a Unix socket).
pub(crate) fn addrs(stream: &Stream) -> Addrs {
    let tcp = match stream {
        Either::Left(Either::Left(tcp)) => tcp,
        Either::Left(Either::Right(_)) => return Addrs::default(),
        Either::Right(tls) => tls.get_ref().0,
    };
    Addrs {
        remote: tcp.peer_addr().ok(),
        local: tcp.local_addr().ok(),
    }
}

/// A connection's socket addresses, for `ConnectionInfo`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Addrs {
    pub(crate) remote: Option<std::net::SocketAddr>,
    pub(crate) local: Option<std::net::SocketAddr>,
}

/// Whether the socket under `stream` has something to read (or was closed).
pub(crate) fn read_ready(stream: &Stream, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
    match stream {
        Either::Left(Either::Left(tcp)) => tcp.poll_read_ready(cx),
        Either::Left(Either::Right(unix)) => unix.poll_read_ready(cx),
        Either::Right(tls) => tls.get_ref().0.poll_read_ready(cx),
    }
}
