//! A scriptable HTTP/1.1 server on 127.0.0.1 for tests, plain or TLS.
//!
//! Each accepted connection runs a script (an async closure) that reads
//! requests and writes whatever bytes it likes: well-formed responses,
//! drips, stalls, truncated bodies, malformed heads, resets. The server
//! counts sockets (accepted, open now, most open at once) and records every
//! request it read.

mod conn;
mod routes;

use conn::reason;
pub use conn::ServerConn;
pub use routes::{compress, routes, Reply};

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::HeaderMap;
use tokio::net::TcpListener;
use tokio_util::either::Either;

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// The method, as sent.
    pub method: String,
    /// The request target, byte for byte (origin-form, absolute-form, or
    /// authority-form for CONNECT).
    pub target: String,
    /// Headers, repeated ones kept, values as raw bytes.
    pub headers: HeaderMap,
    /// The body (Content-Length or chunked, decoded).
    pub body: Bytes,
    /// Which connection (0-based, in accept order) carried it.
    pub connection: usize,
}

/// Socket and request counters of a [`TestServer`].
///
/// Open sockets are counted by the kernel where it tells (Linux:
/// `/proc/net/tcp` and `/proc/net/tcp6`): the client ends of connections to
/// the server's port that are connecting or established, so connections in
/// the accept queue count too. A client end leaves those states inside the
/// client's own `close()`, so the count is exact at every moment, with no
/// lag for the FIN to reach the server or for the server script to notice
/// it. Elsewhere the count is of connections whose script has not ended.
#[derive(Debug, Default)]
pub struct ServerStats {
    port: u16,
    accepted: AtomicUsize,
    open: AtomicUsize,
    max_open: AtomicUsize,
    requests: Mutex<Vec<ServerRequest>>,
    not_recording: AtomicBool,
}

impl ServerStats {
    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
    /// Connections open now (see the type's docs for how they are counted).
    pub fn open(&self) -> usize {
        established(self.port).unwrap_or_else(|| self.open.load(Ordering::SeqCst))
    }
    /// Most connections open at once (while recording).
    pub fn max_open(&self) -> usize {
        self.max_open.load(Ordering::SeqCst)
    }
    /// Every request read so far (while recording: see
    /// [`set_recording`](Self::set_recording)).
    pub fn requests(&self) -> Vec<ServerRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the server records what it sees (on by default): a copy of
    /// each request read by [`ServerConn::read_request`], and the most
    /// connections open at once, which it counts at each accept by reading
    /// the kernel's socket table. Long runs turn recording off: the log
    /// would grow in the client's process, where it looks like a leak, and
    /// with thousands of sockets in `TIME_WAIT` each reading of the table
    /// costs the server most of its time. While off, `requests` and
    /// `max_open` stay as they were; `accepted` and `open` still count.
    ///
    /// ```
    /// # async fn demo() {
    /// let server = httpswap_test::TestServer::echo().await;
    /// server.stats().set_recording(false);
    /// assert!(server.requests().is_empty());
    /// # }
    /// ```
    pub fn set_recording(&self, on: bool) {
        self.not_recording.store(!on, Ordering::SeqCst);
    }

    fn recording(&self) -> bool {
        !self.not_recording.load(Ordering::SeqCst)
    }
}

/// Client ends of connections to `port` that are connecting (SYN_SENT) or
/// established, from the kernel's tables; `None` where they cannot be read.
fn established(port: u16) -> Option<usize> {
    // the tables are read page by page while they change, so one socket
    // can be listed twice: count distinct address pairs
    let mut found = false;
    let mut seen = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        found = true;
        for line in text.lines().skip(1) {
            let mut cols = line.split_whitespace();
            let (Some(_), Some(local), Some(remote), Some(state)) =
                (cols.next(), cols.next(), cols.next(), cols.next())
            else {
                continue;
            };
            let remote_port = remote
                .rsplit_once(':')
                .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
            if remote_port == Some(port) && (state == "01" || state == "02") {
                seen.insert((local.to_owned(), remote.to_owned()));
            }
        }
    }
    found.then_some(seen.len())
}

type Script = Arc<dyn Fn(ServerConn) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A test server on 127.0.0.1. Stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    stats: Arc<ServerStats>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    tls: bool,
}

impl Drop for TestServer {
    /// Stops the server: its runtime, connections and scripts end.
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestServer {
    /// Starts a plain HTTP/1.1 server running `script` for every connection.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start<F, Fut>(script: F) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self::start_inner(script, None).await
    }

    /// Starts a plain HTTP/1.1 server on `bind` (a loopback address with
    /// port 0, such as `"[::1]:0"`) running `script` for every connection.
    ///
    /// # Panics
    ///
    /// If `bind` cannot be bound.
    pub async fn start_on<F, Fut>(bind: &str, script: F) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener =
            std::net::TcpListener::bind(bind).unwrap_or_else(|e| panic!("bind {bind}: {e}"));
        Self::start_listener(listener, script, None)
    }

    /// Starts a TLS server (certificate from `ca`) running `script`.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub async fn start_tls<F, Fut>(ca: &crate::tls::TestCa, script: F) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"http/1.1"]));
        Self::start_inner(script, Some((acceptor, Duration::ZERO))).await
    }

    /// A TLS server whose every connection but the first waits `delay`
    /// before its TLS handshake: a slow connect, for pool tests.
    pub async fn start_tls_slow_handshake<F, Fut>(
        ca: &crate::tls::TestCa,
        delay: Duration,
        script: F,
    ) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"http/1.1"]));
        Self::start_inner(script, Some((acceptor, delay))).await
    }

    async fn start_inner<F, Fut>(
        script: F,
        tls: Option<(tokio_rustls::TlsAcceptor, Duration)>,
    ) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        Self::start_listener(listener, script, tls)
    }

    fn start_listener<F, Fut>(
        listener: std::net::TcpListener,
        script: F,
        tls: Option<(tokio_rustls::TlsAcceptor, Duration)>,
    ) -> TestServer
    where
        F: Fn(ServerConn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local addr");
        let stats = Arc::new(ServerStats {
            port: addr.port(),
            ..ServerStats::default()
        });
        let script: Script = Arc::new(move |c| Box::pin(script(c)));
        let is_tls = tls.is_some();
        let st = stats.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The server runs on a runtime of its own, on one thread, so that it
        // answers promptly however busy the client's runtime is.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept_loop = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let _ = tcp.set_nodelay(true);
                        let index = st.accepted.fetch_add(1, Ordering::SeqCst);
                        st.open.fetch_add(1, Ordering::SeqCst);
                        if st.recording() {
                            st.max_open.fetch_max(st.open(), Ordering::SeqCst);
                        }
                        let script = script.clone();
                        let st = st.clone();
                        let tls = tls.clone();
                        tokio::spawn(async move {
                            let stream = match tls {
                                None => Either::Left(tcp),
                                Some((acc, delay)) => {
                                    if index > 0 {
                                        tokio::time::sleep(delay).await;
                                    }
                                    let Ok(tls) = acc.accept(tcp).await else {
                                        st.open.fetch_sub(1, Ordering::SeqCst);
                                        return;
                                    };
                                    Either::Right(Box::new(tls))
                                }
                            };
                            let conn = ServerConn {
                                stream,
                                buf: BytesMut::new(),
                                index,
                                stats: st,
                            };
                            script(conn).await;
                        });
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = accept_loop => {}
                }
            });
        });
        TestServer {
            addr,
            stats,
            stop: Some(stop),
            tls: is_tls,
        }
    }

    /// A keep-alive server that answers every request with [`echo`].
    pub async fn echo() -> TestServer {
        Self::start(serve_echo).await
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` + `path` (or `https://localhost:PORT` for TLS,
    /// the name in the test certificate).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<ServerRequest> {
        self.stats.requests()
    }
}

/// Serves requests on `conn` until the client closes it, answering each
/// with [`echo`].
pub async fn serve_echo(mut conn: ServerConn) {
    echo_loop(&mut conn, |_| Duration::ZERO).await;
}

/// Serves requests on `conn` until the client closes it, waiting
/// `delay(request)` before answering each with [`echo`] (a slow server).
pub async fn echo_loop(conn: &mut ServerConn, delay: impl Fn(&ServerRequest) -> Duration) {
    while let Ok(Some(req)) = conn.read_request().await {
        let wait = delay(&req);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        if echo(conn, &req).await.is_err() {
            return;
        }
    }
}

/// The echo response: status from a `/status/N` path (else 200), the
/// method in `x-method`, the raw target in `x-target`, the request body as
/// body (none for HEAD, 204 and 304).
///
/// # Errors
///
/// I/O errors.
pub async fn echo(conn: &mut ServerConn, req: &ServerRequest) -> io::Result<()> {
    let status = req
        .target
        .rsplit_once("/status/")
        .and_then(|(_, s)| s.parse::<u16>().ok())
        .unwrap_or(200);
    if status == 204 || status == 304 {
        let head = format!(
            "HTTP/1.1 {status} {}\r\nx-method: {}\r\n\r\n",
            reason(status),
            req.method
        );
        return conn.write(head.as_bytes()).await;
    }
    let len = req.body.len().to_string();
    let headers: [(&str, &[u8]); 3] = [
        ("x-method", req.method.as_bytes()),
        ("x-target", req.target.as_bytes()),
        ("content-length", len.as_bytes()),
    ];
    let body: &[u8] = if req.method == "HEAD" { b"" } else { &req.body };
    conn.respond(status, &headers, body).await
}

/// A listener on 127.0.0.1 whose accept queue is full, so that connecting
/// to its address hangs (a connect timeout's test) for as long as the
/// returned listener and queued sockets are kept.
pub async fn backlog_full() -> (SocketAddr, (TcpListener, Vec<tokio::net::TcpStream>)) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    // fill the accept queue (never accepted); some fillers may hang: bounded
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(100),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    (addr, (listener, fillers))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The socket count used to prove pool limits does see every socket
    /// a client holds, and sees them go.
    #[tokio::test]
    async fn socket_count_sees_every_open_connection() {
        let server = TestServer::start(|mut conn: ServerConn| async move {
            conn.wait_closed(Duration::from_secs(5)).await;
        })
        .await;
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(
                tokio::net::TcpStream::connect(server.addr())
                    .await
                    .expect("connect"),
            );
        }
        for _ in 0..200 {
            if server.stats().accepted() == 5 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.stats().open(), 5);
        assert_eq!(server.stats().max_open(), 5);
        drop(clients);
        assert_eq!(
            server.stats().open(),
            0,
            "closed client ends are not counted"
        );
    }
}
