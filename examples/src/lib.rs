//! Runnable examples of the three ways people use httpswap, and the code
//! they share (so that tests can run their core against local servers):
//!
//! - [`chat`]: an OpenAI-style SDK whose client takes a transport, with a
//!   streaming variant parsing server-sent events ([`sse`]), run against an
//!   embedded mock LLM ([`mock_llm`]) unless `OPENAI_BASE_URL` is set
//!   (`cargo run -p httpswap-examples --example chat`);
//! - [`proxy`]: a streaming reverse proxy in front of an LLM API, with a
//!   `/__stats` endpoint (`--example proxy`);
//! - the backend chosen by cargo feature (`--example backend`,
//!   [`backend_name`]).

#![forbid(unsafe_code)]

pub mod chat;
pub mod mock_llm;
pub mod proxy;
pub mod sse;

/// The backend `httpswap::Client::new()` uses with this package's features:
/// hyper when the `hyper` feature is on, else reqwest, else isahc (`none`
/// with no backend feature, or when the transport cannot be built).
///
/// ```
/// # #[cfg(feature = "hyper")]
/// assert_eq!(httpswap_examples::backend_name(), "hyper");
/// ```
pub fn backend_name() -> &'static str {
    httpswap::default_transport(httpswap::TransportConfig::default()).map_or("none", |t| t.name())
}

/// A JSON response (the mock LLM's answers, the proxy's errors and stats).
fn json_response(
    status: http::StatusCode,
    value: &serde_json::Value,
) -> http::Response<httpswap::Body> {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(httpswap::Body::from(value.to_string()))
        .expect("a status and a static header are valid")
}
