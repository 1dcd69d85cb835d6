//! The hyper backend through the trait vs hyper-util's legacy client used
//! directly, against the same local server in the same run.
//!
//! `cargo bench -p httpswap-benches --bench transport`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use httpswap_benches::{burst, sustained, LocalServer, Subject};

const SUSTAINED_REQUESTS: usize = 2000;
const CONCURRENCY: usize = 100;
const BURST: usize = 1000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let server = LocalServer::start(256);
    let url = server.url();
    let subjects = [
        ("httpswap-hyper", Subject::hyper_transport()),
        ("hyper-util-legacy", Subject::hyper_legacy()),
    ];

    let mut group = c.benchmark_group("sustained_c100");
    group.throughput(Throughput::Elements(SUSTAINED_REQUESTS as u64));
    for (name, subject) in &subjects {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let subject = subject.clone();
                let url = url.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += sustained(&subject, &url, SUSTAINED_REQUESTS, CONCURRENCY).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("burst_1000");
    group.throughput(Throughput::Elements(BURST as u64));
    for (name, subject) in &subjects {
        group.bench_function(*name, |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let subject = subject.clone();
                let url = url.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += burst(&subject, &url, BURST).await;
                    }
                    total
                }
            });
        });
    }
    group.finish();
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
