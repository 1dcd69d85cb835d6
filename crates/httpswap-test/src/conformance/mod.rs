//! The conformance suite every backend runs unchanged.
//!
//! A backend's `tests/conformance.rs` is one line:
//!
//! ```text
//! httpswap_test::conformance_tests!(httpswap_hyper::HyperTransport::new);
//! ```
//!
//! The macro expands to one `#[tokio::test]` per scenario, so the test run
//! lists (and counts) them. Every scenario starts its own servers on
//! 127.0.0.1, uses millisecond-scale timeouts, bounds every loop, and
//! asserts the exact error kind or the exact bytes received.
//!
//! One file per topic: `round_trip`, `timeouts`, `limits`, `stale`
//! (connections the server closed), `malformed` (bad responses), `errors`,
//! `proxies`, `network` (resolvers, happy eyeballs, Unix sockets), `tls`,
//! `http2`, `lifecycle` (cancellation, events, close) and
//! `client` (the client layer's policies over the backend). Scenarios that
//! check the transport leaves redirects and compression to the client layer
//! are in `round_trip`: a transport returns a 302 or a gzip body exactly as
//! the server sent it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, Version};
use httpswap_core::{
    Body, Certificate, Error, ErrorKind, HttpTransport, Request, Response, SharedTransport,
    TransportConfig, TransportConfigBuilder,
};

use crate::server::{backlog_full, echo, echo_loop, serve_echo, ServerConn, TestServer};

mod client;
mod errors;
mod http2;
mod lifecycle;
mod limits;
mod malformed;
mod network;
mod proxies;
mod round_trip;
mod stale;
mod timeouts;
mod tls;
use crate::{H2Server, RefusedPort, TestCa, TestProxy};
pub use client::*;
pub use errors::*;
pub use http2::*;
pub use lifecycle::*;
pub use limits::*;
pub use malformed::*;
pub use network::*;
pub use proxies::*;
pub use round_trip::*;
pub use stale::*;
pub use timeouts::*;
pub use tls::*;

/// Builds a transport of one backend from a configuration.
#[derive(Clone)]
pub struct Backend {
    make: Arc<dyn Fn(TransportConfig) -> Result<SharedTransport, Error> + Send + Sync>,
}

impl Backend {
    /// Wraps a backend constructor such as `HyperTransport::new`.
    pub fn new<T, F>(make: F) -> Backend
    where
        T: HttpTransport,
        F: Fn(TransportConfig) -> Result<T, Error> + Send + Sync + 'static,
    {
        Backend {
            make: Arc::new(move |c| make(c).map(SharedTransport::new)),
        }
    }

    /// Builds a transport; a construction error fails the test with its message.
    ///
    /// # Panics
    ///
    /// When the backend rejects the configuration.
    pub fn build(&self, config: TransportConfigBuilder) -> SharedTransport {
        let config = config.build().expect("valid test configuration");
        (self.make)(config).unwrap_or_else(|e| panic!("backend rejected the configuration: {e}"))
    }

    /// Builds, or the backend's error (for settings a backend may refuse).
    ///
    /// # Errors
    ///
    /// The backend's, and [`ErrorKind::Builder`] for an invalid `config`.
    pub fn try_build(&self, config: TransportConfigBuilder) -> Result<SharedTransport, Error> {
        (self.make)(config.build()?)
    }

    /// Builds with [`base`] settings.
    pub fn default_transport(&self) -> SharedTransport {
        self.build(base())
    }
}

/// For a backend whose library cannot read a response head larger than
/// `max` bytes: a larger `response_max_head_size` is refused when the
/// transport is built (`build`), with a Builder error naming the setting,
/// and `max` itself is taken.
///
/// # Panics
///
/// When the backend does otherwise (a test failure).
pub fn head_limit_refused_above<T: std::fmt::Debug>(
    max: usize,
    build: impl Fn(httpswap_core::TransportConfig) -> Result<T, Error>,
) {
    let config = |n| base().response_max_head_size(n).build().expect("config");
    build(config(max)).expect("the largest head limit it can read");
    let err = build(config(max + 1)).expect_err("a head limit it cannot read");
    assert_eq!(err.kind(), ErrorKind::Builder);
    assert!(err.to_string().contains("response_max_head_size"), "{err}");
}

/// The largest request future a backend may box once a request: glibc
/// serves blocks up to 1 032 bytes from the thread's own cache, without its
/// arena's lock (larger ones also had it merge its freed small blocks, each
/// time; BENCHMARKS.md, "The request futures under 1 KiB").
pub const SMALL_FUTURE: usize = 1024;

/// `send`'s future for a plain GET, boxed once a request, is at most
/// [`SMALL_FUTURE`] bytes: a backend keeps the state of a wait (for a slot,
/// for the HTTP/2 gate) boxed apart, made only when there is a wait. The
/// request is not sent (the future is made inside a runtime, never polled).
///
/// # Panics
///
/// When the backend cannot be built, or its future is larger (a test
/// failure).
pub fn send_future_stays_small<T: HttpTransport>(
    build: impl Fn(TransportConfig) -> Result<T, Error>,
) {
    let transport = build(base().build().expect("config")).expect("transport");
    let request = http::Request::get("http://127.0.0.1:1/")
        .body(Body::empty())
        .expect("request");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _on = rt.enter();
    let future = transport.send(request);
    let size = std::mem::size_of_val(&*future);
    assert!(size <= SMALL_FUTURE, "the send future is {size} bytes");
}

/// Settings for tests: no proxies from the environment, 2 s timeouts
/// (generous: scenarios that test a timeout set their own, shorter one).
pub fn base() -> TransportConfigBuilder {
    TransportConfig::builder()
        .proxy_from_env(false)
        .timeout_connect(Duration::from_secs(2))
        .timeout_read(Duration::from_secs(2))
        .timeout_write(Duration::from_secs(2))
        .timeout_pool(Duration::from_secs(2))
}

/// Expands to one test per scenario for the backend built by `$make`
/// (a `Fn(TransportConfig) -> Result<impl HttpTransport, Error>`).
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr) => {
        $crate::__conformance_scenarios!(
            $make;
            round_trip_methods,
            round_trip_no_content_type_added,
            round_trip_no_headers_added,
            round_trip_status_codes,
            round_trip_bodiless_with_content_length,
            round_trip_headers_repeated_and_non_utf8,
            round_trip_query_string_exact,
            round_trip_url_credentials_as_basic_auth,
            round_trip_empty_bodies,
            round_trip_large_bodies_both_ways,
            round_trip_foreign_body_keeps_its_length,
            round_trip_streamed_upload_and_chunked_download,
            round_trip_early_response_during_upload,
            round_trip_sse_streams_incrementally,
            no_redirect_following_in_transport,
            no_decompression_in_transport,
            timeout_connect_backlog_full,
            timeout_connect_per_request_override,
            timeout_read_no_headers,
            timeout_read_body_stalls,
            timeout_read_slow_drip_under_limit_completes,
            timeout_read_does_not_cover_a_slow_upload,
            timeout_write_server_never_reads,
            timeout_pool_when_the_only_slot_is_held,
            timeout_per_request_override,
            timeout_partial_override_keeps_the_others,
            timeout_read_afresh_on_a_reused_connection,
            timeout_total_bounds_head_and_body,
            timeout_beyond_any_clock_is_no_limit,
            limit_max_connections_bounds_sockets,
            limit_max_keepalive_closes_extras,
            limit_max_keepalive_while_others_busy,
            limit_keepalive_expiry_not_reused,
            limit_keepalive_expiry_beyond_any_clock,
            limit_file_descriptors_past_1024,
            limit_max_connections_per_host,
            limit_max_lifetime_not_reused,
            limit_keep_alive_hint_shortens_expiry,
            stale_idle_connection_closed_by_server,
            stale_get_retried_once_after_close,
            stale_get_resent_on_a_fresh_connection_not_another_stale_one,
            stale_put_of_a_replayable_stream_resent_whole,
            stale_post_not_retried,
            stale_bodiless_post,
            stale_unsolicited_bytes_on_idle_connection,
            bad_truncated_content_length,
            bad_cut_chunked_body,
            bad_malformed_status_line,
            bad_oversized_headers,
            bad_conflicting_content_length,
            bad_content_length_with_transfer_encoding,
            bad_response_head_beyond_the_limits,
            bad_reset_before_response,
            error_connection_refused,
            error_unsupported_scheme_and_bad_url,
            error_messages_name_what_failed,
            network_resolve_override,
            network_custom_resolver,
            network_happy_eyeballs_past_an_unanswered_address,
            network_unix_socket,
            proxy_http_absolute_form_with_auth,
            proxy_connect_tunnel_with_auth,
            proxy_refusal_is_proxy_error,
            proxy_unreachable,
            proxy_no_proxy_goes_direct,
            proxy_no_proxy_entry_forms,
            tls_custom_ca_accepted,
            tls_unknown_ca_rejected,
            tls_wrong_host_rejected,
            tls_expired_rejected,
            tls_plaintext_port_is_connect_error,
            http2_alpn_over_tls,
            http2_prior_knowledge,
            http2_server_restarted_under_an_idle_connection,
            http2_connection_dies_under_a_request,
            http2_goaway_crossing_a_new_stream,
            http2_cold_origin_shares_one_connection,
            http2_beyond_the_servers_stream_limit,
            cancellation_leaks_no_slot,
            cancellation_before_head_frees_slot,
            events_in_order_and_stats_add_up,
            close_refuses_new_requests,
            lifecycle_connection_info_and_poisoning,
            lifecycle_send_outside_a_tokio_runtime,
            client_redirect_chain_followed,
            client_redirect_method_rewriting,
            client_redirect_limit_and_loop,
            client_redirect_cross_origin_drops_credentials,
            client_url_credentials_as_basic_auth,
            client_redirect_invalid_location,
            client_redirect_streaming_body_not_replayable,
            client_decompression_each_codec,
            client_decompression_corrupt_is_decoding_error,
            client_decompression_limit,
            client_retry_503_then_200,
            client_retry_429_retry_after_and_x_should_retry,
            client_retry_limits,
            client_retry_transport_errors,
            client_deadline_across_retries_and_body,
            client_deadline_beyond_any_clock,
            client_events_in_documented_order,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_scenarios {
    ($make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $crate::conformance::Backend::new($make);
                $crate::conformance::bounded(stringify!($name), $crate::conformance::$name(backend)).await;
            }
        )*
    };
}

/// Runs a scenario with a hard 20 s cap, so a hang fails instead of
/// blocking the suite (scenarios take milliseconds).
///
/// # Panics
///
/// When the scenario does not finish in time.
pub async fn bounded(name: &str, f: impl Future<Output = ()>) {
    if tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .is_err()
    {
        panic!("scenario {name} did not finish within 20 s");
    }
}

fn req(method: Method, url: &str, body: impl Into<Body>) -> Request {
    http::Request::builder()
        .method(method)
        .uri(url)
        .body(body.into())
        .expect("valid test request")
}

fn get(url: &str) -> Request {
    req(Method::GET, url, Body::empty())
}

async fn body_of(res: Response) -> Result<Bytes, Error> {
    res.into_body().collect_bytes().await
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(ms(10)).await;
    }
    panic!("{what}: not true within 2 s");
}

/// Lets a finished connection get back to the pool before the next
/// request, for backends whose library does that from a task of its own
/// (see [`httpswap_core::Capabilities::reuse_known_at_checkout`]); nothing for the others,
/// whose tests thereby check that a connection is reusable at once.
async fn settle(caps: &httpswap_core::Capabilities) {
    if !caps.reuse_known_at_checkout {
        tokio::time::sleep(ms(50)).await;
    }
}

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into()
}
