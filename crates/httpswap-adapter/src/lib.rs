//! Building blocks shared by the httpswap backend adapters.
//!
//! A backend library rarely has every knob the [`HttpTransport`] contract
//! asks for. What the adapters supply on top of their library lives here,
//! written once:
//!
//! - [`Adapted`] and [`adapted_transport!`]: the `HttpTransport` of an
//!   adapter over a library, written once;
//! - [`Upload`]: a request body that records when the library last took a
//!   chunk, and [`drive`], which turns a stalled upload into
//!   `WriteTimeout` and a late response head into `ReadTimeout`;
//! - [`TimedBody`]: a response body with the read-gap timeout, the total
//!   deadline, error mapping, and a guard released at its end (a pool
//!   slot, for example);
//! - [`Slots`]: the in-flight bound with the pool timeout, and
//!   [`Connections`]: created/reused told apart by address pair, for
//!   libraries whose pools have neither;
//! - [`H2Gate`]: requests to a cold origin that may speak HTTP/2 wait for
//!   the first connection, for libraries that would open one per request;
//! - [`outside_tokio`]: a request made outside a tokio runtime runs on
//!   httpswap's own instead of panicking;
//! - `tls` (feature `tls`): rustls client settings from a [`TlsConfig`];
//! - `hyper_errors` (feature `hyper`): hyper's errors classified once;
//! - [`Resolver`], [`connect_tcp`] and [`tunnel`]: names resolved as
//!   configured (overrides, a plugged-in resolver, the system's), happy
//!   eyeballs and proxy CONNECT tunnels, for backends that open sockets
//!   themselves;
//! - [`TimedIo`]: a socket with the write timeout, a write the peer
//!   refused held back until what it sent was read; [`SettingsSniffer`]:
//!   an HTTP/2 server's stream limit, read as its first frame passes;
//! - [`find_source`]: search an error's source chain, `io::Error` payloads
//!   included;
//! - [`remembered`]: the last answer of a parse kept per thread (the
//!   reqwest adapter's `Url`s, the `Client`'s resolved URLs);
//! - [`check_response_head`]: the response head limits, and a response
//!   with both Content-Length and Transfer-Encoding refused alike on every
//!   backend.
//!
//! [`HttpTransport`]: httpswap_core::HttpTransport
//! [`TlsConfig`]: httpswap_core::TlsConfig
#![forbid(unsafe_code)]

mod adapted;
mod chain;
mod connect;
mod exchange;
mod h2_settings;
mod h2gate;
mod head;
#[cfg(feature = "hyper")]
pub mod hyper_errors;
#[cfg(feature = "hyper")]
pub mod hyper_limits;
mod memo;
mod origin;
mod request_body;
mod resend;
mod response_body;
mod runtime;
mod slots;
mod timed_io;
mod timer;
#[cfg(feature = "tls")]
pub mod tls;

pub use adapted::{
    adapted_pool_stats, adapted_timeouts, send_adapted, Adapted, AdapterState, Exchange, SendFuture,
};
pub use chain::{chain, find_source};
pub use connect::{connect_tcp, tunnel, Resolver, HAPPY_EYEBALLS_DELAY};

pub use exchange::{drive, within_total};
pub use h2_settings::SettingsSniffer;
pub use h2gate::{H2Gate, Ticket};
pub use head::{check_response_head, keep_alive_timeout, refuse_ambiguous_framing};
#[doc(hidden)]
pub use httpswap_core as __core;
pub use memo::remembered;
pub use origin::{check_url, host_header, Origin, OriginName};
pub use request_body::{Upload, UploadProgress, UPLOAD_CHUNK};
pub use resend::{is_idempotent, try_clone_request, RequestCopy, Tries, Unaddressed};
pub use response_body::{BodyLimits, EndGuard, TimedBody};
pub use runtime::outside_tokio;
pub use slots::{pool_stats, Connections, Slot, Slots};
pub use timed_io::{ReadReady, TimedIo, WriteTimedOut, WriteTimeout};
pub use timer::{deadline_after, ReusableTimer, TakenTimer, TimerCache, LONGEST_WAIT};
