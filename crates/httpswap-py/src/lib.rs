//! The native module of the Python package `httpswap` (`httpswap._httpswap`):
//! an httpswap transport that Python's httpx sends through. The httpx side
//! (`AsyncHTTPTransport`, `HTTPTransport`, the exceptions) is Python, in
//! `python/httpswap/__init__.py`; this module gives it three things:
//!
//! - [`Transport`]: a transport of a backend chosen by name, configured in
//!   httpx's terms, whose `send` starts a request on the process's tokio
//!   runtime and settles an asyncio future with the response head (or
//!   blocks, for the sync transport); the futures of an event loop are
//!   settled on its own thread, from a queue it watches ([`Completions`]);
//! - [`ResponseStream`]: the response body, read chunk by chunk the same
//!   two ways; [`Upload`]: a streamed request body, handed over chunk by
//!   chunk the same two ways (the sync one with [`Pending`] for its head);
//! - `Error(kind, message)`: every failure, its kind one of httpswap's
//!   `ErrorKind` names, which the Python side raises as httpx's class.
//!
//! A forked child gets a runtime and a pool of its own on first use: the
//! parent's runtime threads do not exist in the child, and its pooled
//! connections are the parent's sockets (`fork.rs` in the Python tests).
#![deny(unsafe_code)]

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use httpswap::{Body, SharedTransport, Timeouts, TransportConfig};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

create_exception!(
    _httpswap,
    Error,
    PyException,
    "A request failed: `args` are (kind, message), the kind an httpswap `ErrorKind` name."
);

/// The tokio runtime of this process, made on first use and made again in
/// a forked child (the parent's worker threads do not exist there; its
/// runtime is left alone, never dropped, as dropping it would wait for
/// them).
fn runtime() -> Arc<tokio::runtime::Runtime> {
    static RUNTIME: Mutex<Option<(u32, Arc<tokio::runtime::Runtime>)>> = Mutex::new(None);
    let mut slot = RUNTIME.lock().unwrap_or_else(PoisonError::into_inner);
    let pid = std::process::id();
    match slot.as_ref() {
        Some((owner, rt)) if *owner == pid => rt.clone(),
        _ => {
            let rt = Arc::new(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("httpswap")
                    .enable_all()
                    .build()
                    .expect("a tokio runtime"),
            );
            if let Some(parent) = slot.replace((pid, rt.clone())) {
                std::mem::forget(parent);
            }
            rt
        }
    }
}

/// httpswap's error as the Python `Error(kind, message)`.
fn py_error(e: &httpswap::Error) -> PyErr {
    Error::new_err((format!("{:?}", e.kind()), e.to_string()))
}

/// What a finished piece of work hands to Python.
trait ToPython: Send + 'static {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

/// Runs `work` on the runtime; its outcome is queued in `completions`,
/// whose event loop settles the asyncio `future` with it. Returns what
/// cancels the work.
fn settle_later<W>(completions: Arc<Queue>, future: Py<PyAny>, work: W) -> Abort
where
    W: Future + Send + 'static,
    W::Output: Outcome,
{
    let task = runtime().spawn(async move {
        let outcome = work.await;
        completions.push(future, Box::new(outcome));
    });
    Abort(Some(task.abort_handle()))
}

/// The outcomes of one event loop's requests, waiting for its thread.
///
/// The runtime's threads never take the GIL: they queue what they
/// finished and wake the loop by writing a byte to a socket it watches
/// (`loop.add_reader`); the loop's thread, which holds the GIL anyway, turns
/// them into Python objects and settles the futures, as many as finished
/// by then at once. (Settling from the runtime's threads made them wait for
/// the GIL behind the loop's own work: 3x slower under load.)
struct Queue {
    finished: Mutex<Vec<Finished>>,
    wake: std::os::unix::net::UnixStream,
    woken: std::os::unix::net::UnixStream,
}

/// A future and the outcome that settles it.
type Finished = (Py<PyAny>, Box<dyn Outcome>);

impl Queue {
    fn push(&self, future: Py<PyAny>, outcome: Box<dyn Outcome>) {
        let first = {
            let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
            finished.push((future, outcome));
            finished.len() == 1
        };
        // one byte per batch: the loop takes everything queued when it wakes
        if first {
            let _ = std::io::Write::write(&mut &self.wake, &[1]);
        }
    }
}

/// One event loop's queue of finished work: `fileno()` to watch, `drain()` to call
/// when it is readable (`httpswap._completions_of` sets that up).
#[pyclass(module = "httpswap._httpswap")]
pub struct Completions(Arc<Queue>);

#[pymethods]
impl Completions {
    #[new]
    fn new() -> PyResult<Self> {
        let (wake, woken) = std::os::unix::net::UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        woken.set_nonblocking(true)?;
        Ok(Completions(Arc::new(Queue {
            finished: Mutex::new(Vec::new()),
            wake,
            woken,
        })))
    }

    /// The descriptor that becomes readable when outcomes are queued.
    fn fileno(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(&self.0.woken)
    }

    /// Settles the futures of every queued outcome (a cancelled future is
    /// left alone).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        let mut bytes = [0u8; 64];
        while matches!(std::io::Read::read(&mut &self.0.woken, &mut bytes), Ok(n) if n > 0) {}
        let finished = std::mem::take(
            &mut *self
                .0
                .finished
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        for (future, outcome) in finished {
            let future = future.bind(py);
            if future.call_method0("done")?.is_truthy()? {
                continue;
            }
            match outcome.into_python(py) {
                Ok(value) => future.call_method1("set_result", (value,))?,
                Err(e) => future.call_method1("set_exception", (e.into_value(py),))?,
            };
        }
        Ok(())
    }
}

/// The outcome of a piece of work: a value for Python, or httpswap's error.
trait Outcome: Send + 'static {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>>;
}

impl<T: ToPython> Outcome for Result<T, httpswap::Error> {
    fn into_python(self: Box<Self>, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match *self {
            Ok(value) => value.to_python(py),
            Err(e) => Err(py_error(&e)),
        }
    }
}

/// Cancels a request or a read started for asyncio (when its future is
/// cancelled).
#[pyclass(module = "httpswap._httpswap")]
pub struct Abort(Option<tokio::task::AbortHandle>);

#[pymethods]
impl Abort {
    /// Stops the work (its connection is closed if a response was under
    /// way).
    fn abort(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
        }
    }
}

/// How the transport is configured, kept to make it again in a forked
/// child.
#[derive(Clone, Debug)]
struct Settings {
    backend: String,
    config: TransportConfig,
}

/// A transport of one backend: see the module docs.
#[pyclass(module = "httpswap._httpswap")]
pub struct Transport {
    settings: Settings,
    /// The transport and the process it belongs to.
    current: Mutex<(u32, SharedTransport)>,
}

#[allow(clippy::too_many_arguments)]
#[pymethods]
impl Transport {
    /// A transport of `backend` ("hyper", "reqwest" or "isahc"), with
    /// httpx's settings: the pool limits (`None`: no limit), the default
    /// timeouts (connect, read, write, pool; `None`: none), `verify` (a
    /// bool), `ca_pem` (PEM certificates to trust instead of the built-in
    /// roots), `http2`, `proxy` (a URL), `trust_env` (proxies from the
    /// environment), `uds` (a Unix socket path), `local_address`.
    #[new]
    #[pyo3(signature = (backend, *, max_connections, max_keepalive_connections, keepalive_expiry,
        timeouts, verify, ca_pem, http2, proxy, trust_env, uds, local_address))]
    fn new(
        backend: String,
        max_connections: Option<usize>,
        max_keepalive_connections: Option<usize>,
        keepalive_expiry: Option<f64>,
        timeouts: HttpxTimeouts,
        verify: bool,
        ca_pem: Option<Vec<u8>>,
        http2: bool,
        proxy: Option<String>,
        trust_env: bool,
        uds: Option<String>,
        local_address: Option<String>,
    ) -> PyResult<Self> {
        let mut b = TransportConfig::builder()
            .timeouts(to_timeouts(timeouts)?)
            .tls_danger_accept_invalid_certs(!verify)
            .http2(http2)
            .proxy_from_env(trust_env && proxy.is_none());
        b = b.pool_max_connections(max_connections.unwrap_or(usize::MAX));
        b = b.pool_max_keepalive(max_keepalive_connections.unwrap_or(usize::MAX));
        if let Some(expiry) = keepalive_expiry {
            b = b.pool_keepalive_expiry(seconds(expiry, "keepalive_expiry")?);
        }
        if let Some(pem) = &ca_pem {
            b = b.tls_builtin_roots(false).tls_root_certificates_pem(pem);
        }
        if let Some(proxy) = &proxy {
            b = b.proxy(proxy);
        }
        if let Some(path) = uds {
            b = b.unix_socket(path);
        }
        if let Some(addr) = local_address {
            let ip = addr
                .parse()
                .map_err(|e| PyValueError::new_err(format!("local_address {addr:?}: {e}")))?;
            b = b.local_address(ip);
        }
        let config = b.build().map_err(|e| py_error(&e))?;
        let settings = Settings { backend, config };
        let transport = make(&settings).map_err(|e| py_error(&e))?;
        Ok(Transport {
            settings,
            current: Mutex::new((std::process::id(), transport)),
        })
    }

    /// The backend's name.
    #[getter]
    fn backend(&self) -> &str {
        &self.settings.backend
    }

    /// Where this backend's promises differ from the others' (the
    /// `Capabilities` fields a Python user meets; CAPABILITIES.md says
    /// what each means), by name.
    fn capabilities(&self) -> PyResult<Vec<(&'static str, bool)>> {
        let c = self.transport()?.capabilities();
        Ok(vec![
            ("socket_limit", c.socket_limit),
            ("connect_timeout_per_request", c.connect_timeout_per_request),
            ("frees_abandoned_at_once", c.frees_abandoned_at_once),
            (
                "never_resends_non_idempotent",
                c.never_resends_non_idempotent,
            ),
            ("poisons_connections", c.poisons_connections),
        ])
    }

    /// Starts a request for asyncio: `future` (of the loop `completions`
    /// belongs to) is settled with `(status, headers, http_version, stream,
    /// content)` or an `Error`; `content` is the whole body when it is
    /// small and its length known (then read at once: one wake of the loop
    /// per request), else `None` and `stream` gives it. `timeouts`: httpx's
    /// per-request (connect, read, write, pool). Returns what cancels it.
    fn send(
        &self,
        completions: &Completions,
        future: Py<PyAny>,
        method: &str,
        url: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        timeouts: HttpxTimeouts,
    ) -> PyResult<Abort> {
        let request = build_request(method, url, headers, Body::from(body), timeouts)?;
        self.start(completions, future, request)
    }

    /// The same for a body that streams: chunks are handed over through
    /// the returned [`Upload`] while the request runs (`length`: the
    /// body's `Content-Length`, when the request has one).
    fn send_streaming(
        &self,
        completions: &Completions,
        future: Py<PyAny>,
        method: &str,
        url: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        length: Option<u64>,
        timeouts: HttpxTimeouts,
    ) -> PyResult<(Abort, Upload)> {
        let (upload, body) = Upload::new(length, None);
        let request = build_request(method, url, headers, body, timeouts)?;
        let abort = self.start(completions, future, request)?;
        Ok((abort, upload))
    }

    /// `send_streaming` for the sync transport: the request starts at once;
    /// its chunks are handed over with `Upload.send_blocking`, then
    /// `Pending.wait` gives its head.
    fn send_streaming_blocking(
        &self,
        method: &str,
        url: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        length: Option<u64>,
        timeouts: HttpxTimeouts,
    ) -> PyResult<(Pending, Upload)> {
        let (answered_tx, answered) = tokio::sync::watch::channel(false);
        let (upload, body) = Upload::new(length, Some(answered));
        let request = build_request(method, url, headers, body, timeouts)?;
        let transport = self.transport()?;
        let (head_tx, head_rx) = tokio::sync::oneshot::channel();
        let task = runtime().spawn(async move {
            let response = transport.send(request).await;
            // the body is no longer needed once the answer came: the
            // uploading thread must stop waiting for room for its chunks
            let _ = answered_tx.send(true);
            let _ = head_tx.send(match response {
                Ok(response) => head(response).await,
                Err(e) => Err(e),
            });
        });
        Ok((
            Pending {
                head: Mutex::new(Some(head_rx)),
                task: task.abort_handle(),
            },
            upload,
        ))
    }

    /// The same, blocking (the sync transport), without the GIL while it
    /// waits.
    fn send_blocking(
        &self,
        py: Python<'_>,
        method: &str,
        url: &str,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        body: Vec<u8>,
        timeouts: HttpxTimeouts,
    ) -> PyResult<Py<PyAny>> {
        let request = build_request(method, url, headers, Body::from(body), timeouts)?;
        let transport = self.transport()?;
        let rt = runtime();
        // `send` called inside the runtime (in the block), so that the
        // backend sees it: called outside, a backend sends on its fallback
        // runtime, which a forked child does not have
        let head = py
            .detach(|| rt.block_on(async { head(transport.send(request).await?).await }))
            .map_err(|e| py_error(&e))?;
        head.to_python(py)
    }

    /// Lets idle connections go and refuses new requests (without the GIL
    /// while it does).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let transport = self.transport()?;
        let rt = runtime();
        py.detach(|| rt.block_on(transport.close()));
        Ok(())
    }
}

impl Transport {
    /// Sends `request` on the runtime; its head settles `future` (the
    /// asyncio side of `send` and `send_streaming`).
    fn start(
        &self,
        completions: &Completions,
        future: Py<PyAny>,
        request: httpswap::Request,
    ) -> PyResult<Abort> {
        let transport = self.transport()?;
        Ok(settle_later(completions.0.clone(), future, async move {
            head(transport.send(request).await?).await
        }))
    }

    /// The transport of this process: in a forked child, a new one (the
    /// parent's is left alone: its connections are the parent's).
    fn transport(&self) -> PyResult<SharedTransport> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if current.0 != pid {
            let fresh = make(&self.settings).map_err(|e| py_error(&e))?;
            let parents = std::mem::replace(&mut *current, (pid, fresh));
            std::mem::forget(parents);
        }
        Ok(current.1.clone())
    }
}

/// The transport `settings` describe, made on the runtime (a backend may
/// start tasks as it is made).
fn make(settings: &Settings) -> Result<SharedTransport, httpswap::Error> {
    let _guard = runtime().enter();
    httpswap::transport_by_name(&settings.backend, settings.config.clone())
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|e| PyValueError::new_err(format!("{what} = {value}: {e}")))
}

/// httpx's timeouts as Python gives them: (connect, read, write, pool) in
/// seconds, `None` for none.
type HttpxTimeouts = (Option<f64>, Option<f64>, Option<f64>, Option<f64>);

/// httpx's (connect, read, write, pool) as httpswap's timeouts (no total
/// deadline, as httpx has none).
fn to_timeouts(t: HttpxTimeouts) -> PyResult<Timeouts> {
    let one = |v: Option<f64>, what| v.map(|s| seconds(s, what)).transpose();
    Ok(Timeouts {
        connect: one(t.0, "connect timeout")?,
        read: one(t.1, "read timeout")?,
        write: one(t.2, "write timeout")?,
        pool: one(t.3, "pool timeout")?,
        total: None,
    })
}

fn build_request(
    method: &str,
    url: &str,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    body: Body,
    timeouts: HttpxTimeouts,
) -> PyResult<httpswap::Request> {
    let bad = |e: &dyn std::fmt::Display| Error::new_err(("LocalProtocol", e.to_string()));
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let mut request = builder.body(body).map_err(|e| {
        if e.is::<http::uri::InvalidUri>() {
            Error::new_err(("InvalidUrl", format!("invalid URL {url:?}: {e}")))
        } else {
            bad(&e)
        }
    })?;
    request.extensions_mut().insert(to_timeouts(timeouts)?);
    Ok(request)
}

/// A chunk of a streamed request body, or its failure.
type UploadChunk = Result<Bytes, httpswap::Error>;

/// How a streamed request body ended, as its sender said: `Ok` when
/// finished, `Err` (why) when it failed. Unset when the sender went
/// without saying: the body then fails too, never ends as complete.
type UploadEnd = Arc<std::sync::OnceLock<Result<(), String>>>;

/// The sending end of a streamed request body (see
/// `Transport::send_streaming`).
#[pyclass(module = "httpswap._httpswap")]
pub struct Upload {
    /// `None` once finished or failed.
    tx: Mutex<Option<tokio::sync::mpsc::Sender<UploadChunk>>>,
    end: UploadEnd,
    /// For the sync transport: becomes `true` when the request has its
    /// answer (or failed), after which no chunk is waited on.
    answered: Option<tokio::sync::watch::Receiver<bool>>,
}

/// Whether a chunk was taken.
struct Taken(bool);

impl ToPython for Taken {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(pyo3::types::PyBool::new(py, self.0)
            .to_owned()
            .into_any()
            .unbind())
    }
}

impl Upload {
    /// An upload and the request body it feeds (`length`: the declared
    /// `Content-Length`, if any).
    fn new(
        length: Option<u64>,
        answered: Option<tokio::sync::watch::Receiver<bool>>,
    ) -> (Upload, Body) {
        // a few chunks in flight: Python is not kept waiting for each one,
        // nor can it run far ahead of the connection
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let end = UploadEnd::default();
        let body = Body::from_http_body(Uploaded {
            rx,
            length,
            end: end.clone(),
        });
        let upload = Upload {
            tx: Mutex::new(Some(tx)),
            end,
            answered,
        };
        (upload, body)
    }

    fn sender(&self) -> Option<tokio::sync::mpsc::Sender<UploadChunk>> {
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records how the body ends, then lets the reader see its end.
    fn end(&self, how: Result<(), String>) {
        let _ = self.end.set(how);
        self.tx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// An upload dropped without `finish` or `fail` (an exception on the way):
/// its body fails rather than end short as if complete.
impl Drop for Upload {
    fn drop(&mut self) {
        self.end(Err("the request body was abandoned before its end".into()));
    }
}

#[pymethods]
impl Upload {
    /// Hands `chunk` to the request (for asyncio): `future` settles with
    /// `True` once it is taken, `False` when the request no longer reads
    /// its body (it ended, or the server answered early).
    fn send(&self, completions: &Completions, future: Py<PyAny>, chunk: Vec<u8>) -> Abort {
        let tx = self.sender();
        settle_later(completions.0.clone(), future, async move {
            let taken = match tx {
                Some(tx) => tx.send(Ok(Bytes::from(chunk))).await.is_ok(),
                None => false,
            };
            Ok::<_, httpswap::Error>(Taken(taken))
        })
    }

    /// Hands `chunk` to the request, blocking (without the GIL) until it
    /// is taken: `True`, or `False` when the request no longer needs its
    /// body (the server answered before it was all sent, or the request
    /// failed). The body is then left unfinished: it fails when this
    /// upload is dropped, which the caller does once the response is read
    /// (failed at once, it would cut the connection under the answer:
    /// `test_an_early_answer_stops_the_upload`).
    fn send_blocking(&self, py: Python<'_>, chunk: Vec<u8>) -> bool {
        let Some(tx) = self.sender() else {
            return false;
        };
        let mut answered = self.answered.clone();
        let rt = runtime();
        let taken = py.detach(|| {
            rt.block_on(async move {
                let answered = async {
                    match &mut answered {
                        // an error: the request's task ended
                        Some(answered) => drop(answered.wait_for(|done| *done).await),
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    biased;
                    () = answered => false,
                    sent = tx.send(Ok(Bytes::from(chunk))) => sent.is_ok(),
                }
            })
        });
        taken
    }

    /// The body ends here.
    fn finish(&self) {
        self.end(Ok(()));
    }

    /// The body could not be read: the request fails with `message`
    /// (never sent as complete).
    fn fail(&self, message: String) {
        self.end(Err(message));
    }
}

/// A streamed request body as the transport reads it: the chunks Python
/// hands over, with the length the request declared; it ends as its
/// sender said ([`UploadEnd`]).
struct Uploaded {
    rx: tokio::sync::mpsc::Receiver<UploadChunk>,
    length: Option<u64>,
    end: UploadEnd,
}

impl http_body::Body for Uploaded {
    type Data = Bytes;
    type Error = httpswap::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, httpswap::Error>>> {
        self.rx.poll_recv(cx).map(|chunk| match chunk {
            Some(chunk) => Some(chunk.map(|data| {
                if let Some(left) = &mut self.length {
                    *left = left.saturating_sub(data.len() as u64);
                }
                http_body::Frame::data(data)
            })),
            None => match self.end.get() {
                Some(Ok(())) => None,
                Some(Err(why)) => Some(Err(httpswap::Error::new(
                    httpswap::ErrorKind::Other,
                    format!("the request body failed: {why}"),
                ))),
                None => Some(Err(httpswap::Error::new(
                    httpswap::ErrorKind::Other,
                    "the request body failed: its sender went away",
                ))),
            },
        })
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match self.length {
            Some(n) => http_body::SizeHint::with_exact(n),
            None => http_body::SizeHint::default(),
        }
    }
}

/// A request started by `Transport::send_streaming_blocking`: its head,
/// once it comes. Dropped unanswered, the request is cancelled.
#[pyclass(module = "httpswap._httpswap")]
pub struct Pending {
    head: Mutex<Option<tokio::sync::oneshot::Receiver<Result<Head, httpswap::Error>>>>,
    task: tokio::task::AbortHandle,
}

#[pymethods]
impl Pending {
    /// Waits (without the GIL) for the response head: as
    /// `Transport::send_blocking` returns it.
    fn wait(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(head) = self
            .head
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Err(Error::new_err((
                "Other",
                "the request was already waited for",
            )));
        };
        let rt = runtime();
        let head = py
            .detach(|| rt.block_on(head))
            .map_err(|_| Error::new_err(("Other", "the request was cancelled")))?
            .map_err(|e| py_error(&e))?;
        head.to_python(py)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response head, for Python, with the whole body when it was read at
/// once.
struct Head {
    status: u16,
    headers: Vec<(Bytes, Bytes)>,
    version: &'static str,
    body: Body,
    content: Option<Bytes>,
}

/// The largest body read with its head (its length known in advance).
const READ_AT_ONCE: u64 = 64 * 1024;

/// `response` for Python: its body read at once when its length is known
/// and at most [`READ_AT_ONCE`] (within the transport's read timeout, as
/// any read), else left to stream.
async fn head(response: httpswap::Response) -> Result<Head, httpswap::Error> {
    let mut head = Head::from(response);
    if head
        .body
        .content_length()
        .is_some_and(|n| n <= READ_AT_ONCE)
    {
        let body = std::mem::take(&mut head.body);
        head.content = Some(body.collect_bytes().await?);
    }
    Ok(head)
}

impl From<httpswap::Response> for Head {
    fn from(response: httpswap::Response) -> Self {
        let (parts, body) = response.into_parts();
        let version = match parts.version {
            http::Version::HTTP_09 => "HTTP/0.9",
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2",
            http::Version::HTTP_3 => "HTTP/3",
            _ => "HTTP/1.1",
        };
        let headers = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    Bytes::copy_from_slice(n.as_str().as_bytes()),
                    Bytes::copy_from_slice(v.as_bytes()),
                )
            })
            .collect();
        Head {
            status: parts.status.as_u16(),
            headers,
            version,
            body,
            content: None,
        }
    }
}

impl ToPython for Head {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let headers = PyList::empty(py);
        for (n, v) in &self.headers {
            headers.append((PyBytes::new(py, n), PyBytes::new(py, v)))?;
        }
        let stream = Py::new(
            py,
            ResponseStream {
                body: Arc::new(tokio::sync::Mutex::new(Some(self.body))),
            },
        )?;
        Ok(PyTuple::new(
            py,
            [
                self.status.into_pyobject(py)?.into_any(),
                headers.into_any(),
                self.version.into_pyobject(py)?.into_any(),
                stream.into_bound(py).into_any(),
                match &self.content {
                    Some(content) => PyBytes::new(py, content).into_any(),
                    None => py.None().into_bound(py),
                },
            ],
        )?
        .into_any()
        .unbind())
    }
}

/// A response body, read chunk by chunk.
#[pyclass(module = "httpswap._httpswap")]
pub struct ResponseStream {
    /// `None` once closed.
    body: Arc<tokio::sync::Mutex<Option<Body>>>,
}

/// The next chunk of data (`None` at the end).
struct Chunk(Option<Bytes>);

impl ToPython for Chunk {
    fn to_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self.0 {
            Some(data) => PyBytes::new(py, &data).into_any().unbind(),
            None => py.None(),
        })
    }
}

async fn next_chunk(body: Arc<tokio::sync::Mutex<Option<Body>>>) -> Result<Chunk, httpswap::Error> {
    let mut body = body.lock().await;
    let Some(stream) = body.as_mut() else {
        return Ok(Chunk(None));
    };
    loop {
        match stream.frame().await {
            // trailers are skipped: httpx has no place for them
            Some(frame) => {
                if let Ok(data) = frame?.into_data() {
                    if !data.is_empty() {
                        return Ok(Chunk(Some(data)));
                    }
                }
            }
            None => {
                *body = None;
                return Ok(Chunk(None));
            }
        }
    }
}

#[pymethods]
impl ResponseStream {
    /// The next chunk for asyncio, as `Transport::send` settles its future
    /// (bytes, or `None` at the end).
    fn next(&self, completions: &Completions, future: Py<PyAny>) -> Abort {
        settle_later(completions.0.clone(), future, next_chunk(self.body.clone()))
    }

    /// The next chunk, blocking, without the GIL while it waits.
    fn next_blocking(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let body = self.body.clone();
        let rt = runtime();
        py.detach(|| rt.block_on(next_chunk(body)))
            .map_err(|e| py_error(&e))?
            .to_python(py)
    }

    /// Drops the body: a connection whose response was not read to its
    /// end is closed, never reused.
    fn close(&self) {
        if let Ok(mut body) = self.body.try_lock() {
            *body = None;
        } else {
            // a read is under way: drop the body when it is done
            let body = self.body.clone();
            runtime().spawn(async move {
                *body.lock().await = None;
            });
        }
    }
}

/// The module.
#[pymodule]
fn _httpswap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("Error", m.py().get_type::<Error>())?;
    m.add_class::<Transport>()?;
    m.add_class::<ResponseStream>()?;
    m.add_class::<Abort>()?;
    m.add_class::<Completions>()?;
    m.add_class::<Upload>()?;
    m.add_class::<Pending>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
