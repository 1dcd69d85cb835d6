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
        b = b.connect_timeout(for_curl(t));
    }
    if let Some(ip) = config.local_address {
        b = b.interface(ip);
    }
    if config.resolver.is_some() {
        return Err(Error::builder(
            "the isahc backend cannot take a resolver (curl resolves names itself): \
             use resolve overrides, or the hyper or reqwest backend",
        ));
    }
    if !config.resolve_overrides.is_empty() {
        b = b.dns_resolve(resolve_map(config));
    }
    if let Some(path) = &config.unix_socket {
        b = b.dial(isahc::net::Dialer::unix_socket(path.clone()));
    }
    b.build().map_err(|e| {
        Error::builder(format!("isahc could not build its client: {e}")).with_source(e)
    })
}

/// The resolve overrides as curl's `CURLOPT_RESOLVE` entries.
///
/// isahc's `ResolveMap` writes one `host:port:address` entry per address,
/// and curl keeps only the last entry for a host and port. So each entry
/// lists all its addresses itself, the last one in brackets, in the host
/// part isahc is given: curl stops reading an entry at whatever follows a
/// bracketed address other than a comma (`Curl_loadhostpairs`), which is
/// where isahc's own `:port:address` goes. Held by
/// `network_happy_eyeballs_past_an_unanswered_address`, whose override has two
/// addresses and needs the second.
fn resolve_map(config: &TransportConfig) -> isahc::net::dns::ResolveMap {
    let mut map = isahc::net::dns::ResolveMap::new();
    for (host, port, ips) in config.resolve_overrides.iter() {
        let listed: Vec<String> = ips.iter().map(|ip| format!("[{ip}]")).collect();
        let entry = format!("{host}:{port}:{}", listed.join(","));
        if let Some(last) = ips.last() {
            map = map.add(entry, port, *last);
        }
    }
    map
}

/// A timeout as curl can take it: at most `LONGEST_WAIT` (what the other
/// backends' deadlines stop at, `httpswap_adapter::deadline_after`). curl
/// takes milliseconds in a C `long`, and refused `Duration::MAX` ("a
/// libcurl function was given a bad argument") where the others wait
/// without end (`timeout_beyond_any_clock_is_no_limit`).
pub(crate) fn for_curl(t: Duration) -> Duration {
    t.min(httpswap_adapter::LONGEST_WAIT)
}

/// curl's `CURLOPT_MAXAGE_CONN` is in whole seconds (0 turns the limit
/// off): the expiry rounded up, at least 1 s (100 ms becomes 1 s).
pub(crate) fn max_age(expiry: Duration) -> Duration {
    let expiry = for_curl(expiry);
    let ceil = expiry.as_secs() + u64::from(expiry.subsec_nanos() > 0);
    Duration::from_secs(ceil.max(1))
}
