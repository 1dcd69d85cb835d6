//! An httpswap transport over [reqwest] 0.13 (rustls, HTTP/2).
//!
//! reqwest brings the connections, TLS, proxies and HTTP/2; this adapter
//! adds what the [`HttpTransport`] contract asks for and reqwest lacks:
//!
//! - `max_connections` as a bound on requests in flight, with the pool
//!   timeout (`PoolTimeout`) and the `connection_queued` event; reqwest does
//!   not show its sockets, so this bounds requests, not sockets (see
//!   [`Capabilities::socket_limit`]);
//! - read timeout as a gap (the wait for the head after the body was handed
//!   over, then between chunks), write timeout as the longest time reqwest
//!   takes to come back for the next request chunk, the total deadline;
//! - one retry of an idempotent, replayable request whose reused
//!   connection turned out dead (the connection is recognised by its
//!   address pair, which reqwest reports), on a new connection: through a
//!   second `reqwest::Client` with the same settings that keeps no idle
//!   connection, since reqwest's own pool would hand out its next idle
//!   connection, which may be as stale as the first;
//! - every error mapped in one function onto the core taxonomy;
//! - `created`, `reused` and `waited` statistics and connection events,
//!   known when the response head arrives.
//!
//! reqwest's redirects are off and its decompression is not compiled: the
//! client layer does both, once, for every backend. Its retry layer is
//! off too: it copied every request in case the server refused it
//! (HTTP/2 `REFUSED_STREAM`, a stream past a GOAWAY), which the adapter
//! resends itself, as the other backends do.
//!
//! ```no_run
//! use httpswap_core::{HttpTransport, TransportConfig};
//! use httpswap_reqwest::ReqwestTransport;
//! # async fn run() -> Result<(), httpswap_core::Error> {
//! let transport = ReqwestTransport::new(TransportConfig::builder().pool_max_connections(8).build()?)?;
//! let res = transport
//!     .send(http::Request::get("http://127.0.0.1:8080/").body(Default::default())?)
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Bringing your own `reqwest::Client`
//!
//! [`ReqwestTransport::from_client`] wraps a client you built. Then TLS,
//! proxies, the connect timeout, keep-alive (idle count and expiry), HTTP/2,
//! name resolution (resolver and overrides), the Unix socket and redirects
//! come from *your* client: turn its redirects off
//! (`redirect::Policy::none()`) and leave its decompression features off,
//! or the client layer sees already-followed, already-decoded responses.
//! Its retry layer, if you leave it on, copies every request (turn it off
//! with `.retry(reqwest::retry::never().max_retries_per_request(0))`).
//! The adapter still enforces, from the [`TransportConfig`] you pass:
//! `max_connections` (requests in flight) with the pool timeout, the read,
//! write and total timeouts, the dead-connection retry, error mapping,
//! events and statistics. The resend then goes through your client, whose
//! pool may hand out another stale connection rather than a new one: so
//! it is repeated while each failure is a dead connection used before, at
//! most once per connection the pool may keep idle, and once more. Proxy
//! refusals and the stripping of a stray
//! `Proxy-Authorization` follow the config's proxy rules, so give it the
//! same proxies as your client.
#![forbid(unsafe_code)]

mod error;
mod url_memo;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use http::header::PROXY_AUTHORIZATION;
use httpswap_adapter::hyper_errors::Phase;
use httpswap_adapter::hyper_limits::{h2_header_list_size, hyper_max_headers};
use httpswap_adapter::{
    drive, within_total, Adapted, AdapterState, BodyLimits, Exchange, Slot, TimedBody, Tries,
    Unaddressed, Upload, UPLOAD_CHUNK,
};
use httpswap_core::{
    Body, Capabilities, Error, ErrorKind, HttpTransport, ProxyRules, Request, Response, Timeouts,
    TransportConfig,
};
use hyper_util::client::legacy::connect::HttpInfo;

use crate::error::{connection_of, is_dead, map_error};

/// The backend's name, in errors and `HttpTransport::name`.
pub const BACKEND: &str = "reqwest";

/// Scheduler turns a freed slot waits before a waiting request gets it:
/// hyper-util gives a finished connection back to its pool from a task of
/// its own, and the waiter should find it there (16 turns: the events
/// scenario then reused the connection 40 times out of 40; 3 gave 24/25).
const RELEASE_TURNS: u32 = 16;

/// The reqwest transport. Cheap to clone; clones share one reqwest client.
#[derive(Clone)]
pub struct ReqwestTransport {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed: dropping our client drops reqwest's idle
    /// connections (unless a user-supplied client is still held elsewhere).
    client: RwLock<Option<reqwest::Client>>,
    /// The same settings with no idle connection kept, for the one resend
    /// after a reused connection died: reqwest's own pool would hand out
    /// its next idle connection, which may be as stale as the first (two
    /// stale connections: `stale_get_resent_on_a_fresh_connection_not_another_stale_one`).
    /// `None` with a client from `from_client`, whose settings are unknown.
    fresh: Option<reqwest::Client>,
    /// Configuration, proxies, slots, connections, the HTTP/2 gate.
    state: AdapterState,
    closed: AtomicBool,
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("config", &self.inner.state.config)
            .field("stats", &self.pool_stats())
            .finish()
    }
}

impl ReqwestTransport {
    /// A transport with its own reqwest client built from `config`.
    /// Proxies from the environment are read now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] for an invalid configuration, proxy URL or
    /// root certificate, or when reqwest rejects the settings.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        let build = || {
            check_head_limits(&config)?;
            let state = AdapterState::new(config, RELEASE_TURNS)?;
            let client = client_for(&state.config, &state.proxies, true)?;
            let fresh = client_for(&state.config, &state.proxies, false)?;
            Ok(Self::assemble(client, Some(fresh), state))
        };
        build().map_err(|e: Error| e.with_backend(BACKEND))
    }

    /// A transport with the default configuration.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_defaults() -> Result<Self, Error> {
        Self::new(TransportConfig::default())
    }

    /// Wraps your own `reqwest::Client`; see the crate docs for which
    /// settings then come from your client and which from `config`.
    ///
    /// ```
    /// use httpswap_reqwest::ReqwestTransport;
    /// let client = reqwest::Client::builder()
    ///     .redirect(reqwest::redirect::Policy::none())
    ///     .tls_backend_preconfigured(
    ///         (*httpswap_adapter::tls::build(&Default::default())?.http2).clone(),
    ///     )
    ///     .build()
    ///     .expect("client");
    /// let config = httpswap_core::TransportConfig::builder()
    ///     .pool_max_connections(10)
    ///     .pool_max_keepalive(10)
    ///     .build()?;
    /// let transport = ReqwestTransport::from_client(client, config)?;
    /// # Ok::<(), httpswap_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] for an invalid `config` or proxy URL.
    pub fn from_client(client: reqwest::Client, config: TransportConfig) -> Result<Self, Error> {
        let build = || {
            let state = AdapterState::new(config, RELEASE_TURNS)?;
            Ok(Self::assemble(client, None, state))
        };
        build().map_err(|e: Error| e.with_backend(BACKEND))
    }

    fn assemble(
        client: reqwest::Client,
        fresh: Option<reqwest::Client>,
        state: AdapterState,
    ) -> Self {
        ReqwestTransport {
            inner: Arc::new(Inner {
                client: RwLock::new(Some(client)),
                fresh,
                state,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.state.config
    }
}

/// reqwest settings for a configuration: no automatic proxies (ours are
/// explicit), no redirects, our rustls settings, keep-alive (none kept
/// without `keep_idle`), HTTP/2 as asked, the connect timeout.
fn client_for(
    config: &TransportConfig,
    proxies: &ProxyRules,
    keep_idle: bool,
) -> Result<reqwest::Client, Error> {
    let tls = httpswap_adapter::tls::build(&config.tls)?;
    let rustls_config = if config.http2 { tls.http2 } else { tls.http1 };
    let idle = if keep_idle {
        config.limits.max_keepalive_connections
    } else {
        0
    };
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // requests the server did not process (HTTP/2 REFUSED_STREAM, a
        // stream past its GOAWAY) are sent again by the adapter
        // (`http2_goaway_crossing_a_new_stream`); reqwest's own retry layer
        // would copy every request for that, so it copies none
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .no_proxy()
        .tls_backend_preconfigured((*rustls_config).clone())
        .pool_max_idle_per_host(idle)
        // hyper's head limits no lower than the configured ones, which
        // `respond` checks the same way on every backend
        .http2_max_header_list_size(h2_header_list_size(&config.response_head))
        .pool_idle_timeout(config.limits.keepalive_expiry)
        .tcp_nodelay(true)
        .local_address(config.local_address);
    if let Some(n) = hyper_max_headers(&config.response_head) {
        b = b.http1_max_headers(n);
    }
    if let Some(t) = config.timeouts.connect {
        b = b.connect_timeout(t);
    }
    if !config.http2 && !config.http2_prior_knowledge {
        b = b.http1_only();
    }
    if config.http2_prior_knowledge {
        b = b.http2_prior_knowledge();
    }
    // reqwest's resolver is asked for a name without the port: an override
    // applies to the host on every port (`resolve_overrides_by_port`)
    for (host, _port, ips) in config.resolve_overrides.iter() {
        let addrs: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect();
        b = b.resolve_to_addrs(host, &addrs);
    }
    if let Some(resolver) = &config.resolver {
        b = b.dns_resolver(Arc::new(CustomResolver(resolver.clone())));
    }
    if let Some(path) = &config.unix_socket {
        b = b.unix_socket(path.clone());
    }
    for (proxy, https) in [(&proxies.http, false), (&proxies.https, true)] {
        let Some(proxy) = proxy else { continue };
        let rules = proxies.clone();
        let url = format!("http://{}", proxy.authority());
        let mut p = reqwest::Proxy::custom(move |u: &reqwest::Url| {
            let scheme_matches = (u.scheme() == "https") == https;
            let uri: http::Uri = u.as_str().parse().ok()?;
            (scheme_matches && rules.proxy_for(&uri).is_some()).then(|| url.clone())
        });
        if let Some(auth) = proxy.basic_auth_header() {
            p = p.custom_http_auth(auth);
        }
        b = b.proxy(p);
    }
    b.build()
        .map_err(|e| Error::builder(format!("reqwest rejected the settings: {e}")).with_source(e))
}

/// The configured resolver, as reqwest's (the port is the URL's: reqwest
/// sets it on addresses with port 0).
struct CustomResolver(Arc<dyn httpswap_core::Resolve>);

impl reqwest::dns::Resolve for CustomResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.0.resolve(name.as_str());
        Box::pin(async move {
            let ips = lookup.await?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The largest HTTP/1 response head reqwest's hyper reads (its default
/// read buffer, about 400 KiB, less room for the status line); reqwest
/// cannot raise it.
const MAX_HEAD_SIZE: usize = 400 * 1024;

/// Refuses head limits the library cannot honour.
fn check_head_limits(config: &TransportConfig) -> Result<(), Error> {
    if config.response_head.max_size > MAX_HEAD_SIZE {
        return Err(Error::builder(format!(
            "response_max_head_size {} is more than the reqwest backend can read ({MAX_HEAD_SIZE} \
             bytes: hyper's read buffer, which reqwest does not let us raise)",
            config.response_head.max_size
        )));
    }
    Ok(())
}

httpswap_adapter::adapted_transport!(ReqwestTransport, inner);

impl Adapted for Inner {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        Inner::send(self, request)
    }

    fn state(&self) -> &AdapterState {
        &self.state
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.client.write().expect("client lock").take();
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
            .with_socket_limit(false)
            .with_reuse_known_at_checkout(false)
            .with_connect_timeout_per_request(false)
            .with_no_added_headers(false)
            .with_closes_after_ambiguous_framing(false)
            .with_answers_requests_queued_as_a_connection_ends(false)
            .with_early_response_survives_reset(false)
            .with_resolve_overrides_by_port(false)
            .with_opens_connections_beyond_stream_limit(false)
            .with_max_lifetime(false)
            .with_poisons_connections(false)
            .with_honours_keep_alive_hint(false)
    }
}

impl Inner {
    /// Prepared here, before any future: the one returned is
    /// [`send_within`](Self::send_within)'s own when there is no total
    /// deadline.
    fn send(
        &self,
        mut request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        let prepared = self
            .state
            .prepare_open(!self.closed.load(Ordering::SeqCst), &mut request);
        within_total(prepared, move |timeouts, ex, deadline| {
            self.send_within(request, timeouts, deadline, ex)
        })
    }

    /// The request goes into its [`Tries`] here, before the future: what
    /// the future keeps is what the exchange needs after its first wait
    /// (`the_send_future_stays_small`).
    fn send_within<'a>(
        &'a self,
        mut request: Request,
        timeouts: Timeouts,
        deadline: Option<(tokio::time::Instant, Duration)>,
        ex: Exchange<'a>,
    ) -> impl Future<Output = Result<Response, Error>> + Send + 'a {
        let may_be_http2 = self.may_be_http2(request.uri());
        if !ex.forward {
            request.headers_mut().remove(PROXY_AUTHORIZATION);
        }
        // the URL is turned into reqwest's `Url` at each try, by the
        // thread's memo (`url_memo`)
        let mut tries = Tries::new(request);
        async move {
            let timeouts = &timeouts;
            let permit = self
                .state
                .slots
                .acquire(timeouts.pool, &ex.what, ex.events.as_ref())
                .await?;
            // after a dead connection, `fresh` (when there is one)
            let mut on_fresh = false;
            let ticket = match may_be_http2 {
                true => self.state.h2_gate.enter(&ex.what, timeouts.pool).await?,
                false => None,
            };
            // One resend, on a new connection (`fresh`: a client with no idle
            // pool). Around a user's own client (`from_client`) there is no such
            // client: its pool may hand out another stale connection, so the
            // request is sent again while each failure is a dead connection it
            // had used before, at most once per connection its pool may keep
            // idle, and one more (`own_client_resends_past_every_stale_connection`).
            let resends_allowed = match &self.fresh {
                Some(_) => 1,
                None => self.state.config.limits.max_keepalive_connections + 1,
            };
            let mut resends = 0;
            loop {
                // a copy kept only while one more resend is allowed
                let Some(request) = tries.next_apart(resends < resends_allowed) else {
                    // not reached: a resend follows only with a copy, whose
                    // body replays
                    return Err(Error::closed());
                };
                // the client is borrowed only while reqwest takes the
                // request (its future keeps a handle of its own): a clone
                // kept here would be one more write to the count every
                // request of every thread writes to
                let attempt = {
                    let ours = self.client.read().expect("client lock");
                    let client = match (&self.fresh, on_fresh) {
                        (Some(fresh), true) => fresh,
                        _ => ours.as_ref().ok_or_else(Error::closed)?,
                    };
                    self.attempt(client, tries.uri(), request, timeouts, &ex)
                };
                match attempt.await {
                    Ok(res) => {
                        if let Some(ticket) = ticket {
                            ticket.done(Some(res.version()));
                        }
                        return self.respond(res, permit, timeouts, deadline, ex);
                    }
                    Err((error, Some(dead_conn))) if tries.can_resend() => {
                        if self.state.connections.was_seen(&dead_conn) {
                            tracing::debug!(origin = %ex.what, "reused connection was dead; sending again on a new one");
                            resends += 1;
                            on_fresh = true;
                            continue;
                        }
                        return Err(error);
                    }
                    Err((error, _)) => return Err(error),
                }
            }
        }
    }

    /// Whether reqwest may make an HTTP/2 connection for `uri`: offered by
    /// ALPN on `https://`, or by prior knowledge (on every connection).
    fn may_be_http2(&self, uri: &http::Uri) -> bool {
        let config = &self.state.config;
        config.http2_prior_knowledge || (config.http2 && uri.scheme_str() == Some("https"))
    }

    /// One try of `request` to `uri`. On failure, also the address pair of a
    /// connection that died under the request, if there was one. The
    /// request is handed to reqwest now, whose future is small: the one
    /// returned does not keep it.
    fn attempt<'a>(
        &'a self,
        client: &reqwest::Client,
        uri: &http::Uri,
        request: Unaddressed,
        timeouts: &'a Timeouts,
        ex: &'a Exchange<'_>,
    ) -> impl Future<Output = Result<reqwest::Response, (Error, Option<(SocketAddr, SocketAddr)>)>>
           + Send
           + 'a {
        let handed =
            into_reqwest(uri, request).map(|(req, progress)| (client.execute(req), progress));
        async move {
            let (pending, progress) = handed.map_err(|e| (e, None))?;
            // the timeouts fire as plain errors; a dead connection comes
            // back beside `pending`'s own error
            let mut dead = None;
            let send = async {
                pending.await.map_err(|e| {
                    dead = is_dead(&e).then(|| connection_of(&e)).flatten();
                    // a reset while hyper still had body to write is a
                    // failed write, whatever the server answered before it
                    let phase = Phase::sending(progress.as_deref());
                    map_error(e, phase, ex.proxy_name().as_deref(), &ex.what)
                })
            };
            let res = drive(
                send,
                progress.as_deref(),
                timeouts,
                &self.state.timers,
                &ex.what,
            )
            .await;
            res.map_err(|e| (e, dead))
        }
    }

    /// Counts and announces the connection, refuses a proxy's 407, and
    /// wraps the body (which names the origin with the exchange's text).
    fn respond(
        &self,
        res: reqwest::Response,
        permit: Slot,
        timeouts: &Timeouts,
        deadline: Option<(tokio::time::Instant, Duration)>,
        ex: Exchange<'_>,
    ) -> Result<Response, Error> {
        let addrs = res
            .extensions()
            .get::<HttpInfo>()
            .map(|info| (info.local_addr(), info.remote_addr()));
        ex.accept_head(
            &self.state,
            addrs,
            res.version(),
            res.status(),
            res.headers(),
        )?;
        let res: http::Response<reqwest::Body> = res.into();
        let what = ex.what;
        Ok(res.map(|body| {
            Body::new(TimedBody::new(
                body,
                what,
                map_body_error,
                permit,
                BodyLimits {
                    read: timeouts.read,
                    deadline,
                    backend: Some(BACKEND),
                },
            ))
        }))
    }
}

/// reqwest's request for `request` to `uri`, and the upload's progress
/// for a body handed over in chunks. The request's extensions were read
/// into the exchange before (timeouts, capture); reqwest reads none of a
/// caller's.
fn into_reqwest(
    uri: &http::Uri,
    request: Unaddressed,
) -> Result<
    (
        reqwest::Request,
        Option<Arc<httpswap_adapter::UploadProgress>>,
    ),
    Error,
> {
    let url = url_memo::url_of(uri).map_err(|e| {
        Error::new(
            ErrorKind::InvalidUrl,
            format!("reqwest rejected the url: {e}"),
        )
        .with_source(e)
    })?;
    let (body, progress) = match request.body.as_bytes() {
        Some(bytes) if bytes.len() <= UPLOAD_CHUNK => (reqwest::Body::from(bytes.clone()), None),
        _ => {
            let (upload, progress) = Upload::new(request.body);
            (reqwest::Body::wrap(upload), Some(progress))
        }
    };
    let mut req = reqwest::Request::new(request.method, url);
    *req.headers_mut() = request.headers;
    *req.version_mut() = request.version;
    *req.body_mut() = Some(body);
    Ok((req, progress))
}

fn map_body_error(e: reqwest::Error, what: &httpswap_adapter::OriginName) -> Error {
    map_error(e, Phase::ResponseBody, None, what)
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<ReqwestTransport>();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request future is under 1 KiB: a wait's state is boxed only
    /// when there is a wait, and the request is taken apart before the
    /// future.
    #[test]
    fn the_send_future_stays_small() {
        httpswap_test::conformance::send_future_stays_small(ReqwestTransport::new);
    }

    #[test]
    fn a_head_limit_hyper_cannot_read_here_is_refused() {
        httpswap_test::conformance::head_limit_refused_above(MAX_HEAD_SIZE, ReqwestTransport::new);
    }
}
