//! An HTTP/2 server (hyper), over TLS with ALPN or cleartext (h2c), that
//! answers every request with its version, method and body (and with
//! `/fields/N` or `/size/N`, N extra header fields or one of N bytes;
//! `/slow` answers after 100 ms); it can be
//! killed and restarted under its clients' connections, and killed by a
//! request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use crate::tls::TestCa;

/// An HTTP/2-only server. Stops when dropped, its connections with it.
pub struct H2Server {
    addr: SocketAddr,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// The `SETTINGS_MAX_CONCURRENT_STREAMS` it announces (hyper's default
    /// when `None`).
    max_streams: Option<u32>,
    accepted: Arc<AtomicUsize>,
    /// The accept loop and every connection's task.
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl H2Server {
    /// Starts the server; TLS (offering only `h2`) when `ca` is given,
    /// cleartext h2c otherwise.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start(ca: Option<&TestCa>) -> H2Server {
        Self::start_with(ca, None).await
    }

    /// [`start`](Self::start), announcing at most `max_streams` concurrent
    /// streams per connection.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub async fn start_with(ca: Option<&TestCa>, max_streams: Option<u32>) -> H2Server {
        let acceptor = ca.map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"h2"])));
        Self::start_on(
            "127.0.0.1:0".parse().expect("an address"),
            acceptor,
            max_streams,
        )
        .await
    }

    /// Stops the server as a killed process would: the listener and every
    /// connection are closed at once (no GOAWAY), then a new server starts
    /// on the same port, with the same TLS settings (a restart under the
    /// clients' idle connections).
    ///
    /// # Panics
    ///
    /// If the port cannot be bound again.
    pub async fn restart(mut self) -> H2Server {
        self.kill();
        let (addr, acceptor) = (self.addr, self.acceptor.take());
        let accepted = self.accepted.load(Ordering::SeqCst);
        let server = Self::start_on(addr, acceptor, self.max_streams).await;
        server.accepted.store(accepted, Ordering::SeqCst);
        server
    }

    fn kill(&self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }

    async fn start_on(
        addr: SocketAddr,
        acceptor: Option<tokio_rustls::TlsAcceptor>,
        max_streams: Option<u32>,
    ) -> H2Server {
        // a killed server's listener closes when its aborted task is
        // dropped, on the runtime's next turn: the port is free within
        // moments (connections in TIME_WAIT do not hold it: tokio sets
        // SO_REUSEADDR)
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(listener) => break listener,
                Err(e) if tries < 200 && e.kind() == std::io::ErrorKind::AddrInUse => {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                Err(e) => panic!("bind {addr}: {e}"),
            }
        };
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let count = accepted.clone();
        let tls = acceptor.clone();
        let track = tasks.clone();
        let accept_loop = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = tls.clone();
                let conn = tokio::spawn(async move {
                    // `/die-on-reuse`, other than as a connection's first
                    // request, closes the connection once its headers were
                    // read, without an answer or a GOAWAY (a server that
                    // died under a reused connection)
                    let die = Arc::new(tokio::sync::Notify::new());
                    let served = Arc::new(AtomicUsize::new(0));
                    let kill = die.clone();
                    let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let n = served.fetch_add(1, Ordering::SeqCst);
                        let kill = kill.clone();
                        async move {
                            if req.uri().path() == "/slow" {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            }
                            if req.uri().path() == "/die-on-reuse" && n > 0 {
                                kill.notify_one();
                                std::future::pending::<()>().await;
                            }
                            let version = format!("{:?}", req.version());
                            let method = req.method().to_string();
                            let head = big_head(req.uri().path());
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|c| c.to_bytes())
                                .unwrap_or_default();
                            let mut res = http::Response::builder()
                                .header("x-version", version)
                                .header("x-method", method)
                                .body(Full::new(body))
                                .expect("valid response");
                            res.headers_mut().extend(head);
                            Ok::<_, Infallible>(res)
                        }
                    });
                    let mut builder =
                        hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                    builder.max_concurrent_streams(max_streams);
                    let serve = async {
                        match acceptor {
                            Some(acc) => {
                                if let Ok(tls) = acc.accept(tcp).await {
                                    let _ = builder.serve_connection(TokioIo::new(tls), svc).await;
                                }
                            }
                            None => {
                                let _ = builder.serve_connection(TokioIo::new(tcp), svc).await;
                            }
                        }
                    };
                    tokio::select! {
                        () = serve => {}
                        () = die.notified() => {}
                    }
                });
                track
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(conn.abort_handle());
            }
        });
        tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(accept_loop.abort_handle());
        H2Server {
            addr,
            acceptor,
            max_streams,
            accepted,
            tasks,
        }
    }

    /// Where it listens (on 127.0.0.1).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `path` (`https://localhost:PORT` or `http://127.0.0.1:PORT`).
    pub fn url(&self, path: &str) -> String {
        if self.acceptor.is_some() {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    /// Connections accepted.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Extra header fields for `/fields/N` (N fields `x-f<i>: v`) and
/// `/size/N` (one field `x-big` of N bytes, value `a`s).
fn big_head(path: &str) -> http::HeaderMap {
    let mut head = http::HeaderMap::new();
    let n = |prefix: &str| path.strip_prefix(prefix)?.parse::<usize>().ok();
    if let Some(count) = n("/fields/") {
        for i in 0..count {
            let name = http::HeaderName::try_from(format!("x-f{i}")).expect("a name");
            head.insert(name, http::HeaderValue::from_static("v"));
        }
    } else if let Some(len) = n("/size/") {
        let value = http::HeaderValue::try_from("a".repeat(len)).expect("a value");
        head.insert("x-big", value);
    }
    head
}
