//! The embedded benchmark server: hyper HTTP/1.1 with keep-alive on
//! 127.0.0.1, on a runtime (and thread) of its own, so that it does not
//! share the clients' workers.
//!
//! - `GET /` (any path): a body of the configured size;
//! - `GET /download?size=N`: N bytes streamed in 64 KiB chunks;
//! - `POST /upload`: reads the body, answers with its length.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;

const CHUNK: usize = 64 * 1024;

/// A running server. Stops when dropped.
pub struct LocalServer {
    addr: SocketAddr,
    /// Serves HTTPS.
    tls: bool,
    accepted: Arc<AtomicU64>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

type ResBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

#[derive(Clone)]
enum Mode {
    Plain,
    Flaky,
    H2c,
    Tls(Arc<rustls::ServerConfig>),
}

impl LocalServer {
    /// Starts the server; `GET /` answers with `body_size` bytes.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or the runtime cannot start.
    pub fn start(body_size: usize) -> LocalServer {
        Self::start_with(body_size, false)
    }

    /// A flaky server: as [`start`](Self::start), but every connection is
    /// closed without notice (no `Connection: close`) 0 to 10 ms after its
    /// random 1st to 5th response, as a server closes a connection whose
    /// keep-alive time is up: requests that come in that while are
    /// answered, and a client that reuses it as it closes meets the
    /// stale-connection race. So a connection answers at least one
    /// request, and how many more depends on how fast they come.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_flaky(body_size: usize) -> LocalServer {
        Self::start_with(body_size, true)
    }

    /// An HTTP/2 server with prior knowledge (h2c): the same routes, every
    /// connection multiplexed.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_h2c(body_size: usize) -> LocalServer {
        Self::start_inner(body_size, Mode::H2c)
    }

    fn start_with(body_size: usize, flaky: bool) -> LocalServer {
        Self::start_inner(body_size, if flaky { Mode::Flaky } else { Mode::Plain })
    }

    /// An HTTPS server (HTTP/1.1, keep-alive) presenting `config`'s
    /// certificate.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start).
    pub fn start_tls(body_size: usize, config: Arc<rustls::ServerConfig>) -> LocalServer {
        Self::start_inner(body_size, Mode::Tls(config))
    }

    fn start_inner(body_size: usize, mode: Mode) -> LocalServer {
        let flaky = matches!(mode, Mode::Flaky);
        let tls = matches!(mode, Mode::Tls(_));
        // a deep accept queue, so that a burst of new connections measures
        // the clients and not SYN retransmits
        let listener = tokio::net::TcpSocket::new_v4().expect("socket");
        listener.bind(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = Bytes::from(vec![b'x'; body_size]);
        let accepted = Arc::new(AtomicU64::new(0));
        let counter = accepted.clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("bench-server")
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = listener.listen(4096).expect("listen");
                let _ = ready_tx.send(());
                let serve = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        let _ = tcp.set_nodelay(true);
                        let body = body.clone();
                        let mode = mode.clone();
                        tokio::spawn(async move {
                            let closing = Arc::new(tokio::sync::Notify::new());
                            let last = flaky.then(|| fastrand::u64(1..=5));
                            let served = AtomicU64::new(0);
                            let close = closing.clone();
                            let svc = hyper::service::service_fn(move |req| {
                                let body = body.clone();
                                // counted on the flaky server only: the
                                // others' requests pay nothing for it
                                if last.is_some_and(|last| {
                                    served.fetch_add(1, Ordering::Relaxed) + 1 == last
                                }) {
                                    close.notify_one();
                                }
                                async move { Ok::<_, Infallible>(route(req, body).await) }
                            });
                            if let Mode::Tls(config) = &mode {
                                let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                                let Ok(stream) = acceptor.accept(tcp).await else {
                                    return;
                                };
                                let _ = hyper::server::conn::http1::Builder::new()
                                    .serve_connection(TokioIo::new(stream), svc)
                                    .await;
                                return;
                            }
                            if matches!(mode, Mode::H2c) {
                                let _ = hyper::server::conn::http2::Builder::new(
                                    hyper_util::rt::TokioExecutor::new(),
                                )
                                .max_concurrent_streams(1000)
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
                                return;
                            }
                            let conn = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc);
                            tokio::pin!(conn);
                            let idle_then_close = async {
                                closing.notified().await;
                                let idle = fastrand::u64(0..=10);
                                tokio::time::sleep(std::time::Duration::from_millis(idle)).await;
                            };
                            tokio::select! {
                                _ = conn.as_mut() => return,
                                () = idle_then_close => {}
                            }
                            // closes an idle connection at once, without a
                            // `Connection: close` the client could see
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        });
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    () = serve => {}
                }
            });
        });
        ready_rx.recv().expect("server started");
        LocalServer {
            addr,
            tls,
            accepted,
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT/` (`https://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

async fn route(req: http::Request<hyper::body::Incoming>, body: Bytes) -> http::Response<ResBody> {
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/upload") => {
            let mut n = 0usize;
            let mut incoming = req.into_body();
            while let Some(Ok(frame)) = incoming.frame().await {
                if let Some(d) = frame.data_ref() {
                    n += d.len();
                }
            }
            http::Response::new(Full::new(Bytes::from(n.to_string())).boxed())
        }
        ("GET", "/download") => {
            let size = req
                .uri()
                .query()
                .and_then(|q| q.strip_prefix("size="))
                .and_then(|n| n.parse::<usize>().ok())
                .unwrap_or(0);
            let chunk = Bytes::from(vec![b'd'; CHUNK]);
            let chunks = (0..size.div_ceil(CHUNK)).map(move |i| {
                let len = CHUNK.min(size - i * CHUNK);
                Ok::<_, Infallible>(Frame::data(chunk.slice(..len)))
            });
            let mut res = http::Response::new(StreamBody::new(stream::iter(chunks)).boxed());
            res.headers_mut()
                .insert(http::header::CONTENT_LENGTH, size.into());
            res
        }
        _ => http::Response::new(Full::new(body).boxed()),
    }
}
