//! Following redirects, as httpx does.
//!
//! - Followed: 301, 302, 303, 307 and 308 with a `Location` header (a 3xx
//!   without one is returned as it is). At most
//!   [`ClientBuilder::max_redirects`](crate::ClientBuilder::max_redirects)
//!   (20) are followed; one more is a [`ErrorKind::TooManyRedirects`] error,
//!   so a loop ends there too.
//! - 303 turns every method but HEAD into GET; 301 and 302 turn POST into
//!   GET. The body is then dropped with the headers that describe it
//!   (`Content-Length`, `Content-Type`, `Content-Encoding`,
//!   `Transfer-Encoding`).
//! - 307 and 308 keep the method and the body. A streaming body cannot be
//!   sent twice: that is a [`ErrorKind::BodyNotReplayable`] error.
//! - When the origin (scheme, host, port) changes, `Authorization`,
//!   `Cookie` and `Proxy-Authorization` are dropped, except on the upgrade
//!   from `http` to `https` on the same host and default ports. A `Host`
//!   header set by the caller is always dropped.
//! - `Location` is resolved against the URL that answered (RFC 3986); one
//!   that is not valid UTF-8 or does not resolve to a URL is a
//!   [`ErrorKind::RemoteProtocol`] error, one with a scheme other than http
//!   or https an [`ErrorKind::UnsupportedProtocol`] error. User info in a
//!   `Location` is removed, never sent (nor taken as credentials, as in
//!   httpx).
//!
//! The body of a redirect response is read (up to 64 KiB) so that its
//! connection goes back to the pool, then dropped.

use http::header::{
    AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST,
    PROXY_AUTHORIZATION, TRANSFER_ENCODING,
};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use httpswap_core::{redact_url, Error, ErrorKind};
use url::Url;

/// Redirects followed by default.
pub const DEFAULT_MAX_REDIRECTS: usize = 20;

/// Whether `status` is one this client follows.
pub fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// Resolves a `Location` header against the URL that answered.
///
/// ```
/// use http::{HeaderValue, Uri};
/// use httpswap::redirect::resolve_location;
///
/// let base: Uri = "http://a.example/x/y?q".parse().unwrap();
/// let to = resolve_location(&base, &HeaderValue::from_static("../z")).unwrap();
/// assert_eq!(to, "http://a.example/z");
/// assert!(resolve_location(&base, &HeaderValue::from_static("http://")).is_err());
/// ```
///
/// # Errors
///
/// [`ErrorKind::RemoteProtocol`] for a value that is not UTF-8 or does not
/// resolve to a valid URL; [`ErrorKind::UnsupportedProtocol`] for a scheme
/// other than http and https.
pub fn resolve_location(base: &Uri, location: &HeaderValue) -> Result<Uri, Error> {
    let bad = |why: String| {
        let shown = String::from_utf8_lossy(location.as_bytes());
        Error::new(
            ErrorKind::RemoteProtocol,
            format!(
                "invalid redirect location {:?} from {base}: {why}",
                redact_url(&shown)
            ),
        )
    };
    let text = location
        .to_str()
        .map_err(|_| bad("not visible ASCII".into()))?;
    let base_url = Url::parse(&base.to_string()).map_err(|e| bad(e.to_string()))?;
    let mut url = base_url.join(text.trim()).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => {
            return Err(Error::new(
                ErrorKind::UnsupportedProtocol,
                format!("redirect from {base} to unsupported scheme {other:?}"),
            ))
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    url.set_fragment(None);
    // user info in a Location is the server's: never sent, nor taken as
    // credentials (as httpx does); `set_*` fail only for URLs without a
    // host, refused above
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.as_str()
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))
}

/// `scheme, host, port` with the scheme's default port filled in.
fn origin(uri: &Uri) -> (Option<&str>, Option<&str>, Option<u16>) {
    let scheme = uri.scheme_str();
    let port = uri.port_u16().or(match scheme {
        Some("http") => Some(80),
        Some("https") => Some(443),
        _ => None,
    });
    (scheme, uri.host(), port)
}

/// Whether credentials may follow a redirect from `from` to `to`: same
/// origin, or the same-host upgrade from http on port 80 to https on 443.
pub fn keeps_credentials(from: &Uri, to: &Uri) -> bool {
    let (a, b) = (origin(from), origin(to));
    if a == b {
        return true;
    }
    a.1.map(str::to_ascii_lowercase) == b.1.map(str::to_ascii_lowercase)
        && a.0 == Some("http")
        && a.2 == Some(80)
        && b.0 == Some("https")
        && b.2 == Some(443)
}

/// The method of the request that follows a redirect.
pub fn next_method(status: StatusCode, method: &Method) -> Method {
    match status.as_u16() {
        303 if *method != Method::HEAD => Method::GET,
        301 | 302 if *method == Method::POST => Method::GET,
        _ => method.clone(),
    }
}

/// Drops the headers a redirect must not carry on.
pub(crate) fn rewrite_headers(headers: &mut HeaderMap, from: &Uri, to: &Uri, body_dropped: bool) {
    headers.remove(HOST);
    if !keeps_credentials(from, to) {
        headers.remove(AUTHORIZATION);
        headers.remove(COOKIE);
        headers.remove(PROXY_AUTHORIZATION);
    }
    if body_dropped {
        for h in [
            CONTENT_LENGTH,
            CONTENT_TYPE,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
        ] {
            headers.remove(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn locations_resolve_or_fail_by_kind() {
        let base = uri("http://a.example:8080/p/q?x=1");
        let ok = |l: &'static str| resolve_location(&base, &HeaderValue::from_static(l)).unwrap();
        assert_eq!(ok("/r"), "http://a.example:8080/r");
        assert_eq!(ok("r?y=2"), "http://a.example:8080/p/r?y=2");
        assert_eq!(ok("//b.example/s"), "http://b.example/s");
        assert_eq!(ok("https://b.example/s#frag"), "https://b.example/s");
        assert_eq!(ok("/a b"), "http://a.example:8080/a%20b");
        assert_eq!(ok("http://u:pw@b.example/s"), "http://b.example/s");
        let kind = |l: &[u8]| {
            resolve_location(&base, &HeaderValue::from_bytes(l).unwrap())
                .unwrap_err()
                .kind()
        };
        assert_eq!(kind(b"http://"), ErrorKind::RemoteProtocol);
        assert_eq!(kind(b"http://[::1"), ErrorKind::RemoteProtocol);
        assert_eq!(kind(b"/\xff"), ErrorKind::RemoteProtocol);
        assert_eq!(kind(b"http://a:99999/"), ErrorKind::RemoteProtocol);
        assert_eq!(kind(b"ftp://a.example/"), ErrorKind::UnsupportedProtocol);
        assert_eq!(kind(b"file:///etc/passwd"), ErrorKind::UnsupportedProtocol);
    }

    #[test]
    fn credentials_stay_within_the_origin_or_its_https_upgrade() {
        let k = |a, b| keeps_credentials(&uri(a), &uri(b));
        assert!(k("http://a/x", "http://a:80/y"));
        assert!(k("http://a/x", "https://a/y"));
        assert!(k("http://A/x", "https://a/y"));
        assert!(!k("http://a:8080/x", "https://a/y"));
        assert!(!k("https://a/x", "http://a/y"), "no downgrade");
        assert!(!k("http://a/x", "http://b/y"));
        assert!(!k("http://a:1/x", "http://a:2/y"));
    }

    #[test]
    fn method_rewriting() {
        use Method as M;
        let s = |n| StatusCode::from_u16(n).unwrap();
        assert_eq!(next_method(s(303), &M::POST), M::GET);
        assert_eq!(next_method(s(303), &M::PUT), M::GET);
        assert_eq!(next_method(s(303), &M::HEAD), M::HEAD);
        assert_eq!(next_method(s(302), &M::POST), M::GET);
        assert_eq!(next_method(s(301), &M::POST), M::GET);
        assert_eq!(next_method(s(301), &M::PUT), M::PUT);
        assert_eq!(next_method(s(307), &M::POST), M::POST);
        assert_eq!(next_method(s(308), &M::POST), M::POST);
    }
}
