//! Retries with the OpenAI SDK's policy.
//!
//! A request is sent again, at most [`RetryPolicy::max_retries`] times
//! (2 by default), when:
//!
//! - an error response (4xx, 5xx) says so: `x-should-retry: true` always
//!   retries, `x-should-retry: false` never does; without that header, the
//!   statuses 408, 409, 429 and every 5xx retry. As in the OpenAI SDK,
//!   which asks only once `raise_for_status` has failed, the header of a
//!   1xx-3xx response is not looked at: a success is never retried;
//! - the transport failed safely: the request never reached the server
//!   ([`Error::is_retryable`]: connect errors, connect and pool timeouts),
//!   or it may have but repeating it is harmless, because the method is
//!   idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) or the request
//!   carries an `Idempotency-Key` header, and the error is transient
//!   (read/write timeouts and failures, a dropped connection). A POST
//!   without that header is not sent twice after a read timeout: unlike the
//!   OpenAI SDK, whose server makes completions safe to repeat, a general
//!   client cannot know that. The total deadline ([`ErrorKind::Timeout`]) is
//!   never retried.
//!
//! Never retried: a request whose body is a stream (it cannot be replayed).
//!
//! The wait before a retry is the server's `retry-after-ms` (milliseconds),
//! else its `Retry-After` (seconds or an HTTP date), when positive and at
//! most [`RetryPolicy::max_retry_after`] (120 s); a longer one means the
//! response is returned as it is, without retrying. Otherwise it is
//! `min(0.5 s * 2^n, 8 s)` for the `n`-th retry (from 0), shortened by a
//! random jitter of up to 25 %. Every retry fires the
//! [`Events::retry`](crate::Events::retry) hook and a `tracing` event, and
//! the next attempt's `request_start` carries its attempt number.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, Method, StatusCode};
use httpswap_core::{Error, ErrorKind};

/// The `Idempotency-Key` header: a request that carries it may be retried
/// after a transient error even if its method is not idempotent.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Looked up in every response: a name made once, not parsed per lookup.
const X_SHOULD_RETRY: http::HeaderName = http::HeaderName::from_static("x-should-retry");

/// When and how often the client sends a request again. The default is the
/// OpenAI SDK's: 2 retries, backoff from 0.5 s doubling up to 8 s with up to
/// 25 % jitter, server-requested waits obeyed up to 120 s.
///
/// ```
/// use httpswap::retry::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy::default()
///     .max_retries(5)
///     .backoff(Duration::from_millis(100), Duration::from_secs(2));
/// assert_eq!(policy.retries(), 5);
/// assert_eq!(RetryPolicy::none().retries(), 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
    jitter: f64,
    statuses: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: Self::DEFAULT_MAX_RETRIES,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(120),
            jitter: 0.25,
            statuses: true,
        }
    }
}

impl RetryPolicy {
    /// Retries by default: 2.
    pub const DEFAULT_MAX_RETRIES: u32 = 2;

    /// No retries at all.
    pub fn none() -> Self {
        RetryPolicy::default().max_retries(0)
    }

    /// At most `n` retries (so `n + 1` attempts).
    #[must_use]
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The backoff: `initial * 2^n`, capped at `max` (defaults 0.5 s, 8 s).
    #[must_use]
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// The longest server-requested wait obeyed (default 120 s); a longer
    /// one stops retrying.
    #[must_use]
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// The jitter: each backoff is shortened by a random fraction of up to
    /// `fraction` (default 0.25; clamped to 0..=1; 0 turns it off).
    #[must_use]
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self
    }

    /// Whether responses are retried at all (default: yes, on 408, 409,
    /// 429 and 5xx, or as `x-should-retry` says). Off, only transport errors
    /// are retried: what a proxy wants, which passes statuses through.
    ///
    /// ```
    /// use httpswap::retry::RetryPolicy;
    /// let policy = RetryPolicy::default().on_status(false);
    /// let headers = http::HeaderMap::new();
    /// assert_eq!(policy.for_response(http::StatusCode::SERVICE_UNAVAILABLE, &headers, 0), None);
    /// ```
    #[must_use]
    pub fn on_status(mut self, yes: bool) -> Self {
        self.statuses = yes;
        self
    }

    /// The number of retries allowed.
    pub fn retries(&self) -> u32 {
        self.max_retries
    }

    /// The backoff before retry number `n` (0 for the first), jitter applied.
    pub fn backoff_for(&self, n: u32) -> Duration {
        let base = self
            .initial_backoff
            .checked_mul(1u32.checked_shl(n.min(31)).unwrap_or(u32::MAX))
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff);
        base.mul_f64(1.0 - self.jitter * fastrand::f64())
    }

    /// The wait before retrying after `status`, or `None` not to retry.
    /// `retries_done` counts the retries already made.
    pub fn for_response(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        retries_done: u32,
    ) -> Option<Duration> {
        if !self.wants_retry_after(status, headers) {
            return None;
        }
        match retry_after(headers, SystemTime::now()) {
            Some(d) if d > self.max_retry_after => None,
            Some(d) if !d.is_zero() => Some(d),
            _ => Some(self.backoff_for(retries_done)),
        }
    }

    /// Whether a response with `status` and `headers` asks for a retry at
    /// all (an error status, then `x-should-retry`, else the status), before the retries left
    /// and its `Retry-After` are looked at: what [`for_response`](Self::for_response)
    /// looks at first, and the client's common path checks alone.
    pub(crate) fn wants_retry_after(&self, status: StatusCode, headers: &HeaderMap) -> bool {
        self.statuses
            && status.as_u16() >= 400
            && match headers.get(&X_SHOULD_RETRY).map(|v| v.as_bytes()) {
                Some(b"true") => true,
                Some(b"false") => false,
                _ => matches!(status.as_u16(), 408 | 409 | 429 | 500..=599),
            }
    }

    /// The wait before retrying after a transport error, or `None`.
    pub fn for_error(
        &self,
        error: &Error,
        method: &Method,
        headers: &HeaderMap,
        retries_done: u32,
    ) -> Option<Duration> {
        let safe = error.is_retryable()
            || (error.is_transient()
                && error.kind() != ErrorKind::Timeout
                && (httpswap_core::is_idempotent(method) || headers.contains_key(IDEMPOTENCY_KEY)));
        safe.then(|| self.backoff_for(retries_done))
    }
}

/// The wait a response asks for: `retry-after-ms` (milliseconds, may be
/// fractional), else `Retry-After` as seconds (may be fractional) or as an
/// HTTP date (relative to `now`; a date in the past is zero). `None` when
/// neither header is present or parses, or the value is negative.
///
/// ```
/// use http::HeaderMap;
/// use std::time::{Duration, SystemTime};
/// use httpswap::retry::retry_after;
///
/// let mut h = HeaderMap::new();
/// h.insert("retry-after", "3".parse().unwrap());
/// assert_eq!(retry_after(&h, SystemTime::now()), Some(Duration::from_secs(3)));
/// h.insert("retry-after-ms", "250".parse().unwrap());
/// assert_eq!(retry_after(&h, SystemTime::now()), Some(Duration::from_millis(250)));
/// ```
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let seconds = |s: &str, scale: f64| {
        let v: f64 = s.parse().ok()?;
        (v.is_finite() && v >= 0.0)
            .then(|| Duration::try_from_secs_f64(v / scale).ok())
            .flatten()
    };
    if let Some(d) = text("retry-after-ms").and_then(|s| seconds(s, 1000.0)) {
        return Some(d);
    }
    let value = text("retry-after")?;
    if let Some(d) = seconds(value, 1.0) {
        return Some(d);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let at = |h: &[(&'static str, &str)]| retry_after(&headers(h), now);
        assert_eq!(at(&[]), None);
        assert_eq!(
            at(&[("retry-after-ms", "1.5")]),
            Some(Duration::from_micros(1500))
        );
        assert_eq!(
            at(&[("retry-after", "2.5")]),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            at(&[("retry-after-ms", "x"), ("retry-after", "7")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(at(&[("retry-after", "-1")]), None);
        assert_eq!(at(&[("retry-after", "NaN")]), None);
        assert_eq!(at(&[("retry-after", "1e300")]), None);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(at(&[("retry-after", &date)]), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(at(&[("retry-after", &past)]), Some(Duration::ZERO));
        assert_eq!(at(&[("retry-after", "tomorrow")]), None);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_at_most_a_quarter_off() {
        let p = RetryPolicy::default();
        for (n, full) in [
            (0, 500),
            (1, 1000),
            (2, 2000),
            (3, 4000),
            (4, 8000),
            (9, 8000),
            (40, 8000),
        ] {
            for _ in 0..20 {
                let d = p.backoff_for(n).as_millis();
                assert!(d <= full && d >= full * 3 / 4, "retry {n}: {d} ms");
            }
        }
        assert_eq!(
            p.jitter(0.0).backoff_for(1),
            Duration::from_secs(1),
            "no jitter: exact"
        );
    }

    #[test]
    fn statuses_and_x_should_retry() {
        let p = RetryPolicy::default().jitter(0.0);
        let none = HeaderMap::new();
        for s in [408, 409, 429, 500, 502, 503, 504, 599] {
            assert!(
                p.for_response(StatusCode::from_u16(s).unwrap(), &none, 0)
                    .is_some(),
                "{s}"
            );
        }
        for s in [200, 301, 400, 401, 404, 410] {
            assert!(
                p.for_response(StatusCode::from_u16(s).unwrap(), &none, 0)
                    .is_none(),
                "{s}"
            );
        }
        let yes = headers(&[("x-should-retry", "true")]);
        assert!(p.for_response(StatusCode::BAD_REQUEST, &yes, 0).is_some());
        // as the OpenAI SDK: the header of a success or redirect is not read
        for s in [200, 204, 302, 304] {
            assert!(
                p.for_response(StatusCode::from_u16(s).unwrap(), &yes, 0)
                    .is_none(),
                "{s}"
            );
        }
        let no = headers(&[("x-should-retry", "false")]);
        assert!(p
            .for_response(StatusCode::SERVICE_UNAVAILABLE, &no, 0)
            .is_none());
        let long = headers(&[("retry-after", "121")]);
        assert!(p
            .for_response(StatusCode::TOO_MANY_REQUESTS, &long, 0)
            .is_none());
        let ok = headers(&[("retry-after", "120")]);
        assert_eq!(
            p.for_response(StatusCode::TOO_MANY_REQUESTS, &ok, 0),
            Some(Duration::from_secs(120))
        );
        let zero = headers(&[("retry-after-ms", "0")]);
        assert_eq!(
            p.for_response(StatusCode::TOO_MANY_REQUESTS, &zero, 1),
            Some(Duration::from_secs(1)),
            "zero falls back to the backoff"
        );
        let off = p.on_status(false);
        assert!(off.for_response(StatusCode::BAD_REQUEST, &yes, 0).is_none());
        assert!(off
            .for_response(StatusCode::SERVICE_UNAVAILABLE, &none, 0)
            .is_none());
        let refused = Error::new(ErrorKind::Connect, "refused").with_request_sent(false);
        assert!(
            off.for_error(&refused, &Method::POST, &none, 0).is_some(),
            "transport errors still retried"
        );
    }

    #[test]
    fn errors_retry_when_safe() {
        let p = RetryPolicy::default();
        let none = HeaderMap::new();
        let keyed = headers(&[(IDEMPOTENCY_KEY, "abc")]);
        let e = |k| Error::from_kind(k);
        assert!(p
            .for_error(&e(ErrorKind::Connect), &Method::POST, &none, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::ProxyConnect), &Method::POST, &none, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::PoolTimeout), &Method::POST, &none, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::ReadTimeout), &Method::GET, &none, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::ReadTimeout), &Method::POST, &none, 0)
            .is_none());
        assert!(p
            .for_error(&e(ErrorKind::ReadTimeout), &Method::POST, &keyed, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::RemoteProtocol), &Method::PUT, &none, 0)
            .is_some());
        assert!(p
            .for_error(&e(ErrorKind::Timeout), &Method::GET, &none, 0)
            .is_none());
        for k in [
            ErrorKind::Decoding,
            ErrorKind::TooManyRedirects,
            ErrorKind::InvalidUrl,
            ErrorKind::LocalProtocol,
            ErrorKind::BodyNotReplayable,
            ErrorKind::Proxy,
            ErrorKind::Closed,
        ] {
            assert!(
                p.for_error(&e(k), &Method::GET, &none, 0).is_none(),
                "{k:?}"
            );
        }
    }
}
