//! HTTP/2 connections: one per origin, shared by all its requests, and
//! the mark of a connect that may turn out HTTP/2 (the origin's other
//! requests wait for it rather than each opening its own).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::idle::Reaper;
use super::{Poolable, Shared};

pub(super) struct H2Entry<C: Poolable> {
    pub(super) id: u64,
    pub(super) handle: C::H2,
    pub(super) streams: usize,
    pub(super) since: Instant,
    /// No new stream from then on: `max_lifetime` after it connected.
    pub(super) retire_at: Option<Instant>,
}
impl<C: Poolable> H2Entry<C> {
    /// Open, and busy or idle for less than `expiry`.
    pub(super) fn usable(&self, now: Instant, expiry: Duration) -> bool {
        !C::h2_is_closed(&self.handle)
            && (self.streams > 0 || self.since + expiry > now)
            && self.retire_at.is_none_or(|t| now < t)
    }

    /// One more stream on this connection.
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
        if let Some(e) = st.h2.get_mut(&self.target) {
            if e.id == self.id {
                e.streams -= 1;
                if e.streams == 0 {
                    e.since = Instant::now();
                    now_idle = true;
                }
            }
        }
        if now_idle {
            // over the keep-alive limit: close this connection
            if st.idle_count() > self.shared.limits.max_keepalive_connections || st.closed {
                st.h2.remove(&self.target);
            } else if !st.reaper {
                st.reaper = Reaper::spawn(&self.shared);
            }
        }
        let wake = now_idle && st.waiters > 0;
        drop(st);
        if wake {
            self.shared.notify.notify_one();
        }
    }
}
/// Marks a connect to an origin as one that may turn out HTTP/2, while it
/// runs: other requests to that origin wait for it (within their pool
/// timeout) instead of opening connections of their own, and share it if
/// it is HTTP/2. Dropped when the connect ends, however it ends; the
/// waiters then look again (an HTTP/1 connection is not shared: they open
/// their own, or take it once released).
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
