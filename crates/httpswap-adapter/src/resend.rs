//! What the dead-connection retry rule needs: which requests may be sent
//! twice, and a copy to send.

use httpswap_core::{CaptureConnection, Request, TimeoutOverrides, Timeouts};

/// Methods that may be sent twice: [`httpswap_core::is_idempotent`].
pub use httpswap_core::is_idempotent;

/// A copy of the request, when its body is replayable. Per-request
/// [`Timeouts`] come along; other extensions do not.
///
/// ```
/// use httpswap_core::Body;
/// let mut r = http::Request::put("http://x/a").header("k", "v").body(Body::from("b")).unwrap();
/// let copy = httpswap_adapter::try_clone_request(&r).expect("a buffered body replays");
/// assert_eq!((copy.method(), copy.uri(), &copy.headers()["k"]), (r.method(), r.uri(), &r.headers()["k"]));
/// *r.body_mut() = Body::from_stream(futures_util::stream::empty::<Result<&str, std::io::Error>>());
/// assert!(httpswap_adapter::try_clone_request(&r).is_none());
/// ```
pub fn try_clone_request(r: &Request) -> Option<Request> {
    let mut copy = http::Request::new(r.body().try_clone()?);
    *copy.uri_mut() = r.uri().clone();
    copy_request_head(r, &mut copy);
    Some(copy)
}

/// What [`try_clone_request`] copies besides the body and the URL: method,
/// version, headers, per-request [`Timeouts`] and [`TimeoutOverrides`],
/// and a [`CaptureConnection`] (which then records the resend's
/// connection). For a caller that builds
/// the copy in place, or has the URL to move into it.
pub fn copy_request_head(from: &Request, to: &mut Request) {
    *to.method_mut() = from.method().clone();
    *to.version_mut() = from.version();
    *to.headers_mut() = from.headers().clone();
    if let Some(t) = from.extensions().get::<Timeouts>() {
        to.extensions_mut().insert(*t);
    }
    if let Some(t) = from.extensions().get::<TimeoutOverrides>() {
        to.extensions_mut().insert(*t);
    }
    if let Some(c) = from.extensions().get::<CaptureConnection>() {
        to.extensions_mut().insert(c.clone());
    }
}
