//! hyper and I/O errors mapped onto the core taxonomy, in one place.

use std::error::Error as StdError;
use std::io;

use httpswap_core::{Error, ErrorKind};

pub(crate) const BACKEND: &str = "hyper";

use httpswap_adapter::WriteTimedOut;

use httpswap_adapter::find_source as find;
pub(crate) use httpswap_adapter::hyper_errors::Phase;
use httpswap_adapter::hyper_errors::{self, classify};

/// Maps a hyper error, walking its source chain once.
pub(crate) fn map_hyper(err: hyper::Error, phase: Phase, origin: &str) -> Error {
    let dyn_err: &(dyn StdError + 'static) = &err;
    let (kind, msg) = match find::<WriteTimedOut>(dyn_err) {
        Some(w) => (
            ErrorKind::WriteTimeout,
            format!("write timed out after {:?} to {origin}", w.0),
        ),
        None => classify(&err, phase, origin),
    };
    Error::new(kind, msg).with_source(err).with_backend(BACKEND)
}

/// Whether a failure on a reused connection looks like the server had
/// closed it (so one retry on a fresh connection is right).
pub(crate) fn is_dead_connection(err: &hyper::Error) -> bool {
    let dyn_err: &(dyn StdError + 'static) = err;
    find::<WriteTimedOut>(dyn_err).is_none() && hyper_errors::is_dead_connection(err)
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
