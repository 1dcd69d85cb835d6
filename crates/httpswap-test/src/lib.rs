//! Test helpers for httpswap.
//!
//! - [`MockTransport`]: answers from a closure or a queue of canned
//!   responses and records every request it saw;
//! - the conformance suite that every backend runs unchanged (see
//!   the `conformance` module).
#![forbid(unsafe_code)]

mod block_on;
pub mod conformance;
mod events;
mod h2;
mod h2_frames;
mod mock;
mod proxy;
mod refused;
mod server;
mod thread_exit;
mod tls;

pub use block_on::block_on;
pub use events::EventLog;
pub use h2::H2Server;
pub use h2_frames::h2c_goaway_after_first_stream;
pub use mock::{MockTransport, RecordedRequest};
pub use proxy::TestProxy;
pub use refused::RefusedPort;
pub use server::{
    backlog_full, compress, echo, echo_loop, routes, serve_echo, Reply, ServerConn, ServerRequest,
    ServerStats, TestServer,
};
pub use thread_exit::at_thread_exit;
pub use tls::TestCa;
