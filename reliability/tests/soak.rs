//! Soak: many requests with random cancellations, timeouts and upstream
//! resets. Afterwards no slot is leaked, memory is flat, and every response
//! received was byte-exact. CI runs the short version; the long one (about
//! 10^5 requests, a couple of minutes) is
//! `cargo test --release -p httpswap-reliability --test soak -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use httpswap::{Client, ErrorKind, ResponseExt, RetryPolicy};
use httpswap_reliability::{config, transport, BACKENDS};
use httpswap_test::{ServerConn, TestServer};

fn pattern(i: usize) -> Bytes {
    let len = (i * 7919) % (48 * 1024);
    (0..len)
        .map(|k| (k.wrapping_mul(31) ^ i) as u8)
        .collect::<Vec<u8>>()
        .into()
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `/<i>/<mode>`: `ok` answers `pattern(i)`; `cancel` answers it spread
/// over about 2 ms; `slow` waits 300 ms first; `reset` resets the
/// connection; `close` answers and closes.
async fn upstream() -> TestServer {
    TestServer::start(|mut conn: ServerConn| async move {
        for _ in 0..10_000 {
            let Ok(Some(req)) = conn.read_request().await else {
                return;
            };
            let mut parts = req.target.trim_start_matches('/').split('/');
            let i: usize = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            let body = pattern(i);
            match parts.next() {
                Some("reset") => return conn.reset(),
                Some("slow") => tokio::time::sleep(Duration::from_millis(300)).await,
                Some("cancel") => {
                    // spread over about 2 ms, so that the client's random
                    // cancellation (0-4 ms) falls before the head, inside
                    // the body, or after the end
                    let pause = || tokio::time::sleep(Duration::from_millis(1));
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", body.len());
                    let half = body.len() / 2;
                    pause().await;
                    let sent = async {
                        conn.write(head.as_bytes()).await?;
                        conn.write(&body[..half]).await?;
                        pause().await;
                        conn.write(&body[half..]).await
                    };
                    if sent.await.is_err() {
                        return;
                    }
                    continue;
                }
                _ => {}
            }
            if conn.respond(200, &[], &body).await.is_err() {
                return;
            }
            if req.target.ends_with("/close") {
                return;
            }
        }
    })
    .await
}

#[derive(Debug, Default)]
struct Tally {
    ok: u64,
    cancelled: u64,
    timed_out: u64,
    reset: u64,
}

async fn soak(name: &str, requests: usize) -> Tally {
    let started = Instant::now();
    let server = upstream().await;
    // the server runs in this process: its request log would count as the
    // client's memory, and its max-open count reads the kernel's socket
    // table (thousands of TIME_WAIT entries here) at every accept
    server.stats().set_recording(false);
    let t = transport(
        name,
        config().pool_max_connections(32).pool_max_keepalive(16),
    );
    let client = Client::builder()
        .transport(t.clone())
        .retry(RetryPolicy::default().backoff(Duration::from_millis(1), Duration::from_millis(10)))
        .build()
        .expect("client");
    let mut rng = fastrand::Rng::with_seed(42);
    let plan: Vec<(usize, u8, u64)> = (0..requests)
        .map(|i| (i, rng.u8(0..100), rng.u64(0..4000)))
        .collect();
    let mut tally = Tally::default();
    let mut baseline = 0;
    let chunks = plan.chunks(requests.div_ceil(10).max(1));
    for (round, chunk) in chunks.enumerate() {
        // bodies are compared as they come and not kept: the RSS figures are
        // then the client's, not a round's worth of bodies
        let outcomes: Vec<(usize, u8, Result<Option<bool>, httpswap::Error>)> =
            futures_util::stream::iter(chunk.iter().copied())
                .map(|(i, dice, cancel_us)| {
                    let (client, base) = (client.clone(), server.url(""));
                    async move {
                        let mode = match dice {
                            0..=79 => "ok",
                            80..=86 => "cancel",
                            87..=91 => "slow",
                            92..=96 => "reset",
                            _ => "close",
                        };
                        let url = format!("{base}/{i}/{mode}");
                        let call = async {
                            let req = client.get(&url);
                            let req = if mode == "slow" {
                                req.timeout_read(Duration::from_millis(20))
                            } else {
                                req
                            };
                            let body = req.send().await?.bytes().await?;
                            Ok::<_, httpswap::Error>(body == pattern(i))
                        };
                        let out = if mode == "cancel" {
                            // dropped mid-flight, somewhere between connect
                            // and the end of the body
                            match tokio::time::timeout(Duration::from_micros(cancel_us), call).await
                            {
                                Ok(r) => r.map(Some),
                                Err(_) => Ok(None),
                            }
                        } else {
                            call.await.map(Some)
                        };
                        (i, dice, out)
                    }
                })
                .buffer_unordered(32)
                .collect()
                .await;
        for (i, dice, out) in outcomes {
            match (dice, out) {
                (80..=86, Ok(None)) => tally.cancelled += 1,
                (_, Ok(Some(exact))) => {
                    assert!(!(87..=96).contains(&dice), "{name}: {i} should have failed");
                    assert!(exact, "{name}: request {i} byte-exact");
                    tally.ok += 1;
                }
                (87..=91, Err(e)) => {
                    assert_eq!(e.kind(), ErrorKind::ReadTimeout, "{name}: {i}: {e:?}");
                    tally.timed_out += 1;
                }
                (92..=96, Err(_)) => tally.reset += 1,
                (_, Err(e)) => panic!("{name}: request {i} (dice {dice}) failed: {e:?}"),
                (_, Ok(None)) => unreachable!("only cancelled calls give None"),
            }
        }
        if round == 1 {
            baseline = rss();
        }
    }
    // every slot comes back (bounded wait for cancelled bodies' cleanup)
    let deadline = Instant::now() + Duration::from_secs(5);
    while t.pool_stats().in_use != Some(0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = t.pool_stats();
    assert_eq!(stats.in_use, Some(0), "{name}: leaked slots: {stats:?}");
    if let Some(open) = stats.open {
        assert!(open <= 32, "{name}: {stats:?}");
    }
    // and the connections the pool holds still work
    let body = client
        .get(&server.url("/7/ok"))
        .send()
        .await
        .expect("after the soak")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body, pattern(7));
    let grown = rss().saturating_sub(baseline);
    println!(
        "{name}: {requests} requests: {tally:?}; connections created {:?}, reused {:?}; \
         RSS {} MiB, grew {} KiB after the second tenth; {:.1} s",
        stats.created,
        stats.reused,
        rss() >> 20,
        grown >> 10,
        started.elapsed().as_secs_f64()
    );
    // flat: growth after warm-up stays under 8 MiB (measured: under 0.5 MiB
    // over 136 000 requests), far below what leaking a body per request
    // would cost (24 KiB on average: 56 MiB over the short soak's 2400
    // requests after warm-up; a 1 KiB leak: 27 MiB over the long soak's)
    assert!(
        grown < 8 << 20,
        "{name}: RSS grew {grown} bytes over {requests} requests"
    );
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_short() {
    tokio::time::timeout(Duration::from_secs(300), async {
        for name in BACKENDS {
            let tally = soak(name, 3000).await;
            assert!(
                tally.ok > 2000 && tally.cancelled > 50 && tally.reset > 50 && tally.timed_out > 50,
                "{tally:?}"
            );
        }
    })
    .await
    .expect("finished in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long soak: about 10^5 requests; run with --ignored"]
async fn soak_long() {
    tokio::time::timeout(Duration::from_secs(1800), async {
        for name in BACKENDS {
            soak(name, 34_000).await;
        }
    })
    .await
    .expect("finished in time");
}
