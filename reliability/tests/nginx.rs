//! The stale keep-alive race against a real server: nginx (Debian) with a
//! short `keepalive_timeout` and `keepalive_requests`, so that idle
//! connections close silently just as clients reuse them (the race that made
//! an aiohttp-based proxy fail two requests out of three). Under a bounded
//! load every GET succeeds on every backend.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use httpswap::events::Retry;
use httpswap::{Client, Events, ResponseExt};
use httpswap_reliability::{config, nginx, transport, BACKENDS};

const BODY: &str = "hello from nginx";
const REQUESTS: usize = 400;
const CONCURRENCY: usize = 8;

#[derive(Debug, Default)]
struct Retries(AtomicU64);

impl Events for Retries {
    fn retry(&self, _: &Retry) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_get_succeeds_while_nginx_closes_idle_connections() {
    tokio::time::timeout(Duration::from_secs(180), async {
        // 30 ms idle timeout, 5 requests per connection
        let server = nginx(Duration::from_millis(30), 5, BODY).await;
        let mut report = Vec::new();
        for name in BACKENDS {
            let retries = Arc::new(Retries::default());
            let client = Client::builder()
                .transport(transport(name, config()))
                .events(retries.clone())
                .build()
                .expect("client");
            let url = server.url("/item");
            let failures: Vec<String> = futures_util::stream::iter(0..REQUESTS)
                .map(|i| {
                    let (client, url) = (client.clone(), url.clone());
                    async move {
                        // pauses around the idle timeout land requests on
                        // connections nginx is closing
                        let pause = (i * 7919 % 45) as u64;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        let got = async { client.get(&url).send().await?.bytes().await }.await;
                        match got {
                            Ok(body) if body == BODY => None,
                            Ok(body) => Some(format!("GET {i}: wrong body {body:?}")),
                            Err(e) => Some(format!("GET {i}: {e:?}")),
                        }
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .filter_map(|f| async move { f })
                .collect()
                .await;
            assert!(
                failures.is_empty(),
                "{name}: {} of {REQUESTS} failed: {:?}\n{}",
                failures.len(),
                &failures[..failures.len().min(5)],
                server.log()
            );
            let stats = client.transport().pool_stats();
            let created = stats.created.unwrap_or(0);
            assert!(created > 10, "{name}: nginx closed connections: {stats:?}");
            report.push(format!(
                "{name}: {REQUESTS} ok, {created} connections, {} client retries",
                retries.0.load(Ordering::Relaxed)
            ));
        }
        println!("{}", report.join("\n"));
    })
    .await
    .expect("finished in time");
}
