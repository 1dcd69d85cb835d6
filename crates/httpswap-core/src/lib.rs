//! The httpswap contract: one async HTTP transport trait for every backend.
//!
//! This crate is small on purpose. It defines
//!
//! - [`HttpTransport`]: sends ONE request over a managed connection pool;
//!   object safe, held as a [`SharedTransport`] (`Arc<dyn HttpTransport>`);
//! - [`Body`]: buffered (replayable) or streaming, an [`http_body::Body`];
//! - [`Error`] and [`ErrorKind`]: one taxonomy (httpx's) for every backend;
//! - [`TransportConfig`] with [`Timeouts`], [`Limits`], proxies and TLS, and
//!   the `DEFAULT_*` constants of the default client;
//! - tower interop both ways ([`ServiceTransport`]);
//! - [`events`]: hooks fired with the same names by every backend.
//!
//! Backend types never appear here, so a backend's major version bump does
//! not break the users of the others. Redirects, decompression and retries
//! are not a transport's job: the `httpswap` facade does them once, above
//! the trait.
//!
//! # Credentials in URLs
//!
//! User info in a URL (`http://alice:s3cret@host/`) is sent as
//! `Authorization: Basic ...` and never in the request line, the `Host`
//! header, a log or an error: every backend calls
//! [`backend::apply_url_credentials`] before anything else, and the client
//! layer does it before recording the URL.
//!
//! # For backend authors
//!
//! The [`backend`] module has what every transport calls so that they all
//! behave the same.
//!
//! # Per-request settings
//!
//! A [`Timeouts`] value in a request's extensions overrides the transport's
//! timeouts for that request, and a [`TimeoutOverrides`] value only those it
//! sets; a [`SharedEvents`] value routes its
//! connection events to those hooks.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod backend;
mod body;
mod config;
mod connection;
mod credentials;
mod error;
pub mod events;
mod method;
mod proxy;
mod resolve;
mod service;
mod transport;

pub use async_trait::async_trait;
pub use body::Body;
pub use config::{
    Certificate, HeadLimits, Limits, TimeoutOverrides, Timeouts, TlsConfig, TransportConfig,
    TransportConfigBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_KEEPALIVE_EXPIRY,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_KEEPALIVE_CONNECTIONS, DEFAULT_MAX_REDIRECTS,
    DEFAULT_MAX_RESPONSE_HEADERS, DEFAULT_MAX_RESPONSE_HEAD_SIZE, DEFAULT_TIMEOUT,
};
pub use connection::{CaptureConnection, ConnectionInfo};
pub use credentials::{basic_auth, redact_url};
pub use error::{BoxError, Error, ErrorKind, Result};
pub use events::{Events, SharedEvents};
pub use method::is_idempotent;
pub use proxy::{NoProxy, Proxy, ProxyConfig, ProxyRules};
pub use resolve::{Resolve, ResolveOverrides, Resolving};
pub use service::ServiceTransport;
pub use transport::{Capabilities, HttpTransport, PoolStats, Request, Response, SharedTransport};

/// Re-exported `bytes`.
pub use bytes;
/// Re-exported so users name the exact `http` version the trait speaks.
pub use http;
/// Re-exported `http-body`.
pub use http_body;
