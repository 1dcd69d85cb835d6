//! Round trips: methods, statuses, headers, query strings, bodies of every size both ways, streaming, and a transport leaving redirects and compression alone.

use super::*;

/// Every common method reaches the server as sent, with its body.
pub async fn round_trip_methods(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"] {
        let method = Method::from_bytes(m.as_bytes()).expect("method");
        let body = if m == "GET" || m == "HEAD" {
            Body::empty()
        } else {
            Body::from(format!("body of {m}"))
        };
        let res = t
            .send(req(method, &server.url("/m"), body))
            .await
            .expect("response");
        assert_eq!(res.status(), 200, "{m}");
        assert_eq!(res.headers()["x-method"], m);
        let got = body_of(res).await.expect("body");
        match m {
            "GET" | "HEAD" => assert!(got.is_empty(), "{m} body {got:?}"),
            _ => assert_eq!(got, format!("body of {m}"), "{m}"),
        }
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 7);
    assert_eq!(seen[1].body, "body of POST");
}

/// A body without a `Content-Type` gets none (or, where the capability
/// says so, an empty one); a given one is sent as it is.
pub async fn round_trip_no_content_type_added(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let caps = t.capabilities();
    for m in ["POST", "PUT", "PATCH"] {
        let method = Method::from_bytes(m.as_bytes()).expect("method");
        t.send(req(method.clone(), &server.url("/none"), Body::from("raw")))
            .await
            .expect("sent");
        let mut typed = req(method, &server.url("/typed"), Body::from("{}"));
        typed
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        t.send(typed).await.expect("sent");
    }
    for (i, seen) in server.requests().iter().enumerate() {
        let ct = seen
            .headers
            .get_all("content-type")
            .iter()
            .collect::<Vec<_>>();
        if i % 2 == 1 {
            assert_eq!(ct, ["application/json"], "{} {}", seen.method, seen.target);
        } else if caps.no_added_content_type || seen.method != "POST" {
            assert!(ct.is_empty(), "{}: {ct:?}", seen.method);
        } else {
            assert_eq!(ct, [""], "{}: an empty one stands for none", seen.method);
        }
    }
    assert_eq!(server.requests().len(), 6);
}

/// A request goes out with its own headers and `Host` only: nothing is
/// added (or, where the capability says so, only the library's
/// `Accept: */*` and isahc's `User-Agent`, each when the request has
/// none); its own `Accept` and `User-Agent` are sent as given, once.
pub async fn round_trip_no_headers_added(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    t.send(get(&server.url("/bare"))).await.expect("sent");
    let mut own = get(&server.url("/own"));
    own.headers_mut()
        .insert("user-agent", HeaderValue::from_static("mine/1"));
    own.headers_mut()
        .insert("accept", HeaderValue::from_static("text/plain"));
    t.send(own).await.expect("sent");
    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    let names = |i: usize| {
        let mut v: Vec<&str> = seen[i]
            .headers
            .keys()
            .map(|n| n.as_str())
            .filter(|n| *n != "host")
            .collect();
        v.sort_unstable();
        v
    };
    if t.capabilities().no_added_headers {
        assert_eq!(names(0), Vec::<&str>::new(), "{:?}", seen[0].headers);
    } else {
        // reqwest: `accept` only; isahc: both
        let added = names(0);
        assert!(
            added == ["accept"] || added == ["accept", "user-agent"],
            "{added:?}"
        );
        assert_eq!(seen[0].headers["accept"], "*/*");
        if let Some(ua) = seen[0].headers.get("user-agent") {
            let ua = ua.to_str().expect("ascii");
            assert!(ua.starts_with("curl/") && ua.contains(" isahc/"), "{ua}");
        }
    }
    assert_eq!(names(1), ["accept", "user-agent"], "{:?}", seen[1].headers);
    for (name, value) in [("user-agent", "mine/1"), ("accept", "text/plain")] {
        let all: Vec<_> = seen[1].headers.get_all(name).iter().collect();
        assert_eq!(all, [value], "{name}");
    }
}

/// Statuses come back exactly; none is an error at the transport level.
pub async fn round_trip_status_codes(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    for code in [200u16, 201, 204, 301, 304, 400, 404, 418, 500, 503] {
        let res = t
            .send(get(&server.url(&format!("/status/{code}"))))
            .await
            .expect("status is not an error");
        assert_eq!(res.status().as_u16(), code);
        let body = body_of(res).await.expect("body");
        if code == 204 || code == 304 {
            assert!(body.is_empty());
        }
    }
}

/// A `304` and the answer to a `HEAD` carry the `Content-Length` of the
/// body they stand for, but no body: both come back empty and complete,
/// and the connection goes on to carry the next response exactly.
pub async fn round_trip_bodiless_with_content_length(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(req)) = conn.read_request().await {
            let head: &[u8] = match (req.method.as_str(), req.target.as_str()) {
                ("HEAD", _) => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n",
                (_, "/304") => b"HTTP/1.1 304 Not Modified\r\ncontent-length: 10\r\n\r\n",
                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
            };
            if conn.write(head).await.is_err() {
                return;
            }
        }
    })
    .await;
    let t = b.default_transport();
    for (method, path) in [(Method::GET, "/304"), (Method::HEAD, "/head")] {
        let res = t
            .send(req(method.clone(), &server.url(path), Body::empty()))
            .await
            .expect("response");
        let body = body_of(res).await.expect("an empty body, complete");
        assert!(body.is_empty(), "{method} {path}: {body:?}");
        let next = t.send(get(&server.url("/next"))).await.expect("next");
        assert_eq!(
            body_of(next).await.expect("body"),
            Bytes::from_static(b"ok")
        );
    }
    if t.capabilities().reuse_known_at_checkout {
        assert_eq!(
            server.stats().accepted(),
            1,
            "one connection carried all four"
        );
    } else {
        // reqwest: a finished connection goes back to hyper-util's pool from
        // a task of its own, so the next request may open another
        assert!(server.stats().accepted() <= 4);
    }
}

/// Repeated headers and non-UTF-8 header bytes survive both ways.
pub async fn round_trip_headers_repeated_and_non_utf8(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(_)) = conn.read_request().await {
            let _ = conn
                .write(b"HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nx-latin1: caf\xe9\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    })
    .await;
    let t = b.default_transport();
    let non_ascii = t.capabilities().non_ascii_header_values;
    let mut r = get(&server.url("/h"));
    r.headers_mut()
        .append("x-multi", HeaderValue::from_static("one"));
    r.headers_mut()
        .append("x-multi", HeaderValue::from_static("two"));
    r.headers_mut().insert(
        "x-bytes",
        HeaderValue::from_bytes(b"caf\xe9").expect("obs-text is valid"),
    );
    if !non_ascii {
        // refused up front, clearly, with nothing sent
        let err = t.send(r).await.expect_err("not sendable on this backend");
        assert_eq!(err.kind(), ErrorKind::LocalProtocol, "{err}");
        assert!(!err.request_sent());
        assert!(server.requests().is_empty());
        r = get(&server.url("/h"));
        r.headers_mut()
            .append("x-multi", HeaderValue::from_static("one"));
        r.headers_mut()
            .append("x-multi", HeaderValue::from_static("two"));
    }
    let res = t.send(r).await.expect("response");
    let cookies: Vec<_> = res.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["a=1", "b=2"]);
    assert_eq!(res.headers()["x-latin1"].as_bytes(), b"caf\xe9");
    let seen = &server.requests()[0];
    let multi: Vec<_> = seen.headers.get_all("x-multi").iter().collect();
    assert_eq!(multi, ["one", "two"]);
    if non_ascii {
        assert_eq!(seen.headers["x-bytes"].as_bytes(), b"caf\xe9");
    }
    assert_eq!(
        seen.headers["host"],
        format!("127.0.0.1:{}", server.addr().port())
    );
}

/// The path and query arrive byte for byte, in origin-form.
pub async fn round_trip_query_string_exact(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let target = "/search/a%20b?q=%E2%9C%93&x=1&x=2&empty=&flag";
    let res = t.send(get(&server.url(target))).await.expect("response");
    assert_eq!(res.headers()["x-target"], target);
    assert_eq!(server.requests()[0].target, target);
}

/// User info in the URL is sent as `Authorization: Basic` (percent-decoded)
/// and never in the request line or `Host`; an `Authorization` header the
/// request has wins. Every backend, through the trait (the client layer
/// does the same above it).
pub async fn round_trip_url_credentials_as_basic_auth(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let with = |userinfo: &str, path: &str| {
        server
            .url(path)
            .replace("http://", &format!("http://{userinfo}@"))
    };
    body_of(
        t.send(get(&with("alice:s3cr%40t", "/a?x=1")))
            .await
            .expect("sent"),
    )
    .await
    .expect("body");
    body_of(t.send(get(&with("bob", "/b"))).await.expect("sent"))
        .await
        .expect("body");
    let mut own = get(&with("alice:s3cret", "/c"));
    own.headers_mut()
        .insert("authorization", HeaderValue::from_static("Bearer mine"));
    body_of(t.send(own).await.expect("sent"))
        .await
        .expect("body");
    let host = server.addr().to_string();
    let seen: Vec<(String, String, String)> = server
        .requests()
        .into_iter()
        .map(|r| {
            let h = |n: &str| String::from_utf8_lossy(r.headers[n].as_bytes()).into_owned();
            (r.target.clone(), h("authorization"), h("host"))
        })
        .collect();
    let expect = |t: &str, a: &str| (t.to_owned(), a.to_owned(), host.clone());
    assert_eq!(
        seen,
        [
            // alice:s3cr@t, bob: (no password)
            expect("/a?x=1", "Basic YWxpY2U6czNjckB0"),
            expect("/b", "Basic Ym9iOg=="),
            expect("/c", "Bearer mine"),
        ]
    );
}

/// Empty bodies both ways: `Content-Length: 0` on POST, nothing on GET.
pub async fn round_trip_empty_bodies(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let res = t
        .send(req(Method::POST, &server.url("/e"), Body::empty()))
        .await
        .expect("response");
    assert_eq!(body_of(res).await.expect("body"), "");
    let res = t.send(get(&server.url("/e"))).await.expect("response");
    assert_eq!(body_of(res).await.expect("body"), "");
    let seen = server.requests();
    assert_eq!(seen[0].body, "");
    assert!(seen[1].headers.get("transfer-encoding").is_none());
}

/// An 8 MiB body up and the same down, byte-exact.
pub async fn round_trip_large_bodies_both_ways(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let data = pattern(8 * 1024 * 1024);
    let res = t
        .send(req(Method::PUT, &server.url("/big"), data.clone()))
        .await
        .expect("response");
    assert_eq!(
        res.headers()["content-length"],
        data.len().to_string().as_str()
    );
    let got = body_of(res).await.expect("body");
    assert_eq!(got.len(), data.len());
    assert!(got == data, "large body differs");
    assert!(server.requests()[0].body == data);
}

/// An `http_body::Body` of another library (its own error type, an exact
/// size hint, two chunks), through [`Body::from_http_body`]: sent with its
/// `Content-Length`, not chunked, and arrives whole.
pub async fn round_trip_foreign_body_keeps_its_length(b: Backend) {
    struct TwoParts(std::collections::VecDeque<Bytes>);
    impl httpswap_core::http_body::Body for TwoParts {
        type Data = Bytes;
        type Error = std::io::Error;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<httpswap_core::http_body::Frame<Bytes>, std::io::Error>>>
        {
            std::task::Poll::Ready(
                self.0
                    .pop_front()
                    .map(|d| Ok(httpswap_core::http_body::Frame::data(d))),
            )
        }
        fn is_end_stream(&self) -> bool {
            self.0.is_empty()
        }
        fn size_hint(&self) -> httpswap_core::http_body::SizeHint {
            httpswap_core::http_body::SizeHint::with_exact(
                self.0.iter().map(|d| d.len() as u64).sum(),
            )
        }
    }
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let parts = TwoParts([Bytes::from("hello "), Bytes::from("world")].into());
    let res = t
        .send(req(
            Method::PUT,
            &server.url("/foreign"),
            Body::from_http_body(parts),
        ))
        .await
        .expect("sent");
    assert_eq!(body_of(res).await.expect("echo"), "hello world");
    let seen = &server.requests()[0];
    assert_eq!(
        seen.headers
            .get("content-length")
            .map(HeaderValue::as_bytes),
        Some(&b"11"[..])
    );
    assert!(seen.headers.get("transfer-encoding").is_none());
}

/// A streamed upload arrives whole (chunked); a chunked download too.
pub async fn round_trip_streamed_upload_and_chunked_download(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(req)) = conn.read_request().await {
            let _ = conn.start_chunked(&[]).await;
            for piece in req.body.chunks(1000) {
                let _ = conn.chunk(piece).await;
            }
            let _ = conn.end_chunks().await;
        }
    })
    .await;
    let t = b.default_transport();
    let parts: Vec<Result<Bytes, std::io::Error>> = (0..50)
        .map(|i| Ok(Bytes::from(format!("part-{i:03};"))))
        .collect();
    let expected: String = (0..50).map(|i| format!("part-{i:03};")).collect();
    let body = Body::from_stream(futures_util::stream::iter(parts));
    let res = t
        .send(req(Method::POST, &server.url("/s"), body))
        .await
        .expect("response");
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert_eq!(body_of(res).await.expect("body"), expected.as_bytes());
    let seen = &server.requests()[0];
    assert_eq!(seen.body, expected.as_bytes());
    assert_eq!(seen.headers["transfer-encoding"], "chunked");
}

/// Server-sent events reach the caller as they are sent, not at the end:
/// the server sends its second event only after the client has read the first.
pub async fn round_trip_sse_streams_incrementally(b: Backend) {
    let (tx, rx) = tokio::sync::mpsc::channel::<()>(1);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let server = TestServer::start(move |mut conn: ServerConn| {
        let rx = rx.clone();
        async move {
            if let Ok(Some(_)) = conn.read_request().await {
                let _ = conn
                    .start_chunked(&[("content-type", b"text/event-stream")])
                    .await;
                let _ = conn.chunk(b"data: first\n\n").await;
                let _ = tokio::time::timeout(Duration::from_secs(5), rx.lock().await.recv()).await;
                let _ = conn.chunk(b"data: second\n\n").await;
                let _ = conn.end_chunks().await;
            }
        }
    })
    .await;
    let t = b.default_transport();
    let res = t.send(get(&server.url("/events"))).await.expect("response");
    let mut body = res.into_body();
    use http_body_util::BodyExt;
    let first = body
        .frame()
        .await
        .expect("a frame")
        .expect("ok")
        .into_data()
        .expect("data");
    assert_eq!(first, "data: first\n\n");
    tx.send(()).await.expect("server waits");
    let rest = body.collect().await.expect("rest").to_bytes();
    assert_eq!(rest, "data: second\n\n");
}

/// A transport returns redirects as they are: following is the client's job.
pub async fn no_redirect_following_in_transport(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(_)) = conn.read_request().await {
            let _ = conn
                .respond(302, &[("location", b"/elsewhere")], b"moved")
                .await;
        }
    })
    .await;
    let t = b.default_transport();
    let res = t.send(get(&server.url("/from"))).await.expect("response");
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/elsewhere");
    assert_eq!(body_of(res).await.expect("body"), "moved");
    assert_eq!(server.requests().len(), 1);
}

/// A transport returns compressed bodies as they are, and adds no
/// `Accept-Encoding`: decompression is the client's job.
pub async fn no_decompression_in_transport(b: Backend) {
    // gzip of "hello" (fixed bytes)
    const GZ: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00\x00\x00";
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(_)) = conn.read_request().await {
            let _ = conn
                .respond(200, &[("content-encoding", b"gzip")], GZ)
                .await;
        }
    })
    .await;
    let t = b.default_transport();
    let res = t.send(get(&server.url("/gz"))).await.expect("response");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    assert_eq!(body_of(res).await.expect("body"), GZ);
    assert!(server.requests()[0]
        .headers
        .get("accept-encoding")
        .is_none());
}

/// How the server ends the connection after its early answer.
#[derive(Debug, Clone, Copy)]
enum EarlyEnd {
    /// nginx's lingering close: FIN, then the rest of the body read and
    /// dropped.
    Linger,
    /// FIN with the body unread (the kernel then resets the connection).
    Close,
    /// RST at once.
    Reset,
}

/// The server answers 413 after reading 8 KiB of a 10 MiB upload, then ends
/// the connection (lingering, closing, or resetting it): the 413 arrived complete, so it is the
/// answer, on every backend, whether the body was buffered or streamed.
pub async fn round_trip_early_response_during_upload(b: Backend) {
    for end in [EarlyEnd::Linger, EarlyEnd::Close, EarlyEnd::Reset] {
        let server = TestServer::start(move |mut conn: ServerConn| async move {
            if conn.read_head_only().await.ok().flatten().is_none() {
                return;
            }
            let _ = conn.discard(8 * 1024).await;
            let _ = conn
                .respond(413, &[("connection", b"close")], b"too large")
                .await;
            match end {
                EarlyEnd::Linger => conn.linger_close(Duration::from_secs(5)).await,
                EarlyEnd::Close => conn.close().await,
                EarlyEnd::Reset => conn.reset(),
            }
        })
        .await;
        let t = b.default_transport();
        let data = pattern(10 * 1024 * 1024);
        for round in 0..3 {
            let streamed = Body::from_stream(futures_util::stream::iter(
                data.chunks(64 * 1024)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            ));
            for (what, body) in [
                ("buffered", Body::from(data.clone())),
                ("streamed", streamed),
            ] {
                let got = t
                    .send(req(Method::POST, &server.url("/upload"), body))
                    .await;
                let res = match got {
                    Err(e)
                        if !matches!(end, EarlyEnd::Linger)
                            && !t.capabilities().early_response_survives_reset =>
                    {
                        // the documented deviation: the reset beat the
                        // answer to the library
                        assert_eq!(e.kind(), ErrorKind::Write, "{what}, {end:?}: {e:?}");
                        assert!(e.request_sent());
                        continue;
                    }
                    got => got.unwrap_or_else(|e| {
                        panic!("{what}, {end:?}, round {round}: the 413 is the answer: {e:?}")
                    }),
                };
                assert_eq!(res.status(), 413, "{what}, {end:?}");
                assert_eq!(body_of(res).await.expect("body"), "too large");
            }
        }
    }
}
