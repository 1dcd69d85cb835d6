//! The harness of the reliability tests: real servers (httpbin under
//! gunicorn, tinyproxy, nginx over HTTP/1.1 and HTTP/2, haproxy, squid)
//! started by the tests on 127.0.0.1 and stopped when dropped, and the checks the fuzz targets run
//! ([`fuzz`]).
//!
//! A server that is not installed fails the test with a message that says
//! what to install (`.ci/run` installs them all); nothing is skipped.

#![forbid(unsafe_code)]

pub mod fuzz;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use httpswap::{Client, SharedTransport, TransportConfig, TransportConfigBuilder};
use tokio::process::{Child, Command};

/// The backends every test runs on.
pub const BACKENDS: [&str; 3] = ["hyper", "reqwest", "isahc"];

/// A transport configuration for the tests: no proxy from the environment.
pub fn config() -> TransportConfigBuilder {
    TransportConfig::builder().proxy_from_env(false)
}

/// Backend `name` with `config`.
///
/// # Panics
///
/// On a bad configuration or an unknown backend (a test bug).
pub fn transport(name: &str, config: TransportConfigBuilder) -> SharedTransport {
    httpswap::transport_by_name(name, config.build().expect("config")).expect("backend")
}

/// A client over backend `name` with the default client layer.
pub fn client(name: &str, config: TransportConfigBuilder) -> Client {
    Client::builder()
        .transport(transport(name, config))
        .build()
        .expect("client")
}

/// A client over backend `name` with retries off, so that every failure
/// of the backend shows.
pub fn client_no_retry(name: &str, config: TransportConfigBuilder) -> Client {
    Client::builder()
        .transport(transport(name, config))
        .max_retries(0)
        .build()
        .expect("client")
}

/// Runs `f`, failing the test if it takes longer than two minutes: a hang
/// is a failure, not a stuck CI job.
///
/// # Panics
///
/// When the limit passes.
pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("finished in time")
}

/// A server process the test started, in a process group of its own, so
/// that its children (nginx's and gunicorn's workers) can be stopped with
/// it. Dropped, it is stopped ([`Server::stop`]) and its directory removed.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// Its process id, which is also its process group's.
    group: i32,
    /// Where it listens.
    pub addr: SocketAddr,
    dir: PathBuf,
    name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let left = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        // a server that outlives its test keeps its port and piles up run
        // after run (issue 25): say so, and fail the test unless it is
        // failing already
        if !left.is_empty() && !std::thread::panicking() {
            panic!("{} left processes running: {left:?}", self.name);
        }
    }
}

/// How long a server gets to stop after `SIGTERM` before its group is
/// killed, and how long after that its processes get to disappear.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Server {
    /// Stops the server and every process in its group: `SIGTERM` (nginx,
    /// gunicorn, squid and haproxy stop their workers on it), a bounded
    /// wait, then `SIGKILL` to the group. Returns the processes still
    /// there after that (none, unless something resists `SIGKILL`).
    /// Called by `drop`; calling it again does nothing more.
    pub fn stop(&mut self) -> Vec<String> {
        let group = rustix::process::Pid::from_raw(self.group).expect("a positive pid");
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        if !self.wait_gone(STOP_GRACE) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
            self.wait_gone(STOP_GRACE);
        }
        group_processes(self.group)
    }

    /// Reaps the server's own process and waits, up to `limit`, until no
    /// process of its group is left. Returns whether none is.
    fn wait_gone(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        loop {
            let _ = self.child.try_wait();
            if group_processes(self.group).is_empty() {
                return true;
            }
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's process group (its own process id).
    pub fn process_group(&self) -> i32 {
        self.group
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        let mut out = String::new();
        for name in ["stdout", "stderr", "error.log"] {
            if let Ok(text) = std::fs::read_to_string(self.dir.join(name)) {
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                let _ = writeln!(out, "--- {} {name}:", self.name);
                for line in tail.into_iter().rev() {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
        out
    }
}

/// A free port to start a server on when none is given, held until the
/// server is up (the caller keeps the hold until then): a port taken from
/// a listener dropped at once is free for anyone until the server binds it.
fn port_or_free(port: Option<u16>) -> (u16, Option<httpswap_test::RefusedPort>) {
    match port {
        Some(p) => (p, None),
        None => {
            let hold = httpswap_test::RefusedPort::for_a_server();
            (hold.addr().port(), Some(hold))
        }
    }
}

/// Finds `program` on the PATH or in the usual system directories.
///
/// # Panics
///
/// When it is not installed, saying how to install it.
pub fn require(program: &str, install: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(
        ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"]
            .iter()
            .map(PathBuf::from),
    );
    for dir in dirs {
        let candidate = dir.join(program);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "`{program}` is not installed; this test needs it: {install} \
         (`bash .ci/run` installs it)"
    );
}

/// The processes of process group `group` that still run, as `pid name`
/// (read from `/proc`; zombies, which hold no socket and wait only for
/// their parent to reap them, are not counted).
///
/// ```
/// // no process has the largest id there is
/// assert!(httpswap_reliability::group_processes(i32::MAX).is_empty());
/// ```
pub fn group_processes(group: i32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ...": comm may hold spaces and ')'
        let Some((head, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, _ppid, pgrp) = (fields.next(), fields.next(), fields.next());
        if state != Some("Z") && pgrp.and_then(|p| p.parse::<i32>().ok()) == Some(group) {
            found.push(head.replacen(" (", " ", 1));
        }
    }
    found
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "httpswap-{name}-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn unique() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}

async fn spawn(
    name: &'static str,
    program: &Path,
    args: &[&str],
    dir: PathBuf,
    port: u16,
) -> Server {
    let file = |n: &str| std::fs::File::create(dir.join(n)).expect("log file");
    let child = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(file("stdout"))
        .stderr(file("stderr"))
        // a group of its own: its workers are stopped with it
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name} ({}): {e}", program.display()));
    let group = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .expect("a started process has an id");
    let server = Server {
        child,
        group,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
        name,
    };
    // up when it accepts connections (bounded: 20 s, gunicorn imports flask)
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(server.addr).await.is_ok() {
            return server;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} did not start listening on {} within 20 s\n{}",
            server.addr,
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// httpbin (PyPI `httpbin`) served by gunicorn with threads, on a free port.
///
/// # Panics
///
/// When gunicorn or httpbin is missing, or the server does not start.
pub async fn httpbin() -> Server {
    let python = require("python3", "apt-get install python3");
    let found = std::process::Command::new(&python)
        .args(["-c", "import httpbin, gunicorn"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "httpbin and gunicorn are not installed for {}; this test needs them: \
         pip install httpbin gunicorn (`bash .ci/run` installs them)",
        python.display()
    );
    let (port, _hold) = port_or_free(None);
    let bind = format!("127.0.0.1:{port}");
    spawn(
        "httpbin",
        &python,
        &[
            "-m",
            "gunicorn",
            "--bind",
            &bind,
            "--worker-class",
            "gthread",
            "--threads",
            "16",
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
            "httpbin:app",
        ],
        temp_dir("httpbin"),
        port,
    )
    .await
}

/// moto's server (PyPI `moto[server]`): S3 and the rest of AWS, in
/// memory, on `port` (a free one when `None`; the same port again brings a
/// stopped server back, empty).
///
/// # Panics
///
/// When moto is missing, or the server does not start.
pub async fn moto(port: Option<u16>) -> Server {
    let python = require("python3", "apt-get install python3");
    let found = std::process::Command::new(&python)
        .args(["-c", "import moto.server, flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "moto's server is not installed for {}; this test needs it: \
         pip install 'moto[server]' (`bash .ci/run` installs it)",
        python.display()
    );
    let (port, _hold) = port_or_free(port);
    spawn(
        "moto",
        &python,
        &[
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ],
        temp_dir("moto"),
        port,
    )
    .await
}

/// tinyproxy on a free port, requiring `user:secret` when `auth`.
///
/// # Panics
///
/// When tinyproxy is missing or does not start.
pub async fn tinyproxy(auth: bool) -> Server {
    let program = require("tinyproxy", "apt-get install tinyproxy");
    let (port, _hold) = port_or_free(None);
    let dir = temp_dir("tinyproxy");
    let mut conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 30\nMaxClients 200\nAllow 127.0.0.1\n\
         DisableViaHeader Yes\nLogLevel Info\n"
    );
    if auth {
        conf.push_str("BasicAuth user secret\n");
    }
    let path = dir.join("tinyproxy.conf");
    std::fs::write(&path, conf).expect("config");
    let path = path.to_string_lossy().into_owned();
    spawn("tinyproxy", &program, &["-d", "-c", &path], dir, port).await
}

/// nginx answering every request with `body`, closing idle keep-alive
/// connections after `keepalive_timeout` and every connection after
/// `keepalive_requests` requests: the upstream of the stale keep-alive race.
///
/// # Panics
///
/// When nginx is missing or does not start.
pub async fn nginx(keepalive_timeout: Duration, keepalive_requests: u32, body: &str) -> Server {
    let (port, _hold) = port_or_free(None);
    let dir = temp_dir("nginx");
    let d = dir.to_string_lossy().into_owned();
    let conf = format!(
        "{}  keepalive_timeout {}ms;\n  keepalive_requests {keepalive_requests};\n  \
         server {{\n    listen 127.0.0.1:{port};\n    \
         location / {{ default_type text/plain; return 200 '{body}'; }}\n  }}\n}}\n",
        nginx_http_preamble(&d),
        keepalive_timeout.as_millis()
    );
    start_nginx(conf, dir, port).await
}

/// The `http { ... }` preamble of a test nginx: no access log, temporary
/// files in `dir`.
fn nginx_http_preamble(d: &str) -> String {
    format!(
        "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 1024; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d};\n  proxy_temp_path {d};\n  \
         fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n"
    )
}

/// Starts nginx with `conf` (written to `dir`) on `port`.
async fn start_nginx(conf: String, dir: PathBuf, port: u16) -> Server {
    let program = require("nginx", "apt-get install nginx-light");
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("config");
    let d = dir.to_string_lossy().into_owned();
    let path = path.to_string_lossy().into_owned();
    let log = format!("{d}/error.log");
    spawn(
        "nginx",
        &program,
        &["-p", &d, "-c", &path, "-e", &log],
        dir,
        port,
    )
    .await
}

/// nginx speaking HTTP/2 only, answering every request with `body`: over
/// TLS with the certificate of `ca` (ALPN h2) when given, else h2c by prior
/// knowledge. On `port` when given (a restart on the same port), else on a
/// free one.
///
/// # Panics
///
/// When nginx is missing or does not start.
pub async fn nginx_http2(
    ca: Option<&httpswap_test::TestCa>,
    port: Option<u16>,
    body: &str,
) -> Server {
    let (port, _hold) = port_or_free(port);
    let dir = temp_dir("nginx-h2");
    let d = dir.to_string_lossy().into_owned();
    let listen = match ca {
        Some(ca) => {
            let (cert, key) = ca.leaf_pem();
            std::fs::write(dir.join("cert.pem"), cert).expect("cert");
            std::fs::write(dir.join("key.pem"), key).expect("key");
            format!(
                "listen 127.0.0.1:{port} ssl http2;\n    ssl_certificate {d}/cert.pem;\n    \
                 ssl_certificate_key {d}/key.pem;"
            )
        }
        None => format!("listen 127.0.0.1:{port} http2;"),
    };
    let conf = format!(
        "{}  keepalive_timeout 60s;\n  server {{\n    {listen}\n    \
         location / {{ default_type text/plain; return 200 '{body}'; }}\n  }}\n}}\n",
        nginx_http_preamble(&d)
    );
    start_nginx(conf, dir, port).await
}

/// haproxy in front of `origin`, closing client connections idle for
/// `keepalive` (`timeout http-keep-alive`): HTTP/1.1, or h2c by prior
/// knowledge with `h2c`.
///
/// # Panics
///
/// When haproxy is missing or does not start.
pub async fn haproxy(origin: SocketAddr, keepalive: Duration, h2c: bool) -> Server {
    let program = require("haproxy", "apt-get install haproxy");
    let (port, _hold) = port_or_free(None);
    let dir = temp_dir("haproxy");
    let proto = if h2c { " proto h2" } else { "" };
    let conf = format!(
        "global\n  maxconn 4096\n\
         defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  \
         timeout server 30s\n  timeout http-keep-alive {}ms\n\
         frontend front\n  bind 127.0.0.1:{port}{proto}\n  default_backend origin\n\
         backend origin\n  server origin {origin}\n",
        keepalive.as_millis()
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, conf).expect("config");
    let path = path.to_string_lossy().into_owned();
    spawn("haproxy", &program, &["-db", "-f", &path], dir, port).await
}

/// squid as a forward proxy that closes client connections idle for
/// `idle_secs` seconds (`client_idle_pconn_timeout`; squid counts it in
/// whole seconds), caching nothing.
///
/// # Panics
///
/// When squid is missing or does not start.
pub async fn squid(idle_secs: u32) -> Server {
    let program = require("squid", "apt-get install squid");
    let (port, _hold) = port_or_free(None);
    let dir = temp_dir("squid");
    // squid drops root for its own user, which must write its log here
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let d = dir.to_string_lossy().into_owned();
    let conf = format!(
        "http_port 127.0.0.1:{port}\npid_filename {d}/squid.pid\ncache deny all\n\
         cache_mem 8 MB\naccess_log none\ncache_log {d}/error.log\ncache_store_log none\n\
         coredump_dir {d}\nhttp_access allow all\nclient_idle_pconn_timeout {idle_secs} seconds\n\
         shutdown_lifetime 0 seconds\npinger_enable off\nvisible_hostname localhost\n"
    );
    let path = dir.join("squid.conf");
    std::fs::write(&path, conf).expect("config");
    let path = path.to_string_lossy().into_owned();
    spawn("squid", &program, &["-N", "-f", &path], dir, port).await
}
