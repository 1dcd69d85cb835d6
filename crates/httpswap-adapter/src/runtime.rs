//! Requests made outside a tokio runtime.

use std::future::Future;
use std::sync::OnceLock;

use httpswap_core::{Error, ErrorKind};

/// Runs `fut` on a tokio runtime when the caller has none.
///
/// Every backend needs tokio (its timers, its I/O, hyper's connection
/// tasks), and would panic when `send` is called from a thread without a
/// runtime: a `futures` executor, or the thread of an OpenTelemetry batch
/// exporter. Such a call runs here instead, on a runtime of httpswap's own
/// (one worker thread, `httpswap-runtime`, started on first use and kept
/// for the process); the caller awaits it from wherever it is, and the
/// response body it gets streams from there too. A caller inside a runtime
/// never comes here: every backend checks with
/// `tokio::runtime::Handle::try_current` first, which costs a thread-local
/// read.
///
/// ```
/// // no runtime on this thread: the future runs on httpswap's own
/// let out = httpswap_test::block_on(httpswap_adapter::outside_tokio(async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     Ok::<_, httpswap_core::Error>(7)
/// }));
/// assert_eq!(out.unwrap(), 7);
/// ```
///
/// # Errors
///
/// `fut`'s own; [`ErrorKind::Other`] if it panicked.
pub async fn outside_tokio<F, T>(fut: F) -> Result<T, Error>
where
    F: Future<Output = Result<T, Error>> + Send + 'static,
    T: Send + 'static,
{
    match runtime().spawn(fut).await {
        Ok(out) => out,
        Err(e) => Err(Error::new(
            ErrorKind::Other,
            format!("the request's task on httpswap's own runtime failed: {e}"),
        )),
    }
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
