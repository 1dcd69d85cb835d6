//! Shared pieces of the criterion benchmarks: a local keep-alive server and
//! the clients under test, driven the same way.
//!
//! Every client reads each response body to its end, so the work compared
//! is the same.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use httpswap_core::{Body, HttpTransport, SharedTransport};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// A local HTTP/1.1 keep-alive server answering every request with a body
/// of fixed size, on a runtime (and thread) of its own. Stops when dropped.
pub struct LocalServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl LocalServer {
    /// Starts the server with `body_size`-byte responses.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound.
    pub fn start(body_size: usize) -> LocalServer {
        // a deep accept queue, so that a burst of new connections measures
        // the clients and not SYN retransmits
        let listener = tokio::net::TcpSocket::new_v4().expect("socket");
        listener.bind(([127, 0, 0, 1], 0).into()).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let body = Bytes::from(vec![b'x'; body_size]);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = listener.listen(4096).expect("listen");
                let _ = ready_tx.send(());
                let serve = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else { continue };
                        let _ = tcp.set_nodelay(true);
                        let body = body.clone();
                        tokio::spawn(async move {
                            let svc = hyper::service::service_fn(move |_req| {
                                let body = body.clone();
                                async move { Ok::<_, Infallible>(http::Response::new(Full::new(body))) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tcp), svc)
                                .await;
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
            stop: Some(stop),
        }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

/// A client under test.
#[derive(Clone)]
pub enum Subject {
    /// An httpswap transport, through the trait object.
    Transport(SharedTransport),
    /// hyper-util's legacy pooled client, used directly.
    HyperLegacy(Box<hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>>),
    /// A `reqwest::Client`, used directly.
    Reqwest(reqwest::Client),
}

impl Subject {
    /// The hyper backend with the default configuration (no proxies).
    ///
    /// # Panics
    ///
    /// If the transport cannot be built.
    pub fn hyper_transport() -> Subject {
        let config = httpswap_core::TransportConfig::builder()
            .proxy_from_env(false)
            .build()
            .expect("config");
        Subject::Transport(SharedTransport::new(
            httpswap_hyper::HyperTransport::new(config).expect("transport"),
        ))
    }

    /// hyper-util's legacy client with its defaults (unbounded pool).
    pub fn hyper_legacy() -> Subject {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Subject::HyperLegacy(Box::new(
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector),
        ))
    }

    /// One `reqwest::Client` (no proxies, no redirects, keep-alive as the
    /// defaults say), and the reqwest backend wrapped around that same
    /// client: `(through the trait, direct)`.
    ///
    /// # Panics
    ///
    /// If the client cannot be built.
    pub fn reqwest_pair() -> (Subject, Subject) {
        Self::reqwest_pair_with(httpswap_core::Timeouts::default())
    }

    /// As [`reqwest_pair`](Self::reqwest_pair), with these timeouts in the
    /// transport (the direct client has none).
    ///
    /// # Panics
    ///
    /// If the client cannot be built.
    pub fn reqwest_pair_with(timeouts: httpswap_core::Timeouts) -> (Subject, Subject) {
        let config = httpswap_core::TransportConfig::builder()
            .proxy_from_env(false)
            .timeouts(timeouts)
            .build()
            .expect("config");
        let tls = httpswap_adapter::tls::build(&config.tls).expect("tls");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .tls_backend_preconfigured((*tls.http1).clone())
            .pool_max_idle_per_host(config.limits.max_keepalive_connections)
            .tcp_nodelay(true)
            .build()
            .expect("reqwest client");
        let transport = httpswap_reqwest::ReqwestTransport::from_client(client.clone(), config)
            .expect("transport");
        (
            Subject::Transport(SharedTransport::new(transport)),
            Subject::Reqwest(client),
        )
    }

    /// One GET, body read to its end; returns the body length.
    ///
    /// # Errors
    ///
    /// The client's error, as text.
    pub async fn get(&self, url: &str) -> Result<usize, String> {
        match self {
            Subject::Transport(t) => {
                let req = http::Request::get(url)
                    .body(Body::empty())
                    .map_err(|e| e.to_string())?;
                let res = t.send(req).await.map_err(|e| e.to_string())?;
                Ok(res
                    .into_body()
                    .collect_bytes()
                    .await
                    .map_err(|e| e.to_string())?
                    .len())
            }
            Subject::HyperLegacy(c) => {
                let uri: http::Uri = url
                    .parse()
                    .map_err(|e: http::uri::InvalidUri| e.to_string())?;
                let res = c.get(uri).await.map_err(|e| e.to_string())?;
                let body = res.into_body().collect().await.map_err(|e| e.to_string())?;
                Ok(body.to_bytes().len())
            }
            Subject::Reqwest(c) => {
                let res = c.get(url).send().await.map_err(|e| e.to_string())?;
                Ok(res.bytes().await.map_err(|e| e.to_string())?.len())
            }
        }
    }
}

/// The runtime clients are measured on: two workers, as many as the
/// machine has cores.
///
/// # Panics
///
/// If the runtime cannot start.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `total` requests with `concurrency` workers; returns the elapsed time.
///
/// # Panics
///
/// If a request fails: a benchmark of failures measures nothing.
pub async fn sustained(subject: &Subject, url: &str, total: usize, concurrency: usize) -> Duration {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let subject = subject.clone();
        let url = url.to_owned();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                subject.get(&url).await.expect("request");
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    started.elapsed()
}

/// Starts `n` requests at once; returns the time until all completed.
///
/// # Panics
///
/// If a request fails.
pub async fn burst(subject: &Subject, url: &str, n: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let subject = subject.clone();
            let url = url.to_owned();
            tokio::spawn(async move { subject.get(&url).await.expect("request") })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    started.elapsed()
}
