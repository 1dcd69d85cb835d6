//! Response heads refused the same way on every backend: beyond the
//! configured [`HeadLimits`], or with ambiguous framing.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, Version};
use httpswap_core::{Error, ErrorKind, HeadLimits};

/// Checks a response head: the [`HeadLimits`] (libraries' own limits
/// differ: hyper refused a 101st header field where curl took 500, and
/// hyper's HTTP/2 client a head over 16 KiB), then
/// [`refuse_ambiguous_framing`]. Every backend calls it once per response.
///
/// # Errors
///
/// [`ErrorKind::RemoteProtocol`] naming the origin (made only then).
pub fn check_response_head(
    headers: &HeaderMap,
    version: Version,
    limits: &HeadLimits,
    origin: impl Fn() -> String,
) -> Result<(), Error> {
    limits
        .check(headers, &origin)
        .map_err(|e| e.with_request_sent(true))?;
    refuse_ambiguous_framing(headers, version, origin)
}

/// Refuses an HTTP/1 response head with both `Content-Length` and
/// `Transfer-Encoding`.
///
/// RFC 9112, 6.3: Transfer-Encoding overrides Content-Length, but such a
/// message "might indicate an attempt to perform request smuggling or
/// response splitting and ought to be handled as an error", and the
/// connection must not be used again. Libraries differ: hyper and curl
/// decode the body by Transfer-Encoding, and a reader trusting
/// Content-Length cut it short (the isahc backend returned 5 of 11 bytes as
/// a complete body). httpswap refuses such a response on every backend
/// with [`ErrorKind::RemoteProtocol`] before any of its body is returned
/// (as it refuses two different Content-Length values). HTTP/2 and later
/// have no Transfer-Encoding.
///
/// ```
/// use http::{HeaderMap, Version};
/// let mut h = HeaderMap::new();
/// h.insert("content-length", "5".parse().unwrap());
/// let origin = || "http://o:80".to_owned();
/// assert!(httpswap_adapter::refuse_ambiguous_framing(&h, Version::HTTP_11, origin).is_ok());
/// h.insert("transfer-encoding", "chunked".parse().unwrap());
/// let e = httpswap_adapter::refuse_ambiguous_framing(&h, Version::HTTP_11, origin).unwrap_err();
/// assert_eq!(e.kind(), httpswap_core::ErrorKind::RemoteProtocol);
/// ```
///
/// # Errors
///
/// [`ErrorKind::RemoteProtocol`] naming the origin (made only then), with
/// `request_sent`.
pub fn refuse_ambiguous_framing(
    headers: &HeaderMap,
    version: Version,
    origin: impl FnOnce() -> String,
) -> Result<(), Error> {
    if version >= Version::HTTP_2
        || !headers.contains_key(TRANSFER_ENCODING)
        || !headers.contains_key(CONTENT_LENGTH)
    {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::RemoteProtocol,
        format!(
            "response from {} has both Content-Length and Transfer-Encoding \
             (ambiguous framing, RFC 9112 6.3): refused",
            origin()
        ),
    )
    .with_request_sent(true))
}

/// The `timeout=N` parameter of a `Keep-Alive` response header (RFC 2068
/// 19.7.1.1, as Apache and nginx send it): how long the server keeps the
/// idle connection open.
///
/// ```
/// use http::HeaderValue;
/// use httpswap_adapter::keep_alive_timeout;
/// use std::time::Duration;
/// let t = |v: &'static str| keep_alive_timeout(&HeaderValue::from_static(v));
/// assert_eq!(t("timeout=5"), Some(Duration::from_secs(5)));
/// assert_eq!(t("max=100, Timeout = 2"), Some(Duration::from_secs(2)));
/// assert_eq!(t("max=100"), None);
/// assert_eq!(t("timeout=soon"), None);
/// ```
pub fn keep_alive_timeout(value: &http::HeaderValue) -> Option<std::time::Duration> {
    value.to_str().ok()?.split(',').find_map(|param| {
        let (name, n) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("timeout")
            .then(|| n.trim().parse::<u64>().ok())
            .flatten()
            .map(std::time::Duration::from_secs)
    })
}
