//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// httpswap: one HTTP transport trait, interchangeable backends.
#[derive(Debug, Parser)]
#[command(name = "httpswap", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compare the enabled backends side by side: for each, the `Client`
    /// users call, the transport through the trait and its library used
    /// directly, interleaved, in one run.
    Bench(BenchArgs),
    /// Internal to `bench`: the embedded server in a process of its own.
    #[command(name = "__serve", hide = true)]
    Serve {
        /// Size of `GET /`'s body.
        #[arg(long)]
        body_size: u64,
    },
    /// Internal to `bench`: one client in a process of its own.
    #[command(name = "__worker", hide = true)]
    Worker {
        /// Its backend.
        #[arg(long)]
        backend: String,
        /// Its layer.
        #[arg(long, value_enum)]
        layer: crate::subject::Layer,
        /// The CA the https scenario's server certificate is signed by.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
    },
}

/// A scenario of `httpswap bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScenarioName {
    /// `--requests` GETs by `--concurrency` workers.
    Sustained,
    /// `--burst` GETs started at once.
    Burst,
    /// `--downloads` GETs of `--download-size` bytes each, 4 at a time.
    Download,
    /// `--uploads` POSTs of `--upload-size` bytes each, 4 at a time.
    Upload,
    /// GETs at concurrency 1, 10, 100 and 1000 (`--sweep-requests` each,
    /// at least twice the concurrency): how throughput and p99 move with
    /// load.
    Sweep,
    /// `--flaky-requests` GETs, 10 at a time, from a server that closes
    /// each keep-alive connection without notice after 1-5 responses and
    /// 0-10 ms idle, with the `Client`'s retries off: the success rate of
    /// each client (failures here do not fail the command).
    Flaky,
    /// `--requests` GETs by `--concurrency` workers over HTTP/2 with prior
    /// knowledge (h2c): every client multiplexes on its connections.
    Http2,
    /// 100 GETs at once from a client with no connection yet to an h2c
    /// origin (a new client every run): how many connections it opens, and
    /// how fast it gets going.
    Http2Cold,
    /// `--burst` GETs at once over HTTPS (rustls; curl's TLS for isahc):
    /// every connection the burst opens is a TLS handshake.
    Https,
}

/// Which httpswap layers `httpswap bench` runs for each backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerArg {
    /// `httpswap::Client` over each backend (what users call).
    Client,
    /// Each backend's transport through the trait.
    Transport,
    /// Both, side by side.
    Both,
}

/// Arguments of `httpswap bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Server to benchmark (GET for sustained and burst). Without it, an
    /// embedded local server is started and all scenarios run.
    pub url: Option<String>,

    /// Backends to run (default: every enabled one).
    #[arg(long, value_delimiter = ',')]
    pub backends: Option<Vec<String>>,

    /// Skip the direct-use reference of each library.
    #[arg(long)]
    pub no_direct: bool,

    /// Every transport and library row also sends the headers the `Client`
    /// adds by default (`User-Agent: httpswap/<version>`, its
    /// `Accept-Encoding`), so that every row puts the same request on the
    /// wire and `×transport` is the `Client` layer's own cost. Without it
    /// each row sends what its layer sends by default.
    #[arg(long)]
    pub client_headers: bool,

    /// The httpswap layer to measure for each backend: the `Client` users
    /// call, the transport through the trait, or both.
    #[arg(long, value_enum, default_value_t = LayerArg::Both)]
    pub layer: LayerArg,

    /// Scenarios to run (default: all with the embedded server; sustained
    /// and burst with a URL).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub scenarios: Option<Vec<ScenarioName>>,

    /// Requests of the sustained scenario.
    #[arg(short = 'n', long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub requests: u64,

    /// Workers of the sustained scenario.
    #[arg(short = 'c', long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub concurrency: u64,

    /// Requests started at once in the burst scenario.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub burst: u64,

    /// Requests at each concurrency of the sweep scenario.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub sweep_requests: u64,

    /// Requests of the flaky scenario.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub flaky_requests: u64,

    /// Response body size of the embedded server, in bytes (suffixes
    /// KiB, MiB accepted).
    #[arg(long, default_value = "256", value_parser = parse_size)]
    pub body_size: u64,

    /// Size of each download.
    #[arg(long, default_value = "16MiB", value_parser = parse_size)]
    pub download_size: u64,

    /// Downloads per run.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub downloads: u64,

    /// Size of each upload.
    #[arg(long, default_value = "16MiB", value_parser = parse_size)]
    pub upload_size: u64,

    /// Uploads per run.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub uploads: u64,

    /// Runs of every (scenario, client) pair; medians are reported, and
    /// with 3 or more the middle half of each paired ratio's rounds.
    #[arg(short = 'r', long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub repetitions: u64,

    /// A run stops early after this many failed requests.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_errors: u64,

    /// Print the results as JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also write an SVG bar chart of throughput and p99 latency here.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<std::path::PathBuf>,

    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// Parses `123`, `64KiB`, `16MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
///
/// # Errors
///
/// A message saying what is accepted.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number with an optional unit (KiB, MiB, GiB, KB, MB, GB)"))?;
    let mul: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "invalid size unit {other:?} in {s:?}: use KiB, MiB, GiB, KB, MB or GB"
            ))
        }
    };
    n.checked_mul(mul)
        .filter(|&v| v <= 1 << 32)
        .ok_or_else(|| format!("size {s:?} is too large (at most 4 GiB)"))
}
