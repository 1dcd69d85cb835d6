//! Each timeout fails with its own kind, in time, and only when it should.

use super::*;

/// A listener whose accept queue is full drops SYNs: ConnectTimeout.
pub async fn timeout_connect_backlog_full(b: Backend) {
    let (addr, _held) = backlog_full().await;
    let t = b.build(base().timeout_connect(ms(200)));
    let started = std::time::Instant::now();
    let err = t
        .send(get(&format!("http://{addr}/")))
        .await
        .expect_err("cannot connect");
    assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{err:?}");
    assert!(err.is_timeout() && !err.request_sent());
    assert!(started.elapsed() >= ms(190), "timed out too early");
}

/// A per-request connect timeout: honoured when the backend says so
/// ([`httpswap_core::Capabilities::connect_timeout_per_request`]), and then the request
/// with the shorter override fails first; otherwise the transport's
/// timeout applies to both.
pub async fn timeout_connect_per_request_override(b: Backend) {
    let (addr, _held) = backlog_full().await;
    let t = b.build(base().timeout_connect(ms(300)));
    let caps = t.capabilities();
    let url = format!("http://{addr}/");
    let order = Arc::new(Mutex::new(Vec::new()));
    let run = |name: &'static str, connect: Option<Duration>| {
        let (t, url, order) = (t.clone(), url.clone(), order.clone());
        async move {
            let mut r = get(&url);
            if let Some(c) = connect {
                r.extensions_mut().insert(httpswap_core::Timeouts {
                    connect: Some(c),
                    ..httpswap_core::Timeouts::all(Some(Duration::from_secs(2)))
                });
            }
            let started = std::time::Instant::now();
            let err = t.send(r).await.expect_err("cannot connect");
            order.lock().expect("lock").push(name);
            assert_eq!(err.kind(), ErrorKind::ConnectTimeout, "{name}: {err:?}");
            started.elapsed()
        }
    };
    let (short, _) = tokio::join!(run("override", Some(ms(30))), run("transport", None));
    let order = order.lock().expect("lock").clone();
    if caps.connect_timeout_per_request {
        assert_eq!(order, ["override", "transport"]);
    } else {
        assert!(
            short >= ms(290),
            "the transport's timeout applies: {short:?}"
        );
    }
}

/// The server reads the request and never answers: ReadTimeout.
pub async fn timeout_read_no_headers(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let _ = conn.read_request().await;
        conn.wait_closed(Duration::from_secs(5)).await;
    })
    .await;
    let t = b.build(base().timeout_read(ms(150)));
    let err = t
        .send(get(&server.url("/")))
        .await
        .expect_err("no response");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{err:?}");
    assert!(err.request_sent());
}

/// Headers and part of the body arrive, then nothing: ReadTimeout while
/// reading the body, never a short body returned as complete.
pub async fn timeout_read_body_stalls(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let _ = conn.read_request().await;
        let _ = conn
            .write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst part")
            .await;
        conn.wait_closed(Duration::from_secs(5)).await;
    })
    .await;
    let t = b.build(base().timeout_read(ms(150)));
    let res = t.send(get(&server.url("/"))).await.expect("head arrives");
    let err = body_of(res).await.expect_err("body stalls");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{err:?}");
}

/// A body that drips more slowly than it would take in total, but with
/// gaps under the read timeout, completes: the read timeout is a gap.
pub async fn timeout_read_slow_drip_under_limit_completes(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        if let Ok(Some(_)) = conn.read_request().await {
            let _ = conn.start_chunked(&[]).await;
            for i in 0..8 {
                tokio::time::sleep(ms(40)).await;
                let _ = conn.chunk(format!("drop{i};").as_bytes()).await;
            }
            let _ = conn.end_chunks().await;
        }
    })
    .await;
    let t = b.build(base().timeout_read(ms(200)));
    let res = t.send(get(&server.url("/drip"))).await.expect("response");
    let body = body_of(res).await.expect("drip completes");
    assert_eq!(body, "drop0;drop1;drop2;drop3;drop4;drop5;drop6;drop7;");
}

/// An upload that takes longer than the read timeout (but never stalls
/// longer than the write timeout) is not a read timeout.
pub async fn timeout_read_does_not_cover_a_slow_upload(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.build(base().timeout_read(ms(150)));
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 6 {
            return None;
        }
        tokio::time::sleep(ms(50)).await;
        Some((Ok::<_, std::io::Error>(Bytes::from(format!("c{i}"))), i + 1))
    });
    let res = t
        .send(req(
            Method::POST,
            &server.url("/up"),
            Body::from_stream(chunks),
        ))
        .await
        .expect("slow upload is fine");
    assert_eq!(body_of(res).await.expect("body"), "c0c1c2c3c4c5");
}

/// The server never reads a large upload: WriteTimeout.
pub async fn timeout_write_server_never_reads(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let _ = conn.read_head_only().await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    })
    .await;
    let t = b.build(
        base()
            .timeout_write(ms(150))
            .timeout_read(Duration::from_secs(5)),
    );
    let data = pattern(64 * 1024 * 1024);
    let err = t
        .send(req(Method::POST, &server.url("/sink"), data))
        .await
        .expect_err("write stalls");
    assert_eq!(err.kind(), ErrorKind::WriteTimeout, "{err:?}");
}

/// With one connection allowed and held, the next request waits for the
/// pool timeout and gets PoolTimeout.
pub async fn timeout_pool_when_the_only_slot_is_held(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        if let Ok(Some(_)) = conn.read_request().await {
            let _ = conn
                .write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nheld")
                .await;
            conn.wait_closed(Duration::from_secs(5)).await;
        }
    })
    .await;
    let t = b.build(
        base()
            .pool_max_connections(1)
            .pool_max_keepalive(1)
            .timeout_pool(ms(150)),
    );
    let held = t
        .send(get(&server.url("/a")))
        .await
        .expect("first request gets the slot");
    let err = t.send(get(&server.url("/b"))).await.expect_err("no slot");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");
    assert!(!err.request_sent());
    assert_eq!(server.stats().accepted(), 1);
    drop(held);
}

/// A `Timeouts` in the request's extensions overrides the transport's.
pub async fn timeout_per_request_override(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let _ = conn.read_request().await;
        conn.wait_closed(Duration::from_secs(5)).await;
    })
    .await;
    let t = b.build(base().timeout_read(Duration::from_secs(10)));
    let mut r = get(&server.url("/"));
    r.extensions_mut().insert(httpswap_core::Timeouts {
        read: Some(ms(100)),
        ..Default::default()
    });
    let err = t.send(r).await.expect_err("override applies");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout);
}

/// A `TimeoutOverrides` in a request's extensions changes only the
/// timeouts it sets: its read timeout fires while the transport's pool
/// timeout still applies (a second request waits for the one slot and
/// times out with `PoolTimeout` after the transport's 200 ms); a zero
/// override is refused with `Builder` before anything is sent.
pub async fn timeout_partial_override_keeps_the_others(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let _ = conn.read_request().await;
        conn.wait_closed(Duration::from_secs(5)).await;
    })
    .await;
    let t = b.build(
        base()
            .timeout_read(Duration::from_secs(10))
            .timeout_pool(ms(200))
            .pool_max_connections(1)
            .pool_max_keepalive(1),
    );
    let with = |o: httpswap_core::TimeoutOverrides| {
        let mut r = get(&server.url("/"));
        r.extensions_mut().insert(o);
        r
    };
    let read_only = httpswap_core::TimeoutOverrides::default().read(ms(1500));
    let first = t.send(with(read_only));
    let second = async {
        // once the first holds the one slot (its connection accepted)
        eventually("the first request connected", || {
            server.stats().accepted() == 1
        })
        .await;
        t.send(with(read_only)).await
    };
    let (first, second) = tokio::join!(first, second);
    let err = first.expect_err("the overridden read timeout");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{err:?}");
    let err = second.expect_err("the transport's pool timeout");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");

    let zero = httpswap_core::TimeoutOverrides::default().read(Duration::ZERO);
    let err = t.send(with(zero)).await.expect_err("a zero read timeout");
    assert_eq!(err.kind(), ErrorKind::Builder, "{err:?}");
    assert!(!err.request_sent());
    assert!(err.to_string().contains("read timeout is zero"), "{err}");
    assert_eq!(server.stats().accepted(), 1, "nothing more was sent");
}

/// The read timeout counts afresh for every request on a kept-alive
/// connection: the timer of the request before (a shorter limit, long past
/// while the connection was idle) neither fails a later, slower answer,
/// nor keeps a later, shorter limit from firing.
pub async fn timeout_read_afresh_on_a_reused_connection(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        echo_loop(&mut conn, |r| match r.target.as_str() {
            "/slow" => ms(300),
            // answered in 2 s: before the 5 s limit of the requests before
            // would fire, had the timer not been set again
            "/stall" => Duration::from_secs(2),
            _ => Duration::ZERO,
        })
        .await;
    })
    .await;
    let t = b.build(base().timeout_read(Duration::from_secs(5)));
    let with_read = |path: &str, read: Duration| {
        let mut r = get(&server.url(path));
        r.extensions_mut().insert(httpswap_core::Timeouts {
            read: Some(read),
            ..Default::default()
        });
        r
    };
    // the connection is made, then a request with a 100 ms limit on it
    let res = t.send(get(&server.url("/warm"))).await.expect("warm");
    body_of(res).await.expect("warm body");
    let res = t.send(with_read("/fast", ms(100))).await.expect("fast");
    body_of(res).await.expect("fast body");
    // its 100 ms pass while the connection is idle
    tokio::time::sleep(ms(250)).await;
    let res = t
        .send(get(&server.url("/slow")))
        .await
        .expect("slow, under 5 s");
    assert_eq!(body_of(res).await.expect("slow body"), "");
    // the connection back in every backend's idle pool first: reqwest's
    // (hyper-util's) takes a connection back on a task of its own a moment
    // after the body ended, and a request sent before that may open a new
    // one (seen once in CI); this scenario is about the timer of a reused
    // connection, not about how soon it is reused
    tokio::time::sleep(ms(50)).await;
    let err = t
        .send(with_read("/stall", ms(100)))
        .await
        .expect_err("a 100 ms limit after a 5 s one");
    assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{err:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests.iter().all(|r| r.connection == 0),
        "one connection carried them all: {:?}",
        requests.iter().map(|r| r.connection).collect::<Vec<_>>()
    );
}

/// The total deadline bounds the wait for the head and the reading of a
/// body that keeps moving (so no gap timeout would fire): Timeout.
pub async fn timeout_total_bounds_head_and_body(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(req)) = conn.read_request().await {
            if req.target == "/silent" {
                conn.wait_closed(Duration::from_secs(5)).await;
                return;
            }
            let _ = conn.start_chunked(&[]).await;
            for _ in 0..50 {
                tokio::time::sleep(ms(20)).await;
                if conn.chunk(b"tick").await.is_err() {
                    return;
                }
            }
            let _ = conn.end_chunks().await;
        }
    })
    .await;
    let t = b.build(
        base()
            .timeout_read(Duration::from_secs(1))
            .timeout_total(ms(200)),
    );
    let err = t
        .send(get(&server.url("/silent")))
        .await
        .expect_err("no head in time");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    let res = t
        .send(get(&server.url("/drip")))
        .await
        .expect("head in time");
    let err = body_of(res).await.expect_err("body outlives the deadline");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(err.is_timeout());
}

/// Timeouts of `Duration::MAX` (a way some users write "never") are waits
/// without end, not a panic: a deadline `now + limit` overflows the clock.
/// All five set so, and a total one too: a GET and a POST with a body,
/// twice (the second time on the kept connection).
pub async fn timeout_beyond_any_clock_is_no_limit(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.build(base().timeouts(httpswap_core::Timeouts {
        total: Some(Duration::MAX),
        ..httpswap_core::Timeouts::all(Some(Duration::MAX))
    }));
    for round in 0..2 {
        let res = t.send(get(&server.url("/get"))).await.expect("a GET");
        assert_eq!(res.status(), 200, "round {round}");
        body_of(res).await.expect("its body");
        let res = t
            .send(req(Method::POST, &server.url("/post"), pattern(100_000)))
            .await
            .expect("a POST");
        assert_eq!(res.status(), 200, "round {round}");
        let echoed = body_of(res).await.expect("its body");
        assert!(!echoed.is_empty(), "round {round}");
    }
    assert_eq!(server.requests().len(), 4);
}
