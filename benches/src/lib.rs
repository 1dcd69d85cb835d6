//! Shared pieces of the criterion benchmarks. The server and the clients
//! are `httpswap bench`'s own (`httpswap_cli::server`, `httpswap_cli::subject`),
//! so the criterion numbers and the tool's compare the same things.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
pub use httpswap_cli::server::LocalServer;
pub use httpswap_cli::subject::{subjects, Layer, Layers, Subject};

/// The runtime clients are measured on: two workers, as many as the
/// machine has cores.
///
/// # Panics
///
/// If the runtime cannot start.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Every enabled backend: its `Client`, its transport through the trait,
/// and its library used directly.
///
/// # Panics
///
/// If a backend cannot be built.
pub fn all_subjects() -> Vec<Subject> {
    subjects(None, Layers::ALL).expect("subjects")
}

async fn get(subject: &Subject, url: &str) {
    subject
        .call(&http::Method::GET, url, Bytes::new())
        .await
        .expect("request");
}

/// Runs `total` requests with `concurrency` workers; returns the elapsed time.
///
/// # Panics
///
/// If a request fails: a benchmark of failures measures nothing.
pub async fn sustained(subject: &Subject, url: &str, total: usize, concurrency: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let subject = subject.clone();
        let url = url.to_owned();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total {
                get(&subject, &url).await;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    started.elapsed()
}

/// Starts `n` requests at once; returns the time until all completed.
///
/// # Panics
///
/// If a request fails.
pub async fn burst(subject: &Subject, url: &str, n: usize) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let subject = subject.clone();
            let url = url.to_owned();
            tokio::spawn(async move { get(&subject, &url).await })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    started.elapsed()
}
