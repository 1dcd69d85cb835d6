//! A streaming reverse proxy: the local proxy in front of an LLM API.
//!
//! Every request is forwarded to the upstream through any transport, with
//! bodies streamed both ways (never buffered: a token stream reaches the
//! client as the upstream sends it). Upstream transport errors become
//! `502 Bad Gateway`, or `504 Gateway Timeout` for timeouts, with a JSON
//! body; the upstream's own statuses pass through untouched.
//! `GET /__stats` answers with the proxy's figures: requests, success rate,
//! upstream latency and the pool's reuse ratio.
//!
//! Requests go through a [`Client`] with redirects and decompression off (a
//! proxy passes both through) and retries only for transport errors of
//! requests that are safe to send again (idempotent ones, or when nothing
//! was sent): the case of an upstream that closes a keep-alive connection
//! just as it is reused.
//!
//! ```no_run
//! use httpswap_examples::proxy::ReverseProxy;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = httpswap::default_transport(Default::default())?;
//! let proxy = ReverseProxy::new("http://127.0.0.1:8000", transport)?;
//! let running = proxy.start("127.0.0.1:8080".parse()?).await?;
//! println!("proxy on http://{}", running.addr());
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderName, CONNECTION, HOST};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;
use httpswap::{Body, Client, Error, ErrorKind, RetryPolicy, TransportArg};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::json_response;
use tokio::task::JoinHandle;

/// Headers that belong to one hop and are never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// The proxy's counters.
#[derive(Debug, Default)]
struct Stats {
    requests: AtomicU64,
    relayed: AtomicU64,
    failed: AtomicU64,
    latency_us_total: AtomicU64,
    latency_us_max: AtomicU64,
}

/// The proxy: an upstream base URL and a client over some transport.
#[derive(Debug, Clone)]
pub struct ReverseProxy {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    upstream: String,
    stats: Stats,
}

/// A proxy serving on a socket; stops when dropped.
#[derive(Debug)]
pub struct RunningProxy {
    addr: SocketAddr,
    proxy: ReverseProxy,
    task: JoinHandle<()>,
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RunningProxy {
    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxy itself (for its [`stats`](ReverseProxy::stats)).
    pub fn proxy(&self) -> &ReverseProxy {
        &self.proxy
    }
}

impl ReverseProxy {
    /// A proxy to `upstream` (scheme, host, port and an optional path
    /// prefix) through `transport`, whose timeouts apply upstream.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidUrl`] when `upstream` is not an http(s) URL.
    pub fn new(upstream: &str, transport: impl Into<TransportArg>) -> Result<Self, Error> {
        let uri: http::Uri = upstream.parse().map_err(|e| {
            Error::new(ErrorKind::InvalidUrl, format!("bad upstream {upstream:?}")).with_source(e)
        })?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("the upstream must be an http or https URL, not {upstream:?}"),
            ));
        }
        let retry = RetryPolicy::default()
            .on_status(false)
            .backoff(Duration::from_millis(10), Duration::from_millis(200));
        let client = Client::builder()
            .transport(transport.into())
            .follow_redirects(false)
            .decompress(false)
            .retry(retry)
            .build()?;
        Ok(ReverseProxy {
            inner: Arc::new(Inner {
                client,
                upstream: upstream.trim_end_matches('/').to_owned(),
                stats: Stats::default(),
            }),
        })
    }

    /// Serves on `addr` (port 0: any free port) until the returned handle
    /// is dropped.
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start(self, addr: SocketAddr) -> io::Result<RunningProxy> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(self.clone().serve(listener));
        Ok(RunningProxy {
            addr,
            proxy: self,
            task,
        })
    }

    /// Accepts connections on `listener` and serves them (HTTP/1.1).
    pub async fn serve(self, listener: TcpListener) {
        while let Ok((stream, _)) = listener.accept().await {
            let proxy = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Answers one request: `/__stats` itself, anything else from upstream.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if req.uri().path() == "/__stats" {
            return json_response(StatusCode::OK, &self.stats());
        }
        let stats = &self.inner.stats;
        stats.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        match self.forward(req).await {
            Ok(res) => {
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                stats.latency_us_total.fetch_add(us, Ordering::Relaxed);
                stats.latency_us_max.fetch_max(us, Ordering::Relaxed);
                stats.relayed.fetch_add(1, Ordering::Relaxed);
                res
            }
            Err(e) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                let (status, kind) = if e.is_timeout() {
                    (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout")
                } else {
                    (StatusCode::BAD_GATEWAY, "upstream_error")
                };
                json_response(
                    status,
                    &json!({ "error": {
                        "type": kind,
                        "kind": format!("{:?}", e.kind()),
                        "message": e.to_string(),
                    } }),
                )
            }
        }
    }

    async fn forward(&self, req: Request<Incoming>) -> Result<Response<Body>, Error> {
        let (parts, incoming) = req.into_parts();
        let target = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let url = format!("{}{target}", self.inner.upstream);
        // no body at all stays a buffered (empty) one, so the request can
        // be sent again after a stale connection
        let body = if incoming.is_end_stream() {
            Body::empty()
        } else {
            Body::new(incoming.map_err(|e| {
                Error::new(ErrorKind::Other, "the client's request body broke").with_source(e)
            }))
        };
        let mut up = Request::builder()
            .method(parts.method)
            .uri(url)
            .body(body)
            .map_err(|e| {
                Error::new(ErrorKind::InvalidUrl, "cannot build the upstream URL").with_source(e)
            })?;
        *up.headers_mut() = end_to_end(parts.headers);
        up.headers_mut().remove(HOST);
        let res = self.inner.client.execute(up).await?;
        let (mut parts, body) = res.into_parts();
        parts.headers = end_to_end(parts.headers);
        Ok(Response::from_parts(parts, body))
    }

    /// The figures `/__stats` serves: `requests` (proxied), `relayed`
    /// (answered from upstream, any status), `failed` (502/504 from the
    /// proxy), `success_rate`, upstream latency to the response head
    /// (`mean_ms`, `max_ms`) and the pool's `created`, `reused` and
    /// `reuse_ratio`.
    pub fn stats(&self) -> Value {
        let s = &self.inner.stats;
        let requests = s.requests.load(Ordering::Relaxed);
        let relayed = s.relayed.load(Ordering::Relaxed);
        let ratio = |a: u64, b: u64| {
            if b == 0 {
                Value::Null
            } else {
                json!(a as f64 / b as f64)
            }
        };
        let pool = self.inner.client.transport().pool_stats();
        let (created, reused) = (pool.created.unwrap_or(0), pool.reused.unwrap_or(0));
        json!({
            "backend": self.inner.client.transport().name(),
            "requests": requests,
            "relayed": relayed,
            "failed": s.failed.load(Ordering::Relaxed),
            "success_rate": ratio(relayed, requests),
            "upstream_latency": {
                "mean_ms": ratio(s.latency_us_total.load(Ordering::Relaxed), relayed * 1000),
                "max_ms": s.latency_us_max.load(Ordering::Relaxed) as f64 / 1000.0,
            },
            "pool": {
                "created": pool.created,
                "reused": pool.reused,
                "reuse_ratio": ratio(reused, created + reused),
            },
        })
    }
}

/// `headers` without the hop-by-hop ones, including those the
/// `Connection` header names.
fn end_to_end(mut headers: HeaderMap) -> HeaderMap {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // the framing is the sending side's business
    headers.remove(http::header::TRANSFER_ENCODING);
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut h = HeaderMap::new();
        h.insert("connection", "close, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "timeout=5".parse().unwrap());
        h.insert("transfer-encoding", "chunked".parse().unwrap());
        h.insert("proxy-authorization", "Basic eA==".parse().unwrap());
        h.insert("authorization", "Bearer k".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        let kept = end_to_end(h);
        let mut names: Vec<&str> = kept.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["authorization", "content-type"]);
    }

    #[test]
    fn upstream_must_be_http() {
        let t = httpswap_test::MockTransport::from_fn(|_| Ok(Response::new(Body::empty())));
        for bad in ["ftp://x", "not a url", "/relative"] {
            let err = ReverseProxy::new(bad, t.clone()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{bad}");
        }
        assert!(ReverseProxy::new("http://127.0.0.1:1/prefix/", t).is_ok());
    }
}
