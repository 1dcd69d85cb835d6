//! A request through `Client` behaves the same on every enabled backend:
//! the same script runs on each, everything observable (statuses, bodies,
//! headers, what each server saw, the event sequence) is recorded, and the
//! records must be equal, and right.
#![cfg(feature = "__backend")]

use std::sync::Arc;
use std::time::Duration;

use httpswap::{Client, ResponseExt, RetryPolicy, TransportConfig};
use httpswap_test::{compress, routes, EventLog, Reply};

/// Everything one backend showed.
#[derive(Debug, PartialEq)]
struct Observed {
    chain: (u16, String, Vec<(String, bool)>, Vec<bool>),
    gzip: (String, Option<String>),
    br: (String, Option<String>),
    retry_after: (u16, usize),
    then_ok: (u16, String, usize),
    events: Vec<String>,
    /// Retries that waited the 20 ms `retry-after-ms` asked for (the
    /// 503's backoff is random: jitter).
    waited_as_asked: usize,
}

async fn observe(backend: &str) -> Observed {
    let config = TransportConfig::builder()
        .proxy_from_env(false)
        .build()
        .unwrap();
    let transport = httpswap::transport_by_name(backend, config).unwrap();
    let log = Arc::new(EventLog::default());
    let client = Client::builder()
        .transport(transport)
        .events(log.clone())
        .retry(RetryPolicy::default().backoff(Duration::from_millis(1), Duration::from_millis(2)))
        .build()
        .unwrap();

    // a redirect chain with a cross-origin hop, carrying Authorization
    let other = routes(|_, _| Reply::ok("landed")).await;
    let landing = other.url("/end");
    let origin = routes(move |r, _| match r.target.as_str() {
        "/start" => Reply::to(302, "/hop"),
        _ => Reply::to(307, landing.clone()),
    })
    .await;
    let res = client
        .get(&origin.url("/start"))
        .bearer_auth("token")
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    let seen_origin = origin
        .requests()
        .into_iter()
        .map(|r| (r.target, r.headers.contains_key("authorization")))
        .collect();
    let seen_other = other
        .requests()
        .into_iter()
        .map(|r| r.headers.contains_key("authorization"))
        .collect();
    let chain = (status, body, seen_origin, seen_other);

    // gzip and br
    let gz = compress("gzip", b"httpswap!").await;
    let br = compress("br", b"httpswap!").await;
    let codecs = routes(move |r, _| {
        let (coding, data) = if r.target == "/gzip" {
            ("gzip", gz.clone())
        } else {
            ("br", br.clone())
        };
        Reply::ok(data).header("content-encoding", coding)
    })
    .await;
    let mut decoded = Vec::new();
    for path in ["/gzip", "/br"] {
        let res = client.get(&codecs.url(path)).send().await.unwrap();
        let enc = res
            .headers()
            .get("content-encoding")
            .map(|v| v.to_str().unwrap().to_owned());
        decoded.push((res.text().await.unwrap(), enc));
    }

    // 429 with retry-after-ms, then 200
    let limited = routes(|_, n| {
        if n == 0 {
            Reply::new(429).header("retry-after-ms", "20")
        } else {
            Reply::ok("")
        }
    })
    .await;
    let res = client.get(&limited.url("/limited")).send().await.unwrap();
    let retry_after = (res.status().as_u16(), limited.requests().len());

    // 503 then 200
    let flaky = routes(|_, n| {
        if n == 0 {
            Reply::new(503)
        } else {
            Reply::ok("recovered")
        }
    })
    .await;
    let res = client.get(&flaky.url("/flaky")).send().await.unwrap();
    let then_ok = (
        res.status().as_u16(),
        res.text().await.unwrap(),
        flaky.requests().len(),
    );

    let events = log.with_connections_as_one();
    let waited_as_asked = log
        .retry_delays()
        .iter()
        .filter(|d| **d == Duration::from_millis(20))
        .count();
    let mut decoded = decoded.into_iter();
    Observed {
        chain,
        gzip: decoded.next().unwrap(),
        br: decoded.next().unwrap(),
        retry_after,
        then_ok,
        events,
        waited_as_asked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_behaves_identically_on_every_backend() {
    let backends = httpswap::enabled_backends();
    let expected_count = [
        cfg!(feature = "hyper"),
        cfg!(feature = "reqwest"),
        cfg!(feature = "isahc"),
    ]
    .iter()
    .filter(|on| **on)
    .count();
    assert_eq!(backends.len(), expected_count);

    let first = observe(backends[0]).await;
    // right, not only equal
    assert_eq!(
        first.chain,
        (
            200,
            "landed".to_owned(),
            vec![("/start".to_owned(), true), ("/hop".to_owned(), true)],
            vec![false],
        ),
        "Authorization stays on its origin"
    );
    assert_eq!(first.gzip, ("httpswap!".to_owned(), None));
    assert_eq!(first.br, ("httpswap!".to_owned(), None));
    assert_eq!(first.retry_after, (200, 2));
    assert_eq!(first.then_ok, (200, "recovered".to_owned(), 2));
    // the 429 waited the 20 ms it asked for; the 503 was retried too
    assert_eq!(first.waited_as_asked, 1, "{:?}", first.events);
    let retries = first.events.iter().filter(|e| e.starts_with("retry #2 "));
    assert_eq!(retries.count(), 2, "{:?}", first.events);
    for name in &backends[1..] {
        let other = observe(name).await;
        assert_eq!(other, first, "{name} differs from {}", backends[0]);
    }
}
