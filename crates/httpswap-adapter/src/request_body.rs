//! The request body as the library sees it: handed over in chunks of at
//! most [`UPLOAD_CHUNK`], recording when the library last took one
//! ([`UploadProgress`], which [`drive`](crate::drive) watches).

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_core::{Body, Error};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Largest chunk an [`Upload`] hands over at once. Big buffered bodies are
/// split (without copying) so that a library that stops taking chunks
/// because the peer stopped reading shows as a stall.
pub const UPLOAD_CHUNK: usize = 64 * 1024;

/// How far the library got with a request body.
#[derive(Debug, Default)]
pub struct UploadProgress {
    state: Mutex<State>,
    pub(crate) done_notify: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// When a chunk was handed over and the library has not asked for the
    /// next one yet (it is busy writing it, or stalled).
    handed_at: Option<Instant>,
    done: bool,
}

impl UploadProgress {
    /// Whether the whole body was handed over (or failed).
    pub fn is_done(&self) -> bool {
        self.state.lock().expect("progress lock").done
    }

    fn handed(&self) {
        self.state.lock().expect("progress lock").handed_at = Some(Instant::now());
    }

    fn asked(&self) {
        self.state.lock().expect("progress lock").handed_at = None;
    }

    fn finish(&self) {
        let mut s = self.state.lock().expect("progress lock");
        if !s.done {
            s.done = true;
            s.handed_at = None;
            drop(s);
            self.done_notify.notify_waiters();
        }
    }

    pub(crate) fn handed_at(&self) -> Option<Instant> {
        self.state.lock().expect("progress lock").handed_at
    }
}

/// A request body that reports its [`UploadProgress`].
///
/// Time spent waiting for the caller's own stream is not a stall: only the
/// time between handing a chunk over and being asked for the next counts
/// against the write timeout.
pub struct Upload {
    inner: Body,
    rest: Option<Bytes>,
    progress: Arc<UploadProgress>,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("progress", &self.progress)
            .finish_non_exhaustive()
    }
}

impl Upload {
    /// Wraps a body. An empty body is done from the start.
    pub fn new(inner: Body) -> (Upload, Arc<UploadProgress>) {
        let progress = Arc::new(UploadProgress::default());
        if http_body::Body::is_end_stream(&inner) {
            progress.finish();
        }
        (
            Upload {
                inner,
                rest: None,
                progress: progress.clone(),
            },
            progress,
        )
    }

    fn give(&mut self, mut data: Bytes) -> Bytes {
        if data.len() > UPLOAD_CHUNK {
            self.rest = Some(data.split_off(UPLOAD_CHUNK));
        }
        data
    }
}

impl http_body::Body for Upload {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        this.progress.asked();
        if let Some(rest) = this.rest.take() {
            let chunk = this.give(rest);
            if this.rest.is_none() && this.inner.is_end_stream() {
                this.progress.finish();
            } else {
                this.progress.handed();
            }
            return Poll::Ready(Some(Ok(Frame::data(chunk))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let frame = match frame.into_data() {
                    Ok(data) => Frame::data(this.give(data)),
                    Err(frame) => frame,
                };
                if this.rest.is_none() && this.inner.is_end_stream() {
                    this.progress.finish();
                } else {
                    this.progress.handed();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                this.progress.finish();
                Poll::Ready(other)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.as_ref().map_or(0, |r| r.len() as u64);
        let inner = self.inner.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + rest);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + rest);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util_free::collect;

    mod http_body_util_free {
        use super::*;
        pub async fn collect(mut b: Upload) -> Vec<usize> {
            let mut sizes = Vec::new();
            while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut b).poll_frame(cx)).await
            {
                sizes.push(frame.expect("frame").into_data().expect("data").len());
            }
            sizes
        }
    }

    #[tokio::test]
    async fn big_bodies_are_split_and_progress_ends() {
        let (up, progress) = Upload::new(Body::full(vec![7u8; UPLOAD_CHUNK * 2 + 5]));
        assert!(!progress.is_done());
        let sizes = collect(up).await;
        assert_eq!(sizes, [UPLOAD_CHUNK, UPLOAD_CHUNK, 5]);
        assert!(progress.is_done());
        let (_, empty) = Upload::new(Body::empty());
        assert!(empty.is_done());
    }
}
