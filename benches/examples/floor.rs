//! How fast could the hyper backend be? Runs the sustained scenario (100
//! workers, `FLOOR_REQUESTS` (20 000) requests per round, `FLOOR_ROUNDS` (20)
//! rounds, the order turning every round) for four clients on the same
//! local server: hyper-util's legacy client, the `Client` over the hyper
//! backend, the hyper backend through the trait, and a bare client over the same `hyper::client::conn` (a mutex
//! over a stack of idle connections, each driven by its own task; no
//! limits, no timeouts, no retry, nothing the backend must have). The
//! bare client is the floor the backend's own costs are measured from.
//! Prints the median of the per-round ratios to the library used directly.
//!
//! `cargo run --release -p httpswap-benches --example floor`
//!
//! `FLOOR_BACKEND=reqwest` (or `isahc`) compares that backend's `Client`,
//! transport and library instead (no bare client then). With reqwest, one
//! more client: reqwest used directly with the timeouts the transport
//! keeps (`with timeouts: reqwest`: connect 5 s, read 600 s), which shows
//! what the read timeout costs reqwest itself.
//!
//! `FLOOR_CLIENT_HEADERS=1` has the transports and the libraries used
//! directly send the `Client`'s default headers too (`User-Agent`,
//! `Accept-Encoding`), as `httpswap bench --client-headers` does: the
//! same request on the wire from every client.
//!
//! `FLOOR_ONLY=<name prefix>` runs one client alone (`hyper-util`,
//! `httpswap-hyper`, `Client over hyper` or `bare`), for counting its work with a deterministic
//! tool rather than timing it, e.g. instructions per request:
//! `FLOOR_ONLY=bare FLOOR_ROUNDS=1 valgrind --tool=callgrind
//! target/release/examples/floor` (the count includes the server's share,
//! the same for every client, and the 2000 warm-up requests).

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Body as _;
use http_body_util::Empty;
use httpswap_benches::{client_runtime, subjects, Layers, LocalServer, Subject};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// The bare client: idle connections on a stack, nothing else.
#[derive(Clone, Default)]
struct Bare {
    idle: Arc<Mutex<Vec<http1::SendRequest<Empty<Bytes>>>>>,
}

impl Bare {
    async fn get(&self, url: &str) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
        let uri: http::Uri = url.parse()?;
        let authority = uri.authority().ok_or("no authority")?.clone();
        let popped = self.idle.lock().map_err(|_| "poisoned")?.pop();
        let mut sender = match popped {
            Some(s) => s,
            None => {
                let tcp = tokio::net::TcpStream::connect(authority.as_str()).await?;
                tcp.set_nodelay(true)?;
                let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await?;
                tokio::spawn(conn);
                sender
            }
        };
        let request = http::Request::get(uri.path())
            .header(http::header::HOST, authority.as_str())
            .body(Empty::new())?;
        let mut body = sender.send_request(request).await?.into_body();
        let mut n = 0;
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            if let Ok(data) = frame?.into_data() {
                n += data.len();
            }
        }
        if std::future::poll_fn(|cx| sender.poll_ready(cx))
            .await
            .is_ok()
        {
            self.idle.lock().map_err(|_| "poisoned")?.push(sender);
        }
        Ok(n)
    }
}

#[derive(Clone)]
enum Client {
    Subject(Subject),
    Bare(Bare),
    Reqwest(reqwest::Client),
}

impl Client {
    async fn get(&self, url: &str) {
        match self {
            Client::Subject(s) => {
                s.call(&http::Method::GET, url, Bytes::new())
                    .await
                    .expect("request");
            }
            Client::Bare(b) => {
                b.get(url).await.expect("request");
            }
            Client::Reqwest(c) => {
                let mut res = c.get(url).send().await.expect("request");
                while res.chunk().await.expect("body").is_some() {}
            }
        }
    }
}

async fn sustained(client: &Client, url: &str, total: usize) -> Duration {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..100)
        .map(|_| {
            let (client, url, next) = (client.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    client.get(&url).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    started.elapsed()
}

/// reqwest as the bench's direct client is built, and with the timeouts
/// of the bench's transport configuration that reqwest has (connect and
/// read; it has no write or pool timeout): its read timeout is a timer for the head, and another for
/// the body reset at every frame, as the transport's.
fn timed_reqwest() -> reqwest::Client {
    let config = httpswap_cli::subject::bench_config();
    let mut builder = httpswap_cli::subject::reqwest_direct(&config).expect("reqwest settings");
    if let Some(t) = config.timeouts.connect {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = config.timeouts.read {
        builder = builder.read_timeout(t);
    }
    builder.build().expect("reqwest")
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .max(1)
}

fn main() {
    let rt = client_runtime();
    let server = LocalServer::start(256);
    let url = server.url();
    let (rounds, requests) = (env("FLOOR_ROUNDS", 20), env("FLOOR_REQUESTS", 20_000));
    // FLOOR_BACKEND=reqwest (or isahc): that backend's Client, transport
    // and library instead, the library first
    let backend = std::env::var("FLOOR_BACKEND").unwrap_or_else(|_| "hyper".into());
    let mut clients: Vec<(String, Client)> =
        subjects(Some(std::slice::from_ref(&backend)), Layers::ALL)
            .expect("subjects")
            .into_iter()
            .map(|s| {
                let s =
                    s.sending_client_headers(std::env::var_os("FLOOR_CLIENT_HEADERS").is_some());
                (s.name.clone(), Client::Subject(s))
            })
            .collect();
    // the library used directly first: the ratios are to it
    clients.sort_by_key(|(name, _)| !name.ends_with("(direct)"));
    if backend == "hyper" {
        clients.push((
            "bare hyper::client::conn".into(),
            Client::Bare(Bare::default()),
        ));
    }
    if backend == "reqwest" {
        clients.push((
            "with timeouts: reqwest".into(),
            Client::Reqwest(timed_reqwest()),
        ));
    }
    if let Ok(only) = std::env::var("FLOOR_ONLY") {
        clients.retain(|(name, _)| name.starts_with(&only));
        assert!(!clients.is_empty(), "FLOOR_ONLY={only} names no client");
    }
    let mut ratios = vec![Vec::new(); clients.len()];
    rt.block_on(async {
        for (_, c) in &clients {
            sustained(c, &url, 2000).await;
        }
        for round in 0..rounds {
            let mut took = vec![Duration::ZERO; clients.len()];
            let mut order: Vec<usize> = (0..clients.len()).collect();
            order.rotate_left(round % clients.len());
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                took[i] = sustained(&clients[i].1, &url, requests).await;
            }
            for (r, t) in ratios.iter_mut().zip(&took) {
                r.push(took[0].as_secs_f64() / t.as_secs_f64());
            }
        }
    });
    for ((name, _), mut r) in clients.iter().zip(ratios) {
        r.sort_by(f64::total_cmp);
        println!(
            "{name:<26} {:.3}x of {} (median of {rounds} rounds)",
            r[r.len() / 2],
            clients[0].0,
        );
    }
}
