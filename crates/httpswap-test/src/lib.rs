//! Test helpers for httpswap.
//!
//! - [`MockTransport`]: answers from a closure or a queue of canned
//!   responses and records every request it saw;
//! - the conformance suite that every backend runs unchanged (see
//!   the `conformance` module).
#![forbid(unsafe_code)]

mod mock;

pub use mock::{MockTransport, RecordedRequest};
