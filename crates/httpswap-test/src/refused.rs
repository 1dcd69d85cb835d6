//! An address that refuses connections, and keeps refusing them.

use std::net::SocketAddr;

/// A port on 127.0.0.1 that refuses every connection while this lives: a
/// socket bound to it that never listens, so the kernel answers a
/// connection with a reset and gives the port to no other socket.
///
/// The usual way, binding a listener to port 0 and dropping it, frees the
/// port: a server that another test running in parallel starts may be
/// given it, and a request meant to be refused is answered by that
/// server instead (seen as a `RemoteProtocol` error in place of
/// `Connect`).
///
/// ```
/// let refused = httpswap_test::RefusedPort::new();
/// let err = std::net::TcpStream::connect(refused.addr()).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
/// // and no listener can take its port meanwhile
/// assert!(std::net::TcpListener::bind(refused.addr()).is_err());
/// ```
#[derive(Debug)]
pub struct RefusedPort {
    // held for its port; without `SO_REUSEADDR` no other socket binds it
    _socket: tokio::net::TcpSocket,
    addr: SocketAddr,
}

impl RefusedPort {
    /// Binds a port on 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When no socket can be made or bound (the test cannot run).
    pub fn new() -> RefusedPort {
        RefusedPort::bound(false)
    }

    /// A port held for a server started on it next (a process told the
    /// port): refused until that server listens, which it may because the
    /// hold sets `SO_REUSEADDR`, as such servers do (nginx, haproxy,
    /// squid, tinyproxy, gunicorn, werkzeug); no socket binding port 0 is
    /// given it meanwhile. Drop it once the server is up.
    ///
    /// ```
    /// let hold = httpswap_test::RefusedPort::for_a_server();
    /// let server = std::net::TcpListener::bind(hold.addr()).unwrap(); // sets SO_REUSEADDR
    /// assert!(std::net::TcpStream::connect(hold.addr()).is_ok());
    /// # drop(server);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`new`](Self::new).
    pub fn for_a_server() -> RefusedPort {
        RefusedPort::bound(true)
    }

    fn bound(reuse_addr: bool) -> RefusedPort {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        if reuse_addr {
            socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        }
        socket
            .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .expect("bind 127.0.0.1");
        let addr = socket.local_addr().expect("its address");
        RefusedPort {
            _socket: socket,
            addr,
        }
    }

    /// The address (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Default for RefusedPort {
    fn default() -> Self {
        RefusedPort::new()
    }
}
