//! The reverse proxy example on every enabled backend: concurrent GETs
//! while the upstream closes keep-alive connections at random, bodies
//! streamed both ways, 502/504 mapping, statuses passed through, truncation
//! kept visible, `/__stats`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use httpswap::{Body, Client, ErrorKind, ResponseExt, TransportConfig};
use httpswap_examples::proxy::{ReverseProxy, RunningProxy};
use httpswap_test::{ServerConn, TestServer};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

const REQUESTS: usize = 200;

/// Status and body of one GET, or its error.
type Outcome = Result<(u16, Bytes), httpswap::Error>;
const CONCURRENCY: usize = 16;

fn config() -> httpswap::TransportConfigBuilder {
    TransportConfig::builder().proxy_from_env(false)
}

async fn proxy(
    name: &str,
    upstream: &str,
    config: httpswap::TransportConfigBuilder,
) -> RunningProxy {
    let t = httpswap::transport_by_name(name, config.build().expect("config")).expect("backend");
    ReverseProxy::new(upstream, t)
        .expect("proxy")
        .start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("bind")
}

/// The downstream client: hyper, no retries, so that any failure of the
/// proxy shows.
fn downstream() -> Client {
    Client::builder()
        .transport(
            httpswap::transport_by_name("hyper", config().build().expect("config")).expect("hyper"),
        )
        .max_retries(0)
        .build()
        .expect("client")
}

fn item(i: usize) -> Vec<u8> {
    format!("item {i};").repeat(50 + i % 50).into_bytes()
}

async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("finished in time")
}

/// An upstream that, like a server with a short keep-alive timeout, drops
/// connections without notice: after a response (one time in three) or
/// after a random idle pause of up to 10 ms. A connection's first request
/// is always answered.
async fn flaky_upstream() -> TestServer {
    TestServer::start(|mut conn: ServerConn| async move {
        let mut rng = fastrand::Rng::with_seed(conn.index as u64);
        for served in 0..1000u32 {
            let idle = if served == 0 {
                Duration::from_secs(10)
            } else {
                Duration::from_millis(rng.u64(0..10))
            };
            let Ok(Ok(Some(req))) = tokio::time::timeout(idle, conn.read_request()).await else {
                return;
            };
            let i: usize = req.target.trim_start_matches("/item/").parse().unwrap_or(0);
            if conn.respond(200, &[], &item(i)).await.is_err() || rng.u8(0..3) == 0 {
                return;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_succeeds_while_the_upstream_closes_connections_at_random() {
    bounded(async {
        for name in httpswap::enabled_backends() {
            let upstream = flaky_upstream().await;
            let running = proxy(name, &upstream.url(""), config()).await;
            let base = format!("http://{}", running.addr());
            let client = downstream();
            let results: Vec<(usize, Outcome)> = futures_util::stream::iter(0..REQUESTS)
                .map(|i| {
                    let (client, url) = (client.clone(), format!("{base}/item/{i}"));
                    async move {
                        let res = async {
                            let res = client.get(&url).send().await?;
                            let status = res.status().as_u16();
                            Ok((status, res.bytes().await?))
                        }
                        .await;
                        (i, res)
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for (i, res) in results {
                let (status, body) = res.unwrap_or_else(|e| panic!("{name}: GET {i}: {e:?}"));
                assert_eq!(
                    status,
                    200,
                    "{name}: GET {i}: {}",
                    String::from_utf8_lossy(&body)
                );
                assert_eq!(body, item(i), "{name}: GET {i} byte-exact");
            }
            // the upstream did close connections, many times
            assert!(
                upstream.stats().accepted() >= 10,
                "{name}: {} connections",
                upstream.stats().accepted()
            );
            let stats: serde_json::Value = client
                .get(&format!("{base}/__stats"))
                .send()
                .await
                .expect("stats")
                .json()
                .await
                .expect("json");
            assert_eq!(stats["backend"], *name);
            assert_eq!(stats["requests"], REQUESTS);
            assert_eq!(stats["relayed"], REQUESTS);
            assert_eq!(stats["failed"], 0);
            assert_eq!(stats["success_rate"], 1.0);
            let (created, reused) = (
                stats["pool"]["created"].as_u64().expect("created"),
                stats["pool"]["reused"].as_u64().expect("reused"),
            );
            assert!(created >= 10 && reused >= 10, "{name}: {stats}");
            let ratio = stats["pool"]["reuse_ratio"].as_f64().expect("ratio");
            assert!((ratio - reused as f64 / (created + reused) as f64).abs() < 1e-9);
            assert!(stats["upstream_latency"]["mean_ms"].as_f64().expect("mean") > 0.0);
        }
    })
    .await;
}

/// A hyper upstream whose `/down` sends a first chunk and the rest only
/// when `release` is notified, and whose `/up` notifies `got_first` when
/// the first chunk of the request body arrives.
async fn gated_upstream(release: Arc<Notify>, got_first: Arc<Notify>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (release, got_first) = (release.clone(), got_first.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (release, got_first) = (release.clone(), got_first.clone());
                    async move {
                        let body = if req.uri().path() == "/down" {
                            let s = futures_util::stream::unfold(0, move |n| {
                                let release = release.clone();
                                async move {
                                    match n {
                                        0 => Some((Ok::<_, Infallible>(Bytes::from("first;")), 1)),
                                        1 => {
                                            release.notified().await;
                                            Some((Ok(Bytes::from("second")), 2))
                                        }
                                        _ => None,
                                    }
                                }
                            });
                            Body::from_stream(s)
                        } else {
                            let mut incoming = req.into_body();
                            let mut all = Vec::new();
                            while let Some(Ok(frame)) = incoming.frame().await {
                                if let Ok(data) = frame.into_data() {
                                    if all.is_empty() {
                                        got_first.notify_one();
                                    }
                                    all.extend_from_slice(&data);
                                }
                            }
                            Body::from(all)
                        };
                        Ok::<_, Infallible>(http::Response::new(body))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_stream_both_ways_without_buffering() {
    bounded(async {
        for name in httpswap::enabled_backends() {
            let (release, got_first) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
            let addr = gated_upstream(release.clone(), got_first.clone()).await;
            let running = proxy(name, &format!("http://{addr}"), config()).await;
            let base = format!("http://{}", running.addr());
            let client = downstream();

            // down: the first chunk arrives while the upstream still holds
            // the second, which it sends only once we have the first
            let res = client
                .get(&format!("{base}/down"))
                .send()
                .await
                .expect("head");
            let mut body = res.into_body();
            let first = body.frame().await.expect("a frame").expect("data");
            assert_eq!(first.into_data().expect("data"), "first;", "{name}");
            release.notify_one();
            assert_eq!(
                body.collect_bytes().await.expect("rest"),
                "second",
                "{name}"
            );

            // up: the second chunk is sent only once the upstream got the first
            let gate = got_first.clone();
            let upload = futures_util::stream::unfold(0, move |n| {
                let gate = gate.clone();
                async move {
                    match n {
                        0 => Some((Ok::<_, Infallible>(Bytes::from("a;")), 1)),
                        1 => {
                            gate.notified().await;
                            Some((Ok(Bytes::from("b")), 2))
                        }
                        _ => None,
                    }
                }
            });
            let res = client
                .post(&format!("{base}/up"))
                .body(Body::from_stream(upload))
                .send()
                .await
                .expect("upload");
            assert_eq!(res.bytes().await.expect("echo"), "a;b", "{name}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_map_to_502_and_504_and_statuses_pass_through() {
    bounded(async {
        let refused_port = httpswap_test::RefusedPort::new();
        let refused = refused_port.addr();
        let stalls = TestServer::start(|mut conn: ServerConn| async move {
            let _ = conn.read_request().await;
            conn.wait_closed(Duration::from_secs(5)).await;
        })
        .await;
        let echo = TestServer::echo().await;
        let truncates = TestServer::start(|mut conn: ServerConn| async move {
            let _ = conn.read_request().await;
            let _ = conn
                .write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part")
                .await;
        })
        .await;
        let client = downstream();
        for name in httpswap::enabled_backends() {
            let dead = proxy(name, &format!("http://{refused}"), config()).await;
            let res = client
                .get(&format!("http://{}/x", dead.addr()))
                .send()
                .await
                .expect("answered");
            assert_eq!(res.status(), 502, "{name}");
            let v: serde_json::Value = res.json().await.expect("json");
            assert_eq!(v["error"]["type"], "upstream_error");
            assert_eq!(v["error"]["kind"], "Connect", "{name}: {v}");

            let slow = proxy(
                name,
                &stalls.url(""),
                config().timeout_read(Duration::from_millis(100)),
            )
            .await;
            let res = client
                .post(&format!("http://{}/slow", slow.addr()))
                .body("x")
                .send()
                .await
                .expect("answered");
            assert_eq!(res.status(), 504, "{name}");
            let v: serde_json::Value = res.json().await.expect("json");
            assert_eq!(v["error"]["type"], "upstream_timeout");
            assert_eq!(v["error"]["kind"], "ReadTimeout", "{name}: {v}");

            let before = echo.stats().requests().len();
            let through = proxy(name, &echo.url(""), config()).await;
            let res = client
                .get(&format!("http://{}/status/503", through.addr()))
                .header("x-custom", "kept")
                .send()
                .await
                .expect("answered");
            assert_eq!(res.status(), 503, "{name}: passed through");
            assert_eq!(
                echo.stats().requests().len(),
                before + 1,
                "{name}: not retried"
            );
            let seen = echo.stats().requests().pop().expect("request");
            assert_eq!(seen.target, "/status/503");
            assert_eq!(seen.headers["x-custom"], "kept");
            assert_eq!(
                seen.headers["host"],
                echo.addr().to_string().as_str(),
                "{name}: upstream's Host"
            );

            let cut = proxy(name, &truncates.url(""), config()).await;
            // the head may or may not have left the proxy when the body broke
            let got = async {
                let url = format!("http://{}/cut", cut.addr());
                client.get(&url).send().await?.bytes().await
            };
            let err = got.await.expect_err("a cut body is never complete");
            assert!(
                matches!(err.kind(), ErrorKind::RemoteProtocol | ErrorKind::Read),
                "{name}: {err:?}"
            );
        }
    })
    .await;
}
