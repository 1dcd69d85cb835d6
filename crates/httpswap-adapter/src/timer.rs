//! Timers kept from request to request. A new tokio timer per request
//! takes the runtime's one timer-wheel lock to register it and again to
//! cancel it; a timer kept and moved only to a later deadline takes
//! neither (tokio just stores the later time, and moves the timer when it
//! fires first).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The longest wait any deadline stands for: 30 years, what tokio's own
/// `sleep` makes of a longer one. A limit beyond it (such as
/// `Duration::MAX`, a way some users write "never") waits this long.
pub const LONGEST_WAIT: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `limit` after `now`, or, for a limit beyond any clock (which
/// `now + limit` would panic on), [`LONGEST_WAIT`] after `now`.
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
///
/// let now = Instant::now();
/// assert_eq!(httpswap_adapter::deadline_after(now, Duration::from_secs(5)), now + Duration::from_secs(5));
/// assert!(httpswap_adapter::deadline_after(now, Duration::MAX) > now);
/// ```
pub fn deadline_after(now: Instant, limit: Duration) -> Instant {
    now.checked_add(limit).unwrap_or_else(|| now + LONGEST_WAIT)
}

/// A timer kept from wait to wait (the hyper transport keeps one per
/// HTTP/1 connection for the wait for a response head; [`TimerCache`]
/// keeps them for the other transports). It is moved only to make it
/// earlier: a later deadline, the usual case, is just stored (even putting
/// a registered tokio timer later costs a tick conversion), and the timer,
/// when it fires first, is moved on to it then.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use httpswap_adapter::ReusableTimer;
/// use tokio::time::Instant;
///
/// let mut timer = ReusableTimer::new(Instant::now() + Duration::from_secs(600));
/// timer.set(Instant::now() + Duration::from_millis(10));
/// std::future::poll_fn(|cx| timer.poll(cx)).await; // after 10 ms
/// # }
/// ```
pub struct ReusableTimer {
    /// Fires no later than `deadline`.
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl ReusableTimer {
    /// A timer for `at`, on the current runtime.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its time driver enabled (as
    /// [`tokio::time::sleep_until`]).
    pub fn new(at: Instant) -> Self {
        ReusableTimer {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            deadline: at,
        }
    }

    /// Makes `at` the deadline, earlier or later than the last one.
    pub fn set(&mut self, at: Instant) {
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        }
        self.deadline = at;
    }

    /// Ready once the deadline has passed.
    pub fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // at most twice round: after a reset, the timer's time is the deadline
        loop {
            ready!(self.sleep.as_mut().poll(cx));
            if self.sleep.deadline() >= self.deadline {
                return Poll::Ready(());
            }
            let at = self.deadline;
            self.sleep.as_mut().reset(at);
        }
    }
}

impl std::fmt::Debug for ReusableTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReusableTimer")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// Timers that waits of one transport take and give back
/// ([`drive`](crate::drive)'s read timeout), so that a request does not
/// make a tokio timer of its own. A timer belongs to the runtime it was
/// made on: the cache keeps those of one runtime, the last one a timer
/// was taken on (a timer is never polled on another), and at most
/// [`TimerCache::KEEP`] of them.
#[derive(Debug, Default)]
pub struct TimerCache {
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    runtime: Option<tokio::runtime::Id>,
    timers: Vec<ReusableTimer>,
}

impl TimerCache {
    /// The most timers kept: what a burst of waits at once gives back
    /// beyond it is dropped.
    pub const KEEP: usize = 256;

    /// A timer for `at`, kept or new, given back when the returned guard
    /// drops.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime with its time driver enabled.
    pub fn take(&self, at: Instant) -> TakenTimer<'_> {
        let runtime = tokio::runtime::Handle::current().id();
        let (reused, stale) = {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            if kept.runtime == Some(runtime) {
                (kept.timers.pop(), Vec::new())
            } else {
                kept.runtime = Some(runtime);
                (None, std::mem::take(&mut kept.timers))
            }
        };
        // another runtime's timers, dropped outside the lock
        drop(stale);
        let timer = match reused {
            Some(mut timer) => {
                timer.set(at);
                timer
            }
            None => ReusableTimer::new(at),
        };
        TakenTimer {
            cache: self,
            runtime,
            timer: Some(timer),
        }
    }

    /// How many timers are kept now.
    pub fn kept(&self) -> usize {
        self.kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .timers
            .len()
    }
}

/// A timer taken from a [`TimerCache`]; it goes back when this drops.
#[derive(Debug)]
pub struct TakenTimer<'a> {
    cache: &'a TimerCache,
    runtime: tokio::runtime::Id,
    timer: Option<ReusableTimer>,
}

impl Future for TakenTimer<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.timer {
            Some(timer) => timer.poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for TakenTimer<'_> {
    fn drop(&mut self) {
        let Some(timer) = self.timer.take() else {
            return;
        };
        let mut kept = self.cache.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.runtime == Some(self.runtime) && kept.timers.len() < TimerCache::KEEP {
            kept.timers.push(timer);
        }
        // else the timer drops after the lock (declared before it)
    }
}

#[cfg(test)]
mod tests {
    use super::{ReusableTimer, TimerCache};
    use futures_util::FutureExt;
    use std::future::Future;
    use std::time::Duration;
    use tokio::time::{advance, Instant};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Whether the timer is ready now (one poll).
    fn fired(t: &mut ReusableTimer) -> bool {
        std::future::poll_fn(|cx| t.poll(cx))
            .now_or_never()
            .is_some()
    }

    /// A later deadline, stored without moving the timer: when the timer
    /// fires at the earlier time, it moves on and fires only at the
    /// deadline.
    #[tokio::test(start_paused = true)]
    async fn a_later_deadline_is_kept_when_the_timer_fires_first() {
        let start = Instant::now();
        let mut t = ReusableTimer::new(start + ms(100));
        assert!(!fired(&mut t));
        t.set(start + ms(1000));
        advance(ms(150)).await;
        assert!(!fired(&mut t), "fired at the old time");
        advance(ms(800)).await;
        assert!(!fired(&mut t), "fired before the deadline");
        advance(ms(100)).await;
        assert!(fired(&mut t), "not fired after the deadline");
    }

    /// A timer that fired while the connection was idle does not fail the
    /// next request at once.
    #[tokio::test(start_paused = true)]
    async fn a_timer_fired_while_idle_waits_for_the_new_deadline() {
        let start = Instant::now();
        let mut t = ReusableTimer::new(start + ms(100));
        advance(ms(200)).await;
        t.set(Instant::now() + ms(500));
        assert!(!fired(&mut t), "an old time failed a new wait");
        advance(ms(600)).await;
        assert!(fired(&mut t));
    }

    /// An earlier deadline (a shorter limit) moves the timer.
    #[tokio::test(start_paused = true)]
    async fn an_earlier_deadline_moves_the_timer() {
        let start = Instant::now();
        let mut t = ReusableTimer::new(start + Duration::from_secs(600));
        assert!(!fired(&mut t));
        t.set(start + ms(100));
        advance(ms(150)).await;
        assert!(fired(&mut t), "the shorter limit did not fire");
    }

    /// A taken timer fires at its deadline, goes back when dropped, and is
    /// taken again for a later deadline without firing at the old one.
    #[tokio::test(start_paused = true)]
    async fn the_cache_gives_timers_back_and_reuses_them() {
        let cache = TimerCache::default();
        let start = Instant::now();
        let t = cache.take(start + ms(100));
        assert_eq!(cache.kept(), 0);
        t.await;
        assert_eq!(Instant::now(), start + ms(100), "fired at another time");
        assert_eq!(cache.kept(), 1, "not given back");
        let mut again = cache.take(Instant::now() + ms(1000));
        assert_eq!(cache.kept(), 0, "a kept timer was not reused");
        assert!(
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut again).poll(cx))
                .now_or_never()
                .is_none()
        );
        advance(ms(500)).await;
        assert!(
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut again).poll(cx))
                .now_or_never()
                .is_none(),
            "fired before its new deadline"
        );
        drop(again);
        assert_eq!(cache.kept(), 1);
    }

    /// At most `KEEP` timers are kept, however many were out at once.
    #[tokio::test(start_paused = true)]
    async fn the_cache_keeps_a_bounded_number() {
        let cache = TimerCache::default();
        let at = Instant::now() + ms(100);
        let taken: Vec<_> = (0..TimerCache::KEEP + 10).map(|_| cache.take(at)).collect();
        drop(taken);
        assert_eq!(cache.kept(), TimerCache::KEEP);
    }

    /// A timer is never used on another runtime than its own: the cache
    /// drops the first runtime's timers when a second one takes one.
    #[test]
    fn the_cache_keeps_timers_of_one_runtime() {
        let cache = TimerCache::default();
        let rt = || {
            tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime")
        };
        let first = rt();
        first.block_on(async { cache.take(Instant::now() + ms(1)).await });
        assert_eq!(cache.kept(), 1);
        drop(first);
        // the first runtime is gone: polling its timer would panic
        rt().block_on(async { cache.take(Instant::now() + ms(1)).await });
        assert_eq!(cache.kept(), 1);
    }
}
