//! Cancellation, events and statistics, and closing the transport.

use super::*;

/// Requests dropped at random points under load leak no pool slot: after
/// them, a request still gets a connection well within the pool timeout and
/// the server never saw more sockets than allowed.
pub async fn cancellation_leaks_no_slot(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        echo_loop(&mut conn, |req| ms(5 + (req.target.len() as u64 % 4) * 10)).await;
    })
    .await;
    let t = b.build(
        base()
            .pool_max_connections(4)
            .pool_max_keepalive(4)
            .timeout_pool(ms(500)),
    );
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        let t = t.clone();
        let url = server.url(&format!("/c/{}", "x".repeat(i as usize % 7)));
        let task = tokio::spawn(async move {
            let res = t.send(get(&url)).await?;
            body_of(res).await
        });
        tasks.push((task, i));
    }
    for (task, i) in tasks {
        if i % 3 == 0 {
            tokio::time::sleep(ms(i % 5)).await;
            task.abort();
        }
        let _ = task.await;
    }
    for _ in 0..4 {
        let res = t
            .send(get(&server.url("/after")))
            .await
            .expect("a slot is free");
        body_of(res).await.expect("body");
    }
    let socket_bound = if t.capabilities().socket_limit { 4 } else { 8 };
    assert!(
        server.stats().max_open() <= socket_bound,
        "saw {}",
        server.stats().max_open()
    );
    let stats = t.pool_stats();
    assert_eq!(stats.in_use, Some(0), "{stats:?}");
}

/// A request abandoned before its response head, with one connection
/// slot: where the backend frees it at once (`frees_abandoned_at_once`)
/// the next request gets the slot straight away; where it does not
/// (curl), the abandoned transfer keeps the slot, the next request fails
/// with PoolTimeout, and the slot comes back as soon as the server closes
/// that connection. Either way nothing leaks.
pub async fn cancellation_before_head_frees_slot(b: Backend) {
    let release = Arc::new(tokio::sync::Notify::new());
    let server = TestServer::start({
        let release = release.clone();
        move |mut conn: ServerConn| {
            let release = release.clone();
            async move {
                let Ok(Some(req)) = conn.read_request().await else {
                    return;
                };
                if req.target == "/stall" {
                    // no answer until told (bounded), then close
                    let _ = tokio::time::timeout(Duration::from_secs(5), release.notified()).await;
                    return;
                }
                if echo(&mut conn, &req).await.is_ok() {
                    serve_echo(conn).await;
                }
            }
        }
    })
    .await;
    let t = b.build(
        base()
            .pool_max_connections(1)
            .pool_max_keepalive(1)
            .timeout_pool(ms(100)),
    );
    let abandoned = tokio::time::timeout(ms(30), t.send(get(&server.url("/stall")))).await;
    assert!(abandoned.is_err(), "the server never answers /stall");
    let next = t.send(get(&server.url("/next"))).await;
    if t.capabilities().frees_abandoned_at_once {
        let res = next.expect("the abandoned request's slot is free at once");
        assert_eq!(res.headers()["x-target"], "/next");
        body_of(res).await.expect("body");
    } else {
        let err = next.expect_err("the abandoned transfer still holds the only slot");
        assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");
        release.notify_one();
        // the slot comes back once the library sees the close
        let mut r = get(&server.url("/after-close"));
        r.extensions_mut().insert(httpswap_core::Timeouts {
            pool: Some(Duration::from_secs(2)),
            ..httpswap_core::Timeouts::default()
        });
        let res = t.send(r).await.expect("the slot came back");
        assert_eq!(res.headers()["x-target"], "/after-close");
        body_of(res).await.expect("body");
    }
    assert_eq!(t.pool_stats().in_use, Some(0), "{:?}", t.pool_stats());
}

/// created, then reused; queued when a request waits for the one slot;
/// pool statistics add up.
pub async fn events_in_order_and_stats_add_up(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        echo_loop(&mut conn, |_| ms(30)).await;
    })
    .await;
    let rec = Arc::new(crate::EventLog::default());
    let t = b.build(
        base()
            .pool_max_connections(1)
            .pool_max_keepalive(1)
            .events(rec.clone()),
    );
    let origin = format!("http://127.0.0.1:{}", server.addr().port());
    let caps = t.capabilities();
    body_of(t.send(get(&server.url("/1"))).await.expect("1"))
        .await
        .expect("body");
    settle(&caps).await;
    body_of(t.send(get(&server.url("/2"))).await.expect("2"))
        .await
        .expect("body");
    settle(&caps).await;
    let (a, b2) = tokio::join!(
        async { body_of(t.send(get(&server.url("/3"))).await?).await },
        async {
            tokio::time::sleep(ms(5)).await;
            body_of(t.send(get(&server.url("/4"))).await?).await
        }
    );
    a.expect("3");
    b2.expect("4");
    let got = rec.connection_lines();
    let (created, reused, queued) = (
        format!("created {origin}"),
        format!("reused {origin}"),
        format!("queued {origin}"),
    );
    // /4 gets the connection /3 freed, except on a backend whose library
    // gives it back from a task of its own: there, /4 may have asked before
    // it was back and opened a second one (`reuse_known_at_checkout`)
    let fresh_fourth = !caps.reuse_known_at_checkout && got.last() == Some(&created);
    let fourth = if fresh_fourth { &created } else { &reused };
    if caps.reuse_known_at_checkout {
        assert_eq!(
            got,
            [&created, &reused, &reused, &queued, fourth].map(String::clone)
        );
    } else {
        // /3's reuse shows with its head, after /4 started waiting
        assert_eq!(
            got,
            [&created, &reused, &queued, &reused, fourth].map(String::clone)
        );
    }
    let stats = t.pool_stats();
    let created_count = if fresh_fourth { 2 } else { 1 };
    assert_eq!(stats.created, Some(created_count), "{stats:?}");
    assert_eq!(stats.reused, Some(4 - created_count), "{stats:?}");
    assert_eq!(stats.waited, Some(1), "{stats:?}");
    // a backend that cannot see its sockets says so with None
    let sockets = caps.socket_limit.then_some(1);
    assert_eq!(stats.open, sockets, "{stats:?}");
    assert_eq!(stats.idle, sockets, "{stats:?}");
    assert_eq!(stats.in_use, Some(0), "{stats:?}");
}

/// A request carrying a `CaptureConnection` learns its connection (id,
/// reused or not, its addresses, HTTP/2 or not), the same id again when
/// the connection is reused; poisoning it keeps it from being used again
/// (the next request opens a new one) where the backend can
/// (`poisons_connections`), and otherwise says it could not. Over HTTP/1
/// and HTTP/2 (h2c).
pub async fn lifecycle_connection_info_and_poisoning(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let caps = t.capabilities();
    let captured = |path: &str| {
        let mut r = get(&server.url(path));
        let capture = httpswap_core::CaptureConnection::capture(&mut r);
        (r, capture)
    };
    let (r, capture) = captured("/1");
    body_of(t.send(r).await.expect("1")).await.expect("body");
    let first = capture.get().expect("recorded");
    assert!(!first.reused && !first.http2 && !first.proxied, "{first:?}");
    assert_eq!(first.remote_addr, Some(server.addr()), "{first:?}");
    let local = first.local_addr.expect("a local address");
    assert!(local.ip().is_loopback() && local.port() != server.addr().port());
    settle(&caps).await;
    let (r, capture) = captured("/2");
    body_of(t.send(r).await.expect("2")).await.expect("body");
    let second = capture.get().expect("recorded");
    assert!(second.reused, "{second:?}");
    assert_eq!((second.id, second.local_addr), (first.id, Some(local)));
    assert_eq!(second.poison(), caps.poisons_connections);
    settle(&caps).await;
    let (r, capture) = captured("/3");
    body_of(t.send(r).await.expect("3")).await.expect("body");
    let third = capture.get().expect("recorded");
    if caps.poisons_connections {
        assert!(!third.reused && third.id != first.id, "{third:?}");
        assert_eq!(server.stats().accepted(), 2);
    } else {
        assert!(third.reused && third.id == first.id, "{third:?}");
        assert_eq!(server.stats().accepted(), 1);
    }
    // a request without a capture is not slowed by any of this, and works
    body_of(t.send(get(&server.url("/4"))).await.expect("4"))
        .await
        .expect("body");

    // HTTP/2: the same, a poisoned connection taking no new stream
    let h2 = H2Server::start(None).await;
    let t = b.build(base().http2_prior_knowledge(true));
    let mut r = get(&h2.url("/a"));
    let capture = httpswap_core::CaptureConnection::capture(&mut r);
    body_of(t.send(r).await.expect("h2 a")).await.expect("body");
    let a = capture.get().expect("recorded");
    // (not `reused`: see below)
    assert!(a.http2, "{a:?}");
    assert_eq!(a.remote_addr, Some(h2.addr()), "{a:?}");
    assert_eq!(a.poison(), caps.poisons_connections);
    let mut r = get(&h2.url("/b"));
    let capture = httpswap_core::CaptureConnection::capture(&mut r);
    body_of(t.send(r).await.expect("h2 b")).await.expect("body");
    let b2 = capture.get().expect("recorded");
    if caps.poisons_connections {
        // (whether a stream on an HTTP/2 connection made while the request
        // waited counts as reused is the backend's events' call: hyper's
        // pool may hand the new connection out as a shared one, even to
        // the request that had it made)
        assert!(b2.id != a.id, "{b2:?}");
        assert_eq!(h2.accepted(), 2);
    } else {
        assert!(b2.reused && b2.id == a.id, "{b2:?}");
        assert_eq!(h2.accepted(), 1);
    }
}

/// After `close`, requests fail with Closed and idle sockets are closed.
pub async fn close_refuses_new_requests(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    body_of(t.send(get(&server.url("/"))).await.expect("open"))
        .await
        .expect("body");
    t.close().await;
    let err = t.send(get(&server.url("/"))).await.expect_err("closed");
    assert_eq!(err.kind(), ErrorKind::Closed, "{err:?}");
    eventually("idle connection closed", || server.stats().open() == 0).await;
}

/// A request sent from a thread without a tokio runtime (a `futures`
/// executor; an OpenTelemetry batch exporter's thread) is answered, its
/// body read there too, through the transport and through `Client`: it
/// runs on httpswap's own runtime instead of panicking.
pub async fn lifecycle_send_outside_a_tokio_runtime(b: Backend) {
    // the body comes 50 ms after the head, so that reading it waits (with
    // its read-gap timer) on the caller's thread
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(req)) = conn.read_request().await {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                req.body.len()
            );
            if conn.write(head.as_bytes()).await.is_err() {
                return;
            }
            tokio::time::sleep(ms(50)).await;
            if conn.write(&req.body).await.is_err() {
                return;
            }
        }
    })
    .await;
    let t = b.default_transport();
    let client = httpswap::Client::builder()
        .transport(t.clone())
        .build()
        .expect("client");
    let url = server.url("/outside");
    let answers = std::thread::spawn(move || {
        crate::block_on(async move {
            let res = t.send(req(Method::POST, &url, "one")).await?;
            let one = body_of(res).await?;
            let res = client.post(&url).body("two").send().await?;
            let two = res.into_body().collect_bytes().await?;
            Ok::<_, Error>((one, two))
        })
    })
    .join()
    .expect("no panic on a thread without a runtime")
    .expect("answered");
    assert_eq!(answers, (Bytes::from("one"), Bytes::from("two")));
}
