//! reqwest's errors mapped onto the core taxonomy, in one function.
//!
//! reqwest wraps hyper-util's client error, which wraps hyper's error or
//! the connector's (I/O, rustls, the proxy tunnel, whose error type
//! hyper-util keeps private). The chain is searched
//! once, most specific first.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;

use http::Extensions;
use httpswap_adapter::find_source;
use httpswap_adapter::hyper_errors::{classify, io_kind, is_dead_connection, Phase};
use httpswap_core::{Error, ErrorKind};
use hyper_util::client::legacy::connect::HttpInfo;

use crate::BACKEND;

/// Maps a reqwest error. `proxy`: the `host:port` of the proxy the request
/// went to (a failure to connect is then the proxy's); `what` names the
/// origin (written here, on the error's path only).
pub(crate) fn map_error(
    err: reqwest::Error,
    phase: Phase,
    proxy: Option<&str>,
    what: &(impl std::fmt::Display + ?Sized),
) -> Error {
    let (kind, msg) = classify_reqwest(&err, phase, proxy, &what.to_string());
    Error::new(kind, msg).with_source(err).with_backend(BACKEND)
}

fn classify_reqwest(
    err: &reqwest::Error,
    phase: Phase,
    proxy: Option<&str>,
    what: &str,
) -> (ErrorKind, String) {
    let chain: &(dyn StdError + 'static) = err;
    if let Some(ours) = find_source::<Error>(chain) {
        return (ours.kind(), format!("request body failed: {ours}"));
    }
    if err.is_connect() {
        if let Some(tls) = find_source::<rustls::Error>(chain) {
            return (
                ErrorKind::Connect,
                format!("tls handshake with {what} failed: {tls}"),
            );
        }
        if err.is_timeout() {
            return (
                ErrorKind::ConnectTimeout,
                format!("connecting to {what} timed out"),
            );
        }
        if let Some(p) = proxy {
            // the proxy was unreachable, refused the tunnel (407, 403) or
            // could not reach the origin; hyper-util's tunnel error type is
            // private, so its text is all there is to tell a 407 by
            let root = root(chain);
            if root.to_string().contains("proxy authorization required") {
                return (
                    ErrorKind::Proxy,
                    format!(
                        "proxy {p} refused the CONNECT tunnel to {what} with status 407 \
                         (proxy authentication required)"
                    ),
                );
            }
            // no tunnel error (a forward proxy's connection failed) or the
            // tunnel's "failed to create underlying connection": the proxy
            // was not reached; any other tunnel error is its answer
            let mut tunnel = None;
            let mut next = Some(chain);
            while let Some(e) = next {
                let text = e.to_string();
                if text.starts_with("tunnel error: ") {
                    tunnel = Some(text);
                    break;
                }
                next = e.source();
            }
            let unreached =
                tunnel.is_none_or(|t| t.contains("failed to create underlying connection"));
            if unreached {
                return (
                    ErrorKind::ProxyConnect,
                    format!("proxy {p} for {what} is unreachable: {root}"),
                );
            }
            return (
                ErrorKind::Proxy,
                format!("proxy {p} for {what} failed: {root}"),
            );
        }
        return (
            ErrorKind::Connect,
            format!("connecting to {what} failed: {}", root(chain)),
        );
    }
    if let Some(h) = find_source::<hyper::Error>(chain) {
        return classify(h, phase, what);
    }
    if let Some(io) = find_source::<io::Error>(chain) {
        return io_kind(io, phase, what);
    }
    if err.is_builder() {
        return (
            ErrorKind::Builder,
            format!("reqwest rejected the request: {err}"),
        );
    }
    if err.is_timeout() {
        return (ErrorKind::Timeout, format!("request to {what} timed out"));
    }
    (ErrorKind::Other, format!("request to {what} failed: {err}"))
}

/// The innermost error, for messages.
fn root<'a>(err: &'a (dyn StdError + 'static)) -> &'a (dyn StdError + 'static) {
    httpswap_adapter::chain(err).last().unwrap_or(err)
}

/// Whether the connection died under the request before an answer.
pub(crate) fn is_dead(err: &reqwest::Error) -> bool {
    let chain: &(dyn StdError + 'static) = err;
    !err.is_connect() && find_source::<hyper::Error>(chain).is_some_and(is_dead_connection)
}

/// The address pair of the connection a failed request used, when
/// hyper-util reports it.
pub(crate) fn connection_of(err: &reqwest::Error) -> Option<(SocketAddr, SocketAddr)> {
    let chain: &(dyn StdError + 'static) = err;
    let legacy = find_source::<hyper_util::client::legacy::Error>(chain)?;
    let connected = legacy.connect_info()?;
    let mut ext = Extensions::new();
    connected.get_extras(&mut ext);
    let info = ext.get::<HttpInfo>()?;
    Some((info.local_addr(), info.remote_addr()))
}
