//! Credentials in URLs: sent as Basic authentication, never recorded.
//!
//! `http://alice:s3cret@host/x` means "authenticate as alice" to httpx,
//! reqwest and curl alike, and none of them sends the user info in the
//! request line or the `Host` header. httpswap does the same, on every
//! backend and in the client layer: the user info becomes
//! `Authorization: Basic ...` (percent-decoded, as httpx decodes it) and is
//! removed from the URL before anything is sent, logged, or put in an
//! error. An `Authorization` header the request already has wins over the
//! URL's credentials (as in reqwest and curl; httpx's own `BasicAuth`
//! from the URL would overwrite it).

use std::borrow::Cow;

use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::uri::{Authority, Uri};
use http::HeaderValue;

use crate::error::{Error, ErrorKind};

/// Moves the user info of `request`'s URL into an `Authorization: Basic`
/// header (marked sensitive), unless the request has an `Authorization`
/// header already, and removes it from the URL either way. A URL without
/// user info is left as it is, at the cost of one search of its
/// authority for `@`.
///
/// ```
/// use httpswap_core::{backend::apply_url_credentials, Body};
/// let mut req = http::Request::get("http://alice:s3cr%40t@example.com/x")
///     .body(Body::empty())?;
/// apply_url_credentials(&mut req)?;
/// assert_eq!(req.uri(), "http://example.com/x");
/// // base64 of "alice:s3cr@t"
/// assert_eq!(req.headers()["authorization"], "Basic YWxpY2U6czNjckB0");
/// assert!(req.headers()["authorization"].is_sensitive());
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidUrl`] when the URL without its user info is not a
/// valid URL (it always is for a URL `http` parsed).
pub fn apply_url_credentials<B>(request: &mut http::Request<B>) -> Result<(), Error> {
    let Some((user, password)) = userinfo(request.uri()) else {
        return Ok(());
    };
    if !request.headers().contains_key(AUTHORIZATION) {
        let value = basic_auth(&percent_decode(user), &percent_decode(password));
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    let stripped = without_userinfo(request.uri())?;
    *request.uri_mut() = stripped;
    Ok(())
}

/// `Basic base64(user:password)`, marked sensitive (so that `Debug` of a
/// header map shows `Sensitive` instead of the value).
///
/// ```
/// let v = httpswap_core::basic_auth(b"alice", b"s3cret");
/// assert_eq!(v, "Basic YWxpY2U6czNjcmV0");
/// assert!(v.is_sensitive());
/// ```
pub fn basic_auth(user: &[u8], password: &[u8]) -> HeaderValue {
    let mut pair = Vec::with_capacity(user.len() + password.len() + 1);
    pair.extend_from_slice(user);
    pair.push(b':');
    pair.extend_from_slice(password);
    let token = base64::engine::general_purpose::STANDARD.encode(pair);
    let mut value =
        HeaderValue::try_from(format!("Basic {token}")).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// The user and password (still percent-encoded) of a URL with user info.
fn userinfo(uri: &Uri) -> Option<(&str, &str)> {
    let authority = uri.authority()?.as_str();
    // a byte scan first: most URLs have no user info, and `rsplit_once`
    // with a char pattern costs a searcher's setup on every request
    if !authority.as_bytes().contains(&b'@') {
        return None;
    }
    let (info, _) = authority.rsplit_once('@')?;
    Some(info.split_once(':').unwrap_or((info, "")))
}

fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    percent_encoding::percent_decode_str(s).into()
}

/// `uri` without the user info of its authority.
///
/// ```
/// let uri: http::Uri = "https://u:p@example.com:8443/a?b".parse().unwrap();
/// assert_eq!(httpswap_core::backend::without_userinfo(&uri)?, "https://example.com:8443/a?b");
/// # Ok::<(), httpswap_core::Error>(())
/// ```
///
/// # Errors
///
/// [`ErrorKind::InvalidUrl`] when what is left is not a valid URL.
pub fn without_userinfo(uri: &Uri) -> Result<Uri, Error> {
    let Some(authority) = uri.authority() else {
        return Ok(uri.clone());
    };
    let Some((_, hostport)) = authority.as_str().rsplit_once('@') else {
        return Ok(uri.clone());
    };
    let mut parts = uri.clone().into_parts();
    parts.authority = Some(Authority::try_from(hostport).map_err(|e| {
        Error::new(
            ErrorKind::InvalidUrl,
            format!("invalid host in url {}", redact_url(&uri.to_string())),
        )
        .with_source(e)
    })?);
    Uri::from_parts(parts).map_err(|e| {
        Error::new(
            ErrorKind::InvalidUrl,
            format!("invalid url {}", redact_url(&uri.to_string())),
        )
        .with_source(e)
    })
}

/// `url` (any text) with the user info of its authority replaced by
/// `***`, for messages: what follows `scheme://` up to the last `@` before
/// the path, query or fragment. Text without user info comes back as it is.
///
/// ```
/// use httpswap_core::redact_url;
/// assert_eq!(redact_url("http://alice:s3cret@h:1/p?q"), "http://***@h:1/p?q");
/// assert_eq!(redact_url("http://h/p@x"), "http://h/p@x");
/// assert_eq!(redact_url("not a url"), "not a url");
/// ```
pub fn redact_url(url: &str) -> Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let rest = &url[start..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => Cow::Owned(format!("{}***{}", &url[..start], &rest[at..])),
        None => Cow::Borrowed(url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;

    fn applied(url: &str, auth: Option<&'static str>) -> http::Request<Body> {
        let mut b = http::Request::get(url);
        if let Some(a) = auth {
            b = b.header(AUTHORIZATION, a);
        }
        let mut req = b.body(Body::empty()).unwrap();
        apply_url_credentials(&mut req).unwrap();
        req
    }

    fn decoded(req: &http::Request<Body>) -> String {
        let v = req.headers()[AUTHORIZATION].to_str().unwrap();
        let token = v.strip_prefix("Basic ").unwrap();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap();
        String::from_utf8(raw).unwrap()
    }

    #[test]
    fn user_info_becomes_basic_auth_and_leaves_the_url() {
        let r = applied("http://alice:s3cret@127.0.0.1:8080/x?y=1", None);
        assert_eq!(r.uri(), "http://127.0.0.1:8080/x?y=1");
        assert_eq!(decoded(&r), "alice:s3cret");
        // percent-decoded, ':' in the password kept, no password is ""
        assert_eq!(
            decoded(&applied("http://a%20b:p%3Aq%40@h/", None)),
            "a b:p:q@"
        );
        assert_eq!(decoded(&applied("http://p:a:b@h/", None)), "p:a:b");
        assert_eq!(decoded(&applied("http://bob@h/", None)), "bob:");
        assert_eq!(decoded(&applied("http://:pw@h/", None)), ":pw");
        // bytes that are not UTF-8 are sent as they are
        let r = applied("http://%FF:x@h/", None);
        let v = r.headers()[AUTHORIZATION].to_str().unwrap();
        assert_eq!(v, "Basic /zp4");
        // IPv6 host, https
        let r = applied("https://u:p@[::1]:8443/", None);
        assert_eq!(r.uri(), "https://[::1]:8443/");
    }

    #[test]
    fn an_authorization_header_wins_but_the_url_is_cleaned() {
        let r = applied("http://alice:s3cret@h/x", Some("Bearer t"));
        assert_eq!(r.headers()[AUTHORIZATION], "Bearer t");
        assert_eq!(r.uri(), "http://h/x");
    }

    #[test]
    fn a_url_without_user_info_is_left_alone() {
        for url in ["http://h/x@y", "http://h:1/?a=@", "/relative"] {
            let r = applied(url, None);
            assert_eq!(r.uri(), url);
            assert!(!r.headers().contains_key(AUTHORIZATION));
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("https://u@h"), "https://***@h");
        assert_eq!(redact_url("http://a:b@c@h/x@y"), "http://***@h/x@y");
        assert_eq!(redact_url("http://h?x=a@b"), "http://h?x=a@b");
        assert_eq!(redact_url("u:p@h/x"), "u:p@h/x");
    }
}
