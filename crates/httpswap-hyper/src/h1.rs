//! An HTTP/1 connection as the pool keeps it: hyper's handle, the
//! connection's `Host` header, write timeout and head timer, and the signal
//! of its end; and the handle of an HTTP/2 connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use http::header::InvalidHeaderValue;
use http::HeaderValue;
use hyper::client::conn::{http1, http2};
use tokio::time::Instant;

use crate::body::ReqBody;
use crate::connect::Target;
use crate::io::{Addrs, WriteTimeout};
use crate::pool::Poolable;
use httpswap_adapter::ReusableTimer;

pub(crate) type H1Sender = http1::SendRequest<ReqBody>;
pub(crate) type H2Sender = http2::SendRequest<ReqBody>;

/// An HTTP/1 connection handle.
pub(crate) struct H1Conn {
    pub(crate) id: u64,
    /// Where it goes: moved with the connection between the pool and its
    /// leases, never cloned per request.
    pub(crate) target: Target,
    /// Its `Host` header, made once (see [`host_header`](Self::host_header)).
    host: Option<HeaderValue>,
    pub(crate) sender: H1Sender,
    pub(crate) write_timeout: WriteTimeout,
    /// The timer of the wait for a response head, kept from request to
    /// request (see [`set_head_deadline`](Self::set_head_deadline)).
    head_timer: Option<ReusableTimer>,
    /// Set by the lease (here, not in the lease: leases move with every
    /// request's state and stay small).
    taken_at: Option<Instant>,
    /// Set when the connection's task has ended.
    pub(crate) end: ConnEnd,
    /// Not reused from then on: `max_lifetime` after it connected.
    retire_at: Option<Instant>,
    /// Not reused from then on: the server's `Keep-Alive: timeout` of the
    /// last response, less a margin.
    hint_until: Option<Instant>,
    /// Its socket's addresses.
    pub(crate) addrs: Addrs,
}

/// Set by a connection's task once the connection has ended, so that a
/// request waiting for its response learns it even when hyper does not
/// say: a request handed to hyper just as its dispatcher shut down (the
/// server closed the idle connection at that moment) stays in hyper's
/// queue, which outlives the dispatcher while the handle that sent it is
/// held, and its response future never completes. Such a request was
/// never written, so it is sent again (`Waited::NotSent`). Held by the
/// squid waves of `reliability/tests/stale.rs` (the figures are in
/// RELIABILITY.md).
#[derive(Clone, Default)]
pub(crate) struct ConnEnd(Arc<EndState>);

#[derive(Default)]
struct EndState {
    ended: AtomicBool,
    waker: AtomicWaker,
    /// Not to be used again (`ConnectionInfo::poison`): closed when it is
    /// given back.
    poisoned: AtomicBool,
}

impl ConnEnd {
    /// Keeps the connection from being used again.
    pub(crate) fn poison(&self) {
        self.0.poisoned.store(true, Ordering::Release);
    }

    /// Whether [`poison`](Self::poison) was called.
    fn is_poisoned(&self) -> bool {
        self.0.poisoned.load(Ordering::Acquire)
    }

    /// The connection has ended.
    pub(crate) fn set(&self) {
        self.0.ended.store(true, Ordering::Release);
        self.0.waker.wake();
    }

    /// Ready once the connection has ended (one waiter at a time: the
    /// request in flight on it).
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.ended.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        self.0.waker.register(cx.waker());
        if self.0.ended.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl H1Conn {
    pub(crate) fn new(
        id: u64,
        target: Target,
        sender: H1Sender,
        write_timeout: WriteTimeout,
        end: ConnEnd,
        lifetime: Option<Duration>,
        addrs: Addrs,
    ) -> Box<Self> {
        Box::new(H1Conn {
            id,
            target,
            host: None,
            sender,
            write_timeout,
            head_timer: None,
            taken_at: None,
            end,
            retire_at: lifetime.and_then(|d| Instant::now().checked_add(d)),
            hint_until: None,
            addrs,
        })
    }

    /// Takes the `Keep-Alive` header of a response on this connection
    /// (`None`: it had none): with `timeout=N`, the connection is reused
    /// only within N seconds less a margin, so the client stops before the
    /// server closes it (`keep_alive_hint_shortens_expiry`).
    pub(crate) fn note_keep_alive(&mut self, value: Option<&HeaderValue>) {
        self.hint_until = value
            .and_then(httpswap_adapter::keep_alive_timeout)
            .map(|n| {
                httpswap_adapter::deadline_after(
                    Instant::now(),
                    n.saturating_sub(KEEP_ALIVE_MARGIN.min(n / 2)),
                )
            });
    }

    /// Polls `send`, the request sent on this connection, for hyper's
    /// answer; else says what else ended the wait: the read timeout (when
    /// `timed`, on the timer [`start_head_timer`](Self::start_head_timer)
    /// set), or the end of the connection with no answer from hyper (the
    /// request was never sent, see [`ConnEnd`]). The general path and the
    /// fast path both wait this way.
    pub(crate) fn poll_answer<F: Future>(
        &mut self,
        cx: &mut Context<'_>,
        mut send: Pin<&mut F>,
        timed: bool,
    ) -> Poll<Waited<F::Output>> {
        if let Poll::Ready(answer) = send.as_mut().poll(cx) {
            return Poll::Ready(Waited::Answer(answer));
        }
        if self.end.poll(cx).is_ready() {
            // one more look: hyper may have answered at that moment
            return Poll::Ready(match send.poll(cx) {
                Poll::Ready(answer) => Waited::Answer(answer),
                Poll::Pending => Waited::NotSent,
            });
        }
        if timed {
            ready!(self.poll_head_timer(cx));
            return Poll::Ready(Waited::TimedOut);
        }
        Poll::Pending
    }

    /// Starts the read timeout of the wait for a response head, on the
    /// connection's own timer (no new timer per request). `at_checkout`:
    /// the request had nothing to send after its head and this is its
    /// first poll, microseconds after the pool read the clock to hand the
    /// connection out, so the timer starts from that reading; else from
    /// the clock read now (a request body was just handed over).
    pub(crate) fn start_head_timer(&mut self, limit: Duration, at_checkout: bool) {
        let now = at_checkout
            .then(|| self.taken_at.take())
            .flatten()
            .unwrap_or_else(Instant::now);
        self.set_head_deadline(now, limit);
    }

    /// The `Host` header of a request to `target` on this connection: made
    /// once per connection when the request names the origin as the
    /// connection's did (the usual case), else made for this request.
    pub(crate) fn host_header(
        &mut self,
        target: &Target,
    ) -> Result<HeaderValue, InvalidHeaderValue> {
        if target.authority_text() != self.target.authority_text() {
            return target.host_header();
        }
        if let Some(host) = &self.host {
            return Ok(host.clone());
        }
        let host = target.host_header()?;
        self.host = Some(host.clone());
        Ok(host)
    }

    /// Sets the deadline of the wait for a response head: `limit` after
    /// `now`, on the connection's timer (see [`ReusableTimer`]).
    fn set_head_deadline(&mut self, now: Instant, limit: Duration) {
        let at = httpswap_adapter::deadline_after(now, limit);
        match &mut self.head_timer {
            Some(timer) => timer.set(at),
            None => self.head_timer = Some(ReusableTimer::new(at)),
        }
    }

    /// Ready once the deadline [`set_head_deadline`](Self::set_head_deadline)
    /// set last has passed (never, if none was set).
    fn poll_head_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.head_timer {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    }
}

/// How long before the server's announced keep-alive timeout the client
/// stops reusing a connection (half the timeout when that is shorter):
/// room for the next request to reach the server before it closes.
const KEEP_ALIVE_MARGIN: Duration = Duration::from_secs(1);

/// How the wait for a response head ended.
pub(crate) enum Waited<R> {
    /// hyper's answer: a response head, or an error.
    Answer(R),
    /// The request body was handed over whole: the read timeout starts.
    BodyHandedOver,
    /// The read timeout passed.
    TimedOut,
    /// The connection ended and hyper gave no answer: the request was
    /// never sent.
    NotSent,
}

/// An HTTP/2 connection's handle, shared by its streams.
#[derive(Clone)]
pub(crate) struct H2Handle {
    pub(crate) sender: H2Sender,
    pub(crate) write_timeout: WriteTimeout,
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` (`usize::MAX` until
    /// read: see `SettingsSniffer`).
    pub(crate) max_streams: Arc<std::sync::atomic::AtomicUsize>,
    /// Takes no new stream (`ConnectionInfo::poison`).
    pub(crate) poisoned: Arc<AtomicBool>,
    /// Its socket's addresses.
    pub(crate) addrs: Addrs,
}

impl Poolable for H1Conn {
    type Key = Target;
    type H2 = H2Handle;

    fn key(&self) -> &Target {
        &self.target
    }

    fn id(&self) -> u64 {
        self.id
    }

    fn is_closed(&self) -> bool {
        self.sender.is_closed() || self.end.is_poisoned()
    }

    fn is_ready(&self) -> bool {
        self.sender.is_ready()
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        self.sender.poll_ready(cx).map(|r| r.is_ok())
    }

    fn set_checkout_time(&mut self, at: Option<Instant>) {
        self.taken_at = at;
    }

    fn reuse_until(&self) -> Option<Instant> {
        match (self.retire_at, self.hint_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn h2_is_closed(h2: &H2Handle) -> bool {
        h2.sender.is_closed() || h2.poisoned.load(Ordering::Acquire)
    }

    fn h2_max_streams(h2: &H2Handle) -> usize {
        h2.max_streams.load(Ordering::Relaxed)
    }

    fn origin(key: &Target) -> String {
        key.origin()
    }
}

#[cfg(test)]
mod end_tests {
    use super::ConnEnd;
    use std::task::{Context, Poll, Wake, Waker};

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The request waiting on a connection learns its end, whether the end
    /// came before it looked or after (then it is woken).
    #[test]
    fn the_end_of_a_connection_is_seen_and_wakes_the_waiter() {
        let flag = std::sync::Arc::new(Flag(Default::default()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let end = ConnEnd::default();
        assert!(end.poll(&mut cx).is_pending());
        end.clone().set();
        assert!(flag.0.load(std::sync::atomic::Ordering::SeqCst), "woken");
        assert_eq!(end.poll(&mut cx), Poll::Ready(()));
        let already = ConnEnd::default();
        already.set();
        assert_eq!(already.poll(&mut cx), Poll::Ready(()));
    }
}
