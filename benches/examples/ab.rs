//! Quick interleaved A/B runs of the sustained (or burst) scenario, for
//! profiling one pair at a time:
//! `cargo run --release -p httpswap-benches --example ab [NAMES|all] [burst]`
//! where NAMES is a comma-separated list of client names
//! (`httpswap-hyper`, `hyper-util (direct)`, `httpswap-reqwest`, `reqwest (direct)`).

use httpswap_benches::{all_subjects, burst, client_runtime, sustained, LocalServer};

fn main() {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let only = std::env::args().nth(1);
    let bursts = std::env::args().nth(2).as_deref() == Some("burst");
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
        for _round in 0..7 {
            for (i, s) in subjects.iter().enumerate() {
                let rate = if bursts {
                    1000.0 / burst(s, &url, 1000).await.as_secs_f64()
                } else {
                    20_000.0 / sustained(s, &url, 20_000, 100).await.as_secs_f64()
                };
                rates[i].push(rate);
            }
        }
    });
    for (s, mut r) in subjects.iter().zip(rates) {
        r.sort_by(f64::total_cmp);
        println!("{:<24} median {:>9.0} req/s", s.name, r[r.len() / 2]);
    }
}
