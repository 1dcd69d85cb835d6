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
//! # Cargo features
//!
//! | feature | backend | |
//! |---|---|---|
//! | `hyper` | [`httpswap-hyper`](https://docs.rs/httpswap-hyper), hyper 1.x with httpswap's own pool | enabled by default |
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
mod client;
pub mod decompress;
pub mod redirect;
mod response;
pub mod retry;
mod send;
mod trace;

pub use backend::{default_transport, enabled_backends, transport_by_name};
pub use client::{Client, ClientBuilder, RequestBuilder, TransportArg, DEFAULT_USER_AGENT};
pub use response::ResponseExt;
pub use retry::RetryPolicy;

pub use httpswap_core::*;
