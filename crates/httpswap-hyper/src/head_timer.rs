//! The timer of the wait for a response head on an HTTP/1 connection.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::time::{Instant, Sleep};

/// The timer of the wait for a response head on an HTTP/1 connection, kept
/// from request to request: a new one per request took the timer wheel's
/// lock to register it and again to cancel it. It is moved only to make it
/// earlier: a later deadline, the usual case, is just stored (even putting
/// a registered tokio timer later costs a tick conversion), and the timer,
/// when it fires first, is moved on to it then.
pub(crate) struct HeadTimer {
    /// Fires no later than `deadline`.
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl HeadTimer {
    pub(crate) fn new(at: Instant) -> Self {
        HeadTimer {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            deadline: at,
        }
    }

    pub(crate) fn set(&mut self, at: Instant) {
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        }
        self.deadline = at;
    }

    /// Ready once `deadline` has passed.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
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

#[cfg(test)]
mod tests {
    use super::HeadTimer;
    use futures_util::FutureExt;
    use std::time::Duration;
    use tokio::time::{advance, Instant};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Whether the timer is ready now (one poll).
    fn fired(t: &mut HeadTimer) -> bool {
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
        let mut t = HeadTimer::new(start + ms(100));
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
        let mut t = HeadTimer::new(start + ms(100));
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
        let mut t = HeadTimer::new(start + Duration::from_secs(600));
        assert!(!fired(&mut t));
        t.set(start + ms(100));
        advance(ms(150)).await;
        assert!(fired(&mut t), "the shorter limit did not fire");
    }
}
