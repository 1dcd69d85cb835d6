//! The request and response body.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_core::Stream;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use sync_wrapper::SyncWrapper;

use crate::error::{BoxError, Error, ErrorKind};

/// Whether a response with `status` never has a body, whatever its
/// `Content-Length` says (RFC 9110: 1xx, `204`, and `304`, whose length is
/// that of the representation it stands for).
///
/// ```
/// use httpswap_core::http::StatusCode;
/// assert!(httpswap_core::backend::status_has_no_body(StatusCode::NOT_MODIFIED));
/// assert!(!httpswap_core::backend::status_has_no_body(StatusCode::OK));
/// ```
pub fn status_has_no_body(status: http::StatusCode) -> bool {
    status.is_informational()
        || status == http::StatusCode::NO_CONTENT
        || status == http::StatusCode::NOT_MODIFIED
}

/// A boxed stream (boxed here in one step: a response body is made for every
/// request, and `UnsyncBoxBody::new` moved it through two more calls first).
type Unsync = Pin<Box<dyn http_body::Body<Data = Bytes, Error = Error> + Send + 'static>>;

/// A request or response body: buffered (replayable) or streaming.
///
/// `Body` implements [`http_body::Body`] with `Data = Bytes` and this crate's
/// [`Error`] as its error. It is `Send + Sync` even when the stream inside is
/// only `Send`.
///
/// A buffered body ([`Body::empty`], `From<Bytes>`, `From<String>`, ...) can be
/// replayed with [`try_clone`](Body::try_clone), which redirects and retries
/// need. A streaming body ([`Body::from_stream`], [`Body::new`]) is read once;
/// its `try_clone` returns `None`, unless it was made by
/// [`Body::replayable`], which makes the stream again for each copy.
///
/// ```
/// use httpswap_core::Body;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap_core::Error> {
/// let body = Body::from("hello");
/// let copy = body.try_clone().expect("buffered bodies replay");
/// assert_eq!(body.collect_bytes().await?, "hello");
/// assert_eq!(copy.collect_bytes().await?, "hello");
///
/// let chunks = vec![Ok::<_, std::io::Error>("a"), Ok("b")];
/// let stream = Body::from_stream(futures_util::stream::iter(chunks));
/// assert!(stream.try_clone().is_none());
/// assert_eq!(stream.collect_bytes().await?, "ab");
/// # Ok(()) }
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    /// Buffered; `None` once the data was yielded. The original stays in
    /// `replay` so that `try_clone` keeps working.
    Full { data: Option<Bytes>, replay: Bytes },
    Stream {
        inner: SyncWrapper<Unsync>,
        hint: SizeHint,
        ended: bool,
    },
    /// A stream `make` makes again for each copy; `current` is made when
    /// a copy is first read (a copy kept for a resend that never happens
    /// costs no stream).
    Replay {
        make: MakeBody,
        current: Option<Box<Body>>,
        hint: SizeHint,
    },
}

/// What [`Body::replayable`] keeps to make its stream again.
type MakeBody = std::sync::Arc<dyn Fn() -> Body + Send + Sync>;

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A buffered body holding `data`.
    pub fn full(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        Body {
            kind: Kind::Full {
                data: (!data.is_empty()).then(|| data.clone()),
                replay: data,
            },
        }
    }

    /// A streaming body from any [`http_body::Body`] whose error is this
    /// crate's [`Error`]. Backends use this to hand out response bodies.
    ///
    /// If `body` is a `Body` already it is returned as it is.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        // Only a `Body` goes through the slot: every other body is boxed
        // as it is (the check is decided at compile time), not copied into
        // a slot and out again first.
        if std::any::TypeId::of::<B>() == std::any::TypeId::of::<Body>() {
            let mut slot = Some(body);
            if let Some(b) = (&mut slot as &mut dyn std::any::Any).downcast_mut::<Option<Body>>() {
                return b.take().expect("just set");
            }
            return Body::boxed(slot.expect("just set"));
        }
        Body::boxed(body)
    }

    fn boxed<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes, Error = Error> + Send + 'static,
    {
        let hint = body.size_hint();
        let ended = body.is_end_stream();
        Body {
            kind: Kind::Stream {
                inner: SyncWrapper::new(Box::pin(body)),
                hint,
                ended,
            },
        }
    }

    /// A streaming body from any [`http_body::Body`]: its data chunks as
    /// `Bytes`, its errors as [`ErrorKind::Other`] with the original as
    /// source (unless they are this crate's [`Error`] already); its size
    /// hint, and whether it has ended, are kept (an SDK's body of known
    /// length is sent with `Content-Length`). Trailers pass through.
    ///
    /// ```
    /// use http_body_util::Full;
    /// let body = httpswap_core::Body::from_http_body(Full::new(&b"four"[..]));
    /// assert_eq!(body.content_length(), Some(4));
    /// ```
    pub fn from_http_body<B>(body: B) -> Self
    where
        B: http_body::Body + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Body::new(ForeignBody { inner: body })
    }

    /// A streaming body from a stream of byte chunks. The stream's errors
    /// become [`ErrorKind::Other`] errors with the original as source,
    /// unless they are this crate's [`Error`] already.
    pub fn from_stream<S, T, E>(stream: S) -> Self
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Into<Bytes>,
        E: Into<BoxError>,
    {
        Body::new(StreamBody {
            stream: SyncWrapper::new(Box::pin(stream)),
        })
    }

    /// A streaming body that can be sent again: `make` makes the stream,
    /// once now and once more for each copy ([`try_clone`](Body::try_clone))
    /// when that copy is first read. A file upload made this way gets what
    /// a buffered body gets without being held in memory: the one resend
    /// of an idempotent request whose reused connection had died, and the
    /// client layer's redirects and retries. As aws-smithy's
    /// `SdkBody::retryable`.
    ///
    /// `make` must make the same content each time: its first stream's
    /// size hint is the copies' hint (a known length is sent as
    /// `Content-Length`, and a stream that ends short of it is an error,
    /// never a short request).
    ///
    /// ```
    /// use httpswap_core::Body;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap_core::Error> {
    /// let body = Body::replayable(|| {
    ///     let chunks = vec![Ok::<_, std::io::Error>("par"), Ok("ts")];
    ///     Body::from_stream(futures_util::stream::iter(chunks))
    /// });
    /// let copy = body.try_clone().expect("made again");
    /// assert_eq!(body.collect_bytes().await?, "parts");
    /// assert_eq!(copy.collect_bytes().await?, "parts");
    /// # Ok(()) }
    /// ```
    pub fn replayable<F>(make: F) -> Self
    where
        F: Fn() -> Body + Send + Sync + 'static,
    {
        let first = make();
        let hint = http_body::Body::size_hint(&first);
        Body {
            kind: Kind::Replay {
                make: std::sync::Arc::new(make),
                current: Some(Box::new(first)),
                hint,
            },
        }
    }

    /// Whether this body can be replayed (it is buffered, or made by
    /// [`Body::replayable`]).
    pub fn is_replayable(&self) -> bool {
        !matches!(self.kind, Kind::Stream { .. })
    }

    /// A copy of this body with the same complete content (from its start,
    /// however much of this one was read), if it is buffered or made by
    /// [`Body::replayable`]. Other streaming bodies return `None`.
    pub fn try_clone(&self) -> Option<Body> {
        match &self.kind {
            Kind::Full { replay, .. } => Some(Body::full(replay.clone())),
            Kind::Stream { .. } => None,
            Kind::Replay { make, hint, .. } => Some(Body {
                kind: Kind::Replay {
                    make: make.clone(),
                    current: None,
                    hint: *hint,
                },
            }),
        }
    }

    /// The buffered content, for a buffered body.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match &self.kind {
            Kind::Full { replay, .. } => Some(replay),
            Kind::Stream { .. } | Kind::Replay { .. } => None,
        }
    }

    /// The exact length in bytes, when it is known before reading.
    pub fn content_length(&self) -> Option<u64> {
        http_body::Body::size_hint(self).exact()
    }

    /// Reads the whole body into memory.
    ///
    /// # Errors
    ///
    /// The first error the stream yields (for example a read timeout or a
    /// truncated body, reported as [`ErrorKind::RemoteProtocol`]).
    pub async fn collect_bytes(self) -> Result<Bytes, Error> {
        if let Kind::Full { replay, .. } = self.kind {
            return Ok(replay);
        }
        Ok(BodyExt::collect(self).await?.to_bytes())
    }

    /// Reads the whole body, failing with [`ErrorKind::BodyTooLarge`] once more
    /// than `limit` bytes arrived (nothing beyond the limit is buffered).
    ///
    /// # Errors
    ///
    /// The stream's first error, or `BodyTooLarge` when the limit is exceeded.
    pub async fn collect_bytes_limited(mut self, limit: usize) -> Result<Bytes, Error> {
        let mut buf = BytesMut::new();
        while let Some(frame) = self.frame().await {
            if let Ok(data) = frame?.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(Error::new(
                        ErrorKind::BodyTooLarge,
                        format!("body is larger than the limit of {limit} bytes"),
                    ));
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    }

    /// Reads the whole body as UTF-8 text (invalid sequences replaced).
    ///
    /// # Errors
    ///
    /// As [`collect_bytes`](Body::collect_bytes).
    pub async fn collect_string(self) -> Result<String, Error> {
        let bytes = self.collect_bytes().await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The body as a stream of data chunks (trailers are skipped).
    pub fn into_data_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send + Sync {
        http_body_util::BodyDataStream::new(self)
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full { replay, .. } => f.debug_tuple("Body::Full").field(&replay.len()).finish(),
            Kind::Stream { hint, .. } => f
                .debug_struct("Body::Stream")
                .field("size_hint", &(hint.lower(), hint.upper()))
                .finish(),
            Kind::Replay { hint, .. } => f
                .debug_struct("Body::Replay")
                .field("size_hint", &(hint.lower(), hint.upper()))
                .finish(),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.get_mut().kind {
            Kind::Full { data, .. } => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Kind::Stream { inner, hint, ended } => {
                if *ended {
                    return Poll::Ready(None);
                }
                let polled = inner.get_mut().as_mut().poll_frame(cx);
                match &polled {
                    Poll::Ready(Some(Ok(frame))) => {
                        if let Some(d) = frame.data_ref() {
                            *hint = shrink(hint, d.len() as u64);
                        }
                    }
                    Poll::Ready(None) | Poll::Ready(Some(Err(_))) => *ended = true,
                    Poll::Pending => {}
                }
                polled
            }
            Kind::Replay { make, current, .. } => {
                let body = current.get_or_insert_with(|| Box::new(make()));
                Pin::new(&mut **body).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data, .. } => data.is_none(),
            Kind::Stream { ended, hint, .. } => *ended || hint.exact() == Some(0),
            Kind::Replay { current, hint, .. } => current
                .as_ref()
                .map_or(hint.exact() == Some(0), |b| b.is_end_stream()),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Stream { hint, .. } => *hint,
            Kind::Replay { current, hint, .. } => current.as_ref().map_or(*hint, |b| b.size_hint()),
        }
    }
}

fn shrink(hint: &SizeHint, by: u64) -> SizeHint {
    let mut out = SizeHint::new();
    out.set_lower(hint.lower().saturating_sub(by));
    if let Some(upper) = hint.upper() {
        out.set_upper(upper.saturating_sub(by));
    }
    out
}

macro_rules! from_buffered {
    ($($t:ty),*) => {$(
        impl From<$t> for Body {
            fn from(v: $t) -> Self {
                Body::full(Bytes::from(v))
            }
        }
    )*};
}
from_buffered!(Bytes, Vec<u8>, String, &'static str, &'static [u8]);

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

/// Adapts a `Stream` of chunks to `http_body::Body`.
struct StreamBody<S> {
    stream: SyncWrapper<Pin<Box<S>>>,
}

impl<S, T, E> http_body::Body for StreamBody<S>
where
    S: Stream<Item = Result<T, E>>,
    T: Into<Bytes>,
    E: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let stream = self.get_mut().stream.get_mut().as_mut();
        match stream.poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => Poll::Ready(Some(Ok(Frame::data(chunk.into())))),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(Error::from_boxed(e.into(), ErrorKind::Other))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// Any `http_body::Body`, with `Bytes` chunks and this crate's errors.
    struct ForeignBody<B> {
        #[pin]
        inner: B,
    }
}

impl<B> http_body::Body for ForeignBody<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match self.project().inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(
                frame.map_data(|mut d| d.copy_to_bytes(d.remaining()))
            ))),
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(Error::from_boxed(e.into(), ErrorKind::Other))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn body_is_send_sync() {
        assert_send_sync::<Body>();
    }

    #[tokio::test]
    async fn buffered_body_replays_after_being_read() {
        let body = Body::from(String::from("payload"));
        assert!(body.is_replayable());
        assert_eq!(body.content_length(), Some(7));
        let mut stream = body.into_data_stream();
        assert_eq!(stream.next().await.unwrap().unwrap(), "payload");
        assert!(stream.next().await.is_none());

        let body = Body::from("again");
        let copy = body.try_clone().unwrap();
        assert_eq!(body.collect_bytes().await.unwrap(), "again");
        assert_eq!(copy.collect_bytes().await.unwrap(), "again");
    }

    #[tokio::test]
    async fn empty_body_is_end_of_stream() {
        let body = Body::empty();
        assert!(http_body::Body::is_end_stream(&body));
        assert_eq!(body.content_length(), Some(0));
        assert_eq!(body.collect_bytes().await.unwrap(), "");
    }

    #[tokio::test]
    async fn streaming_body_is_not_replayable_and_streams_in_order() {
        let chunks: Vec<Result<&'static str, std::io::Error>> =
            vec![Ok("one "), Ok("two "), Ok("three")];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        assert!(!body.is_replayable());
        assert!(body.try_clone().is_none());
        assert!(body.as_bytes().is_none());
        assert_eq!(body.content_length(), None);
        let got: Vec<Bytes> = body.into_data_stream().map(|c| c.unwrap()).collect().await;
        assert_eq!(got, ["one ", "two ", "three"]);
    }

    #[tokio::test]
    async fn stream_errors_surface_with_source() {
        let chunks = vec![
            Ok(Bytes::from_static(b"partial")),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset",
            )),
        ];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let err = body.collect_bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        let src = std::error::Error::source(&err).unwrap();
        assert!(src.downcast_ref::<std::io::Error>().is_some());

        // our own error kind passes through unchanged
        let chunks: Vec<Result<Bytes, Error>> = vec![Err(Error::from_kind(ErrorKind::ReadTimeout))];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        assert_eq!(
            body.collect_bytes().await.unwrap_err().kind(),
            ErrorKind::ReadTimeout
        );
    }

    #[tokio::test]
    async fn size_hint_shrinks_as_a_stream_is_read() {
        let inner = http_body_util::Full::new(Bytes::from_static(b"0123456789"))
            .map_err(|never| match never {});
        let mut body = Body::new(inner);
        assert_eq!(body.content_length(), Some(10));
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap().len(), 10);
        assert_eq!(body.content_length(), Some(0));
        assert!(body.frame().await.is_none());
        assert!(http_body::Body::is_end_stream(&body));
    }

    #[tokio::test]
    async fn new_of_a_body_keeps_it_buffered() {
        let body = Body::new(Body::from("x"));
        assert!(body.is_replayable());
    }

    #[tokio::test]
    async fn limited_collect_stops_at_the_limit() {
        let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("12345"), Ok("67890")];
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let err = body.collect_bytes_limited(7).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyTooLarge);
        let body = Body::from("1234567");
        assert_eq!(body.collect_bytes_limited(7).await.unwrap(), "1234567");
    }

    #[tokio::test]
    async fn a_replayable_stream_is_made_again_only_for_a_copy_that_is_read() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let body = Body::replayable(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Body::from_http_body(http_body_util::Full::new(Bytes::from_static(b"0123456789")))
        });
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert!(body.is_replayable() && body.as_bytes().is_none());
        assert_eq!(body.content_length(), Some(10));
        let unread = body.try_clone().unwrap();
        let read = body.try_clone().unwrap();
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "a copy makes no stream until it is read"
        );
        assert_eq!(unread.content_length(), Some(10));
        assert!(!http_body::Body::is_end_stream(&unread));
        assert_eq!(read.collect_bytes().await.unwrap(), "0123456789");
        assert_eq!(made.load(Ordering::SeqCst), 2);
        // a copy of a body read to its end starts again from the start
        let mut first = body;
        while first.frame().await.is_some() {}
        assert!(http_body::Body::is_end_stream(&first));
        assert_eq!(
            first.try_clone().unwrap().collect_bytes().await.unwrap(),
            "0123456789"
        );
        assert!(format!("{unread:?}").starts_with("Body::Replay"));
    }
}
