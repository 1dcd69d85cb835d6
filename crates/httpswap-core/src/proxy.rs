//! Proxy settings, environment variables and `NO_PROXY` matching.
//!
//! Parsed and matched here, once, so that every backend picks the same proxy
//! for the same URL.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use http::{HeaderValue, Uri};

use crate::error::{Error, ErrorKind};

/// One forward proxy: where it is and how to authenticate.
///
/// Only `http://` proxies are supported: plain `http://` requests go through
/// them in absolute form, `https://` requests through a `CONNECT` tunnel.
///
/// ```
/// use httpswap_core::Proxy;
/// let p = Proxy::parse("http://user:p%40ss@127.0.0.1:3128").unwrap();
/// assert_eq!(p.authority(), "127.0.0.1:3128");
/// assert_eq!(p.credentials(), Some(("user", "p@ss")));
/// assert!(p.basic_auth_header().is_some());
/// assert!(Proxy::parse("socks5://127.0.0.1:1080").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    host: String,
    port: u16,
    auth: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL: `http://[user[:password]@]host[:port][/]`. A URL
    /// without a scheme is taken as `http://`; the port defaults to 80.
    /// User and password are percent-decoded.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] when the URL does not parse, has no host, has
    /// a path, or uses a scheme other than `http`.
    pub fn parse(url: &str) -> Result<Proxy, Error> {
        let url = url.trim();
        let with_scheme = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        // the message names the URL without its credentials
        let shown = crate::redact_url(&with_scheme).into_owned();
        let bad = |why: &str| Error::builder(format!("invalid proxy url {shown:?}: {why}"));
        let uri: Uri = with_scheme
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(&e.to_string()).with_source(e))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => {
                return Err(bad(&format!(
                    "unsupported proxy scheme {other:?} (supported: http)"
                )))
            }
            None => return Err(bad("no scheme")),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("a proxy url has no path"));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let host = authority.host();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let auth = match authority.as_str().rsplit_once('@') {
            Some((userinfo, _)) => {
                let (user, pass) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let dec = |s: &str| {
                    percent_encoding::percent_decode_str(s)
                        .decode_utf8()
                        .map(|c| c.into_owned())
                        .map_err(|_| bad("credentials are not valid utf-8"))
                };
                Some((dec(user)?, dec(pass)?))
            }
            None => None,
        };
        let hostport = authority.as_str().rsplit('@').next().unwrap_or_default();
        let after_host = hostport.rsplit_once(']').map_or(hostport, |(_, rest)| rest);
        let port = match after_host.rsplit_once(':') {
            None | Some((_, "")) => 80,
            Some((_, p)) => p
                .parse::<u16>()
                .map_err(|_| bad(&format!("invalid port {p:?}")))?,
        };
        Ok(Proxy {
            host: host.to_owned(),
            port,
            auth,
        })
    }

    /// The proxy's host (IPv6 addresses in brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, as used to connect and in `CONNECT` requests.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The user name and password, decoded.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.auth.as_ref().map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The `Proxy-Authorization: Basic ...` value, when the proxy has
    /// credentials. Marked sensitive.
    pub fn basic_auth_header(&self) -> Option<HeaderValue> {
        let (user, pass) = self.credentials()?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let mut value = HeaderValue::from_str(&format!("Basic {token}")).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // never print the password
        let user = self.auth.as_ref().map(|(u, _)| u.as_str());
        f.debug_struct("Proxy")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &user)
            .finish()
    }
}

/// Hosts that bypass the proxy, in `NO_PROXY` syntax.
///
/// Comma-separated entries, spaces around them ignored:
///
/// - `*` alone matches everything;
/// - an IP address (`10.1.2.3`, `::1`, `[::1]`) or a CIDR block
///   (`10.0.0.0/8`, `fe80::/10`, `[fe80::]/10`) matches addresses in it;
/// - a domain (`example.com`, `.example.com` or `*.example.com`) matches
///   itself and its subdomains, case-insensitively, with or without a
///   trailing dot. This is curl's rule (and Go's, reqwest's); in httpx
///   `.example.com` matches subdomains only;
/// - any of these with a port (`localhost:8080`, `10.1.2.3:8080`,
///   `[::1]:8080`, `.example.com:443`) matches that port only, as in httpx
///   (curl ignores entries with a port); without one, every port.
///
/// Entries that parse as none of these are ignored, never an error.
///
/// ```
/// use httpswap_core::NoProxy;
/// let np = NoProxy::parse("localhost, .internal.example, 10.0.0.0/8, ::1, 127.0.0.1:8080");
/// assert!(np.matches("localhost"));
/// assert!(np.matches("api.internal.example"));
/// assert!(np.matches("internal.example"));
/// assert!(np.matches("10.1.2.3"));
/// assert!(np.matches("[::1]"));
/// assert!(!np.matches("example.com"));
/// // an entry with a port bypasses that port only
/// assert!(np.matches_port("127.0.0.1", 8080));
/// assert!(!np.matches_port("127.0.0.1", 8081));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NoProxy {
    all: bool,
    /// Lower case, without leading `*.`/`.` or a trailing dot; the port an
    /// entry names, if any.
    domains: Vec<(String, Option<u16>)>,
    nets: Vec<(IpAddr, u8, Option<u16>)>,
}

impl NoProxy {
    /// Parses a `NO_PROXY` value. Unparseable entries are ignored (as curl
    /// and reqwest do), never an error.
    pub fn parse(list: &str) -> NoProxy {
        let mut np = NoProxy::default();
        for raw in list.split(',') {
            let entry = raw.trim();
            if entry == "*" {
                np.all = true;
            } else if let Some(net) = parse_net(entry) {
                np.nets.push(net);
            } else if let Some(domain) = parse_domain(entry) {
                np.domains.push(domain);
            }
        }
        np
    }

    /// Whether `host` (a host name, an IPv4 address, or an IPv6 address with
    /// or without brackets) bypasses the proxy on every port: entries
    /// naming a port are not consulted (see
    /// [`matches_port`](Self::matches_port)).
    pub fn matches(&self, host: &str) -> bool {
        self.matches_on(host, None)
    }

    /// Whether `host` on `port` bypasses the proxy: entries without a port
    /// and entries naming this port are consulted.
    pub fn matches_port(&self, host: &str, port: u16) -> bool {
        self.matches_on(host, Some(port))
    }

    fn matches_on(&self, host: &str, port: Option<u16>) -> bool {
        if self.all {
            return true;
        }
        let port_ok = |p: &Option<u16>| p.is_none() || *p == port;
        let host = strip_brackets(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self
                .nets
                .iter()
                .any(|(net, bits, p)| port_ok(p) && in_net(ip, *net, *bits));
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.iter().any(|(d, p)| {
            port_ok(p)
                && (host == *d
                    || (host.len() > d.len()
                        && host.ends_with(d.as_str())
                        && host.as_bytes()[host.len() - d.len() - 1] == b'.'))
        })
    }

    /// Whether the list is empty (nothing bypasses the proxy).
    pub fn is_empty(&self) -> bool {
        !self.all && self.domains.is_empty() && self.nets.is_empty()
    }
}

/// An IP address or CIDR block entry, with its port: `10.0.0.0/8`,
/// `10.1.2.3`, `10.1.2.3:8080`, `::1`, `fe80::/10`, `[::1]`, `[::1]:8080`,
/// `[fe80::]/10`.
fn parse_net(entry: &str) -> Option<(IpAddr, u8, Option<u16>)> {
    let (addr, rest) = match entry.strip_prefix('[') {
        Some(inner) => {
            let (addr, rest) = inner.split_once(']')?;
            (addr, rest)
        }
        None => match entry.split_once('/') {
            Some((addr, _)) => (addr, &entry[addr.len()..]),
            // a bare IPv6 address has colons but no port
            None if entry.parse::<IpAddr>().is_ok() => (entry, ""),
            None => match entry.rsplit_once(':') {
                Some((addr, _)) => (addr, &entry[addr.len()..]),
                None => (entry, ""),
            },
        },
    };
    let ip = addr.parse::<IpAddr>().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let (bits, port) = if let Some(bits) = rest.strip_prefix('/') {
        (bits.parse::<u8>().ok().filter(|b| *b <= max)?, None)
    } else if let Some(port) = rest.strip_prefix(':') {
        (max, Some(port.parse::<u16>().ok()?))
    } else if rest.is_empty() {
        (max, None)
    } else {
        return None;
    };
    Some((ip, bits, port))
}

/// A domain entry with its port: `example.com`, `.example.com`,
/// `*.example.com`, `example.com.`, `example.com:443`.
fn parse_domain(entry: &str) -> Option<(String, Option<u16>)> {
    let (host, port) = match entry.rsplit_once(':') {
        Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
        None => (entry, None),
    };
    let host = host
        .strip_prefix("*.")
        .or_else(|| host.strip_prefix('.'))
        .unwrap_or(host)
        .trim_end_matches('.');
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    valid.then(|| (host.to_ascii_lowercase(), port))
}

fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Which proxy, if any, each request goes through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyRules {
    /// Proxy for `http://` URLs.
    pub http: Option<Proxy>,
    /// Proxy for `https://` URLs.
    pub https: Option<Proxy>,
    /// Hosts that bypass both.
    pub no_proxy: NoProxy,
}

impl ProxyRules {
    /// No proxy at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the proxy environment variables through `var`: `http_proxy`,
    /// `https_proxy`, `all_proxy`, `no_proxy`, lower case first, then upper
    /// case (`HTTP_PROXY` is ignored when `REQUEST_METHOD` is set, as in
    /// CGI, like curl and httpx do).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] when a proxy variable holds a URL that does
    /// not parse: a proxy the user asked for is never silently dropped.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |lower: &str, upper: &str| {
            var(lower)
                .or_else(|| var(upper))
                .filter(|v| !v.trim().is_empty())
        };
        let cgi = var("REQUEST_METHOD").is_some();
        let http_var = if cgi {
            var("http_proxy")
        } else {
            get("http_proxy", "HTTP_PROXY")
        };
        let all = get("all_proxy", "ALL_PROXY");
        let parse = |v: Option<String>| v.map(|v| Proxy::parse(&v)).transpose();
        let all = parse(all)?;
        Ok(ProxyRules {
            http: parse(http_var)?.or_else(|| all.clone()),
            https: parse(get("https_proxy", "HTTPS_PROXY"))?.or(all),
            no_proxy: NoProxy::parse(&get("no_proxy", "NO_PROXY").unwrap_or_default()),
        })
    }

    /// Reads the process environment (see [`from_vars`](Self::from_vars)).
    ///
    /// # Errors
    ///
    /// As [`from_vars`](Self::from_vars).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// The proxy for `uri`, or `None` to connect directly.
    pub fn proxy_for(&self, uri: &Uri) -> Option<&Proxy> {
        let proxy = match uri.scheme_str() {
            Some("http") => self.http.as_ref(),
            Some("https") => self.https.as_ref(),
            _ => None,
        }?;
        let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
            Some("https") => 443,
            _ => 80,
        });
        match uri.host() {
            Some(host) if !self.no_proxy.matches_port(host, port) => Some(proxy),
            _ => None,
        }
    }
}

/// Where the proxy settings come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyConfig {
    /// From the environment when the transport is built (the default).
    #[default]
    FromEnv,
    /// Never use a proxy.
    Disabled,
    /// These rules, ignoring the environment.
    Explicit(Box<ProxyRules>),
}

impl ProxyConfig {
    /// The rules in force: reads the environment for
    /// [`ProxyConfig::FromEnv`].
    ///
    /// # Errors
    ///
    /// As [`ProxyRules::from_env`].
    pub fn resolve(&self) -> Result<ProxyRules, Error> {
        match self {
            ProxyConfig::FromEnv => ProxyRules::from_env(),
            ProxyConfig::Disabled => Ok(ProxyRules::none()),
            ProxyConfig::Explicit(rules) => Ok((**rules).clone()),
        }
    }
}

/// An error for a proxy that refused a request or tunnel.
pub fn proxy_refused(status: http::StatusCode, proxy: &Proxy) -> Error {
    Error::new(
        ErrorKind::Proxy,
        format!(
            "proxy {} refused the request with status {}",
            proxy.authority(),
            status
        ),
    )
    .with_request_sent(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn parse_defaults_and_errors() {
        let p = Proxy::parse("127.0.0.1:3128").unwrap();
        assert_eq!((p.host(), p.port()), ("127.0.0.1", 3128));
        assert_eq!(Proxy::parse("http://proxy.local").unwrap().port(), 80);
        assert_eq!(Proxy::parse("http://[::1]:8080/").unwrap().host(), "[::1]");
        for bad in [
            "",
            "http://",
            "https://p:1",
            "socks5://p:1",
            "http://p:1/path",
            "http://p:99999",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Builder, "{bad}");
            assert!(e.to_string().contains("invalid proxy url"), "{e}");
        }
    }

    #[test]
    fn errors_hide_the_password() {
        for bad in [
            "http://alice:s3cret@p:99999",
            "alice:s3cret@p:1/x",
            "ftp://alice:s3cret@p",
        ] {
            let e = Proxy::parse(bad).unwrap_err();
            assert!(!format!("{e} {e:?}").contains("s3cret"), "{e:?}");
        }
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Proxy::parse("http://alice:secret@p:1").unwrap();
        assert!(!format!("{p:?}").contains("secret"));
        let h = p.basic_auth_header().unwrap();
        assert!(h.is_sensitive());
        assert_eq!(h, "Basic YWxpY2U6c2VjcmV0");
    }

    #[test]
    fn env_lower_case_wins_and_all_proxy_fills_in() {
        let r = ProxyRules::from_vars(vars(&[
            ("http_proxy", "http://lower:1"),
            ("HTTP_PROXY", "http://upper:1"),
            ("ALL_PROXY", "http://all:2"),
            ("NO_PROXY", "internal"),
        ]))
        .unwrap();
        assert_eq!(r.http.as_ref().unwrap().host(), "lower");
        assert_eq!(r.https.as_ref().unwrap().host(), "all");
        assert!(r.no_proxy.matches("a.internal"));
    }

    #[test]
    fn cgi_ignores_upper_case_http_proxy() {
        let r = ProxyRules::from_vars(vars(&[
            ("REQUEST_METHOD", "GET"),
            ("HTTP_PROXY", "http://evil:1"),
        ]))
        .unwrap();
        assert!(r.http.is_none());
    }

    #[test]
    fn bad_env_proxy_is_an_error() {
        let e = ProxyRules::from_vars(vars(&[("https_proxy", "ftp://x:1")])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Builder);
    }

    #[test]
    fn proxy_for_respects_scheme_and_no_proxy() {
        let rules = ProxyRules {
            http: Some(Proxy::parse("http://h:1").unwrap()),
            https: None,
            no_proxy: NoProxy::parse("127.0.0.0/8,example.com:80,[::1]:8080"),
        };
        let u = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(
            rules.proxy_for(&u("http://api.test/x")).unwrap().host(),
            "h"
        );
        assert!(rules.proxy_for(&u("https://api.test/x")).is_none());
        assert!(rules.proxy_for(&u("http://127.0.0.9/")).is_none());
        assert!(rules.proxy_for(&u("http://www.example.com/")).is_none());
        assert!(rules.proxy_for(&u("http://notexample.com/")).is_some());
        assert!(rules.proxy_for(&u("http://www.example.com:81/")).is_some());
        assert!(rules.proxy_for(&u("http://[::1]:8080/")).is_none());
        assert!(rules.proxy_for(&u("http://[::1]:8081/")).is_some());
    }

    /// Every form curl and httpx accept, each with what it must and must
    /// not match.
    #[test]
    fn no_proxy_forms() {
        /// A `NO_PROXY` list, the host:port pairs it must bypass, those it must not.
        type Case<'a> = (&'a str, &'a [(&'a str, u16)], &'a [(&'a str, u16)]);
        let cases: &[Case<'_>] = &[
            (
                "localhost",
                &[("localhost", 1), ("LOCALHOST", 80), ("a.localhost", 80)],
                &[("notlocalhost", 80)],
            ),
            (
                "example.com",
                &[
                    ("example.com", 443),
                    ("www.example.com", 80),
                    ("example.com.", 80),
                ],
                &[("notexample.com", 80), ("example.org", 80)],
            ),
            (
                ".example.com",
                &[("example.com", 80), ("a.b.example.com", 80)],
                &[("xexample.com", 80)],
            ),
            (
                "*.example.com",
                &[("example.com", 80), ("a.example.com", 80)],
                &[("xexample.com", 80)],
            ),
            ("example.com.", &[("example.com", 80)], &[]),
            (
                "example.com:8443",
                &[("example.com", 8443), ("a.example.com", 8443)],
                &[("example.com", 443)],
            ),
            (
                "127.0.0.1",
                &[("127.0.0.1", 80), ("127.0.0.1", 9)],
                &[("127.0.0.2", 80)],
            ),
            (
                "127.0.0.1:8080",
                &[("127.0.0.1", 8080)],
                &[("127.0.0.1", 8081), ("127.0.0.2", 8080)],
            ),
            ("::1", &[("[::1]", 80), ("::1", 8080)], &[("[::2]", 80)]),
            ("[::1]", &[("[::1]", 80)], &[("127.0.0.1", 80)]),
            ("[::1]:8080", &[("[::1]", 8080)], &[("[::1]", 8081)]),
            ("10.0.0.0/8", &[("10.200.1.1", 80)], &[("11.0.0.1", 80)]),
            ("fe80::/10", &[("[fe80::1]", 80)], &[("[fe00::1]", 80)]),
            ("[fe80::]/10", &[("[febf::1]", 80)], &[("[fec0::1]", 80)]),
            ("*", &[("anything", 1), ("[::1]", 2)], &[]),
            (
                " a.test ,  , b.test:81 ",
                &[("a.test", 80), ("b.test", 81)],
                &[("b.test", 80)],
            ),
        ];
        for (list, yes, no) in cases {
            let np = NoProxy::parse(list);
            for (host, port) in *yes {
                assert!(
                    np.matches_port(host, *port),
                    "{list:?} must match {host}:{port}"
                );
            }
            for (host, port) in *no {
                assert!(
                    !np.matches_port(host, *port),
                    "{list:?} must not match {host}:{port}"
                );
            }
        }
        // entries with a port are not consulted without one
        assert!(!NoProxy::parse("h:1").matches("h"));
        // nonsense is ignored
        for bad in [
            "bogus/99",
            "10.0.0.0/33",
            "h:port",
            "[::1",
            "a b",
            "http://x/",
        ] {
            assert!(NoProxy::parse(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn no_proxy_edge_cases() {
        assert!(NoProxy::parse("*").matches("anything"));
        assert!(NoProxy::parse("").is_empty());
        let np = NoProxy::parse("fe80::/10, 192.168.0.0/16, bogus/99, .Example.ORG");
        assert!(np.matches("[fe80::1]"));
        assert!(np.matches("192.168.4.5"));
        assert!(!np.matches("192.169.0.1"));
        assert!(np.matches("www.example.org."));
        assert!(NoProxy::parse("0.0.0.0/0").matches("8.8.8.8"));
    }
}
