//! Quick interleaved A/B runs of the sustained (or burst) scenario, for
//! profiling one pair at a time:
//! `cargo run --release -p httpswap-benches --example ab [NAMES|all] [burst]`
//! where NAMES is a comma-separated list of client names
//! (`httpswap-hyper`, `hyper-util (direct)`, `httpswap-reqwest`,
//! `reqwest (direct)`, `httpswap-isahc`, `isahc (direct)`).
//!
//! The order of the clients turns every round (going first or second is
//! worth a few per cent on a shared machine). `AB_ROUNDS` (8) rounds of
//! `AB_REQUESTS` (20 000 sustained, 1000 burst) requests each; the median
//! per client and the median of the per-round ratios to the first client.

use httpswap_benches::{all_subjects, burst, client_runtime, sustained, LocalServer};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 0 {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn main() {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let only = std::env::args().nth(1);
    let bursts = std::env::args().nth(2).as_deref() == Some("burst");
    let rounds = env("AB_ROUNDS", 8).max(1);
    let requests = env("AB_REQUESTS", if bursts { 1000 } else { 20_000 }).max(1);
    let subjects: Vec<_> = all_subjects()
        .into_iter()
        .filter(|s| {
            only.as_deref()
                .is_none_or(|o| o == "all" || o.split(',').any(|o| o == s.name))
        })
        .collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    rt.block_on(async {
        for s in &subjects {
            sustained(s, &url, 2000, 100).await;
        }
        for round in 0..rounds {
            let mut order: Vec<usize> = (0..subjects.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                let s = &subjects[i];
                let took = if bursts {
                    burst(s, &url, requests).await
                } else {
                    sustained(s, &url, requests, 100).await
                };
                rates[i].push(requests as f64 / took.as_secs_f64());
            }
        }
    });
    let first = rates.first().cloned().unwrap_or_default();
    for (s, r) in subjects.iter().zip(rates) {
        let ratios = r.iter().zip(&first).map(|(a, b)| a / b).collect();
        println!(
            "{:<24} median {:>9.0} req/s, {:.3}x of the first (median of rounds)",
            s.name,
            median(r),
            median(ratios)
        );
    }
}
