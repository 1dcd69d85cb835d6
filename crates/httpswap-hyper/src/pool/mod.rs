//! The connection pool, with httpx semantics.
//!
//! - A *slot* is taken for every socket from the moment it starts to
//!   connect until its connection task has ended (the socket is closed), so
//!   the number of sockets never exceeds `max_connections`, across hosts.
//! - Idle HTTP/1 connections wait in one queue, oldest first. A request
//!   takes the most recent idle connection of its origin; with no slot
//!   free it evicts the oldest idle connection of any origin and waits for
//!   the slot to come back; with nothing to evict it waits, up to the pool
//!   timeout.
//! - An HTTP/2 connection is shared by all requests to its origin.
//! - On release, a connection is kept only while fewer than
//!   `max_keepalive_connections` are idle; idle connections older than
//!   `keepalive_expiry` are closed (by a reaper task) and never handed out.
//!
//! The pool is generic over what it pools ([`Poolable`]): the transport
//! pools hyper's connection handles (`crate::h1::H1Conn`), and the unit
//! tests (`tests.rs`) plain values, so its rules are tested without
//! sockets.
//!
//! - `lease.rs`: what `acquire` hands out, and what gives a connection or
//!   a slot back;
//! - `idle.rs`: the idle queue's upkeep (expiry, the reaper task);
//! - `h2.rs`: HTTP/2 connections, shared by their origin's requests;
//! - `waiting.rs`: requests waiting for a connection or a slot.
//!
//! This file stays whole (about 650 lines): `acquire`'s loop and the one
//! critical section it looks through (`try_take`) keep the pool's rules
//! under one lock (slots, per-origin counts, idle queue, hand-offs, HTTP/2
//! sharing), and are read together when one of them changes.

mod h2;
mod idle;
mod lease;
#[cfg(test)]
mod tests;
mod waiting;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use httpswap_core::events::ConnectionEvent;
use httpswap_core::{Error, ErrorKind, Events, Limits, PoolStats};
use tokio::sync::{oneshot, Notify};
use tokio::time::Instant;

use crate::error::BACKEND;

use h2::{H2Entry, H2Look};
pub(crate) use h2::{H2Lease, H2Pending};
use idle::IdleH1;
pub(crate) use lease::{Checkout, H1Lease, Lease, PendingConnect, Slot};
pub(crate) use waiting::Handoff;
use waiting::{sleep_until_opt, HandoffRx, OwnConnect, WaiterGuard};

/// What the pool keeps: an HTTP/1 connection handle, owned by one request
/// at a time, and (for HTTP/2) a handle shared by its streams.
pub(crate) trait Poolable: Send + 'static {
    /// Where a connection goes: requests with equal keys share connections.
    type Key: Clone + Eq + Hash + Debug + Send + Sync + 'static;
    /// The handle of an HTTP/2 connection, cloned for each stream.
    type H2: Clone + Send + Sync + 'static;

    fn key(&self) -> &Self::Key;
    /// The connection's number, for events.
    fn id(&self) -> u64;
    /// The connection has ended (the server closed it, or it failed).
    fn is_closed(&self) -> bool;
    /// Ready for a request now (not still finishing the last response).
    fn is_ready(&self) -> bool;
    /// Ready once the connection can take a request: `true`, or `false`
    /// once it has ended instead.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<bool>;
    /// The clock as the pool read it when it handed the connection out
    /// without waiting (`None` otherwise): a request can start its timers
    /// from there instead of reading the clock again.
    fn set_checkout_time(&mut self, at: Option<Instant>);
    /// The moment from which the connection must not be reused, by its
    /// own account (its lifetime, the server's keep-alive hint), if any.
    fn reuse_until(&self) -> Option<Instant>;
    /// The HTTP/2 connection has ended.
    fn h2_is_closed(h2: &Self::H2) -> bool;
    /// The server's `SETTINGS_MAX_CONCURRENT_STREAMS` on that connection
    /// (`usize::MAX` until known): beyond it, another connection is made.
    fn h2_max_streams(h2: &Self::H2) -> usize;
    /// The origin a key goes to, as events name it.
    fn origin(key: &Self::Key) -> String;
}

pub(crate) struct Pool<C: Poolable> {
    shared: Arc<Shared<C>>,
}
struct Shared<C: Poolable> {
    state: Mutex<State<C>>,
    notify: Notify,
    limits: Limits,
    next_id: AtomicU64,
}
struct State<C: Poolable> {
    /// Slots taken: sockets open or being opened.
    open: usize,
    /// The same, per origin, kept only with `max_connections_per_host`.
    open_per_key: HashMap<C::Key, usize>,
    /// HTTP/1 connections leased out.
    h1_in_use: usize,
    idle: VecDeque<IdleH1<C>>,
    /// HTTP/2 connections by origin: more than one when the first are at
    /// the server's stream limit.
    h2: HashMap<C::Key, Vec<H2Entry<C>>>,
    closed: bool,
    reaper: bool,
    /// Requests waiting for a slot: slot releases notify only when there
    /// are some.
    waiters: usize,
    /// Requests waiting for a connection to their origin, oldest first: a
    /// released connection goes to the first of them instead of the idle
    /// queue.
    handoff: HashMap<C::Key, VecDeque<oneshot::Sender<Handoff<C>>>>,
    /// Origins a connection that may turn out HTTP/2 is being made to: other
    /// requests to them wait for it and share it rather than each opening
    /// a connection of its own (see [`H2Pending`]).
    h2_pending: HashSet<C::Key>,
    /// Origins that answered HTTP/1 where HTTP/2 was offered: their
    /// connects are not waited for.
    h1_only: HashSet<C::Key>,
    /// Counters for [`PoolStats`], kept under the lock that the pool takes
    /// anyway (atomics of their own moved a cache line between the cores
    /// on every request).
    created: u64,
    reused: u64,
    waited: u64,
}
impl<C: Poolable> Default for State<C> {
    fn default() -> Self {
        State {
            open: 0,
            open_per_key: HashMap::new(),
            h1_in_use: 0,
            idle: VecDeque::new(),
            h2: HashMap::new(),
            closed: false,
            reaper: false,
            waiters: 0,
            handoff: HashMap::new(),
            h2_pending: HashSet::new(),
            h1_only: HashSet::new(),
            created: 0,
            reused: 0,
            waited: 0,
        }
    }
}
impl<C: Poolable> State<C> {
    /// Whether `key` has as many sockets as `limit` allows.
    fn origin_full(&self, key: &C::Key, limit: Option<usize>) -> bool {
        limit.is_some_and(|max| self.open_per_key.get(key).copied().unwrap_or(0) >= max)
    }

    /// One socket of `key` fewer.
    fn close_one_of(&mut self, key: &C::Key) {
        if let Some(n) = self.open_per_key.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.open_per_key.remove(key);
            }
        }
    }
}
impl<C: Poolable> Shared<C> {
    fn lock(&self) -> MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
fn reused_event<C: Poolable>(
    target: &C::Key,
    id: u64,
    http2: bool,
    events: Option<&Arc<dyn Events>>,
) {
    if let Some(ev) = events {
        ev.connection_reused(&ConnectionEvent::new(C::origin(target), id, http2));
    }
}
/// What one look at the pool found.
struct Look<C: Poolable> {
    take: Option<Take<C>>,
    handoff: Option<oneshot::Receiver<Handoff<C>>>,
    /// Nothing taken because a connection that may be HTTP/2 is being made
    /// to the origin: wait for it.
    awaiting_h2: bool,
}
/// Outcome of one look at the pool state.
enum Take<C: Poolable> {
    H1(H1Lease<C>),
    H2(H2Lease<C>),
    /// A slot, and the mark of a connect that may turn out HTTP/2.
    New(Slot<C>, Option<H2Pending<C>>),
}
impl<C: Poolable> Pool<C> {
    pub(crate) fn new(limits: Limits) -> Self {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                limits,
                next_id: AtomicU64::new(1),
            }),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A connection for `target`.
    ///
    /// An idle connection (or a stream on an HTTP/2 one) is reused. Else,
    /// with a slot free, `connect` starts a connection in the background
    /// and the request takes whichever comes first: that connection, or
    /// one of its origin released meanwhile (the other one then goes to the
    /// pool). With no slot free, the request waits (up to the pool timeout)
    /// for a slot or a released connection. `fresh` requests skip idle
    /// connections and get a slot to connect with themselves.
    ///
    /// Errors: `PoolTimeout` after `pool_timeout` without a slot, `Closed`
    /// once closed, or the error of the connect started for this request.
    ///
    /// `may_h2`: a connection made to `target` may turn out HTTP/2 (offered
    /// by ALPN, or prior knowledge): while one is being made, others wait
    /// for it rather than each opening their own ([`H2Pending`]).
    pub(crate) async fn acquire(
        &self,
        target: &C::Key,
        fresh: bool,
        may_h2: bool,
        pool_timeout: Option<Duration>,
        events: Option<&Arc<dyn Events>>,
        mut connect: impl FnMut(Slot<C>, Option<H2Pending<C>>) -> PendingConnect<C>,
    ) -> Result<Checkout<C>, Error> {
        let deadline = pool_timeout.map(|d| httpswap_adapter::deadline_after(Instant::now(), d));
        let mut queued: Option<WaiterGuard<'_, C>> = None;
        let mut own: Option<OwnConnect<C>> = None;
        let mut handoff: Option<HandoffRx<C>> = None;
        let mut yielded = fresh;
        loop {
            // a connection handed over while we were not looking
            if let Some(guard) = &mut handoff {
                if let Ok(h) = guard.rx.try_recv() {
                    let guard = handoff.take().expect("present");
                    if let Some(c) = self
                        .handed_over(guard, Some(h), target, deadline, events)
                        .await
                    {
                        return Ok(c);
                    }
                    continue;
                }
            }
            // Register interest before looking, so that a release between
            // the look and the wait is not missed. The fast path (something
            // is free) registers nothing.
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            if queued.is_some() {
                notified.as_mut().enable();
            }
            let register = queued.as_ref().is_some_and(|g| !g.registered);
            let want_handoff = !fresh && handoff.is_none();
            let want_slot = own.is_none() && yielded;
            let look = self.try_take(target, fresh, want_slot, register, want_handoff, may_h2)?;
            if let Some(rx) = look.handoff {
                handoff = Some(HandoffRx {
                    rx,
                    shared: self.shared.clone(),
                });
            }
            match look.take {
                Some(Take::New(slot, _)) if fresh => return Ok(Checkout::New(slot)),
                Some(Take::New(slot, pending)) => {
                    own = Some(OwnConnect(connect(slot, pending)));
                    continue;
                }
                Some(Take::H2(lease)) => {
                    self.reused(target, lease.id, true, events);
                    return Ok(Checkout::Reused(Lease::H2(Box::new(lease))));
                }
                Some(Take::H1(lease)) => {
                    if let Some(lease) = self.ready(lease, deadline).await {
                        return Ok(self.reused_h1(target, lease, events));
                    }
                    continue;
                }
                None => {}
            }
            if !yielded {
                // Nothing idle. Before opening a connection, give the tasks
                // ready to run one turn: requests finishing now hand their
                // connection to us (we are enrolled), which saves a connect
                // in a burst.
                yielded = true;
                tokio::task::yield_now().await;
                continue;
            }
            if look.awaiting_h2 {
                // a connection that may be HTTP/2 is being made to the
                // origin: wait to share it (a hand-off says look again)
                let pool_deadline = deadline;
                tokio::select! {
                    biased;
                    h = async { (&mut handoff.as_mut().expect("enrolled").rx).await }, if handoff.is_some() => {
                        let guard = handoff.take().expect("guarded");
                        if let Some(c) = self.handed_over(guard, h.ok(), target, deadline, events).await {
                            return Ok(c);
                        }
                        continue;
                    }
                    () = sleep_until_opt(pool_deadline) => return Err(pool_timed_out(pool_timeout)),
                }
            }
            if own.is_none() {
                // no slot: wait as a queued request
                let Some(guard) = &mut queued else {
                    queued = Some(WaiterGuard::new(self, target, events));
                    continue;
                };
                guard.registered |= register;
            }
            let pool_deadline = deadline.filter(|_| own.is_none());
            tokio::select! {
                biased;
                r = async { (&mut own.as_mut().expect("guarded").0).await }, if own.is_some() => {
                    own = None;
                    match r {
                        Ok(Ok(leased)) => return Ok(Checkout::Created(leased)),
                        Ok(Err(e)) => return Err(e),
                        Err(_) => continue,
                    }
                }
                h = async { (&mut handoff.as_mut().expect("guarded").rx).await }, if handoff.is_some() => {
                    let guard = handoff.take().expect("guarded");
                    if let Some(c) = self.handed_over(guard, h.ok(), target, deadline, events).await {
                        return Ok(c);
                    }
                    continue;
                }
                () = &mut notified, if queued.is_some() => continue,
                () = sleep_until_opt(pool_deadline), if pool_deadline.is_some() => {
                    return Err(pool_timed_out(pool_timeout));
                }
            }
        }
    }

    /// The fast path of [`acquire`](Self::acquire), without waiting: the
    /// stream of an HTTP/2 connection to `target`, or its newest idle
    /// HTTP/1 connection when that is ready for a request now. Anything
    /// else (nothing idle, a connection still finishing its last response,
    /// an expired or closed one, a closed pool) is left to `acquire`.
    pub(crate) fn try_idle(
        &self,
        target: &C::Key,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<Checkout<C>> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.closed {
            return None;
        }
        let now = Instant::now();
        let expiry = shared.limits.keepalive_expiry;
        match st.h2_stream(shared, target, now, expiry) {
            H2Look::Stream(lease) => {
                st.reused += 1;
                drop(st);
                reused_event::<C>(target, lease.id, true, events);
                return Some(Checkout::Reused(Lease::H2(Box::new(lease))));
            }
            H2Look::Full => return None,
            H2Look::None => {}
        }
        let pos = st.idle.iter().rposition(|i| i.conn.key() == target)?;
        self.take_ready(st, pos, now, events)
            .map(|lease| Checkout::Reused(Lease::H1(lease)))
    }

    /// The fastest path, for a request that can tell its connection's key
    /// without building one: the newest idle HTTP/1 connection whose key
    /// `matches`, when it is ready now. `None` for anything else, and
    /// whenever an HTTP/2 connection is up (its requests take `try_idle`).
    pub(crate) fn try_idle_where(
        &self,
        matches: impl Fn(&C::Key) -> bool,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<H1Lease<C>> {
        let st = self.shared.lock();
        if st.closed || !st.h2.is_empty() {
            return None;
        }
        let pos = st.idle.iter().rposition(|i| matches(i.conn.key()))?;
        self.take_ready(st, pos, Instant::now(), events)
    }

    /// The idle HTTP/1 connection at `pos`, leased, if it has not expired
    /// and is ready for a request now (the lock held as `st`).
    fn take_ready(
        &self,
        mut st: MutexGuard<'_, State<C>>,
        pos: usize,
        now: Instant,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<H1Lease<C>> {
        let idle = &st.idle[pos];
        if idle.conn.is_closed() {
            // ended, or poisoned while idle: let it go (its task gives its
            // socket's slot back)
            let gone = st.idle.remove(pos);
            drop(st);
            drop(gone);
            return None;
        }
        if idle.until <= now || !idle.conn.is_ready() {
            return None;
        }
        let idle = st.idle.remove(pos).expect("position is valid");
        st.h1_in_use += 1;
        st.reused += 1;
        drop(st);
        reused_event::<C>(idle.conn.key(), idle.conn.id(), false, events);
        Some(H1Lease::new(&self.shared, idle.conn, Some(now)))
    }

    /// The lease if its connection is (or becomes) ready for a request; a
    /// dead one is closed. The dispatcher may still be finishing the last
    /// response.
    async fn ready(&self, mut lease: H1Lease<C>, deadline: Option<Instant>) -> Option<H1Lease<C>> {
        let conn = lease.conn();
        let ok = conn.is_ready() || {
            let ready = std::future::poll_fn(|cx| conn.poll_ready(cx));
            match deadline {
                Some(d) => matches!(tokio::time::timeout_at(d, ready).await, Ok(true)),
                None => ready.await,
            }
        };
        ok.then_some(lease)
    }

    /// A connection handed over to a waiting request (`guard`): leased, and
    /// reused once ready. `None` (look again) for anything but a live
    /// HTTP/1 connection.
    async fn handed_over(
        &self,
        guard: HandoffRx<C>,
        handed: Option<Handoff<C>>,
        target: &C::Key,
        deadline: Option<Instant>,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<Checkout<C>> {
        let Some(Handoff::H1(conn)) = handed else {
            return None;
        };
        let lease = self.ready(guard.adopt(conn), deadline).await?;
        Some(self.reused_h1(target, lease, events))
    }

    fn reused_h1(
        &self,
        target: &C::Key,
        mut lease: H1Lease<C>,
        events: Option<&Arc<dyn Events>>,
    ) -> Checkout<C> {
        let id = lease.conn().id();
        self.reused(target, id, false, events);
        Checkout::Reused(Lease::H1(lease))
    }

    fn reused(&self, target: &C::Key, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.lock().reused += 1;
        reused_event::<C>(target, id, http2, events);
    }

    /// One look at the pool, in one critical section. Takes an idle
    /// connection, or (with `want_slot`) a slot. Finding nothing, it counts
    /// the caller as a queued waiter (`register`) and enrols it for
    /// hand-offs (`want_handoff`), so no release can slip between the look
    /// and the wait.
    fn try_take(
        &self,
        target: &C::Key,
        fresh: bool,
        want_slot: bool,
        register: bool,
        want_handoff: bool,
        may_h2: bool,
    ) -> Result<Look<C>, Error> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.closed {
            return Err(Error::closed().with_backend(BACKEND));
        }
        let now = Instant::now();
        let expiry = shared.limits.keepalive_expiry;
        let mut dead = Vec::new();
        let found = |take| {
            Ok(Look {
                take: Some(take),
                handoff: None,
                awaiting_h2: false,
            })
        };
        let share_h2 = may_h2 && !fresh && !st.h1_only.contains(target);
        let mut awaiting_h2 = false;
        if !fresh {
            // at the server's stream limit, a new connection is made (and
            // shared by the requests beyond it), within the limits
            if let H2Look::Stream(lease) = st.h2_stream(shared, target, now, expiry) {
                return found(Take::H2(lease));
            }
            // newest first; an expired or closed one is closed, not reused
            while let Some(pos) = st.idle.iter().rposition(|i| i.conn.key() == target) {
                let idle = st.idle.remove(pos).expect("position is valid");
                if idle.until <= now || idle.conn.is_closed() {
                    dead.push(idle);
                    continue;
                }
                st.h1_in_use += 1;
                drop(st);
                drop(dead);
                return found(Take::H1(H1Lease::new(shared, idle.conn, None)));
            }
        }
        if want_slot && share_h2 && st.h2_pending.contains(target) {
            awaiting_h2 = true;
        } else if want_slot {
            let per_host = shared.limits.max_connections_per_host;
            // a full origin waits for one of its own sockets to close; a
            // full pool closes an idle socket of any origin
            let origin_full = st.origin_full(target, per_host);
            if !origin_full && st.open < shared.limits.max_connections {
                st.open += 1;
                let key = per_host.map(|_| {
                    *st.open_per_key.entry(target.clone()).or_default() += 1;
                    target.clone()
                });
                let pending = share_h2.then(|| {
                    st.h2_pending.insert(target.clone());
                    H2Pending {
                        shared: shared.clone(),
                        target: target.clone(),
                    }
                });
                drop(st);
                drop(dead);
                return found(Take::New(
                    Slot {
                        shared: shared.clone(),
                        key,
                    },
                    pending,
                ));
            }
            // No slot in the pool: close the oldest idle connection so that
            // its slot comes back when its task ends (queued waiters are
            // woken then). An origin at its own limit waits for one of its
            // sockets instead: closing another origin's would not help it.
            if !origin_full {
                if let Some(oldest) = st.idle.pop_front() {
                    dead.push(oldest);
                } else if let Some((k, id)) = st.oldest_idle_h2() {
                    st.remove_h2(&k, id);
                }
            }
        }
        if register {
            st.waiters += 1;
        }
        let handoff = want_handoff.then(|| {
            let (tx, rx) = oneshot::channel();
            let queue = st.handoff.entry(target.clone()).or_default();
            while queue.front().is_some_and(|t| t.is_closed()) {
                queue.pop_front();
            }
            queue.push_back(tx);
            rx
        });
        drop(st);
        drop(dead);
        Ok(Look {
            take: None,
            handoff,
            awaiting_h2,
        })
    }

    /// Leases a new HTTP/1 connection made with a slot from `acquire`.
    pub(crate) fn lease_new_h1(
        &self,
        conn: Box<C>,
        events: Option<&Arc<dyn Events>>,
    ) -> H1Lease<C> {
        self.created(conn.key(), conn.id(), false, events);
        self.shared.lock().h1_in_use += 1;
        H1Lease::new(&self.shared, conn, None)
    }

    /// Registers a new HTTP/2 connection and leases its first stream.
    pub(crate) fn lease_new_h2(
        &self,
        target: &C::Key,
        id: u64,
        handle: C::H2,
        events: Option<&Arc<dyn Events>>,
    ) -> H2Lease<C> {
        self.created(target, id, true, events);
        let mut st = self.shared.lock();
        let list = st.h2.entry(target.clone()).or_default();
        let assumed_max = list
            .iter()
            .map(|e| C::h2_max_streams(&e.handle))
            .min()
            .unwrap_or(usize::MAX);
        list.push(H2Entry {
            id,
            handle: handle.clone(),
            streams: 1,
            since: Instant::now(),
            retire_at: self
                .shared
                .limits
                .max_lifetime
                .and_then(|d| Instant::now().checked_add(d)),
            assumed_max,
        });
        st.h2_pending.remove(target);
        st.look_again(target);
        H2Lease {
            shared: self.shared.clone(),
            target: target.clone(),
            id,
            handle,
        }
    }

    fn created(&self, target: &C::Key, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.lock().created += 1;
        if let Some(ev) = events {
            ev.connection_created(&ConnectionEvent::new(C::origin(target), id, http2));
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        let h2_busy = st.h2.values().flatten().filter(|e| e.streams > 0).count();
        let to = |n: usize| Some(n as u64);
        PoolStats {
            open: to(st.open),
            idle: to(st.idle_count()),
            in_use: to(st.h1_in_use + h2_busy),
            created: Some(st.created),
            reused: Some(st.reused),
            waited: Some(st.waited),
        }
    }

    /// Closes idle connections and refuses new requests.
    pub(crate) fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        let idle = std::mem::take(&mut st.idle);
        let h2 = std::mem::take(&mut st.h2);
        let handoff = std::mem::take(&mut st.handoff);
        drop(st);
        drop(idle);
        drop(h2);
        drop(handoff);
        self.shared.notify.notify_waiters();
    }
}

/// The error of a request that waited the whole pool timeout for a
/// connection.
fn pool_timed_out(pool_timeout: Option<std::time::Duration>) -> Error {
    let waited = pool_timeout.unwrap_or_default();
    Error::timeout(ErrorKind::PoolTimeout, waited, "a free connection").with_backend(BACKEND)
}
