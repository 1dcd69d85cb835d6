//! Stale connections behind real proxies and an HTTP/2 server restarted
//! under idle connections: every idempotent request succeeds with the
//! client layer's retries off, on every backend, carried by the
//! transports' own rule (a request whose reused connection died before any
//! response byte is sent again, once, on a new connection).
//!
//! - haproxy (Debian) in front of nginx, closing idle client connections
//!   after 200 ms (`timeout http-keep-alive`), HTTP/1.1 and h2c; requests
//!   in waves of 50 with pauses of 150-450 ms between waves, so that the
//!   proxy closes idle connections just as the client reuses them;
//! - squid (Debian) as a forward proxy closing idle client connections
//!   after 1 s (its smallest unit), pauses of 0.8-1.3 s;
//! - nginx over HTTP/2 (TLS with ALPN, and h2c) stopped and started again
//!   on the same port under an idle connection.
//!
//! The short run is part of the test command; `ten_runs_in_a_row`
//! (`--ignored`) runs 1000 requests per front and backend ten times and
//! prints the figures RELIABILITY.md reports.

use std::time::Duration;

use futures_util::StreamExt;
use httpswap::{Certificate, Client, ErrorKind, ResponseExt};
use httpswap_reliability::{
    bounded, client_no_retry, config, haproxy, nginx, nginx_http2, squid, Server, BACKENDS,
};
use httpswap_test::TestCa;

const BODY: &str = "hello from behind the proxy";
const WAVE: usize = 50;
/// The read timeout of these clients: nginx answers at once, so a request
/// still waiting after this long is stuck, and the run goes on.
const HANG: Duration = Duration::from_secs(30);

/// What a run of waves gave: the failures that break a promise, and the
/// requests that waited for the read timeout on a backend that declares it
/// may (`answers_requests_queued_as_a_connection_ends: false`).
#[derive(Default)]
struct Outcome {
    failures: Vec<String>,
    known_hangs: Vec<String>,
}

/// Sends `waves` waves of `WAVE` GETs at once to `url`, pausing between
/// waves for a time drawn from `pause` (seeded, so runs are alike).
async fn waves(c: &Client, url: &str, waves: usize, pause: (u64, u64), seed: u64) -> Outcome {
    let may_hang = !c
        .transport()
        .capabilities()
        .answers_requests_queued_as_a_connection_ends;
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = Outcome::default();
    for wave in 0..waves {
        let sends = (0..WAVE).map(|i| async move {
            let got = async { c.get(url).send().await?.bytes().await }.await;
            match got {
                Ok(body) if body == BODY => None,
                Ok(body) => Some((false, format!("wave {wave} GET {i}: wrong body {body:?}"))),
                Err(e) => Some((
                    may_hang && e.kind() == ErrorKind::ReadTimeout,
                    format!("wave {wave} GET {i}: {e}"),
                )),
            }
        });
        let got: Vec<(bool, String)> = futures_util::stream::iter(sends)
            .buffer_unordered(WAVE)
            .filter_map(|f| async move { f })
            .collect()
            .await;
        for (known, line) in got {
            if known {
                out.known_hangs.push(line);
            } else {
                out.failures.push(line);
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(pause.0..=pause.1))).await;
    }
    out
}

/// The fronts: a name, a client over `backend` through it, the URL.
fn fronts(
    backend: &str,
    h1: &Server,
    h2c: &Server,
    forward: &Server,
    origin: &Server,
) -> Vec<(&'static str, Client, String, (u64, u64))> {
    vec![
        (
            "haproxy, HTTP/1.1",
            client_no_retry(backend, config().timeout_read(HANG)),
            h1.url("/wave"),
            (150, 450),
        ),
        (
            "haproxy, h2c",
            client_no_retry(
                backend,
                config().http2_prior_knowledge(true).timeout_read(HANG),
            ),
            h2c.url("/wave"),
            (150, 450),
        ),
        (
            "squid, forward proxy",
            client_no_retry(backend, config().proxy(&forward.url("")).timeout_read(HANG)),
            origin.url("/wave"),
            (800, 1300),
        ),
    ]
}

/// Runs every front on every backend, `n` waves each; returns a line per
/// front and backend with its outcome.
async fn run(n: usize, seed: u64) -> Vec<(String, Outcome)> {
    let origin = nginx(Duration::from_secs(60), 10_000, BODY).await;
    let h1 = haproxy(origin.addr, Duration::from_millis(200), false).await;
    let h2c = haproxy(origin.addr, Duration::from_millis(200), true).await;
    let forward = squid(1).await;
    let mut out = Vec::new();
    for backend in BACKENDS {
        for (front, client, url, pause) in fronts(backend, &h1, &h2c, &forward, &origin) {
            let outcome = waves(&client, &url, n, pause, seed).await;
            let created = client.transport().pool_stats().created.unwrap_or(0);
            out.push((
                format!(
                    "{backend:8} {front:22} {} GETs, {} failed, {} waited for the read timeout (declared), {created} connections",
                    n * WAVE,
                    outcome.failures.len(),
                    outcome.known_hangs.len(),
                ),
                outcome,
            ));
        }
    }
    out
}

/// Prints the report; returns the failures that break a promise.
fn report(results: &[(String, Outcome)]) -> Vec<String> {
    let mut broken = Vec::new();
    for (line, outcome) in results {
        println!("{line}");
        for hang in &outcome.known_hangs {
            println!("    declared: {hang}");
        }
        broken.extend(outcome.failures.iter().map(|f| format!("{line}: {f}")));
    }
    broken
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_succeeds_behind_haproxy_and_squid() {
    let results = tokio::time::timeout(Duration::from_secs(300), run(4, 1))
        .await
        .expect("finished in time");
    let broken = report(&results);
    assert!(broken.is_empty(), "{:?}", &broken[..broken.len().min(5)]);
}

/// Ten runs in a row of 1000 GETs per front and backend; every run is
/// reported before the verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "about 35 minutes: the figures in RELIABILITY.md"]
async fn ten_runs_in_a_row() {
    let mut broken = Vec::new();
    for seed in 0..10 {
        println!("run {}", seed + 1);
        let results = tokio::time::timeout(Duration::from_secs(900), run(20, seed))
            .await
            .expect("finished in time");
        broken.extend(report(&results));
    }
    assert!(broken.is_empty(), "{broken:#?}");
}

/// nginx over HTTP/2 (TLS and h2c) stopped and started again on the same
/// port under the client's idle connection: the next GETs succeed, sent at
/// once or a little later, with the client's retries off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_server_restarted_under_an_idle_connection() {
    bounded(async {
        let ca = TestCa::new();
        for tls in [false, true] {
            for backend in BACKENDS {
                for pause in [0, 100] {
                    let mut server = nginx_http2(tls.then_some(&ca), None, BODY).await;
                    let c = if tls {
                        client_no_retry(
                            backend,
                            config()
                                .http2(true)
                                .tls_root_certificate(Certificate::from_der(ca.ca_der())),
                        )
                    } else {
                        client_no_retry(backend, config().http2_prior_knowledge(true))
                    };
                    let url = if tls {
                        format!("https://localhost:{}/", server.addr.port())
                    } else {
                        server.url("/")
                    };
                    let what = format!("{backend}, tls {tls}, {pause} ms");
                    let res = c.get(&url).send().await.expect("before the restart");
                    assert_eq!(res.version(), http::Version::HTTP_2, "{what}");
                    assert_eq!(res.bytes().await.expect("body"), BODY);
                    // kill it (SIGTERM to its group, as an orchestrator does)
                    // and start it again on the same port
                    let port = server.addr.port();
                    let left = server.stop();
                    assert!(left.is_empty(), "{left:?}");
                    drop(server);
                    server = nginx_http2(tls.then_some(&ca), Some(port), BODY).await;
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                    for i in 0..3 {
                        let body = async { c.get(&url).send().await?.bytes().await }
                            .await
                            .unwrap_or_else(|e| {
                                panic!("{what}: GET {i} after the restart: {e}\\n{}", server.log())
                            });
                        assert_eq!(body, BODY, "{what}");
                    }
                    drop(server);
                }
            }
        }
    })
    .await;
}
