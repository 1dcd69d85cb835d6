//! One recorder of events for every test: the conformance suite, the
//! client scenarios, the facade's cross-backend comparison and the
//! backends' own tests.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use httpswap_core::events::{
    ConnectionEvent, Redirect, RequestEnd, RequestError, RequestStart, Retry,
};
use httpswap_core::Events;

/// Every event, in order, as a line:
///
/// - `start GET /path #1`, `end 200 #1`, `error Connect #1` (the attempt);
/// - `redirect 302 GET /to 1` (the status, the next method, where, how many);
/// - `retry #2 status=Some(503) error=None` (its delay: [`retry_delays`]);
/// - `created <origin>`, `reused <origin>`, `queued <origin>`.
///
/// [`retry_delays`]: EventLog::retry_delays
///
/// ```
/// use httpswap_core::events::{ConnectionEvent, Events as _};
/// let log = httpswap_test::EventLog::default();
/// log.connection_created(&ConnectionEvent::new("http://a", 1, false));
/// assert_eq!(log.lines(), ["created http://a"]);
/// assert_eq!(log.with_connections_as_one(), ["connection"]);
/// ```
#[derive(Debug, Default)]
pub struct EventLog {
    lines: Mutex<Vec<String>>,
    delays: Mutex<Vec<Duration>>,
}

impl EventLog {
    fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The lines with `created` and `reused` as `connection`, and without
    /// `queued`: where a connection event falls in a request's sequence,
    /// not which one (that is the transport suite's business).
    pub fn with_connections_as_one(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| !l.starts_with("queued "))
            .map(|l| {
                if l.starts_with("created ") || l.starts_with("reused ") {
                    "connection".to_owned()
                } else {
                    l
                }
            })
            .collect()
    }

    /// The connection events only, each as its word alone (`created`,
    /// `reused`, `queued`).
    pub fn connection_words(&self) -> Vec<&'static str> {
        self.lines()
            .iter()
            .filter_map(|l| match l.split(' ').next() {
                Some("created") => Some("created"),
                Some("reused") => Some("reused"),
                Some("queued") => Some("queued"),
                _ => None,
            })
            .collect()
    }

    /// The connection events only, with their origins.
    pub fn connection_lines(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| {
                l.starts_with("created ") || l.starts_with("reused ") || l.starts_with("queued ")
            })
            .collect()
    }

    /// The delay of every retry, in order.
    pub fn retry_delays(&self) -> Vec<Duration> {
        self.delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Events for EventLog {
    fn request_start(&self, e: &RequestStart) {
        self.push(format!(
            "start {} {} #{}",
            e.method,
            e.uri.path(),
            e.attempt
        ));
    }
    fn request_end(&self, e: &RequestEnd) {
        self.push(format!("end {} #{}", e.status.as_u16(), e.attempt));
    }
    fn request_error(&self, e: &RequestError) {
        self.push(format!("error {:?} #{}", e.kind, e.attempt));
    }
    fn redirect(&self, e: &Redirect) {
        self.push(format!(
            "redirect {} {} {} {}",
            e.status.as_u16(),
            e.method,
            e.to.path(),
            e.count
        ));
    }
    fn retry(&self, e: &Retry) {
        self.delays
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e.delay);
        self.push(format!(
            "retry #{} status={:?} error={:?}",
            e.attempt,
            e.status.map(|s| s.as_u16()),
            e.error
        ));
    }
    fn connection_created(&self, e: &ConnectionEvent) {
        self.push(format!("created {}", e.origin));
    }
    fn connection_reused(&self, e: &ConnectionEvent) {
        self.push(format!("reused {}", e.origin));
    }
    fn connection_queued(&self, e: &ConnectionEvent) {
        self.push(format!("queued {}", e.origin));
    }
}
