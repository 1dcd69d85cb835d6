//! HTTP/2 by ALPN and by prior knowledge.

use super::*;

/// With HTTP/2 enabled, ALPN picks h2 over TLS; requests share one connection.
pub async fn http2_alpn_over_tls(b: Backend) {
    let ca = TestCa::new();
    let server = H2Server::start(Some(&ca)).await;
    let t = b.build(
        base()
            .http2(true)
            .tls_root_certificate(Certificate::from_der(ca.ca_der())),
    );
    for i in 0..3 {
        let res = t
            .send(req(Method::POST, &server.url("/h2"), format!("n{i}")))
            .await
            .expect("h2");
        assert_eq!(res.version(), Version::HTTP_2);
        assert_eq!(res.headers()["x-version"], "HTTP/2.0");
        assert_eq!(body_of(res).await.expect("body"), format!("n{i}"));
    }
    assert_eq!(server.accepted(), 1);
}

/// h2c with prior knowledge on `http://`.
pub async fn http2_prior_knowledge(b: Backend) {
    let server = H2Server::start(None).await;
    let t = b.build(base().http2_prior_knowledge(true));
    let res = t.send(get(&server.url("/h2c"))).await.expect("h2c");
    assert_eq!(res.version(), Version::HTTP_2);
    assert_eq!(res.headers()["x-method"], "GET");
}

/// An HTTP/2 server killed and restarted on the same port under an idle
/// connection (TLS and h2c): the next GETs succeed, on a new connection,
/// whether they are sent at once or a little later.
pub async fn http2_server_restarted_under_an_idle_connection(b: Backend) {
    let ca = TestCa::new();
    for tls in [false, true] {
        for pause in [ms(0), ms(50)] {
            let mut server = H2Server::start(tls.then_some(&ca)).await;
            let config = if tls {
                base()
                    .http2(true)
                    .tls_root_certificate(Certificate::from_der(ca.ca_der()))
            } else {
                base().http2_prior_knowledge(true)
            };
            let t = b.build(config);
            let res = t.send(get(&server.url("/before"))).await.expect("first");
            assert_eq!(res.version(), Version::HTTP_2);
            body_of(res).await.expect("body");
            server = server.restart().await;
            tokio::time::sleep(pause).await;
            for i in 0..3 {
                let what = format!("tls {tls}, {pause:?} after the restart, GET {i}");
                let res = t
                    .send(get(&server.url("/after")))
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e:?}"));
                body_of(res).await.expect("body");
            }
            assert_eq!(server.accepted(), 2, "one new connection");
        }
    }
}

/// The HTTP/2 server dies once it read a GET on a reused connection (no
/// answer, no GOAWAY): the GET is sent again, once, on a new connection
/// (TLS and h2c). A POST with a body is not, and fails.
pub async fn http2_connection_dies_under_a_request(b: Backend) {
    let ca = TestCa::new();
    for tls in [false, true] {
        let server = H2Server::start(tls.then_some(&ca)).await;
        let config = if tls {
            base()
                .http2(true)
                .tls_root_certificate(Certificate::from_der(ca.ca_der()))
        } else {
            base().http2_prior_knowledge(true)
        };
        let t = b.build(config);
        body_of(t.send(get(&server.url("/first"))).await.expect("first"))
            .await
            .expect("body");
        let res = t
            .send(get(&server.url("/die-on-reuse")))
            .await
            .unwrap_or_else(|e| panic!("tls {tls}: sent again on a new connection: {e:?}"));
        assert_eq!(res.version(), Version::HTTP_2);
        body_of(res).await.expect("body");
        assert_eq!(server.accepted(), 2, "tls {tls}: one new connection");
        // a connection that carried a request, for the POST to reuse
        body_of(t.send(get(&server.url("/warm"))).await.expect("warm"))
            .await
            .expect("body");
        let before = server.accepted();
        let err = t
            .send(req(Method::POST, &server.url("/die-on-reuse"), "once"))
            .await
            .expect_err("a POST is never sent twice");
        assert!(err.request_sent(), "{err:?}");
        assert_eq!(server.accepted(), before, "tls {tls}: not sent again");
    }
}

/// The server answers a new stream on an idle HTTP/2 connection with a
/// GOAWAY naming an earlier stream as the last it processed, and closes
/// (a server closing the idle connection as the request crossed it, as
/// haproxy did): that stream was not processed (RFC 9113 8.7), and the GET
/// is sent again, once, on a new connection.
pub async fn http2_goaway_crossing_a_new_stream(b: Backend) {
    let server = crate::h2c_goaway_after_first_stream().await;
    let t = b.build(base().http2_prior_knowledge(true));
    let first = t.send(get(&server.url("/first"))).await.expect("first");
    assert_eq!(first.version(), Version::HTTP_2);
    body_of(first).await.expect("first body");
    let res = t
        .send(get(&server.url("/crossed")))
        .await
        .unwrap_or_else(|e| panic!("sent again on a new connection: {e:?}"));
    assert_eq!(res.status(), 200);
    body_of(res).await.expect("body");
    assert_eq!(server.stats().accepted(), 2, "one new connection");
}

/// 50 requests at once to a cold HTTP/2 origin (TLS with ALPN, and h2c by
/// prior knowledge) share one connection: the requests wait for the
/// connection being made instead of each opening its own.
pub async fn http2_cold_origin_shares_one_connection(b: Backend) {
    let ca = TestCa::new();
    for tls in [false, true] {
        let server = H2Server::start(tls.then_some(&ca)).await;
        let config = if tls {
            base()
                .http2(true)
                .tls_root_certificate(Certificate::from_der(ca.ca_der()))
        } else {
            base().http2_prior_knowledge(true)
        };
        let t = b.build(config);
        let sends = (0..50).map(|i| {
            let (t, url) = (t.clone(), server.url(&format!("/{i}")));
            async move { body_of(t.send(get(&url)).await?).await }
        });
        for got in futures_util::future::join_all(sends).await {
            got.expect("a response");
        }
        assert_eq!(server.accepted(), 1, "tls {tls}: one connection for all");
    }
}

/// A server that allows 4 concurrent streams, 12 slow requests at once:
/// every request is answered, on at least 3 connections where the backend
/// opens more beyond the limit (hyper fills each to the limit; curl opens
/// connections for the requests beyond it), on the one connection where
/// it queues (reqwest;
/// [`httpswap_core::Capabilities::opens_connections_beyond_stream_limit`]).
pub async fn http2_beyond_the_servers_stream_limit(b: Backend) {
    let server = H2Server::start_with(None, Some(4)).await;
    let t = b.build(base().http2_prior_knowledge(true));
    // a first request, so that the connection and its settings are known
    body_of(t.send(get(&server.url("/warm"))).await.expect("warm"))
        .await
        .expect("body");
    let sends = (0..12).map(|_| {
        let (t, url) = (t.clone(), server.url("/slow"));
        async move { body_of(t.send(get(&url)).await?).await }
    });
    for got in futures_util::future::join_all(sends).await {
        got.expect("every request answered");
    }
    if t.capabilities().opens_connections_beyond_stream_limit {
        assert!(server.accepted() >= 3, "{} connections", server.accepted());
    } else {
        assert_eq!(server.accepted(), 1, "queued on the one connection");
    }
}
