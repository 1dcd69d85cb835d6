//! What the pool hands out, and what gives it back: a lease on a
//! connection (HTTP/1: the connection itself; HTTP/2: one stream), and the
//! slot of a socket being made.

use std::sync::Arc;

use httpswap_core::Error;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::h2::H2Lease;
use super::idle::{IdleH1, Reaper};
use super::{Poolable, Shared};

/// A connection leased for one request.
pub(crate) enum Lease<C: Poolable> {
    /// An HTTP/1 connection.
    H1(H1Lease<C>),
    /// A stream on a shared HTTP/2 connection (boxed: a lease moves with
    /// every request's state, and keeps it small).
    H2(Box<H2Lease<C>>),
}
/// What `acquire` hands out.
pub(crate) enum Checkout<C: Poolable> {
    /// A connection that was open already.
    Reused(Lease<C>),
    /// A connection made for this request.
    Created(Lease<C>),
    /// A slot for a connection the caller makes itself (`fresh` requests).
    New(Slot<C>),
}
/// The result of a connect started for a request.
pub(crate) type PendingConnect<C> = oneshot::Receiver<Result<Lease<C>, Error>>;
/// A reserved socket slot, given back when dropped. Moved into the
/// connection task, so it lives exactly as long as the socket.
pub(crate) struct Slot<C: Poolable> {
    pub(super) shared: Arc<Shared<C>>,
    /// The origin, counted in `State::open_per_key`, with a per-host limit.
    pub(super) key: Option<C::Key>,
}
impl<C: Poolable> Drop for Slot<C> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.open -= 1;
        if let Some(key) = &self.key {
            st.close_one_of(key);
        }
        let wake = st.waiters > 0;
        drop(st);
        if wake {
            if self.key.is_some() {
                // waiters may be for other origins than this slot's: each
                // looks again
                self.shared.notify.notify_waiters();
            } else {
                self.shared.notify.notify_one();
            }
        }
    }
}
/// An HTTP/1 connection leased for one request. Dropped before
/// [`release`](H1Lease::release): the connection is closed.
pub(crate) struct H1Lease<C: Poolable> {
    pub(super) shared: Arc<Shared<C>>,
    /// Boxed: leases move with every request's state, and a connection
    /// handle is large.
    pub(super) conn: Option<Box<C>>,
}
impl<C: Poolable> H1Lease<C> {
    /// `taken_at`: the clock as the pool read it to hand the connection out
    /// without waiting (see [`Poolable::set_checkout_time`]); set for
    /// every lease, so none sees an earlier one's.
    pub(super) fn new(
        shared: &Arc<Shared<C>>,
        mut conn: Box<C>,
        taken_at: Option<Instant>,
    ) -> Self {
        conn.set_checkout_time(taken_at);
        H1Lease {
            shared: shared.clone(),
            conn: Some(conn),
        }
    }

    pub(crate) fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("leased connection present until release")
    }

    /// The response was read to its end: keep the connection for reuse
    /// (if the keep-alive limit allows).
    pub(crate) fn release(mut self) {
        let Some(conn) = self.conn.take() else { return };
        // read before the lock is taken, not while others wait for it
        let now = Instant::now();
        let shared = &*self.shared;
        let mut st = shared.lock();
        st.h1_in_use -= 1;
        let expires = httpswap_adapter::deadline_after(now, shared.limits.keepalive_expiry);
        let until = conn.reuse_until().map_or(expires, |t| t.min(expires));
        if st.closed || conn.is_closed() || until <= now {
            drop(st);
            return;
        }
        let Some(conn) = st.hand_off(conn) else {
            return;
        };
        let keep = st.idle_count() < shared.limits.max_keepalive_connections;
        let mut dropped = None;
        if keep {
            st.idle.push_back(IdleH1 { conn, until });
            if !st.reaper {
                st.reaper = Reaper::spawn(&self.shared);
            }
        } else {
            dropped = Some(conn);
        }
        let wake = st.waiters > 0;
        drop(st);
        drop(dropped);
        if wake {
            shared.notify.notify_one();
        }
    }
}
impl<C: Poolable> Drop for H1Lease<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut st = self.shared.lock();
            st.h1_in_use -= 1;
            drop(st);
            // dropping the handle ends the connection task, whose slot then
            // wakes a waiter
            drop(conn);
        }
    }
}
