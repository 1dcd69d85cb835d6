//! The pool's rules, with plain values for connections: no sockets, and
//! tokio's paused clock for the timeouts and expiry.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use httpswap_core::{ErrorKind, Limits};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Checkout, Lease, PendingConnect, Pool, Poolable, Slot};

/// A connection: a key, a number, and a flag the "server" sets to close
/// it. As with a real connection, its slot is held by a task of its own,
/// which ends once the connection is dropped (`_alive`): the slot comes
/// back a moment later, never under the pool's lock.
struct Fake {
    key: &'static str,
    id: u64,
    closed: Arc<AtomicBool>,
    _alive: oneshot::Sender<()>,
    dropped: Arc<AtomicUsize>,
    /// Its own end of reuse (a lifetime, a keep-alive hint).
    until: Option<Instant>,
}

/// The task that holds a connection's slot while the connection lives.
fn hold(slot: Slot<Fake>) -> oneshot::Sender<()> {
    let (alive, ended) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = ended.await;
        drop(slot);
    });
    alive
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// An HTTP/2 connection's handle: its closed flag and the server's stream
/// limit.
type FakeH2 = Arc<FakeH2State>;

struct FakeH2State {
    closed: AtomicBool,
    max_streams: usize,
}

impl Default for FakeH2State {
    fn default() -> Self {
        FakeH2State {
            closed: AtomicBool::new(false),
            max_streams: usize::MAX,
        }
    }
}

impl Poolable for Fake {
    type Key = &'static str;
    type H2 = FakeH2;

    fn key(&self) -> &&'static str {
        &self.key
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
    fn is_ready(&self) -> bool {
        !self.is_closed()
    }
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<bool> {
        Poll::Ready(!self.is_closed())
    }
    fn set_checkout_time(&mut self, _: Option<Instant>) {}
    fn reuse_until(&self) -> Option<Instant> {
        self.until
    }
    fn h2_is_closed(h2: &FakeH2) -> bool {
        h2.closed.load(Ordering::SeqCst)
    }
    fn h2_max_streams(h2: &FakeH2) -> usize {
        h2.max_streams
    }
    fn origin(key: &&'static str) -> String {
        format!("http://{key}")
    }
}

/// A pool, and what the tests count: connects started, connections dropped.
struct Bench {
    pool: Arc<Pool<Fake>>,
    connects: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
}

fn bench(max_connections: usize, max_keepalive: usize, expiry: Duration) -> Bench {
    let limits = Limits {
        max_connections,
        max_keepalive_connections: max_keepalive,
        keepalive_expiry: expiry,
        ..Limits::default()
    };
    Bench {
        pool: Arc::new(Pool::new(limits)),
        connects: Arc::default(),
        dropped: Arc::default(),
    }
}

const EXPIRY: Duration = Duration::from_secs(5);
const POOL_TIMEOUT: Option<Duration> = Some(Duration::from_secs(1));

impl Bench {
    /// A connect that makes an HTTP/1 connection once `gate` opens (at
    /// once without one).
    fn connect_h1(
        &self,
        key: &'static str,
        gate: Option<oneshot::Receiver<()>>,
    ) -> impl FnMut(Slot<Fake>, Option<super::H2Pending<Fake>>) -> PendingConnect<Fake> + '_ {
        let mut gate = gate;
        move |slot, pending| {
            self.connects.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = oneshot::channel();
            let pool = self.pool.clone();
            let dropped = self.dropped.clone();
            let gate = gate.take();
            tokio::spawn(async move {
                if let Some(gate) = gate {
                    let _ = gate.await;
                }
                if let Some(p) = &pending {
                    p.got_http1();
                }
                drop(pending);
                let conn = Box::new(Fake {
                    key,
                    id: pool.next_id(),
                    closed: Arc::default(),
                    _alive: hold(slot),
                    dropped,
                    until: None,
                });
                let lease = Lease::H1(pool.lease_new_h1(conn, None));
                if let Err(Ok(Lease::H1(lease))) = tx.send(Ok(lease)) {
                    lease.release();
                }
            });
            rx
        }
    }

    /// A connect that makes an HTTP/2 connection once `gate` opens; its
    /// slot lives as long as `alive` is not dropped.
    fn connect_h2(
        &self,
        key: &'static str,
        gate: oneshot::Receiver<()>,
        alive: oneshot::Receiver<()>,
    ) -> impl FnMut(Slot<Fake>, Option<super::H2Pending<Fake>>) -> PendingConnect<Fake> + '_ {
        let mut once = Some((gate, alive));
        move |slot, pending| {
            self.connects.fetch_add(1, Ordering::SeqCst);
            let (tx, rx) = oneshot::channel();
            let pool = self.pool.clone();
            let (gate, alive) = once.take().expect("one connect");
            tokio::spawn(async move {
                let _ = gate.await;
                let id = pool.next_id();
                let lease = pool.lease_new_h2(&key, id, Arc::default(), None);
                drop(pending);
                let _ = tx.send(Ok(Lease::H2(Box::new(lease))));
                let _ = alive.await;
                drop(slot);
            });
            rx
        }
    }

    async fn acquire(&self, key: &'static str) -> Result<Checkout<Fake>, httpswap_core::Error> {
        self.pool
            .acquire(
                &key,
                false,
                false,
                POOL_TIMEOUT,
                None,
                self.connect_h1(key, None),
            )
            .await
    }
}

fn h1(checkout: Checkout<Fake>) -> (bool, super::H1Lease<Fake>) {
    match checkout {
        Checkout::Reused(Lease::H1(l)) => (true, l),
        Checkout::Created(Lease::H1(l)) => (false, l),
        _ => panic!("expected an HTTP/1 lease"),
    }
}

fn id(lease: &mut super::H1Lease<Fake>) -> u64 {
    lease.conn().id
}

#[tokio::test(start_paused = true)]
async fn never_more_connections_than_the_global_limit_across_origins() {
    let b = Arc::new(bench(2, 10, EXPIRY));
    let (_, a) = h1(b.acquire("a").await.expect("a"));
    let (_, _b) = h1(b.acquire("b").await.expect("b"));
    // a third origin waits for a slot, and times out
    let err = b.acquire("c").await.err().expect("no slot");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    assert_eq!(b.connects.load(Ordering::SeqCst), 2);
    // a connection closed (its lease dropped) frees its slot for a waiter
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { h1(b.acquire("c").await.expect("c after a slot freed")) }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(a);
    let (reused, _c) = waiter.await.expect("waiter");
    assert!(!reused, "a new connection for c");
    assert_eq!(b.pool.stats().open, Some(2));
    assert_eq!(b.connects.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn idle_connections_kept_up_to_the_keepalive_limit_then_expire() {
    let b = bench(10, 1, EXPIRY);
    let (_, mut first) = h1(b.acquire("a").await.expect("first"));
    let (_, second) = h1(b.acquire("a").await.expect("second"));
    let kept = id(&mut first);
    first.release();
    second.release();
    let stats = b.pool.stats();
    assert_eq!(stats.idle, Some(1));
    assert_eq!(b.dropped.load(Ordering::SeqCst), 1, "the second is closed");
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(b.pool.stats().open, Some(1), "its slot given back");
    // the one kept is reused
    let (reused, mut again) = h1(b.acquire("a").await.expect("reuse"));
    assert!(reused);
    assert_eq!(id(&mut again), kept);
    again.release();
    // past the expiry it is closed, and never handed out
    tokio::time::sleep(EXPIRY + Duration::from_millis(1)).await;
    assert!(b.pool.try_idle(&"a", None).is_none());
    assert_eq!(b.pool.stats().idle, Some(0));
    assert_eq!(b.dropped.load(Ordering::SeqCst), 2);
}

/// Under load a pool often has nothing idle for a moment (every
/// connection leased); the reaper must not end then, to be started again
/// (a task spawned) by the next release. It ends with the last connection.
#[tokio::test(start_paused = true)]
async fn the_reaper_stays_while_connections_are_open() {
    let b = bench(10, 10, EXPIRY);
    let reaper = || b.pool.shared.lock().reaper;
    let (_, first) = h1(b.acquire("a").await.expect("first"));
    first.release();
    assert!(reaper(), "started by the first release");
    let (reused, lease) = h1(b.acquire("a").await.expect("again"));
    assert!(reused);
    // nothing idle, one connection leased, for several expiry periods
    tokio::time::sleep(EXPIRY * 3).await;
    assert_eq!(b.pool.stats().idle, Some(0));
    assert!(reaper(), "still running with nothing idle");
    // the connection ends: nothing open, and the reaper ends too
    drop(lease);
    tokio::time::sleep(EXPIRY * 2).await;
    assert_eq!(b.pool.stats().open, Some(0));
    assert!(!reaper(), "ended with the last connection");
}

#[tokio::test(start_paused = true)]
async fn an_idle_connection_closed_by_the_server_is_never_handed_out() {
    let b = bench(10, 10, EXPIRY);
    let (_, mut lease) = h1(b.acquire("a").await.expect("first"));
    let closed = lease.conn().closed.clone();
    lease.release();
    closed.store(true, Ordering::SeqCst);
    assert!(b.pool.try_idle(&"a", None).is_none());
    let (reused, _) = h1(b.acquire("a").await.expect("second"));
    assert!(!reused, "a new connection");
    assert_eq!(b.connects.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_released_connection_goes_to_the_oldest_waiter() {
    let b = Arc::new(bench(1, 10, EXPIRY));
    let (_, mut held) = h1(b.acquire("a").await.expect("first"));
    let held_id = id(&mut held);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let b = b.clone();
            tokio::spawn(async move {
                let (reused, mut lease) = h1(b.acquire("a").await.expect("handed over"));
                let got = id(&mut lease);
                lease.release();
                (reused, got)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    held.release();
    // handed to the first waiter, not put in the idle queue
    assert_eq!(b.pool.stats().idle, Some(0));
    for w in waiters {
        assert_eq!(w.await.expect("waiter"), (true, held_id));
    }
    let stats = b.pool.stats();
    assert_eq!((stats.created, stats.reused), (Some(1), Some(2)));
}

#[tokio::test(start_paused = true)]
async fn a_connection_released_during_a_connect_is_taken_and_the_new_one_pooled() {
    let b = bench(2, 10, EXPIRY);
    let (_, mut held) = h1(b.acquire("a").await.expect("first"));
    let held_id = id(&mut held);
    let (open_gate, gate) = oneshot::channel();
    let pool = b.pool.clone();
    let mut connect = b.connect_h1("a", Some(gate));
    let acquire = pool.acquire(&"a", false, false, POOL_TIMEOUT, None, &mut connect);
    let release = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        held.release();
    };
    let (got, ()) = tokio::time::timeout(Duration::from_secs(5), async {
        tokio::join!(acquire, release)
    })
    .await
    .expect("the released connection taken");
    let (reused, mut lease) = h1(got.expect("released one"));
    assert!(reused);
    assert_eq!(id(&mut lease), held_id);
    drop(connect);
    // the connection made meanwhile is not lost: it waits in the pool
    open_gate.send(()).expect("connect waiting");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let stats = b.pool.stats();
    assert_eq!(
        (stats.created, stats.idle, stats.open),
        (Some(2), Some(1), Some(2))
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_gives_up_waiting_leaves_nothing_behind() {
    let b = bench(1, 10, EXPIRY);
    let (_, held) = h1(b.acquire("a").await.expect("first"));
    let gave_up = tokio::time::timeout(Duration::from_millis(10), b.acquire("a")).await;
    assert!(gave_up.is_err(), "still waiting when cancelled");
    // the release finds no waiter: the connection goes to the idle queue
    held.release();
    let stats = b.pool.stats();
    assert_eq!((stats.idle, stats.in_use), (Some(1), Some(0)));
    let (reused, _) = h1(b.acquire("a").await.expect("reuse"));
    assert!(reused);
    assert_eq!(b.connects.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_http2_connection_is_shared_and_waited_for_while_it_is_made() {
    let b = bench(10, 10, EXPIRY);
    let (open_gate, gate) = oneshot::channel();
    let (_keep, alive) = oneshot::channel::<()>();
    let mut connect = b.connect_h2("a", gate, alive);
    let mut no_connect =
        |_: Slot<Fake>, _: Option<super::H2Pending<Fake>>| -> PendingConnect<Fake> {
            panic!("a second connect while one that may be HTTP/2 is being made")
        };
    // the first request connects (it may be HTTP/2); the second waits for
    // that connect instead of opening its own
    let first = b
        .pool
        .acquire(&"a", false, true, POOL_TIMEOUT, None, &mut connect);
    let second = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        b.pool
            .acquire(&"a", false, true, POOL_TIMEOUT, None, &mut no_connect)
            .await
    };
    let opened = async {
        tokio::time::sleep(Duration::from_millis(10)).await;
        open_gate.send(()).expect("connect waiting");
    };
    let (first, second, ()) = tokio::join!(first, second, opened);
    let ids: Vec<u64> = [first, second]
        .into_iter()
        .map(|c| match c.expect("a stream") {
            Checkout::Created(Lease::H2(l)) | Checkout::Reused(Lease::H2(l)) => l.id,
            _ => panic!("expected HTTP/2"),
        })
        .collect();
    assert_eq!(ids[0], ids[1], "one connection shared");
    let stats = b.pool.stats();
    assert_eq!((stats.created, stats.reused), (Some(1), Some(1)));
    assert_eq!(b.connects.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn an_origin_that_answered_http1_is_not_waited_for_again() {
    let b = bench(10, 10, EXPIRY);
    // offered HTTP/2, made HTTP/1: remembered
    let (_, first) = h1(b
        .pool
        .acquire(
            &"a",
            false,
            true,
            POOL_TIMEOUT,
            None,
            b.connect_h1("a", None),
        )
        .await
        .expect("first"));
    // the next two connect at once, neither waiting for the other
    let (open_gate, gate) = oneshot::channel();
    let pool = b.pool.clone();
    let mut slow = b.connect_h1("a", Some(gate));
    let second = pool.acquire(&"a", false, true, POOL_TIMEOUT, None, &mut slow);
    let third = async {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let got = b
            .pool
            .acquire(
                &"a",
                false,
                true,
                POOL_TIMEOUT,
                None,
                b.connect_h1("a", None),
            )
            .await;
        let _ = open_gate.send(());
        got
    };
    let (second, third) = tokio::join!(second, third);
    assert!(!h1(second.expect("second")).0);
    assert!(!h1(third.expect("third")).0);
    assert_eq!(b.connects.load(Ordering::SeqCst), 3);
    drop(first);
}

#[tokio::test(start_paused = true)]
async fn a_closed_pool_refuses_requests_and_drops_idle_connections() {
    let b = bench(10, 10, EXPIRY);
    let (_, lease) = h1(b.acquire("a").await.expect("first"));
    lease.release();
    b.pool.close();
    assert_eq!(b.dropped.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(b.pool.stats().open, Some(0), "its slot given back");
    let err = b.acquire("a").await.err().expect("closed");
    assert_eq!(err.kind(), ErrorKind::Closed);
}

#[tokio::test(start_paused = true)]
async fn an_origin_at_its_own_limit_waits_while_others_connect() {
    let mut b = bench(10, 10, EXPIRY);
    let limits = Limits {
        max_connections: 10,
        max_keepalive_connections: 10,
        keepalive_expiry: EXPIRY,
        max_connections_per_host: Some(1),
        max_lifetime: None,
    };
    b.pool = Arc::new(Pool::new(limits));
    let b = Arc::new(b);
    let (_, a) = h1(b.acquire("a").await.expect("a"));
    // another origin is not held back
    let (_, other) = h1(b.acquire("b").await.expect("b"));
    let err = b.acquire("a").await.err().expect("a is at its limit");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    // a socket of "a" that closes lets a waiter for "a" connect
    let waiter = tokio::spawn({
        let b = b.clone();
        async move { b.acquire("a").await.map(|c| h1(c).0) }
    });
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(a);
    let reused = waiter.await.expect("task").expect("a slot of a");
    assert!(!reused, "a new connection");
    assert_eq!(b.connects.load(Ordering::SeqCst), 3);
    drop(other);
}

#[tokio::test(start_paused = true)]
async fn a_connection_past_its_own_end_of_reuse_is_closed_not_pooled() {
    let b = bench(10, 10, EXPIRY);
    let (_, mut lease) = h1(b.acquire("a").await.expect("first"));
    let first = id(&mut lease);
    lease.conn().until = Some(Instant::now() + Duration::from_secs(1));
    lease.release();
    // within its own end: reused
    let (reused, mut lease) = h1(b.acquire("a").await.expect("second"));
    assert!(reused);
    assert_eq!(id(&mut lease), first);
    lease.release();
    // past it (well within the keep-alive expiry): closed, a new one made
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (reused, _lease) = h1(b.acquire("a").await.expect("third"));
    assert!(!reused);
    assert_eq!(b.dropped.load(Ordering::SeqCst), 1);
    // released past its end: not kept at all
    let (_, mut late) = h1(b.acquire("b").await.expect("b"));
    late.conn().until = Some(Instant::now());
    late.release();
    assert_eq!(b.dropped.load(Ordering::SeqCst), 2);
    assert_eq!(b.pool.stats().idle, Some(0));
}

/// A connection to "a", which may be HTTP/2, connecting with `connect`.
async fn may_h2(
    b: &Bench,
    mut connect: impl FnMut(Slot<Fake>, Option<super::H2Pending<Fake>>) -> PendingConnect<Fake>,
) -> Checkout<Fake> {
    b.pool
        .acquire(&"a", false, true, POOL_TIMEOUT, None, &mut connect)
        .await
        .expect("a stream")
}

#[tokio::test(start_paused = true)]
async fn at_the_servers_stream_limit_another_http2_connection_is_made() {
    let b = bench(10, 10, EXPIRY);
    let limited = Arc::new(FakeH2State {
        max_streams: 2,
        ..FakeH2State::default()
    });
    let first = b.pool.lease_new_h2(&"a", b.pool.next_id(), limited, None);
    let stream = |c: Checkout<Fake>| match c {
        Checkout::Created(Lease::H2(l)) => (false, l.id, l),
        Checkout::Reused(Lease::H2(l)) => (true, l.id, l),
        _ => panic!("expected HTTP/2"),
    };
    // the second stream fits on the first connection
    let (reused, id, second) = stream(
        may_h2(
            &b,
            |_: Slot<Fake>, _: Option<super::H2Pending<Fake>>| -> PendingConnect<Fake> {
                panic!("room on the first connection")
            },
        )
        .await,
    );
    assert!(reused);
    assert_eq!(id, first.id);
    // the third does not: a second connection
    let (open_gate, gate) = oneshot::channel();
    open_gate.send(()).expect("gate");
    let (_keep, alive) = oneshot::channel::<()>();
    let (reused, other, _third) = stream(may_h2(&b, b.connect_h2("a", gate, alive)).await);
    assert!(!reused);
    assert_ne!(other, first.id);
    // a stream freed on the first: the next request takes it (oldest first)
    drop(second);
    let (reused, id, _fourth) = stream(
        may_h2(
            &b,
            |_: Slot<Fake>, _: Option<super::H2Pending<Fake>>| -> PendingConnect<Fake> {
                panic!("room again")
            },
        )
        .await,
    );
    assert!(reused);
    assert_eq!(id, first.id);
    assert_eq!(b.connects.load(Ordering::SeqCst), 1);
}
