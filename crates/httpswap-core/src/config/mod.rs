//! Transport configuration: timeouts, pool limits, proxies, TLS, HTTP/2.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::events::Events;
use crate::proxy::{NoProxy, Proxy, ProxyConfig, ProxyRules};

mod builder;

pub use builder::TransportConfigBuilder;

/// Connect timeout of the default client: 5 s (TCP + TLS + proxy CONNECT).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read, write and pool timeout of the default client: 600 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// Most sockets open at once, all hosts together: 1000.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1000;
/// Most idle connections kept for reuse: 100.
pub const DEFAULT_MAX_KEEPALIVE_CONNECTIONS: usize = 100;
/// Idle connections older than this are closed, never reused: 5 s.
pub const DEFAULT_KEEPALIVE_EXPIRY: Duration = Duration::from_secs(5);
/// Most header fields a response head may have: 100 (hyper's own limit).
pub const DEFAULT_MAX_RESPONSE_HEADERS: usize = 100;
/// Largest response head accepted, counted as the sum of its fields'
/// names and values plus 4 bytes a field (`": "` and CRLF): 100 KiB, the
/// most every backend's library reads (curl refuses a header line above
/// it).
pub const DEFAULT_MAX_RESPONSE_HEAD_SIZE: usize = 100 * 1024;
/// Most redirects followed before [`ErrorKind::TooManyRedirects`](crate::ErrorKind::TooManyRedirects): 20.
pub const DEFAULT_MAX_REDIRECTS: usize = 20;

/// The four timeouts of httpx, plus an optional total deadline.
///
/// `None` disables a timeout. Read and write timeouts bound the *gap*
/// between two chunks, not the whole transfer, so a long stream that keeps
/// moving never times out. A `Timeouts` value in a request's extensions
/// overrides the transport's for that request.
///
/// ```
/// use httpswap_core::{Timeouts, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
/// let t = Timeouts::default();
/// assert_eq!(t.connect, Some(DEFAULT_CONNECT_TIMEOUT));
/// assert_eq!(t.read, Some(DEFAULT_TIMEOUT));
/// assert_eq!(t.total, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect + TLS handshake (+ proxy CONNECT).
    pub connect: Option<Duration>,
    /// Longest gap between two received chunks, the response head included.
    pub read: Option<Duration>,
    /// Longest gap between two sent chunks of the request.
    pub write: Option<Duration>,
    /// Longest wait for a free connection slot.
    pub pool: Option<Duration>,
    /// Whole request, body included; off by default so long streams live.
    pub total: Option<Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Some(DEFAULT_CONNECT_TIMEOUT),
            read: Some(DEFAULT_TIMEOUT),
            write: Some(DEFAULT_TIMEOUT),
            pool: Some(DEFAULT_TIMEOUT),
            total: None,
        }
    }
}

impl Timeouts {
    /// The same timeout for connect, read, write and pool (as httpx's
    /// `Timeout(x)`); no total deadline.
    pub fn all(d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        Timeouts {
            connect: d,
            read: d,
            write: d,
            pool: d,
            total: None,
        }
    }

    /// The timeouts of `request`: a [`Timeouts`] in its extensions (all
    /// five replaced), else `fallback` (the transport's); then a
    /// [`TimeoutOverrides`] in its extensions on top (only the timeouts it
    /// sets).
    ///
    /// ```
    /// use httpswap_core::{Body, TimeoutOverrides, Timeouts};
    /// use std::time::Duration;
    /// let mut req = http::Request::new(Body::empty());
    /// let mine = Timeouts::all(Duration::from_secs(1));
    /// assert_eq!(Timeouts::for_request(&req, &mine)?, mine);
    /// req.extensions_mut().insert(TimeoutOverrides::default().read(Duration::from_secs(9)));
    /// let t = Timeouts::for_request(&req, &mine)?;
    /// assert_eq!((t.read, t.connect), (Some(Duration::from_secs(9)), mine.connect));
    /// req.extensions_mut().insert(TimeoutOverrides::default().read(Duration::ZERO));
    /// assert!(Timeouts::for_request(&req, &mine).is_err());
    /// # Ok::<(), httpswap_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](crate::ErrorKind::Builder) for a zero
    /// timeout in either extension, as the builder refuses one.
    pub fn for_request<B>(
        request: &http::Request<B>,
        fallback: &Timeouts,
    ) -> Result<Timeouts, Error> {
        let ext = request.extensions();
        let whole = ext.get::<Timeouts>();
        let some = ext.get::<TimeoutOverrides>();
        if whole.is_none() && some.is_none() {
            return Ok(*fallback);
        }
        let base = whole.copied().unwrap_or(*fallback);
        let t = some.map_or(base, |o| o.apply(base));
        t.validate()
            .map_err(|e| Error::builder(format!("this request's {e}")))?;
        Ok(t)
    }

    fn validate(&self) -> Result<(), Error> {
        for (name, t) in [
            ("connect", self.connect),
            ("read", self.read),
            ("write", self.write),
            ("pool", self.pool),
            ("total", self.total),
        ] {
            if t == Some(Duration::ZERO) {
                return Err(Error::builder(format!(
                    "{name} timeout is zero; use None to disable it"
                )));
            }
        }
        Ok(())
    }
}

/// Changes to some of the transport's timeouts for one request, as a
/// request extension: the timeouts it sets replace the transport's (or
/// those of a [`Timeouts`] extension), the others stay. So a wrapper (an
/// SDK's connector) can pass its own read timeout without knowing the
/// transport's other four. Zero durations are refused when the request is
/// sent ([`ErrorKind::Builder`](crate::ErrorKind::Builder)).
///
/// ```
/// use httpswap_core::{TimeoutOverrides, Timeouts};
/// use std::time::Duration;
/// let o = TimeoutOverrides::default()
///     .connect(Duration::from_secs(1))
///     .read(None);
/// let t = o.apply(Timeouts::default());
/// assert_eq!(t.connect, Some(Duration::from_secs(1)));
/// assert_eq!(t.read, None);
/// assert_eq!(t.pool, Timeouts::default().pool);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutOverrides {
    /// The connect timeout, if changed (`Some(None)`: none).
    pub connect: Option<Option<Duration>>,
    /// The read timeout, if changed.
    pub read: Option<Option<Duration>>,
    /// The write timeout, if changed.
    pub write: Option<Option<Duration>>,
    /// The pool timeout, if changed.
    pub pool: Option<Option<Duration>>,
    /// The total deadline, if changed.
    pub total: Option<Option<Duration>>,
}

impl TimeoutOverrides {
    /// Changes the connect timeout (`None`: none).
    #[must_use]
    pub fn connect(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.connect = Some(d.into());
        self
    }

    /// Changes the read timeout (`None`: none).
    #[must_use]
    pub fn read(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.read = Some(d.into());
        self
    }

    /// Changes the write timeout (`None`: none).
    #[must_use]
    pub fn write(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.write = Some(d.into());
        self
    }

    /// Changes the pool timeout (`None`: none).
    #[must_use]
    pub fn pool(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.pool = Some(d.into());
        self
    }

    /// Changes the total deadline (`None`: none).
    #[must_use]
    pub fn total(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.total = Some(d.into());
        self
    }

    /// `base` with these changes.
    pub fn apply(&self, base: Timeouts) -> Timeouts {
        Timeouts {
            connect: self.connect.unwrap_or(base.connect),
            read: self.read.unwrap_or(base.read),
            write: self.write.unwrap_or(base.write),
            pool: self.pool.unwrap_or(base.pool),
            total: self.total.unwrap_or(base.total),
        }
    }
}

/// Connection pool limits, with httpx semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most sockets open at once across all hosts; a request that needs one
    /// more waits for a slot (up to the pool timeout).
    pub max_connections: usize,
    /// Most idle connections kept; extra ones are closed when released.
    pub max_keepalive_connections: usize,
    /// Idle connections older than this are closed and never reused.
    pub keepalive_expiry: Duration,
    /// Most sockets open at once to one origin (scheme, host and port), as
    /// Go's `MaxConnsPerHost`; a request beyond it waits (up to the pool
    /// timeout, with `connection_queued`). `None` (the default): only
    /// `max_connections` bounds them.
    pub max_connections_per_host: Option<usize>,
    /// A connection older than this (since it connected) is not reused, as
    /// .NET's `PooledConnectionLifetime`: long-lived clients then follow
    /// DNS changes and load balancers rebalancing. `None` (the default): no
    /// limit. Not every backend can: see
    /// [`Capabilities::max_lifetime`](crate::Capabilities::max_lifetime).
    pub max_lifetime: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_keepalive_connections: DEFAULT_MAX_KEEPALIVE_CONNECTIONS,
            keepalive_expiry: DEFAULT_KEEPALIVE_EXPIRY,
            max_connections_per_host: None,
            max_lifetime: None,
        }
    }
}

impl Limits {
    fn validate(&self) -> Result<(), Error> {
        if self.max_connections == 0 {
            return Err(Error::builder("max_connections must be at least 1"));
        }
        if self.max_connections_per_host == Some(0) {
            return Err(Error::builder(
                "max_connections_per_host must be at least 1",
            ));
        }
        if self.max_lifetime == Some(Duration::ZERO) {
            return Err(Error::builder(
                "max_lifetime is zero; use None for connections of any age",
            ));
        }
        if self.max_keepalive_connections > self.max_connections {
            return Err(Error::builder(format!(
                "max_keepalive_connections ({}) exceeds max_connections ({})",
                self.max_keepalive_connections, self.max_connections
            )));
        }
        Ok(())
    }
}

/// Limits on a response head, the same on every backend: more header
/// fields, or a larger head, fail with
/// [`ErrorKind::RemoteProtocol`](crate::ErrorKind::RemoteProtocol).
///
/// The size counts each field as its name and value plus 4 bytes (as
/// `": "` and CRLF on the wire), on HTTP/1 and HTTP/2 alike.
///
/// ```
/// use httpswap_core::{HeadLimits, DEFAULT_MAX_RESPONSE_HEADERS};
/// assert_eq!(HeadLimits::default().max_headers, DEFAULT_MAX_RESPONSE_HEADERS);
/// let mut h = http::HeaderMap::new();
/// h.insert("x-a", "1".parse().unwrap());
/// assert_eq!(HeadLimits::size_of(&h), 3 + 1 + 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadLimits {
    /// Most header fields (a repeated name counts once per value).
    pub max_headers: usize,
    /// Largest head, in bytes, counted as [`size_of`](Self::size_of) does.
    pub max_size: usize,
}

impl Default for HeadLimits {
    fn default() -> Self {
        HeadLimits {
            max_headers: DEFAULT_MAX_RESPONSE_HEADERS,
            max_size: DEFAULT_MAX_RESPONSE_HEAD_SIZE,
        }
    }
}

impl HeadLimits {
    /// The size of a head's fields: names and values, plus 4 bytes each.
    pub fn size_of(headers: &http::HeaderMap) -> usize {
        headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum()
    }

    /// Checks a response head against the limits.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RemoteProtocol`](crate::ErrorKind::RemoteProtocol)
    /// naming `origin` (made only then) and the limit.
    pub fn check(
        &self,
        headers: &http::HeaderMap,
        origin: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let count = headers.len();
        if count > self.max_headers {
            return Err(Error::new(
                crate::ErrorKind::RemoteProtocol,
                format!(
                    "response from {} has {count} header fields, more than the limit of {}",
                    origin(),
                    self.max_headers
                ),
            ));
        }
        let size = Self::size_of(headers);
        if size > self.max_size {
            return Err(Error::new(
                crate::ErrorKind::RemoteProtocol,
                format!(
                    "response head from {} is {size} bytes, more than the limit of {}",
                    origin(),
                    self.max_size
                ),
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Error> {
        if self.max_headers == 0 || self.max_size == 0 {
            return Err(Error::builder(
                "response head limits must be at least 1 (header fields and bytes)",
            ));
        }
        Ok(())
    }
}

/// A DER-encoded X.509 certificate, to trust as a root.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
}

impl Certificate {
    /// A certificate from DER bytes (not checked until the transport is built).
    pub fn from_der(der: impl Into<Vec<u8>>) -> Self {
        Certificate { der: der.into() }
    }

    /// Every certificate in a PEM bundle.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](crate::ErrorKind::Builder) when the PEM is
    /// malformed or holds no certificate.
    pub fn from_pem_bundle(pem: &[u8]) -> Result<Vec<Certificate>, Error> {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_slice_iter(pem)
            .map(|c| c.map(|c| Certificate::from_der(c.as_ref())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::builder(format!("invalid pem certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::builder("no certificate found in pem data"));
        }
        Ok(certs)
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Certificate({} bytes)", self.der.len())
    }
}

/// TLS settings. Verification is on by default against the built-in
/// (webpki) roots; both the extra roots and the opt-out are explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// Extra roots to trust, on top of the built-in ones.
    pub root_certificates: Vec<Certificate>,
    /// Whether the built-in roots are trusted (default `true`).
    pub builtin_roots: bool,
    /// Accept any certificate and host name. Dangerous: for tests only.
    pub danger_accept_invalid_certs: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            root_certificates: Vec::new(),
            builtin_roots: true,
            danger_accept_invalid_certs: false,
        }
    }
}

/// Everything a transport needs to know: timeouts, limits, proxies, TLS,
/// HTTP versions, local address and event hooks.
///
/// Build one with [`TransportConfig::builder`]; `default()` is the default
/// client's configuration (see the `DEFAULT_*` constants). Backends call
/// [`validate`](TransportConfig::validate) again, so a config changed field
/// by field is checked too.
///
/// ```
/// use httpswap_core::TransportConfig;
/// use std::time::Duration;
/// let config = TransportConfig::builder()
///     .timeout_connect(Duration::from_secs(2))
///     .timeout_read(None)
///     .pool_max_connections(10)
///     .pool_max_keepalive(5)
///     .build()
///     .unwrap();
/// assert_eq!(config.limits.max_connections, 10);
/// assert_eq!(config.timeouts.read, None);
///
/// let err = TransportConfig::builder().pool_max_connections(0).build().unwrap_err();
/// assert!(err.to_string().contains("max_connections"));
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TransportConfig {
    /// Timeouts (per-request override: a `Timeouts` in the request's extensions).
    pub timeouts: Timeouts,
    /// Pool limits.
    pub limits: Limits,
    /// Proxy settings.
    pub proxy: ProxyConfig,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Offer HTTP/2 by ALPN on `https://` connections (default off).
    pub http2: bool,
    /// Speak HTTP/2 without negotiation on `http://` connections (h2c).
    pub http2_prior_knowledge: bool,
    /// Bind outgoing sockets to this local address.
    pub local_address: Option<IpAddr>,
    /// Limits on a response head; a head beyond them fails with
    /// [`ErrorKind::RemoteProtocol`](crate::ErrorKind::RemoteProtocol).
    pub response_head: HeadLimits,
    /// The resolver of host names; `None`: the system's, off the async
    /// workers.
    pub resolver: Option<Arc<dyn crate::Resolve>>,
    /// Static `host:port` to addresses overrides, as curl's `--resolve`.
    pub resolve_overrides: crate::ResolveOverrides,
    /// Send every request over this Unix domain socket (HTTP/1.1).
    pub unix_socket: Option<std::path::PathBuf>,
    /// Hooks for connection events (request events are fired by the client
    /// layer). A [`SharedEvents`](crate::SharedEvents) in a request's
    /// extensions takes precedence.
    pub events: Option<Arc<dyn Events>>,
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("timeouts", &self.timeouts)
            .field("limits", &self.limits)
            .field("proxy", &self.proxy)
            .field("tls", &self.tls)
            .field("http2", &self.http2)
            .field("http2_prior_knowledge", &self.http2_prior_knowledge)
            .field("local_address", &self.local_address)
            .field("response_head", &self.response_head)
            .field("resolver", &self.resolver.is_some())
            .field("resolve_overrides", &self.resolve_overrides)
            .field("unix_socket", &self.unix_socket)
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl TransportConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> TransportConfigBuilder {
        TransportConfigBuilder {
            config: TransportConfig::default(),
            error: None,
        }
    }

    /// The proxy rules in force: none when requests go over a Unix socket,
    /// else [`ProxyConfig::resolve`] (the environment is read now).
    ///
    /// # Errors
    ///
    /// As [`ProxyConfig::resolve`].
    pub fn proxy_rules(&self) -> Result<ProxyRules, Error> {
        if self.unix_socket.is_some() {
            return Ok(ProxyRules::none());
        }
        self.proxy.resolve()
    }

    /// Refuses an `https://` request when requests go over a Unix socket:
    /// the local daemons such a socket serves speak plain HTTP, and a
    /// backend would otherwise start TLS over the socket or ignore it.
    ///
    /// ```
    /// use httpswap_core::{ErrorKind, TransportConfig};
    /// let c = TransportConfig::builder().unix_socket("/run/d.sock").build().unwrap();
    /// let e = c.check_unix_socket(true, &"https://d/x".parse().unwrap()).unwrap_err();
    /// assert_eq!(e.kind(), ErrorKind::InvalidUrl);
    /// assert!(c.check_unix_socket(false, &"http://d/x".parse().unwrap()).is_ok());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidUrl`](crate::ErrorKind::InvalidUrl) naming the
    /// URL (without user info) and the socket.
    pub fn check_unix_socket(&self, https: bool, uri: &http::Uri) -> Result<(), Error> {
        match &self.unix_socket {
            Some(path) if https => Err(Error::new(
                crate::ErrorKind::InvalidUrl,
                format!(
                    "https url {} cannot go over the unix socket {}: use http://",
                    crate::redact_url(&uri.to_string()),
                    path.display()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](crate::ErrorKind::Builder) for zero
    /// connections, keep-alive above max connections, zero timeouts.
    pub fn validate(&self) -> Result<(), Error> {
        self.timeouts.validate()?;
        self.limits.validate()?;
        self.response_head.validate()?;
        if let Some(path) = &self.unix_socket {
            if path.as_os_str().is_empty() {
                return Err(Error::builder("unix_socket path is empty"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn defaults_equal_the_named_constants() {
        let c = TransportConfig::default();
        assert_eq!(c.timeouts.connect, Some(Duration::from_secs(5)));
        assert_eq!(c.timeouts.read, Some(Duration::from_secs(600)));
        assert_eq!(c.timeouts.write, Some(Duration::from_secs(600)));
        assert_eq!(c.timeouts.pool, Some(Duration::from_secs(600)));
        assert_eq!(c.timeouts.total, None);
        assert_eq!(c.limits.max_connections, 1000);
        assert_eq!(c.limits.max_keepalive_connections, 100);
        assert_eq!(c.limits.keepalive_expiry, Duration::from_secs(5));
        assert_eq!(DEFAULT_MAX_REDIRECTS, 20);
        assert_eq!(c.proxy, ProxyConfig::FromEnv);
        assert!(c.tls.builtin_roots && !c.tls.danger_accept_invalid_certs);
        assert!(!c.http2 && !c.http2_prior_knowledge);
        assert!(c.validate().is_ok());
        // the builder starts from the same defaults
        let b = TransportConfig::builder().build().unwrap();
        assert_eq!(b.timeouts, c.timeouts);
        assert_eq!(b.limits, c.limits);
    }

    #[test]
    fn builder_rejects_bad_settings_with_clear_errors() {
        let cases: Vec<(TransportConfigBuilder, &str)> = vec![
            (
                TransportConfig::builder().pool_max_connections(0),
                "max_connections must be at least 1",
            ),
            (
                TransportConfig::builder()
                    .pool_max_connections(4)
                    .pool_max_keepalive(5),
                "max_keepalive_connections (5) exceeds max_connections (4)",
            ),
            (
                TransportConfig::builder().proxy("http://"),
                "invalid proxy url",
            ),
            (
                TransportConfig::builder().proxy_https("socks5://h:1"),
                "unsupported proxy scheme",
            ),
            (
                TransportConfig::builder().timeout_read(Duration::ZERO),
                "read timeout is zero",
            ),
            (
                TransportConfig::builder().tls_root_certificates_pem(b"not pem"),
                "no certificate",
            ),
        ];
        for (b, want) in cases {
            let e = b.build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Builder);
            assert!(e.to_string().contains(want), "{e} should contain {want}");
        }
    }

    #[test]
    fn first_error_is_kept() {
        let e = TransportConfig::builder()
            .proxy("ftp://a:1")
            .pool_max_connections(0)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("proxy"), "{e}");
    }

    #[test]
    fn explicit_proxies_ignore_env_setting() {
        let c = TransportConfig::builder()
            .proxy_http("http://p:1")
            .no_proxy("localhost")
            .proxy_from_env(true)
            .build()
            .unwrap();
        let ProxyConfig::Explicit(r) = &c.proxy else {
            panic!("explicit expected")
        };
        assert_eq!(r.http.as_ref().unwrap().port(), 1);
        assert!(r.https.is_none());
        assert!(r.no_proxy.matches("localhost"));
        let c = TransportConfig::builder()
            .proxy_from_env(false)
            .build()
            .unwrap();
        assert_eq!(c.proxy, ProxyConfig::Disabled);
    }

    #[test]
    fn validate_catches_field_edits() {
        let mut c = TransportConfig::default();
        c.limits.max_keepalive_connections = 5000;
        assert_eq!(c.validate().unwrap_err().kind(), ErrorKind::Builder);
    }
}
