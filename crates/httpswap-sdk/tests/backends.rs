//! The transports the SDK tests run on: every backend.

#![allow(dead_code)]

use httpswap_core::{SharedTransport, TransportConfig};

/// One transport of each backend, named, with test settings (no proxy
/// from the environment, 2 s timeouts).
pub fn each_backend() -> Vec<(&'static str, SharedTransport)> {
    let config = || {
        TransportConfig::builder()
            .proxy_from_env(false)
            .timeouts(httpswap_core::Timeouts::all(
                std::time::Duration::from_secs(2),
            ))
            .build()
            .expect("config")
    };
    vec![
        (
            "hyper",
            SharedTransport::new(httpswap_hyper::HyperTransport::new(config()).expect("hyper")),
        ),
        (
            "reqwest",
            SharedTransport::new(
                httpswap_reqwest::ReqwestTransport::new(config()).expect("reqwest"),
            ),
        ),
        (
            "isahc",
            SharedTransport::new(httpswap_isahc::IsahcTransport::new(config()).expect("isahc")),
        ),
    ]
}
