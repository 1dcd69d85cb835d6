//! hyper and I/O errors mapped onto the core taxonomy, in one place.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use httpswap_core::{Error, ErrorKind};

pub(crate) const BACKEND: &str = "hyper";

/// Marker inside an `io::Error` raised when a write made no progress
/// within the write timeout.
#[derive(Debug)]
pub(crate) struct WriteTimedOut(pub(crate) std::time::Duration);

impl fmt::Display for WriteTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no write progress for {:?}", self.0)
    }
}

impl StdError for WriteTimedOut {}

/// Where in the exchange an error happened: decides between Write/Read and
/// whether the request may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Sending the request and waiting for the response head.
    Request,
    /// Reading the response body.
    ResponseBody,
}

fn chain<'a>(
    err: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(err), |e: &&'a (dyn StdError + 'static)| (*e).source())
}

/// Finds a `T` in the source chain. `io::Error::source` skips the error it
/// wraps, so the wrapped error of every `io::Error` is looked at too.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    chain(err).find_map(|e| {
        e.downcast_ref::<T>().or_else(|| {
            e.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| find::<T>(inner))
        })
    })
}

/// Maps a hyper error, walking its source chain once.
pub(crate) fn map_hyper(err: hyper::Error, phase: Phase, origin: &str) -> Error {
    let kind_msg: (ErrorKind, String) = {
        let dyn_err: &(dyn StdError + 'static) = &err;
        if let Some(ours) = find::<Error>(dyn_err) {
            // our own error, from a request body stream (or a timeout we raised)
            (ours.kind(), format!("request body failed: {ours}"))
        } else if let Some(w) = find::<WriteTimedOut>(dyn_err) {
            (
                ErrorKind::WriteTimeout,
                format!("write timed out after {:?} to {origin}", w.0),
            )
        } else if err.is_parse() || err.is_parse_status() {
            (
                ErrorKind::RemoteProtocol,
                format!("malformed response from {origin}: {err}"),
            )
        } else if err.is_user() {
            (
                ErrorKind::LocalProtocol,
                format!("invalid request to {origin}: {err}"),
            )
        } else if let Some(io) = find::<io::Error>(dyn_err) {
            io_kind(io, phase, origin)
        } else if err.is_incomplete_message() || err.is_canceled() || err.is_closed() {
            (
                ErrorKind::RemoteProtocol,
                format!("{origin} closed the connection before a complete response"),
            )
        } else if phase == Phase::ResponseBody {
            (
                ErrorKind::RemoteProtocol,
                format!("response body from {origin} failed: {err}"),
            )
        } else {
            (
                ErrorKind::RemoteProtocol,
                format!("request to {origin} failed: {err}"),
            )
        }
    };
    Error::new(kind_msg.0, kind_msg.1)
        .with_source(err)
        .with_backend(BACKEND)
}

fn io_kind(io: &io::Error, phase: Phase, origin: &str) -> (ErrorKind, String) {
    use io::ErrorKind as K;
    match (io.kind(), phase) {
        (K::UnexpectedEof, Phase::ResponseBody) => (
            ErrorKind::RemoteProtocol,
            format!("response body from {origin} truncated: connection closed early"),
        ),
        (K::UnexpectedEof, Phase::Request) => (
            ErrorKind::RemoteProtocol,
            format!("{origin} closed the connection before a complete response"),
        ),
        (K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe, Phase::ResponseBody) => (
            ErrorKind::Read,
            format!("connection to {origin} reset while reading the response"),
        ),
        (K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe, Phase::Request) => (
            ErrorKind::RemoteProtocol,
            format!("connection to {origin} reset before a complete response"),
        ),
        (_, Phase::ResponseBody) => (
            ErrorKind::Read,
            format!("reading from {origin} failed: {io}"),
        ),
        (_, Phase::Request) => (
            ErrorKind::Write,
            format!("sending to {origin} failed: {io}"),
        ),
    }
}

/// Whether a failure on a reused connection looks like the server had
/// closed it (so one retry on a fresh connection is right).
pub(crate) fn is_dead_connection(err: &hyper::Error) -> bool {
    if err.is_canceled() || err.is_incomplete_message() || err.is_closed() {
        return true;
    }
    let dyn_err: &(dyn StdError + 'static) = err;
    if find::<WriteTimedOut>(dyn_err).is_some() {
        return false;
    }
    find::<io::Error>(dyn_err).is_some_and(|io| {
        matches!(
            io.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    })
}

/// Maps a connect-phase I/O error (TCP or TLS).
pub(crate) fn map_connect_io(err: io::Error, what: &str) -> Error {
    let dyn_err: &(dyn StdError + 'static) = &err;
    let tls = find::<rustls::Error>(dyn_err).map(|e| e.to_string());
    let msg = match tls {
        Some(t) => format!("tls handshake with {what} failed: {t}"),
        None => format!("connecting to {what} failed: {err}"),
    };
    Error::new(ErrorKind::Connect, msg)
        .with_source(err)
        .with_backend(BACKEND)
}
