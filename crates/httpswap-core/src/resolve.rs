//! Name resolution: a resolver you can plug in, and static overrides.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use crate::error::{BoxError, Error};

/// What [`Resolve::resolve`] returns: the addresses of a name, in the order
/// to try them.
pub type Resolving = Pin<Box<dyn Future<Output = Result<Vec<IpAddr>, BoxError>> + Send>>;

/// A DNS resolver: turns a host name into IP addresses. The port is always
/// the URL's (or the proxy's).
///
/// Set one with
/// [`TransportConfigBuilder::resolver`](crate::TransportConfigBuilder::resolver);
/// without one, the system resolver (`getaddrinfo`) runs on a blocking
/// thread, off the async workers. The resolver is asked for the host of
/// the origin, or of the proxy when the request goes through one; IP
/// literals and [`ResolveOverrides`] never reach it. Not every backend can
/// take one: see [`Capabilities::custom_resolver`](crate::Capabilities::custom_resolver).
///
/// ```
/// use httpswap_core::{Resolve, Resolving};
/// use std::net::{IpAddr, Ipv4Addr};
///
/// /// Every name is this machine.
/// struct Loopback;
///
/// impl Resolve for Loopback {
///     fn resolve(&self, _host: &str) -> Resolving {
///         Box::pin(async { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) })
///     }
/// }
/// let config = httpswap_core::TransportConfig::builder()
///     .resolver(std::sync::Arc::new(Loopback))
///     .build()
///     .unwrap();
/// assert!(config.resolver.is_some());
/// ```
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (a name, never an IP literal). An error, or
    /// no address, fails the request with
    /// [`ErrorKind::Connect`](crate::ErrorKind::Connect) (or
    /// [`ErrorKind::ProxyConnect`](crate::ErrorKind::ProxyConnect) for a proxy's name).
    fn resolve(&self, host: &str) -> Resolving;
}

/// Static name overrides, as curl's `--resolve host:port:addr`: requests to
/// that host and port connect to the given addresses (tried as any
/// resolved addresses are, with happy eyeballs) without asking a resolver.
/// The URL, the `Host` header and the TLS server name stay the host's.
///
/// Host names compare case-insensitively.
///
/// ```
/// use httpswap_core::ResolveOverrides;
/// use std::net::IpAddr;
/// let mut o = ResolveOverrides::default();
/// o.insert("API.example.com:443", ["127.0.0.1".parse::<IpAddr>().unwrap()]).unwrap();
/// assert_eq!(o.get("api.example.com", 443).unwrap().len(), 1);
/// assert!(o.get("api.example.com", 80).is_none());
/// assert!(o.insert("api.example.com", []).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResolveOverrides {
    map: HashMap<(String, u16), Vec<IpAddr>>,
}

impl ResolveOverrides {
    /// Maps `host:port` to `addrs` (replacing an earlier entry for it).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](crate::ErrorKind::Builder) when `authority`
    /// is not `host:port` with a host name (an IP literal needs no
    /// override) and a port, or `addrs` is empty.
    pub fn insert(
        &mut self,
        authority: &str,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), Error> {
        let bad = || {
            Error::builder(format!(
                "invalid resolve override {authority:?}: expected host:port with a host name"
            ))
        };
        let (host, port) = authority.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let valid_name = !host.is_empty()
            && host.parse::<IpAddr>().is_err()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
        if !valid_name {
            return Err(bad());
        }
        let addrs: Vec<IpAddr> = addrs.into_iter().collect();
        if addrs.is_empty() {
            return Err(Error::builder(format!(
                "resolve override {authority:?} has no address"
            )));
        }
        self.map.insert((host.to_ascii_lowercase(), port), addrs);
        Ok(())
    }

    /// The addresses `host` (as in the URL) and `port` are overridden to.
    pub fn get(&self, host: &str, port: u16) -> Option<&[IpAddr]> {
        if self.map.is_empty() {
            return None;
        }
        self.map
            .get(&(host.to_ascii_lowercase(), port))
            .map(Vec::as_slice)
    }

    /// Whether there is no override.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every override: host (lower case), port, addresses.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u16, &[IpAddr])> {
        self.map
            .iter()
            .map(|((h, p), a)| (h.as_str(), *p, a.as_slice()))
    }
}

impl fmt::Debug for ResolveOverrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.map.iter().map(|((h, p), a)| (format!("{h}:{p}"), a)))
            .finish()
    }
}
