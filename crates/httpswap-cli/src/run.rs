//! Running the scenarios: interleaved (every client once per round, in
//! turn), so that drift of a shared machine hits every client alike.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http::Method;

use crate::cli::ScenarioName;
use crate::subject::{Caller, Subject, WithCaller};

/// Concurrency of the download and upload scenarios.
pub const TRANSFER_CONCURRENCY: u64 = 4;

/// One scenario with its parameters.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Scenario {
    /// Which one.
    pub name: ScenarioName,
    /// Requests per run.
    pub requests: u64,
    /// Requests in flight at once.
    pub concurrency: u64,
    /// Bytes per response (download) or request (upload), if fixed.
    pub bytes_per_request: Option<u64>,
}

impl Scenario {
    fn method_url_body(&self, base: &str) -> (Method, String, Bytes) {
        match self.name {
            ScenarioName::Sustained
            | ScenarioName::Burst
            | ScenarioName::Sweep
            | ScenarioName::Flaky
            | ScenarioName::Http2
            | ScenarioName::Http2Cold
            | ScenarioName::Https => (Method::GET, base.to_owned(), Bytes::new()),
            ScenarioName::Download => (
                Method::GET,
                format!(
                    "{}download?size={}",
                    base,
                    self.bytes_per_request.unwrap_or(0)
                ),
                Bytes::new(),
            ),
            ScenarioName::Upload => (
                Method::POST,
                format!("{base}upload"),
                Bytes::from(vec![b'u'; self.bytes_per_request.unwrap_or(0) as usize]),
            ),
        }
    }
}

/// What one run of one client measured (sent by a worker process to the
/// parent as one JSON line).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sample {
    /// Requests that succeeded.
    pub ok: u64,
    /// Failed requests, by error kind.
    pub errors: BTreeMap<String, u64>,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of successful requests, in microseconds.
    pub latency: Percentiles,
    /// Body bytes moved (downloaded or uploaded).
    pub bytes: u64,
    /// Connections the server accepted during the run.
    pub connections: Option<u64>,
    /// Peak resident memory of the client's process during the run, KiB.
    pub peak_rss_kib: Option<u64>,
    /// Resident memory of the client's process after the run minus
    /// before it, KiB: what the run left behind (pools, caches).
    pub rss_growth_kib: Option<i64>,
    /// CPU time (user and system, every thread) the client's process
    /// spent during the run: what its requests cost it, whatever else the
    /// machine was doing meanwhile.
    pub cpu: Option<Duration>,
}

/// Latency percentiles of one run, in microseconds.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Percentiles {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        }
    }
}

/// Runs `scenario` once with `subject`. A run stops early after
/// `max_errors` failures. `accepted` reads the embedded server's count of
/// accepted connections.
pub async fn run_once(
    subject: &Subject,
    scenario: &Scenario,
    base: &str,
    max_errors: u64,
    accepted: Option<&(dyn Fn() -> u64 + Sync)>,
) -> Sample {
    let (method, url, body) = scenario.method_url_body(base);
    let run = Arc::new(Shared {
        method,
        url,
        body,
        total: scenario.requests,
        max_errors,
        next: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        errors: Mutex::new(BTreeMap::new()),
    });
    let before = accepted.map(|a| a());
    let rss_before = rss_kib();
    reset_peak_rss();
    let cpu_before = process_cpu();
    let started = Instant::now();
    let workers = subject.with_caller(Workers {
        run: run.clone(),
        count: scenario.concurrency.min(scenario.requests),
    });
    let mut latency = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("histogram");
    let (mut ok, mut bytes) = (0, 0);
    for w in workers {
        if let Ok((h, n, b)) = w.await {
            for micros in h {
                latency.saturating_record(micros);
            }
            ok += n;
            bytes += b;
        }
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let errors = run.errors.lock().expect("errors").clone();
    Sample {
        ok,
        errors,
        elapsed,
        latency: Percentiles::of(&latency),
        bytes,
        connections: before.zip(accepted).map(|(b, a)| a() - b),
        peak_rss_kib: peak_rss_kib(),
        rss_growth_kib: rss_kib()
            .zip(rss_before)
            .map(|(after, before)| after as i64 - before as i64),
        cpu,
    }
}

/// What the workers of a run share.
struct Shared {
    method: Method,
    url: String,
    body: Bytes,
    /// Requests in the run.
    total: u64,
    max_errors: u64,
    /// Requests taken so far.
    next: AtomicU64,
    failed: AtomicU64,
    stop: AtomicBool,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Starts a run's workers with the subject's own caller, so that each
/// task holds that client's call future and no other kind's
/// ([`Subject::with_caller`]): a burst's peak RSS is then the client's, not
/// the harness's.
struct Workers {
    run: Arc<Shared>,
    count: u64,
}

impl WithCaller for Workers {
    type Output = Vec<tokio::task::JoinHandle<(Vec<u64>, u64, u64)>>;

    fn with<C: Caller>(self, caller: C) -> Self::Output {
        let caller = Arc::new(caller);
        (0..self.count)
            .map(|_| tokio::spawn(work(caller.clone(), self.run.clone())))
            .collect()
    }
}

/// One worker: requests until the run has sent them all or failed too
/// often; returns its latencies (µs), successes and bytes.
async fn work<C: Caller>(caller: Arc<C>, run: Arc<Shared>) -> (Vec<u64>, u64, u64) {
    // latencies in a plain list, merged into one histogram at the end: a
    // histogram per worker (190 KiB at this range and precision) would make
    // a burst of 1000 weigh 190 MiB of the tool's own, reported as the
    // client's
    let mut hist = Vec::new();
    let (mut ok, mut bytes) = (0u64, 0u64);
    while !run.stop.load(Ordering::Relaxed) && run.next.fetch_add(1, Ordering::Relaxed) < run.total
    {
        let t = Instant::now();
        match caller.call(&run.method, &run.url, run.body.clone()).await {
            Ok(n) => {
                hist.push(t.elapsed().as_micros() as u64);
                ok += 1;
                bytes += if run.method == Method::POST {
                    run.body.len() as u64
                } else {
                    n as u64
                };
            }
            Err(kind) => {
                *run.errors.lock().expect("errors").entry(kind).or_default() += 1;
                if run.failed.fetch_add(1, Ordering::Relaxed) + 1 >= run.max_errors {
                    run.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    (hist, ok, bytes)
}

/// The CPU time this process has used so far, every thread counted
/// (`CLOCK_PROCESS_CPUTIME_ID`, to the nanosecond); `None` where the
/// system has no such clock.
fn process_cpu() -> Option<Duration> {
    cpu_time::ProcessTime::try_now()
        .ok()
        .map(|t| t.as_duration())
}

/// Resets the kernel's peak-RSS mark of this process (Linux), so each run
/// reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// `VmHWM` of this process, in KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// `VmRSS` of this process, in KiB (Linux).
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
