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

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use httpswap_core::events::ConnectionEvent;
use httpswap_core::{Error, ErrorKind, Events, Limits, PoolStats};
use hyper::client::conn::{http1, http2};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::body::ReqBody;
use crate::connect::Target;
use crate::error::BACKEND;
use crate::io::WriteTimeout;

pub(crate) type H1Sender = http1::SendRequest<ReqBody>;
pub(crate) type H2Sender = http2::SendRequest<ReqBody>;

pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    notify: Notify,
    limits: Limits,
    next_id: AtomicU64,
    created: AtomicU64,
    reused: AtomicU64,
    waited: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Slots taken: sockets open or being opened.
    open: usize,
    /// HTTP/1 connections leased out.
    h1_in_use: usize,
    idle: VecDeque<IdleH1>,
    h2: HashMap<Target, H2Entry>,
    closed: bool,
    reaper: bool,
    /// Requests waiting for a slot or an idle connection: releases notify
    /// only when there are some.
    waiters: usize,
}

struct IdleH1 {
    target: Target,
    conn: H1Conn,
    since: Instant,
}

/// An HTTP/1 connection handle.
pub(crate) struct H1Conn {
    pub(crate) id: u64,
    pub(crate) sender: H1Sender,
    pub(crate) write_timeout: WriteTimeout,
}

struct H2Entry {
    id: u64,
    sender: H2Sender,
    write_timeout: WriteTimeout,
    streams: usize,
    since: Instant,
}

/// What `acquire` hands out.
pub(crate) enum Checkout {
    /// A reused HTTP/1 connection.
    H1(H1Lease),
    /// A stream on a shared HTTP/2 connection.
    H2(H2Lease),
    /// A slot for a new connection: connect, then `lease_new_h1`/`h2`.
    New(Slot),
}

/// A reserved socket slot, given back when dropped. Moved into the
/// connection task, so it lives exactly as long as the socket.
pub(crate) struct Slot {
    shared: Arc<Shared>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.open -= 1;
        let wake = st.waiters > 0;
        drop(st);
        if wake {
            self.shared.notify.notify_one();
        }
    }
}

/// An HTTP/1 connection leased for one request. Dropped before
/// [`release`](H1Lease::release): the connection is closed.
pub(crate) struct H1Lease {
    shared: Arc<Shared>,
    target: Target,
    conn: Option<H1Conn>,
}

impl H1Lease {
    pub(crate) fn conn(&mut self) -> &mut H1Conn {
        self.conn
            .as_mut()
            .expect("leased connection present until release")
    }

    /// The response was read to its end: keep the connection for reuse
    /// (if the keep-alive limit allows).
    pub(crate) fn release(mut self) {
        let Some(conn) = self.conn.take() else { return };
        let shared = self.shared.clone();
        let mut st = shared.lock();
        st.h1_in_use -= 1;
        let keep = !st.closed
            && !conn.sender.is_closed()
            && st.idle_count() < shared.limits.max_keepalive_connections;
        let mut dropped = None;
        if keep {
            st.idle.push_back(IdleH1 {
                target: self.target.clone(),
                conn,
                since: Instant::now(),
            });
            if !st.reaper {
                st.reaper = Reaper::spawn(&shared);
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

impl Drop for H1Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let mut st = self.shared.lock();
            st.h1_in_use -= 1;
            drop(st);
            // closing the sender ends the connection task, whose slot then
            // wakes a waiter
            drop(conn);
        }
    }
}

/// One stream on a shared HTTP/2 connection.
pub(crate) struct H2Lease {
    shared: Arc<Shared>,
    target: Target,
    pub(crate) id: u64,
    pub(crate) sender: H2Sender,
    pub(crate) write_timeout: WriteTimeout,
}

impl Drop for H2Lease {
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

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn idle_count(&self) -> usize {
        self.idle.len() + self.h2.values().filter(|e| e.streams == 0).count()
    }

    /// Drops expired and closed idle connections; returns when the next
    /// idle connection expires.
    fn sweep(&mut self, expiry: Duration, now: Instant) -> Option<Instant> {
        self.idle
            .retain(|i| i.since + expiry > now && !i.conn.sender.is_closed());
        self.h2
            .retain(|_, e| !e.sender.is_closed() && (e.streams > 0 || e.since + expiry > now));
        let h1 = self.idle.iter().map(|i| i.since + expiry);
        let h2 = self
            .h2
            .values()
            .filter(|e| e.streams == 0)
            .map(|e| e.since + expiry);
        h1.chain(h2).min()
    }
}

struct Reaper;

impl Reaper {
    /// Starts the task that closes expired idle connections; returns
    /// whether it runs (it needs a tokio runtime).
    fn spawn(shared: &Arc<Shared>) -> bool {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let weak: Weak<Shared> = Arc::downgrade(shared);
        handle.spawn(async move {
            loop {
                let next = {
                    let Some(shared) = weak.upgrade() else { return };
                    let mut st = shared.lock();
                    let next = st.sweep(shared.limits.keepalive_expiry, Instant::now());
                    if next.is_none() {
                        st.reaper = false;
                        return;
                    }
                    next
                };
                if let Some(at) = next {
                    tokio::time::sleep_until(at).await;
                }
            }
        });
        true
    }
}

/// A request waiting in `acquire`: counted once registered, fires the
/// queued event once, and uncounts itself however the wait ends.
struct WaiterGuard<'a> {
    pool: &'a Pool,
    registered: bool,
}

impl<'a> WaiterGuard<'a> {
    fn new(pool: &'a Pool, target: &Target, events: Option<&Arc<dyn Events>>) -> Self {
        pool.shared.waited.fetch_add(1, Ordering::Relaxed);
        if let Some(ev) = events {
            ev.connection_queued(&ConnectionEvent::new(target.origin(), 0, false));
        }
        tracing::debug!(?target, "waiting for a free connection slot");
        WaiterGuard {
            pool,
            registered: false,
        }
    }
}

impl Drop for WaiterGuard<'_> {
    fn drop(&mut self) {
        if self.registered {
            self.pool.shared.lock().waiters -= 1;
        }
    }
}

/// Outcome of one look at the pool state.
enum Take {
    H1(H1Lease),
    H2(H2Lease),
    New(Slot),
}

impl Pool {
    pub(crate) fn new(limits: Limits) -> Self {
        Pool {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                notify: Notify::new(),
                limits,
                next_id: AtomicU64::new(1),
                created: AtomicU64::new(0),
                reused: AtomicU64::new(0),
                waited: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A connection (or a slot for a new one) for `target`. With `fresh`,
    /// idle connections are not considered.
    ///
    /// Errors: `PoolTimeout` after `pool_timeout`, `Closed` once closed.
    pub(crate) async fn acquire(
        &self,
        target: &Target,
        fresh: bool,
        pool_timeout: Option<Duration>,
        events: Option<&Arc<dyn Events>>,
    ) -> Result<Checkout, Error> {
        let deadline = pool_timeout.map(|d| Instant::now() + d);
        let mut waiting: Option<WaiterGuard<'_>> = None;
        loop {
            // Register interest before looking, so that a release between
            // the look and the wait is not missed. The fast path (something
            // is free) never registers.
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            if waiting.is_some() {
                notified.as_mut().enable();
            }
            let register = waiting.as_ref().is_some_and(|g| !g.registered);
            let taken = self.try_take(target, fresh, register)?;
            match taken {
                Some(Take::New(slot)) => return Ok(Checkout::New(slot)),
                Some(Take::H2(lease)) => {
                    self.reused(target, lease.id, true, events);
                    return Ok(Checkout::H2(lease));
                }
                Some(Take::H1(mut lease)) => {
                    // the dispatcher may still be finishing the last
                    // response; a dead connection answers with an error
                    let sender = &mut lease.conn().sender;
                    let ok = sender.is_ready()
                        || match deadline {
                            Some(d) => matches!(
                                tokio::time::timeout_at(d, sender.ready()).await,
                                Ok(Ok(()))
                            ),
                            None => sender.ready().await.is_ok(),
                        };
                    if ok {
                        let id = lease.conn().id;
                        self.reused(target, id, false, events);
                        return Ok(Checkout::H1(lease));
                    }
                    drop(lease);
                    continue;
                }
                None => {}
            }
            let Some(guard) = &mut waiting else {
                // nothing free: look again as a registered waiter
                waiting = Some(WaiterGuard::new(self, target, events));
                continue;
            };
            guard.registered |= register;
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        let waited = pool_timeout.unwrap_or_default();
                        return Err(Error::timeout(
                            ErrorKind::PoolTimeout,
                            waited,
                            "a free connection",
                        )
                        .with_backend(BACKEND));
                    }
                }
                None => notified.await,
            }
        }
    }

    fn reused(&self, target: &Target, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.reused.fetch_add(1, Ordering::Relaxed);
        if let Some(ev) = events {
            ev.connection_reused(&ConnectionEvent::new(target.origin(), id, http2));
        }
    }

    /// One look at the pool. With `register`, a caller that finds nothing
    /// is counted as a waiter (in the same critical section, so no release
    /// can slip between the look and the count).
    fn try_take(
        &self,
        target: &Target,
        fresh: bool,
        register: bool,
    ) -> Result<Option<Take>, Error> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.closed {
            return Err(
                Error::new(ErrorKind::Closed, "the transport was closed").with_backend(BACKEND)
            );
        }
        let now = Instant::now();
        let expiry = shared.limits.keepalive_expiry;
        let mut dead = Vec::new();
        if !fresh {
            if let Some(e) = st.h2.get_mut(target) {
                let usable = !e.sender.is_closed() && (e.streams > 0 || e.since + expiry > now);
                if usable {
                    e.streams += 1;
                    return Ok(Some(Take::H2(H2Lease {
                        shared: shared.clone(),
                        target: target.clone(),
                        id: e.id,
                        sender: e.sender.clone(),
                        write_timeout: e.write_timeout.clone(),
                    })));
                }
                st.h2.remove(target);
            }
            // newest first; an expired or closed one is closed, not reused
            while let Some(pos) = st.idle.iter().rposition(|i| i.target == *target) {
                let idle = st.idle.remove(pos).expect("position is valid");
                if idle.since + expiry <= now || idle.conn.sender.is_closed() {
                    dead.push(idle);
                    continue;
                }
                st.h1_in_use += 1;
                drop(st);
                drop(dead);
                return Ok(Some(Take::H1(H1Lease {
                    shared: shared.clone(),
                    target: target.clone(),
                    conn: Some(idle.conn),
                })));
            }
        }
        if st.open < shared.limits.max_connections {
            st.open += 1;
            drop(st);
            drop(dead);
            return Ok(Some(Take::New(Slot {
                shared: shared.clone(),
            })));
        }
        // No slot: close the oldest idle connection so that its slot comes
        // back when its task ends (waiters are woken then).
        if let Some(oldest) = st.idle.pop_front() {
            dead.push(oldest);
        } else {
            let idle_h2 = st
                .h2
                .iter()
                .filter(|(_, e)| e.streams == 0)
                .min_by_key(|(_, e)| e.since)
                .map(|(k, _)| k.clone());
            if let Some(k) = idle_h2 {
                st.h2.remove(&k);
            }
        }
        if register {
            st.waiters += 1;
        }
        drop(st);
        drop(dead);
        Ok(None)
    }

    /// Leases a new HTTP/1 connection made with a slot from `acquire`.
    pub(crate) fn lease_new_h1(
        &self,
        target: &Target,
        conn: H1Conn,
        events: Option<&Arc<dyn Events>>,
    ) -> H1Lease {
        self.created(target, conn.id, false, events);
        self.shared.lock().h1_in_use += 1;
        H1Lease {
            shared: self.shared.clone(),
            target: target.clone(),
            conn: Some(conn),
        }
    }

    /// Registers a new HTTP/2 connection and leases its first stream.
    pub(crate) fn lease_new_h2(
        &self,
        target: &Target,
        id: u64,
        sender: H2Sender,
        write_timeout: WriteTimeout,
        events: Option<&Arc<dyn Events>>,
    ) -> H2Lease {
        self.created(target, id, true, events);
        let mut st = self.shared.lock();
        st.h2.insert(
            target.clone(),
            H2Entry {
                id,
                sender: sender.clone(),
                write_timeout: write_timeout.clone(),
                streams: 1,
                since: Instant::now(),
            },
        );
        H2Lease {
            shared: self.shared.clone(),
            target: target.clone(),
            id,
            sender,
            write_timeout,
        }
    }

    fn created(&self, target: &Target, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.created.fetch_add(1, Ordering::Relaxed);
        if let Some(ev) = events {
            ev.connection_created(&ConnectionEvent::new(target.origin(), id, http2));
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let st = self.shared.lock();
        let h2_busy = st.h2.values().filter(|e| e.streams > 0).count();
        let to = |n: usize| Some(n as u64);
        PoolStats {
            open: to(st.open),
            idle: to(st.idle_count()),
            in_use: to(st.h1_in_use + h2_busy),
            created: Some(self.shared.created.load(Ordering::Relaxed)),
            reused: Some(self.shared.reused.load(Ordering::Relaxed)),
            waited: Some(self.shared.waited.load(Ordering::Relaxed)),
        }
    }

    /// Closes idle connections and refuses new requests.
    pub(crate) fn close(&self) {
        let mut st = self.shared.lock();
        st.closed = true;
        let idle = std::mem::take(&mut st.idle);
        let h2 = std::mem::take(&mut st.h2);
        drop(st);
        drop(idle);
        drop(h2);
        self.shared.notify.notify_waiters();
    }
}
