//! httpswap: one pluggable HTTP transport for Rust clients.
//!
//! A [`Client`] with production defaults (the OpenAI Python SDK's: connect
//! 5 s; read, write and pool 600 s; 1000 connections, 100 kept alive) over
//! an [`HttpTransport`] you can swap: hyper (default), reqwest or isahc, a
//! mock, or any tower service.
//!
//! # An SDK that takes a transport
//!
//! ```
//! use httpswap::{Client, Error, ResponseExt, SharedTransport};
//!
//! /// An API client whose users pick the HTTP stack.
//! pub struct WeatherApi {
//!     http: Client,
//! }
//!
//! impl WeatherApi {
//!     pub fn with_transport(transport: SharedTransport) -> Result<Self, Error> {
//!         let http = Client::builder()
//!             .transport(transport)
//!             .base_url("https://weather.example/v1/")
//!             .build()?;
//!         Ok(WeatherApi { http })
//!     }
//!
//!     pub async fn today(&self, city: &str) -> Result<String, Error> {
//!         self.http.get("today").query(&[("city", city)]).send().await?
//!             .error_for_status()?.text().await
//!     }
//! }
//! ```
//!
//! # The layers, and where each setting applies
//!
//! A call such as `client.get(url).send().await` goes down through three
//! layers, as a request does through httpx's `AsyncClient` and its
//! transport:
//!
//! ```text
//! Client            base URL, default headers, User-Agent, request builder,
//!                   response helpers                        (this crate)
//!   policies        retries ⟶ redirects ⟶ one attempt ⟶ decoding, all
//!                   inside the total deadline; events and tracing
//!                                                           (this crate, once)
//!     HttpTransport one request on a pooled connection: pool limits,
//!                   connect/read/write/pool timeouts, TLS, proxies, HTTP/2,
//!                   the one retry of a dead reused connection
//!                                                           (each backend)
//! ```
//!
//! The policies are written once here, above the trait, so they behave the
//! same on every backend; backends have their own redirect and
//! decompression features switched off. The conformance suite runs the
//! policies' scenarios on every backend, and a test runs one script through
//! `Client` on each enabled backend and compares everything observed.
//!
//! **Settings of the transport** (`ClientBuilder::config`, or the backend's
//! constructor for a custom transport), per connection attempt or chunk:
//!
//! | setting | default | applies to |
//! |---|---|---|
//! | connect timeout | 5 s | TCP + TLS (+ proxy CONNECT) of each new connection; [`ErrorKind::ConnectTimeout`] |
//! | read timeout | 600 s | each gap between received chunks, head included; [`ErrorKind::ReadTimeout`] |
//! | write timeout | 600 s | each gap between sent chunks of the body; [`ErrorKind::WriteTimeout`] |
//! | pool timeout | 600 s | the wait for a connection slot; [`ErrorKind::PoolTimeout`] |
//! | limits | 1000 connections, 100 kept alive 5 s | all hosts together |
//! | TLS, proxies, HTTP/2 | verify, from the environment, by ALPN | every connection |
//!
//! Per request, [`RequestBuilder::timeout_read`] and friends override one
//! timeout and keep the transport's others ([`HttpTransport::timeouts`]).
//!
//! **Settings of the client**, per call (all attempts together):
//!
//! | setting | default | builder |
//! |---|---|---|
//! | redirects | followed, at most 20 ([`redirect`] has the rules) | [`ClientBuilder::max_redirects`], [`ClientBuilder::follow_redirects`], [`RequestBuilder::follow_redirects`] |
//! | decompression | gzip, deflate, br, zstd; no size limit ([`decompress`]) | [`ClientBuilder::decompress`], [`ClientBuilder::max_decompressed_size`] |
//! | retries | 2, the OpenAI SDK's policy ([`retry`]) | [`ClientBuilder::retry`], [`ClientBuilder::max_retries`], [`RequestBuilder::max_retries`] |
//! | total deadline | none | [`ClientBuilder::timeout_total`], [`RequestBuilder::timeout_total`]; [`ErrorKind::Timeout`] |
//! | User-Agent, default headers, base URL | `httpswap/<version>` | [`ClientBuilder::user_agent`], [`ClientBuilder::default_header`], [`ClientBuilder::base_url`] |
//!
//! The order inside one call: **retries** wrap **redirects**, which wrap
//! single **attempts**; the **deadline** is fixed when the call starts and
//! bounds every attempt (each gets what is left as its total timeout), every
//! retry wait (a retry that could not start before the deadline is not
//! made: the last answer is returned) and reading the final body. Only the
//! final response is **decoded**; bodies of redirects and retried responses
//! are read (up to 64 KiB, 250 ms) so that their connections can be reused,
//! and dropped. Errors of the policies themselves (an invalid `Location`,
//! too many redirects, a body that cannot be replayed) are never retried.
//!
//! **Events** ([`Events`], set with [`ClientBuilder::events`]) fire in this
//! order for a call that is redirected once and retried once:
//!
//! ```text
//! request_start #1 /a   connection_created|reused   request_end 302   redirect /b
//! request_start #1 /b   connection_…                request_end 503   retry #2
//! request_start #2 /a   connection_…                request_end 302   redirect /b
//! request_start #2 /b   connection_…                request_end 200
//! ```
//!
//! (`connection_queued` comes before the connection event when the request
//! had to wait for a slot; `request_error` replaces `request_end` when an
//! attempt fails.) Every hook is also a `tracing` event of target
//! `httpswap` at DEBUG level (`connection_reused` at TRACE), inside a
//! `request` span with the method and URL of the call.
//!
//! # Cargo features
//!
//! | feature | backend | |
//! |---|---|---|
//! | `hyper` | [`httpswap-hyper`](https://docs.rs/httpswap-hyper), hyper 1.x with httpswap's own pool | enabled by default |
//! | `reqwest` | [`httpswap-reqwest`](https://docs.rs/httpswap-reqwest), reqwest 0.13 (its pool, httpswap's limits and timeouts) | |
//! | `isahc` | [`httpswap-isahc`](https://docs.rs/httpswap-isahc), isahc 2 over libcurl built from source with rustls | |
//!
//! Features are additive. With several on, the default transport is the
//! first of hyper, reqwest, isahc, and every enabled backend stays
//! constructible with [`transport_by_name`]. With none on, the crate
//! still builds: [`Client::builder`]`.transport(t)` works, and building a
//! client without a transport returns an [`ErrorKind::Builder`] error naming
//! the features.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod canonical;
mod client;
pub mod decompress;
pub mod redirect;
mod request;
mod resolved;
mod response;
pub mod retry;
mod send;
mod trace;

pub use backend::{default_transport, enabled_backends, transport_by_name};
pub use client::{Client, ClientBuilder, TransportArg, DEFAULT_USER_AGENT};
pub use request::RequestBuilder;
pub use response::ResponseExt;
pub use retry::RetryPolicy;

// The user's API of the contract; the backend author's (`backend`) stays
// in `httpswap_core`, where backend authors look.
pub use httpswap_core::{
    async_trait, basic_auth, bytes, events, http, http_body, is_idempotent, redact_url, Body,
    BoxError, Capabilities, CaptureConnection, Certificate, ConnectionInfo, Error, ErrorKind,
    Events, HeadLimits, HttpTransport, Limits, NoProxy, PoolStats, Proxy, ProxyConfig, ProxyRules,
    Request, Resolve, ResolveOverrides, Resolving, Response, Result, ServiceTransport,
    SharedEvents, SharedTransport, TimeoutOverrides, Timeouts, TlsConfig, TransportConfig,
    TransportConfigBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_KEEPALIVE_CONNECTIONS, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_HEADERS, DEFAULT_MAX_RESPONSE_HEAD_SIZE, DEFAULT_TIMEOUT,
};
