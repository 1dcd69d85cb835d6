//! Events hooks that also emit `tracing` events.
//!
//! Every client installs one of these in the requests it sends, so that
//! the transport's connection events and the client's request, redirect
//! and retry events reach both the user's [`Events`] and `tracing`
//! (target `httpswap`, level DEBUG; `connection reused`, the most frequent,
//! at TRACE). Failures are DEBUG too: a failure that is retried is not a
//! problem yet, and the caller gets the final error anyway. When nobody
//! listens (no user hooks, `tracing` off for target `httpswap` at DEBUG in
//! the call's span), no event is made at all, here or in the transport.

use std::sync::Arc;

use httpswap_core::events::{
    ConnectionEvent, Redirect, RequestEnd, RequestError, RequestStart, Retry,
};
use httpswap_core::Events;

/// Forwards every hook to `tracing` and then to the user's hooks.
#[derive(Debug)]
pub(crate) struct Traced {
    pub(crate) user: Option<Arc<dyn Events>>,
}

impl Traced {
    fn user(&self, f: impl FnOnce(&dyn Events)) {
        if let Some(u) = &self.user {
            f(u.as_ref());
        }
    }
}

impl Events for Traced {
    fn request_start(&self, e: &RequestStart) {
        tracing::debug!(target: "httpswap", method = %e.method, url = %e.uri, attempt = e.attempt, "request start");
        self.user(|u| u.request_start(e));
    }

    fn request_end(&self, e: &RequestEnd) {
        tracing::debug!(target: "httpswap", status = e.status.as_u16(), attempt = e.attempt, elapsed_ms = e.elapsed.as_secs_f64() * 1e3, "response head");
        self.user(|u| u.request_end(e));
    }

    fn request_error(&self, e: &RequestError) {
        tracing::debug!(target: "httpswap", kind = ?e.kind, attempt = e.attempt, elapsed_ms = e.elapsed.as_secs_f64() * 1e3, "request failed");
        self.user(|u| u.request_error(e));
    }

    fn redirect(&self, e: &Redirect) {
        tracing::debug!(target: "httpswap", status = e.status.as_u16(), to = %e.to, method = %e.method, count = e.count, "redirect");
        self.user(|u| u.redirect(e));
    }

    fn retry(&self, e: &Retry) {
        tracing::debug!(target: "httpswap", attempt = e.attempt, delay_ms = e.delay.as_secs_f64() * 1e3, status = ?e.status.map(|s| s.as_u16()), error = ?e.error, "retry");
        self.user(|u| u.retry(e));
    }

    fn connection_created(&self, e: &ConnectionEvent) {
        tracing::debug!(target: "httpswap", origin = %e.origin, id = e.id, http2 = e.http2, "connection created");
        self.user(|u| u.connection_created(e));
    }

    fn connection_reused(&self, e: &ConnectionEvent) {
        tracing::trace!(target: "httpswap", origin = %e.origin, id = e.id, http2 = e.http2, "connection reused");
        self.user(|u| u.connection_reused(e));
    }

    fn connection_queued(&self, e: &ConnectionEvent) {
        tracing::debug!(target: "httpswap", origin = %e.origin, "waiting for a connection slot");
        self.user(|u| u.connection_queued(e));
    }
}
