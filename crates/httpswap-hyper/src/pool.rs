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
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::InvalidHeaderValue;
use http::HeaderValue;
use httpswap_core::events::ConnectionEvent;
use httpswap_core::{Error, ErrorKind, Events, Limits, PoolStats};
use hyper::client::conn::{http1, http2};
use tokio::sync::{oneshot, Notify};
use tokio::time::{Instant, Sleep};

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
    /// Requests waiting for a slot: slot releases notify only when there
    /// are some.
    waiters: usize,
    /// Requests waiting for a connection to their origin, oldest first: a
    /// released connection goes to the first of them instead of the idle
    /// queue.
    handoff: HashMap<Target, VecDeque<oneshot::Sender<Handoff>>>,
    /// Origins a connection that may turn out HTTP/2 is being made to: other
    /// requests to them wait for it and share it rather than each opening
    /// a connection of its own (see [`H2Pending`]).
    h2_pending: std::collections::HashSet<Target>,
    /// Origins that answered HTTP/1 where HTTP/2 was offered: their
    /// connects are not waited for.
    h1_only: std::collections::HashSet<Target>,
    /// Counters for [`PoolStats`], kept under the lock that the pool takes
    /// anyway (atomics of their own moved a cache line between the cores
    /// on every request).
    created: u64,
    reused: u64,
    waited: u64,
}

/// What a waiting request is handed.
pub(crate) enum Handoff {
    /// A released HTTP/1 connection, already counted in use.
    H1(Box<H1Conn>),
    /// An HTTP/2 connection to the origin is up: look again.
    H2,
}

impl State {
    /// Tells every request waiting for a connection to `target` to look at
    /// the pool again (an HTTP/2 connection is up, or the one being made
    /// will not be shared).
    fn look_again(&mut self, target: &Target) {
        for tx in self.handoff.remove(target).into_iter().flatten() {
            let _ = tx.send(Handoff::H2);
        }
    }

    /// Gives `conn` to the oldest live waiter for its target, or returns it.
    fn hand_off(&mut self, mut conn: Box<H1Conn>) -> Option<Box<H1Conn>> {
        if self.handoff.is_empty() {
            return Some(conn);
        }
        let target = conn.target.clone();
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

struct IdleH1 {
    conn: Box<H1Conn>,
    since: Instant,
}

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
    head_timer: Option<HeadTimer>,
    /// Set by the lease (here, not in the lease: leases move with every
    /// request's state and stay small).
    taken_at: Option<Instant>,
    /// Set when the connection's task has ended.
    pub(crate) end: ConnEnd,
}

/// Set by a connection's task once the connection has ended, so that a
/// request waiting for its response learns it even when hyper does not
/// say: a request handed to hyper just as its dispatcher shut down (the
/// server closed the idle connection at that moment) stays in hyper's
/// queue, which outlives the dispatcher while the handle that sent it is
/// held, and its response future never completes (seen behind squid: 2 in
/// 15 000 GETs waited for the read timeout). Such a request was never
/// written, so it is sent again (`not_sent` in the send pipeline; the
/// squid waves of `reliability/tests/stale.rs` found it).
#[derive(Clone, Default)]
pub(crate) struct ConnEnd(Arc<EndState>);

#[derive(Default)]
struct EndState {
    ended: std::sync::atomic::AtomicBool,
    waker: futures_util::task::AtomicWaker,
}

impl ConnEnd {
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
        })
    }

    /// What woke a request waiting for its response head: its read
    /// timeout, or the end of the connection.
    pub(crate) fn poll_head_wait(&mut self, cx: &mut Context<'_>, timed: bool) -> Poll<HeadWait> {
        if self.end.poll(cx).is_ready() {
            return Poll::Ready(HeadWait::Ended);
        }
        if timed {
            ready!(self.poll_head_timer(cx));
            return Poll::Ready(HeadWait::TimedOut);
        }
        Poll::Pending
    }

    /// The clock as the pool read it when it handed this connection out
    /// without waiting (`None` otherwise, and once taken): a request that
    /// sets its head timer in the same poll can start it from there instead
    /// of reading the clock again.
    pub(crate) fn checkout_time(&mut self) -> Option<Instant> {
        self.taken_at.take()
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
    /// `now`, on the connection's timer (see [`HeadTimer`]).
    pub(crate) fn set_head_deadline(&mut self, now: Instant, limit: Duration) {
        // as tokio's own `sleep` does with a limit beyond any clock
        let at = now
            .checked_add(limit)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30));
        match &mut self.head_timer {
            Some(timer) => timer.set(at),
            None => self.head_timer = Some(HeadTimer::new(at)),
        }
    }

    /// Ready once the deadline [`set_head_deadline`](Self::set_head_deadline)
    /// set last has passed (never, if none was set).
    pub(crate) fn poll_head_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.head_timer {
            Some(timer) => timer.poll(cx),
            None => Poll::Pending,
        }
    }
}

/// Why the wait for a response head ended before the response did.
pub(crate) enum HeadWait {
    /// The read timeout passed.
    TimedOut,
    /// The connection ended.
    Ended,
}

/// The timer of the wait for a response head on an HTTP/1 connection, kept
/// from request to request: a new one per request took the timer wheel's
/// lock to register it and again to cancel it. It is moved only to make it
/// earlier: a later deadline, the usual case, is just stored (even putting
/// a registered tokio timer later costs a tick conversion), and the timer,
/// when it fires first, is moved on to it then.
struct HeadTimer {
    /// Fires no later than `deadline`.
    sleep: Pin<Box<Sleep>>,
    deadline: Instant,
}

impl HeadTimer {
    fn new(at: Instant) -> Self {
        HeadTimer {
            sleep: Box::pin(tokio::time::sleep_until(at)),
            deadline: at,
        }
    }

    fn set(&mut self, at: Instant) {
        if at < self.sleep.deadline() {
            self.sleep.as_mut().reset(at);
        }
        self.deadline = at;
    }

    /// Ready once `deadline` has passed.
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
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

struct H2Entry {
    id: u64,
    sender: H2Sender,
    write_timeout: WriteTimeout,
    streams: usize,
    since: Instant,
}

impl H2Entry {
    /// Open, and busy or idle for less than `expiry`.
    fn usable(&self, now: Instant, expiry: Duration) -> bool {
        !self.sender.is_closed() && (self.streams > 0 || self.since + expiry > now)
    }

    /// One more stream on this connection.
    fn lease(&mut self, shared: &Arc<Shared>, target: &Target) -> H2Lease {
        self.streams += 1;
        H2Lease {
            shared: shared.clone(),
            target: target.clone(),
            id: self.id,
            sender: self.sender.clone(),
            write_timeout: self.write_timeout.clone(),
        }
    }
}

/// A connection leased for one request.
pub(crate) enum Leased {
    /// An HTTP/1 connection.
    H1(H1Lease),
    /// A stream on a shared HTTP/2 connection (boxed: a lease moves with
    /// every request's state, and keeps it small).
    H2(Box<H2Lease>),
}

/// Marks a connect to an origin as one that may turn out HTTP/2, while it
/// runs: other requests to that origin wait for it (within their pool
/// timeout) instead of opening connections of their own, and share it if
/// it is HTTP/2. Dropped when the connect ends, however it ends; the
/// waiters then look again (an HTTP/1 connection is not shared: they open
/// their own, or take it once released).
pub(crate) struct H2Pending {
    shared: Arc<Shared>,
    target: Target,
}

impl H2Pending {
    /// The connect made an HTTP/1 connection although HTTP/2 was offered:
    /// later connects to this origin are not waited for.
    pub(crate) fn got_http1(&self) {
        let mut st = self.shared.lock();
        if st.h1_only.len() < MAX_REMEMBERED_ORIGINS {
            st.h1_only.insert(self.target.clone());
        }
    }
}

impl Drop for H2Pending {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        if st.h2_pending.remove(&self.target) {
            st.look_again(&self.target);
        }
    }
}

/// How many origins [`H2Pending::got_http1`] remembers.
const MAX_REMEMBERED_ORIGINS: usize = 4096;

/// What `acquire` hands out.
pub(crate) enum Checkout {
    /// A connection that was open already.
    Reused(Leased),
    /// A connection made for this request.
    Created(Leased),
    /// A slot for a connection the caller makes itself (`fresh` requests).
    New(Slot),
}

/// The result of a connect started for a request.
pub(crate) type Connecting = oneshot::Receiver<Result<Leased, Error>>;

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
    /// Boxed: leases move with every request's state, and a connection
    /// handle is large.
    conn: Option<Box<H1Conn>>,
}

impl H1Lease {
    /// `taken_at`: the clock as the pool read it to hand the connection out
    /// without waiting (see [`H1Conn::checkout_time`]); set for every
    /// lease, so none sees an earlier one's.
    fn new(shared: &Arc<Shared>, mut conn: Box<H1Conn>, taken_at: Option<Instant>) -> H1Lease {
        conn.taken_at = taken_at;
        H1Lease {
            shared: shared.clone(),
            conn: Some(conn),
        }
    }

    pub(crate) fn conn(&mut self) -> &mut H1Conn {
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
        if st.closed || conn.sender.is_closed() {
            drop(st);
            return;
        }
        let Some(conn) = st.hand_off(conn) else {
            return;
        };
        let keep = st.idle_count() < shared.limits.max_keepalive_connections;
        let mut dropped = None;
        if keep {
            st.idle.push_back(IdleH1 { conn, since: now });
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
        self.h2.retain(|_, e| e.usable(now, expiry));
        let h1 = self.idle.iter().map(|i| i.since + expiry);
        let h2 = self
            .h2
            .values()
            .filter(|e| e.streams == 0)
            .map(|e| e.since + expiry);
        h1.chain(h2).min()
    }
}

fn reused_event(target: &Target, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
    if let Some(ev) = events {
        ev.connection_reused(&ConnectionEvent::new(target.origin(), id, http2));
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
        pool.shared.lock().waited += 1;
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

/// A request's own connect: a connection that arrives after the request
/// stopped waiting for it goes to the pool instead of being lost.
struct OwnConnect(Connecting);

impl Drop for OwnConnect {
    fn drop(&mut self) {
        self.0.close();
        if let Ok(Ok(Leased::H1(lease))) = self.0.try_recv() {
            lease.release();
        }
    }
}

/// A request enrolled for hand-offs: a connection handed to it after it
/// stopped waiting goes back to the pool.
struct HandoffRx {
    rx: oneshot::Receiver<Handoff>,
    shared: Arc<Shared>,
}

impl HandoffRx {
    /// The lease of a connection handed over (already counted in use).
    fn adopt(self, conn: Box<H1Conn>) -> H1Lease {
        H1Lease::new(&self.shared, conn, None)
    }
}

impl Drop for HandoffRx {
    fn drop(&mut self) {
        self.rx.close();
        if let Ok(Handoff::H1(conn)) = self.rx.try_recv() {
            H1Lease::new(&self.shared, conn, None).release();
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What one look at the pool found.
struct Look {
    take: Option<Take>,
    handoff: Option<oneshot::Receiver<Handoff>>,
    /// Nothing taken because a connection that may be HTTP/2 is being made
    /// to the origin: wait for it.
    awaiting_h2: bool,
}

/// Outcome of one look at the pool state.
enum Take {
    H1(H1Lease),
    H2(H2Lease),
    /// A slot, and the mark of a connect that may turn out HTTP/2.
    New(Slot, Option<H2Pending>),
}

impl Pool {
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
        target: &Target,
        fresh: bool,
        may_h2: bool,
        pool_timeout: Option<Duration>,
        events: Option<&Arc<dyn Events>>,
        mut connect: impl FnMut(Slot, Option<H2Pending>) -> Connecting,
    ) -> Result<Checkout, Error> {
        let deadline = pool_timeout.map(|d| Instant::now() + d);
        let mut queued: Option<WaiterGuard<'_>> = None;
        let mut own: Option<OwnConnect> = None;
        let mut handoff: Option<HandoffRx> = None;
        let mut yielded = fresh;
        loop {
            // a connection handed over while we were not looking
            if let Some(guard) = &mut handoff {
                if let Ok(h) = guard.rx.try_recv() {
                    let guard = handoff.take().expect("present");
                    if let Handoff::H1(conn) = h {
                        if let Some(lease) = self.ready(guard.adopt(conn), deadline).await {
                            return Ok(self.reused_h1(target, lease, events));
                        }
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
                    return Ok(Checkout::Reused(Leased::H2(Box::new(lease))));
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
                        if let Ok(Handoff::H1(conn)) = h {
                            let lease = guard.adopt(conn);
                            if let Some(lease) = self.ready(lease, deadline).await {
                                return Ok(self.reused_h1(target, lease, events));
                            }
                        }
                        continue;
                    }
                    () = sleep_until_opt(pool_deadline) => {
                        let waited = pool_timeout.unwrap_or_default();
                        return Err(Error::timeout(ErrorKind::PoolTimeout, waited, "a free connection")
                            .with_backend(BACKEND));
                    }
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
                    if let Ok(Handoff::H1(conn)) = h {
                        let lease = guard.adopt(conn);
                        if let Some(lease) = self.ready(lease, deadline).await {
                            return Ok(self.reused_h1(target, lease, events));
                        }
                    }
                    continue;
                }
                () = &mut notified, if queued.is_some() => continue,
                () = sleep_until_opt(pool_deadline), if pool_deadline.is_some() => {
                    let waited = pool_timeout.unwrap_or_default();
                    return Err(Error::timeout(ErrorKind::PoolTimeout, waited, "a free connection")
                        .with_backend(BACKEND));
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
        target: &Target,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<Checkout> {
        let shared = &self.shared;
        let mut st = shared.lock();
        if st.closed {
            return None;
        }
        let now = Instant::now();
        let expiry = shared.limits.keepalive_expiry;
        if let Some(e) = st.h2.get_mut(target) {
            if !e.usable(now, expiry) {
                return None;
            }
            let lease = e.lease(shared, target);
            st.reused += 1;
            drop(st);
            reused_event(target, lease.id, true, events);
            return Some(Checkout::Reused(Leased::H2(Box::new(lease))));
        }
        let pos = st.idle.iter().rposition(|i| i.conn.target == *target)?;
        self.take_ready(st, pos, now, events)
            .map(|lease| Checkout::Reused(Leased::H1(lease)))
    }

    /// The fastest path, for a request whose scheme has no proxy: the
    /// newest idle HTTP/1 connection made for a URL with this very scheme
    /// and authority text, when it is ready now, with a copy of its target
    /// (the request's own, so no target is built for the request). `None`
    /// for anything else, HTTP/2 connections included.
    pub(crate) fn try_idle_exact(
        &self,
        https: bool,
        authority: &str,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<(Target, H1Lease)> {
        let st = self.shared.lock();
        if st.closed || !st.h2.is_empty() {
            return None;
        }
        let pos = st.idle.iter().rposition(|i| {
            let t = &i.conn.target;
            t.https == https && t.proxy.is_none() && t.authority_text() == authority
        })?;
        let mut lease = self.take_ready(st, pos, Instant::now(), events)?;
        let target = lease.conn().target.clone();
        Some((target, lease))
    }

    /// The idle HTTP/1 connection at `pos`, leased, if it has not expired
    /// and is ready for a request now (the lock held as `st`).
    fn take_ready(
        &self,
        mut st: MutexGuard<'_, State>,
        pos: usize,
        now: Instant,
        events: Option<&Arc<dyn Events>>,
    ) -> Option<H1Lease> {
        let idle = &st.idle[pos];
        if idle.since + self.shared.limits.keepalive_expiry <= now || !idle.conn.sender.is_ready() {
            return None;
        }
        let idle = st.idle.remove(pos).expect("position is valid");
        st.h1_in_use += 1;
        st.reused += 1;
        drop(st);
        reused_event(&idle.conn.target, idle.conn.id, false, events);
        Some(H1Lease::new(&self.shared, idle.conn, Some(now)))
    }

    /// The lease if its connection is (or becomes) ready for a request; a
    /// dead one is closed. The dispatcher may still be finishing the last
    /// response.
    async fn ready(&self, mut lease: H1Lease, deadline: Option<Instant>) -> Option<H1Lease> {
        let sender = &mut lease.conn().sender;
        let ok = sender.is_ready()
            || match deadline {
                Some(d) => matches!(tokio::time::timeout_at(d, sender.ready()).await, Ok(Ok(()))),
                None => sender.ready().await.is_ok(),
            };
        ok.then_some(lease)
    }

    fn reused_h1(
        &self,
        target: &Target,
        mut lease: H1Lease,
        events: Option<&Arc<dyn Events>>,
    ) -> Checkout {
        let id = lease.conn().id;
        self.reused(target, id, false, events);
        Checkout::Reused(Leased::H1(lease))
    }

    fn reused(&self, target: &Target, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.lock().reused += 1;
        reused_event(target, id, http2, events);
    }

    /// One look at the pool, in one critical section. Takes an idle
    /// connection, or (with `want_slot`) a slot. Finding nothing, it counts
    /// the caller as a queued waiter (`register`) and enrols it for
    /// hand-offs (`want_handoff`), so no release can slip between the look
    /// and the wait.
    fn try_take(
        &self,
        target: &Target,
        fresh: bool,
        want_slot: bool,
        register: bool,
        want_handoff: bool,
        may_h2: bool,
    ) -> Result<Look, Error> {
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
            if let Some(e) = st.h2.get_mut(target) {
                if e.usable(now, expiry) {
                    return found(Take::H2(e.lease(shared, target)));
                }
                st.h2.remove(target);
            }
            // newest first; an expired or closed one is closed, not reused
            while let Some(pos) = st.idle.iter().rposition(|i| i.conn.target == *target) {
                let idle = st.idle.remove(pos).expect("position is valid");
                if idle.since + expiry <= now || idle.conn.sender.is_closed() {
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
            if st.open < shared.limits.max_connections {
                st.open += 1;
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
                    },
                    pending,
                ));
            }
            // No slot: close the oldest idle connection so that its slot
            // comes back when its task ends (queued waiters are woken then).
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
        conn: Box<H1Conn>,
        events: Option<&Arc<dyn Events>>,
    ) -> H1Lease {
        self.created(&conn.target, conn.id, false, events);
        self.shared.lock().h1_in_use += 1;
        H1Lease::new(&self.shared, conn, None)
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
        st.h2_pending.remove(target);
        st.look_again(target);
        H2Lease {
            shared: self.shared.clone(),
            target: target.clone(),
            id,
            sender,
            write_timeout,
        }
    }

    fn created(&self, target: &Target, id: u64, http2: bool, events: Option<&Arc<dyn Events>>) {
        self.shared.lock().created += 1;
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
