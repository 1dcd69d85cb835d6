//! What the dead-connection retry rule needs: which requests may be sent
//! twice, and a copy to send.

use http::Method;
use httpswap_core::{Request, Timeouts};

/// Methods that may be sent twice (RFC 9110, 9.2.2).
///
/// ```
/// assert!(httpswap_adapter::is_idempotent(&http::Method::PUT));
/// assert!(!httpswap_adapter::is_idempotent(&http::Method::POST));
/// ```
pub fn is_idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// A copy of the request, when its body is replayable. Per-request
/// [`Timeouts`] come along; other extensions do not.
pub fn try_clone_request(r: &Request) -> Option<Request> {
    let body = r.body().try_clone()?;
    let mut copy = http::Request::new(body);
    *copy.method_mut() = r.method().clone();
    *copy.uri_mut() = r.uri().clone();
    *copy.version_mut() = r.version();
    *copy.headers_mut() = r.headers().clone();
    if let Some(t) = r.extensions().get::<Timeouts>() {
        copy.extensions_mut().insert(*t);
    }
    Some(copy)
}
