//! One error type for every backend.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// A boxed error, as used for source chains.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong, in the taxonomy of httpx.
///
/// Every backend maps its own errors onto these kinds in one place, so code
/// above the trait can decide (retry, report, give up) without knowing which
/// backend ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Establishing the connection (TCP, TLS, proxy CONNECT) took longer than
    /// the connect timeout.
    ConnectTimeout,
    /// No bytes of the response arrived within the read timeout (the gap
    /// between two received chunks, headers included).
    ReadTimeout,
    /// The request could not be written: no progress within the write timeout.
    WriteTimeout,
    /// No connection slot became free within the pool timeout.
    PoolTimeout,
    /// The total deadline of the request (all attempts, body included) passed.
    Timeout,
    /// The connection could not be established: refused, DNS failure, TLS
    /// failure, unreachable host.
    Connect,
    /// Reading the response failed (connection reset while receiving).
    Read,
    /// Writing the request failed (connection reset while sending).
    Write,
    /// The server broke the protocol: malformed or truncated response, the
    /// connection closed before a complete response.
    RemoteProtocol,
    /// The request itself is invalid for the protocol (e.g. CR/LF in a header).
    LocalProtocol,
    /// The proxy answered and refused or failed the request: a 407 (its
    /// credentials missing or wrong), a 403, another answer than 2xx to
    /// CONNECT (a 502 when it could not reach the origin), or a tunnel it
    /// closed. Sending the same request again gets the same answer: not
    /// transient.
    Proxy,
    /// The proxy could not be reached: connection refused, unreachable, its
    /// name not resolved. Nothing was sent; transient, and retried as a
    /// [`Connect`](ErrorKind::Connect) failure is.
    ProxyConnect,
    /// The URL scheme is not supported (e.g. `ftp://`).
    UnsupportedProtocol,
    /// The response body could not be decoded (corrupt compressed data, or the
    /// decoded size limit was hit).
    Decoding,
    /// More redirects than allowed.
    TooManyRedirects,
    /// The URL is invalid (no host, bad characters, bad `Location`).
    InvalidUrl,
    /// A configuration or builder error: invalid settings, no transport.
    Builder,
    /// The request must be sent again (redirect or retry) but its body is a
    /// stream that cannot be replayed.
    BodyNotReplayable,
    /// A body is larger than a limit the caller set
    /// ([`Body::collect_bytes_limited`](crate::Body::collect_bytes_limited)).
    BodyTooLarge,
    /// The transport was closed with [`HttpTransport::close`](crate::HttpTransport::close).
    Closed,
    /// An HTTP error status turned into an error on request
    /// (`error_for_status`); never produced by a transport.
    Status,
    /// An error from a wrapped service that fits no other kind.
    Other,
}

impl ErrorKind {
    /// A short, lower-case description, used when an error carries no message.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::ConnectTimeout => "connect timed out",
            ErrorKind::ReadTimeout => "read timed out",
            ErrorKind::WriteTimeout => "write timed out",
            ErrorKind::PoolTimeout => "timed out waiting for a free connection",
            ErrorKind::Timeout => "request deadline exceeded",
            ErrorKind::Connect => "connection failed",
            ErrorKind::Read => "reading the response failed",
            ErrorKind::Write => "writing the request failed",
            ErrorKind::RemoteProtocol => "server broke the http protocol",
            ErrorKind::LocalProtocol => "invalid request",
            ErrorKind::Proxy => "proxy error",
            ErrorKind::ProxyConnect => "proxy unreachable",
            ErrorKind::UnsupportedProtocol => "unsupported url scheme",
            ErrorKind::Decoding => "response body could not be decoded",
            ErrorKind::TooManyRedirects => "too many redirects",
            ErrorKind::InvalidUrl => "invalid url",
            ErrorKind::Builder => "invalid configuration",
            ErrorKind::BodyNotReplayable => "request body cannot be replayed",
            ErrorKind::BodyTooLarge => "body larger than the limit",
            ErrorKind::Closed => "transport is closed",
            ErrorKind::Status => "http error status",
            ErrorKind::Other => "transport error",
        }
    }

    /// Whether this kind is one of the timeouts.
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            ErrorKind::ConnectTimeout
                | ErrorKind::ReadTimeout
                | ErrorKind::WriteTimeout
                | ErrorKind::PoolTimeout
                | ErrorKind::Timeout
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every httpswap operation.
///
/// One pointer wide. It has a [`kind`](Error::kind), an optional message
/// naming what failed, the name of the backend that produced it, whether the
/// request may have reached the server, and the source chain of the
/// underlying error.
///
/// ```
/// use httpswap_core::{Error, ErrorKind};
/// use std::error::Error as _;
///
/// let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
/// let err = Error::new(ErrorKind::Connect, "connection refused by 127.0.0.1:9")
///     .with_source(io)
///     .with_backend("hyper");
/// assert!(err.is_connect());
/// assert!(!err.request_sent());
/// assert_eq!(err.backend(), Some("hyper"));
/// assert_eq!(err.to_string(), "connection refused by 127.0.0.1:9");
/// assert!(err.source().unwrap().is::<std::io::Error>());
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: Option<Cow<'static, str>>,
    source: Option<BoxError>,
    backend: Option<&'static str>,
    request_sent: Option<bool>,
    status: Option<http::StatusCode>,
    url: Option<http::Uri>,
}

impl Error {
    /// An error of `kind` with a message naming what failed.
    pub fn new(kind: ErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self::build(kind, Some(message.into()))
    }

    /// An error of `kind` with the kind's default description.
    pub fn from_kind(kind: ErrorKind) -> Self {
        Self::build(kind, None)
    }

    fn build(kind: ErrorKind, message: Option<Cow<'static, str>>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message,
                source: None,
                backend: None,
                request_sent: None,
                status: None,
                url: None,
            }),
        }
    }

    /// A timeout error of `kind` saying how long was waited for what.
    ///
    /// ```
    /// # use httpswap_core::{Error, ErrorKind};
    /// # use std::time::Duration;
    /// let e = Error::timeout(ErrorKind::ConnectTimeout, Duration::from_secs(5), "127.0.0.1:8080");
    /// assert_eq!(e.to_string(), "connect timed out after 5s to 127.0.0.1:8080");
    /// ```
    pub fn timeout(kind: ErrorKind, after: Duration, what: impl fmt::Display) -> Self {
        let prep = match kind {
            ErrorKind::ConnectTimeout | ErrorKind::PoolTimeout => "to",
            _ => "from",
        };
        Self::new(
            kind,
            format!("{} after {:?} {} {}", kind.as_str(), after, prep, what),
        )
    }

    /// The error of a request to a transport that was closed
    /// ([`HttpTransport::close`](crate::HttpTransport::close)).
    pub fn closed() -> Self {
        Self::new(ErrorKind::Closed, "the transport was closed")
    }

    /// A builder (configuration) error.
    pub fn builder(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorKind::Builder, message)
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    /// Attaches the name of the backend that produced the error, unless one
    /// is already attached.
    #[must_use]
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        self.inner.backend.get_or_insert(backend);
        self
    }

    /// Records whether the request may have reached the server. Without this
    /// call the kind decides (see [`request_sent`](Error::request_sent)).
    #[must_use]
    pub fn with_request_sent(mut self, sent: bool) -> Self {
        self.inner.request_sent = Some(sent);
        self
    }

    /// Attaches an HTTP status (for [`ErrorKind::Status`]).
    #[must_use]
    pub fn with_status(mut self, status: http::StatusCode) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Attaches the URL of the request that failed (as reqwest's errors
    /// carry one), without its user info. `Client` sets it on the errors of
    /// its calls; [`Display`](std::fmt::Display) does not print it,
    /// `Debug` does.
    #[must_use]
    pub fn with_url(mut self, url: http::Uri) -> Self {
        self.inner.url = Some(crate::credentials::without_userinfo(&url).unwrap_or(url));
        self
    }

    /// The URL of the request that failed, when known.
    ///
    /// ```
    /// use httpswap_core::{Error, ErrorKind};
    /// let e = Error::from_kind(ErrorKind::Connect)
    ///     .with_url("http://api.test/v1?key=s3cret".parse().unwrap());
    /// assert_eq!(e.url().unwrap().path(), "/v1");
    /// // strip it before logging an error whose URL carries a key
    /// let e = e.without_url();
    /// assert!(e.url().is_none() && !format!("{e:?}").contains("s3cret"));
    /// ```
    pub fn url(&self) -> Option<&http::Uri> {
        self.inner.url.as_ref()
    }

    /// The error without its URL (which may hold keys in its query).
    #[must_use]
    pub fn without_url(mut self) -> Self {
        self.inner.url = None;
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The name of the backend that produced this error, if any.
    pub fn backend(&self) -> Option<&'static str> {
        self.inner.backend
    }

    /// The HTTP status, for errors of kind [`ErrorKind::Status`].
    pub fn status(&self) -> Option<http::StatusCode> {
        self.inner.status
    }

    /// Any timeout: connect, read, write, pool or total deadline.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind.is_timeout()
    }

    /// The connection could not be established, to the origin or to the
    /// proxy (not a timeout).
    pub fn is_connect(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Connect | ErrorKind::ProxyConnect
        )
    }

    /// A problem with the request that no retry can fix (invalid URL,
    /// configuration, local protocol violation).
    pub fn is_builder(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Builder | ErrorKind::InvalidUrl | ErrorKind::LocalProtocol
        )
    }

    /// Whether the request may have reached the server.
    ///
    /// `false` means it certainly did not: the connection was never
    /// established, no slot was free, or the request was rejected locally.
    /// Errors that happen after the request started to be written report
    /// `true`, unless the transport knows better and said so with
    /// [`with_request_sent`](Error::with_request_sent).
    pub fn request_sent(&self) -> bool {
        if let Some(sent) = self.inner.request_sent {
            return sent;
        }
        !matches!(
            self.inner.kind,
            ErrorKind::ConnectTimeout
                | ErrorKind::PoolTimeout
                | ErrorKind::Connect
                | ErrorKind::Proxy
                | ErrorKind::ProxyConnect
                | ErrorKind::UnsupportedProtocol
                | ErrorKind::LocalProtocol
                | ErrorKind::InvalidUrl
                | ErrorKind::Builder
                | ErrorKind::BodyNotReplayable
                | ErrorKind::Closed
        )
    }

    /// Whether sending the same request again may succeed and cannot repeat
    /// a side effect: a transient failure before the request reached the
    /// server (connect, to the origin or the proxy; connect timeout; pool
    /// timeout).
    ///
    /// The retry policy of the client layer also retries idempotent requests
    /// after transient errors that happened once the request was sent
    /// (read timeouts, dropped connections); this accessor is the
    /// method-independent part of that decision.
    pub fn is_retryable(&self) -> bool {
        !self.request_sent()
            && matches!(
                self.inner.kind,
                ErrorKind::ConnectTimeout
                    | ErrorKind::PoolTimeout
                    | ErrorKind::Connect
                    | ErrorKind::ProxyConnect
            )
    }

    /// Whether this kind of error is transient: the same request may succeed
    /// later (timeouts, connection failures, dropped connections).
    pub fn is_transient(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::ConnectTimeout
                | ErrorKind::ReadTimeout
                | ErrorKind::WriteTimeout
                | ErrorKind::PoolTimeout
                | ErrorKind::Timeout
                | ErrorKind::Connect
                | ErrorKind::ProxyConnect
                | ErrorKind::Read
                | ErrorKind::Write
                | ErrorKind::RemoteProtocol
        )
    }

    /// Finds this crate's `Error` in a boxed error (as returned by tower
    /// services), or wraps the foreign error with kind `fallback`.
    pub fn from_boxed(err: BoxError, fallback: ErrorKind) -> Self {
        match err.downcast::<Error>() {
            Ok(e) => *e,
            Err(other) => Error::new(fallback, other.to_string()).with_source(other),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("httpswap::Error");
        d.field("kind", &self.inner.kind);
        if let Some(m) = &self.inner.message {
            d.field("message", m);
        }
        if let Some(b) = self.inner.backend {
            d.field("backend", &b);
        }
        if let Some(s) = self.inner.status {
            d.field("status", &s);
        }
        if let Some(u) = &self.inner.url {
            d.field("url", &format_args!("{u}"));
        }
        d.field("request_sent", &self.request_sent());
        if let Some(s) = &self.inner.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.message {
            Some(m) => f.write_str(m),
            None => f.write_str(self.inner.kind.as_str()),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn StdError + 'static))
    }
}

impl From<http::Error> for Error {
    fn from(e: http::Error) -> Self {
        Error::new(ErrorKind::Builder, format!("invalid request: {e}")).with_source(e)
    }
}

impl From<http::uri::InvalidUri> for Error {
    fn from(e: http::uri::InvalidUri) -> Self {
        Error::new(ErrorKind::InvalidUrl, format!("invalid url: {e}")).with_source(e)
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pointer_wide() {
        assert_eq!(std::mem::size_of::<Error>(), std::mem::size_of::<usize>());
    }

    #[test]
    fn source_chain_is_kept() {
        let root = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let mid = Error::new(ErrorKind::Read, "read failed").with_source(root);
        let top = Error::new(ErrorKind::RemoteProtocol, "connection closed").with_source(mid);
        let mut chain = Vec::new();
        let mut cur: Option<&(dyn StdError + 'static)> = Some(&top);
        while let Some(e) = cur {
            chain.push(e.to_string());
            cur = e.source();
        }
        assert_eq!(chain, ["connection closed", "read failed", "reset by peer"]);
        let mid = top.source().unwrap().downcast_ref::<Error>().unwrap();
        assert_eq!(mid.kind(), ErrorKind::Read);
    }

    #[test]
    fn request_sent_defaults_by_kind_and_can_be_overridden() {
        assert!(!Error::from_kind(ErrorKind::Connect).request_sent());
        assert!(!Error::from_kind(ErrorKind::PoolTimeout).request_sent());
        assert!(Error::from_kind(ErrorKind::ReadTimeout).request_sent());
        assert!(Error::from_kind(ErrorKind::RemoteProtocol).request_sent());
        assert!(!Error::from_kind(ErrorKind::RemoteProtocol)
            .with_request_sent(false)
            .request_sent());
    }

    #[test]
    fn timeouts_and_retryability() {
        for k in [
            ErrorKind::ConnectTimeout,
            ErrorKind::ReadTimeout,
            ErrorKind::WriteTimeout,
            ErrorKind::PoolTimeout,
            ErrorKind::Timeout,
        ] {
            assert!(Error::from_kind(k).is_timeout(), "{k:?}");
        }
        assert!(!Error::from_kind(ErrorKind::Connect).is_timeout());
        assert!(Error::from_kind(ErrorKind::Connect).is_retryable());
        assert!(!Error::from_kind(ErrorKind::ReadTimeout).is_retryable());
        assert!(Error::from_kind(ErrorKind::ReadTimeout).is_transient());
        assert!(!Error::from_kind(ErrorKind::Decoding).is_transient());
    }

    #[test]
    fn backend_is_attached_once() {
        let e = Error::from_kind(ErrorKind::Read)
            .with_backend("hyper")
            .with_backend("client");
        assert_eq!(e.backend(), Some("hyper"));
    }

    #[test]
    fn from_boxed_finds_our_error() {
        let boxed: BoxError = Box::new(Error::from_kind(ErrorKind::ReadTimeout));
        assert_eq!(
            Error::from_boxed(boxed, ErrorKind::Other).kind(),
            ErrorKind::ReadTimeout
        );
        let boxed: BoxError = "boom".into();
        let e = Error::from_boxed(boxed, ErrorKind::Other);
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(e.to_string(), "boom");
    }
}
