//! The isahc (libcurl) backend of httpswap.
//!
//! [`IsahcTransport`] sends requests with an `isahc::HttpClient`: curl's
//! multi interface on isahc's agent thread, with libcurl built from source
//! (`static-curl`) over rustls (through rustls-ffi) and nghttp2, so nothing
//! is needed from the system but a C compiler.
//!
//! What comes from curl, and what the adapter adds so that the behaviour
//! matches the other backends:
//!
//! | setting | how |
//! |---|---|
//! | max connections | curl's `CURLMOPT_MAX_TOTAL_CONNECTIONS`, plus the adapter's bound on requests in flight, which gives the pool timeout curl lacks (curl would queue forever) and `connection_queued` |
//! | max keep-alive, expiry | `CURLMOPT_MAXCONNECTS` (the connection cache), `CURLOPT_MAXAGE_CONN` |
//! | connect timeout | `CURLOPT_CONNECTTIMEOUT`, per request too |
//! | read timeout | the adapter: the wait for the head once the body was handed over, then the gap between body chunks (curl has only a low-speed limit) |
//! | write timeout | the adapter: how long curl takes to come back for the next chunk of the body |
//! | total deadline | the adapter |
//! | TLS | curl + rustls; the webpki roots plus extra CAs as one in-memory bundle; the opt-out through isahc's `tls-insecure` |
//! | proxies | chosen per request from the config's rules (NO_PROXY included); curl's own environment lookup is off; basic proxy auth |
//! | HTTP/2 | ALPN over TLS, prior knowledge for `http://` |
//! | redirects, decompression, `Expect: 100-continue` | off: the client layer does the first two, the third would stall large uploads by a second |
//!
//! # Building libcurl with `poll()`
//!
//! curl-sys builds libcurl without `HAVE_POLL`, so curl waits on sockets
//! with `select()`, which cannot watch a file descriptor past 1023: in a
//! process with that many files open, every new connection fails. Build it
//! with `poll()` by setting the C flags of the build, for example in your
//! project's `.cargo/config.toml` (as this workspace does):
//!
//! ```toml
//! [env]
//! CFLAGS_x86_64_unknown_linux_gnu = "-DHAVE_POLL"
//! CFLAGS_aarch64_unknown_linux_gnu = "-DHAVE_POLL"
//! ```
//!
//! A dependency cannot set them for you. Without them,
//! `Capabilities::sockets_past_fd_1024` is `false` and such a failure's
//! error says why.
//!
//! Created and reused connections are told apart by their address pair
//! (isahc reports both addresses of the socket that carried a response).
//!
//! ```no_run
//! use httpswap_core::{HttpTransport, TransportConfig};
//! use httpswap_isahc::IsahcTransport;
//! # async fn run() -> Result<(), httpswap_core::Error> {
//! let t = IsahcTransport::new(TransportConfig::default())?;
//! let req = http::Request::get("http://127.0.0.1:8080/").body(Default::default())?;
//! let res = t.send(req).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod body;
mod curl_settings;
mod error;
mod transfer;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::TryStreamExt;
use http::header::PROXY_AUTHORIZATION;
use httpswap_adapter::{
    drive, is_idempotent, within_total, Adapted, AdapterState, BodyLimits, Exchange, Slot,
    TimedBody, Tries, Upload, UploadProgress, UPLOAD_CHUNK,
};
use httpswap_core::{
    Body, Capabilities, Error, ErrorKind, HttpTransport, Proxy, Request, Response, Timeouts,
    TransportConfig,
};
use isahc::auth::{Authentication, Credentials};
use isahc::config::Configurable;
use isahc::net::IpVersion;
use isahc::{AsyncBody, HttpClient};
use tokio::sync::watch;

use crate::body::ReadBody;
use crate::curl_settings::{client_for, for_curl, tls_for, MAX_HEAD_SIZE};
use crate::error::{died_before_response, map_error, Phase};
use crate::transfer::{pump, Transfer};

/// The backend's name, in errors and `HttpTransport::name`.
pub const BACKEND: &str = "isahc";

/// The isahc transport. Cheap to clone; clones share one isahc client.
#[derive(Clone)]
pub struct IsahcTransport {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once closed: dropping the client stops its agent thread and
    /// closes its connections.
    client: RwLock<Option<HttpClient>>,
    /// Configuration, proxies, slots, connections, the HTTP/2 gate.
    state: AdapterState,
    /// Given to every `https://` request.
    tls: isahc::tls::TlsConfig,
    /// `true` once closed: new requests are refused and abandoned
    /// transfers stop waiting.
    closed: watch::Sender<bool>,
}

impl fmt::Debug for IsahcTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsahcTransport")
            .field("config", &self.inner.state.config)
            .field("stats", &self.pool_stats())
            .finish()
    }
}

impl IsahcTransport {
    /// A transport with its own isahc client built from `config`. Proxies
    /// from the environment are read now.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] for an invalid configuration or proxy URL, or
    /// when isahc cannot start its client.
    pub fn new(config: TransportConfig) -> Result<Self, Error> {
        let build = || {
            if config.response_head.max_size > MAX_HEAD_SIZE {
                return Err(Error::builder(format!(
                    "response_max_head_size {} is more than the isahc backend can read \
                     ({MAX_HEAD_SIZE} bytes: curl refuses a longer header line)",
                    config.response_head.max_size
                )));
            }
            let state = AdapterState::new(config, 0)?;
            let client = client_for(&state.config)?;
            Ok(IsahcTransport {
                inner: Arc::new(Inner {
                    client: RwLock::new(Some(client)),
                    tls: tls_for(&state.config),
                    closed: watch::Sender::new(false),
                    state,
                }),
            })
        };
        build().map_err(|e: Error| e.with_backend(BACKEND))
    }

    /// A transport with the default configuration.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_defaults() -> Result<Self, Error> {
        Self::new(TransportConfig::default())
    }

    /// The configuration in force.
    pub fn config(&self) -> &TransportConfig {
        &self.inner.state.config
    }
}

impl Inner {
    /// Prepared here, before any future: the one returned is
    /// [`send_within`](Self::send_within)'s own when there is no total
    /// deadline.
    fn send(
        &self,
        mut request: Request,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        let prepared = self
            .state
            .prepare_open(!*self.closed.borrow(), &mut request);
        within_total(prepared, move |timeouts, ex, deadline| {
            self.send_within(request, timeouts, deadline, ex)
        })
    }

    /// The resend's copy made here, before the future: what the future
    /// keeps is what the exchange needs after its first wait
    /// (`the_send_future_stays_small`).
    fn send_within<'a>(
        &'a self,
        request: Request,
        timeouts: Timeouts,
        deadline: Option<(tokio::time::Instant, Duration)>,
        ex: Exchange<'a>,
    ) -> impl Future<Output = Result<Response, Error>> + Send + 'a {
        // The contract's one resend: an idempotent request with a
        // replayable body whose reused connection died before any response
        // byte is sent again, on a new connection. curl resends on some of
        // these failures itself, but not on all (a send error once the
        // request started, a dead HTTP/2 connection), and may resend on
        // another idle connection just as dead.
        let may_be_http2 = self.may_be_http2(request.uri());
        let mut tries = Tries::new(request);
        async move {
            let timeouts = &timeouts;
            let mut slot = self
                .state
                .slots
                .acquire(timeouts.pool, &ex.what, ex.events.as_ref())
                .await?;
            let ticket = match may_be_http2 {
                true => self.state.h2_gate.enter(&ex.what, timeouts.pool).await?,
                false => None,
            };
            let mut fresh = None;
            loop {
                // the first try keeps the copy; the resend is the last
                let Some(request) = tries.next(fresh.is_none()) else {
                    // not reached: the loop turns again only with a copy
                    return Err(Error::closed());
                };
                // taken for each try, which owns it: a clone kept besides
                // for the whole request would be one more write to the
                // count every request of every thread writes to
                let client = self
                    .client
                    .read()
                    .expect("client lock")
                    .clone()
                    .ok_or_else(Error::closed)?;
                match self
                    .exchange(client, request, slot, timeouts, &ex, fresh)
                    .await
                {
                    Ok((res, slot)) => {
                        if let Some(ticket) = ticket {
                            ticket.done(Some(res.version()));
                        }
                        return self.respond(res, slot, timeouts, deadline, ex);
                    }
                    Err(Failed {
                        dead_on: Some(remote),
                        slot: Some(back),
                        ..
                    }) if tries.can_resend() => {
                        tracing::debug!(origin = %ex.what, "reused connection was dead; sending again on a new one");
                        slot = back;
                        fresh = Some(remote);
                    }
                    Err(failed) => return Err(failed.error),
                }
            }
        }
    }

    /// One transfer. `fresh`: the remote address of a connection that died
    /// under this request's first try; this one goes on a new connection.
    /// The transfer starts here, before the future, which keeps only the
    /// transfer and what its errors need.
    fn exchange<'a>(
        &'a self,
        client: HttpClient,
        request: Request,
        slot: Slot,
        timeouts: &'a Timeouts,
        ex: &'a Exchange<'_>,
        fresh: Option<SocketAddr>,
    ) -> impl Future<Output = Result<(http::Response<AsyncBody>, Slot), Failed>> + Send + 'a {
        let started = self.start(client, request, slot, timeouts, ex, fresh);
        async move {
            let (mut transfer, progress) = started?;
            let mut dead_on = None;
            let send = async {
                (&mut transfer).await.map_err(|e| {
                    dead_on = self.died_reused(&e);
                    let proxy_name = ex.proxy.map(Proxy::authority);
                    map_error(Box::new(e), Phase::Request, proxy_name.as_deref(), &ex.what)
                })
            };
            let error = match drive(
                send,
                progress.as_deref(),
                timeouts,
                &self.state.timers,
                &ex.what,
            )
            .await
            {
                Ok(res) => return Ok((res, transfer.into_slot())),
                Err(error) => error,
            };
            let error = match ex.proxy {
                Some(proxy)
                    if matches!(error.kind(), ErrorKind::Proxy | ErrorKind::ProxyConnect)
                        && !ex.forward =>
                {
                    // boxed: the usual request carries none of its state
                    Box::pin(tunnel_failure(error, proxy, timeouts, &ex.what)).await
                }
                _ => error,
            };
            Err(Failed {
                error,
                // back only from a transfer that ended (one given up on a
                // timeout keeps it until curl lets its connection go)
                slot: transfer.ended().then(|| transfer.into_slot()),
                dead_on,
            })
        }
    }

    /// The request made curl's and handed to it, with the upload's
    /// progress for a body handed over in chunks.
    fn start(
        &self,
        client: HttpClient,
        request: Request,
        slot: Slot,
        timeouts: &Timeouts,
        ex: &Exchange<'_>,
        fresh: Option<SocketAddr>,
    ) -> Result<(Transfer, Option<Arc<UploadProgress>>), Failed> {
        let fail = |error| Failed {
            error,
            slot: None,
            dead_on: None,
        };
        let (mut parts, body) = request.into_parts();
        // isahc hands header values to curl as text and panics on other
        // bytes: refuse them here, clearly
        if let Some((name, _)) = parts.headers.iter().find(|(_, v)| v.to_str().is_err()) {
            return Err(fail(
                Error::new(
                    ErrorKind::LocalProtocol,
                    format!(
                    "header {name} has bytes outside visible ASCII, which the isahc backend cannot send"
                ),
                )
                .with_request_sent(false),
            ));
        }
        if !ex.forward {
            parts.headers.remove(PROXY_AUTHORIZATION);
        } else if parts.uri.host().is_some_and(|h| h.starts_with('[')) {
            // libcurl 8.21 fails such a request with "out of memory" after
            // connecting to the proxy (fixed in 8.22, which this backend
            // does not take: see Cargo.toml); say what is wrong instead
            return Err(fail(
                Error::new(
                    ErrorKind::LocalProtocol,
                    format!(
                        "the isahc backend cannot send a request for {} through a forward proxy: \
                     libcurl 8.21 cannot address an IPv6 host that way (use a host name, \
                     https, or another backend)",
                        ex.what
                    ),
                )
                .with_request_sent(false),
            ));
        }
        // per-request settings travel in the request's extensions; only
        // what differs from the client's settings is set (each one costs
        // curl an option per transfer)
        let own_proxy = self.state.proxies.http.is_some() || self.state.proxies.https.is_some();
        let own_connect = timeouts.connect != self.state.config.timeouts.connect;
        let https = parts.uri.scheme_str() == Some("https");
        if own_proxy || own_connect || https || fresh.is_some() {
            let mut per_request = http::Request::builder();
            if https {
                per_request = per_request.tls_config(self.tls.clone());
            }
            if let Some(dead) = fresh {
                // curl reuses no connection made with another IP version
                // setting: asking for the family of the one that died
                // (which worked before) makes it connect anew
                per_request = per_request.ip_version(if dead.is_ipv4() {
                    IpVersion::V4
                } else {
                    IpVersion::V6
                });
            }
            if own_proxy {
                per_request = match ex.proxy {
                    Some(p) => {
                        let mut b = per_request.proxy(Some(
                            format!("http://{}", p.authority())
                                .parse::<http::Uri>()
                                .map_err(|e| fail(Error::builder(format!("proxy url: {e}"))))?,
                        ));
                        if let Some((user, pass)) = p.credentials() {
                            b = b
                                .proxy_authentication(Authentication::basic())
                                .proxy_credentials(Credentials::new(user, pass));
                        }
                        b
                    }
                    None => per_request.proxy(None),
                };
            }
            if own_connect {
                // `None` becomes curl's 0, its default (300 s): curl has no
                // "never time out" for connecting
                per_request =
                    per_request.connect_timeout(timeouts.connect.map_or(Duration::ZERO, for_curl));
            }
            let settings = per_request
                .body(())
                .expect("settings only")
                .into_parts()
                .0
                .extensions;
            parts.extensions.extend(settings);
        }

        // curl resends a request whose reused connection died before the
        // response, rewinding its body if it can: a body that cannot be
        // rewound keeps a non-idempotent request from being sent twice
        let rewindable = is_idempotent(&parts.method);
        let (body, progress) = match (body.as_bytes(), body.content_length()) {
            (Some(bytes), _) if bytes.is_empty() => (AsyncBody::empty(), None),
            (Some(bytes), _) if bytes.len() <= UPLOAD_CHUNK && rewindable => {
                (AsyncBody::from(bytes.to_vec()), None)
            }
            (Some(bytes), _) if bytes.len() <= UPLOAD_CHUNK => {
                let len = bytes.len() as u64;
                let once = futures_util::io::Cursor::new(bytes.clone());
                (AsyncBody::from_reader_sized(once, len), None)
            }
            (_, len) => {
                let (upload, progress) = Upload::new(body);
                let reader = pump(upload).into_async_read();
                let body = match len {
                    Some(n) => AsyncBody::from_reader_sized(reader, n),
                    None => AsyncBody::from_reader(reader),
                };
                (body, Some(progress))
            }
        };
        // curl gives a POST body `Content-Type: application/x-www-form-urlencoded`
        // unless one is set (servers then parse the body as a form); an empty
        // one, which isahc sends as `Content-Type:`, is the only way to stop it
        if parts.method == http::Method::POST
            && !body.is_empty()
            && !parts.headers.contains_key(http::header::CONTENT_TYPE)
        {
            parts.headers.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(""),
            );
        }
        let req = http::Request::from_parts(parts, body);
        let transfer = Transfer::start(client, req, slot, self.closed.subscribe());
        Ok((transfer, progress))
    }

    /// Whether curl may make an HTTP/2 connection for `uri`: offered by
    /// ALPN on `https://`, or by prior knowledge on a direct `http://`.
    fn may_be_http2(&self, uri: &http::Uri) -> bool {
        match uri.scheme_str() {
            Some("https") => self.state.config.http2 || self.state.config.http2_prior_knowledge,
            _ => {
                self.state.config.http2_prior_knowledge
                    && self.state.proxies.proxy_for(uri).is_none()
            }
        }
    }

    /// The remote address of the connection `e` happened on, when that
    /// connection had carried a response before (its address pair was
    /// seen) and died before any byte of this one.
    fn died_reused(&self, e: &isahc::Error) -> Option<SocketAddr> {
        let key = (e.local_addr()?, e.remote_addr()?);
        (died_before_response(e) && self.state.connections.was_seen(&key)).then_some(key.1)
    }

    /// Counts and announces the connection, refuses a proxy's 407, and
    /// wraps the body (which names the origin with the exchange's text).
    fn respond(
        &self,
        res: http::Response<AsyncBody>,
        slot: Slot,
        timeouts: &Timeouts,
        deadline: Option<(tokio::time::Instant, Duration)>,
        ex: Exchange<'_>,
    ) -> Result<Response, Error> {
        use isahc::ResponseExt as _;
        let addrs = res.local_addr().zip(res.remote_addr());
        ex.accept_head(
            &self.state,
            addrs,
            res.version(),
            res.status(),
            res.headers(),
        )?;
        let what = ex.what;
        let status = res.status();
        let chunked = res.headers().contains_key(http::header::TRANSFER_ENCODING);
        Ok(res.map(|body| {
            Body::new(TimedBody::new(
                ReadBody::new(body, status, chunked),
                what,
                map_body_error,
                slot,
                BodyLimits {
                    read: timeouts.read,
                    deadline,
                    backend: Some(BACKEND),
                },
            ))
        }))
    }
}

/// A tunnel through `proxy` that curl could not open, said precisely.
///
/// curl reports a proxy that refused the CONNECT (a 407 for wrong
/// credentials, a 502 when it could not reach the origin) with the same
/// code as a proxy it could not connect to, and isahc does not give curl's
/// own message. One TCP connect to the proxy, on this failure path only,
/// tells the two apart: worth a retry later, or not without other
/// credentials.
async fn tunnel_failure(
    error: Error,
    proxy: &Proxy,
    timeouts: &Timeouts,
    what: &httpswap_adapter::OriginName,
) -> Error {
    let limit = timeouts
        .connect
        .unwrap_or(TUNNEL_PROBE_LIMIT)
        .min(TUNNEL_PROBE_LIMIT);
    let reachable = matches!(
        tokio::time::timeout(
            limit,
            tokio::net::TcpStream::connect((proxy.host().trim_matches(['[', ']']), proxy.port()))
        )
        .await,
        Ok(Ok(_))
    );
    let (kind, message) = if reachable {
        (
            ErrorKind::Proxy,
            format!(
                "proxy {} refused the CONNECT tunnel to {what}: it answers, so it refused the \
             request (407 when its credentials are wrong or missing, 403, or 502 when it could \
             not reach the origin)",
                proxy.authority()
            ),
        )
    } else {
        (
            ErrorKind::ProxyConnect,
            format!("proxy {} for {what} is unreachable", proxy.authority()),
        )
    };
    Error::new(kind, message)
        .with_request_sent(false)
        .with_source(error)
}

/// The longest the tunnel probe waits for the proxy to accept.
const TUNNEL_PROBE_LIMIT: Duration = Duration::from_secs(2);

/// How a transfer failed.
struct Failed {
    error: Error,
    /// The slot, when the transfer ended (not when it was given up).
    slot: Option<Slot>,
    /// The remote address of a reused connection that died under it
    /// before any response byte (see [`Inner::died_reused`]).
    dead_on: Option<SocketAddr>,
}

fn map_body_error(e: std::io::Error, what: &httpswap_adapter::OriginName) -> Error {
    map_error(Box::new(e), Phase::Body, None, what)
}

httpswap_adapter::adapted_transport!(IsahcTransport, inner);

impl Adapted for Inner {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        Inner::send(self, request)
    }

    fn state(&self) -> &AdapterState {
        &self.state
    }

    fn close(&self) {
        self.closed.send_replace(true);
        self.client.write().expect("client lock").take();
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL
            .with_socket_limit(false)
            .with_reuse_known_at_checkout(false)
            .with_non_ascii_header_values(false)
            .with_never_resends_non_idempotent(false)
            .with_no_added_content_type(false)
            .with_no_added_headers(false)
            .with_closes_expired_idle(false)
            .with_frees_abandoned_at_once(false)
            .with_keepalive_limit_counts_idle_only(false)
            .with_forward_proxy_ipv6_literal(false)
            .with_closes_after_ambiguous_framing(false)
            .with_early_response_survives_reset(false)
            .with_custom_resolver(false)
            .with_max_lifetime(false)
            .with_poisons_connections(false)
            .with_honours_keep_alive_hint(false)
            .with_sockets_past_fd_1024(cfg!(curl_poll))
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<IsahcTransport>();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curl_settings::max_age;

    /// The request future is under 1 KiB: a wait's state is boxed only
    /// when there is a wait, and the request is taken apart before the
    /// future.
    #[test]
    fn the_send_future_stays_small() {
        httpswap_test::conformance::send_future_stays_small(IsahcTransport::new);
    }

    #[test]
    fn a_head_limit_curl_cannot_honour_is_refused() {
        httpswap_test::conformance::head_limit_refused_above(MAX_HEAD_SIZE, IsahcTransport::new);
    }

    #[test]
    fn keepalive_expiry_in_curl_seconds() {
        let s = Duration::from_secs;
        assert_eq!(max_age(Duration::from_millis(100)), s(1));
        assert_eq!(max_age(s(1)), s(1));
        assert_eq!(max_age(Duration::from_millis(1500)), s(2));
        assert_eq!(max_age(s(5)), s(5));
        assert_eq!(max_age(Duration::ZERO), s(1));
    }
}
