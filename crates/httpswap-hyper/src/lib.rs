//! The default httpswap transport: hyper 1.x with a connection pool of its own.
//!
//! hyper-util's legacy client has no global connection cap, no pool
//! timeout and no read/write gap timeouts, so this crate drives
//! `hyper::client::conn` directly under a pool with httpx semantics:
//!
//! - never more than `max_connections` sockets, across all hosts; a request
//!   that needs one more waits (up to the pool timeout, then `PoolTimeout`);
//! - at most `max_keepalive_connections` idle; idle ones older than
//!   `keepalive_expiry` closed and never reused; one closed by the server
//!   while idle never handed out;
//! - the optional total deadline (`Timeouts::total`) bounds the request
//!   and the reading of its body, failing with `ErrorKind::Timeout`;
//! - connect timeout over TCP + proxy CONNECT + TLS + HTTP/2 handshake; write
//!   timeout as the longest stall of a socket write; read timeout as the
//!   longest wait for the response head after the request body was handed
//!   over, then the longest gap between body chunks;
//! - an idempotent request with a replayable body whose *reused* connection
//!   turns out dead is sent once more on a fresh connection; any request
//!   that hyper hands back unsent is, too;
//! - rustls (ring) with webpki roots, extra roots, and an explicit opt-out;
//!   HTTP/2 by ALPN or prior knowledge; forward proxies (absolute form) and
//!   CONNECT tunnels with basic auth.
//!
//! The usual request, bodiless and idempotent, with no total deadline, to
//! an origin with an idle HTTP/1 connection ready, is handed to that
//! connection when `send` is called (as hyper's own
//! `SendRequest::send_request` does); its future only waits for the head.
//! Dropping the future cancels it. Any other request starts when its
//! future is first polled.
//!
//! ```no_run
//! use httpswap_core::{HttpTransport, TransportConfig};
//! use httpswap_hyper::HyperTransport;
//! # async fn run() -> Result<(), httpswap_core::Error> {
//! let transport = HyperTransport::new(TransportConfig::builder().pool_max_connections(8).build()?)?;
//! let res = transport
//!     .send(http::Request::get("http://127.0.0.1:8080/").body(Default::default())?)
//!     .await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod body;
mod connect;
mod error;
mod establish;
mod fast;
mod h1;
mod io;
mod pool;
mod send;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::uri::Uri;
use httpswap_core::{
    async_trait, Error, Events, HttpTransport, PoolStats, ProxyRules, Request, Response, Timeouts,
    TransportConfig,
};

use crate::connect::{ProxyKey, Target};
use crate::error::BACKEND;
use crate::h1::H1Conn;

// The pool of this transport, over hyper's connection handles (the pool is
// generic so that its rules are unit-tested with plain values).
type Pool = pool::Pool<H1Conn>;
type Lease = pool::Lease<H1Conn>;
type H1Lease = pool::H1Lease<H1Conn>;
type Checkout = pool::Checkout<H1Conn>;
type Slot = pool::Slot<H1Conn>;
type H2Pending = pool::H2Pending<H1Conn>;
type PendingConnect = pool::PendingConnect<H1Conn>;

/// The hyper transport. Cheap to clone; clones share one pool.
#[derive(Clone)]
pub struct HyperTransport {
    inner: Arc<Inner>,
}

struct Inner {
    config: TransportConfig,
    proxies: ProxyRules,
    /// Keys of `proxies.http` and `proxies.https`, built once.
    proxy_keys: [Option<Arc<ProxyKey>>; 2],
    tls: httpswap_adapter::tls::TlsConfigs,
    resolver: httpswap_adapter::Resolver,
    pool: Pool,
}

impl fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HyperTransport")
            .field("config", &self.inner.config)
            .field("pool", &self.inner.pool.stats())
            .finish()
    }
}

impl HyperTransport {
    /// A transport with this configuration. Proxies from the environment
    /// are read now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](httpswap_core::ErrorKind::Builder) for an invalid configuration, an invalid
    /// proxy URL in the environment, or an invalid root certificate.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        let build = || -> Result<Self, Error> {
            config.validate()?;
            let proxies = config.proxy_rules()?;
            let key =
                |p: &Option<httpswap_core::Proxy>| p.as_ref().map(|p| Arc::new(ProxyKey::new(p)));
            let proxy_keys = [key(&proxies.http), key(&proxies.https)];
            let tls = httpswap_adapter::tls::build(&config.tls)?;
            let pool = Pool::new(config.limits);
            let resolver = httpswap_adapter::Resolver::new(&config);
            Ok(HyperTransport {
                inner: Arc::new(Inner {
                    config,
                    proxies,
                    proxy_keys,
                    tls,
                    resolver,
                    pool,
                }),
            })
        };
        build().map_err(|e| e.with_backend(BACKEND))
    }

    /// A transport with the default configuration.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new): only an invalid proxy URL in the environment
    /// can fail with the defaults.
    pub fn with_defaults() -> Result<Self, Error> {
        Self::new(TransportConfig::default())
    }

    /// The configuration in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.config
    }
}

#[async_trait]
impl HttpTransport for HyperTransport {
    // Written out rather than `async fn`: one future, allocated once, with
    // no wrapper state around it (its size is copied on every request).
    fn send<'life0, 'async_trait>(
        &'life0 self,
        request: Request,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        if tokio::runtime::Handle::try_current().is_err() {
            // no runtime on this thread: run on httpswap's own
            let inner = self.inner.clone();
            return Box::pin(httpswap_adapter::outside_tokio(async move {
                inner.start(request).await
            }));
        }
        self.inner.start(request)
    }

    fn name(&self) -> &'static str {
        BACKEND
    }

    fn timeouts(&self) -> Option<Timeouts> {
        Some(self.inner.config.timeouts)
    }

    fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    async fn close(&self) {
        self.inner.pool.close();
    }
}

impl Inner {
    /// The fastest path, for a URL whose scheme has no proxy: the newest
    /// idle HTTP/1 connection made for a URL with this very scheme and
    /// authority text, when it is ready now, with a copy of its target
    /// (the request's own, so no target is built for the request).
    fn exact_idle(&self, uri: &Uri, events: Option<&Arc<dyn Events>>) -> Option<(Target, H1Lease)> {
        let https = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        if self.proxy_keys[usize::from(https)].is_some() {
            return None;
        }
        let authority = uri.authority()?.as_str();
        let mut lease = self.pool.try_idle_where(
            |t| t.https == https && t.proxy.is_none() && t.authority_text() == authority,
            events,
        )?;
        let target = lease.conn().target.clone();
        Some((target, lease))
    }

    /// Where a request to `uri` goes: its origin, and the proxy in between.
    fn target_for(&self, uri: &Uri) -> Result<Target, Error> {
        let (https, port) = httpswap_adapter::check_url(uri)?;
        self.config.check_unix_socket(https, uri)?;
        let authority = uri.authority().cloned().expect("check_url saw a host");
        let proxy = self
            .proxies
            .proxy_for(uri)
            .and(self.proxy_keys[usize::from(https)].clone());
        Ok(Target::new(https, authority, port, proxy))
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<HyperTransport>();
}
#[cfg(test)]
mod tests {
    use httpswap_core::HttpTransport;

    /// Every request allocates its future, and moves it whole at least once:
    /// it must stay under 1 KiB, which glibc serves from the thread's cache
    /// (larger blocks take the arena lock to allocate and free), and the
    /// fast path's future (a reused connection) at most half the general
    /// one's. The history of these sizes is in BENCHMARKS.md.
    #[tokio::test]
    async fn the_request_future_stays_small() {
        let server = httpswap_test::TestServer::echo().await;
        let t = super::HyperTransport::with_defaults().expect("transport");
        let get = || {
            http::Request::get(server.url("/"))
                .body(httpswap_core::Body::empty())
                .expect("request")
        };
        let general = t.inner.start(get());
        let general_size = std::mem::size_of_val(&*general);
        let res = general.await.expect("first response");
        res.into_body().collect_bytes().await.expect("first body");
        // the connection is idle now: the fast path takes it
        let fast = t.inner.start(get());
        let fast_size = std::mem::size_of_val(&*fast);
        let res = fast.await.expect("second response");
        assert_eq!(res.status(), 200);
        res.into_body().collect_bytes().await.expect("second body");
        let stats = t.pool_stats();
        assert_eq!((stats.created, stats.reused), (Some(1), Some(1)));
        assert!(
            general_size <= httpswap_test::conformance::SMALL_FUTURE,
            "the future of a request is {general_size} bytes"
        );
        assert!(
            fast_size <= general_size / 2,
            "the fast path's future is {fast_size} bytes (the general one {general_size})"
        );
    }

    /// A head limit above hyper's default read buffer is honoured: the
    /// buffer grows to hold it (the other backends refuse such a limit).
    #[tokio::test]
    async fn a_head_limit_above_hypers_default_buffer_is_read() {
        let server =
            httpswap_test::TestServer::start(|mut conn: httpswap_test::ServerConn| async move {
                if let Ok(Some(_)) = conn.read_request().await {
                    let mut raw = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n".to_vec();
                    for i in 0..10 {
                        raw.extend_from_slice(format!("x-big{i}: ").as_bytes());
                        raw.extend(std::iter::repeat_n(b'a', 60 * 1024));
                        raw.extend_from_slice(b"\r\n");
                    }
                    raw.extend_from_slice(b"\r\n");
                    let _ = conn.write(&raw).await;
                }
            })
            .await;
        let config = httpswap_core::TransportConfig::builder()
            .proxy_from_env(false)
            .response_max_head_size(1024 * 1024)
            .build()
            .expect("config");
        let t = super::HyperTransport::new(config).expect("transport");
        let req = http::Request::get(server.url("/"))
            .body(httpswap_core::Body::empty())
            .expect("request");
        let res = t
            .send(req)
            .await
            .expect("a 600 KiB head within a 1 MiB limit");
        assert_eq!(res.headers().len(), 11);
    }

    /// The fast path's retry (its reused connection was closed once the
    /// request was read) is sent on a new connection, and the request's own
    /// event hooks see that connection too: the copy kept for the retry
    /// carries them.
    #[tokio::test]
    async fn the_fast_path_retry_keeps_the_request_hooks() {
        let server = httpswap_test::TestServer::start(
            httpswap_test::conformance::close_after_second_request(),
        )
        .await;
        let t = super::HyperTransport::with_defaults().expect("transport");
        let get = |path: &str| {
            http::Request::get(server.url(path))
                .body(httpswap_core::Body::empty())
                .expect("request")
        };
        let res = t.send(get("/1")).await.expect("first");
        res.into_body().collect_bytes().await.expect("first body");
        let log = std::sync::Arc::new(httpswap_test::EventLog::default());
        let mut second = get("/2");
        second
            .extensions_mut()
            .insert(httpswap_core::SharedEvents(log.clone()));
        let res = t.send(second).await.expect("retried on a new connection");
        assert_eq!(res.headers()["x-target"], "/2");
        res.into_body().collect_bytes().await.expect("second body");
        assert_eq!(log.connection_words(), ["reused", "created"]);
        let stats = t.pool_stats();
        assert_eq!((stats.created, stats.reused), (Some(2), Some(1)));
    }
}
