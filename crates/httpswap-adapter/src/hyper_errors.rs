//! hyper's errors classified onto the core taxonomy, for every adapter whose
//! library runs on hyper (the hyper backend, reqwest).

use std::error::Error as StdError;
use std::io;

use httpswap_core::{Error, ErrorKind};

use crate::find_source;

/// Where in the exchange an error happened: decides between Write/Read and
/// whether the request may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending the request and waiting for the response head.
    Request,
    /// As `Request`, while the library still had part of the request body
    /// to send (its [`UploadProgress`](crate::UploadProgress) not done): a
    /// connection reset here is a failed write, as curl reports it
    /// (`round_trip_early_response_during_upload`).
    RequestBody,
    /// Reading the response body.
    ResponseBody,
}

impl Phase {
    /// The phase of a failure before the response head, from how far the
    /// library got with the request body: [`RequestBody`](Self::RequestBody)
    /// while part of it was still to send, else [`Request`](Self::Request).
    pub fn sending(progress: Option<&crate::UploadProgress>) -> Phase {
        match progress {
            Some(p) if !p.is_done() => Phase::RequestBody,
            _ => Phase::Request,
        }
    }
}

/// The kind and message for a hyper error, walking its source chain once.
/// One of our own errors inside (from a request body stream) keeps its kind.
pub fn classify(err: &hyper::Error, phase: Phase, origin: &str) -> (ErrorKind, String) {
    let dyn_err: &(dyn StdError + 'static) = err;
    if let Some(ours) = find_source::<Error>(dyn_err) {
        (ours.kind(), format!("request body failed: {ours}"))
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
    } else if let Some(io) = find_source::<io::Error>(dyn_err) {
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
}

/// The kind and message for an I/O error during an exchange.
pub fn io_kind(io: &io::Error, phase: Phase, origin: &str) -> (ErrorKind, String) {
    use io::ErrorKind as K;
    match (io.kind(), phase) {
        (K::UnexpectedEof, Phase::ResponseBody) => (
            ErrorKind::RemoteProtocol,
            format!("response body from {origin} truncated: connection closed early"),
        ),
        (K::UnexpectedEof, Phase::Request | Phase::RequestBody) => (
            ErrorKind::RemoteProtocol,
            format!("{origin} closed the connection before a complete response"),
        ),
        (K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe, Phase::ResponseBody) => (
            ErrorKind::Read,
            format!("connection to {origin} reset while reading the response"),
        ),
        (K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe, Phase::RequestBody) => (
            ErrorKind::Write,
            format!("connection to {origin} reset while sending the request body"),
        ),
        (K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe, Phase::Request) => (
            ErrorKind::RemoteProtocol,
            format!("connection to {origin} reset before a complete response"),
        ),
        (_, Phase::ResponseBody) => (
            ErrorKind::Read,
            format!("reading from {origin} failed: {io}"),
        ),
        (_, Phase::Request | Phase::RequestBody) => (
            ErrorKind::Write,
            format!("sending to {origin} failed: {io}"),
        ),
    }
}

/// Whether a failure looks like the server had closed the connection
/// before answering (on a reused connection, one retry is then right).
///
/// On HTTP/2 that includes a stream the server refused (`REFUSED_STREAM`)
/// or left out of its GOAWAY (a stream above the last one it names): RFC
/// 9113 8.7 says neither was processed. A server closing an idle
/// connection as a new stream crosses its GOAWAY does this
/// (`http2_goaway_crossing_a_new_stream`).
pub fn is_dead_connection(err: &hyper::Error) -> bool {
    if err.is_canceled() || err.is_incomplete_message() || err.is_closed() {
        return true;
    }
    let dyn_err: &(dyn StdError + 'static) = err;
    if find_source::<Error>(dyn_err).is_some() {
        return false;
    }
    if let Some(h2) = find_source::<h2::Error>(dyn_err) {
        if h2.reason() == Some(h2::Reason::REFUSED_STREAM) || (h2.is_go_away() && h2.is_remote()) {
            return true;
        }
    }
    find_source::<io::Error>(dyn_err).is_some_and(|io| {
        matches!(
            io.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_is_a_write_only_while_body_is_left_to_send() {
        for kind in [
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionAborted,
        ] {
            let io = io::Error::from(kind);
            assert_eq!(io_kind(&io, Phase::RequestBody, "o").0, ErrorKind::Write);
            assert_eq!(
                io_kind(&io, Phase::Request, "o").0,
                ErrorKind::RemoteProtocol
            );
            assert_eq!(io_kind(&io, Phase::ResponseBody, "o").0, ErrorKind::Read);
        }
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(
            io_kind(&eof, Phase::RequestBody, "o").0,
            ErrorKind::RemoteProtocol
        );
    }
}
