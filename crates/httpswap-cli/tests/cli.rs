//! The `httpswap` binary: argument parsing, the JSON shape of a tiny run
//! against the embedded server, an unreachable URL, and bad arguments.

use std::process::Command;

use clap::Parser;
use httpswap_cli::cli::{parse_size, Cli, Command as Sub};

fn httpswap(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_httpswap"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// `httpswap bench ARGS -r 1 --json -q`, which must succeed: its JSON.
fn bench_json(args: &[&str]) -> serde_json::Value {
    bench_json_with(args, &[])
}

/// [`bench_json`] with these environment variables set.
fn bench_json_with(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_httpswap"))
        .arg("bench")
        .args(args)
        .args(["-r", "1", "--json", "-q"])
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn arguments_parse_with_defaults_and_units() {
    let cli = Cli::try_parse_from(["httpswap", "bench"]).expect("defaults");
    let Sub::Bench(args) = cli.command else {
        panic!("parsed as bench")
    };
    assert_eq!(
        (args.concurrency, args.burst, args.repetitions),
        (100, 1000, 5)
    );
    assert!(args.url.is_none() && !args.json);
    assert_eq!(httpswap_cli::scenarios(&args).expect("scenarios").len(), 4);

    let cli = Cli::try_parse_from([
        "httpswap",
        "bench",
        "http://127.0.0.1:1/",
        "--backends",
        "hyper,reqwest",
        "-c",
        "8",
        "--download-size",
        "64KiB",
    ])
    .expect("parsed");
    let Sub::Bench(args) = cli.command else {
        panic!("parsed as bench")
    };
    assert_eq!(
        args.backends.as_deref(),
        Some(&["hyper".to_owned(), "reqwest".to_owned()][..])
    );
    assert_eq!(args.download_size, 64 * 1024);
    // with a URL, only the scenarios that can run against it
    let names: Vec<_> = httpswap_cli::scenarios(&args)
        .expect("scenarios")
        .iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), 2);

    assert_eq!(parse_size("16MiB"), Ok(16 << 20));
    assert_eq!(parse_size("2 KB"), Ok(2000));
    assert!(parse_size("12 parsecs").unwrap_err().contains("unit"));
    assert!(parse_size("lots").unwrap_err().contains("invalid size"));
    assert!(Cli::try_parse_from(["httpswap", "bench", "-c", "0"]).is_err());
    assert!(Cli::try_parse_from(["httpswap", "bench", "--scenarios", "sideways"]).is_err());
}

#[test]
fn download_against_a_url_is_refused_with_a_reason() {
    let cli = Cli::try_parse_from([
        "httpswap",
        "bench",
        "http://127.0.0.1:1/",
        "--scenarios",
        "download",
    ])
    .expect("parsed");
    let Sub::Bench(args) = cli.command else {
        panic!("parsed as bench")
    };
    let err = httpswap_cli::scenarios(&args).unwrap_err();
    assert!(err.contains("embedded server"), "{err}");
}

#[test]
fn tiny_run_prints_json_with_every_figure_per_backend() {
    let plot = std::env::temp_dir().join(format!("httpswap-plot-{}.svg", std::process::id()));
    let out = httpswap(&[
        "bench",
        "--plot",
        plot.to_str().expect("utf-8 temp path"),
        "-n",
        "40",
        "-c",
        "4",
        "--burst",
        "8",
        "--downloads",
        "2",
        "--download-size",
        "256KiB",
        "--uploads",
        "2",
        "--upload-size",
        "256KiB",
        "-r",
        "1",
        "--json",
        "-q",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["target"], "embedded server");
    let svg = std::fs::read_to_string(&plot).expect("the chart was written");
    let _ = std::fs::remove_file(&plot);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("httpswap-hyper") || svg.contains("httpswap-reqwest"));
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    let names: Vec<_> = scenarios
        .iter()
        .map(|s| s["scenario"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["sustained", "burst", "download", "upload"]);
    for s in scenarios {
        let results = s["results"].as_array().expect("results");
        // each enabled backend's Client, its transport through the trait,
        // and its library direct
        assert_eq!(results.len(), 3 * httpswap::enabled_backends().len(), "{s}");
        for r in results {
            assert!(r["requests_per_sec"].as_f64().unwrap() > 0.0, "{r}");
            assert_eq!(r["errors"], 0, "{r}");
            for p in ["p50", "p90", "p99", "max"] {
                assert!(r["latency_us"][p].as_u64().unwrap() > 0, "{r}");
            }
            let to_direct = r["ratio_to_direct"]["throughput"]
                .as_f64()
                .expect("ratio to direct");
            assert!(to_direct > 0.0);
            // a paired ratio says how its rounds spread (here, one
            // round: no spread); a ratio to the fastest is not paired
            let spread = &r["ratio_to_direct"]["spread"];
            assert_eq!(spread["rounds"], 1, "{r}");
            assert_eq!(spread["low"].as_f64(), Some(to_direct), "{r}");
            assert_eq!(spread["high"].as_f64(), Some(to_direct), "{r}");
            assert!(r["ratio_to_fastest"]["spread"].is_null(), "{r}");
            if r["direct"] == true {
                assert_eq!(to_direct, 1.0);
            }
            // a Client row has its ratio to the transport under it, and
            // only a Client row
            let to_transport = r["ratio_to_transport"]["throughput"].as_f64();
            assert_eq!(to_transport.is_some(), r["layer"] == "client", "{r}");
            assert!(r["ratio_to_fastest"]["throughput"].as_f64().unwrap() <= 1.0);
            assert!(r["connections_opened"].is_u64(), "{r}");
            // each client runs in a process of its own: its memory is its own
            assert!(r["peak_rss_kib"].as_u64().unwrap() > 0, "{r}");
            assert!(r["baseline_rss_kib"].as_u64().unwrap() > 0, "{r}");
            assert!(r["rss_growth_kib"].is_i64(), "{r}");
            // and so is its CPU time, per request, paired with the
            // reference's (a direct row's own is exactly 1)
            assert!(r["cpu_us_per_request"].as_f64().unwrap() > 0.0, "{r}");
            let cpu = &r["ratio_to_direct"]["cpu"];
            assert!(cpu["median"].as_f64().unwrap() > 0.0, "{r}");
            assert_eq!(cpu["spread"]["rounds"], 1, "{r}");
            if r["direct"] == true {
                assert_eq!(cpu["median"].as_f64(), Some(1.0), "{r}");
            }
            assert_eq!(
                r["ratio_to_transport"]["cpu"].is_object(),
                r["layer"] == "client",
                "{r}"
            );
            assert!(r["ratio_to_fastest"]["cpu"].is_null(), "{r}");
        }
        if s["scenario"]["name"] == "download" {
            let r = &s["results"][0];
            assert!(r["mib_per_sec"].as_f64().unwrap() > 0.0);
        }
    }
}

#[test]
fn an_unreachable_url_is_reported_per_backend_with_its_kind() {
    let refused = httpswap_test::RefusedPort::new();
    let port = refused.addr().port();
    let url = format!("http://127.0.0.1:{port}/");
    // the transports only: a Client retries a refused connection twice,
    // with its backoff, which would only make this test slow
    let out = httpswap(&[
        "bench",
        &url,
        "--layer",
        "transport",
        "-n",
        "10",
        "-c",
        "2",
        "--burst",
        "2",
        "-r",
        "1",
        "--max-errors",
        "3",
        "--json",
        "-q",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("requests failed"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    for s in v["scenarios"].as_array().unwrap() {
        for r in s["results"].as_array().unwrap() {
            assert!(r["errors"].as_u64().unwrap() >= 1, "{r}");
            assert!(r["error_kinds"]["connect"].as_u64().unwrap() >= 1, "{r}");
        }
    }
}

#[test]
fn bad_arguments_exit_non_zero_with_a_message() {
    let out = httpswap(&["bench", "--concurrency", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--concurrency"));
    let out = httpswap(&["bench", "ftp://example.invalid/", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid URL"));
    let out = httpswap(&["bench", "--backends", "curl-impersonate", "-q"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not enabled"));
    let out = httpswap(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The sweep runs GETs at concurrency 1, 10, 100 and 1000; the flaky
/// scenario reports a success rate per client, its failures do not fail
/// the command, and its server closes connections. How many a run opens
/// is random: a connection closes 0 to 10 ms after its 1st to 5th answer
/// and answers what comes meanwhile (`LocalServer::start_flaky`), so 100
/// GETs open 6 to 10 on each client (1 300 in 20 000 in BENCHMARKS.md),
/// and a fast client could, rarely, open none; the three together opening
/// fewer than 3 would be a chance under one in a million (Poisson, 20 on
/// average).
#[test]
fn sweep_and_flaky_scenarios_run_and_report() {
    let v = bench_json(&[
        "--scenarios",
        "sweep,flaky",
        "--sweep-requests",
        "20",
        "--flaky-requests",
        "100",
        "--backends",
        "hyper",
    ]);
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    let levels: Vec<_> = scenarios
        .iter()
        .filter(|s| s["scenario"]["name"] == "sweep")
        .map(|s| s["scenario"]["concurrency"].as_u64().unwrap())
        .collect();
    assert_eq!(levels, [1, 10, 100, 1000]);
    let flaky = scenarios
        .iter()
        .find(|s| s["scenario"]["name"] == "flaky")
        .expect("the flaky scenario");
    let results = flaky["results"].as_array().expect("results");
    assert_eq!(results.len(), 3, "Client, transport and direct");
    for r in results {
        let rate = r["success_rate"].as_f64().unwrap();
        assert!(rate > 0.0 && rate <= 1.0, "{r}");
    }
    let opened: u64 = results
        .iter()
        .map(|r| {
            r["connections_opened"]
                .as_u64()
                .expect("connections_opened")
        })
        .sum();
    assert!(
        opened >= 3,
        "the flaky server closed too few connections: {flaky}"
    );
}

/// Over h2c every client multiplexes; from a cold start, 100 GETs at once
/// on httpswap (the `Client` and the transport) open one connection. Over
/// HTTPS every client trusts the run's CA and gets its answers.
#[test]
fn http2_and_https_scenarios_run_and_a_cold_h2_start_opens_one_connection() {
    let v = bench_json(&[
        "--scenarios",
        "http2,http2-cold,https",
        "--burst",
        "20",
        "-n",
        "200",
        "-c",
        "20",
    ]);
    let scenarios = v["scenarios"].as_array().expect("scenarios");
    assert_eq!(scenarios.len(), 3);
    for s in scenarios {
        for r in s["results"].as_array().expect("results") {
            assert_eq!(r["errors"], 0, "{r}");
            assert!(r["requests_per_sec"].as_f64().unwrap() > 0.0, "{r}");
            if s["scenario"]["name"] == "http2-cold" && r["layer"] != "direct" {
                assert_eq!(r["connections_opened"], 1, "{r}");
            }
        }
    }
}

/// Each client's process can be run under another program (a profiler,
/// `scripts/callgrind-layers`), named with its arguments by
/// `HTTPSWAP_BENCH_WORKER_WRAPPER`: every worker runs under it, with its
/// own command line after the wrapper's, and the run reports as usual. A
/// wrapper that cannot start is an error naming it, not a hang.
#[test]
fn each_client_process_runs_under_the_wrapper_named() {
    let dir = std::env::temp_dir().join(format!("httpswap-wrapper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("log");
    let wrapper = dir.join("wrapper.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec \"$@\"\n",
            log.display()
        ),
    )
    .unwrap();
    let wrapped = format!("sh {}", wrapper.display());
    let v = bench_json_with(
        &["--scenarios", "sustained", "-n", "20", "-c", "2"],
        &[("HTTPSWAP_BENCH_WORKER_WRAPPER", &wrapped)],
    );
    let results = v["scenarios"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 3 * httpswap::enabled_backends().len());
    for r in results {
        assert_eq!(r["errors"], 0, "{r}");
    }
    // one worker per client (the run and its warm-up share it), each
    // under the wrapper with its own command line
    let logged = std::fs::read_to_string(&log).expect("the wrapper ran");
    let lines: Vec<&str> = logged.lines().collect();
    assert_eq!(lines.len(), results.len(), "{logged}");
    for line in lines {
        assert!(
            line.contains(env!("CARGO_BIN_EXE_httpswap")) && line.contains("__worker --backend"),
            "{line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);

    let out = Command::new(env!("CARGO_BIN_EXE_httpswap"))
        .args([
            "bench",
            "--scenarios",
            "sustained",
            "-n",
            "20",
            "-r",
            "1",
            "-q",
        ])
        .env(
            "HTTPSWAP_BENCH_WORKER_WRAPPER",
            "/nonexistent/profiler --flag",
        )
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/profiler"), "{stderr}");
}
