//! The idle queue's upkeep: idle connections older than
//! `keepalive_expiry`, or closed by the server, are dropped by a reaper
//! task, and never handed out.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::time::Instant;

use super::{Poolable, Shared, State};

pub(super) struct IdleH1<C> {
    pub(super) conn: Box<C>,
    /// Not handed out from then on: `keepalive_expiry` after it went idle,
    /// or earlier by the connection's own account
    /// ([`Poolable::reuse_until`]).
    pub(super) until: Instant,
}
impl<C: Poolable> State<C> {
    pub(super) fn idle_count(&self) -> usize {
        self.idle.len()
            + self
                .h2
                .values()
                .flatten()
                .filter(|e| e.streams == 0)
                .count()
    }

    /// Drops expired and closed idle connections; returns when the next
    /// idle connection expires.
    pub(super) fn sweep(&mut self, expiry: Duration, now: Instant) -> Option<Instant> {
        self.idle.retain(|i| i.until > now && !i.conn.is_closed());
        for list in self.h2.values_mut() {
            list.retain(|e| e.usable(now, expiry));
        }
        self.h2.retain(|_, list| !list.is_empty());
        let h1 = self.idle.iter().map(|i| i.until);
        let h2 = self
            .h2
            .values()
            .flatten()
            .filter(|e| e.streams == 0)
            .map(|e| httpswap_adapter::deadline_after(e.since, expiry));
        h1.chain(h2).min()
    }
}
pub(super) struct Reaper;
impl Reaper {
    /// Starts the task that closes expired idle connections; returns
    /// whether it runs (it needs a tokio runtime).
    pub(super) fn spawn<C: Poolable>(shared: &Arc<Shared<C>>) -> bool {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let weak: Weak<Shared<C>> = Arc::downgrade(shared);
        handle.spawn(async move {
            loop {
                let next = {
                    let Some(shared) = weak.upgrade() else { return };
                    let expiry = shared.limits.keepalive_expiry;
                    let now = Instant::now();
                    let mut st = shared.lock();
                    match st.sweep(expiry, now) {
                        Some(at) => at,
                        // nothing idle, but connections open: one released
                        // from now on expires `expiry` from now at the
                        // earliest, so the reaper waits that long rather than
                        // ending, to be started again by the next release
                        // (under load, nothing is idle for a moment about
                        // every other request:
                        // `the_reaper_stays_while_connections_are_open`)
                        None if st.open > 0 && !st.closed && !expiry.is_zero() => {
                            httpswap_adapter::deadline_after(now, expiry)
                        }
                        None => {
                            st.reaper = false;
                            return;
                        }
                    }
                };
                tokio::time::sleep_until(next).await;
            }
        });
        true
    }
}
