//! Event hooks, in the spirit of aiohttp's `TraceConfig`.
//!
//! The same names fire on every backend. Request, redirect and retry events
//! come from the client layer; connection events from the transport. The
//! documented order for one request is:
//!
//! 1. `request_start` (attempt 1)
//! 2. `connection_queued` (only if no slot was free), then
//!    `connection_created` or `connection_reused`
//! 3. `request_end` (headers received) or `request_error`
//! 4. on a redirect: `redirect`, then again from 1 with the new URL;
//!    on a retry: `retry`, then again from 1 with the next attempt number.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, StatusCode, Uri};

use crate::error::ErrorKind;

/// A request attempt is about to be sent.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestStart {
    /// Method of this attempt.
    pub method: Method,
    /// URL of this attempt.
    pub uri: Uri,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
}

impl RequestStart {
    /// The event for attempt `attempt` of `method uri`.
    pub fn new(method: Method, uri: Uri, attempt: u32) -> Self {
        RequestStart {
            method,
            uri,
            attempt,
        }
    }
}

/// Response headers arrived for an attempt.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestEnd {
    /// Method of this attempt.
    pub method: Method,
    /// URL of this attempt.
    pub uri: Uri,
    /// The response status.
    pub status: StatusCode,
    /// Attempt number.
    pub attempt: u32,
    /// Time from `request_start` to the response head.
    pub elapsed: Duration,
}

impl RequestEnd {
    /// The event for a response head with `status`.
    pub fn new(
        method: Method,
        uri: Uri,
        status: StatusCode,
        attempt: u32,
        elapsed: Duration,
    ) -> Self {
        RequestEnd {
            method,
            uri,
            status,
            attempt,
            elapsed,
        }
    }
}

/// An attempt failed with an error.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RequestError {
    /// Method of this attempt.
    pub method: Method,
    /// URL of this attempt.
    pub uri: Uri,
    /// What went wrong.
    pub kind: ErrorKind,
    /// Attempt number.
    pub attempt: u32,
    /// Time from `request_start` to the error.
    pub elapsed: Duration,
}

impl RequestError {
    /// The event for an attempt that failed with `kind`.
    pub fn new(method: Method, uri: Uri, kind: ErrorKind, attempt: u32, elapsed: Duration) -> Self {
        RequestError {
            method,
            uri,
            kind,
            attempt,
            elapsed,
        }
    }
}

/// A redirect is being followed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Redirect {
    /// The URL that answered with a redirect.
    pub from: Uri,
    /// Where the next request goes.
    pub to: Uri,
    /// The redirect status.
    pub status: StatusCode,
    /// The method of the next request (after 301/302/303 rewriting).
    pub method: Method,
    /// How many redirects have been followed, this one included.
    pub count: usize,
}

impl Redirect {
    /// The event for redirect number `count`, from `from` to `to`.
    pub fn new(from: Uri, to: Uri, status: StatusCode, method: Method, count: usize) -> Self {
        Redirect {
            from,
            to,
            status,
            method,
            count,
        }
    }
}

/// A request will be sent again after a delay.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Retry {
    /// Method of the request.
    pub method: Method,
    /// URL of the request.
    pub uri: Uri,
    /// The attempt about to start (2 for the first retry).
    pub attempt: u32,
    /// The wait before it.
    pub delay: Duration,
    /// The status that caused the retry, if any.
    pub status: Option<StatusCode>,
    /// The error kind that caused the retry, if any.
    pub error: Option<ErrorKind>,
}

impl Retry {
    /// The event for `attempt` starting after `delay`; set `status` or
    /// `error` to say why.
    pub fn new(method: Method, uri: Uri, attempt: u32, delay: Duration) -> Self {
        Retry {
            method,
            uri,
            attempt,
            delay,
            status: None,
            error: None,
        }
    }
}

/// A connection was opened, reused, or a request waits for a slot.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionEvent {
    /// `scheme://host:port` of the origin (not of a proxy).
    pub origin: String,
    /// The transport's id for the connection (0 for `connection_queued`).
    pub id: u64,
    /// Whether the connection speaks HTTP/2.
    pub http2: bool,
}

impl ConnectionEvent {
    /// A connection event.
    pub fn new(origin: impl Into<String>, id: u64, http2: bool) -> Self {
        ConnectionEvent {
            origin: origin.into(),
            id,
            http2,
        }
    }
}

/// Hooks called as requests and connections progress. Every method has a
/// no-op default, so implement only what you need. Hooks run inline: keep
/// them quick and never block.
///
/// ```
/// use httpswap_core::events::{Events, ConnectionEvent};
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// #[derive(Debug, Default)]
/// struct CountNewConnections(AtomicUsize);
///
/// impl Events for CountNewConnections {
///     fn connection_created(&self, _: &ConnectionEvent) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait Events: Send + Sync + fmt::Debug + 'static {
    /// A request attempt starts.
    fn request_start(&self, _event: &RequestStart) {}
    /// Response headers arrived.
    fn request_end(&self, _event: &RequestEnd) {}
    /// An attempt failed.
    fn request_error(&self, _event: &RequestError) {}
    /// A redirect is followed.
    fn redirect(&self, _event: &Redirect) {}
    /// A request is retried.
    fn retry(&self, _event: &Retry) {}
    /// A new connection was established.
    fn connection_created(&self, _event: &ConnectionEvent) {}
    /// An idle connection was reused.
    fn connection_reused(&self, _event: &ConnectionEvent) {}
    /// No slot was free: the request waits for one.
    fn connection_queued(&self, _event: &ConnectionEvent) {}
}

/// Events that do nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopEvents;

impl Events for NoopEvents {}

/// Event hooks carried in a request's extensions, so that a transport fires
/// its connection events to the hooks of the client that sent the request.
#[derive(Clone, Debug)]
pub struct SharedEvents(pub Arc<dyn Events>);

impl SharedEvents {
    /// The hooks for `request`: those in its extensions, else `fallback`.
    pub fn for_request<'a, B>(
        request: &'a http::Request<B>,
        fallback: Option<&'a Arc<dyn Events>>,
    ) -> Option<&'a Arc<dyn Events>> {
        request
            .extensions()
            .get::<SharedEvents>()
            .map(|s| &s.0)
            .or(fallback)
    }
}
