//! Driving one exchange under the write and read timeouts, and the total
//! deadline, for libraries that have neither.

use std::future::Future;

use futures_util::future::Either;

use httpswap_core::{Error, ErrorKind, Timeouts};
use tokio::time::Instant;

use crate::{Exchange, TimerCache, UploadProgress};

/// Drives `send` (the library's "send and wait for the response head")
/// under the write and read timeouts:
///
/// - while the body is being handed over, a chunk the library does not
///   come back for within `timeouts.write` is a `WriteTimeout`;
/// - once it was all handed over (or with no `progress`: nothing to send), the head must arrive within
///   `timeouts.read`, or it is a `ReadTimeout` (on a timer taken from
///   `timers`, the transport's, and given back after).
///
/// `what` names the peer in messages.
///
/// # Errors
///
/// The timeout errors above; `send`'s own result is passed through.
pub async fn drive<F, T>(
    send: F,
    progress: Option<&UploadProgress>,
    timeouts: &Timeouts,
    timers: &TimerCache,
    what: &str,
) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>>,
{
    tokio::pin!(send);
    while let Some(progress) = progress.filter(|p| !p.is_done()) {
        let notified = progress.done_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if progress.is_done() {
            break;
        }
        let Some(limit) = timeouts.write else {
            tokio::select! {
                r = &mut send => return r,
                _ = &mut notified => continue,
            }
        };
        let check_at =
            crate::deadline_after(progress.handed_at().unwrap_or_else(Instant::now), limit);
        tokio::select! {
            r = &mut send => return r,
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(check_at) => {
                if progress.handed_at().is_some_and(|at| at.elapsed() >= limit) {
                    return Err(Error::timeout(ErrorKind::WriteTimeout, limit, what)
                        .with_request_sent(true));
                }
            }
        }
    }
    match timeouts.read {
        Some(limit) => {
            // a timer of the transport's, not one made for this request
            // (`TimerCache`); the head first, as `tokio::time::timeout`
            let timer = timers.take(crate::deadline_after(Instant::now(), limit));
            tokio::select! {
                biased;
                r = &mut send => r,
                () = timer => Err(Error::timeout(ErrorKind::ReadTimeout, limit, what)),
            }
        }
        None => send.await,
    }
}

/// Sends a [`prepare`d](crate::AdapterState::prepare) request within its
/// total deadline, if there is one: `send` gets the timeouts, the
/// exchange and the deadline (to hand to the response body), and a late
/// head is [`ErrorKind::Timeout`] naming the origin. A request that could
/// not be prepared is its error, at once. Without a deadline (the usual
/// case) the future is `send`'s own, with no timer or wrapper state; with
/// one, the timed future is boxed, so that the usual case stays small.
///
/// # Errors
///
/// The preparation's, `send`'s own, or the deadline's.
pub fn within_total<'a, F, Fut, T>(
    prepared: Result<(Timeouts, Exchange<'a>), Error>,
    send: F,
) -> impl Future<Output = Result<T, Error>> + 'a
where
    F: FnOnce(Timeouts, Exchange<'a>, Option<(Instant, std::time::Duration)>) -> Fut,
    Fut: Future<Output = Result<T, Error>> + 'a,
    T: 'a,
{
    let (timeouts, ex) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return Either::Left(std::future::ready(Err(e))),
    };
    Either::Right(match timeouts.total {
        None => Either::Left(send(timeouts, ex, None)),
        Some(total) => {
            let what = ex.what.clone();
            let at = crate::deadline_after(Instant::now(), total);
            let timed = tokio::time::timeout_at(at, send(timeouts, ex, Some((at, total))));
            Either::Right(Box::pin(async move {
                timed
                    .await
                    .unwrap_or_else(|_| Err(Error::timeout(ErrorKind::Timeout, total, &what)))
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Upload, UPLOAD_CHUNK};
    use http_body::Body as _;
    use httpswap_core::Body;
    use std::pin::Pin;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn a_chunk_not_taken_back_is_a_write_timeout() {
        let (mut up, progress) = Upload::new(Body::full(vec![0u8; UPLOAD_CHUNK + 1]));
        // the library takes one chunk, then never asks again
        let _ = std::future::poll_fn(|cx| Pin::new(&mut up).poll_frame(cx)).await;
        let t = Timeouts {
            write: Some(Duration::from_millis(50)),
            ..Timeouts::default()
        };
        let err = drive(
            std::future::pending::<Result<(), Error>>(),
            Some(&progress),
            &t,
            &TimerCache::default(),
            "peer",
        )
        .await
        .expect_err("stalled");
        assert_eq!(err.kind(), ErrorKind::WriteTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_body_the_read_timeout_runs() {
        let (_, progress) = Upload::new(Body::empty());
        let t = Timeouts {
            read: Some(Duration::from_millis(50)),
            ..Timeouts::default()
        };
        let err = drive(
            std::future::pending::<Result<(), Error>>(),
            Some(&progress),
            &t,
            &TimerCache::default(),
            "peer",
        )
        .await
        .expect_err("no head");
        assert_eq!(err.kind(), ErrorKind::ReadTimeout);
        let timers = TimerCache::default();
        let ok = drive(async { Ok::<_, Error>(5) }, None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 5);
        // the read timeout's timer is the transport's, kept for the next
        assert_eq!(timers.kept(), 1);
        let ok = drive(async { Ok::<_, Error>(6) }, None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 6);
        assert_eq!(timers.kept(), 1, "a second timer was made");
        // a limit beyond any clock is a timer 30 years out, not a panic
        let t = Timeouts {
            read: Some(Duration::MAX),
            ..Timeouts::default()
        };
        let ok = drive(async { Ok::<_, Error>(7) }, None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 7);
    }
}
