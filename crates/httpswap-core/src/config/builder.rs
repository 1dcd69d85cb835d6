//! The builder of a [`TransportConfig`], with the defaults of the
//! OpenAI SDK's production client.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::*;

/// Builds a [`TransportConfig`]. Setters never fail; the first error is
/// kept and returned by [`build`](TransportConfigBuilder::build).
#[must_use]
#[derive(Debug)]
pub struct TransportConfigBuilder {
    pub(super) config: TransportConfig,
    pub(super) error: Option<Error>,
}

impl TransportConfigBuilder {
    fn fail(mut self, e: Error) -> Self {
        self.error.get_or_insert(e);
        self
    }

    /// Sets all timeouts at once.
    pub fn timeouts(mut self, t: Timeouts) -> Self {
        self.config.timeouts = t;
        self
    }

    /// Connect timeout (`None`: wait forever).
    pub fn timeout_connect(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.timeouts.connect = d.into();
        self
    }

    /// Read timeout: longest gap between received chunks.
    pub fn timeout_read(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.timeouts.read = d.into();
        self
    }

    /// Write timeout: longest gap between sent chunks.
    pub fn timeout_write(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.timeouts.write = d.into();
        self
    }

    /// Pool timeout: longest wait for a free connection slot.
    pub fn timeout_pool(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.timeouts.pool = d.into();
        self
    }

    /// Total deadline for the whole request, body included.
    pub fn timeout_total(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.config.timeouts.total = d.into();
        self
    }

    /// Sets all pool limits at once.
    pub fn limits(mut self, l: Limits) -> Self {
        self.config.limits = l;
        self
    }

    /// Most sockets open at once, across all hosts.
    pub fn pool_max_connections(mut self, n: usize) -> Self {
        self.config.limits.max_connections = n;
        self
    }

    /// Most idle connections kept.
    pub fn pool_max_keepalive(mut self, n: usize) -> Self {
        self.config.limits.max_keepalive_connections = n;
        self
    }

    /// Idle connections older than this are closed.
    pub fn pool_keepalive_expiry(mut self, d: Duration) -> Self {
        self.config.limits.keepalive_expiry = d;
        self
    }

    /// Sends every request (http and https) through this proxy, ignoring
    /// the environment. Bad URLs are reported by `build`.
    pub fn proxy(self, url: &str) -> Self {
        match Proxy::parse(url) {
            Ok(p) => self.proxy_rules(|r| {
                r.http = Some(p.clone());
                r.https = Some(p);
            }),
            Err(e) => self.fail(e),
        }
    }

    /// Sends `http://` requests through this proxy.
    pub fn proxy_http(self, url: &str) -> Self {
        match Proxy::parse(url) {
            Ok(p) => self.proxy_rules(|r| r.http = Some(p)),
            Err(e) => self.fail(e),
        }
    }

    /// Sends `https://` requests through this proxy (CONNECT tunnel).
    pub fn proxy_https(self, url: &str) -> Self {
        match Proxy::parse(url) {
            Ok(p) => self.proxy_rules(|r| r.https = Some(p)),
            Err(e) => self.fail(e),
        }
    }

    /// Hosts that bypass the explicit proxies, in `NO_PROXY` syntax.
    pub fn no_proxy(self, list: &str) -> Self {
        let np = NoProxy::parse(list);
        self.proxy_rules(|r| r.no_proxy = np)
    }

    fn proxy_rules(mut self, f: impl FnOnce(&mut ProxyRules)) -> Self {
        let mut rules = match std::mem::take(&mut self.config.proxy) {
            ProxyConfig::Explicit(r) => *r,
            _ => ProxyRules::none(),
        };
        f(&mut rules);
        self.config.proxy = ProxyConfig::Explicit(Box::new(rules));
        self
    }

    /// Whether to read proxies from the environment (default `true`);
    /// `false` disables proxies unless set explicitly.
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        match (&self.config.proxy, yes) {
            (ProxyConfig::Explicit(_), _) => {}
            (_, true) => self.config.proxy = ProxyConfig::FromEnv,
            (_, false) => self.config.proxy = ProxyConfig::Disabled,
        }
        self
    }

    /// Trusts an extra root certificate.
    pub fn tls_root_certificate(mut self, cert: Certificate) -> Self {
        self.config.tls.root_certificates.push(cert);
        self
    }

    /// Trusts every certificate of a PEM bundle. Bad PEM is reported by `build`.
    pub fn tls_root_certificates_pem(mut self, pem: &[u8]) -> Self {
        match Certificate::from_pem_bundle(pem) {
            Ok(certs) => {
                self.config.tls.root_certificates.extend(certs);
                self
            }
            Err(e) => self.fail(e),
        }
    }

    /// Whether to trust the built-in roots (default `true`).
    pub fn tls_builtin_roots(mut self, yes: bool) -> Self {
        self.config.tls.builtin_roots = yes;
        self
    }

    /// Accepts any certificate. Dangerous: for tests against self-signed
    /// servers only.
    pub fn tls_danger_accept_invalid_certs(mut self, yes: bool) -> Self {
        self.config.tls.danger_accept_invalid_certs = yes;
        self
    }

    /// Offers HTTP/2 by ALPN on `https://`.
    pub fn http2(mut self, yes: bool) -> Self {
        self.config.http2 = yes;
        self
    }

    /// Most header fields a response head may have (default
    /// [`DEFAULT_MAX_RESPONSE_HEADERS`]); more fail with `RemoteProtocol`.
    pub fn response_max_headers(mut self, n: usize) -> Self {
        self.config.response_head.max_headers = n;
        self
    }

    /// Largest response head, in bytes, as [`HeadLimits::size_of`] counts
    /// it (default [`DEFAULT_MAX_RESPONSE_HEAD_SIZE`]); a larger one fails
    /// with `RemoteProtocol`. A backend whose library cannot read heads
    /// that large refuses the setting when it is built.
    pub fn response_max_head_size(mut self, bytes: usize) -> Self {
        self.config.response_head.max_size = bytes;
        self
    }

    /// Speaks HTTP/2 directly on `http://` (h2c, prior knowledge).
    pub fn http2_prior_knowledge(mut self, yes: bool) -> Self {
        self.config.http2_prior_knowledge = yes;
        self
    }

    /// Binds outgoing sockets to this local address.
    pub fn local_address(mut self, addr: IpAddr) -> Self {
        self.config.local_address = Some(addr);
        self
    }

    /// Resolves host names with `resolver` instead of the system resolver
    /// (not every backend can: see
    /// [`Capabilities::custom_resolver`](crate::Capabilities::custom_resolver)).
    pub fn resolver(mut self, resolver: Arc<dyn crate::Resolve>) -> Self {
        self.config.resolver = Some(resolver);
        self
    }

    /// Connects requests to `authority` (`host:port`) to `addrs` instead of
    /// resolving the host, as curl's `--resolve`: the URL, the `Host`
    /// header and the TLS server name stay the host's. Several addresses
    /// are tried as resolved ones are (happy eyeballs).
    ///
    /// ```
    /// use httpswap_core::TransportConfig;
    /// let config = TransportConfig::builder()
    ///     .resolve("api.example.com:443", ["127.0.0.1".parse().unwrap()])
    ///     .build()
    ///     .unwrap();
    /// assert!(config.resolve_overrides.get("api.example.com", 443).is_some());
    /// ```
    pub fn resolve(mut self, authority: &str, addrs: impl IntoIterator<Item = IpAddr>) -> Self {
        match self.config.resolve_overrides.insert(authority, addrs) {
            Ok(()) => self,
            Err(e) => self.fail(e),
        }
    }

    /// Sends every request over the Unix domain socket at `path` (HTTP/1.1,
    /// pooled as TCP connections are), as httpx's `uds=` and reqwest's
    /// `unix_socket`: the URL still gives the `Host` header and the path.
    /// No proxy applies. `https://` URLs fail with `InvalidUrl`.
    pub fn unix_socket(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.config.unix_socket = Some(path.into());
        self
    }

    /// Most sockets open at once to one origin; see
    /// [`Limits::max_connections_per_host`].
    pub fn pool_max_connections_per_host(mut self, n: usize) -> Self {
        self.config.limits.max_connections_per_host = Some(n);
        self
    }

    /// Connections older than `d` are not reused; see
    /// [`Limits::max_lifetime`].
    pub fn pool_max_lifetime(mut self, d: Duration) -> Self {
        self.config.limits.max_lifetime = Some(d);
        self
    }

    /// Hooks for connection events.
    pub fn events(mut self, events: Arc<dyn Events>) -> Self {
        self.config.events = Some(events);
        self
    }

    /// The configuration.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](crate::ErrorKind::Builder): the first setter
    /// error (a proxy URL or PEM that does not parse), or an invalid
    /// combination (zero connections, keep-alive above max connections, a
    /// zero timeout).
    pub fn build(self) -> Result<TransportConfig, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.config.validate()?;
        Ok(self.config)
    }
}
