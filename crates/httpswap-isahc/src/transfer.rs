//! A transfer in curl's hands: its future and connection slot until the
//! response head (and after, when dropped early), and the request body
//! pumped to curl's thread from the caller's runtime.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use httpswap_adapter::{Slot, Upload};
use isahc::{AsyncBody, HttpClient};
use tokio::sync::watch;

/// What isahc's `send_async` gives.
pub(crate) type Sent = Result<http::Response<AsyncBody>, isahc::Error>;

/// A transfer on its way to the response head, holding its connection
/// slot.
///
/// curl looks for cancellation only when data arrives (isahc's header and
/// body callbacks), so a transfer whose future is dropped before the head
/// keeps its connection until the server sends something or closes it.
/// Dropped early, a `Transfer` hands its future and its slot to a task
/// that waits for just that (or for `close()`), so that the slot, like the
/// connection, is free only when curl lets go: requests past the limit then
/// wait for a slot, up to the pool timeout, instead of queueing unseen
/// inside curl.
pub(crate) struct Transfer {
    future: Option<Pin<Box<dyn Future<Output = Sent> + Send>>>,
    slot: Option<Slot>,
    closing: watch::Receiver<bool>,
}

impl Transfer {
    pub(crate) fn start(
        client: HttpClient,
        request: http::Request<AsyncBody>,
        slot: Slot,
        closing: watch::Receiver<bool>,
    ) -> Self {
        Transfer {
            future: Some(Box::pin(async move { client.send_async(request).await })),
            slot: Some(slot),
            closing,
        }
    }

    /// The slot, for the response body to hold (or a resend).
    pub(crate) fn into_slot(mut self) -> Slot {
        self.slot.take().expect("the slot is taken once")
    }

    /// Whether curl is done with the transfer (its future finished).
    pub(crate) fn ended(&self) -> bool {
        self.future.is_none()
    }
}

impl Future for Transfer {
    type Output = Sent;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut().expect("polled after completion");
        let out = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        Poll::Ready(out)
    }
}

impl Drop for Transfer {
    fn drop(&mut self) {
        let (Some(future), Some(slot)) = (self.future.take(), self.slot.take()) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut closing = self.closing.clone();
        rt.spawn(async move {
            tokio::select! {
                // the head came (dropped here, the response ends the
                // transfer at curl's next callback) or the transfer failed
                _ = future => {}
                // closed (or dropped): the agent ends with its clients
                _ = closing.wait_for(|closed| *closed) => {}
            }
            drop(slot);
        });
    }
}

/// The request body, polled by a task on the caller's runtime and handed
/// to curl through a one-chunk channel: isahc reads request bodies on its
/// agent thread, where a body that needs the runtime (a timer, a channel
/// of tokio's) could not run.
pub(crate) fn pump(
    upload: Upload,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> {
    use futures_util::StreamExt as _;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(1);
    tokio::spawn(async move {
        let mut chunks = http_body_util::BodyDataStream::new(upload);
        loop {
            let next = tokio::select! {
                next = chunks.next() => next,
                // curl gave up on the body: stop polling it
                () = tx.closed() => return,
            };
            let Some(item) = next else { return };
            let failed = item.is_err();
            if tx.send(item.map_err(std::io::Error::other)).await.is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
