//! A bound on requests in flight with the pool timeout, and a registry of
//! connections seen, for libraries whose pool has neither (reqwest, isahc).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use futures_util::future::Either;
use httpswap_core::events::ConnectionEvent;
use httpswap_core::{Error, ErrorKind, Events, PoolStats};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::EndGuard;

/// At most `max` requests in flight; the next waits for a slot up to the
/// pool timeout ([`ErrorKind::PoolTimeout`]), firing `connection_queued`.
#[derive(Debug)]
pub struct Slots {
    sem: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    waited: AtomicU64,
    max: usize,
    release_turns: u32,
    per_host: Option<PerHost>,
}

/// The per-origin bound: a semaphore per origin, made when first needed.
#[derive(Debug)]
struct PerHost {
    max: usize,
    origins: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Origins whose semaphores are kept before unused ones are dropped.
const REMEMBERED_ORIGINS: usize = 4096;

impl PerHost {
    fn semaphore(&self, origin: &str) -> Arc<Semaphore> {
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = origins.get(origin) {
            return s.clone();
        }
        if origins.len() >= REMEMBERED_ORIGINS {
            // only this map holds them, and no permit is out: unused
            origins.retain(|_, s| Arc::strong_count(s) > 1 || s.available_permits() < self.max);
        }
        let s = Arc::new(Semaphore::new(self.max));
        origins.insert(origin.to_owned(), s.clone());
        s
    }
}

impl Slots {
    /// `max` slots. A freed slot that someone waits for is handed over
    /// after `release_turns` scheduler turns: a library that gives a
    /// finished connection back to its pool from a task of its own gets
    /// that long to do so, so the waiter finds the connection instead of
    /// opening one more (0: at once).
    pub fn new(max: usize, release_turns: u32) -> Self {
        Slots {
            sem: Arc::new(Semaphore::new(max)),
            waiting: Arc::new(AtomicUsize::new(0)),
            waited: AtomicU64::new(0),
            max,
            release_turns,
            per_host: None,
        }
    }

    /// Also at most `max` requests in flight to one origin (the `what` of
    /// [`acquire`](Self::acquire)): `Limits::max_connections_per_host`.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// # rt.block_on(async {
    /// use std::time::Duration;
    /// let slots = httpswap_adapter::Slots::new(10, 0).per_host(Some(1));
    /// let held = slots.acquire(None, "http://a:80", None).await.unwrap();
    /// let other = slots.acquire(None, "http://b:80", None).await.unwrap();
    /// let short = Some(Duration::from_millis(5));
    /// let err = slots.acquire(short, "http://a:80", None).await.unwrap_err();
    /// assert_eq!(err.kind(), httpswap_core::ErrorKind::PoolTimeout);
    /// drop(held);
    /// slots.acquire(short, "http://a:80", None).await.unwrap();
    /// # drop(other);
    /// # });
    /// ```
    pub fn per_host(mut self, max: Option<usize>) -> Self {
        self.per_host = max.map(|max| PerHost {
            max,
            origins: Mutex::default(),
        });
        self
    }

    /// Takes a slot, waiting up to `pool` (forever with `None`).
    ///
    /// Only a request that must wait has a wait's state, boxed: when a
    /// slot is free the future is the slot itself, so that the caller's
    /// future stays small (`the_send_future_stays_small`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolTimeout`] naming `what`.
    pub fn acquire<'a, W: std::fmt::Display + ?Sized + Sync>(
        &'a self,
        pool: Option<Duration>,
        what: &'a W,
        events: Option<&'a Arc<dyn Events>>,
    ) -> impl Future<Output = Result<Slot, Error>> + Send + 'a {
        let host = self
            .per_host
            .as_ref()
            .map(|p| p.semaphore(&what.to_string()));
        let host_permit = match &host {
            None => None,
            Some(h) => h.clone().try_acquire_owned().ok(),
        };
        if host.is_none() || host_permit.is_some() {
            if let Ok(p) = self.sem.clone().try_acquire_owned() {
                return Either::Left(std::future::ready(Ok(self.slot(p, host_permit))));
            }
        }
        Either::Right(Box::pin(self.wait(pool, what, events, host, host_permit)))
    }

    /// The slow way of [`acquire`](Self::acquire): counted and announced
    /// as queued, the origin's permit first (unless `host_permit` already
    /// holds it), then the global one, both within the one pool timeout.
    async fn wait<W: std::fmt::Display + ?Sized + Sync>(
        &self,
        pool: Option<Duration>,
        what: &W,
        events: Option<&Arc<dyn Events>>,
        host: Option<Arc<Semaphore>>,
        host_permit: Option<OwnedSemaphorePermit>,
    ) -> Result<Slot, Error> {
        self.waited.fetch_add(1, Ordering::Relaxed);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if let Some(e) = events {
            e.connection_queued(&ConnectionEvent::new(what.to_string(), 0, false));
        }
        let acquire = async {
            let host_permit = match (host, host_permit) {
                (Some(h), None) => Some(h.acquire_owned().await?),
                (_, held) => held,
            };
            let permit = self.sem.clone().acquire_owned().await?;
            Ok::<_, tokio::sync::AcquireError>(self.slot(permit, host_permit))
        };
        let taken = match pool {
            Some(limit) => tokio::time::timeout(limit, acquire).await.map_err(|_| {
                Error::timeout(
                    ErrorKind::PoolTimeout,
                    limit,
                    format!("a free connection slot for {what}"),
                )
            })?,
            None => acquire.await,
        };
        taken.map_err(|_| Error::closed())
    }

    fn slot(
        &self,
        permit: OwnedSemaphorePermit,
        host_permit: Option<OwnedSemaphorePermit>,
    ) -> Slot {
        Slot {
            permit: Some((permit, host_permit)),
            waiting: self.waiting.clone(),
            turns: self.release_turns,
        }
    }

    /// Slots taken now.
    pub fn in_use(&self) -> u64 {
        (self.max - self.sem.available_permits()) as u64
    }

    /// Requests that had to wait for a slot so far.
    pub fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }
}

/// A slot for one request in flight, held until its response body ends.
#[derive(Debug)]
pub struct Slot {
    /// The global permit, and the origin's with a per-host bound.
    permit: Option<(OwnedSemaphorePermit, Option<OwnedSemaphorePermit>)>,
    waiting: Arc<AtomicUsize>,
    turns: u32,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        if self.turns == 0 || self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let turns = self.turns;
            rt.spawn(async move {
                for _ in 0..turns {
                    tokio::task::yield_now().await;
                }
                drop(permit);
            });
        }
    }
}

/// A slot is given back however the body ended.
impl EndGuard for Slot {
    fn end(self, _complete: bool) {}
}

/// Counts a waiting request for as long as it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Pool statistics from the slots and the registry: in use, created,
/// reused and waited are known; open and idle sockets are not (`None`).
pub fn pool_stats(slots: &Slots, connections: &Connections) -> PoolStats {
    PoolStats {
        open: None,
        idle: None,
        in_use: Some(slots.in_use()),
        created: Some(connections.created()),
        reused: Some(connections.reused()),
        waited: Some(slots.waited()),
    }
}

/// How many connections the registry remembers.
const REMEMBERED_CONNECTIONS: usize = 4096;

/// Connections seen so far, told apart by their (local, remote) address
/// pair, for libraries that say which socket carried a response but not
/// whether it was new: a pair seen before is a reused connection.
#[derive(Debug, Default)]
pub struct Connections {
    seen: RwLock<Seen>,
    created: AtomicU64,
    reused: AtomicU64,
}

#[derive(Debug, Default)]
struct Seen {
    // looked up for every response: a fast hash, not SipHash (the keys
    // are socket addresses, not chosen by a peer to collide)
    ids: HashMap<(SocketAddr, SocketAddr), u64, rustc_hash::FxBuildHasher>,
    order: VecDeque<(SocketAddr, SocketAddr)>,
    next: u64,
}

impl Connections {
    /// Notes the connection that carried a response, counts it as created
    /// or reused, and fires the matching event. Returns its id and whether
    /// it was reused.
    pub fn observe<W: std::fmt::Display + ?Sized>(
        &self,
        key: (SocketAddr, SocketAddr),
        what: &W,
        http2: bool,
        events: Option<&Arc<dyn Events>>,
    ) -> (u64, bool) {
        // almost always a connection seen before: a shared lock finds it
        let known = self.seen.read().expect("seen lock").ids.get(&key).copied();
        let (id, reused) = match known {
            Some(id) => (id, true),
            None => self.note(key),
        };
        if reused {
            self.reused.fetch_add(1, Ordering::Relaxed);
        } else {
            self.created.fetch_add(1, Ordering::Relaxed);
        }
        // the event (its origin a string of its own) only for a listener
        if let Some(e) = events {
            let event = ConnectionEvent::new(what.to_string(), id, http2);
            if reused {
                e.connection_reused(&event);
            } else {
                e.connection_created(&event);
            }
        }
        (id, reused)
    }

    fn note(&self, key: (SocketAddr, SocketAddr)) -> (u64, bool) {
        let mut seen = self.seen.write().expect("seen lock");
        if let Some(id) = seen.ids.get(&key) {
            return (*id, true);
        }
        seen.next += 1;
        if seen.order.len() >= REMEMBERED_CONNECTIONS {
            if let Some(old) = seen.order.pop_front() {
                seen.ids.remove(&old);
            }
        }
        let id = seen.next;
        seen.ids.insert(key, id);
        seen.order.push_back(key);
        (id, false)
    }

    /// Whether this connection carried a response before.
    pub fn was_seen(&self, key: &(SocketAddr, SocketAddr)) -> bool {
        self.seen.read().expect("seen lock").ids.contains_key(key)
    }

    /// Connections created so far.
    pub fn created(&self) -> u64 {
        self.created.load(Ordering::Relaxed)
    }

    /// Reuses so far.
    pub fn reused(&self) -> u64 {
        self.reused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_bound_holds_and_times_out() {
        let slots = Slots::new(1, 0);
        let held = slots.acquire(None, "x", None).await.unwrap();
        assert_eq!(slots.in_use(), 1);
        let err = slots
            .acquire(Some(Duration::from_millis(5)), "x", None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PoolTimeout);
        assert_eq!(slots.waited(), 1);
        drop(held);
        let _again = slots
            .acquire(Some(Duration::from_millis(5)), "x", None)
            .await
            .unwrap();
    }

    #[test]
    fn pairs_seen_before_are_reused() {
        let c = Connections::default();
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let (first, reused) = c.observe((a, b), "o", false, None);
        assert!(!reused);
        assert_eq!(c.observe((a, b), "o", false, None), (first, true));
        assert!(!c.observe((b, a), "o", false, None).1);
        assert!(c.was_seen(&(a, b)));
        assert_eq!((c.created(), c.reused()), (2, 1));
    }
}
