//! The transport trait and its shared handle.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use async_trait::async_trait;

use crate::body::Body;
use crate::config::Timeouts;
use crate::error::Error;

/// A request: http 1.x types with a [`Body`].
pub type Request = http::Request<Body>;
/// A response: http 1.x types with a [`Body`].
pub type Response = http::Response<Body>;

/// Sends ONE request over a managed connection pool.
///
/// # What a transport does
///
/// - keeps a connection pool within [`Limits`](crate::Limits): never more
///   than `max_connections` sockets, at most `max_keepalive_connections`
///   idle ones, none older than `keepalive_expiry`;
/// - honours the connect, read, write and pool [`Timeouts`](crate::Timeouts)
///   (a `Timeouts` in the request's extensions overrides its own), each
///   failing with its own [`ErrorKind`](crate::ErrorKind);
/// - TLS, proxies, HTTP/1.1 and HTTP/2;
/// - retries once, on a fresh connection, an idempotent request with a
///   replayable body whose reused connection turned out dead before any
///   response byte arrived;
/// - maps every failure onto [`Error`], with its backend name attached.
///
/// # What a transport never does
///
/// - follow redirects, decompress bodies, or retry on HTTP statuses: the
///   client layer does those once, for every backend;
/// - turn an HTTP status into an error;
/// - return a truncated body as complete: a body shorter than its
///   `Content-Length`, or a chunked body cut short, ends with an
///   [`ErrorKind::RemoteProtocol`](crate::ErrorKind::RemoteProtocol) error.
///
/// # Writing one
///
/// ```
/// use httpswap_core::{async_trait, Body, Error, HttpTransport, Request, Response};
///
/// /// Answers every request with its own path.
/// #[derive(Debug)]
/// struct Echo;
///
/// #[async_trait]
/// impl HttpTransport for Echo {
///     async fn send(&self, request: Request) -> Result<Response, Error> {
///         let path = request.uri().path().to_owned();
///         Ok(http::Response::new(Body::from(path)))
///     }
///     fn name(&self) -> &'static str {
///         "echo"
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
/// let t = httpswap_core::SharedTransport::new(Echo);
/// let req = http::Request::get("http://x/hello").body(Body::empty())?;
/// let res = t.send(req).await?;
/// assert_eq!(res.into_body().collect_bytes().await?, "/hello");
/// # Ok(()) }
/// ```
#[async_trait]
pub trait HttpTransport: Send + Sync + fmt::Debug + 'static {
    /// Sends one request and returns the response once its head arrived.
    /// The body streams after that.
    ///
    /// A transport may hand the request over before the future is first
    /// polled (the hyper backend does when an idle connection is ready, as
    /// hyper's own `SendRequest::send_request` does); dropping the future
    /// cancels the request either way.
    ///
    /// # Errors
    ///
    /// Any transport failure, mapped onto [`ErrorKind`](crate::ErrorKind).
    /// Never an HTTP status.
    async fn send(&self, request: Request) -> Result<Response, Error>;

    /// The backend's name (`"hyper"`, `"reqwest"`, `"isahc"`, ...).
    fn name(&self) -> &'static str;

    /// Statistics of the connection pool, as far as the transport can see
    /// it. The default knows nothing.
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }

    /// Closes the transport gracefully: idle connections are closed, new
    /// requests fail with [`ErrorKind::Closed`](crate::ErrorKind::Closed),
    /// requests in flight finish. The default does nothing.
    async fn close(&self) {}

    /// What this transport guarantees where backends differ (see the
    /// capability table, CAPABILITIES.md). The default claims everything the
    /// trait documents.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The timeouts this transport applies when a request carries none,
    /// so that a per-request override of one timeout keeps the others.
    /// The default, `None`, means unknown: the client layer then starts
    /// from [`Timeouts::default`].
    fn timeouts(&self) -> Option<Timeouts> {
        None
    }
}

/// Where a backend's guarantees are weaker than the trait's full contract.
///
/// Every field is `true` for a transport that honours the whole contract
/// (the hyper backend); a backend that cannot see or control something
/// says so here, and the conformance suite checks the weaker promise
/// instead of skipping the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// `max_connections` bounds open sockets. When `false` it bounds the
    /// requests in flight, and open sockets stay within
    /// `max_connections + max_keepalive_connections` plus connections
    /// still being made.
    pub socket_limit: bool,
    /// `connection_reused` fires when the pool hands out a connection, and a
    /// connection is reusable as soon as its response body ended. When
    /// `false`, the event fires once the response head shows that the
    /// connection had carried a request before, and the library gives a
    /// finished connection back to its pool from a task of its own, so a
    /// request started at that very moment may open another connection.
    pub reuse_known_at_checkout: bool,
    /// A per-request `Timeouts::connect` override is honoured. When
    /// `false` the transport's connect timeout always applies.
    pub connect_timeout_per_request: bool,
    /// Request header values may hold any bytes `http::HeaderValue` allows
    /// (obs-text, 0x80-0xFF). When `false` such a request fails with
    /// `LocalProtocol` before anything is sent.
    pub non_ascii_header_values: bool,
    /// The transport never sends a non-idempotent request twice. When
    /// `false`, a request without a body (a bodiless POST) whose reused
    /// connection died before any response byte is sent again on a new
    /// connection by the library; one with a body still fails with
    /// `RemoteProtocol`.
    pub never_resends_non_idempotent: bool,
    /// Idle connections are closed as soon as they expire. When `false`
    /// (curl) the expiry counts in whole seconds, rounded up, and an expired
    /// connection is closed when the next request looks at the pool; it is
    /// never reused either way.
    pub closes_expired_idle: bool,
    /// A request body without a `Content-Type` is sent without one. When
    /// `false` (curl gives a POST body `application/x-www-form-urlencoded`
    /// unless told otherwise) such a POST carries an empty `Content-Type`,
    /// which servers treat as absent.
    pub no_added_content_type: bool,
    /// A request goes out with its own headers, `Host` and its body's
    /// framing, nothing more. When `false`, the library adds
    /// `Accept: */*` (reqwest, curl) and a `User-Agent` of its own
    /// (isahc: `curl/<version> isahc/<version>`), each only to a request
    /// without one; a request's own `Accept` and `User-Agent` are sent as
    /// given. (`httpswap::Client` always sets a `User-Agent`, so through it
    /// only `Accept: */*` is added.) Neither library can be told not to.
    pub no_added_headers: bool,
    /// A request dropped before its response head (cancelled, or timed out
    /// by the caller) gives its connection and its `max_connections` slot
    /// back at once. When `false` (curl looks for cancellation only when
    /// data arrives) the abandoned transfer keeps both until the server
    /// sends something or closes the connection, or the transport is
    /// closed; meanwhile other requests wait for a slot up to the pool
    /// timeout, as for any connection in use.
    pub frees_abandoned_at_once: bool,
    /// `max_keepalive_connections` bounds idle connections only. When
    /// `false` (curl's connection cache) it bounds the connections the
    /// library keeps, busy ones included: a connection that finishes while
    /// that many others are busy is closed, so under a load above the limit
    /// most requests open a new connection. Set the limit to at least the
    /// expected concurrency with such a backend.
    pub keepalive_limit_counts_idle_only: bool,
    /// An `http://` URL whose host is an IPv6 address (`http://[::1]/`)
    /// can be sent through a forward proxy. When `false` (libcurl 8.21
    /// builds a broken request target for it) such a request fails with
    /// `LocalProtocol` before anything is sent. Host names are not
    /// affected.
    pub forward_proxy_ipv6_literal: bool,
    /// A connection whose response was refused for ambiguous framing (both
    /// `Content-Length` and `Transfer-Encoding`) is closed, as RFC 9112 6.3
    /// asks. When `false` (reqwest's and curl's pools, which the adapter
    /// cannot tell to close one connection) the library reads that body by
    /// Transfer-Encoding and may reuse the connection.
    pub closes_after_ambiguous_framing: bool,
    /// A final response that arrived complete while the request body was
    /// still being sent (a 413 after a few KiB of a large upload) is
    /// returned, however the server then ends the connection. When `false`
    /// (curl stops at the first failed send, before it reads what arrived;
    /// hyper under reqwest may try its next write before it has seen that
    /// the socket is readable), a server that resets the connection right
    /// after its answer may fail the request with `Write` instead; one
    /// that reads the rest of the body before closing (nginx's lingering
    /// close) is answered as it should be.
    pub early_response_survives_reset: bool,
    /// Requests beyond an HTTP/2 server's `SETTINGS_MAX_CONCURRENT_STREAMS`
    /// on a connection go to another connection to the origin (opened
    /// within `max_connections`) instead of queueing for a stream. When
    /// `false` (reqwest: hyper-util's pool keeps one HTTP/2 connection per
    /// origin), they wait for a stream on the one connection.
    pub opens_connections_beyond_stream_limit: bool,
    /// New connections work however many files the process has open. When
    /// `false` (a libcurl built without `HAVE_POLL` waits on sockets with
    /// `select()`), every connection fails with `Connect` once the socket's
    /// file descriptor would be past 1023; the error says so.
    pub sockets_past_fd_1024: bool,
    /// A request handed to a reused HTTP/1 connection at the moment that
    /// connection ends (the server closed it while idle) is sent again on
    /// a new one. When `false` (reqwest: hyper's request queue can keep
    /// such a request after the connection's task has gone, and
    /// hyper-util's pool holds the queue's sender while it waits, so no
    /// answer ever comes), the request waits for the read timeout and fails
    /// with `ReadTimeout` (rare: how rare behind a proxy that closes idle
    /// connections is in RELIABILITY.md).
    pub answers_requests_queued_as_a_connection_ends: bool,
    /// A [`Resolve`](crate::Resolve) set in the configuration resolves host
    /// names. When `false` (curl resolves names itself and takes only static
    /// overrides), building the transport with a resolver fails with
    /// `Builder`; [`ResolveOverrides`](crate::ResolveOverrides) work either way.
    pub custom_resolver: bool,
    /// A resolve override for `host:port` applies to that port only. When
    /// `false` (reqwest asks its resolver for a name without the port), it
    /// applies to requests to the host on every port.
    pub resolve_overrides_by_port: bool,
    /// [`Limits::max_lifetime`](crate::Limits::max_lifetime) is honoured. When
    /// `false` (reqwest and curl keep no connection age the adapter can act on),
    /// building the transport with a lifetime fails with `Builder`.
    pub max_lifetime: bool,
    /// A `Keep-Alive: timeout=N` response header shortens that connection's
    /// idle expiry to N seconds less a margin (1 s, or half of N when N is under
    /// 2 s), so a connection the server is about to close is not reused. When
    /// `false` (reqwest, curl) only `keepalive_expiry` applies.
    pub honours_keep_alive_hint: bool,
    /// [`ConnectionInfo::poison`](crate::ConnectionInfo::poison) keeps the
    /// connection from being used again. When `false` (the library's pool
    /// takes no such order: reqwest, curl), `poison` returns `false` and
    /// the connection stays in the pool.
    pub poisons_connections: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities::FULL
    }
}

impl Capabilities {
    /// The whole contract.
    pub const FULL: Capabilities = Capabilities {
        socket_limit: true,
        reuse_known_at_checkout: true,
        connect_timeout_per_request: true,
        non_ascii_header_values: true,
        never_resends_non_idempotent: true,
        closes_expired_idle: true,
        no_added_content_type: true,
        no_added_headers: true,
        frees_abandoned_at_once: true,
        keepalive_limit_counts_idle_only: true,
        forward_proxy_ipv6_literal: true,
        closes_after_ambiguous_framing: true,
        early_response_survives_reset: true,
        opens_connections_beyond_stream_limit: true,
        sockets_past_fd_1024: true,
        answers_requests_queued_as_a_connection_ends: true,
        custom_resolver: true,
        resolve_overrides_by_port: true,
        max_lifetime: true,
        honours_keep_alive_hint: true,
        poisons_connections: true,
    };

    /// Sets [`socket_limit`](Self::socket_limit).
    ///
    /// ```
    /// let caps = httpswap_core::Capabilities::FULL.with_socket_limit(false);
    /// assert!(!caps.socket_limit && caps.reuse_known_at_checkout);
    /// ```
    pub const fn with_socket_limit(mut self, yes: bool) -> Self {
        self.socket_limit = yes;
        self
    }

    /// Sets [`reuse_known_at_checkout`](Self::reuse_known_at_checkout).
    pub const fn with_reuse_known_at_checkout(mut self, yes: bool) -> Self {
        self.reuse_known_at_checkout = yes;
        self
    }

    /// Sets [`connect_timeout_per_request`](Self::connect_timeout_per_request).
    pub const fn with_connect_timeout_per_request(mut self, yes: bool) -> Self {
        self.connect_timeout_per_request = yes;
        self
    }

    /// Sets [`non_ascii_header_values`](Self::non_ascii_header_values).
    pub const fn with_non_ascii_header_values(mut self, yes: bool) -> Self {
        self.non_ascii_header_values = yes;
        self
    }

    /// Sets [`never_resends_non_idempotent`](Self::never_resends_non_idempotent).
    pub const fn with_never_resends_non_idempotent(mut self, yes: bool) -> Self {
        self.never_resends_non_idempotent = yes;
        self
    }

    /// Sets [`closes_expired_idle`](Self::closes_expired_idle).
    pub const fn with_closes_expired_idle(mut self, yes: bool) -> Self {
        self.closes_expired_idle = yes;
        self
    }

    /// Sets [`no_added_content_type`](Self::no_added_content_type).
    pub const fn with_no_added_content_type(mut self, yes: bool) -> Self {
        self.no_added_content_type = yes;
        self
    }

    /// Sets [`no_added_headers`](Self::no_added_headers).
    pub const fn with_no_added_headers(mut self, yes: bool) -> Self {
        self.no_added_headers = yes;
        self
    }

    /// Sets [`frees_abandoned_at_once`](Self::frees_abandoned_at_once).
    pub const fn with_frees_abandoned_at_once(mut self, yes: bool) -> Self {
        self.frees_abandoned_at_once = yes;
        self
    }

    /// Sets [`keepalive_limit_counts_idle_only`](Self::keepalive_limit_counts_idle_only).
    pub const fn with_keepalive_limit_counts_idle_only(mut self, yes: bool) -> Self {
        self.keepalive_limit_counts_idle_only = yes;
        self
    }

    /// Sets [`closes_after_ambiguous_framing`](Self::closes_after_ambiguous_framing).
    pub const fn with_closes_after_ambiguous_framing(mut self, yes: bool) -> Self {
        self.closes_after_ambiguous_framing = yes;
        self
    }

    /// Sets [`early_response_survives_reset`](Self::early_response_survives_reset).
    pub const fn with_early_response_survives_reset(mut self, yes: bool) -> Self {
        self.early_response_survives_reset = yes;
        self
    }

    /// Sets [`opens_connections_beyond_stream_limit`](Self::opens_connections_beyond_stream_limit).
    pub const fn with_opens_connections_beyond_stream_limit(mut self, yes: bool) -> Self {
        self.opens_connections_beyond_stream_limit = yes;
        self
    }

    /// Sets [`sockets_past_fd_1024`](Self::sockets_past_fd_1024).
    pub const fn with_sockets_past_fd_1024(mut self, yes: bool) -> Self {
        self.sockets_past_fd_1024 = yes;
        self
    }

    /// Sets [`answers_requests_queued_as_a_connection_ends`](Self::answers_requests_queued_as_a_connection_ends).
    pub const fn with_answers_requests_queued_as_a_connection_ends(mut self, yes: bool) -> Self {
        self.answers_requests_queued_as_a_connection_ends = yes;
        self
    }

    /// Sets [`forward_proxy_ipv6_literal`](Self::forward_proxy_ipv6_literal).
    pub const fn with_forward_proxy_ipv6_literal(mut self, yes: bool) -> Self {
        self.forward_proxy_ipv6_literal = yes;
        self
    }

    /// Sets [`custom_resolver`](Self::custom_resolver).
    pub const fn with_custom_resolver(mut self, yes: bool) -> Self {
        self.custom_resolver = yes;
        self
    }

    /// Sets [`resolve_overrides_by_port`](Self::resolve_overrides_by_port).
    pub const fn with_resolve_overrides_by_port(mut self, yes: bool) -> Self {
        self.resolve_overrides_by_port = yes;
        self
    }

    /// Sets [`max_lifetime`](Self::max_lifetime).
    pub const fn with_max_lifetime(mut self, yes: bool) -> Self {
        self.max_lifetime = yes;
        self
    }

    /// Sets [`honours_keep_alive_hint`](Self::honours_keep_alive_hint).
    pub const fn with_honours_keep_alive_hint(mut self, yes: bool) -> Self {
        self.honours_keep_alive_hint = yes;
        self
    }

    /// Sets [`poisons_connections`](Self::poisons_connections).
    pub const fn with_poisons_connections(mut self, yes: bool) -> Self {
        self.poisons_connections = yes;
        self
    }
}

/// Pool statistics. A field is `None` when the transport cannot observe it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Sockets open now (idle + in use).
    pub open: Option<u64>,
    /// Idle connections kept for reuse.
    pub idle: Option<u64>,
    /// Connections carrying a request now.
    pub in_use: Option<u64>,
    /// Connections created since the transport was built.
    pub created: Option<u64>,
    /// Times an idle connection was reused.
    pub reused: Option<u64>,
    /// Times a request had to wait for a free slot.
    pub waited: Option<u64>,
}

/// A cheaply cloneable, shared transport: `Arc<dyn HttpTransport>` inside.
///
/// This is what clients hold. It is itself an [`HttpTransport`] and a
/// `tower::Service<Request>`.
#[derive(Clone)]
pub struct SharedTransport(Arc<dyn HttpTransport>);

impl SharedTransport {
    /// Wraps a transport.
    pub fn new<T: HttpTransport>(transport: T) -> Self {
        SharedTransport(Arc::new(transport))
    }

    /// Wraps an already shared transport.
    pub fn from_arc(transport: Arc<dyn HttpTransport>) -> Self {
        SharedTransport(transport)
    }

    /// The shared `Arc`.
    pub fn as_arc(&self) -> &Arc<dyn HttpTransport> {
        &self.0
    }
}

impl fmt::Debug for SharedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedTransport").field(&self.0).finish()
    }
}

impl Deref for SharedTransport {
    type Target = dyn HttpTransport;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

/// The future [`HttpTransport::send`] returns, as `async_trait` writes it.
type SendFuture<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, Error>> + Send + 'a>>;

// `send` hands out the inner transport's own future rather than an
// `async` wrapper around it: each wrapper is one more allocation and one
// more layer to poll per request (`shared_transport_sends_the_inner_future`).
#[async_trait]
impl HttpTransport for SharedTransport {
    fn send<'life0, 'async_trait>(&'life0 self, request: Request) -> SendFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.0.send(request)
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn pool_stats(&self) -> PoolStats {
        self.0.pool_stats()
    }
    async fn close(&self) {
        self.0.close().await
    }
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    fn timeouts(&self) -> Option<Timeouts> {
        self.0.timeouts()
    }
}

#[async_trait]
impl<T: HttpTransport + ?Sized> HttpTransport for Arc<T> {
    fn send<'life0, 'async_trait>(&'life0 self, request: Request) -> SendFuture<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        (**self).send(request)
    }
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn pool_stats(&self) -> PoolStats {
        (**self).pool_stats()
    }
    async fn close(&self) {
        (**self).close().await
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn timeouts(&self) -> Option<Timeouts> {
        (**self).timeouts()
    }
}

#[allow(dead_code)]
fn _object_safe(_: &dyn HttpTransport) {}
#[allow(dead_code)]
fn _assert_send_sync<T: Send + Sync>() {}
#[allow(dead_code)]
fn _shared_is_send_sync() {
    _assert_send_sync::<SharedTransport>();
    _assert_send_sync::<Error>();
    _assert_send_sync::<Body>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Remembers where the future of its last `send` lives.
    #[derive(Debug, Default)]
    struct Marked(Mutex<usize>);

    fn address(f: &SendFuture<'_>) -> usize {
        let ptr: *const (dyn std::future::Future<Output = Result<Response, Error>> + Send) = &**f;
        ptr.cast::<()>() as usize
    }

    #[async_trait]
    impl HttpTransport for Marked {
        fn send<'life0, 'async_trait>(&'life0 self, _request: Request) -> SendFuture<'async_trait>
        where
            'life0: 'async_trait,
            Self: 'async_trait,
        {
            let f: SendFuture<'_> = Box::pin(async { Ok(Response::new(Body::empty())) });
            *self.0.lock().expect("lock") = address(&f);
            f
        }
        fn name(&self) -> &'static str {
            "marked"
        }
    }

    /// `SharedTransport` and `Arc<T>` hand out the transport's own future,
    /// with no wrapper around it.
    #[test]
    fn shared_transport_sends_the_inner_future() {
        let inner = Arc::new(Marked::default());
        let shared = SharedTransport::from_arc(inner.clone());
        let f = shared.send(Request::new(Body::empty()));
        assert_eq!(address(&f), *inner.0.lock().expect("lock"));
        let f = HttpTransport::send(&inner, Request::new(Body::empty()));
        assert_eq!(address(&f), *inner.0.lock().expect("lock"));
    }
}
