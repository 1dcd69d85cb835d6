//! Each backend through the trait vs its library used directly, against
//! the same local server in the same run: the hyper backend vs hyper-util's
//! legacy client, the reqwest backend vs the very `reqwest::Client` it
//! wraps, the isahc backend vs an `isahc::HttpClient` with the same curl
//! settings. The clients are `httpswap bench`'s (same settings: no proxies,
//! at most 100 idle connections kept).
//!
//! `cargo bench -p httpswap-benches --bench transport`

use std::future::Future;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use httpswap_benches::{all_subjects, burst, client_runtime, sustained, LocalServer, Subject};

const SUSTAINED_REQUESTS: usize = 2000;
const CONCURRENCY: usize = 100;
const BURST: usize = 1000;

/// One group: every subject runs `scenario` (which returns the time its
/// `requests` requests took).
fn group<F, Fut>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    requests: usize,
    subjects: &[(&str, Subject)],
    scenario: F,
) where
    F: Fn(Subject) -> Fut + Copy,
    Fut: Future<Output = Duration>,
{
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(requests as u64));
    for (name, subject) in subjects {
        group.bench_function(*name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let subject = subject.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += scenario(subject.clone()).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let url = url.as_str();
    let subjects: Vec<(String, Subject)> = all_subjects()
        .into_iter()
        .map(|s| (s.name.clone(), s))
        .collect();
    for backend in ["hyper", "reqwest", "isahc"] {
        let pair: Vec<_> = subjects
            .iter()
            .filter(|(_, s)| s.backend == backend)
            .map(|(n, s)| (n.as_str(), s.clone()))
            .collect();
        group(
            c,
            &rt,
            &format!("{backend}_sustained_c100"),
            SUSTAINED_REQUESTS,
            &pair,
            |s| async move { sustained(&s, url, SUSTAINED_REQUESTS, CONCURRENCY).await },
        );
        group(
            c,
            &rt,
            &format!("{backend}_burst_1000"),
            BURST,
            &pair,
            |s| async move { burst(&s, url, BURST).await },
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
