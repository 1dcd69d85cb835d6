//! No credential reaches a log or an error (issue 26). One test process,
//! one global `tracing` subscriber recording everything at DEBUG, and our
//! own targets (`httpswap*`) at TRACE, spans with their fields included;
//! each backend then sends requests with credentials in the URL, a bearer
//! token and proxy credentials, through success, a refused connection,
//! redirects (one to another origin, with user info in its `Location`), an
//! unreachable proxy and a proxy refusing the credentials. Neither the
//! captured output nor any error's `Display` or `Debug` may contain a
//! password, a token or a Basic credential.
//!
//! (isahc's `isahc::wire` target at TRACE is curl's dump of the raw bytes
//! it sends, headers included, as its docs say: a debugging aid to keep off
//! in production, and off here.)

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use httpswap::{Client, ResponseExt};
use httpswap_reliability::{bounded, config, transport, BACKENDS};
use httpswap_test::{routes, Reply, TestProxy, TestServer};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

const PASSWORD: &str = "s3cretPW";
const TOKEN: &str = "t0kenVAL";
const PROXY_PASSWORD: &str = "pr0xyPW";
const LOCATION_PASSWORD: &str = "l0cationPW";

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// What must never show: the secrets, and their Basic encodings.
fn secrets() -> Vec<String> {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        PASSWORD.into(),
        TOKEN.into(),
        PROXY_PASSWORD.into(),
        LOCATION_PASSWORD.into(),
        b64(&format!("alice:{PASSWORD}")),
        b64(&format!("puser:{PROXY_PASSWORD}")),
        b64(&format!("puser:wrong{PROXY_PASSWORD}")),
    ]
}

fn with_userinfo(url: &str, userinfo: &str) -> String {
    url.replacen("http://", &format!("http://{userinfo}@"), 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_logs_or_errors_on_any_backend() {
    let capture = Capture::default();
    let sink = capture.clone();
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || sink.clone())
                .with_filter(
                    Targets::new()
                        .with_default(LevelFilter::DEBUG)
                        .with_target("httpswap", LevelFilter::TRACE),
                ),
        )
        .init();

    bounded(async {
        let other = routes(|_, _| Reply::ok("other")).await;
        let far = with_userinfo(&other.url("/far"), &format!("eve:{LOCATION_PASSWORD}"));
        let server = routes(move |r, _| match r.target.as_str() {
            "/redirect" => Reply::to(302, "/same"),
            "/same" => Reply::to(307, far.clone()),
            _ => Reply::ok("ok"),
        })
        .await;
        let refused_port = httpswap_test::RefusedPort::new();
        let refused = refused_port.addr();
        let proxy = TestProxy::start(Some("Basic cHVzZXI6cHIweHlQVw==")).await;
        let echo = TestServer::echo().await;
        let mut errors = Vec::new();
        for name in BACKENDS {
            let c = |proxy_url: Option<String>| {
                let mut cfg = config();
                if let Some(p) = proxy_url {
                    cfg = cfg.proxy(&p);
                }
                Client::builder()
                    .transport(transport(name, cfg))
                    .max_retries(0)
                    .build()
                    .expect("client")
            };
            let direct = c(None);
            let creds = format!("alice:{PASSWORD}");

            // success, and redirects within and across origins
            for path in ["/ok", "/redirect"] {
                let res = direct
                    .get(&with_userinfo(&server.url(path), &creds))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{name} {path}: {e}"));
                res.bytes().await.expect("body");
            }
            direct
                .get(&server.url("/token"))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("response")
                .bytes()
                .await
                .expect("body");

            // a refused connection
            let url = with_userinfo(&format!("http://{refused}/x"), &creds);
            errors.push(direct.get(&url).send().await.expect_err("refused"));
            // the transport alone
            let t = transport(name, config());
            let req = http::Request::get(&url)
                .body(httpswap::Body::empty())
                .expect("request");
            errors.push(t.send(req).await.expect_err("refused"));

            // an unreachable proxy, and one refusing the credentials
            let dead = c(Some(format!("http://puser:{PROXY_PASSWORD}@{refused}")));
            errors.push(
                dead.get(&with_userinfo(&echo.url("/p"), &creds))
                    .send()
                    .await
                    .expect_err("proxy unreachable"),
            );
            let wrong = proxy.url(Some(&format!("puser:wrong{PROXY_PASSWORD}")));
            let refusing = c(Some(wrong));
            let res = refusing.get(&echo.url("/p")).send().await;
            errors.push(res.expect_err("the proxy refuses: 407"));
        }
        let mut seen = capture.text();
        for e in &errors {
            seen.push_str(&format!("\n{e}\n{e:?}\n"));
        }
        assert!(
            seen.contains("request start") && seen.contains("redirect"),
            "the subscriber recorded the requests: {}",
            &seen[..seen.len().min(2000)]
        );
        for secret in secrets() {
            if let Some(at) = seen.find(&secret) {
                let from = at.saturating_sub(300);
                panic!(
                    "{secret:?} was recorded: ...{}...",
                    &seen[from..(at + 100).min(seen.len())]
                );
            }
        }
        // the requests carried the credentials all the same
        let auth: Vec<_> = server
            .requests()
            .into_iter()
            .filter_map(|r| r.headers.get("authorization").cloned())
            .collect();
        assert!(auth.len() >= 3 * BACKENDS.len(), "{auth:?}");
    })
    .await;
}
