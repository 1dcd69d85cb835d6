//! isahc's response body (a futures `AsyncRead`) as an `http_body::Body`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_util::io::AsyncRead;
use http_body::{Frame, SizeHint};
use isahc::AsyncBody;

/// Bytes asked of curl per read.
const READ_CHUNK: usize = 16 * 1024;

/// Reads an [`AsyncBody`] in chunks of up to 16 KiB, asking for no more
/// than a body of known length still holds.
pub(crate) struct ReadBody {
    inner: AsyncBody,
    buf: BytesMut,
    len: Option<u64>,
    read: u64,
    done: bool,
}

impl ReadBody {
    pub(crate) fn new(inner: AsyncBody) -> Self {
        ReadBody {
            len: inner.len(),
            inner,
            buf: BytesMut::new(),
            read: 0,
            done: false,
        }
    }
}

impl http_body::Body for ReadBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        // no more than the bytes still to come (plus one, to see the end):
        // a small body costs a small buffer, not 16 KiB zeroed per response
        let want = match this.len {
            Some(n) => usize::try_from(n.saturating_sub(this.read).saturating_add(1))
                .map_or(READ_CHUNK, |w| w.min(READ_CHUNK)),
            None => READ_CHUNK,
        };
        if this.buf.capacity() < want {
            this.buf.reserve(want);
        }
        this.buf.resize(want, 0);
        match Pin::new(&mut this.inner).poll_read(cx, &mut this.buf[..]) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(n)) => {
                this.read += n as u64;
                let chunk = this.buf.split_to(n).freeze();
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(Err(e)) => {
                this.done = true;
                Poll::Ready(Some(Err(e)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.len == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.len {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.read)),
            None => SizeHint::default(),
        }
    }
}
