//! The processes of `httpswap bench`: the embedded server runs in one of
//! its own, and each client in one of its own, driven by the parent over
//! its standard input and output (one JSON line a run). So a client's
//! peak RSS is its own (not the server's, not an earlier client's), and a
//! client is not slowed by the server sharing its runtime or allocator.
//!
//! Both are the `httpswap` binary itself, run with a hidden subcommand
//! (`__serve`, `__worker`); each ends when its standard input closes (the
//! parent ended) and is killed when the parent drops its handle.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::run::{Sample, Scenario};
use crate::subject::{Layer, Layers, Spec, Subject};

/// A child process and its pipes.
struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    what: String,
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
        // closing its input ends it; killing covers one that hangs
        drop(self.stdin.take());
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
}

impl Listener {
    /// The listener a scenario runs against.
    pub fn of(scenario: crate::cli::ScenarioName) -> Listener {
        use crate::cli::ScenarioName as S;
        match scenario {
            S::Flaky => Listener::Flaky,
            S::Http2 | S::Http2Cold => Listener::H2c,
            _ => Listener::Plain,
        }
    }
}

/// The embedded server in a process of its own.
pub struct ServerProcess {
    proc: std::cell::RefCell<Proc>,
    /// The URL of each [`Listener`].
    urls: [String; 3],
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
        let mut urls = line.split_whitespace().map(str::to_owned);
        let (Some(url), Some(flaky), Some(h2c)) = (urls.next(), urls.next(), urls.next()) else {
            return Err(format!("the benchmark server said {line:?}"));
        };
        Ok(ServerProcess {
            proc: std::cell::RefCell::new(proc),
            urls: [url, flaky, h2c],
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

    /// The pid of the server's process.
    pub fn id(&self) -> u32 {
        self.proc.borrow().child.id()
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
    /// The clients speak HTTP/2 by prior knowledge.
    pub h2c: bool,
    /// A client made for this run alone (a cold start).
    pub new_client: bool,
}

/// One client in a process of its own.
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
    pub fn start(exe: &Path, spec: &Spec) -> Result<Worker, String> {
        let layer = match spec.layer {
            Layer::Client => "client",
            Layer::Transport => "transport",
            Layer::Direct => "direct",
        };
        let mut proc = Proc::spawn(
            exe,
            &["__worker", "--backend", spec.backend, "--layer", layer],
            format!("worker of {}", spec.name),
        )?;
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
    println!("{} {} {}", server.url(), flaky.url(), h2c.url());
    let _ = std::io::stdout().flush();
    // until the parent closes our input (or ends); `accepted` asks for
    // each listener's count of accepted connections
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim() == "accepted" {
            println!(
                "{} {} {}",
                server.accepted(),
                flaky.accepted(),
                h2c.accepted()
            );
            let _ = std::io::stdout().flush();
        }
    }
    drop((server, flaky, h2c));
    std::process::ExitCode::SUCCESS
}

/// `__worker`: one client (`backend`, `layer`); a JSON `Job` a line in,
/// a JSON `Sample` a line out, until standard input closes.
pub fn worker_main(backend: &str, layer: Layer) -> std::process::ExitCode {
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
    let build = |h2c: bool| {
        let _on = rt.enter();
        crate::subject::subjects_over(Some(&[backend.to_owned()]), layers, h2c).and_then(|mut v| {
            v.pop()
                .ok_or_else(|| format!("backend {backend:?} is not enabled"))
        })
    };
    let built = build(false);
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
    let mut h2c_subject: Option<Subject> = None;
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
        if job.h2c && (job.new_client || h2c_subject.is_none()) {
            match build(true) {
                Ok(s) => h2c_subject = Some(s),
                Err(e) => {
                    eprintln!("httpswap __worker: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            }
        }
        let subject = if let (true, Some(h2c)) = (job.h2c, &h2c_subject) {
            h2c
        } else if job.client_retries {
            &subject
        } else {
            &without_retries
        };
        let sample = rt.block_on(crate::run::run_once(
            subject,
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
