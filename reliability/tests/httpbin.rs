//! Every backend through `Client` against httpbin (PyPI `httpbin` under
//! gunicorn, started here on 127.0.0.1): byte-exact and kind-exact, and
//! the same observations on every backend.

use std::time::Duration;

use httpswap::{Client, ErrorKind, ResponseExt};
use httpswap_reliability::{bounded, client_no_retry, config, httpbin, Server, BACKENDS};
use serde_json::Value;

async fn json(client: &Client, url: &str) -> Value {
    let res = client.get(url).send().await.expect(url);
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.expect(url)
}

/// What one backend saw of every endpoint; compared across backends.
async fn observe(name: &str, bin: &Server) -> Vec<String> {
    let c = client_no_retry(name, config());
    let mut seen = Vec::new();
    let mut note = |what: &str, v: String| seen.push(format!("{what}: {v}"));

    let v = json(&c, &bin.url("/get?a=1&b=two%20words")).await;
    assert_eq!(v["args"]["b"], "two words");
    assert_eq!(v["headers"]["User-Agent"], httpswap::DEFAULT_USER_AGENT);
    note("get", v["args"].to_string());

    let v: Value = c
        .post(&bin.url("/post"))
        .json(&serde_json::json!({"k": [1, 2, 3]}))
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    assert_eq!(v["json"], serde_json::json!({"k": [1, 2, 3]}));
    assert_eq!(v["headers"]["Content-Type"], "application/json");
    note("post", v["json"].to_string());

    for code in [200u16, 201, 204, 304, 404, 418, 500, 503] {
        let res = c
            .get(&bin.url(&format!("/status/{code}")))
            .send()
            .await
            .expect("status");
        assert_eq!(res.status(), code);
        let body = res.bytes().await.expect("body");
        if matches!(code, 204 | 304) {
            assert!(body.is_empty());
        }
        note("status", format!("{code} {}", body.len()));
    }

    for path in [
        "/redirect/5",
        "/relative-redirect/5",
        "/absolute-redirect/5",
        "/redirect-to?url=%2Fget%3Fx%3D1&status_code=302",
    ] {
        let v = json(&c, &bin.url(path)).await;
        assert!(
            v["url"].as_str().is_some_and(|u| u.contains("/get")),
            "{path}: {v}"
        );
        note(path, v["args"].to_string());
    }
    let err = c
        .get(&bin.url("/redirect/21"))
        .send()
        .await
        .expect_err("one more than 20 redirects");
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects, "{err}");
    // 307 keeps method and body; 303 turns a POST into a GET
    let v: Value = c
        .post(&bin.url("/redirect-to?url=%2Fanything&status_code=307"))
        .body("kept body")
        .send()
        .await
        .expect("307")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (v["method"].as_str(), v["data"].as_str()),
        (Some("POST"), Some("kept body"))
    );
    let v: Value = c
        .post(&bin.url("/redirect-to?url=%2Fanything&status_code=303"))
        .body("dropped body")
        .send()
        .await
        .expect("303")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (v["method"].as_str(), v["data"].as_str()),
        (Some("GET"), Some(""))
    );
    note("redirect-to", "307 POST kept, 303 GET".into());

    for (path, flag) in [
        ("/gzip", "gzipped"),
        ("/deflate", "deflated"),
        ("/brotli", "brotli"),
    ] {
        let v = json(&c, &bin.url(path)).await;
        assert_eq!(v[flag], true, "{path}: {v}");
        note(path, v[flag].to_string());
    }

    for n in [0usize, 1, 1000, 102_400] {
        let url = bin.url(&format!("/bytes/{n}?seed=7"));
        let body = c
            .get(&url)
            .send()
            .await
            .expect("bytes")
            .bytes()
            .await
            .expect("body");
        assert_eq!(body.len(), n.min(100 * 1024), "{url}");
        note("bytes", format!("{n} {:?}", &body[..body.len().min(16)]));
        let url = bin.url(&format!("/stream-bytes/{n}?seed=7&chunk_size=333"));
        let streamed = c
            .get(&url)
            .send()
            .await
            .expect("stream-bytes")
            .bytes()
            .await
            .expect("body");
        assert_eq!(streamed.len(), n, "{url}");
        note(
            "stream-bytes",
            format!("{n} {:?}", &streamed[..streamed.len().min(16)]),
        );
    }

    let text = c
        .get(&bin.url("/stream/7"))
        .send()
        .await
        .expect("stream")
        .text()
        .await
        .expect("text");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 7);
    assert!(lines.iter().enumerate().all(|(i, l)| l["id"] == i));
    note("stream", lines.len().to_string());

    let drip = c
        .get(&bin.url("/drip?numbytes=20&duration=0.4&delay=0&code=200"))
        .timeout_read(Duration::from_secs(5))
        .send()
        .await
        .expect("drip")
        .bytes()
        .await
        .expect("drip body");
    assert_eq!(drip, "*".repeat(20).as_bytes());
    note("drip", drip.len().to_string());

    let err = c
        .get(&bin.url("/delay/2"))
        .timeout_read(Duration::from_millis(300))
        .send()
        .await
        .expect_err("slower than the read timeout");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{err}");
    let v = json(&c, &bin.url("/delay/0")).await;
    note("delay", format!("{} {}", err.kind(), v["args"]));

    let v: Value = c
        .get(&bin.url("/headers"))
        .header("x-custom", "value with spaces")
        .header("x-empty", "")
        .send()
        .await
        .expect("headers")
        .json()
        .await
        .expect("json");
    assert_eq!(v["headers"]["X-Custom"], "value with spaces");
    note("headers", v["headers"]["X-Custom"].to_string());

    let res = c
        .get(&bin.url("/response-headers?X-Thing=one&X-Thing=two&Cache-Control=no-store"))
        .send()
        .await
        .expect("response-headers");
    let things: Vec<&str> = res
        .headers()
        .get_all("x-thing")
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect();
    assert_eq!(things, ["one", "two"]);
    assert_eq!(res.headers()["cache-control"], "no-store");
    note("response-headers", things.join(","));

    let res = c
        .get(&bin.url("/basic-auth/user/passwd"))
        .header("authorization", "Basic dXNlcjpwYXNzd2Q=")
        .send()
        .await
        .expect("auth");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["authenticated"], true);
    let res = c
        .get(&bin.url("/basic-auth/user/passwd"))
        .header("authorization", "Basic d3Jvbmc6d3Jvbmc=")
        .send()
        .await
        .expect("auth");
    assert_eq!(res.status(), 401);
    note("basic-auth", "200 401".into());
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_against_httpbin() {
    bounded(async {
        let bin = httpbin().await;
        let mut all = Vec::new();
        for name in BACKENDS {
            all.push((name, observe(name, &bin).await));
        }
        let (first, expected) = &all[0];
        for (name, seen) in &all[1..] {
            assert_eq!(seen, expected, "{name} differs from {first}");
        }
    })
    .await;
}
