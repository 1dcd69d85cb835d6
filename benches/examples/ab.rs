//! Quick interleaved A/B runs of the sustained scenario, for profiling:
//! `cargo run --release -p httpswap-benches --example ab`.

use httpswap_benches::{burst, client_runtime, sustained, LocalServer, Subject};

fn main() {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let no_timeouts = {
        let config = httpswap_core::TransportConfig::builder()
            .proxy_from_env(false)
            .timeouts(httpswap_core::Timeouts::all(None))
            .build()
            .expect("config");
        Subject::Transport(httpswap_core::SharedTransport::new(
            httpswap_hyper::HyperTransport::new(config).expect("transport"),
        ))
    };
    let (reqwest_through, reqwest_direct) = Subject::reqwest_pair();
    let subjects = [
        ("httpswap-hyper", Subject::hyper_transport()),
        ("httpswap-hyper-no-timeouts", no_timeouts),
        ("hyper-util-legacy", Subject::hyper_legacy()),
        ("httpswap-reqwest", reqwest_through),
        ("reqwest-direct", reqwest_direct),
        (
            "httpswap-reqwest-no-timeouts",
            Subject::reqwest_pair_with(httpswap_core::Timeouts::all(None)).0,
        ),
    ];
    let only = std::env::args().nth(1);
    let bursts = std::env::args().nth(2).as_deref() == Some("burst");
    let subjects: Vec<_> = subjects
        .into_iter()
        .filter(|(name, _)| {
            only.as_deref()
                .is_none_or(|o| o == "all" || o.split(',').any(|o| o == *name))
        })
        .collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); subjects.len()];
    rt.block_on(async {
        for (_, s) in &subjects {
            sustained(s, &url, 2000, 100).await;
        }
        for _round in 0..7 {
            for (i, (_, s)) in subjects.iter().enumerate() {
                let rate = if bursts {
                    1000.0 / burst(s, &url, 1000).await.as_secs_f64()
                } else {
                    10_000.0 / sustained(s, &url, 10_000, 100).await.as_secs_f64()
                };
                rates[i].push(rate);
            }
        }
    });
    for (name, s) in &subjects {
        if let Subject::Transport(t) = s {
            eprintln!("{name}: {:?}", t.pool_stats());
        }
    }
    for (i, (name, _)) in subjects.iter().enumerate() {
        let mut r = rates[i].clone();
        r.sort_by(f64::total_cmp);
        println!("{name:30} median {:>9.0} req/s", r[r.len() / 2]);
    }
}
