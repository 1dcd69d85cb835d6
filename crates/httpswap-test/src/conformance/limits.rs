//! Pool limits: sockets at the server, idle connections kept, expiry, file descriptors.

use super::*;

/// 50 concurrent requests with max_connections = 8: the server never
/// handles more than 8 at once, every request succeeds, and it never sees
/// more than 8 sockets at once (with [`httpswap_core::Capabilities::socket_limit`]; without
/// it, idle keep-alive sockets come on top: at most 8 + 8).
pub async fn limit_max_connections_bounds_sockets(b: Backend) {
    let active = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (a2, p2) = (active.clone(), peak.clone());
    let server = TestServer::start(move |mut conn: ServerConn| {
        let (active, peak) = (a2.clone(), p2.clone());
        async move {
            while let Ok(Some(req)) = conn.read_request().await {
                let now = active.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(ms(15)).await;
                active.fetch_sub(1, Ordering::SeqCst);
                if echo(&mut conn, &req).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let t = b.build(base().pool_max_connections(8).pool_max_keepalive(8));
    let mut tasks = Vec::new();
    for i in 0..50 {
        let t = t.clone();
        let url = server.url(&format!("/n/{i}"));
        tasks.push(tokio::spawn(async move {
            let res = t.send(get(&url)).await?;
            let status = res.status();
            body_of(res).await?;
            Ok::<_, Error>(status)
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").expect("request"), 200);
    }
    assert!(
        peak.load(Ordering::SeqCst) <= 8,
        "{} requests at once",
        peak.load(Ordering::SeqCst)
    );
    let socket_bound = if t.capabilities().socket_limit { 8 } else { 16 };
    assert!(
        server.stats().max_open() <= socket_bound,
        "server saw {} sockets at once ({} accepted in all)",
        server.stats().max_open(),
        server.stats().accepted()
    );
    assert!(server.stats().accepted() >= 2, "requests ran concurrently");
    assert_eq!(server.requests().len(), 50);
}

/// After a burst on 6 connections with max_keepalive = 2, only 2 stay open.
pub async fn limit_max_keepalive_closes_extras(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        echo_loop(&mut conn, |_| ms(50)).await;
    })
    .await;
    let t = b.build(base().pool_max_connections(6).pool_max_keepalive(2));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let t = t.clone();
        let url = server.url("/k");
        tasks.push(tokio::spawn(async move {
            body_of(t.send(get(&url)).await?).await
        }));
    }
    for task in tasks {
        task.await.expect("task").expect("request");
    }
    assert_eq!(server.stats().accepted(), 6);
    eventually("extra idle connections are closed", || {
        server.stats().open() == 2
    })
    .await;
}

/// `max_keepalive = 1` while one long request keeps a connection busy:
/// three short requests in a row share one more connection where the
/// limit counts idle connections only (2 accepted in all); where it counts
/// busy ones too (curl's cache: `keepalive_limit_counts_idle_only`), each
/// short request's connection is closed when it ends, so each opens one
/// (4 accepted).
pub async fn limit_max_keepalive_while_others_busy(b: Backend) {
    let release = Arc::new(tokio::sync::Notify::new());
    let server = TestServer::start({
        let release = release.clone();
        move |mut conn: ServerConn| {
            let release = release.clone();
            async move {
                while let Ok(Some(req)) = conn.read_request().await {
                    if req.target == "/long" {
                        let _ =
                            tokio::time::timeout(Duration::from_secs(5), release.notified()).await;
                    }
                    if echo(&mut conn, &req).await.is_err() {
                        return;
                    }
                }
            }
        }
    })
    .await;
    let t = b.build(base().pool_max_connections(4).pool_max_keepalive(1));
    let long = tokio::spawn({
        let (t, url) = (t.clone(), server.url("/long"));
        async move { body_of(t.send(get(&url)).await?).await }
    });
    for _ in 0..200 {
        if server.requests().iter().any(|r| r.target == "/long") {
            break;
        }
        tokio::time::sleep(ms(5)).await;
    }
    for i in 0..3 {
        let res = t
            .send(get(&server.url(&format!("/short/{i}"))))
            .await
            .expect("short");
        body_of(res).await.expect("body");
        if !t.capabilities().reuse_known_at_checkout {
            // the library gives the connection back from a task of its own
            tokio::time::sleep(ms(20)).await;
        }
    }
    release.notify_one();
    assert_eq!(long.await.expect("task").expect("long").as_ref(), b"");
    let caps = t.capabilities();
    let accepted = server.stats().accepted();
    if caps.keepalive_limit_counts_idle_only {
        // a library that gives connections back from a task of its own may,
        // on a starved machine, miss one hand-back despite the pause
        let most = if caps.reuse_known_at_checkout { 2 } else { 3 };
        assert!((2..=most).contains(&accepted), "accepted {accepted}");
    } else {
        assert_eq!(accepted, 4);
    }
}

/// An idle connection older than keepalive_expiry is closed, not reused.
pub async fn limit_keepalive_expiry_not_reused(b: Backend) {
    let closed = Arc::new(AtomicUsize::new(0));
    let c2 = closed.clone();
    let server = TestServer::start(move |mut conn: ServerConn| {
        let closed = c2.clone();
        async move {
            echo_loop(&mut conn, |_| Duration::ZERO).await;
            closed.fetch_add(1, Ordering::SeqCst);
        }
    })
    .await;
    let t = b.build(base().pool_keepalive_expiry(ms(100)));
    body_of(t.send(get(&server.url("/1"))).await.expect("first"))
        .await
        .expect("body");
    if t.capabilities().closes_expired_idle {
        eventually("the expired connection is closed by the client", || {
            closed.load(Ordering::SeqCst) == 1
        })
        .await;
    } else {
        // whole seconds, closed when the next request looks at the pool:
        // let it expire (100 ms rounds up to 1 s)
        tokio::time::sleep(ms(1100)).await;
        assert_eq!(closed.load(Ordering::SeqCst), 0, "not closed while idle");
    }
    body_of(t.send(get(&server.url("/2"))).await.expect("second"))
        .await
        .expect("body");
    eventually("the expired connection is closed", || {
        closed.load(Ordering::SeqCst) >= 1
    })
    .await;
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.connection == 0)
            .count()
            == 1,
        "the expired connection was not reused"
    );
}

/// New connections work when the process has more than 1024 files open
/// (a library that waits on sockets with `select()` cannot watch a file
/// descriptor past `FD_SETSIZE`: the isahc backend's curl does unless built
/// with `HAVE_POLL`, as this workspace builds it). Where it cannot
/// (capability `sockets_past_fd_1024` false), the error says why.
pub async fn limit_file_descriptors_past_1024(b: Backend) {
    let held = hold_file_descriptors(1100);
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (t, url) = (t.clone(), server.url(&format!("/{i}")));
        tasks.push(tokio::spawn(async move {
            body_of(t.send(get(&url)).await?).await
        }));
    }
    for task in tasks {
        let got = task.await.expect("task");
        if t.capabilities().sockets_past_fd_1024 {
            got.expect("a connection past fd 1024");
        } else {
            let err = got.expect_err("the documented deviation");
            assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
            assert!(err.to_string().contains("HAVE_POLL"), "{err}");
        }
    }
    drop(held);
}

/// Opens `/dev/null` until `n` more files are open.
///
/// # Panics
///
/// When the process may not open that many files: raise `ulimit -n`.
fn hold_file_descriptors(n: usize) -> Vec<std::fs::File> {
    (0..n)
        .map(|_| {
            std::fs::File::open("/dev/null").unwrap_or_else(|e| {
                panic!("cannot hold {n} more open files ({e}): raise the open-files limit (ulimit -n 4096)")
            })
        })
        .collect()
}

/// `max_connections_per_host`: requests to one origin beyond it wait (and
/// time out with `PoolTimeout`), counted as requests in flight at the
/// server, while another origin is served at once; sockets too where the
/// backend bounds them ([`httpswap_core::Capabilities::socket_limit`]).
pub async fn limit_max_connections_per_host(b: Backend) {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (f, m) = (in_flight.clone(), most.clone());
    let slow = TestServer::start(move |mut conn: ServerConn| {
        let (in_flight, most) = (f.clone(), m.clone());
        async move {
            while let Ok(Some(req)) = conn.read_request().await {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(ms(100)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                if echo(&mut conn, &req).await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let other = TestServer::echo().await;
    let t = b.build(
        base()
            .pool_max_connections(10)
            .pool_max_keepalive(10)
            .pool_max_connections_per_host(2),
    );
    slow.stats().set_recording(true);
    let burst = (0..6).map(|i| {
        let t = t.clone();
        let url = slow.url(&format!("/{i}"));
        async move { body_of(t.send(get(&url)).await?).await }
    });
    let others = async {
        // sent while the slow origin is full: not held back by it
        tokio::time::sleep(ms(20)).await;
        body_of(t.send(get(&other.url("/other"))).await?).await
    };
    let (burst, other_result) = tokio::join!(futures_util::future::join_all(burst), others);
    for r in burst {
        r.expect("every request, two at a time");
    }
    other_result.expect("the other origin");
    // at most two at a time (exactly two on an idle machine; a loaded one
    // may not get the second there before the first is answered)
    let most = most.load(Ordering::SeqCst);
    assert!((1..=2).contains(&most), "{most} requests at a time");
    if t.capabilities().socket_limit {
        assert!(slow.stats().max_open() <= 2, "{}", slow.stats().max_open());
    }

    // a request held at the limit (its body not ended) makes the next one
    // to its origin time out with PoolTimeout
    let finish = Arc::new(tokio::sync::Notify::new());
    let f = finish.clone();
    let holding = TestServer::start(move |mut conn: ServerConn| {
        let finish = f.clone();
        async move {
            while let Ok(Some(_)) = conn.read_request().await {
                let head = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\no";
                if conn.write(head).await.is_err() {
                    return;
                }
                finish.notified().await;
                if conn.write(b"k").await.is_err() {
                    return;
                }
            }
        }
    })
    .await;
    let t = b.build(base().pool_max_connections_per_host(1).timeout_pool(ms(50)));
    let held = t.send(get(&holding.url("/held"))).await.expect("first");
    let err = t
        .send(get(&holding.url("/waits")))
        .await
        .expect_err("the origin is at its limit");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");
    finish.notify_one();
    assert_eq!(body_of(held).await.expect("body"), "ok");
}

/// `max_lifetime`: a connection older than it is not reused, however
/// recently it was idle. A backend that cannot tell a connection's age
/// refuses the setting when built
/// ([`httpswap_core::Capabilities::max_lifetime`]).
pub async fn limit_max_lifetime_not_reused(b: Backend) {
    let server = TestServer::echo().await;
    let config = base().pool_max_lifetime(ms(1500));
    if !b.default_transport().capabilities().max_lifetime {
        let err = b.try_build(config).expect_err("refused when built");
        assert_eq!(err.kind(), ErrorKind::Builder, "{err:?}");
        assert!(err.to_string().contains("max_lifetime"), "{err}");
        return;
    }
    let t = b.build(config);
    let caps = t.capabilities();
    body_of(t.send(get(&server.url("/1"))).await.expect("first"))
        .await
        .expect("body");
    settle(&caps).await;
    body_of(t.send(get(&server.url("/2"))).await.expect("second"))
        .await
        .expect("body");
    assert_eq!(server.stats().accepted(), 1, "reused within its lifetime");
    // idle far less than the keep-alive expiry (5 s), but past the lifetime
    tokio::time::sleep(ms(1600)).await;
    body_of(t.send(get(&server.url("/3"))).await.expect("third"))
        .await
        .expect("body");
    assert_eq!(server.stats().accepted(), 2, "a new connection past it");
}

/// A response's `Keep-Alive: timeout=1` shortens its connection's idle
/// expiry (to half a second: the timeout less the margin) where the
/// backend honours it ([`httpswap_core::Capabilities::honours_keep_alive_hint`]);
/// elsewhere the connection, still open, is reused within
/// `keepalive_expiry` (5 s).
pub async fn limit_keep_alive_hint_shortens_expiry(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(_)) = conn.read_request().await {
            let answer = conn
                .respond(200, &[("keep-alive", b"timeout=1, max=100")], b"ok")
                .await;
            if answer.is_err() {
                return;
            }
        }
    })
    .await;
    let t = b.build(base());
    body_of(t.send(get(&server.url("/1"))).await.expect("first"))
        .await
        .expect("body");
    tokio::time::sleep(ms(800)).await;
    body_of(t.send(get(&server.url("/2"))).await.expect("second"))
        .await
        .expect("body");
    let want = if t.capabilities().honours_keep_alive_hint {
        2
    } else {
        1
    };
    assert_eq!(server.stats().accepted(), want);
}

/// A `keepalive_expiry` of `Duration::MAX` (keep idle connections for good)
/// is no expiry, not a panic (a deadline `now + expiry` overflows the
/// clock): sequential requests, with a pause between, share one
/// connection.
pub async fn limit_keepalive_expiry_beyond_any_clock(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.build(base().pool_keepalive_expiry(Duration::MAX));
    for n in 0..3 {
        let res = t.send(get(&server.url("/k"))).await.expect("a GET");
        assert_eq!(res.status(), 200, "request {n}");
        body_of(res).await.expect("its body");
        tokio::time::sleep(ms(20)).await;
    }
    assert_eq!(server.requests().len(), 3);
    assert_eq!(server.stats().accepted(), 1, "the connection was not kept");
}
