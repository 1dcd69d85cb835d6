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
mod fast;
mod io;
mod pool;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};

use futures_util::future::{Either, FutureExt, TryFutureExt};
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{PathAndQuery, Uri};
use http::Version;
use httpswap_core::{
    async_trait, Body, Error, ErrorKind, Events, HeadLimits, HttpTransport, PoolStats, ProxyRules,
    Request, Response, SharedEvents, Timeouts, TransportConfig,
};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use httpswap_adapter::{copy_request_head, is_idempotent, try_clone_request, BodyLimits};

use crate::body::{map_body_error, HandedOver, ReqBody, ResBody};
use crate::connect::{connect, ConnectOptions, ProxyKey, Target};
use crate::error::{is_dead_connection, map_hyper, Phase, BACKEND};
use crate::fast::{Fast, Waiting};
use crate::io::{TimedIo, WriteTimeout};
use crate::pool::{Checkout, H1Conn, H1Lease, H2Pending, HeadWait, Leased as Conn, Pool, Slot};

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
    /// [`ErrorKind::Builder`] for an invalid configuration, an invalid
    /// proxy URL in the environment, or an invalid root certificate.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        let build = || -> Result<Self, Error> {
            config.validate()?;
            let proxies = config.proxy.resolve()?;
            let key =
                |p: &Option<httpswap_core::Proxy>| p.as_ref().map(|p| Arc::new(ProxyKey::new(p)));
            let proxy_keys = [key(&proxies.http), key(&proxies.https)];
            let tls = httpswap_adapter::tls::build(&config.tls)?;
            let pool = Pool::new(config.limits);
            Ok(HyperTransport {
                inner: Arc::new(Inner {
                    config,
                    proxies,
                    proxy_keys,
                    tls,
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

/// The largest HTTP/1 head hyper reads by default (its read buffer, about
/// 400 KiB), less room for the status line.
const H1_DEFAULT_HEAD_ROOM: usize = 400 * 1024;
/// Room in hyper's read buffer beside a head of the configured size: the
/// status line, and what the size does not count.
const H1_HEAD_SLACK: usize = 16 * 1024;

/// HTTP/2's header list size for `head`: RFC 9113 counts 32 bytes a field
/// on top of name and value, where [`HeadLimits::size_of`] counts 4.
fn h2_header_list_size(head: &HeadLimits) -> u32 {
    let size = head
        .max_size
        .saturating_add(head.max_headers.saturating_mul(32));
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// The write timeout of the connection under a lease.
fn write_timeout(conn: &mut Conn) -> &WriteTimeout {
    match conn {
        Conn::H1(l) => &l.conn().write_timeout,
        Conn::H2(l) => &l.write_timeout,
    }
}

type Io = TokioIo<TimedIo>;

/// A connection after its handshake, before its task is spawned.
enum Established {
    H1(pool::H1Sender, Box<http1::Connection<Io, ReqBody>>),
    H2(
        pool::H2Sender,
        Box<http2::Connection<Io, ReqBody, TokioExecutor>>,
    ),
}

/// A connection being made, and its slot. Fields drop in declaration
/// order: the half-made socket closes before the slot is given back.
struct Connecting<F> {
    fut: std::pin::Pin<Box<F>>,
    slot: Option<Slot>,
}

/// How one attempt failed.
struct Failed {
    error: Error,
    /// The request, when hyper gave it back unsent.
    unsent: Option<Box<Request>>,
    /// The connection died under us (one retry may be right).
    dead: bool,
}

/// Where [`Inner::send_inner`] starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Looks for an idle connection of the request's origin first.
    Lookup,
    /// [`Inner::start`] looked already, and found none.
    Looked,
    /// The retry after a reused connection died: a new connection only.
    Retry,
}

impl Inner {
    /// The timeouts of `request`: its own, else the configured ones.
    fn timeouts_for(&self, request: &Request) -> Timeouts {
        Timeouts::for_request(request, &self.config.timeouts)
    }

    /// Starts a request. The usual case, a bodiless idempotent request with
    /// no total deadline and an idle HTTP/1 connection of its origin ready,
    /// is handed to that connection now (as `hyper`'s own `send_request`
    /// does): its future only waits for the head (see [`Fast`]). Everything
    /// else is done when the future is polled (`send`).
    fn start(
        self: &Arc<Self>,
        mut request: Request,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + '_>> {
        // before anything looks at the URL: its user info is sent as Basic
        // authentication, never on the wire as it is, logged or in an error
        if let Err(e) = httpswap_core::backend::apply_url_credentials(&mut request) {
            return Box::pin(std::future::ready(Err(e.with_backend(BACKEND))));
        }
        let timeouts = self.timeouts_for(&request);
        let mut start = Start::Lookup;
        if timeouts.total.is_none()
            && is_idempotent(request.method())
            && http_body::Body::is_end_stream(request.body())
            && request.body().is_replayable()
        {
            let events = SharedEvents::for_request(&request, self.config.events.as_ref());
            match self.exact_idle(request.uri(), events) {
                Some((target, lease)) => {
                    return match self.send_fast(request, target, lease, timeouts) {
                        Ok(fast) => Box::pin(fast),
                        Err(e) => Box::pin(std::future::ready(Err(e.with_backend(BACKEND)))),
                    }
                }
                None => start = Start::Looked,
            }
        }
        Box::pin(
            self.send(request, timeouts, start)
                .map_err(|e| e.with_backend(BACKEND)),
        )
    }

    /// [`Start`]s the fast path on `lease`, an idle connection of the
    /// request's origin (`target`).
    fn send_fast(
        self: &Arc<Self>,
        mut request: Request,
        target: Target,
        mut lease: H1Lease,
        timeouts: Timeouts,
    ) -> Result<Fast<'_, impl Future<Output = hyper::Result<http::Response<Incoming>>> + Send>, Error>
    {
        // A copy for the one retry a dead reused connection allows, as
        // `try_clone_request` makes it, but with the request's own event
        // hooks (the retry looks for them there), made in its box, and
        // given the request's URL itself when the request takes the
        // origin-form (a URL copied and the original dropped cost more).
        let mut backup = request.body().try_clone().map(|body| {
            let mut copy = Box::new(http::Request::new(body));
            copy_request_head(&request, &mut copy);
            if let Some(events) = request.extensions().get::<SharedEvents>() {
                copy.extensions_mut().insert(events.clone());
            }
            copy
        });
        let conn = lease.conn();
        conn.write_timeout.set(timeouts.write);
        let url = prepare_h1(&mut request, &target, conn)?;
        if let Some(copy) = &mut backup {
            *copy.uri_mut() = url.unwrap_or_else(|| request.uri().clone());
        }
        let send = conn
            .sender
            .send_request(request.map(|b| ReqBody::new(b, None)));
        Ok(Fast {
            send,
            inner: self,
            read: timeouts.read,
            timer_set: false,
            waiting: Some(Waiting {
                lease,
                target,
                backup,
            }),
            retry: None,
        })
    }

    /// Sends within the total deadline, if one is set (the body is bound
    /// by it too, in `ResBody`).
    fn send(
        self: &Arc<Self>,
        request: Request,
        timeouts: Timeouts,
        start: Start,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        match timeouts.total {
            None => Either::Left(self.send_inner(Box::new(request), timeouts, None, start)),
            // boxed: this rarer path must not make every request's future
            // (allocated and moved per request) bigger
            Some(total) => Either::Right(Box::pin(async move {
                let at = tokio::time::Instant::now() + total;
                let uri = request.uri().clone();
                let request = Box::new(request);
                tokio::time::timeout_at(
                    at,
                    self.send_inner(request, timeouts, Some((at, total)), start),
                )
                .await
                .unwrap_or_else(|_| Err(Error::timeout(ErrorKind::Timeout, total, uri)))
            })),
        }
    }

    // Written as a function returning an `async move` block, not as an
    // `async fn`: an `async fn` keeps its arguments twice in its state (as
    // arguments and as the locals they are moved to), and this state is
    // allocated for every request. It must stay under 1 KiB: larger blocks
    // miss the allocator's per-thread cache and take its arena lock.
    #[allow(clippy::manual_async_fn)]
    fn send_inner(
        self: &Arc<Self>,
        mut request: Box<Request>,
        timeouts: Timeouts,
        deadline: Option<(tokio::time::Instant, std::time::Duration)>,
        start: Start,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        async move {
            let events = SharedEvents::for_request(&request, self.config.events.as_ref()).cloned();
            // The usual case: an idle connection made for this very origin
            // (whose target is the request's, so none is built for it).
            let found = match start {
                Start::Lookup => self.exact_idle(request.uri(), events.as_ref()),
                Start::Looked | Start::Retry => None,
            };
            let (target, mut idle) = match found {
                Some((target, lease)) => (target, Some(Checkout::Reused(Conn::H1(lease)))),
                None => (self.target_for(request.uri())?, None),
            };

            let mut fresh = start == Start::Retry;
            loop {
                // In a block: what it leaves behind is not kept in the state
                // while the attempt runs.
                let (conn, reused) = {
                    let connect = |slot: Slot, pending: Option<H2Pending>| {
                        self.connect_in_background(
                            &target,
                            slot,
                            pending,
                            &timeouts,
                            events.as_ref(),
                        )
                    };
                    // The usual case, an idle connection ready now, takes no
                    // wait; the others are boxed so that every request's future
                    // stays small.
                    let idle = idle.take().or_else(|| {
                        (!fresh)
                            .then(|| self.pool.try_idle(&target, events.as_ref()))
                            .flatten()
                    });
                    let checkout = match idle {
                        Some(checkout) => checkout,
                        None => {
                            Box::pin(self.pool.acquire(
                                &target,
                                fresh,
                                self.may_be_http2(&target),
                                timeouts.pool,
                                events.as_ref(),
                                connect,
                            ))
                            .await?
                        }
                    };
                    match checkout {
                        Checkout::Reused(conn) => (conn, true),
                        Checkout::Created(conn) => (conn, false),
                        Checkout::New(slot) => (
                            Box::pin(self.new_conn(&target, slot, &timeouts, events.as_ref()))
                                .await?,
                            false,
                        ),
                    }
                };
                // keep a copy for the one retry a dead reused connection allows
                let backup = (reused && !fresh && is_idempotent(request.method()))
                    .then(|| try_clone_request(&request).map(Box::new))
                    .flatten();
                match self
                    .attempt(
                        conn,
                        request,
                        &target,
                        &timeouts,
                        deadline,
                        backup.is_some(),
                    )
                    .await
                {
                    Ok(res) => return Ok(res),
                    Err(failed) => {
                        if reused && !fresh && failed.dead {
                            if let Some(again) = failed.unsent.or(backup) {
                                tracing::debug!(
                                    ?target,
                                    "reused connection was dead; retrying on a fresh one"
                                );
                                request = again;
                                fresh = true;
                                continue;
                            }
                        }
                        return Err(failed.error);
                    }
                }
            }
        }
    }

    /// [`Pool::try_idle_exact`] for a URL whose scheme has no proxy.
    fn exact_idle(&self, uri: &Uri, events: Option<&Arc<dyn Events>>) -> Option<(Target, H1Lease)> {
        let https = match uri.scheme_str()? {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        if self.proxy_keys[usize::from(https)].is_some() {
            return None;
        }
        self.pool
            .try_idle_exact(https, uri.authority()?.as_str(), events)
    }

    fn target_for(&self, uri: &Uri) -> Result<Target, Error> {
        let (https, port) = httpswap_adapter::check_url(uri)?;
        let authority = uri.authority().cloned().expect("check_url saw a host");
        let proxy = self
            .proxies
            .proxy_for(uri)
            .and(self.proxy_keys[usize::from(https)].clone());
        Ok(Target::new(https, authority, port, proxy))
    }

    /// Starts `new_conn` as a task of its own, so that the request can take
    /// another connection if one frees up first; a connection nobody waits
    /// for any more goes to the pool.
    /// `pending`: the mark of a connect that may turn out HTTP/2, which
    /// other requests to the origin wait for; it ends with the connect.
    fn connect_in_background(
        self: &Arc<Self>,
        target: &Target,
        slot: Slot,
        pending: Option<H2Pending>,
        timeouts: &Timeouts,
        events: Option<&Arc<dyn Events>>,
    ) -> pool::Connecting {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let inner = self.clone();
        let target = target.clone();
        let timeouts = *timeouts;
        let events = events.cloned();
        tokio::spawn(async move {
            let made = inner
                .new_conn(&target, slot, &timeouts, events.as_ref())
                .await;
            if let (Some(p), Ok(Conn::H1(_))) = (&pending, &made) {
                p.got_http1();
            }
            drop(pending);
            if let Err(Ok(Conn::H1(lease))) = tx.send(made) {
                lease.release();
            }
        });
        rx
    }

    /// Whether a connection made to `target` may turn out HTTP/2: HTTP/2
    /// offered by ALPN on `https://`, or spoken by prior knowledge on a
    /// direct `http://` connection.
    fn may_be_http2(&self, target: &Target) -> bool {
        if target.https {
            self.config.http2
        } else {
            self.config.http2_prior_knowledge && target.proxy.is_none()
        }
    }

    /// Connects, handshakes and spawns the connection task, all within the
    /// connect timeout.
    async fn new_conn(
        &self,
        target: &Target,
        slot: Slot,
        timeouts: &Timeouts,
        events: Option<&Arc<dyn Events>>,
    ) -> Result<Conn, Error> {
        let write_timeout = WriteTimeout::default();
        write_timeout.set(timeouts.write);
        let opts = ConnectOptions {
            tls: &self.tls,
            http2: self.config.http2,
            http2_prior_knowledge: self.config.http2_prior_knowledge && target.proxy.is_none(),
            local_address: self.config.local_address,
        };
        let id = self.pool.next_id();
        let wt = write_timeout.clone();
        let establish = async move {
            let connected = connect(target, &opts).await?;
            let io = TokioIo::new(TimedIo::new(connected.stream, wt));
            let handshake_err = |e: hyper::Error| {
                Error::new(
                    ErrorKind::Connect,
                    format!("handshake with {} failed: {e}", target.origin()),
                )
                .with_source(e)
            };
            // hyper's own head limits no lower than the configured ones,
            // which `respond` checks the same way on every backend
            let head = &self.config.response_head;
            if connected.http2 {
                let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .max_header_list_size(h2_header_list_size(head))
                    .handshake(io)
                    .await
                    .map_err(handshake_err)?;
                Ok::<_, Error>(Established::H2(sender, Box::new(conn)))
            } else {
                let mut builder = http1::Builder::new();
                builder.max_headers(head.max_headers);
                if head.max_size > H1_DEFAULT_HEAD_ROOM {
                    builder.max_buf_size(head.max_size + H1_HEAD_SLACK);
                }
                let (sender, conn) = builder.handshake(io).await.map_err(handshake_err)?;
                Ok(Established::H1(sender, Box::new(conn)))
            }
        };
        // If this future is dropped half way (the caller gave up), the
        // socket must close before the slot is given back, or another
        // request could open one socket too many for a moment.
        let mut connecting = Connecting {
            fut: Box::pin(establish),
            slot: Some(slot),
        };
        let established = match timeouts.connect {
            Some(limit) => tokio::time::timeout(limit, &mut connecting.fut)
                .await
                .map_err(|_| Error::timeout(ErrorKind::ConnectTimeout, limit, target.origin()))??,
            None => (&mut connecting.fut).await?,
        };
        let slot = connecting.slot.take();
        let end = pool::ConnEnd::default();
        let established = match established {
            Established::H1(sender, conn) => {
                let ended = end.clone();
                tokio::spawn(async move {
                    let _ = conn.await;
                    ended.set();
                    drop(slot);
                });
                Ok(sender)
            }
            Established::H2(sender, conn) => {
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(slot);
                });
                Err(sender)
            }
        };
        Ok(match established {
            Ok(sender) => Conn::H1(self.pool.lease_new_h1(
                H1Conn::new(id, target.clone(), sender, write_timeout, end),
                events,
            )),
            Err(sender) => Conn::H2(Box::new(self.pool.lease_new_h2(
                target,
                id,
                sender,
                write_timeout,
                events,
            ))),
        })
    }

    /// Sends one request on `conn` and waits for the response head. Not
    /// an `async fn`, for the reason given at `send_inner`.
    #[allow(clippy::manual_async_fn)]
    fn attempt<'a>(
        &'a self,
        mut conn: Conn,
        request: Box<Request>,
        target: &'a Target,
        timeouts: &'a Timeouts,
        deadline: Option<(tokio::time::Instant, std::time::Duration)>,
        has_backup: bool,
    ) -> impl Future<Output = Result<Response, Failed>> + Send + 'a {
        async move {
            write_timeout(&mut conn).set(timeouts.write);
            let mut request = request;
            prepare(&mut request, target, &mut conn).map_err(|error| Failed {
                error,
                unsent: None,
                dead: false,
            })?;
            // a body still to be sent is tracked: the read timeout starts
            // when it was all handed over
            let handed_over = (!http_body::Body::is_end_stream(request.body()))
                .then(|| Arc::new(HandedOver::default()));
            let request = (*request).map(|b| ReqBody::new(b, handed_over.clone()));
            // Made in place, and its outcome made small at once: hyper's
            // error carries the unsent request inline (300 bytes), which
            // every layer above would copy again, for a rare case. With a
            // copy kept for the retry, the request need not come back:
            // `send_request` (whose outcome is small all through hyper)
            // does, an unsent request showing as a canceled error.
            let compact = |sent: Result<_, hyper::client::conn::TrySendError<_>>| {
                sent.map_err(|mut e| {
                    let unsent = e.take_message().map(Box::new);
                    (e.into_error(), unsent)
                })
            };
            let mut send = std::pin::pin!(match &mut conn {
                Conn::H1(l) if has_backup => Either::Left(Either::Left(
                    l.conn()
                        .sender
                        .send_request(request)
                        .map(|sent| sent.map_err(|e| (e, None))),
                )),
                Conn::H1(l) => Either::Left(Either::Right(
                    l.conn().sender.try_send_request(request).map(compact),
                )),
                Conn::H2(l) => Either::Right(l.sender.try_send_request(request).map(compact)),
            });
            let result = loop {
                let pending_body = handed_over.as_ref().filter(|p| !p.is_done());
                // While the body is handed over, the wait ends with its last
                // chunk; after it, the read timeout runs. On HTTP/1 the end
                // of the connection ends it too (see `pool::ConnEnd`).
                let notified = pending_body.map(|p| p.notify.notified());
                tokio::pin!(notified);
                if let Some(n) = notified.as_mut().as_pin_mut() {
                    n.enable();
                    if pending_body.is_some_and(|p| p.is_done()) {
                        continue;
                    }
                }
                let limit = timeouts.read.filter(|_| pending_body.is_none());
                let waited = match &mut conn {
                    Conn::H1(l) => {
                        if let Some(limit) = limit {
                            // The connection's own timer, set again (no new
                            // timer per request). Without a body to send, this
                            // is the first poll, microseconds after the pool
                            // read the clock to hand the connection out: the
                            // timer starts from that reading. With a body, it
                            // starts when the body was handed over, from the
                            // clock read now.
                            let now = handed_over
                                .is_none()
                                .then(|| l.conn().checkout_time())
                                .flatten()
                                .unwrap_or_else(tokio::time::Instant::now);
                            l.conn().set_head_deadline(now, limit);
                        }
                        std::future::poll_fn(|cx| {
                            if let Poll::Ready(r) = send.as_mut().poll(cx) {
                                return Poll::Ready(Waited::Answer(r));
                            }
                            if let Some(n) = notified.as_mut().as_pin_mut() {
                                if n.poll(cx).is_ready() {
                                    return Poll::Ready(Waited::BodyHandedOver);
                                }
                            }
                            Poll::Ready(
                                match ready!(l.conn().poll_head_wait(cx, limit.is_some())) {
                                    HeadWait::TimedOut => Waited::TimedOut,
                                    // one more look: hyper may have answered then
                                    HeadWait::Ended => match send.as_mut().poll(cx) {
                                        Poll::Ready(r) => Waited::Answer(r),
                                        Poll::Pending => Waited::NotSent,
                                    },
                                },
                            )
                        })
                        .await
                    }
                    // HTTP/2 streams share their connection: each has a
                    // timer of its own
                    Conn::H2(_) => {
                        let answer_or_body = std::future::poll_fn(|cx| {
                            if let Poll::Ready(r) = send.as_mut().poll(cx) {
                                return Poll::Ready(Waited::Answer(r));
                            }
                            match notified.as_mut().as_pin_mut() {
                                Some(n) => n.poll(cx).map(|()| Waited::BodyHandedOver),
                                None => Poll::Pending,
                            }
                        });
                        match limit {
                            Some(limit) => tokio::time::timeout(limit, answer_or_body)
                                .await
                                .unwrap_or(Waited::TimedOut),
                            None => answer_or_body.await,
                        }
                    }
                };
                match waited {
                    Waited::Answer(r) => break r,
                    Waited::BodyHandedOver => continue,
                    Waited::NotSent => return Err(not_sent(target)),
                    Waited::TimedOut => {
                        let limit = limit.unwrap_or_default();
                        return Err(Failed {
                            error: Error::timeout(ErrorKind::ReadTimeout, limit, target.origin()),
                            unsent: None,
                            dead: false,
                        });
                    }
                }
            };
            match result {
                Ok(res) => {
                    let limits = BodyLimits {
                        read: timeouts.read,
                        deadline,
                        backend: Some(BACKEND),
                    };
                    let head = &self.config.response_head;
                    respond(res, conn, target.clone(), head, limits).map_err(|error| Failed {
                        error,
                        unsent: None,
                        dead: false,
                    })
                }
                Err((err, unsent)) => {
                    let unsent = unsent.map(|r| Box::new(r.map(ReqBody::into_inner)));
                    let dead = is_dead_connection(&err);
                    let mut error = map_hyper(err, Phase::Request, &target.origin());
                    if unsent.is_some() {
                        error = error.with_request_sent(false);
                    }
                    Err(Failed {
                        error,
                        unsent,
                        dead,
                    })
                }
            }
        }
    }
}

/// How the wait for a response head ended.
enum Waited<R> {
    /// hyper's answer: a response head, or an error.
    Answer(R),
    /// The request body was handed over whole: the read timeout starts.
    BodyHandedOver,
    /// The read timeout passed.
    TimedOut,
    /// The connection ended and hyper gave no answer.
    NotSent,
}

/// The failure of a request whose HTTP/1 connection ended while it waited
/// for its response and hyper gave no answer: it was never taken from
/// hyper's queue (see [`pool::ConnEnd`]), so it was not sent, and it may
/// be sent again.
fn not_sent(target: &Target) -> Failed {
    Failed {
        error: Error::new(
            ErrorKind::RemoteProtocol,
            format!(
                "{} closed the connection before the request was sent",
                target.origin()
            ),
        )
        .with_request_sent(false),
        unsent: None,
        dead: true,
    }
}

/// The response for a head that arrived: its body holds the connection
/// (given back to the pool at the body's end). A forward proxy's 407 is a
/// [`ErrorKind::Proxy`] error.
fn respond(
    res: http::Response<Incoming>,
    conn: Conn,
    target: Target,
    head: &HeadLimits,
    limits: BodyLimits,
) -> Result<Response, Error> {
    // refused, its connection closed with the lease dropped here
    httpswap_adapter::check_response_head(res.headers(), res.version(), head, || target.origin())?;
    if res.status() == http::StatusCode::PROXY_AUTHENTICATION_REQUIRED && target.forward_proxied() {
        let p = target
            .proxy
            .as_ref()
            .map(|p| format!("{}:{}", p.host, p.port))
            .unwrap_or_default();
        return Err(Error::new(
            ErrorKind::Proxy,
            format!("proxy {p} refused the request with status 407 (authentication required)"),
        )
        .with_request_sent(false));
    }
    Ok(res.map(|incoming| Body::new(ResBody::new(incoming, target, map_body_error, conn, limits))))
}

/// Puts the request in the form the connection needs: Host header and
/// origin-form for HTTP/1 (absolute-form through a forward proxy, with
/// `Proxy-Authorization`); absolute-form, no Host, for HTTP/2.
fn prepare(req: &mut Request, target: &Target, conn: &mut Conn) -> Result<(), Error> {
    match conn {
        Conn::H1(lease) => prepare_h1(req, target, lease.conn()).map(drop),
        Conn::H2(_) => {
            *req.version_mut() = Version::HTTP_2;
            req.headers_mut().remove(HOST);
            Ok(())
        }
    }
}

/// [`prepare`] for an HTTP/1 connection. Returns the request's URL when it
/// was replaced by the origin-form.
fn prepare_h1(req: &mut Request, target: &Target, conn: &mut H1Conn) -> Result<Option<Uri>, Error> {
    *req.version_mut() = Version::HTTP_11;
    let forward_proxied = target.forward_proxied();
    // (an empty map, as a plain GET's often is, has nothing to look up)
    if !forward_proxied && !req.headers().is_empty() {
        req.headers_mut().remove(PROXY_AUTHORIZATION);
    }
    if !req.headers().contains_key(HOST) {
        let value = conn.host_header(target).map_err(|e| {
            Error::new(
                ErrorKind::InvalidUrl,
                format!("invalid host {:?}", target.host()),
            )
            .with_source(e)
        })?;
        req.headers_mut().insert(HOST, value);
    }
    if forward_proxied {
        if let Some(auth) = target.proxy.as_ref().and_then(|p| p.auth.clone()) {
            req.headers_mut().entry(PROXY_AUTHORIZATION).or_insert(auth);
        }
        Ok(None)
    } else {
        let pq = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Some(std::mem::replace(req.uri_mut(), Uri::from(pq))))
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
    /// it must stay small (it was 3.7 KiB, with the request stored six
    /// times over; now the request is boxed and the rare paths are too).
    /// Under 1 KiB, glibc serves it from the thread's cache; above (it was
    /// 1.3 KiB), every request took the arena lock to allocate and free it.
    /// The fast path's future (a reused connection) is half that.
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
            general_size <= 1024,
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

    #[derive(Debug, Default)]
    struct Log(std::sync::Mutex<Vec<&'static str>>);

    impl httpswap_core::Events for Log {
        fn connection_created(&self, _: &httpswap_core::events::ConnectionEvent) {
            self.0.lock().expect("lock").push("created");
        }
        fn connection_reused(&self, _: &httpswap_core::events::ConnectionEvent) {
            self.0.lock().expect("lock").push("reused");
        }
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
        let log = std::sync::Arc::new(Log::default());
        let mut second = get("/2");
        second
            .extensions_mut()
            .insert(httpswap_core::SharedEvents(log.clone()));
        let res = t.send(second).await.expect("retried on a new connection");
        assert_eq!(res.headers()["x-target"], "/2");
        res.into_body().collect_bytes().await.expect("second body");
        assert_eq!(*log.0.lock().expect("lock"), ["reused", "created"]);
        let stats = t.pool_stats();
        assert_eq!((stats.created, stats.reused), (Some(2), Some(1)));
    }
}
