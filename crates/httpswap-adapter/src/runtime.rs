//! Requests made outside a tokio runtime.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use httpswap_core::{Body, Error, ErrorKind, Response};
use tokio::runtime::Handle;

/// Runs `send` on a tokio runtime when the caller has none.
///
/// Every backend needs tokio (its timers, its I/O, hyper's connection
/// tasks), and would panic when `send` is called from a thread without a
/// runtime: a `futures` executor, or the thread of an OpenTelemetry batch
/// exporter. Such a call runs here instead, on a runtime of httpswap's own
/// (one worker thread, `httpswap-runtime`, started on first use and kept
/// for the process); the caller awaits it from wherever it is, and its
/// response body is polled (and dropped) inside that runtime's context, so
/// that its timers work there too. A caller inside a runtime never comes
/// here: every backend checks with `tokio::runtime::Handle::try_current`
/// first, which costs a thread-local read.
///
/// ```
/// use httpswap_core::{Body, Response};
/// // no runtime on this thread: the future runs on httpswap's own
/// let res = httpswap_test::block_on(httpswap_adapter::outside_tokio(async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok::<_, httpswap_core::Error>(Response::new(Body::from("done")))
/// }))
/// .unwrap();
/// let body = httpswap_test::block_on(res.into_body().collect_bytes()).unwrap();
/// assert_eq!(body, "done");
/// ```
///
/// # Errors
///
/// `send`'s own; [`ErrorKind::Other`] if it panicked.
pub async fn outside_tokio<F>(send: F) -> Result<Response, Error>
where
    F: Future<Output = Result<Response, Error>> + Send + 'static,
{
    let rt = runtime();
    let res = match rt.spawn(send).await {
        Ok(out) => out?,
        Err(e) => {
            return Err(Error::new(
                ErrorKind::Other,
                format!("the request's task on httpswap's own runtime failed: {e}"),
            ))
        }
    };
    let handle = rt.handle().clone();
    Ok(res.map(|body| {
        Body::new(OnRuntime {
            inner: Some(body),
            handle,
        })
    }))
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("httpswap-runtime")
            .enable_all()
            .build()
            .expect("a tokio runtime (threads and an epoll instance) can be made")
    })
}

/// A response body polled, and dropped, inside a runtime's context: its
/// timers (the read gap, the deadline) are made there.
struct OnRuntime {
    inner: Option<Body>,
    handle: Handle,
}

impl http_body::Body for OnRuntime {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let _inside = this.handle.enter();
        match this.inner.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for OnRuntime {
    fn drop(&mut self) {
        let _inside = self.handle.enter();
        drop(self.inner.take());
    }
}
