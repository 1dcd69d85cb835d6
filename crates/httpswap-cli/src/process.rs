//! The processes of `httpswap bench`: the embedded server runs in one of
//! its own, and each run of a client (its warm-up, then the measured run)
//! in a new one, driven by the parent over its standard input and output
//! (one JSON line a run). So a run's peak RSS is that client's alone (not
//! the server's, not an earlier client's, not raised by what the
//! allocator kept from the client's earlier runs), and a client is not
//! slowed by the server sharing its runtime or allocator.
//!
//! Both are the `httpswap` binary itself, run with a hidden subcommand
//! (`__serve`, `__worker`); each ends when its standard input closes (the
//! parent ended) and is killed when the parent drops its handle. A
//! worker can be run under a profiler ([`WRAPPER_VAR`]).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::run::{Sample, Scenario};
use crate::subject::{Layer, Layers, Proto, Spec, Subject};

/// The environment variable naming a program to run each client's
/// process under, with its arguments (split at white space), before the
/// worker's own command line: a profiler, so that a client's instruction
/// counts are its own and not the server's. For example
/// `valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p` (one file
/// per process; `scripts/callgrind-layers` reads them). Empty: none.
pub const WRAPPER_VAR: &str = "HTTPSWAP_BENCH_WORKER_WRAPPER";

/// A child process and its pipes.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    what: String,
    /// Run under [`WRAPPER_VAR`]'s program, which may need a moment
    /// after the worker ends (a profiler writing its output).
    wrapped: bool,
}

impl Proc {
    fn spawn(exe: &Path, args: &[&str], what: String) -> Result<Proc, String> {
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start the {what} ({}): {e}", exe.display()))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Proc {
            child,
            stdin,
            stdout,
            what,
            wrapped: false,
        })
    }

    /// The next line the process writes.
    fn line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => Err(format!("the {} ended unexpectedly", self.what)),
            Ok(_) => Ok(line),
            Err(e) => Err(format!("cannot read from the {}: {e}", self.what)),
        }
    }

    fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().expect("open until drop");
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("cannot write to the {}: {e}", self.what))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // closing its input ends it; killing covers one that hangs (a
        // wrapped one gets up to a minute to end by itself first)
        drop(self.stdin.take());
        if self.wrapped {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The listeners of the embedded server's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// HTTP/1.1 with keep-alive.
    Plain,
    /// HTTP/1.1 closing connections without notice (`start_flaky`).
    Flaky,
    /// HTTP/2 with prior knowledge.
    H2c,
    /// HTTPS (HTTP/1.1), its certificate signed by the run's CA.
    Tls,
}

impl Listener {
    /// The listener a scenario runs against.
    pub fn of(scenario: crate::cli::ScenarioName) -> Listener {
        use crate::cli::ScenarioName as S;
        match scenario {
            S::Flaky => Listener::Flaky,
            S::Http2 | S::Http2Cold => Listener::H2c,
            S::Https => Listener::Tls,
            _ => Listener::Plain,
        }
    }
}

/// The embedded server in a process of its own.
pub struct ServerProcess {
    proc: std::cell::RefCell<Proc>,
    /// The URL of each [`Listener`].
    urls: [String; 4],
    /// The PEM file of the CA that signed the TLS listener's certificate.
    ca_file: std::path::PathBuf,
}

impl ServerProcess {
    /// Starts `exe __serve --body-size N` and waits for its URL.
    ///
    /// # Errors
    ///
    /// The process cannot start or says nothing.
    pub fn start(exe: &Path, body_size: u64) -> Result<ServerProcess, String> {
        let size = body_size.to_string();
        let mut proc = Proc::spawn(
            exe,
            &["__serve", "--body-size", &size],
            "benchmark server".into(),
        )?;
        let line = proc.line()?;
        let words: Vec<&str> = line.split_whitespace().collect();
        let [url, flaky, h2c, tls, ca] = words[..] else {
            return Err(format!("the benchmark server said {line:?}"));
        };
        Ok(ServerProcess {
            proc: std::cell::RefCell::new(proc),
            urls: [url, flaky, h2c, tls].map(str::to_owned),
            ca_file: ca.into(),
        })
    }

    /// `http://127.0.0.1:PORT/` of a listener.
    pub fn url(&self, listener: Listener) -> &str {
        &self.urls[listener as usize]
    }

    /// Connections a listener accepted so far (asked over the process's
    /// standard input, so the question takes no connection).
    ///
    /// # Errors
    ///
    /// The server process does not answer.
    pub fn accepted(&self, listener: Listener) -> Result<u64, String> {
        let mut proc = self.proc.borrow_mut();
        proc.send("accepted")?;
        let line = proc.line()?;
        line.split_whitespace()
            .nth(listener as usize)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("the benchmark server answered {line:?}"))
    }

    /// The PEM file of the CA the TLS listener's certificate is signed by.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The pid of the server's process.
    pub fn id(&self) -> u32 {
        self.proc.borrow().child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        // the process is killed when its handle drops, maybe before it
        // removed the CA file itself
        let _ = std::fs::remove_file(&self.ca_file);
    }
}

/// What the parent asks a worker to run.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// The scenario (a warm-up is a scenario with fewer requests).
    pub scenario: Scenario,
    /// The server's base URL.
    pub base: String,
    /// A run stops early after this many failures.
    pub max_errors: u64,
    /// The `Client` layer's retries (off for the flaky scenario).
    pub client_retries: bool,
    /// How the clients reach the server.
    pub proto: JobProto,
    /// A client made for this run alone (a cold start).
    pub new_client: bool,
    /// The transport and library rows send the `Client`'s default headers
    /// too (`--client-headers`).
    #[serde(default)]
    pub client_headers: bool,
}

/// How a job's clients reach the server (see [`Proto`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JobProto {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 by prior knowledge.
    H2c,
    /// HTTPS, trusting the worker's `--ca-file`.
    Https,
}

/// One client in a process of its own, for one run and its warm-up.
pub struct Worker {
    proc: Proc,
    /// Its resident memory before its first request, KiB.
    pub baseline_rss_kib: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Ready {
    ok: bool,
    error: Option<String>,
    rss_kib: Option<u64>,
}

impl Worker {
    /// Starts `exe __worker --backend B --layer L` and waits until its
    /// client is built.
    ///
    /// # Errors
    ///
    /// The process cannot start, or its client cannot be built.
    pub fn start(exe: &Path, spec: &Spec, ca_file: Option<&Path>) -> Result<Worker, String> {
        let layer = match spec.layer {
            Layer::Client => "client",
            Layer::Transport => "transport",
            Layer::Direct => "direct",
        };
        let mut args = vec!["__worker", "--backend", spec.backend, "--layer", layer];
        let ca = ca_file.map(|p| p.to_string_lossy().into_owned());
        if let Some(ca) = &ca {
            args.extend(["--ca-file", ca.as_str()]);
        }
        let mut proc = match std::env::var(WRAPPER_VAR) {
            Ok(wrapper) if !wrapper.trim().is_empty() => {
                let mut words: Vec<&str> = wrapper.split_whitespace().collect();
                let program = words.remove(0);
                let exe = exe.to_string_lossy();
                words.push(&exe);
                words.extend(&args);
                let mut proc = Proc::spawn(
                    Path::new(program),
                    &words,
                    format!("worker of {}", spec.name),
                )?;
                proc.wrapped = true;
                proc
            }
            _ => Proc::spawn(exe, &args, format!("worker of {}", spec.name))?,
        };
        let ready: Ready = serde_json::from_str(&proc.line()?)
            .map_err(|e| format!("{} said something else than ready: {e}", proc.what))?;
        if !ready.ok {
            return Err(ready.error.unwrap_or_else(|| "worker failed".into()));
        }
        Ok(Worker {
            proc,
            baseline_rss_kib: ready.rss_kib,
        })
    }

    /// Runs one job and returns what it measured.
    ///
    /// # Errors
    ///
    /// The worker died or answered nonsense.
    pub fn run(&mut self, job: &Job) -> Result<Sample, String> {
        let line = serde_json::to_string(job).map_err(|e| e.to_string())?;
        self.proc.send(&line)?;
        let answer = self.proc.line()?;
        serde_json::from_str(&answer)
            .map_err(|e| format!("{} answered {answer:?}: {e}", self.proc.what))
    }
}

/// `__serve`: the embedded server's listeners (plain, flaky, h2c) until
/// standard input closes; their URLs are the first line written, and each
/// `accepted` line read is answered with their counts of accepted
/// connections.
pub fn serve_main(body_size: u64) -> std::process::ExitCode {
    let server = crate::server::LocalServer::start(body_size as usize);
    let flaky = crate::server::LocalServer::start_flaky(body_size as usize);
    let h2c = crate::server::LocalServer::start_h2c(body_size as usize);
    let made = crate::tls::RunCa::new().and_then(|ca| {
        let file =
            std::env::temp_dir().join(format!("httpswap-bench-{}-ca.pem", std::process::id()));
        std::fs::write(&file, &ca.ca_pem)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        Ok((file, ca.server_config()?))
    });
    let (ca_file, tls_config) = match made {
        Ok(made) => made,
        Err(e) => {
            eprintln!("httpswap __serve: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tls = crate::server::LocalServer::start_tls(body_size as usize, tls_config);
    println!(
        "{} {} {} {} {}",
        server.url(),
        flaky.url(),
        h2c.url(),
        tls.url(),
        ca_file.display()
    );
    let _ = std::io::stdout().flush();
    // until the parent closes our input (or ends); `accepted` asks for
    // each listener's count of accepted connections
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "accepted" {
            println!(
                "{} {} {} {}",
                server.accepted(),
                flaky.accepted(),
                h2c.accepted(),
                tls.accepted()
            );
            let _ = std::io::stdout().flush();
        }
    }
    drop((server, flaky, h2c, tls));
    let _ = std::fs::remove_file(&ca_file);
    std::process::ExitCode::SUCCESS
}

/// `__worker`: one client (`backend`, `layer`); a JSON `Job` a line in,
/// a JSON `Sample` a line out, until standard input closes.
pub fn worker_main(
    backend: &str,
    layer: Layer,
    ca_file: Option<std::path::PathBuf>,
) -> std::process::ExitCode {
    let ready = |ok: bool, error: Option<String>| {
        let r = Ready {
            ok,
            error,
            rss_kib: crate::run::rss_kib(),
        };
        println!("{}", serde_json::to_string(&r).expect("plain struct"));
        let _ = std::io::stdout().flush();
    };
    let layers = Layers {
        client: layer == Layer::Client,
        transport: layer == Layer::Transport,
        direct: layer == Layer::Direct,
    };
    let rt = match crate::client_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            ready(false, Some(e));
            return std::process::ExitCode::FAILURE;
        }
    };
    let build = |proto: &Proto| {
        let _on = rt.enter();
        crate::subject::subjects_over(Some(&[backend.to_owned()]), layers, proto).and_then(
            |mut v| {
                v.pop()
                    .ok_or_else(|| format!("backend {backend:?} is not enabled"))
            },
        )
    };
    let built = build(&Proto::Http1);
    let subject = match built {
        Ok(s) => s,
        Err(e) => {
            ready(false, Some(e));
            return std::process::ExitCode::FAILURE;
        }
    };
    let without_retries = match subject.without_client_retries() {
        Ok(s) => s,
        Err(e) => {
            ready(false, Some(e));
            return std::process::ExitCode::FAILURE;
        }
    };
    ready(true, None);
    // the h2c and https clients, made when a job first needs them
    let mut other: Option<(JobProto, Subject)> = None;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let job: Job = match serde_json::from_str(&line) {
            Ok(job) => job,
            Err(e) => {
                eprintln!("httpswap __worker: bad job {line:?}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // a cold start gets a client of its own, dropped with the next one
        let wanted = match job.proto {
            JobProto::Http1 => None,
            JobProto::H2c => Some(Proto::H2c),
            JobProto::Https => match &ca_file {
                Some(ca) => Some(Proto::Https(ca.clone())),
                None => {
                    eprintln!("httpswap __worker: an https job needs --ca-file");
                    return std::process::ExitCode::FAILURE;
                }
            },
        };
        if let Some(proto) = &wanted {
            if job.new_client || other.as_ref().is_none_or(|(p, _)| *p != job.proto) {
                match build(proto) {
                    Ok(s) => other = Some((job.proto, s)),
                    Err(e) => {
                        eprintln!("httpswap __worker: {e}");
                        return std::process::ExitCode::FAILURE;
                    }
                }
            }
        }
        let subject = if let (Some(_), Some((_, s))) = (&wanted, &other) {
            s
        } else if job.client_retries {
            &subject
        } else {
            &without_retries
        };
        let subject = subject.sending_client_headers(job.client_headers);
        let sample = rt.block_on(crate::run::run_once(
            &subject,
            &job.scenario,
            &job.base,
            job.max_errors,
            None,
        ));
        println!("{}", serde_json::to_string(&sample).expect("plain struct"));
        let _ = std::io::stdout().flush();
    }
    std::process::ExitCode::SUCCESS
}
