//! isahc's and curl's errors onto the core kinds, in one function.

use std::error::Error as StdError;
use std::io;

use curl_sys as sys;
use httpswap_adapter::find_source;
use httpswap_core::{Error, ErrorKind};

/// Where an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Before the response head arrived.
    Request,
    /// While reading the response body.
    Body,
}

/// Maps any error of isahc (an `isahc::Error`, or the `io::Error` a body
/// read returns) to the core taxonomy. Our own errors (a failing request
/// body) pass through; otherwise curl's code decides when there is one,
/// else isahc's kind, else the I/O kind.
pub(crate) fn map_error(
    err: Box<dyn StdError + Send + Sync + 'static>,
    phase: Phase,
    proxy: Option<&str>,
    what: &(impl std::fmt::Display + ?Sized),
) -> Error {
    // written here, on the error's path only
    let what = &what.to_string();
    let via_proxy = proxy.is_some();
    let err = match err.downcast::<Error>() {
        Ok(ours) => return *ours,
        Err(other) => other,
    };
    let err = match err.downcast::<io::Error>() {
        Ok(io) if io.get_ref().is_some_and(|i| i.is::<Error>()) => {
            let inner = io.into_inner().expect("checked");
            return *inner.downcast::<Error>().expect("checked");
        }
        Ok(io) => io as Box<dyn StdError + Send + Sync>,
        Err(other) => other,
    };
    let owned = err;
    let err: &(dyn StdError + 'static) = &*owned;
    if let Some(ours) = find_source::<Error>(err) {
        // a failing request body: its error stays in the source chain
        return Error::new(ours.kind(), format!("request body failed: {ours}")).with_source(owned);
    }
    let curl = find_source::<curl::Error>(err);
    let kind = match curl {
        Some(c) => curl_kind(c.code(), phase, via_proxy),
        None => match find_source::<isahc::Error>(err) {
            Some(e) => isahc_kind(e.kind(), phase, via_proxy),
            None => io_kind(err, phase),
        },
    };
    let message = match curl {
        Some(c) => format!(
            "{} (curl error {}: {})",
            describe(c.code(), kind, phase, proxy, what),
            c.code(),
            c.description()
        ),
        None => match kind {
            ErrorKind::ConnectTimeout => format!("connecting to {what} timed out: {err}"),
            _ => format!("{what}: {err}"),
        },
    };
    let sent = !matches!(
        kind,
        ErrorKind::Connect | ErrorKind::ConnectTimeout | ErrorKind::Proxy | ErrorKind::ProxyConnect
    );
    Error::new(kind, message)
        .with_request_sent(sent)
        .with_source(owned)
}

/// What a curl code means for this request, in words naming what failed.
fn describe(
    code: sys::CURLcode,
    kind: ErrorKind,
    phase: Phase,
    proxy: Option<&str>,
    what: &str,
) -> String {
    let via_proxy = proxy.is_some();
    let p = proxy.unwrap_or_default();
    match code {
        sys::CURLE_COULDNT_RESOLVE_PROXY => format!("could not resolve proxy {p} for {what}"),
        sys::CURLE_COULDNT_RESOLVE_HOST if via_proxy => {
            format!("could not resolve proxy {p} for {what}")
        }
        sys::CURLE_COULDNT_RESOLVE_HOST => format!("could not resolve the host of {what}"),
        // curl says 7 for a proxy that refused the CONNECT tunnel too (a
        // 407, say): the adapter tells the two apart (see `tunnel_failure`)
        sys::CURLE_COULDNT_CONNECT if via_proxy && what.starts_with("https:") => {
            format!("could not connect to proxy {p} for {what}, or it refused the tunnel")
        }
        sys::CURLE_COULDNT_CONNECT if via_proxy => {
            format!("could not connect to proxy {p} for {what}: refused or unreachable")
        }
        sys::CURLE_COULDNT_CONNECT => format!(
            "could not connect to {what}: refused or unreachable{}",
            select_hint()
        ),
        97 => format!("proxy {p} refused or failed the tunnel to {what}"),
        sys::CURLE_OPERATION_TIMEDOUT => format!("connecting to {what} timed out"),
        sys::CURLE_PEER_FAILED_VERIFICATION => format!(
            "the certificate of {what} was not accepted (unknown issuer, another host's, or expired)"
        ),
        sys::CURLE_SSL_CONNECT_ERROR
        | sys::CURLE_SSL_CERTPROBLEM
        | sys::CURLE_SSL_CIPHER
        | sys::CURLE_SSL_CACERT_BADFILE
        | sys::CURLE_SSL_ISSUER_ERROR
        | sys::CURLE_SSL_PINNEDPUBKEYNOTMATCH
        | sys::CURLE_SSL_INVALIDCERTSTATUS
        | sys::CURLE_USE_SSL_FAILED => format!("tls handshake with {what} failed"),
        sys::CURLE_GOT_NOTHING => format!("{what} closed the connection without a response"),
        sys::CURLE_SEND_ERROR => {
            format!("sending the request to {what} failed: the connection was reset or closed")
        }
        sys::CURLE_RECV_ERROR if via_proxy && phase == Phase::Request => {
            format!("proxy {p} closed or refused the tunnel to {what}")
        }
        sys::CURLE_RECV_ERROR if phase == Phase::Request => {
            format!("{what} reset or closed the connection before a complete response")
        }
        sys::CURLE_RECV_ERROR => {
            format!("the connection to {what} was reset while reading the response body")
        }
        sys::CURLE_PARTIAL_FILE => {
            format!("response body from {what} truncated: the connection closed early")
        }
        sys::CURLE_HTTP2 => format!("HTTP/2 error on the connection to {what}"),
        sys::CURLE_HTTP2_STREAM => format!("the HTTP/2 stream to {what} was reset"),
        sys::CURLE_SEND_FAIL_REWIND => format!(
            "the connection to {what} died and the request body could not be sent again"
        ),
        sys::CURLE_UNSUPPORTED_PROTOCOL => format!("{what} did not answer with HTTP"),
        sys::CURLE_FTP_WEIRD_SERVER_REPLY => format!("malformed response from {what}"),
        100 => format!("a response header from {what} is too large"),
        sys::CURLE_BAD_CONTENT_ENCODING => format!("bad content encoding from {what}"),
        sys::CURLE_READ_ERROR | sys::CURLE_UPLOAD_FAILED => {
            format!("sending the request body to {what} failed")
        }
        _ => format!("{what}: {}", kind.as_str()),
    }
}

/// Why a connection may have failed in a process with many files open,
/// when this libcurl waits on sockets with `select()` (see `build.rs`).
fn select_hint() -> String {
    if cfg!(curl_poll) {
        return String::new();
    }
    let open = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    if open < 1000 {
        return String::new();
    }
    format!(
        "; this process has {open} files open, and this libcurl was built without HAVE_POLL: \
         it waits on sockets with select(), which cannot use a file descriptor past 1023 \
         (build with CFLAGS=-DHAVE_POLL, see httpswap-isahc's docs)"
    )
}

/// Whether a failure before the response head says the connection died
/// before any byte of a response arrived: the request could not be sent
/// (55), nothing came back (52), the receive failed (56), the HTTP/2
/// connection or stream was reset or went away (16, 92), or curl wanted to
/// resend but could not rewind the body (65); or, without a curl code, the
/// connection was reset or closed. Never for our own errors (a failing
/// request body, a write timeout), nor for answers curl refused (not HTTP,
/// too large, malformed), which are the server's.
pub(crate) fn died_before_response(err: &isahc::Error) -> bool {
    let chain: &(dyn StdError + 'static) = err;
    if find_source::<Error>(chain).is_some() {
        return false;
    }
    match find_source::<curl::Error>(chain).map(curl::Error::code) {
        Some(code) => matches!(
            code,
            sys::CURLE_SEND_ERROR
                | sys::CURLE_GOT_NOTHING
                | sys::CURLE_RECV_ERROR
                | sys::CURLE_HTTP2
                | sys::CURLE_HTTP2_STREAM
                | sys::CURLE_SEND_FAIL_REWIND
        ),
        None => find_source::<io::Error>(chain).is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::UnexpectedEof
            )
        }),
    }
}

/// curl's codes (`CURLE_*`).
fn curl_kind(code: sys::CURLcode, phase: Phase, via_proxy: bool) -> ErrorKind {
    use ErrorKind::*;
    let connect = if via_proxy { ProxyConnect } else { Connect };
    match code {
        // URLs are checked before curl sees them: this is curl's answer
        // to a response that is not HTTP (a malformed status line)
        sys::CURLE_UNSUPPORTED_PROTOCOL => RemoteProtocol,
        sys::CURLE_URL_MALFORMAT => InvalidUrl,
        sys::CURLE_COULDNT_RESOLVE_PROXY => ProxyConnect,
        sys::CURLE_COULDNT_RESOLVE_HOST => connect,
        sys::CURLE_COULDNT_CONNECT => connect,
        // 97: a proxy handshake failed; curl also reports a refused CONNECT
        // (403/407) as a receive error before any response
        97 => Proxy,
        sys::CURLE_RECV_ERROR if via_proxy && phase == Phase::Request => Proxy,
        // the only timeout curl is given is the connect timeout: the read
        // and write gaps and the deadline are the adapter's
        sys::CURLE_OPERATION_TIMEDOUT => ConnectTimeout,
        sys::CURLE_SSL_CONNECT_ERROR
        | sys::CURLE_PEER_FAILED_VERIFICATION
        | sys::CURLE_SSL_CERTPROBLEM
        | sys::CURLE_SSL_CIPHER
        | sys::CURLE_SSL_CACERT_BADFILE
        | sys::CURLE_SSL_ISSUER_ERROR
        | sys::CURLE_SSL_PINNEDPUBKEYNOTMATCH
        | sys::CURLE_SSL_INVALIDCERTSTATUS
        | sys::CURLE_USE_SSL_FAILED => connect,
        // a response cut short, nothing at all, or not HTTP (code 8 is
        // CURLE_WEIRD_SERVER_REPLY, named after FTP in curl-sys)
        sys::CURLE_PARTIAL_FILE
        | sys::CURLE_GOT_NOTHING
        | sys::CURLE_FTP_WEIRD_SERVER_REPLY
        | sys::CURLE_HTTP2
        | sys::CURLE_HTTP2_STREAM
        | sys::CURLE_BAD_CONTENT_ENCODING => RemoteProtocol,
        // CURLE_TOO_LARGE (100): a header beyond curl's limit
        100 => RemoteProtocol,
        sys::CURLE_SEND_ERROR | sys::CURLE_UPLOAD_FAILED => Write,
        sys::CURLE_RECV_ERROR => match phase {
            Phase::Request => RemoteProtocol,
            Phase::Body => Read,
        },
        sys::CURLE_BAD_FUNCTION_ARGUMENT => LocalProtocol,
        sys::CURLE_READ_ERROR => Write,
        // the reused connection died before the response and the body
        // cannot be sent again: the contract's RemoteProtocol
        sys::CURLE_SEND_FAIL_REWIND => RemoteProtocol,
        _ => match phase {
            Phase::Request => Connect,
            Phase::Body => Read,
        },
    }
}

/// isahc's kinds, when no curl code is at hand.
fn isahc_kind(kind: &isahc::error::ErrorKind, phase: Phase, via_proxy: bool) -> ErrorKind {
    use isahc::error::ErrorKind as I;
    let connect = if via_proxy {
        ErrorKind::ProxyConnect
    } else {
        ErrorKind::Connect
    };
    match kind {
        I::BadServerCertificate | I::ConnectionFailed | I::NameResolution | I::TlsEngine => connect,
        I::Timeout => ErrorKind::ConnectTimeout,
        I::ProtocolViolation | I::InvalidContentEncoding => ErrorKind::RemoteProtocol,
        I::InvalidRequest => ErrorKind::LocalProtocol,
        I::ClientInitialization | I::InvalidTlsConfiguration | I::BadClientCertificate => {
            ErrorKind::Builder
        }
        I::RequestBodyNotRewindable => ErrorKind::BodyNotReplayable,
        _ => match phase {
            Phase::Request => ErrorKind::Connect,
            Phase::Body => ErrorKind::Read,
        },
    }
}

fn io_kind(err: &(dyn StdError + 'static), phase: Phase) -> ErrorKind {
    match find_source::<io::Error>(err).map(io::Error::kind) {
        Some(io::ErrorKind::UnexpectedEof) => ErrorKind::RemoteProtocol,
        Some(io::ErrorKind::TimedOut) => ErrorKind::ConnectTimeout,
        _ => match phase {
            Phase::Request => ErrorKind::Connect,
            Phase::Body => ErrorKind::Read,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_codes_by_phase_and_proxy() {
        use ErrorKind::*;
        let cases = [
            (sys::CURLE_COULDNT_CONNECT, Phase::Request, false, Connect),
            (
                sys::CURLE_COULDNT_CONNECT,
                Phase::Request,
                true,
                ProxyConnect,
            ),
            (
                sys::CURLE_COULDNT_RESOLVE_PROXY,
                Phase::Request,
                true,
                ProxyConnect,
            ),
            (
                sys::CURLE_OPERATION_TIMEDOUT,
                Phase::Request,
                false,
                ConnectTimeout,
            ),
            (sys::CURLE_PARTIAL_FILE, Phase::Body, false, RemoteProtocol),
            (
                sys::CURLE_GOT_NOTHING,
                Phase::Request,
                false,
                RemoteProtocol,
            ),
            (
                sys::CURLE_PEER_FAILED_VERIFICATION,
                Phase::Request,
                false,
                Connect,
            ),
            (sys::CURLE_RECV_ERROR, Phase::Body, false, Read),
            (sys::CURLE_RECV_ERROR, Phase::Request, true, Proxy),
            (sys::CURLE_SEND_ERROR, Phase::Request, false, Write),
            (sys::CURLE_URL_MALFORMAT, Phase::Request, false, InvalidUrl),
        ];
        for (code, phase, via_proxy, kind) in cases {
            assert_eq!(
                curl_kind(code, phase, via_proxy),
                kind,
                "curl {code}, {phase:?}"
            );
        }
    }

    #[test]
    fn our_errors_pass_through_an_io_error() {
        let ours = Error::new(ErrorKind::WriteTimeout, "stalled");
        let io = io::Error::other(ours);
        let back = map_error(Box::new(io), Phase::Request, None, "x");
        assert_eq!(back.kind(), ErrorKind::WriteTimeout);
        assert_eq!(back.to_string(), "stalled");
    }
}
