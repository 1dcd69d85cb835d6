//! The settings handed to curl: the client's (connection limits, cache,
//! HTTP versions, connect timeout) and, per `https://` request, TLS.

use std::time::Duration;

use httpswap_core::{Error, TransportConfig};
use isahc::config::{Configurable, RedirectPolicy, VersionNegotiation};
use isahc::HttpClient;

/// The longest header line curl reads (`CURL_MAX_HTTP_HEADER`): a larger
/// head limit could not be honoured for a head of one long line.
pub(crate) const MAX_HEAD_SIZE: usize = 100 * 1024;

/// curl's trust store: the webpki roots (unless turned off) and the extra CAs.
fn trust_store(config: &TransportConfig) -> isahc::tls::TrustStore {
    let mut b = isahc::tls::TrustStore::builder();
    if config.tls.builtin_roots {
        for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
            b = b.certificate_from_der(root);
        }
    }
    for extra in &config.tls.root_certificates {
        b = b.certificate_from_der(extra.der());
    }
    b.build()
}

/// The TLS settings, given per `https://` request only: curl copies a
/// connection's TLS settings, the ~200 KiB root bundle included, into every
/// new connection, plain ones too, when they are set on the client (the
/// cost is in BENCHMARKS.md).
pub(crate) fn tls_for(config: &TransportConfig) -> isahc::tls::TlsConfig {
    isahc::tls::TlsConfig::builder()
        .trust_store(trust_store(config))
        .danger_accept_invalid_certs(config.tls.danger_accept_invalid_certs)
        .danger_accept_invalid_hosts(config.tls.danger_accept_invalid_certs)
        .build()
}

/// isahc settings for a configuration.
pub(crate) fn client_for(config: &TransportConfig) -> Result<HttpClient, Error> {
    let version = if config.http2_prior_knowledge {
        VersionNegotiation::http2()
    } else if config.http2 {
        VersionNegotiation::latest_compatible()
    } else {
        VersionNegotiation::http11()
    };
    let mut b = HttpClient::builder()
        .redirect_policy(RedirectPolicy::None)
        .automatic_decompression(false)
        .expect_continue(false)
        .max_connections(config.limits.max_connections)
        .connection_cache_size(config.limits.max_keepalive_connections)
        .connection_cache_ttl(max_age(config.limits.keepalive_expiry))
        .tcp_nodelay()
        .version_negotiation(version)
        // proxies are chosen per request; curl must not read the environment
        .proxy(None);
    if let Some(t) = config.timeouts.connect {
        b = b.connect_timeout(t);
    }
    if let Some(ip) = config.local_address {
        b = b.interface(ip);
    }
    b.build().map_err(|e| {
        Error::builder(format!("isahc could not build its client: {e}")).with_source(e)
    })
}

/// curl's `CURLOPT_MAXAGE_CONN` is in whole seconds (0 turns the limit
/// off): the expiry rounded up, at least 1 s (100 ms becomes 1 s).
pub(crate) fn max_age(expiry: Duration) -> Duration {
    let ceil = expiry.as_secs() + u64::from(expiry.subsec_nanos() > 0);
    Duration::from_secs(ceil.max(1))
}
