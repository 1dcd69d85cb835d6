//! Driving one exchange under the write and read timeouts, and the total
//! deadline, for libraries that have neither.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::future::Either;

use httpswap_core::{Error, ErrorKind, Timeouts};
use tokio::time::Instant;

use crate::{Exchange, TakenTimer, TimerCache, UploadProgress};

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
pub fn drive<'a, F, T, W>(
    send: F,
    progress: Option<&'a UploadProgress>,
    timeouts: &Timeouts,
    timers: &'a TimerCache,
    what: &'a W,
) -> impl Future<Output = Result<T, Error>> + 'a
where
    F: Future<Output = Result<T, Error>> + 'a,
    W: std::fmt::Display + ?Sized + Sync,
{
    Drive {
        send,
        // an upload in chunks: its watch boxed, so that the usual request,
        // whose body is handed over whole, carries none of its state
        // (`the_send_future_stays_small`)
        upload: progress
            .filter(|p| !p.is_done())
            .map(|p| Box::pin(watch_upload(p, timeouts.write, what)) as Pin<Box<_>>),
        read: timeouts.read,
        timer: None,
        timers,
        what,
    }
}

pin_project_lite::pin_project! {
    /// [`drive`]'s future: `send` itself, not a copy in a state machine.
    struct Drive<'a, F, W: ?Sized> {
        #[pin]
        send: F,
        upload: Option<Pin<Box<dyn Future<Output = Result<(), Error>> + Send + 'a>>>,
        read: Option<Duration>,
        // taken once the body was all handed over
        timer: Option<TakenTimer<'a>>,
        timers: &'a TimerCache,
        what: &'a W,
    }
}

impl<F, T, W> Future for Drive<'_, F, W>
where
    F: Future<Output = Result<T, Error>>,
    W: std::fmt::Display + ?Sized,
{
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        // the head first, as `tokio::time::timeout`
        if let Poll::Ready(r) = this.send.poll(cx) {
            return Poll::Ready(r);
        }
        if let Some(upload) = this.upload {
            match upload.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => *this.upload = None,
            }
        }
        let Some(limit) = *this.read else {
            return Poll::Pending;
        };
        // a timer of the transport's, not one made for this request
        // (`TimerCache`)
        let timers = *this.timers;
        let timer = this
            .timer
            .get_or_insert_with(|| timers.take(crate::deadline_after(Instant::now(), limit)));
        match Pin::new(timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Error::timeout(
                ErrorKind::ReadTimeout,
                limit,
                this.what,
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// [`drive`] while the body is being handed over: `Ok` once it was all
/// handed over, a `WriteTimeout` when the library does not come back for
/// a chunk within `write`.
async fn watch_upload<W: std::fmt::Display + ?Sized + Sync>(
    progress: &UploadProgress,
    write: Option<Duration>,
    what: &W,
) -> Result<(), Error> {
    while !progress.is_done() {
        let notified = progress.done_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if progress.is_done() {
            break;
        }
        let Some(limit) = write else {
            notified.await;
            continue;
        };
        let check_at =
            crate::deadline_after(progress.handed_at().unwrap_or_else(Instant::now), limit);
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep_until(check_at) => {
                if progress.handed_at().is_some_and(|at| at.elapsed() >= limit) {
                    return Err(Error::timeout(ErrorKind::WriteTimeout, limit, what)
                        .with_request_sent(true));
                }
            }
        }
    }
    Ok(())
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
        // a head there at the first look needs no timer
        let ok = drive(async { Ok::<_, Error>(4) }, None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 4);
        assert_eq!(timers.kept(), 0);
        // one that is waited for has one
        let later = |n| async move {
            tokio::task::yield_now().await;
            Ok::<_, Error>(n)
        };
        let ok = drive(later(5), None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 5);
        // the read timeout's timer is the transport's, kept for the next
        assert_eq!(timers.kept(), 1);
        let ok = drive(later(6), None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 6);
        assert_eq!(timers.kept(), 1, "a second timer was made");
        // a limit beyond any clock is a timer 30 years out, not a panic
        let t = Timeouts {
            read: Some(Duration::MAX),
            ..Timeouts::default()
        };
        let ok = drive(later(7), None, &t, &timers, "peer").await;
        assert_eq!(ok.expect("passes through"), 7);
    }
}
