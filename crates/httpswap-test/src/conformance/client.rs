//! Scenarios of the client layer (`httpswap::Client` over the backend):
//! redirects, decompression, retries, the total deadline, events. The
//! policies are written once above the trait; running them on every backend
//! proves the backends give them what they need (raw 3xx, raw compressed
//! bytes, exact error kinds, connection events in order).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use httpswap::{Body, Client, ClientBuilder, ErrorKind, ResponseExt, RetryPolicy};

use super::{base, ms, Backend};
use crate::{compress, routes, EventLog, Reply};

// ------------------------------------------------------------------ helpers

/// Retries as the default policy, with millisecond backoffs.
fn fast_retry() -> RetryPolicy {
    RetryPolicy::default().backoff(ms(1), ms(4))
}

fn client_with(b: &Backend, f: impl FnOnce(ClientBuilder) -> ClientBuilder) -> Client {
    f(Client::builder()
        .transport(b.build(base()))
        .retry(fast_retry()))
    .build()
    .expect("client")
}

fn client(b: &Backend) -> Client {
    client_with(b, |c| c)
}

fn text(n: usize) -> Vec<u8> {
    (0..n).map(|i| b"httpswap "[i % 9]).collect()
}

// ---------------------------------------------------------------- redirects

/// 301, 302, 303, 307, 308 with relative and absolute locations are
/// followed to the end; each hop fires a `redirect` event.
pub async fn client_redirect_chain_followed(b: Backend) {
    let server = routes(|r, _| match r.target.as_str() {
        "/a" => Reply::to(301, "/b"),
        "/b" => Reply::to(302, "c?x=1"),
        "/c?x=1" => Reply::to(303, "/d"),
        "/d" => Reply::to(307, "/e"),
        "/e" => Reply::to(308, "/f#frag"),
        "/f" => Reply::ok("done"),
        other => Reply::new(404).body(other.to_owned()),
    })
    .await;
    let log = Arc::new(EventLog::default());
    let c = client_with(&b, |c| c.events(log.clone()));
    let res = c.get(&server.url("/a")).send().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.bytes().await.expect("body"), "done");
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/a", "/b", "/c?x=1", "/d", "/e", "/f"]);
    let redirects: Vec<String> = log
        .with_connections_as_one()
        .into_iter()
        .filter(|l| l.starts_with("redirect"))
        .collect();
    assert_eq!(
        redirects,
        [
            "redirect 301 GET /b 1",
            "redirect 302 GET /c 2",
            "redirect 303 GET /d 3",
            "redirect 307 GET /e 4",
            "redirect 308 GET /f 5"
        ]
    );
}

/// 301, 302 and 303 turn POST into GET without the body and its headers;
/// 307 and 308 send the same method and body again.
pub async fn client_redirect_method_rewriting(b: Backend) {
    let server = routes(|r, _| {
        let path = r.target.trim_start_matches('/');
        match path.parse::<u16>() {
            Ok(code) => Reply::to(code, "/landing"),
            Err(_) => Reply::ok(format!("{} {}", r.method, String::from_utf8_lossy(&r.body))),
        }
    })
    .await;
    let c = client(&b);
    for (code, want) in [
        (301, "GET "),
        (302, "GET "),
        (303, "GET "),
        (307, "POST payload"),
        (308, "POST payload"),
    ] {
        let before = server.requests().len();
        let res = c
            .post(&server.url(&format!("/{code}")))
            .header("content-type", "text/plain")
            .body("payload")
            .send()
            .await
            .expect("response");
        assert_eq!(res.text().await.expect("body"), want, "{code}");
        let landing = &server.requests()[before + 1];
        let ct = landing.headers.get("content-type");
        if want.starts_with("GET") {
            assert!(ct.is_none(), "{code}: body headers dropped");
            assert!(
                landing
                    .headers
                    .get("content-length")
                    .is_none_or(|v| v == "0"),
                "{code}"
            );
        } else {
            assert_eq!(ct.expect("kept"), "text/plain", "{code}");
        }
    }
    // 303 to a HEAD stays HEAD
    let res = c.head(&server.url("/303")).send().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(server.requests().last().expect("seen").method, "HEAD");
}

/// A redirect loop ends with TooManyRedirects after the limit (20 by
/// default, or as set); with following off the 3xx is returned.
pub async fn client_redirect_limit_and_loop(b: Backend) {
    let server = routes(|_, _| Reply::to(302, "/loop")).await;
    let c = client(&b);
    let err = c.get(&server.url("/loop")).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects, "{err}");
    assert_eq!(
        server.requests().len(),
        21,
        "the first request and 20 redirects"
    );

    let c3 = client_with(&b, |c| c.max_redirects(3));
    let err = c3.get(&server.url("/loop")).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooManyRedirects);
    assert_eq!(server.requests().len(), 21 + 4);

    let res = c
        .get(&server.url("/loop"))
        .follow_redirects(false)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::FOUND);
    let off = client_with(&b, |c| c.follow_redirects(false));
    let res = off
        .get(&server.url("/loop"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(server.requests().len(), 21 + 4 + 2);
}

/// Authorization and Cookie reach the origin they were set for, including
/// after a same-origin redirect, and are dropped on a hop to another
/// origin; other headers go on.
pub async fn client_redirect_cross_origin_drops_credentials(b: Backend) {
    let other = routes(|_, _| Reply::ok("other")).await;
    let target = other.url("/landed");
    let server = routes(move |r, _| match r.target.as_str() {
        "/start" => Reply::to(302, "/same"),
        "/same" => Reply::to(307, target.clone()),
        _ => Reply::new(404),
    })
    .await;
    let c = client(&b);
    let res = c
        .get(&server.url("/start"))
        .bearer_auth("secret")
        .header("cookie", "session=1")
        .header("x-trace", "t1")
        .send()
        .await
        .expect("response");
    assert_eq!(res.text().await.expect("body"), "other");
    for r in server.requests() {
        assert_eq!(r.headers["authorization"], "Bearer secret", "{}", r.target);
        assert_eq!(r.headers["cookie"], "session=1");
    }
    let landed = &other.requests()[0];
    assert!(landed.headers.get("authorization").is_none());
    assert!(landed.headers.get("cookie").is_none());
    assert_eq!(landed.headers["x-trace"], "t1");

    // a client's default `Authorization` too, over two hops on the other
    // origin: dropped on the way there, and not added back on the way on
    let other = routes(|r, _| match r.target.as_str() {
        "/landed" => Reply::to(302, "/again"),
        _ => Reply::ok("again"),
    })
    .await;
    let target = other.url("/landed");
    let server = routes(move |r, _| match r.target.as_str() {
        "/start" => Reply::to(302, target.clone()),
        _ => Reply::new(404),
    })
    .await;
    let c = client_with(&b, |c| c.default_header("authorization", "Bearer default"));
    let res = c.get(&server.url("/start")).send().await.expect("response");
    assert_eq!(res.text().await.expect("body"), "again");
    assert_eq!(
        server.requests()[0].headers["authorization"],
        "Bearer default"
    );
    let hops = other.requests();
    assert_eq!(hops.len(), 2, "{hops:?}");
    for r in hops {
        assert!(r.headers.get("authorization").is_none(), "{r:?}");
    }
}

/// Credentials in the URL are sent as `Authorization: Basic`, never in the
/// request line or `Host`; they win over a default `Authorization` and lose
/// to one set on the request; they follow a same-origin redirect and are
/// dropped across origins; user info in a `Location` is never sent.
pub async fn client_url_credentials_as_basic_auth(b: Backend) {
    let other = routes(|_, _| Reply::ok("other")).await;
    let elsewhere = other.url("/landed").replace("http://", "http://eve:leak@");
    let server = routes(move |r, _| match r.target.as_str() {
        "/start" => Reply::to(302, "/same"),
        "/same" => Reply::to(307, elsewhere.clone()),
        _ => Reply::ok("plain"),
    })
    .await;
    let with_creds = |path: &str| {
        server
            .url(path)
            .replace("http://", "http://alice:s3cr%40t@")
    };
    let alice = "Basic YWxpY2U6czNjckB0"; // alice:s3cr@t
    let c = client_with(&b, |c| c.default_header("authorization", "Bearer default"));
    let res = c.get(&with_creds("/start")).send().await.expect("response");
    assert_eq!(res.text().await.expect("body"), "other");
    let host = server.addr().to_string();
    for r in server.requests() {
        assert_eq!(r.headers["authorization"], alice, "{}", r.target);
        assert_eq!(r.headers["host"], host.as_str());
        assert!(r.target.starts_with('/'), "{}", r.target);
    }
    let landed = &other.requests()[0];
    assert!(landed.headers.get("authorization").is_none(), "{landed:?}");
    assert_eq!(landed.target, "/landed");
    assert_eq!(landed.headers["host"], other.addr().to_string().as_str());

    // a header set on the request wins over the URL's credentials
    let res = c
        .get(&with_creds("/own"))
        .bearer_auth("mine")
        .send()
        .await
        .expect("response");
    res.bytes().await.expect("body");
    let last = server.requests().pop().expect("a request");
    assert_eq!(last.headers["authorization"], "Bearer mine");

    // a request built elsewhere, with user info and no header, run by execute
    let req = http::Request::get(with_creds("/built"))
        .body(Body::empty())
        .expect("request");
    c.execute(req)
        .await
        .expect("response")
        .bytes()
        .await
        .expect("body");
    let last = server.requests().pop().expect("a request");
    assert_eq!(last.target, "/built");
    assert_eq!(last.headers["authorization"], alice);
}

/// An invalid `Location` is RemoteProtocol; a non-http one is
/// UnsupportedProtocol; nothing is requested from it.
pub async fn client_redirect_invalid_location(b: Backend) {
    let server = routes(|r, _| match r.target.as_str() {
        "/nohost" => Reply::to(302, "http://"),
        "/badport" => Reply::to(302, "http://127.0.0.1:99999/"),
        "/binary" => Reply::to(302, &b"/\xff\xfe"[..]),
        "/ftp" => Reply::to(302, "ftp://127.0.0.1/file"),
        _ => Reply::new(404),
    })
    .await;
    let c = client(&b);
    for (path, kind) in [
        ("/nohost", ErrorKind::RemoteProtocol),
        ("/badport", ErrorKind::RemoteProtocol),
        ("/binary", ErrorKind::RemoteProtocol),
        ("/ftp", ErrorKind::UnsupportedProtocol),
    ] {
        let err = c.get(&server.url(path)).send().await.unwrap_err();
        assert_eq!(err.kind(), kind, "{path}: {err}");
    }
    assert_eq!(server.requests().len(), 4, "one request each, no retries");
}

/// A streaming body cannot follow a 307 or 308 (BodyNotReplayable); after
/// a 303 it is not needed.
pub async fn client_redirect_streaming_body_not_replayable(b: Backend) {
    let server = routes(|r, _| match r.target.as_str() {
        "/307" => Reply::to(307, "/end"),
        "/308" => Reply::to(308, "/end"),
        "/303" => Reply::to(303, "/end"),
        _ => Reply::ok(r.method.clone()),
    })
    .await;
    let c = client(&b);
    let stream = || {
        Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from_static(b"chunk"),
        )]))
    };
    for path in ["/307", "/308"] {
        let err = c
            .post(&server.url(path))
            .body(stream())
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BodyNotReplayable, "{path}: {err}");
    }
    let res = c
        .post(&server.url("/303"))
        .body(stream())
        .send()
        .await
        .expect("response");
    assert_eq!(res.text().await.expect("body"), "GET");
    assert_eq!(server.requests()[0].body, "chunk");
}

// ------------------------------------------------------------ decompression

/// gzip, deflate (zlib and raw), br, zstd and a chain of two are decoded
/// byte-exact; the client asks for them; headers describe the decoded body.
pub async fn client_decompression_each_codec(b: Backend) {
    let plain = text(100_000);
    let gz = compress("gzip", &plain).await;
    let gz_br = compress("br", &gz).await;
    let fixtures: Vec<(&'static str, &'static str, Vec<u8>)> = vec![
        ("/gzip", "gzip", gz.clone()),
        ("/zlib", "deflate", compress("zlib", &plain).await),
        ("/raw-deflate", "deflate", compress("deflate", &plain).await),
        ("/br", "br", compress("br", &plain).await),
        ("/zstd", "zstd", compress("zstd", &plain).await),
        ("/gzip-then-br", "gzip, br", gz_br),
        ("/identity", "identity", plain.clone()),
    ];
    let table = fixtures.clone();
    let server = routes(move |r, _| {
        let (_, coding, data) = table
            .iter()
            .find(|(p, _, _)| *p == r.target)
            .expect("known path");
        Reply::ok(data.clone()).header("content-encoding", *coding)
    })
    .await;
    let c = client(&b);
    for (path, _, _) in &fixtures {
        let res = c.get(&server.url(path)).send().await.expect("response");
        assert!(res.headers().get("content-encoding").is_none(), "{path}");
        if *path != "/identity" {
            // it described the encoded bytes
            assert!(res.headers().get("content-length").is_none(), "{path}");
        }
        assert_eq!(res.bytes().await.expect("body"), plain, "{path}");
    }
    for r in server.requests() {
        assert_eq!(r.headers["accept-encoding"], "gzip, deflate, br, zstd");
    }
    // the caller's Accept-Encoding wins; an unknown coding is left alone
    let c = client(&b);
    let server = routes(|_, _| Reply::ok("xyz").header("content-encoding", "compress")).await;
    let res = c
        .get(&server.url("/"))
        .header("accept-encoding", "compress")
        .send()
        .await
        .expect("response");
    assert_eq!(res.headers()["content-encoding"], "compress");
    assert_eq!(res.bytes().await.expect("body"), "xyz");
    assert_eq!(server.requests()[0].headers["accept-encoding"], "compress");
    // decompression off: raw bytes, no Accept-Encoding
    let raw = client_with(&b, |c| c.decompress(false));
    let gz2 = gz.clone();
    let server =
        routes(move |_, _| Reply::ok(gz2.clone()).header("content-encoding", "gzip")).await;
    let res = raw.get(&server.url("/")).send().await.expect("response");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(res.bytes().await.expect("body"), gz, "raw bytes");
    assert!(server.requests()[0]
        .headers
        .get("accept-encoding")
        .is_none());
}

/// Corrupt or cut compressed data is a Decoding error; an empty body, a
/// HEAD and a 204 with a Content-Encoding are fine.
pub async fn client_decompression_corrupt_is_decoding_error(b: Backend) {
    let plain = text(50_000);
    let gz = compress("gzip", &plain).await;
    let mut flipped = gz.clone();
    flipped[gz.len() / 2] ^= 0xff;
    let cut = gz[..gz.len() / 2].to_vec();
    let br_cut = compress("br", &plain).await[..20].to_vec();
    let server = routes(move |r, _| {
        let (coding, body) = match r.target.as_str() {
            "/flipped" => ("gzip", flipped.clone()),
            "/cut" => ("gzip", cut.clone()),
            "/br-cut" => ("br", br_cut.clone()),
            "/garbage" => ("zstd", b"not zstd at all".to_vec()),
            "/empty" => ("gzip", Vec::new()),
            "/nocontent" => return Reply::new(204).header("content-encoding", "gzip"),
            _ => ("gzip", gz.clone()),
        };
        Reply::ok(body).header("content-encoding", coding)
    })
    .await;
    let c = client(&b);
    for path in ["/flipped", "/cut", "/br-cut", "/garbage"] {
        let res = c.get(&server.url(path)).send().await.expect("head");
        let err = res.bytes().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decoding, "{path}: {err}");
    }
    let res = c.get(&server.url("/empty")).send().await.expect("head");
    assert_eq!(res.bytes().await.expect("empty is fine"), "");
    let res = c.head(&server.url("/gzip")).send().await.expect("head");
    assert_eq!(res.bytes().await.expect("no body"), "");
    let res = c.get(&server.url("/nocontent")).send().await.expect("head");
    assert_eq!(res.status(), 204);
    assert_eq!(res.bytes().await.expect("no body"), "");
}

/// A decompression bomb stops at the configured limit with a Decoding
/// error; under the limit the same body decodes.
pub async fn client_decompression_limit(b: Backend) {
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bomb = compress("gzip", &zeros).await;
    assert!(bomb.len() < 64 * 1024, "8 MiB of zeros compress well");
    let server =
        routes(move |_, _| Reply::ok(bomb.clone()).header("content-encoding", "gzip")).await;
    let c = client_with(&b, |c| c.max_decompressed_size(1024 * 1024));
    let err = c
        .get(&server.url("/"))
        .send()
        .await
        .expect("head")
        .bytes()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Decoding);
    assert!(err.to_string().contains("limit of 1048576 bytes"), "{err}");
    let roomy = client_with(&b, |c| c.max_decompressed_size(8 * 1024 * 1024));
    let body = roomy
        .get(&server.url("/"))
        .send()
        .await
        .expect("head")
        .bytes()
        .await
        .expect("at the limit is fine");
    assert_eq!(body.len(), zeros.len());
}

// ------------------------------------------------------------------ retries

/// 503 then 200: one retry, visible in events with attempt numbers.
pub async fn client_retry_503_then_200(b: Backend) {
    let server = routes(|_, n| {
        if n == 0 {
            Reply::new(503).body("busy")
        } else {
            Reply::ok("fine")
        }
    })
    .await;
    let log = Arc::new(EventLog::default());
    let c = client_with(&b, |c| c.events(log.clone()));
    let res = c.get(&server.url("/x")).send().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "fine");
    let lines = log.with_connections_as_one();
    let no_conn: Vec<&str> = lines
        .iter()
        .map(String::as_str)
        .filter(|l| *l != "connection")
        .collect();
    assert_eq!(
        no_conn,
        [
            "start GET /x #1",
            "end 503 #1",
            "retry #2 status=Some(503) error=None",
            "start GET /x #2",
            "end 200 #2"
        ]
    );
}

/// A 429 with `retry-after-ms` waits that long (the retry event carries the
/// delay); `Retry-After` beyond 120 s is not waited for; `x-should-retry`
/// overrides the status of an error response, and is not read on a
/// success (as in the OpenAI SDK, a 2xx is never retried).
pub async fn client_retry_429_retry_after_and_x_should_retry(b: Backend) {
    let server = routes(|r, n| match (r.target.as_str(), n) {
        ("/ms", 0) => Reply::new(429).header("retry-after-ms", "30"),
        ("/long", _) => Reply::new(429).header("retry-after", "121"),
        ("/never", _) => Reply::new(503).header("x-should-retry", "false"),
        ("/always", m) if m < 5 => Reply::new(400).header("x-should-retry", "true"),
        ("/success", _) => Reply::ok("done").header("x-should-retry", "true"),
        _ => Reply::ok("ok"),
    })
    .await;
    let log = Arc::new(EventLog::default());
    let c = client_with(&b, |c| c.events(log.clone()));
    let res = c.get(&server.url("/ms")).send().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(log.retry_delays(), [ms(30)]);
    let res = c.get(&server.url("/long")).send().await.expect("response");
    assert_eq!(
        res.status(),
        429,
        "121 s is too long to wait: returned as is"
    );
    let res = c.get(&server.url("/never")).send().await.expect("response");
    assert_eq!(res.status(), 503);
    let res = c
        .get(&server.url("/always"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 200, "400 with x-should-retry: true");
    let res = c
        .get(&server.url("/success"))
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 200);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(
        targets,
        ["/ms", "/ms", "/long", "/never", "/always", "/always", "/success"],
        "a 200 with x-should-retry: true is not sent again"
    );
}

/// Retries stop after the limit and return the last response; a streaming
/// body is never retried; retries can be turned off.
pub async fn client_retry_limits(b: Backend) {
    let server = routes(|_, _| Reply::new(500)).await;
    let c = client(&b);
    let res = c.get(&server.url("/")).send().await.expect("response");
    assert_eq!(res.status(), 500);
    assert_eq!(server.requests().len(), 3, "1 + 2 retries");
    let stream = Body::from_stream(futures_util::stream::iter([Ok::<_, std::io::Error>(
        Bytes::from_static(b"once"),
    )]));
    let res = c
        .post(&server.url("/"))
        .body(stream)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 500);
    assert_eq!(server.requests().len(), 4, "streamed: not retried");
    let res = c
        .get(&server.url("/"))
        .max_retries(0)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 500);
    assert_eq!(server.requests().len(), 5);
    let five = client_with(&b, |c| c.max_retries(5));
    let _ = five.get(&server.url("/")).send().await.expect("response");
    assert_eq!(server.requests().len(), 11);
    let off = client_with(&b, |c| c.retry(RetryPolicy::none()));
    let _ = off.get(&server.url("/")).send().await.expect("response");
    assert_eq!(server.requests().len(), 12);
}

/// Transport errors: a GET whose connection is reset is retried; a POST is
/// not, unless it carries an `Idempotency-Key`; a refused connection is
/// retried (nothing was sent) and fails with Connect in the end.
pub async fn client_retry_transport_errors(b: Backend) {
    // every request with `x-reset: yes` has its connection reset
    let server = routes(move |r, _| {
        if r.headers.get("x-reset").is_some_and(|v| v == "yes") {
            Reply::reset()
        } else {
            Reply::ok(format!("{} ok", r.method))
        }
    })
    .await;
    let c = client(&b);
    let err = c
        .get(&server.url("/g"))
        .header("x-reset", "yes")
        .send()
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    let gets = server.requests().len();
    assert!(
        gets >= 3,
        "GET: 1 + 2 retries (the transport may add its own), saw {gets}"
    );
    let err = c
        .post(&server.url("/p"))
        .header("x-reset", "yes")
        .body("x")
        .send()
        .await
        .unwrap_err();
    assert!(err.request_sent(), "{err}");
    assert_eq!(server.requests().len(), gets + 1, "POST: not retried");
    let _ = c
        .post(&server.url("/p"))
        .header("x-reset", "yes")
        .header("idempotency-key", "k1")
        .body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        server.requests().len(),
        gets + 1 + 3,
        "POST with Idempotency-Key: retried"
    );
    // refused: nothing listens on a port we hold
    let refused = crate::RefusedPort::new();
    let port = refused.addr().port();
    let log = Arc::new(EventLog::default());
    let c = client_with(&b, |c| c.events(log.clone()));
    let err = c
        .post(&format!("http://127.0.0.1:{port}/"))
        .body("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    let retries = log
        .with_connections_as_one()
        .iter()
        .filter(|l| l.starts_with("retry"))
        .count();
    assert_eq!(retries, 2, "{:?}", log.with_connections_as_one());
}

// ----------------------------------------------------------------- deadline

/// The total deadline covers every attempt, every retry wait and the body:
/// an attempt running into it is cut (Timeout, never retried), a retry
/// whose wait alone would pass it is not made, a body stalling past it is
/// cut.
pub async fn client_deadline_across_retries_and_body(b: Backend) {
    let server = routes(|r, n| match r.target.as_str() {
        "/hang" => Reply::new(200).after(Duration::from_secs(3)),
        "/wait-long" => Reply::new(503).header("retry-after-ms", "1000"),
        // the first request of the scenario that gets here is a quick 503,
        // every later one hangs
        "/then-hang" if n == 2 => Reply::new(503),
        "/then-hang" | "/then-hang-2" => Reply::new(503).after(Duration::from_secs(3)),
        _ => Reply::ok(vec![b'x'; 1000]).stall_after(10),
    })
    .await;
    let c = client_with(&b, |c| c.max_retries(10));
    let deadline = ms(300);
    // 1. cut, and not retried
    let err = c
        .get(&server.url("/hang"))
        .timeout_total(deadline)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(server.requests().len(), 1);
    // 2. a wait of 1 s cannot fit in 300 ms: the 503 comes back at once
    let res = c
        .get(&server.url("/wait-long"))
        .timeout_total(deadline)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 503);
    assert_eq!(server.requests().len(), 2);
    // 3. the retry runs into the deadline of the whole call
    let err = c
        .get(&server.url("/then-hang"))
        .timeout_total(deadline)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(server.requests().len(), 4, "the 503 and one retry");
    // 4. the body
    let res = c
        .get(&server.url("/stall"))
        .timeout_total(deadline)
        .send()
        .await
        .expect("head in time");
    let err = res.bytes().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // 5. a client-wide deadline works the same
    let c = client_with(&b, |c| c.timeout_total(deadline).max_retries(10));
    let err = c.get(&server.url("/then-hang-2")).send().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(server.requests().len(), 6, "not retried");
}

/// A total deadline of `Duration::MAX` (a way some users write "never") is
/// no deadline, not a panic: client-wide and per request, across a retry
/// (whose wait is checked against the deadline) and a body read.
pub async fn client_deadline_beyond_any_clock(b: Backend) {
    let server = routes(|_, n| {
        if n % 2 == 0 {
            Reply::new(503).header("retry-after-ms", "10")
        } else {
            Reply::ok("fine")
        }
    })
    .await;
    let c = client_with(&b, |c| c.timeout_total(Duration::MAX));
    let res = c.get(&server.url("/a")).send().await.expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "fine");
    let res = client(&b)
        .get(&server.url("/b"))
        .timeout_total(Duration::MAX)
        .send()
        .await
        .expect("response");
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.expect("body"), "fine");
    assert_eq!(server.requests().len(), 4, "each retried once");
}

// ------------------------------------------------------------------- events

/// Request, connection, redirect and retry events in the documented order,
/// across a redirect and a retry.
pub async fn client_events_in_documented_order(b: Backend) {
    let server = routes(|r, n| match r.target.as_str() {
        "/r" => Reply::to(302, "/s"),
        "/s" if n < 2 => Reply::new(503),
        _ => Reply::ok("ok"),
    })
    .await;
    let log = Arc::new(EventLog::default());
    let c = client_with(&b, |c| c.events(log.clone()));
    let res = c.get(&server.url("/r")).send().await.expect("response");
    assert_eq!(res.text().await.expect("body"), "ok");
    assert_eq!(
        log.with_connections_as_one(),
        [
            "start GET /r #1",
            "connection",
            "end 302 #1",
            "redirect 302 GET /s 1",
            "start GET /s #1",
            "connection",
            "end 503 #1",
            "retry #2 status=Some(503) error=None",
            "start GET /r #2",
            "connection",
            "end 302 #2",
            "redirect 302 GET /s 1",
            "start GET /s #2",
            "connection",
            "end 200 #2",
        ]
    );
}
