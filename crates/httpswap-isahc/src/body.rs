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
///
/// A body of known length ends with its last byte: curl has by then
/// checked the length, and waiting for the pipe's end would cost every
/// response one more wake-up (and its read-gap timer) for nothing. An end
/// before the length is an error (`UnexpectedEof`, which maps to
/// `RemoteProtocol`), never a shorter body reported complete.
pub(crate) struct ReadBody {
    inner: AsyncBody,
    buf: BytesMut,
    len: Option<u64>,
    read: u64,
    done: bool,
}

impl ReadBody {
    /// The body of a response with `status`, framed by Transfer-Encoding
    /// when `transfer_encoding`. The length isahc reports is the
    /// `Content-Length` header's, so it is trusted only where that header
    /// frames the body: not for a `304` (its length is that of the body it
    /// stands for), nor beside a Transfer-Encoding, which overrides it (RFC
    /// 9112 6.3; curl decodes such a body by Transfer-Encoding, and trusting
    /// the header cut it short). Otherwise the body ends where curl ends it
    /// (isahc already gives a `HEAD` an empty body).
    pub(crate) fn new(inner: AsyncBody, status: http::StatusCode, transfer_encoding: bool) -> Self {
        ReadBody {
            len: if httpswap_core::backend::status_has_no_body(status) || transfer_encoding {
                None
            } else {
                inner.len()
            },
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
        // no more than the bytes still to come: a small body costs a
        // small buffer, not 16 KiB zeroed per response
        let want = match this.len {
            Some(n) => usize::try_from(n.saturating_sub(this.read))
                .map_or(READ_CHUNK, |w| w.min(READ_CHUNK)),
            None => READ_CHUNK,
        };
        if want == 0 {
            this.done = true;
            return Poll::Ready(None);
        }
        if this.buf.capacity() < want {
            this.buf.reserve(want);
        }
        this.buf.resize(want, 0);
        match Pin::new(&mut this.inner).poll_read(cx, &mut this.buf[..]) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(0)) => {
                this.done = true;
                match this.len {
                    Some(n) if this.read < n => Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("the body ended after {} of {n} bytes", this.read),
                    )))),
                    _ => Poll::Ready(None),
                }
            }
            Poll::Ready(Ok(n)) => {
                this.read += n as u64;
                if this.len.is_some_and(|len| this.read >= len) {
                    this.done = true;
                }
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
        self.done || self.len.is_some_and(|n| self.read >= n)
    }

    fn size_hint(&self) -> SizeHint {
        match self.len {
            Some(n) => SizeHint::with_exact(n.saturating_sub(self.read)),
            None => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use http_body_util::BodyExt as _;

    /// `data`, then either the end or nothing ever again.
    struct Source {
        data: Vec<u8>,
        then_eof: bool,
    }

    impl AsyncRead for Source {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            if self.data.is_empty() {
                return if self.then_eof {
                    Poll::Ready(Ok(0))
                } else {
                    Poll::Pending
                };
            }
            let n = buf.len().min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            Poll::Ready(Ok(n))
        }
    }

    fn body(data: &[u8], then_eof: bool, len: u64, status: StatusCode) -> ReadBody {
        let source = Source {
            data: data.to_vec(),
            then_eof,
        };
        ReadBody::new(AsyncBody::from_reader_sized(source, len), status, false)
    }

    #[tokio::test]
    async fn a_known_length_ends_with_its_last_byte() {
        // the source never ends: the body must not wait for it
        let b = body(b"hello", false, 5, StatusCode::OK);
        let got = tokio::time::timeout(std::time::Duration::from_secs(5), b.collect())
            .await
            .expect("no wait for the pipe's end")
            .expect("complete");
        assert_eq!(got.to_bytes(), Bytes::from_static(b"hello"));
    }

    #[tokio::test]
    async fn an_end_before_the_length_is_an_error() {
        let b = body(b"hel", true, 5, StatusCode::OK);
        let err = b.collect().await.expect_err("short");
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("3 of 5"), "{err}");
        let mapped = crate::error::map_error(Box::new(err), crate::error::Phase::Body, None, "o");
        assert_eq!(mapped.kind(), httpswap_core::ErrorKind::RemoteProtocol);
    }

    #[tokio::test]
    async fn a_length_beside_transfer_encoding_is_not_trusted() {
        let source = Source {
            data: b"hello world".to_vec(),
            then_eof: true,
        };
        let b = ReadBody::new(
            AsyncBody::from_reader_sized(source, 5),
            StatusCode::OK,
            true,
        );
        assert_eq!(b.collect().await.expect("whole").to_bytes(), "hello world");
    }

    #[tokio::test]
    async fn a_304_ignores_its_length() {
        let b = body(b"", true, 10, StatusCode::NOT_MODIFIED);
        assert!(b.collect().await.expect("empty").to_bytes().is_empty());
    }
}
