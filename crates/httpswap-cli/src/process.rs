//! The processes of `httpswap bench`: the embedded server runs in one of
//! its own, and each client in one of its own, driven by the parent over
//! its standard input and output (one JSON line a run). So a client's
//! peak RSS is its own (not the server's, not an earlier client's), and a
//! client is not slowed by the server sharing its runtime or allocator.
//!
//! Both are the `httpswap` binary itself, run with a hidden subcommand
//! (`__serve`, `__worker`); each ends when its standard input closes (the
//! parent ended) and is killed when the parent drops its handle.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use crate::run::{Sample, Scenario};
use crate::subject::{Layer, Layers, Spec};

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

/// The embedded server in a process of its own.
pub struct ServerProcess {
    proc: Proc,
    /// The server's URL, and the flaky one's.
    urls: [String; 2],
    /// Connections [`accepted`](Self::accepted) made so far, to each.
    asked: [std::cell::Cell<u64>; 2],
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
        let (Some(url), Some(flaky)) = (urls.next(), urls.next()) else {
            return Err(format!("the benchmark server said {line:?}"));
        };
        Ok(ServerProcess {
            proc,
            urls: [url, flaky],
            asked: Default::default(),
        })
    }

    /// `http://127.0.0.1:PORT/`; the flaky server's (see
    /// [`LocalServer::start_flaky`](crate::server::LocalServer::start_flaky))
    /// when `flaky`.
    pub fn url(&self, flaky: bool) -> &str {
        &self.urls[usize::from(flaky)]
    }

    /// Connections the server (or the flaky one) accepted so far, not
    /// counting the ones these questions took.
    ///
    /// # Errors
    ///
    /// The server does not answer.
    pub fn accepted(&self, flaky: bool) -> Result<u64, String> {
        let which = usize::from(flaky);
        let addr = self.urls[which]
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let ask = || -> std::io::Result<String> {
            let mut tcp = std::net::TcpStream::connect(&addr)?;
            tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
            tcp.write_all(b"GET /__accepted HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")?;
            let mut answer = String::new();
            tcp.read_to_string(&mut answer)?;
            Ok(answer)
        };
        let answer = ask().map_err(|e| format!("cannot ask the benchmark server: {e}"))?;
        let count = answer
            .rsplit("\r\n\r\n")
            .next()
            .and_then(|b| b.trim().parse::<u64>().ok())
            .ok_or_else(|| format!("the benchmark server answered {answer:?}"))?;
        // this question's connection and every earlier one's were counted
        let asked = &self.asked[which];
        asked.set(asked.get() + 1);
        Ok(count.saturating_sub(asked.get()))
    }

    /// The pid of the server's process.
    pub fn id(&self) -> u32 {
        self.proc.child.id()
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

/// `__serve`: the embedded server and its flaky twin until standard input
/// closes; their URLs are the first line written.
pub fn serve_main(body_size: u64) -> std::process::ExitCode {
    let server = crate::server::LocalServer::start(body_size as usize);
    let flaky = crate::server::LocalServer::start_flaky(body_size as usize);
    println!("{} {}", server.url(), flaky.url());
    let _ = std::io::stdout().flush();
    // until the parent closes our input (or ends)
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    drop((server, flaky));
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
    let built = {
        let _on = rt.enter();
        crate::subject::subjects(Some(&[backend.to_owned()]), layers)
    };
    let subject = match built.map(|mut v| v.pop()) {
        Ok(Some(s)) => s,
        Ok(None) => {
            ready(false, Some(format!("backend {backend:?} is not enabled")));
            return std::process::ExitCode::FAILURE;
        }
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
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let job: Job = match serde_json::from_str(&line) {
            Ok(job) => job,
            Err(e) => {
                eprintln!("httpswap __worker: bad job {line:?}: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        let subject = if job.client_retries {
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
