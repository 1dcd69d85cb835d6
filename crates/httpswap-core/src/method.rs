//! What HTTP methods promise.

use http::Method;

/// Whether a request with `method` may be sent twice without repeating a
/// side effect (RFC 9110, 9.2.2): GET, HEAD, OPTIONS, TRACE, PUT, DELETE.
/// The transports' resend of a request whose reused connection died, and
/// the client layer's retries, both go by it.
///
/// ```
/// assert!(httpswap_core::is_idempotent(&http::Method::PUT));
/// assert!(!httpswap_core::is_idempotent(&http::Method::POST));
/// ```
pub fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}
