//! Requests to a cold origin that may speak HTTP/2 wait for the first
//! connection, for libraries that would open one connection per request.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use futures_util::future::Either;
use httpswap_core::{Error, ErrorKind};
use tokio::sync::watch;
use tokio::time::Instant;

/// How many origins the gate remembers.
const REMEMBERED_ORIGINS: usize = 4096;

/// Makes requests to an origin whose connection may turn out HTTP/2 wait
/// for the first one, so that they share its connection.
///
/// A library that learns the protocol only once a connection is made (ALPN)
/// opens a connection per request when many start at once to a cold origin
/// (reqwest over TLS: 50 connections for 50 requests; curl without
/// `CURLOPT_PIPEWAIT`, which isahc does not set: 35 over h2c). The hyper
/// backend's own pool waits for the connection being made; this gate gives
/// the other adapters the same: the first request to a cold origin goes
/// ahead ([`Ticket`]), the others wait until its response head arrives,
/// then go, multiplexed on its connection when it is HTTP/2. An origin
/// that answered HTTP/1 is not gated (its requests need connections of
/// their own), and one not heard from for the idle expiry is cold again.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap_core::Error> {
/// use std::time::Duration;
/// use httpswap_adapter::H2Gate;
/// let gate = H2Gate::new(Duration::from_secs(5));
/// let first = gate.enter("https://a:443", None).await?;
/// assert!(first.is_some(), "the first request to a cold origin goes ahead");
/// first.unwrap().done(Some(http::Version::HTTP_2));
/// assert!(gate.enter("https://a:443", None).await?.is_none(), "warm: no wait");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct H2Gate {
    origins: Mutex<HashMap<String, Origin>>,
    expiry: Duration,
}

#[derive(Debug)]
enum Origin {
    /// The first request is on its way; others wait for the change.
    Opening(watch::Receiver<()>),
    /// Answered over `http2` (or not), last at `seen`.
    Known { http2: bool, seen: Instant },
}

impl H2Gate {
    /// A gate whose knowledge of an origin lasts `expiry` after its last
    /// response (the library's idle connections last no longer).
    pub fn new(expiry: Duration) -> Self {
        H2Gate {
            origins: Mutex::new(HashMap::new()),
            expiry,
        }
    }

    /// Waits, up to `limit`, while the first request to a cold `origin` is
    /// on its way. Returns a [`Ticket`] when this request is that first
    /// one (it must say how it went), `None` when it may go ahead.
    ///
    /// Only a request that must wait has a wait's state, boxed: the
    /// future of one that goes ahead is the answer itself, so that the
    /// caller's future stays small (`the_send_future_stays_small`).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::PoolTimeout`] when `limit` passes first.
    pub fn enter<'a>(
        &'a self,
        origin: &(impl std::fmt::Display + ?Sized),
        limit: Option<Duration>,
    ) -> impl Future<Output = Result<Option<Ticket<'a>>, Error>> + Send + 'a {
        // the key written now: the future keeps no borrow of the caller's
        let origin = origin.to_string();
        match self.look(&origin) {
            Ok(ticket) => Either::Left(std::future::ready(Ok(ticket))),
            Err(opening) => Either::Right(Box::pin(self.wait(origin, limit, opening))),
        }
    }

    /// The origin's state now: `Ok` with the answer of [`enter`](Self::enter),
    /// or `Err` with the first request's channel to wait on.
    fn look(&self, origin: &str) -> Result<Option<Ticket<'_>>, watch::Receiver<()>> {
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        match origins.get_mut(origin) {
            Some(Origin::Known { http2, seen }) if seen.elapsed() < self.expiry => {
                // a warm HTTP/2 origin: note it is still in use
                if *http2 {
                    *seen = Instant::now();
                }
                Ok(None)
            }
            Some(Origin::Opening(rx)) => Err(rx.clone()),
            _ => {
                if origins.len() >= REMEMBERED_ORIGINS {
                    origins.retain(|_, o| matches!(o, Origin::Opening(_)));
                }
                let (tx, rx) = watch::channel(());
                origins.insert(origin.to_owned(), Origin::Opening(rx));
                Ok(Some(Ticket {
                    gate: self,
                    origin: origin.to_owned(),
                    _tx: tx,
                    done: false,
                }))
            }
        }
    }

    /// Waits for the first request's ticket to end (its sender drops), and
    /// looks again, until this request may go or `limit` passes.
    async fn wait<'a>(
        &'a self,
        origin: String,
        limit: Option<Duration>,
        mut opening: watch::Receiver<()>,
    ) -> Result<Option<Ticket<'a>>, Error> {
        let deadline = limit.map(|l| crate::deadline_after(Instant::now(), l));
        loop {
            let changed = opening.changed();
            match deadline {
                Some(at) => tokio::time::timeout_at(at, changed).await.map_err(|_| {
                    Error::timeout(
                        ErrorKind::PoolTimeout,
                        limit.unwrap_or_default(),
                        format!("the first connection to {origin}"),
                    )
                })?,
                None => changed.await,
            }
            .ok();
            match self.look(&origin) {
                Ok(ticket) => return Ok(ticket),
                Err(next) => opening = next,
            }
        }
    }
}

/// The first request to a cold origin: the others wait until it is dropped
/// or [`done`](Ticket::done).
#[derive(Debug)]
pub struct Ticket<'a> {
    gate: &'a H2Gate,
    origin: String,
    _tx: watch::Sender<()>,
    done: bool,
}

impl Ticket<'_> {
    /// The first response head arrived over `version` (`None`: the request
    /// failed, and the next request to the origin goes first instead).
    pub fn done(mut self, version: Option<http::Version>) {
        self.done = true;
        let mut origins = self
            .gate
            .origins
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match version {
            Some(v) => {
                origins.insert(
                    self.origin.clone(),
                    Origin::Known {
                        http2: v == http::Version::HTTP_2,
                        seen: Instant::now(),
                    },
                );
            }
            None => {
                origins.remove(&self.origin);
            }
        }
    }
}

impl Drop for Ticket<'_> {
    /// A ticket dropped without [`done`](Ticket::done) (the request was
    /// cancelled) leaves the origin cold; the waiters look again when the
    /// sender drops, after this.
    fn drop(&mut self) {
        if !self.done {
            let mut origins = self
                .gate
                .origins
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if matches!(origins.get(&self.origin), Some(Origin::Opening(_))) {
                origins.remove(&self.origin);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn others_wait_for_the_first_then_share() {
        let gate = Arc::new(H2Gate::new(Duration::from_secs(5)));
        let first = gate
            .enter("o", None)
            .await
            .unwrap()
            .expect("first goes ahead");
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.enter("o", None).await.map(|t| t.is_none()) });
        tokio::time::sleep(ms(10)).await;
        assert!(!waiter.is_finished(), "waits while the first is on its way");
        first.done(Some(http::Version::HTTP_2));
        assert!(
            waiter.await.unwrap().unwrap(),
            "then goes, without a ticket"
        );
        // another origin is not held up
        assert!(gate.enter("other", None).await.unwrap().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_or_cancelled_first_hands_the_turn_on() {
        let gate = Arc::new(H2Gate::new(Duration::from_secs(5)));
        for end in ["failed", "cancelled"] {
            let first = gate.enter("o", None).await.unwrap().expect("first");
            let g = gate.clone();
            let waiter = tokio::spawn(async move {
                g.enter("o", None)
                    .await
                    .map(|t| t.map(|t| t.origin.clone()))
            });
            tokio::time::sleep(ms(10)).await;
            match end {
                "failed" => first.done(None),
                _ => drop(first),
            }
            let next = waiter.await.unwrap().unwrap();
            assert_eq!(next.as_deref(), Some("o"), "{end}: the next one goes first");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn http1_origins_are_not_gated_and_knowledge_expires() {
        let gate = H2Gate::new(ms(100));
        gate.enter("h1", None)
            .await
            .unwrap()
            .unwrap()
            .done(Some(http::Version::HTTP_11));
        let a = gate.enter("h1", None).await.unwrap();
        let b = gate.enter("h1", None).await.unwrap();
        assert!(a.is_none() && b.is_none(), "known HTTP/1: nobody waits");
        tokio::time::sleep(ms(150)).await;
        assert!(
            gate.enter("h1", None).await.unwrap().is_some(),
            "cold again after the expiry"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_is_bounded_by_the_pool_timeout() {
        let gate = H2Gate::new(Duration::from_secs(5));
        let _first = gate.enter("o", None).await.unwrap().expect("first");
        let err = gate.enter("o", Some(ms(50))).await.expect_err("bounded");
        assert_eq!(err.kind(), ErrorKind::PoolTimeout);
    }
}
