//! An HTTP/2 server (hyper), over TLS with ALPN or cleartext (h2c), that
//! answers every request with its version, method and body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::tls::TestCa;

/// An HTTP/2-only server. Stops when dropped.
pub struct H2Server {
    addr: SocketAddr,
    tls: bool,
    accepted: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for H2Server {
    fn drop(&mut self) {
        self.task.abort();
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
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let acceptor = ca.map(|ca| tokio_rustls::TlsAcceptor::from(ca.server_config(&[b"h2"])));
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let tls = acceptor.is_some();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                count.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                        let version = format!("{:?}", req.version());
                        let method = req.method().to_string();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|c| c.to_bytes())
                            .unwrap_or_default();
                        let res = http::Response::builder()
                            .header("x-version", version)
                            .header("x-method", method)
                            .body(Full::new(body))
                            .expect("valid response");
                        Ok::<_, Infallible>(res)
                    });
                    let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
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
                });
            }
        });
        H2Server {
            addr,
            tls,
            accepted,
            task,
        }
    }

    /// The URL of `path` (`https://localhost:PORT` or `http://127.0.0.1:PORT`).
    pub fn url(&self, path: &str) -> String {
        if self.tls {
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
