//! The server's `SETTINGS_MAX_CONCURRENT_STREAMS`, read as the server's
//! first frame passes by (hyper does not tell it), so that a pool can open
//! another connection rather than queue streams beyond it (the hyper
//! backend's: `http2_beyond_the_servers_stream_limit`).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Largest first frame looked at: a SETTINGS frame is a few dozen bytes.
const MAX_FIRST_FRAME: usize = 16 * 1024;

pin_project_lite::pin_project! {
    /// An HTTP/2 connection's stream, reading its server's first frame
    /// (RFC 9113 3.4: always SETTINGS) into `max_streams`; later changes
    /// of the setting are not followed. Reads and writes pass unchanged.
    ///
    /// ```
    /// # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// # rt.block_on(async {
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// use tokio::io::AsyncReadExt;
    /// // a server's SETTINGS frame: MAX_CONCURRENT_STREAMS (0x3) = 4
    /// let frame: &[u8] = &[0, 0, 6, 0x4, 0, 0, 0, 0, 0, 0, 0x3, 0, 0, 0, 4];
    /// let max = Arc::new(AtomicUsize::new(usize::MAX));
    /// let mut io = httpswap_adapter::SettingsSniffer::new(frame, max.clone());
    /// let mut seen = Vec::new();
    /// io.read_to_end(&mut seen).await.unwrap();
    /// assert_eq!(seen, frame);
    /// assert_eq!(max.load(Ordering::Relaxed), 4);
    /// # });
    /// ```
    pub struct SettingsSniffer<S> {
        #[pin]
        inner: S,
        // the first frame's bytes so far; `None` once it was read
        first: Option<Vec<u8>>,
        max_streams: Arc<AtomicUsize>,
    }
}

impl<S> SettingsSniffer<S> {
    /// Wraps `inner`; `max_streams` gets the server's limit once read.
    pub fn new(inner: S, max_streams: Arc<AtomicUsize>) -> Self {
        SettingsSniffer {
            inner,
            first: Some(Vec::with_capacity(64)),
            max_streams,
        }
    }
}

/// The `SETTINGS_MAX_CONCURRENT_STREAMS` of a first frame: `None` while it
/// is incomplete, `Some(None)` when it is complete and does not set it.
fn max_streams_of(frame: &[u8]) -> Option<Option<u32>> {
    let head = frame.get(..9)?;
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if head[3] != 0x4 || len > MAX_FIRST_FRAME {
        return Some(None);
    }
    let payload = frame.get(9..9 + len)?;
    Some(payload.chunks_exact(6).rev().find_map(|setting| {
        let id = u16::from_be_bytes([setting[0], setting[1]]);
        (id == 0x3).then(|| u32::from_be_bytes([setting[2], setting[3], setting[4], setting[5]]))
    }))
}

impl<S: AsyncRead> AsyncRead for SettingsSniffer<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        ready!(this.inner.poll_read(cx, buf))?;
        if let Some(first) = this.first {
            first.extend_from_slice(&buf.filled()[before..]);
            if let Some(found) = max_streams_of(first) {
                if let Some(n) = found {
                    let n = usize::try_from(n).unwrap_or(usize::MAX);
                    this.max_streams.store(n, Ordering::Relaxed);
                }
                *this.first = None;
            } else if first.len() > MAX_FIRST_FRAME + 9 || buf.filled().len() == before {
                *this.first = None;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite> AsyncWrite for SettingsSniffer<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write(cx, b)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().inner.poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::max_streams_of;

    fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
        let len = entries.len() * 6;
        let mut f = vec![0, 0, len as u8, 0x4, 0, 0, 0, 0, 0];
        for (id, v) in entries {
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&v.to_be_bytes());
        }
        f
    }

    #[test]
    fn the_limit_is_read_from_a_whole_first_settings_frame() {
        let f = settings(&[(0x4, 65_535), (0x3, 4)]);
        assert_eq!(max_streams_of(&f), Some(Some(4)));
        assert_eq!(max_streams_of(&f[..12]), None, "incomplete");
        assert_eq!(max_streams_of(&settings(&[(0x4, 1)])), Some(None));
        // not SETTINGS: nothing to learn
        assert_eq!(max_streams_of(&[0, 0, 0, 0x8, 0, 0, 0, 0, 0]), Some(None));
    }
}
