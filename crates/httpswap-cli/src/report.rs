//! Medians over repetitions, ratios, and the three outputs: a table, JSON
//! and an SVG bar chart.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::run::{Sample, Scenario};
use crate::subject::{Layer, Spec};

/// The whole report (the `--json` document).
#[derive(Debug, Serialize)]
pub struct Report {
    /// The machine it ran on.
    pub machine: Machine,
    /// The server: `embedded` or the URL given.
    pub target: String,
    /// Runs per (scenario, client); figures are medians over them.
    pub repetitions: u64,
    /// Every row sent the `Client`'s default headers (`--client-headers`).
    pub client_headers: bool,
    /// One entry per scenario.
    pub scenarios: Vec<ScenarioReport>,
}

/// Where it ran.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub cpus: usize,
    /// `std::env::consts::OS` / `ARCH`.
    pub os: String,
}

impl Machine {
    /// This machine.
    pub fn here() -> Machine {
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

/// One scenario's results.
#[derive(Debug, Serialize)]
pub struct ScenarioReport {
    /// The scenario and its parameters.
    pub scenario: Scenario,
    /// One entry per client, in run order.
    pub results: Vec<SubjectResult>,
}

/// One client's medians in one scenario.
#[derive(Debug, Serialize)]
pub struct SubjectResult {
    /// The client.
    pub subject: String,
    /// Its backend.
    pub backend: String,
    /// What it drives: `client`, `transport` or `direct`.
    pub layer: crate::subject::Layer,
    /// Whether it is the library used directly.
    pub direct: bool,
    /// Successful requests per second.
    pub requests_per_sec: f64,
    /// Body MiB moved per second.
    pub mib_per_sec: f64,
    /// Latency of successful requests, in microseconds.
    pub latency_us: Latency,
    /// Failed requests over all repetitions.
    pub errors: u64,
    /// Requests that succeeded over all that were made, all repetitions.
    pub success_rate: f64,
    /// Failed requests by error kind.
    pub error_kinds: BTreeMap<String, u64>,
    /// Connections the embedded server accepted per run (median).
    pub connections_opened: Option<u64>,
    /// Peak resident memory of the client's own process during a run
    /// (median), KiB.
    pub peak_rss_kib: Option<u64>,
    /// Resident memory the client's process gained over a run (median),
    /// KiB: what a run leaves behind.
    pub rss_growth_kib: Option<i64>,
    /// Resident memory of the client's process before its first request,
    /// KiB: the process without any traffic (runtime, client built).
    pub baseline_rss_kib: Option<u64>,
    /// CPU time the client's own process spent per successful request
    /// (median over runs), in microseconds: user and system, every thread.
    /// Unlike throughput it does not count time spent waiting for the
    /// server or for a core the machine gave to someone else.
    pub cpu_us_per_request: Option<f64>,
    /// Throughput and p99 as ratios to the same library used directly
    /// (`None` without a direct run, or with no successful request). The
    /// throughput ratio is the median of the rounds' own ratios.
    pub ratio_to_direct: Option<Ratios>,
    /// For a `Client` row: throughput and p99 as ratios to the same
    /// backend's transport alone (paired by round, as `ratio_to_direct`).
    pub ratio_to_transport: Option<Ratios>,
    /// Throughput and p99 as ratios to the fastest client of the scenario.
    pub ratio_to_fastest: Option<Ratios>,
}

/// Latency percentiles.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
}

/// A client's figures divided by a reference's: throughput above 1 is
/// faster, p99 above 1 is slower.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ratios {
    /// Requests per second / the reference's.
    pub throughput: f64,
    /// p99 latency / the reference's.
    pub p99: f64,
    /// For a ratio paired by round, how far the rounds' own throughput
    /// ratios spread; `None` for one taken between medians (×fastest).
    pub spread: Option<Spread>,
    /// CPU time per request / the reference's, paired by round as the
    /// throughput is: above 1, the client's process spends more on each
    /// request. `None` without a CPU figure on both sides, and for
    /// ×fastest.
    pub cpu: Option<CpuRatio>,
}

/// A paired ratio of CPU time per request.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuRatio {
    /// The median of the rounds' own ratios.
    pub median: f64,
    /// How far they spread.
    pub spread: Spread,
}

/// The middle half of the rounds' own ratios (their first and third
/// quartiles): how far one round's ratio is from the next. On a shared
/// machine this is what says whether two clients a few per cent apart
/// differ at all.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Spread {
    /// The first quartile.
    pub low: f64,
    /// The third quartile.
    pub high: f64,
    /// How many rounds paired.
    pub rounds: usize,
}

/// The first and third quartiles of `v` (not empty), interpolated
/// between the nearest ranks.
fn quartiles(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let pos = q * (v.len() - 1) as f64;
        let (below, above) = (pos.floor() as usize, pos.ceil() as usize);
        v[below] + (v[above] - v[below]) * (pos - below as f64)
    };
    (at(0.25), at(0.75))
}

/// The median of the rounds' own ratios and their spread; `None` without
/// a round.
fn median_and_spread(rounds: Vec<f64>) -> Option<(f64, Spread)> {
    if rounds.is_empty() {
        return None;
    }
    let (low, high) = quartiles(rounds.clone());
    let spread = Spread {
        low,
        high,
        rounds: rounds.len(),
    };
    Some((median_f64(rounds), spread))
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Summarises the samples of one scenario (`samples[i]` for `subjects[i]`).
pub fn summarise(
    scenario: &Scenario,
    subjects: &[Spec],
    samples: &[Vec<Sample>],
) -> ScenarioReport {
    // requests per second of every run, by subject then round
    let rates: Vec<Vec<f64>> = samples
        .iter()
        .map(|runs| {
            runs.iter()
                .map(|s| s.ok as f64 / s.elapsed.as_secs_f64().max(1e-9))
                .collect()
        })
        .collect();
    let mut results: Vec<SubjectResult> = subjects
        .iter()
        .zip(samples)
        .zip(&rates)
        .map(|((subject, runs), rates)| {
            let rps = median_f64(rates.clone());
            let mibps = median_f64(
                runs.iter()
                    .map(|s| s.bytes as f64 / (1024.0 * 1024.0) / s.elapsed.as_secs_f64().max(1e-9))
                    .collect(),
            );
            let pct = |q: fn(&crate::run::Percentiles) -> u64| {
                median_u64(
                    runs.iter()
                        .filter(|s| s.ok > 0)
                        .map(|s| q(&s.latency))
                        .collect(),
                )
            };
            let mut error_kinds = BTreeMap::new();
            for s in runs {
                for (k, n) in &s.errors {
                    *error_kinds.entry(k.clone()).or_default() += n;
                }
            }
            let opt_median = |f: fn(&Sample) -> Option<u64>| {
                let v: Vec<u64> = runs.iter().filter_map(f).collect();
                (!v.is_empty()).then(|| median_u64(v))
            };
            SubjectResult {
                subject: subject.name.clone(),
                backend: subject.backend.to_owned(),
                layer: subject.layer,
                direct: subject.layer == Layer::Direct,
                requests_per_sec: rps,
                mib_per_sec: mibps,
                latency_us: Latency {
                    p50: pct(|p| p.p50),
                    p90: pct(|p| p.p90),
                    p99: pct(|p| p.p99),
                    max: pct(|p| p.max),
                },
                errors: error_kinds.values().sum(),
                success_rate: {
                    let ok: u64 = runs.iter().map(|s| s.ok).sum();
                    let failed: u64 = error_kinds.values().sum();
                    if ok + failed == 0 {
                        0.0
                    } else {
                        ok as f64 / (ok + failed) as f64
                    }
                },
                error_kinds,
                connections_opened: opt_median(|s| s.connections),
                peak_rss_kib: opt_median(|s| s.peak_rss_kib),
                rss_growth_kib: {
                    let mut v: Vec<i64> = runs.iter().filter_map(|s| s.rss_growth_kib).collect();
                    v.sort_unstable();
                    v.get(v.len() / 2).copied()
                },
                baseline_rss_kib: None,
                cpu_us_per_request: {
                    let v: Vec<f64> = cpu_per_request(runs).flatten().collect();
                    (!v.is_empty()).then(|| median_f64(v))
                },
                ratio_to_direct: None,
                ratio_to_transport: None,
                ratio_to_fastest: None,
            }
        })
        .collect();
    let ratio = |a: &SubjectResult, b: &SubjectResult| {
        (b.requests_per_sec > 0.0 && a.requests_per_sec > 0.0 && b.latency_us.p99 > 0).then(|| {
            Ratios {
                throughput: a.requests_per_sec / b.requests_per_sec,
                p99: a.latency_us.p99 as f64 / b.latency_us.p99 as f64,
                spread: None,
                cpu: None,
            }
        })
    };
    let fastest = results
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.requests_per_sec.total_cmp(&b.1.requests_per_sec))
        .map(|(i, _)| i);
    let by_layer = |layer: Layer| -> BTreeMap<String, usize> {
        results
            .iter()
            .enumerate()
            .filter(|(_, r)| r.layer == layer)
            .map(|(i, r)| (r.backend.clone(), i))
            .collect()
    };
    let (directs, transports) = (by_layer(Layer::Direct), by_layer(Layer::Transport));
    // Throughput is paired: the median of the rounds' own ratios (both ran
    // in the same round, moments apart), which a slow spell of the machine
    // moves far less than the ratio of the medians.
    let paired = |i: usize, reference: usize| {
        let mut r = ratio(&results[i], &results[reference])?;
        let rounds: Vec<f64> = rates[i]
            .iter()
            .zip(&rates[reference])
            .filter(|(a, b)| **a > 0.0 && **b > 0.0)
            .map(|(a, b)| a / b)
            .collect();
        if let Some((median, spread)) = median_and_spread(rounds) {
            r.throughput = median;
            r.spread = Some(spread);
        }
        let cpu: Vec<f64> = cpu_per_request(&samples[i])
            .zip(cpu_per_request(&samples[reference]))
            .filter_map(|(a, b)| Some(a? / b?).filter(|r| r.is_finite()))
            .collect();
        r.cpu = median_and_spread(cpu).map(|(median, spread)| CpuRatio { median, spread });
        Some(r)
    };
    let all: Vec<_> = (0..results.len())
        .map(|i| {
            let backend = &results[i].backend;
            let to_transport = (results[i].layer == Layer::Client)
                .then(|| transports.get(backend).and_then(|&t| paired(i, t)))
                .flatten();
            (
                directs.get(backend).and_then(|&d| paired(i, d)),
                to_transport,
                fastest.and_then(|f| ratio(&results[i], &results[f])),
            )
        })
        .collect();
    for (r, (to_direct, to_transport, to_fastest)) in results.iter_mut().zip(all) {
        r.ratio_to_direct = to_direct;
        r.ratio_to_transport = to_transport;
        r.ratio_to_fastest = to_fastest;
    }
    ScenarioReport {
        scenario: scenario.clone(),
        results,
    }
}

/// Each run's CPU time per successful request, in microseconds (`None`
/// for a run without a CPU figure or without a success).
fn cpu_per_request(runs: &[Sample]) -> impl Iterator<Item = Option<f64>> + '_ {
    runs.iter().map(|s| {
        let cpu = s.cpu.filter(|_| s.ok > 0)?;
        Some(cpu.as_secs_f64() * 1e6 / s.ok as f64)
    })
}

fn fmt_ratio(r: Option<Ratios>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.2}x", r.throughput))
}

fn fmt_opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The table's note with `--client-headers`
/// (`the_table_says_what_each_row_sends`).
const SAME_REQUEST: &str =
    "every row sends the Client's default headers (User-Agent, Accept-Encoding)";

/// The table's note without `--client-headers`, when a `Client` row has a
/// `×transport`: that ratio then also counts the cost of the two headers
/// the `Client` sends and its transport row does not, which a reader would
/// otherwise take for the layer's (`the_table_says_what_each_row_sends`).
const CLIENT_SENDS_MORE: &str = "×transport: each Client row also sends its User-Agent and \
     Accept-Encoding, which its transport row does not (--client-headers: the same request on every row)";

/// The terminal table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "httpswap bench: {} ({} CPUs, {}), medians of {} runs, interleaved",
        report.target, report.machine.cpus, report.machine.os, report.repetitions
    );
    if report.client_headers {
        let _ = writeln!(out, "{SAME_REQUEST}");
    } else if report
        .scenarios
        .iter()
        .flat_map(|s| &s.results)
        .any(|r| r.ratio_to_transport.is_some())
    {
        let _ = writeln!(out, "{CLIENT_SENDS_MORE}");
    }
    for s in &report.scenarios {
        let sc = &s.scenario;
        let _ = writeln!(
            out,
            "\n{:?}: {} requests, {} at once{}",
            sc.name,
            sc.requests,
            sc.concurrency,
            sc.bytes_per_request
                .map_or(String::new(), |b| format!(", {b} bytes each"))
        );
        let _ = writeln!(
            out,
            "{:<22} {:>10} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7} {:>6} {:>10} {:>9} {:>7} {:>8} {:>10} {:>8}",
            "client",
            "req/s",
            "MiB/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "max µs",
            "errors",
            "conns",
            "peak RSS",
            "growth",
            "CPU µs",
            "×direct",
            "×transport",
            "×fastest"
        );
        for r in &s.results {
            let _ = writeln!(
                out,
                "{:<22} {:>10.0} {:>9.1} {:>8} {:>8} {:>8} {:>9} {:>7} {:>6} {:>10} {:>9} {:>7} {:>8} {:>10} {:>8}",
                r.subject,
                r.requests_per_sec,
                r.mib_per_sec,
                r.latency_us.p50,
                r.latency_us.p90,
                r.latency_us.p99,
                r.latency_us.max,
                r.errors,
                fmt_opt(r.connections_opened),
                r.peak_rss_kib
                    .map_or_else(|| "-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
                r.rss_growth_kib
                    .map_or_else(|| "-".into(), |k| format!("{:+.1} MiB", k as f64 / 1024.0)),
                r.cpu_us_per_request
                    .map_or_else(|| "-".into(), |us| format!("{us:.1}")),
                fmt_ratio(r.ratio_to_direct),
                fmt_ratio(r.ratio_to_transport),
                fmt_ratio(r.ratio_to_fastest),
            );
            if sc.name == crate::cli::ScenarioName::Flaky {
                let _ = writeln!(
                    out,
                    "{:<22}   {:.2} % succeeded (the Client's retries off)",
                    "",
                    100.0 * r.success_rate
                );
            }
            for (kind, n) in &r.error_kinds {
                let _ = writeln!(out, "{:<22}   {n} failed with {kind}", "");
            }
        }
        spreads(&mut out, s);
        cpu_ratios(&mut out, s);
    }
    out
}

/// Under a scenario's table, each paired row's CPU time per request over
/// its reference's: the median of the rounds' own ratios, and with three
/// rounds or more their middle half. Above 1, the client's process spends
/// more on a request.
fn cpu_ratios(out: &mut String, s: &ScenarioReport) {
    let fmt = |r: Option<Ratios>| match r.and_then(|r| r.cpu) {
        Some(c) if c.spread.rounds >= 3 => format!(
            "{:.2}x ({:.2}-{:.2})",
            c.median, c.spread.low, c.spread.high
        ),
        Some(c) => format!("{:.2}x", c.median),
        None => "-".into(),
    };
    let rows: Vec<&SubjectResult> = s
        .results
        .iter()
        .filter(|r| !r.direct)
        .filter(|r| {
            r.ratio_to_direct.and_then(|r| r.cpu).is_some()
                || r.ratio_to_transport.and_then(|r| r.cpu).is_some()
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "CPU time per request over the reference's, paired by round (above 1 costs more):"
    );
    let _ = writeln!(
        out,
        "{:<22} {:>20} {:>20}",
        "client", "×direct", "×transport"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<22} {:>20} {:>20}",
            r.subject,
            fmt(r.ratio_to_direct),
            fmt(r.ratio_to_transport)
        );
    }
}

/// Under a scenario's table, with three rounds or more, the middle half
/// of each paired ratio's rounds: a difference inside it is the
/// machine's, not the clients'.
fn spreads(out: &mut String, s: &ScenarioReport) {
    let fmt = |r: Option<Ratios>| match r.and_then(|r| r.spread) {
        Some(sp) => format!("{:.2}-{:.2}x", sp.low, sp.high),
        None => "-".into(),
    };
    let rounds = s
        .results
        .iter()
        .flat_map(|r| [r.ratio_to_direct, r.ratio_to_transport])
        .filter_map(|r| r?.spread)
        .map(|sp| sp.rounds)
        .max();
    let Some(rounds @ 3..) = rounds else {
        return;
    };
    let _ = writeln!(
        out,
        "the middle half of the {rounds} rounds' own ratios (first to third quartile):"
    );
    let _ = writeln!(
        out,
        "{:<22} {:>13} {:>13}",
        "client", "×direct", "×transport"
    );
    for r in &s.results {
        if r.direct
            || r.ratio_to_direct.and_then(|r| r.spread).is_none()
                && r.ratio_to_transport.and_then(|r| r.spread).is_none()
        {
            continue;
        }
        let _ = writeln!(
            out,
            "{:<22} {:>13} {:>13}",
            r.subject,
            fmt(r.ratio_to_direct),
            fmt(r.ratio_to_transport)
        );
    }
}

/// An SVG bar chart: per scenario, throughput and p99 latency per client.
/// Written by hand: a plotting crate would need font support (a system
/// library) just for labels, and this is a few rectangles.
pub fn svg(report: &Report) -> String {
    const ROW: f64 = 22.0;
    const LABEL: f64 = 190.0;
    const BAR: f64 = 300.0;
    let palette = [
        "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948",
    ];
    let rows: usize = report.scenarios.iter().map(|s| s.results.len() + 2).sum();
    let height = 40.0 + rows as f64 * ROW;
    let width = LABEL + 2.0 * BAR + 140.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\" font-weight=\"bold\">httpswap bench: throughput (req/s) and p99 latency (µs), {}</text>\n",
        escape(&report.target)
    );
    let mut y = 40.0;
    for s in &report.scenarios {
        let _ = writeln!(
            out,
            "<text x=\"10\" y=\"{:.0}\" font-weight=\"bold\">{:?}, {} at once</text><text x=\"{LABEL}\" y=\"{:.0}\">req/s</text><text x=\"{:.0}\" y=\"{:.0}\">p99 µs</text>",
            y + 14.0, s.scenario.name, s.scenario.concurrency, y + 14.0, LABEL + BAR + 60.0, y + 14.0
        );
        y += ROW;
        let max_rps = s
            .results
            .iter()
            .map(|r| r.requests_per_sec)
            .fold(0.0, f64::max)
            .max(1.0);
        let max_p99 = s
            .results
            .iter()
            .map(|r| r.latency_us.p99)
            .max()
            .unwrap_or(1)
            .max(1) as f64;
        for (i, r) in s.results.iter().enumerate() {
            let color = palette[i % palette.len()];
            let w1 = BAR * r.requests_per_sec / max_rps;
            let w2 = BAR * r.latency_us.p99 as f64 / max_p99;
            let x2 = LABEL + BAR + 60.0;
            let _ = writeln!(
                out,
                "<text x=\"10\" y=\"{:.0}\">{}</text>\
                 <rect x=\"{LABEL}\" y=\"{:.0}\" width=\"{w1:.1}\" height=\"{:.0}\" fill=\"{color}\"/>\
                 <text x=\"{:.1}\" y=\"{:.0}\">{:.0}</text>\
                 <rect x=\"{x2}\" y=\"{:.0}\" width=\"{w2:.1}\" height=\"{:.0}\" fill=\"{color}\" opacity=\"0.6\"/>\
                 <text x=\"{:.1}\" y=\"{:.0}\">{}</text>",
                y + 14.0,
                escape(&r.subject),
                y + 3.0,
                ROW - 6.0,
                LABEL + w1 + 4.0,
                y + 14.0,
                r.requests_per_sec,
                y + 3.0,
                ROW - 6.0,
                x2 + w2 + 4.0,
                y + 14.0,
                r.latency_us.p99
            );
            y += ROW;
        }
        y += ROW;
    }
    out.push_str("</svg>\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ScenarioName;
    use std::time::Duration;

    fn sample(ok: u64, millis: u64) -> Sample {
        let latency = crate::run::Percentiles {
            p50: 1000,
            p90: 1000,
            p99: 1000,
            max: 1000,
        };
        Sample {
            ok,
            errors: BTreeMap::new(),
            elapsed: Duration::from_millis(millis),
            latency,
            bytes: 0,
            connections: None,
            peak_rss_kib: None,
            rss_growth_kib: None,
            cpu: None,
        }
    }

    /// Each round, the trait is 10 % faster than the library; a slow
    /// spell (round 2 of the trait, round 3 of the library) moves the
    /// medians' ratio, not the median of the rounds' ratios.
    #[test]
    fn ratio_to_direct_is_paired_by_round() {
        let adapter = Spec {
            name: "httpswap-hyper".into(),
            backend: "hyper",
            layer: Layer::Transport,
        };
        let direct = Spec {
            name: "direct".into(),
            layer: Layer::Direct,
            ..adapter.clone()
        };
        // milliseconds for 1000 requests, per round
        let library = [110, 110, 220, 220, 110];
        let ours = [100, 200, 200, 200, 100];
        let samples = [
            ours.map(|ms| sample(1000, ms)).to_vec(),
            library.map(|ms| sample(1000, ms)).to_vec(),
        ];
        let scenario = sustained_1000_at_10();
        let report = summarise(&scenario, &[adapter, direct], &samples);
        let paired = report.results[0].ratio_to_direct.expect("a ratio");
        assert!((paired.throughput - 1.1).abs() < 1e-9, "{paired:?}");
        // the ratio of the medians (5000 / 9091 req/s) says otherwise
        let medians = report.results[0].requests_per_sec / report.results[1].requests_per_sec;
        assert!(medians < 0.6, "{medians}");
        assert!(report.results[1]
            .ratio_to_direct
            .is_some_and(|r| r.throughput == 1.0));
        // four rounds at 1.1 and one at 0.55: the middle half is 1.1 only
        let spread = paired.spread.expect("a spread");
        assert_eq!(spread.rounds, 5);
        assert!((spread.low - 1.1).abs() < 1e-9, "{spread:?}");
        assert!((spread.high - 1.1).abs() < 1e-9, "{spread:?}");
        assert!(report.results[0]
            .ratio_to_fastest
            .is_some_and(|r| r.spread.is_none()));
        // and the table says so under the rows, for the paired row only
        let table = table(&Report {
            machine: Machine::here(),
            target: "test".into(),
            repetitions: 5,
            client_headers: false,
            scenarios: vec![report],
        });
        let lines: Vec<&str> = table.lines().collect();
        let under = lines
            .iter()
            .position(|l| l.starts_with("the middle half of the 5 rounds"))
            .expect(&table);
        assert!(lines[under + 2].starts_with("httpswap-hyper"), "{table}");
        assert!(lines[under + 2].contains("1.10-1.10x"), "{table}");
        assert_eq!(lines.len(), under + 3, "{table}");
    }

    /// The `Client` over hyper and its transport, as paired rows.
    fn hyper_client_and_transport() -> (Spec, Spec) {
        let client = Spec {
            name: "Client/hyper".into(),
            backend: "hyper",
            layer: Layer::Client,
        };
        let transport = Spec {
            name: "httpswap-hyper".into(),
            layer: Layer::Transport,
            ..client.clone()
        };
        (client, transport)
    }

    /// A sustained scenario of 1000 requests, 10 at once.
    fn sustained_1000_at_10() -> Scenario {
        Scenario {
            name: ScenarioName::Sustained,
            requests: 1000,
            concurrency: 10,
            bytes_per_request: None,
        }
    }

    /// CPU time per request is paired by round as throughput is, from
    /// runs that have a CPU figure and a success; the table shows it under
    /// the rows.
    #[test]
    fn cpu_per_request_is_paired_by_round() {
        let (client, transport) = hyper_client_and_transport();
        let with_cpu = |ok, cpu_ms: u64| Sample {
            cpu: Some(Duration::from_millis(cpu_ms)),
            ..sample(ok, 100)
        };
        // 1000 requests a round: the Client's process spends 50, 60, 55
        // and 70 ms, the transport's 50 a round; the fourth round of the
        // Client failed throughout and does not count
        let samples = [
            vec![
                with_cpu(1000, 50),
                with_cpu(1000, 60),
                with_cpu(1000, 55),
                with_cpu(0, 70),
            ],
            vec![with_cpu(1000, 50); 4],
        ];
        let scenario = sustained_1000_at_10();
        let specs = [client, transport];
        let report = summarise(&scenario, &specs, &samples);
        let us = report.results[0].cpu_us_per_request.expect("a CPU figure");
        assert!((us - 55.0).abs() < 1e-9, "{us}");
        let cpu = report.results[0]
            .ratio_to_transport
            .and_then(|r| r.cpu)
            .expect("a paired CPU ratio");
        assert_eq!(cpu.spread.rounds, 3, "{cpu:?}");
        assert!((cpu.median - 1.1).abs() < 1e-9, "{cpu:?}");
        assert!((cpu.spread.low - 1.05).abs() < 1e-9, "{cpu:?}");
        assert!((cpu.spread.high - 1.15).abs() < 1e-9, "{cpu:?}");
        assert!(report.results[0]
            .ratio_to_fastest
            .is_some_and(|r| r.cpu.is_none()));
        // without a CPU figure on either side there is no ratio
        let bare = [vec![sample(1000, 100); 3], vec![with_cpu(1000, 50); 3]];
        let report2 = summarise(&scenario, &specs, &bare);
        assert!(report2.results[0].cpu_us_per_request.is_none());
        assert!(report2.results[0]
            .ratio_to_transport
            .is_some_and(|r| r.cpu.is_none()));
        let table = table(&Report {
            machine: Machine::here(),
            target: "test".into(),
            repetitions: 4,
            client_headers: false,
            scenarios: vec![report, report2],
        });
        let lines: Vec<&str> = table.lines().collect();
        let under = lines
            .iter()
            .position(|l| l.starts_with("CPU time per request"))
            .expect(&table);
        assert!(lines[under + 2].starts_with("Client/hyper"), "{table}");
        assert!(lines[under + 2].contains("1.10x (1.05-1.15)"), "{table}");
        // one block, for the scenario with CPU figures only
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("CPU time")).count(),
            1,
            "{table}"
        );
    }

    /// The table says whether `×transport` compares the same request:
    /// without `--client-headers` the `Client` sends two headers more.
    #[test]
    fn the_table_says_what_each_row_sends() {
        let (client, transport) = hyper_client_and_transport();
        let scenario = sustained_1000_at_10();
        let samples = [vec![sample(1000, 100); 3], vec![sample(1000, 90); 3]];
        let paired = || summarise(&scenario, &[client.clone(), transport.clone()], &samples);
        let notes = |client_headers, scenario| {
            let t = table(&Report {
                machine: Machine::here(),
                target: "test".into(),
                repetitions: 3,
                client_headers,
                scenarios: vec![scenario],
            });
            (t.contains(SAME_REQUEST), t.contains(CLIENT_SENDS_MORE))
        };
        assert_eq!(notes(false, paired()), (false, true));
        assert_eq!(notes(true, paired()), (true, false));
        // no `×transport`, nothing to say about it
        let alone = summarise(&scenario, std::slice::from_ref(&transport), &samples[1..]);
        assert_eq!(notes(false, alone), (false, false));
    }

    #[test]
    fn quartiles_interpolate_between_ranks() {
        assert_eq!(quartiles(vec![5.0, 1.0, 3.0, 2.0, 4.0]), (2.0, 4.0));
        assert_eq!(quartiles(vec![4.0, 3.0, 2.0, 1.0]), (1.75, 3.25));
        assert_eq!(quartiles(vec![0.9]), (0.9, 0.9));
    }
}
