//! `httpswap bench`: for every enabled backend, the `httpswap::Client`
//! users call, the transport through the trait, and the library it adapts
//! used directly, side by side in one run.
//!
//! ```text
//! cargo run --release -p httpswap-cli -- bench                 # embedded server, all scenarios
//! cargo run --release -p httpswap-cli -- bench --json          # machine-readable
//! cargo run --release -p httpswap-cli -- bench --plot out.svg  # and a bar chart
//! cargo run --release -p httpswap-cli -- bench http://127.0.0.1:8080/ --backends reqwest
//! ```
//!
//! Runs are interleaved (every client once per round, in turn; the order
//! turns every round), repeated
//! (`--repetitions`), and reported as medians: requests/s, MiB/s, latency
//! percentiles (hdrhistogram), errors by kind, connections the embedded
//! server accepted, the client's peak RSS and CPU time per request during
//! the run, and throughput, p99 and CPU time as ratios to the same library
//! used directly, to the same backend's transport (for the `Client` rows)
//! and to the fastest client (throughput and p99 only). The embedded
//! server runs in a process of its own, and each run of a client in a new
//! one ([`process`]), so a client's memory and CPU time are its own.
#![forbid(unsafe_code)]

pub mod cli;
pub mod process;
pub mod report;
pub mod run;
pub mod server;
pub mod subject;
pub mod tls;

use cli::{BenchArgs, LayerArg, ScenarioName};
use report::{Machine, Report};
use run::{Scenario, TRANSFER_CONCURRENCY};

/// The scenarios the arguments ask for.
///
/// # Errors
///
/// Download and upload asked for against a URL (they need the embedded
/// server's routes).
pub fn scenarios(args: &BenchArgs) -> Result<Vec<Scenario>, String> {
    let names = match (&args.scenarios, &args.url) {
        (Some(names), _) => names.clone(),
        (None, None) => vec![
            ScenarioName::Sustained,
            ScenarioName::Burst,
            ScenarioName::Download,
            ScenarioName::Upload,
        ],
        (None, Some(_)) => vec![ScenarioName::Sustained, ScenarioName::Burst],
    };
    if args.url.is_some() {
        if let Some(n) = names.iter().find(|n| {
            matches!(
                n,
                ScenarioName::Download
                    | ScenarioName::Upload
                    | ScenarioName::Flaky
                    | ScenarioName::Http2
                    | ScenarioName::Http2Cold
                    | ScenarioName::Https
            )
        }) {
            return Err(format!(
                "the {n:?} scenario needs the embedded server (its /download and /upload routes, its flaky, h2c and TLS listeners): run it without a URL"
            ));
        }
    }
    Ok(names
        .into_iter()
        .flat_map(|name| match name {
            ScenarioName::Sweep => [1, 10, 100, 1000]
                .map(|c| Scenario {
                    name,
                    requests: args.sweep_requests.max(2 * c),
                    concurrency: c,
                    bytes_per_request: None,
                })
                .to_vec(),
            ScenarioName::Https => vec![Scenario {
                name,
                requests: args.burst,
                concurrency: args.burst,
                bytes_per_request: None,
            }],
            ScenarioName::Http2Cold => vec![Scenario {
                name,
                requests: 100,
                concurrency: 100,
                bytes_per_request: None,
            }],
            ScenarioName::Http2 => vec![Scenario {
                name,
                requests: args.requests,
                concurrency: args.concurrency,
                bytes_per_request: None,
            }],
            ScenarioName::Flaky => vec![Scenario {
                name,
                requests: args.flaky_requests,
                concurrency: 10,
                bytes_per_request: None,
            }],
            _ => vec![one(args, name)],
        })
        .collect())
}

/// A scenario other than the sweep and flaky ones, from the arguments.
fn one(args: &BenchArgs, name: ScenarioName) -> Scenario {
    match name {
        ScenarioName::Sustained => Scenario {
            name,
            requests: args.requests,
            concurrency: args.concurrency,
            bytes_per_request: None,
        },
        ScenarioName::Burst => Scenario {
            name,
            requests: args.burst,
            concurrency: args.burst,
            bytes_per_request: None,
        },
        ScenarioName::Download => Scenario {
            name,
            requests: args.downloads,
            concurrency: TRANSFER_CONCURRENCY,
            bytes_per_request: Some(args.download_size),
        },
        ScenarioName::Upload => Scenario {
            name,
            requests: args.uploads,
            concurrency: TRANSFER_CONCURRENCY,
            bytes_per_request: Some(args.upload_size),
        },
        ScenarioName::Sweep
        | ScenarioName::Flaky
        | ScenarioName::Http2
        | ScenarioName::Http2Cold
        | ScenarioName::Https => unreachable!("made by `scenarios`"),
    }
}

/// The runtime each client runs on: as many workers as the machine has
/// cores.
///
/// # Errors
///
/// The runtime cannot start.
pub fn client_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))
}

/// Runs the benchmark the arguments describe. `exe` is the `httpswap`
/// binary: the embedded server and every client run in a process of
/// their own, started from it (see [`process`]).
///
/// # Errors
///
/// Invalid arguments (an unknown or disabled backend, a bad URL, a
/// scenario that needs the embedded server), as a message for the user;
/// a server or client process that cannot start or dies.
/// Failed requests are not errors: they are counted in the report.
pub fn bench(args: &BenchArgs, exe: &std::path::Path) -> Result<Report, String> {
    let scenarios = scenarios(args)?;
    if let Some(only) = &args.backends {
        for b in only {
            if !httpswap::enabled_backends().contains(&b.as_str()) {
                return Err(format!(
                    "backend {b:?} is not enabled in this build: enabled are {}",
                    httpswap::enabled_backends().join(", ")
                ));
            }
        }
    }
    let layers = subject::Layers {
        client: args.layer != LayerArg::Transport,
        transport: args.layer != LayerArg::Client,
        direct: !args.no_direct,
    };
    let specs = subject::specs(args.backends.as_deref(), layers);
    if specs.is_empty() {
        return Err("no backend to benchmark: build with the `hyper` or `reqwest` feature".into());
    }
    if let Some(url) = &args.url {
        let uri: http::Uri = url
            .parse()
            .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "invalid URL {url:?}: expected http(s)://host[:port]/path"
            ));
        }
    }
    let server = match &args.url {
        None => Some(process::ServerProcess::start(exe, args.body_size)?),
        Some(_) => None,
    };
    let base = |scenario: &Scenario| match (&server, &args.url) {
        (Some(s), _) => s.url(process::Listener::of(scenario.name)).to_owned(),
        (None, Some(u)) => u.clone(),
        (None, None) => unreachable!("a server is started when no URL is given"),
    };
    let total = (scenarios.len() * specs.len()) as u64 * args.repetitions;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {msg}")
            .expect("progress template"),
    );
    let job = |scenario: &Scenario| process::Job {
        scenario: scenario.clone(),
        base: base(scenario),
        // what the transports survive: the client's retries would hide it
        client_retries: scenario.name != ScenarioName::Flaky,
        proto: match scenario.name {
            ScenarioName::Http2 | ScenarioName::Http2Cold => process::JobProto::H2c,
            ScenarioName::Https => process::JobProto::Https,
            _ => process::JobProto::Http1,
        },
        new_client: scenario.name == ScenarioName::Http2Cold,
        client_headers: args.client_headers,
        max_errors: if scenario.name == ScenarioName::Flaky {
            u64::MAX
        } else {
            args.max_errors
        },
    };
    let mut reports = Vec::new();
    for scenario in &scenarios {
        let mut samples = vec![Vec::new(); specs.len()];
        let mut baselines = vec![Vec::new(); specs.len()];
        for round in 0..args.repetitions {
            // the order turns every round: on a shared machine, going
            // right after another client is worth a few per cent
            let mut order: Vec<usize> = (0..specs.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                bar.set_message(format!("{:?} / {}", scenario.name, specs[i].name));
                // every run in a new process: its peak RSS is that run's
                // alone, not raised by what the allocator kept from the
                // client's earlier runs or scenarios
                let mut worker =
                    process::Worker::start(exe, &specs[i], server.as_ref().map(|s| s.ca_file()))?;
                baselines[i].extend(worker.baseline_rss_kib);
                // a short warm-up, so that the measured run does not pay
                // for the process's first connections and allocations
                let mut warm = scenario.clone();
                warm.requests = warm.requests.min(warm.concurrency).min(200);
                worker.run(&job(&warm))?;
                let listener = process::Listener::of(scenario.name);
                let before = server.as_ref().map(|s| s.accepted(listener)).transpose()?;
                let mut sample = worker.run(&job(scenario))?;
                let after = server.as_ref().map(|s| s.accepted(listener)).transpose()?;
                sample.connections = before.zip(after).map(|(b, a)| a.saturating_sub(b));
                samples[i].push(sample);
                bar.inc(1);
            }
        }
        let mut report = report::summarise(scenario, &specs, &samples);
        for (r, b) in report.results.iter_mut().zip(baselines) {
            r.baseline_rss_kib = (!b.is_empty()).then(|| report::median_u64(b));
        }
        reports.push(report);
    }
    bar.finish_and_clear();
    Ok(Report {
        machine: Machine::here(),
        target: args.url.clone().unwrap_or_else(|| "embedded server".into()),
        repetitions: args.repetitions,
        client_headers: args.client_headers,
        scenarios: reports,
    })
}
