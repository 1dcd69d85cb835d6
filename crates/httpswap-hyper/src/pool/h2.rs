//! HTTP/2 connections: one per origin, shared by all its requests, and
//! the mark of a connect that may turn out HTTP/2 (the origin's other
//! requests wait for it rather than each opening its own).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::idle::Reaper;
use super::{Poolable, Shared, State};

pub(super) struct H2Entry<C: Poolable> {
    pub(super) id: u64,
    pub(super) handle: C::H2,
    pub(super) streams: usize,
    pub(super) since: Instant,
    /// No new stream from then on: `max_lifetime` after it connected.
    pub(super) retire_at: Option<Instant>,
    /// The stream limit assumed until the server's own is read: that of
    /// the origin's other connections (a new connection's SETTINGS arrive
    /// after its first requests are handed out).
    pub(super) assumed_max: usize,
}
impl<C: Poolable> H2Entry<C> {
    /// Open, and busy or idle for less than `expiry`.
    pub(super) fn usable(&self, now: Instant, expiry: Duration) -> bool {
        !C::h2_is_closed(&self.handle)
            && (self.streams > 0 || now.saturating_duration_since(self.since) < expiry)
            && self.retire_at.is_none_or(|t| now < t)
    }

    /// One more stream on this connection.
    /// Room for one more stream under the server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (as far as it is known).
    pub(super) fn has_room(&self) -> bool {
        let max = match C::h2_max_streams(&self.handle) {
            usize::MAX => self.assumed_max,
            known => known,
        };
        self.streams < max
    }

    pub(super) fn lease(&mut self, shared: &Arc<Shared<C>>, target: &C::Key) -> H2Lease<C> {
        self.streams += 1;
        H2Lease {
            shared: shared.clone(),
            target: target.clone(),
            id: self.id,
            handle: self.handle.clone(),
        }
    }
}
/// One stream on a shared HTTP/2 connection.
pub(crate) struct H2Lease<C: Poolable> {
    pub(super) shared: Arc<Shared<C>>,
    pub(super) target: C::Key,
    pub(crate) id: u64,
    pub(crate) handle: C::H2,
}
impl<C: Poolable> Drop for H2Lease<C> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        let mut now_idle = false;
        let mut was_full = false;
        let list = st.h2.get_mut(&self.target);
        if let Some(e) = list.and_then(|l| l.iter_mut().find(|e| e.id == self.id)) {
            was_full = !e.has_room();
            e.streams -= 1;
            if e.streams == 0 {
                e.since = Instant::now();
                now_idle = true;
            }
        }
        if now_idle {
            if st.idle_count() > self.shared.limits.max_keepalive_connections || st.closed {
                st.remove_h2(&self.target, self.id);
            } else if !st.reaper {
                st.reaper = Reaper::spawn(&self.shared);
            }
        }
        if was_full {
            // requests to the origin waiting for a stream look again
            st.look_again(&self.target);
        }
        let wake = now_idle && st.waiters > 0;
        drop(st);
        if wake {
            self.shared.notify.notify_one();
        }
    }
}

/// What the HTTP/2 connections to an origin offer a request.
pub(super) enum H2Look<C: Poolable> {
    /// A stream on one of them.
    Stream(H2Lease<C>),
    /// They are all at the server's stream limit: another may be opened.
    Full,
    /// There is none.
    None,
}

impl<C: Poolable> State<C> {
    /// A stream on a usable HTTP/2 connection to `target` with room for it
    /// (the oldest first, so the newer ones can go idle); unusable ones are
    /// dropped.
    pub(super) fn h2_stream(
        &mut self,
        shared: &Arc<Shared<C>>,
        target: &C::Key,
        now: Instant,
        expiry: Duration,
    ) -> H2Look<C> {
        let Some(list) = self.h2.get_mut(target) else {
            return H2Look::None;
        };
        list.retain(|e| e.usable(now, expiry));
        if let Some(e) = list.iter_mut().find(|e| e.has_room()) {
            return H2Look::Stream(e.lease(shared, target));
        }
        if list.is_empty() {
            self.h2.remove(target);
            return H2Look::None;
        }
        H2Look::Full
    }

    /// The HTTP/2 connection idle the longest (no stream), if any.
    pub(super) fn oldest_idle_h2(&self) -> Option<(C::Key, u64)> {
        self.h2
            .iter()
            .flat_map(|(k, list)| list.iter().map(move |e| (k, e)))
            .filter(|(_, e)| e.streams == 0)
            .min_by_key(|(_, e)| e.since)
            .map(|(k, e)| (k.clone(), e.id))
    }

    /// Forgets the HTTP/2 connection `id` to `target` (its handle closes
    /// the connection once its last stream ends).
    pub(super) fn remove_h2(&mut self, target: &C::Key, id: u64) {
        if let Some(list) = self.h2.get_mut(target) {
            list.retain(|e| e.id != id);
            if list.is_empty() {
                self.h2.remove(target);
            }
        }
    }
}

pub(crate) struct H2Pending<C: Poolable> {
    pub(super) shared: Arc<Shared<C>>,
    pub(super) target: C::Key,
}
impl<C: Poolable> H2Pending<C> {
    /// The connect made an HTTP/1 connection although HTTP/2 was offered:
    /// later connects to this origin are not waited for.
    pub(crate) fn got_http1(&self) {
        let mut st = self.shared.lock();
        if st.h1_only.len() < MAX_REMEMBERED_ORIGINS {
            st.h1_only.insert(self.target.clone());
        }
    }
}
impl<C: Poolable> Drop for H2Pending<C> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.h2_pending.remove(&self.target) {
            st.look_again(&self.target);
        }
    }
}
/// How many origins [`H2Pending::got_http1`] remembers.
pub(super) const MAX_REMEMBERED_ORIGINS: usize = 4096;
