//! The origin of a request URL, checked the same way on every backend.

use std::fmt;

use http::Uri;
use httpswap_core::{Error, ErrorKind};

/// `scheme://host:port` of an absolute `http(s)` URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https` or not (`http`).
    pub https: bool,
    /// The host, as written (IPv6 in brackets).
    pub host: String,
    /// The port, the scheme's default when the URL has none.
    pub port: u16,
}

impl Origin {
    /// The origin of `uri`.
    ///
    /// ```
    /// let o = httpswap_adapter::Origin::of(&"http://example.com/x".parse().unwrap())?;
    /// assert_eq!(o.to_string(), "http://example.com:80");
    /// # Ok::<(), httpswap_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `UnsupportedProtocol` for a scheme other than http and https;
    /// `InvalidUrl` for a URL with no scheme or no host.
    pub fn of(uri: &Uri) -> Result<Origin, Error> {
        let (https, host, port) = checked(uri)?;
        Ok(Origin {
            https,
            host: host.to_owned(),
            port,
        })
    }
}

/// The host and port of an authority, as `Uri::host` and
/// `Uri::port_u16` read them (`host_and_port_read_as_http_does` holds it),
/// in one pass: those two each parse the authority again.
fn host_and_port(authority: &str) -> (&str, Option<u16>) {
    // byte loops: these strings are short, and `rfind`'s search set-up
    // costs more than the search
    let bytes = authority.as_bytes();
    let start = bytes
        .iter()
        .rposition(|&b| b == b'@')
        .map_or(0, |at| at + 1);
    let hostport = &bytes[start..];
    let end = if hostport.first() == Some(&b'[') {
        hostport
            .iter()
            .position(|&b| b == b']')
            .map_or(hostport.len(), |i| i + 1)
    } else {
        hostport
            .iter()
            .position(|&b| b == b':')
            .unwrap_or(hostport.len())
    };
    let host = &authority[start..start + end];
    let port = match &hostport[end..] {
        [b':', digits @ ..] if !digits.is_empty() && digits.len() <= 5 => {
            let mut n: u32 = 0;
            digits
                .iter()
                .all(|&b| {
                    n = n * 10 + u32::from(b.wrapping_sub(b'0'));
                    b.is_ascii_digit()
                })
                .then_some(n)
                .and_then(|n| u16::try_from(n).ok())
        }
        _ => None,
    };
    (host, port)
}

/// Checks that `uri` is an absolute `http(s)` URL with a host; returns
/// whether it is `https` and its port (the scheme's default if none).
/// Allocates nothing, for the hot path of a transport.
///
/// ```
/// let uri = "https://example.com/x".parse().unwrap();
/// assert_eq!(httpswap_adapter::check_url(&uri)?, (true, 443));
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// As [`Origin::of`].
pub fn check_url(uri: &Uri) -> Result<(bool, u16), Error> {
    checked(uri).map(|(https, _, port)| (https, port))
}

/// The `Host` header of a request to `authority` (as in its URL) on
/// `port`: the host, and the port unless it is the scheme's default; no
/// user info.
///
/// ```
/// let h = |url: &str, https, port| {
///     let uri: http::Uri = url.parse().unwrap();
///     httpswap_adapter::host_header(uri.authority().unwrap(), https, port).unwrap()
/// };
/// assert_eq!(h("http://example.com:8080/", false, 8080), "example.com:8080");
/// assert_eq!(h("https://user@example.com:443/", true, 443), "example.com");
/// ```
///
/// # Errors
///
/// A host that is no valid header value.
pub fn host_header(
    authority: &http::uri::Authority,
    https: bool,
    port: u16,
) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
    let default_port = if https { 443 } else { 80 };
    let text = authority.as_str();
    // Most URLs carry no user info and write the port as the number it
    // is: their authority is the header, as it stands.
    let verbatim = !text.contains('@')
        && match authority.port() {
            None => port == default_port,
            Some(p) => port != default_port && !p.as_str().starts_with('0'),
        };
    if verbatim {
        http::HeaderValue::from_str(text)
    } else if port == default_port {
        http::HeaderValue::from_str(authority.host())
    } else {
        http::HeaderValue::from_str(&format!("{}:{port}", authority.host()))
    }
}

/// [`check_url`], and the host.
fn checked(uri: &Uri) -> Result<(bool, &str, u16), Error> {
    let https = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        Some(other) => {
            return Err(Error::new(
                ErrorKind::UnsupportedProtocol,
                format!("unsupported url scheme {other:?} in {uri}: expected http or https"),
            ))
        }
        None => {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("url {uri} has no scheme: an absolute http(s) url is needed"),
            ))
        }
    };
    let (host, port) = host_and_port(uri.authority().map_or("", |a| a.as_str()));
    if host.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidUrl,
            format!("url {uri} has no host"),
        ));
    }
    Ok((https, host, port.unwrap_or(if https { 443 } else { 80 })))
}

impl Origin {
    /// `scheme://host:port`, as [`Display`](fmt::Display) writes it, made
    /// without the formatting machinery (once per request; every port is
    /// checked by `text_is_what_display_writes`).
    ///
    /// ```
    /// let o = httpswap_adapter::Origin::of(&"https://[::1]:8443/x".parse().unwrap())?;
    /// assert_eq!(o.text(), "https://[::1]:8443");
    /// # Ok::<(), httpswap_core::Error>(())
    /// ```
    pub fn text(&self) -> String {
        text(self.https, &self.host, self.port)
    }
}

/// The name of a request's origin in messages and events,
/// `scheme://host:port` as [`Origin::text`] writes it, written only when
/// asked (an error, an event, a per-origin limit): most requests never
/// ask, and keep only a handle on the URL's authority, not a string of
/// their own (`an_origin_name_is_the_origin_text`).
///
/// ```
/// let (https, name) = httpswap_adapter::OriginName::of(&"https://[::1]:8443/x".parse().unwrap())?;
/// assert!(https);
/// assert_eq!(name.text(), "https://[::1]:8443");
/// assert_eq!(name.to_string(), "https://[::1]:8443");
/// # Ok::<(), httpswap_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct OriginName {
    // holds the host (`host_and_port` finds it again when asked)
    authority: http::uri::Authority,
    port: u16,
    https: bool,
}

impl OriginName {
    /// Whether `uri` is `https`, and its origin's name.
    ///
    /// # Errors
    ///
    /// As [`Origin::of`].
    pub fn of(uri: &Uri) -> Result<(bool, OriginName), Error> {
        let (https, _, port) = checked(uri)?;
        // `checked` found a host, so there is an authority
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::InvalidUrl, format!("url {uri} has no host")))?;
        Ok((
            https,
            OriginName {
                authority,
                port,
                https,
            },
        ))
    }

    /// `scheme://host:port`, as [`Display`](fmt::Display) writes it, made
    /// without the formatting machinery.
    pub fn text(&self) -> String {
        text(self.https, self.host(), self.port)
    }

    fn host(&self) -> &str {
        host_and_port(self.authority.as_str()).0
    }
}

impl fmt::Display for OriginName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_text(f, self.https, self.host(), self.port)
    }
}

/// `scheme://host:port`, in a string of the right size.
fn text(https: bool, host: &str, port: u16) -> String {
    let scheme = if https { "https://" } else { "http://" };
    // 5 digits at most
    let mut out = String::with_capacity(scheme.len() + host.len() + 6);
    // (a `String` takes every write)
    let _ = write_text(&mut out, https, host, port);
    out
}

/// `scheme://host:port` written to `out` piece by piece, without the
/// formatting machinery (the port's digits by hand): [`Origin::text`] and
/// both `Display`s.
fn write_text(out: &mut impl fmt::Write, https: bool, host: &str, port: u16) -> fmt::Result {
    let mut digits = [0u8; 5];
    let mut n = port;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.write_str(if https { "https://" } else { "http://" })?;
    out.write_str(host)?;
    out.write_char(':')?;
    out.write_str(std::str::from_utf8(&digits[at..]).unwrap_or_default())
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_text(f, self.https, &self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::{host_and_port, Origin, OriginName};

    #[test]
    fn host_and_port_read_as_http_does() {
        for url in [
            "http://example.com/",
            "http://example.com:8080/x",
            "http://user:pw@example.com:81/",
            "http://user@host/",
            "http://a:b@c@host:7/",
            "http://[::1]/",
            "http://[::1]:8443/",
            "https://u:p@[fe80::1]:1/",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:65535/",
            "http://host:/",
            "http://host:99999/",
            "http://host:0080/",
        ] {
            let Ok(uri) = url.parse::<http::Uri>() else {
                continue;
            };
            let authority = uri.authority().expect("authority").as_str();
            assert_eq!(
                host_and_port(authority),
                (uri.host().unwrap_or_default(), uri.port_u16()),
                "{url}"
            );
        }
    }

    #[test]
    fn an_origin_name_is_the_origin_text() {
        for url in [
            "http://example.com/",
            "https://example.com/x",
            "http://example.com:8080/x",
            "http://user:pw@example.com:81/",
            "https://u:p@[fe80::1]:1/",
            "http://[::1]/",
            "http://127.0.0.1:65535/",
            "http://host:0080/",
            "HTTP://Example.COM/",
        ] {
            let uri: http::Uri = url.parse().expect("url");
            let (https, name) = OriginName::of(&uri).expect("an origin");
            let origin = Origin::of(&uri).expect("an origin");
            assert_eq!(https, origin.https, "{url}");
            assert_eq!(name.text(), origin.text(), "{url}");
            assert_eq!(name.to_string(), origin.text(), "{url}");
            assert_eq!(name.clone().text(), origin.text(), "{url}");
        }
        for url in ["ftp://example.com/", "/relative", "http:///x"] {
            let Ok(uri) = url.parse::<http::Uri>() else {
                continue;
            };
            let (Err(a), Err(b)) = (OriginName::of(&uri), Origin::of(&uri)) else {
                panic!("{url} refused by both");
            };
            assert_eq!(
                (a.kind(), a.to_string()),
                (b.kind(), b.to_string()),
                "{url}"
            );
        }
    }

    #[test]
    fn text_is_what_display_writes() {
        for port in 0..=u16::MAX {
            let o = Origin {
                https: port % 2 == 0,
                host: "example.com".into(),
                port,
            };
            // both write what the formatter would
            let scheme = if o.https { "https" } else { "http" };
            let formatted = format!("{scheme}://{}:{}", o.host, o.port);
            assert_eq!(o.text(), formatted);
            assert_eq!(o.to_string(), formatted);
        }
    }
}

#[cfg(test)]
mod host_header_tests {
    use super::host_header;

    fn header(url: &str) -> String {
        let uri: http::Uri = url.parse().expect("url");
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        host_header(uri.authority().expect("authority"), https, port)
            .expect("valid")
            .to_str()
            .expect("ascii")
            .to_owned()
    }

    #[test]
    fn host_header_is_host_and_port_unless_default() {
        assert_eq!(header("http://example.com/"), "example.com");
        assert_eq!(header("http://example.com:8080/"), "example.com:8080");
        assert_eq!(header("http://example.com:80/"), "example.com");
        assert_eq!(header("https://example.com:443/"), "example.com");
        assert_eq!(header("https://example.com:80/"), "example.com:80");
        assert_eq!(header("http://example.com:080/"), "example.com");
        assert_eq!(header("http://example.com:0800/"), "example.com:800");
        assert_eq!(header("http://user:pw@example.com/"), "example.com");
        assert_eq!(header("http://user@example.com:81/"), "example.com:81");
        assert_eq!(header("http://[::1]:8080/"), "[::1]:8080");
        assert_eq!(header("http://[::1]/"), "[::1]");
    }
}
