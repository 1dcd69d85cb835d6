//! Each backend through the trait vs its library used directly, and the
//! `httpswap::Client` over each backend vs its transport alone
//! (`{backend}_client_sustained_c100`), against the same local server in
//! the same run: the hyper backend vs hyper-util's
//! legacy client, the reqwest backend vs the very `reqwest::Client` it
//! wraps, the isahc backend vs an `isahc::HttpClient` with the same curl
//! settings. The clients are `httpswap bench`'s (same settings: no proxies,
//! at most 100 idle connections kept).
//!
//! Criterion measures the functions of a group one after the other, and on
//! a shared machine a slow spell or going second moves one function's
//! figure by more than the adapters cost. So each function runs its pair
//! in turns: every iteration it times its own subject and, just before or
//! just after (alternately), the other one. Criterion's figures are the
//! subject's own; the ratio printed after each group comes from all those
//! paired runs, measured in the same moments under the same conditions.
//!
//! `cargo bench -p httpswap-benches --bench transport [-- FILTER]`

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use httpswap_benches::{
    all_subjects, burst, client_runtime, sustained, Layer, LocalServer, Subject,
};

const SUSTAINED_REQUESTS: usize = 2000;
const CONCURRENCY: usize = 100;
const BURST: usize = 1000;
const SAMPLES: usize = 10;

/// What each benchmark function's routine was called with, in order:
/// the iterations, and the time the two subjects of the pair took.
/// Criterion calls it during warm-up, then once per sample: the last
/// `SAMPLES` calls are the measurement.
type Calls = Arc<Mutex<HashMap<usize, Vec<(u64, [Duration; 2])>>>>;

/// Requests per second of each subject over the measured samples of both
/// functions, or `None` when they did not run (filtered out, `--test`).
fn rates(calls: &Calls, requests: usize) -> Option<[f64; 2]> {
    let calls = calls.lock().expect("calls");
    let mut iters = 0;
    let mut time = [0.0; 2];
    for own in 0..2 {
        let all = calls.get(&own)?;
        for (n, took) in &all[all.len().checked_sub(SAMPLES)?..] {
            iters += n;
            for (t, d) in time.iter_mut().zip(took) {
                *t += d.as_secs_f64();
            }
        }
    }
    let count = iters as f64 * requests as f64;
    (time[0] > 0.0 && time[1] > 0.0).then(|| time.map(|t| count / t))
}

/// One group: a function per subject of the pair, each running
/// `scenario` (which returns the time its `requests` requests took) for
/// both subjects in turns; then the paired ratio.
fn group<F, Fut>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    requests: usize,
    pair: [&Subject; 2],
    scenario: F,
) where
    F: Fn(Subject) -> Fut + Copy,
    Fut: Future<Output = Duration>,
{
    let calls: Calls = Arc::default();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(requests as u64));
    for own in 0..2 {
        let calls = calls.clone();
        group.bench_function(&pair[own].name, |b| {
            b.to_async(rt).iter_custom(|iters| {
                let pair = pair.map(Subject::clone);
                let calls = calls.clone();
                async move {
                    let mut took = [Duration::ZERO; 2];
                    for i in 0..iters {
                        // own first on even iterations, the other first on odd
                        let first = (own + (i % 2) as usize) % 2;
                        for s in [first, 1 - first] {
                            took[s] += scenario(pair[s].clone()).await;
                        }
                    }
                    let mut calls = calls.lock().expect("calls");
                    calls.entry(own).or_default().push((iters, took));
                    took[own]
                }
            });
        });
    }
    group.finish();
    if let Some([a, b]) = rates(&calls, requests) {
        println!(
            "{name}, paired runs: {} {a:.0} req/s, {} {b:.0} req/s: {:.3}x\n",
            pair[0].name,
            pair[1].name,
            a / b,
        );
    }
}

fn bench(c: &mut Criterion) {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let url = url.as_str();
    let subjects = all_subjects();
    // every client, its connections and the server warm before anything
    // is measured: otherwise the first function of a run pays for it
    rt.block_on(async {
        for s in &subjects {
            sustained(s, url, SUSTAINED_REQUESTS, CONCURRENCY).await;
            burst(s, url, BURST).await;
        }
    });
    let find = |backend: &str, layer: Layer| {
        subjects
            .iter()
            .find(|s| s.backend == backend && s.layer == layer)
    };
    for backend in ["hyper", "reqwest", "isahc"] {
        // the transport first, then the library used directly
        let (Some(transport), Some(direct)) = (
            find(backend, Layer::Transport),
            find(backend, Layer::Direct),
        ) else {
            continue;
        };
        let pair = [transport, direct];
        group(
            c,
            &rt,
            &format!("{backend}_sustained_c100"),
            SUSTAINED_REQUESTS,
            pair,
            |s| async move { sustained(&s, url, SUSTAINED_REQUESTS, CONCURRENCY).await },
        );
        group(
            c,
            &rt,
            &format!("{backend}_burst_1000"),
            BURST,
            pair,
            |s| async move { burst(&s, url, BURST).await },
        );
        // what users call, against the transport under it
        if let Some(client) = find(backend, Layer::Client) {
            group(
                c,
                &rt,
                &format!("{backend}_client_sustained_c100"),
                SUSTAINED_REQUESTS,
                [client, transport],
                |s| async move { sustained(&s, url, SUSTAINED_REQUESTS, CONCURRENCY).await },
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(SAMPLES)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
