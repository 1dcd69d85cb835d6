//! What the dead-connection retry rule needs: which requests may be sent
//! twice, and a copy to send.

use http::{HeaderName, HeaderValue};
use httpswap_core::{Body, CaptureConnection, Request, TimeoutOverrides, Timeouts};

/// Methods that may be sent twice: [`httpswap_core::is_idempotent`].
pub use httpswap_core::is_idempotent;

/// A copy of the request, when its body is replayable. Per-request
/// [`Timeouts`] and [`TimeoutOverrides`], and a [`CaptureConnection`]
/// (which then records the resend's connection) come along; other
/// extensions do not.
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
    RequestCopy::of(r).map(|copy| copy.into_request(r.uri().clone()))
}

/// The extensions a copy of a request takes: per-request [`Timeouts`] and
/// [`TimeoutOverrides`], a [`CaptureConnection`].
fn copy_extensions(from: &http::Extensions, to: &mut http::Extensions) {
    if let Some(t) = from.get::<Timeouts>() {
        to.insert(*t);
    }
    if let Some(t) = from.get::<TimeoutOverrides>() {
        to.insert(*t);
    }
    if let Some(c) = from.get::<CaptureConnection>() {
        to.insert(c.clone());
    }
}

/// A request kept for the one resend, but for its URL (which the caller
/// keeps, or has in another form): what [`try_clone_request`] copies,
/// with the headers as a list, turned back into a request only when a
/// resend happens.
///
/// Why a list: a `HeaderMap`'s clone makes two allocations (its index and
/// its entries, a third with a header of several values) and leaves the
/// copy no room to grow, so a library that adds a header of its own
/// (reqwest's `Accept`) moves it once more. The list is one allocation,
/// none for a request without headers, and the request sent first is the
/// caller's own, its map untouched. The resend's map has the same headers
/// in the same order, each name's values in theirs
/// (`a_copy_gives_back_the_same_request`).
///
/// ```
/// use httpswap_adapter::RequestCopy;
/// use httpswap_core::Body;
///
/// let r = http::Request::get("http://x/a")
///     .header("accept", "a")
///     .header("accept", "b")
///     .header("k", "v")
///     .body(Body::from("b"))
///     .unwrap();
/// let copy = RequestCopy::of(&r).expect("a buffered body replays");
/// let again = copy.to_request(r.uri().clone()).expect("and again");
/// assert_eq!((again.method(), again.uri(), again.headers()), (r.method(), r.uri(), r.headers()));
/// let streamed = http::Request::new(Body::from_stream(
///     futures_util::stream::empty::<Result<&str, std::io::Error>>(),
/// ));
/// assert!(RequestCopy::of(&streamed).is_none());
/// ```
#[derive(Debug)]
pub struct RequestCopy {
    method: http::Method,
    version: http::Version,
    headers: Vec<(HeaderName, HeaderValue)>,
    extensions: http::Extensions,
    body: Body,
}

impl RequestCopy {
    /// A copy of `r` but for its URL, when its body is replayable.
    pub fn of(r: &Request) -> Option<RequestCopy> {
        RequestCopy::of_parts(
            r.method(),
            r.version(),
            r.headers(),
            r.extensions(),
            r.body(),
        )
    }

    /// [`of`](Self::of) for a request in parts (the first try's, kept by
    /// [`Tries`] apart from its URL).
    fn of_parts(
        method: &http::Method,
        version: http::Version,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
        body: &Body,
    ) -> Option<RequestCopy> {
        let mut copy = RequestCopy::of_head(method, version, headers, body)?;
        copy_extensions(extensions, &mut copy.extensions);
        Some(copy)
    }

    /// A copy of a request's method, version, headers and body, when the
    /// body is replayable; no extension, for a caller that took what it
    /// needs of them before.
    pub fn of_head(
        method: &http::Method,
        version: http::Version,
        headers: &http::HeaderMap,
        body: &Body,
    ) -> Option<RequestCopy> {
        let body = body.try_clone()?;
        let mut list = Vec::with_capacity(headers.len());
        list.extend(headers.iter().map(|(n, v)| (n.clone(), v.clone())));
        Some(RequestCopy {
            method: method.clone(),
            version,
            headers: list,
            extensions: http::Extensions::new(),
            body,
        })
    }

    /// The method copied.
    pub fn method(&self) -> &http::Method {
        &self.method
    }

    /// The extensions copied, to add to.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    /// The request to `uri`, from this copy.
    pub fn into_request(self, uri: http::Uri) -> Request {
        self.into_unaddressed().into_request(uri)
    }

    /// The request to `uri` again, leaving this copy for another resend;
    /// `None` only if the body, replayable when copied, no longer is.
    pub fn to_request(&self, uri: http::Uri) -> Option<Request> {
        Some(self.to_unaddressed()?.into_request(uri))
    }

    /// The request but for its URL, from this copy.
    pub fn into_unaddressed(self) -> Unaddressed {
        let mut headers = http::HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        Unaddressed {
            method: self.method,
            version: self.version,
            headers,
            extensions: self.extensions,
            body: self.body,
        }
    }

    /// As [`into_unaddressed`](Self::into_unaddressed), leaving this copy
    /// for another resend; `None` only if the body no longer replays.
    pub fn to_unaddressed(&self) -> Option<Unaddressed> {
        let copy = RequestCopy {
            method: self.method.clone(),
            version: self.version,
            headers: self.headers.clone(),
            extensions: self.extensions.clone(),
            body: self.body.try_clone()?,
        };
        Some(copy.into_unaddressed())
    }
}

/// The request of each try of one exchange, for a transport that sends
/// the whole request again on a resend (reqwest, isahc): the caller's own
/// request first, then each resend made from the [`RequestCopy`] an
/// earlier try kept. The URL is kept once, for every try. One request at
/// a time, so a send future that holds this across its waits holds one
/// request, not two (`the_send_future_stays_small`).
///
/// ```
/// use httpswap_adapter::Tries;
/// use httpswap_core::Body;
///
/// let r = http::Request::get("http://x/a").header("k", "v").body(Body::from("b")).unwrap();
/// let mut tries = Tries::new(r);
/// let first = tries.next(true).expect("the request itself");
/// assert!(tries.can_resend());
/// let again = tries.next(false).expect("the resend, from the copy");
/// assert_eq!((again.uri(), &again.headers()["k"]), (first.uri(), &first.headers()["k"]));
/// assert!(!tries.can_resend());
/// assert!(tries.next(true).is_none());
/// ```
#[derive(Debug)]
pub struct Tries {
    uri: http::Uri,
    next: Try,
}

#[derive(Debug)]
enum Try {
    /// The caller's request.
    First(Unaddressed),
    Copy(RequestCopy),
    Gone,
}

/// A request but for its URL, for a library that takes the URL in a form
/// of its own (reqwest's `Url`, from [`Tries::uri`]); a [`Request`] would
/// carry a second, empty URL to move with it.
#[derive(Debug)]
pub struct Unaddressed {
    /// The method.
    pub method: http::Method,
    /// The HTTP version asked for.
    pub version: http::Version,
    /// The headers, as the caller gave them.
    pub headers: http::HeaderMap,
    /// The extensions (a copy has those of [`RequestCopy::of`]).
    pub extensions: http::Extensions,
    /// The body.
    pub body: Body,
}

impl Unaddressed {
    /// The request to `uri`.
    pub fn into_request(self, uri: http::Uri) -> Request {
        let mut r = http::Request::new(self.body);
        *r.method_mut() = self.method;
        *r.version_mut() = self.version;
        *r.uri_mut() = uri;
        *r.headers_mut() = self.headers;
        *r.extensions_mut() = self.extensions;
        r
    }
}

impl Tries {
    /// The tries of `request`, which the first one sends.
    pub fn new(request: Request) -> Self {
        let (parts, body) = request.into_parts();
        Tries {
            uri: parts.uri,
            next: Try::First(Unaddressed {
                method: parts.method,
                version: parts.version,
                headers: parts.headers,
                extensions: parts.extensions,
                body,
            }),
        }
    }

    /// The request of the next try; `None` when no try is left. With
    /// `again`, a copy stays for the try after when the request may be
    /// sent twice (an idempotent method, a replayable body).
    pub fn next(&mut self, again: bool) -> Option<Request> {
        let request = self.next_apart(again)?;
        let uri = match self.next {
            Try::Gone => std::mem::take(&mut self.uri),
            _ => self.uri.clone(),
        };
        Some(request.into_request(uri))
    }

    /// As [`next`](Self::next), but for the URL, which is
    /// [`uri`](Self::uri), not copied.
    #[inline]
    pub fn next_apart(&mut self, again: bool) -> Option<Unaddressed> {
        match std::mem::replace(&mut self.next, Try::Gone) {
            Try::First(first) => {
                if again && is_idempotent(&first.method) {
                    let copy = RequestCopy::of_parts(
                        &first.method,
                        first.version,
                        &first.headers,
                        &first.extensions,
                        &first.body,
                    );
                    if let Some(copy) = copy {
                        self.next = Try::Copy(copy);
                    }
                }
                Some(first)
            }
            Try::Copy(copy) if again => {
                let request = copy.to_unaddressed();
                self.next = Try::Copy(copy);
                request
            }
            Try::Copy(copy) => Some(copy.into_unaddressed()),
            Try::Gone => None,
        }
    }

    /// The URL of every try.
    pub fn uri(&self) -> &http::Uri {
        &self.uri
    }

    /// Whether a copy is kept for another try.
    pub fn can_resend(&self) -> bool {
        matches!(self.next, Try::Copy(..))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// What a request and what the copy gives back have the same, the
    /// parts a resend sends.
    fn same(a: &Request, b: &Request) {
        assert_eq!(a.method(), b.method());
        assert_eq!(a.uri(), b.uri());
        assert_eq!(a.version(), b.version());
        assert_eq!(a.headers(), b.headers());
        // the same order too: names in the order first seen, each name's
        // values in theirs
        let order = |r: &Request| {
            r.headers()
                .iter()
                .map(|(n, v)| format!("{n}: {v:?}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(order(a), order(b));
        assert_eq!(a.body().as_bytes(), b.body().as_bytes());
        assert_eq!(
            a.extensions().get::<Timeouts>(),
            b.extensions().get::<Timeouts>()
        );
    }

    #[test]
    fn a_copy_gives_back_the_same_request() {
        let timeouts = Timeouts {
            read: Some(Duration::from_secs(3)),
            ..Timeouts::default()
        };
        let r = http::Request::put("http://x/a?q")
            .version(http::Version::HTTP_10)
            .header("x-b", "1")
            .header("accept", "a")
            .header("x-b", "2")
            .header("accept", "b")
            .header("x-c", HeaderValue::from_bytes(b"\xff").unwrap())
            .extension(timeouts)
            .extension(CaptureConnection::new())
            .body(Body::from("body"))
            .unwrap();
        let copy = RequestCopy::of(&r).expect("a buffered body replays");
        assert_eq!(copy.method(), r.method());
        let first = copy.to_request(r.uri().clone()).expect("replays");
        let second = copy.to_request(r.uri().clone()).expect("replays again");
        same(&r, &first);
        same(&r, &second);
        assert!(second.extensions().get::<CaptureConnection>().is_some());
        same(&r, &copy.into_request(r.uri().clone()));
        same(&r, &try_clone_request(&r).expect("replays"));
    }

    #[test]
    fn a_copy_of_the_head_takes_no_extension() {
        let r = http::Request::get("http://x/")
            .extension(Timeouts::default())
            .body(Body::empty())
            .unwrap();
        let copy = RequestCopy::of_head(r.method(), r.version(), r.headers(), r.body())
            .expect("an empty body replays");
        assert!(copy.into_request(r.uri().clone()).extensions().is_empty());
    }

    #[test]
    fn a_request_without_headers_is_copied_without_a_list() {
        let r = http::Request::get("http://x/").body(Body::empty()).unwrap();
        let copy = RequestCopy::of(&r).expect("an empty body replays");
        assert_eq!(copy.headers.capacity(), 0);
    }

    #[test]
    fn a_streamed_body_is_not_copied() {
        let r = http::Request::get("http://x/")
            .body(Body::from_stream(futures_util::stream::empty::<
                Result<&str, std::io::Error>,
            >()))
            .unwrap();
        assert!(RequestCopy::of(&r).is_none());
        assert!(try_clone_request(&r).is_none());
    }

    #[test]
    fn tries_keep_a_copy_only_when_a_resend_may_follow() {
        let get = || {
            http::Request::get("http://x/")
                .body(Body::from("b"))
                .unwrap()
        };
        let post = http::Request::post("http://x/")
            .body(Body::from("b"))
            .unwrap();
        let mut tries = Tries::new(post);
        assert!(tries.next(true).is_some());
        assert!(!tries.can_resend(), "a POST is not sent twice");
        assert!(tries.next(true).is_none());

        let mut tries = Tries::new(get());
        tries.next(false).expect("the first try");
        assert!(!tries.can_resend(), "no copy was asked for");

        let mut tries = Tries::new(get());
        for _ in 0..3 {
            let r = tries.next(true).expect("a try, and a copy for the next");
            same(&get(), &r);
            assert!(tries.can_resend());
        }
        same(&get(), &tries.next(false).expect("the last try"));
        assert!(tries.next(true).is_none());

        let mut tries = Tries::new(get());
        let apart = tries.next_apart(true).expect("the first try");
        same(&get(), &apart.into_request(tries.uri().clone()));
        same(&get(), &tries.next(true).expect("a resend"));
        let last = tries.next_apart(false).expect("the last try");
        same(&get(), &last.into_request(tries.uri().clone()));
        assert!(tries.next(true).is_none());

        let streamed = http::Request::get("http://x/")
            .body(Body::from_stream(futures_util::stream::empty::<
                Result<&str, std::io::Error>,
            >()))
            .unwrap();
        let mut tries = Tries::new(streamed);
        assert!(tries.next(true).is_some());
        assert!(!tries.can_resend(), "a streamed body is not replayable");
    }
}
