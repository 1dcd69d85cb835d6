//! Requests waiting for a connection: counted while they wait for a slot,
//! and enrolled for hand-offs, so a connection released to their origin
//! goes to the oldest of them instead of the idle queue.

use std::sync::Arc;

use httpswap_core::events::ConnectionEvent;
use httpswap_core::Events;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::lease::{H1Lease, Lease, PendingConnect};
use super::{Pool, Poolable, Shared, State};

/// What a waiting request is handed.
pub(crate) enum Handoff<C: Poolable> {
    /// A released HTTP/1 connection, already counted in use.
    H1(Box<C>),
    /// An HTTP/2 connection to the origin is up: look again.
    H2,
}
impl<C: Poolable> State<C> {
    /// Tells every request waiting for a connection to `target` to look at
    /// the pool again (an HTTP/2 connection is up, or the one being made
    /// will not be shared).
    pub(super) fn look_again(&mut self, target: &C::Key) {
        for tx in self.handoff.remove(target).into_iter().flatten() {
            let _ = tx.send(Handoff::H2);
        }
    }

    /// Gives `conn` to the oldest live waiter for its target, or returns it.
    pub(super) fn hand_off(&mut self, mut conn: Box<C>) -> Option<Box<C>> {
        if self.handoff.is_empty() {
            return Some(conn);
        }
        let target = conn.key().clone();
        let target = &target;
        let Some(queue) = self.handoff.get_mut(target) else {
            return Some(conn);
        };
        while let Some(tx) = queue.pop_front() {
            self.h1_in_use += 1;
            match tx.send(Handoff::H1(conn)) {
                Ok(()) => {
                    if queue.is_empty() {
                        self.handoff.remove(target);
                    }
                    return None;
                }
                Err(Handoff::H1(back)) => {
                    self.h1_in_use -= 1;
                    conn = back;
                }
                Err(Handoff::H2) => unreachable!("sent an H1 hand-off"),
            }
        }
        self.handoff.remove(target);
        Some(conn)
    }
}
/// A request waiting in `acquire`: counted once registered, fires the
/// queued event once, and uncounts itself however the wait ends.
pub(super) struct WaiterGuard<'a, C: Poolable> {
    pub(super) pool: &'a Pool<C>,
    pub(super) registered: bool,
}
impl<'a, C: Poolable> WaiterGuard<'a, C> {
    pub(super) fn new(
        pool: &'a Pool<C>,
        target: &C::Key,
        events: Option<&Arc<dyn Events>>,
    ) -> Self {
        pool.shared.lock().waited += 1;
        if let Some(ev) = events {
            ev.connection_queued(&ConnectionEvent::new(C::origin(target), 0, false));
        }
        tracing::debug!(?target, "waiting for a free connection slot");
        WaiterGuard {
            pool,
            registered: false,
        }
    }
}
impl<C: Poolable> Drop for WaiterGuard<'_, C> {
    fn drop(&mut self) {
        if self.registered {
            self.pool.shared.lock().waiters -= 1;
        }
    }
}
/// A request's own connect: a connection that arrives after the request
/// stopped waiting for it goes to the pool instead of being lost.
pub(super) struct OwnConnect<C: Poolable>(pub(super) PendingConnect<C>);
impl<C: Poolable> Drop for OwnConnect<C> {
    fn drop(&mut self) {
        self.0.close();
        if let Ok(Ok(Lease::H1(lease))) = self.0.try_recv() {
            lease.release();
        }
    }
}
/// A request enrolled for hand-offs: a connection handed to it after it
/// stopped waiting goes back to the pool.
pub(super) struct HandoffRx<C: Poolable> {
    pub(super) rx: oneshot::Receiver<Handoff<C>>,
    pub(super) shared: Arc<Shared<C>>,
}
impl<C: Poolable> HandoffRx<C> {
    /// The lease of a connection handed over (already counted in use).
    pub(super) fn adopt(self, conn: Box<C>) -> H1Lease<C> {
        H1Lease::new(&self.shared, conn, None)
    }
}
impl<C: Poolable> Drop for HandoffRx<C> {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(Handoff::H1(conn)) = self.rx.try_recv() {
            H1Lease::new(&self.shared, conn, None).release();
        }
    }
}
pub(super) async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
