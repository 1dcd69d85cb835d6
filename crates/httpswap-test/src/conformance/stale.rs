//! Stale connections: a connection the server closed is never a failure for an idempotent request, and a non-idempotent one is never sent twice.

use super::*;

/// The server closes an idle keep-alive connection: the next request opens
/// a new one and succeeds.
pub async fn stale_idle_connection_closed_by_server(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        if let Ok(Some(req)) = conn.read_request().await {
            let _ = echo(&mut conn, &req).await;
            tokio::time::sleep(ms(20)).await;
            conn.close().await;
        }
    })
    .await;
    let t = b.default_transport();
    body_of(t.send(get(&server.url("/1"))).await.expect("first"))
        .await
        .expect("body");
    tokio::time::sleep(ms(100)).await;
    for i in 2..5 {
        let res = t
            .send(get(&server.url(&format!("/{i}"))))
            .await
            .expect("never a stale error");
        body_of(res).await.expect("body");
        tokio::time::sleep(ms(60)).await;
    }
    assert_eq!(server.requests().len(), 4);
}

/// A server script: echoes every request, except that the first
/// connection is closed without an answer once its second request was read
/// (a kept-alive connection found dead by the request that reuses it).
pub fn close_after_second_request(
) -> impl Fn(ServerConn) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync + 'static
{
    |mut conn: ServerConn| {
        Box::pin(async move {
            let mut n = 0;
            while let Ok(Some(req)) = conn.read_request().await {
                n += 1;
                if conn.index == 0 && n == 2 {
                    // the request was read; close without a response
                    conn.close().await;
                    return;
                }
                if echo(&mut conn, &req).await.is_err() {
                    return;
                }
            }
        })
    }
}

/// The server closes a reused connection after reading a GET: the GET is
/// sent once more on a fresh connection and succeeds.
pub async fn stale_get_retried_once_after_close(b: Backend) {
    let server = TestServer::start(close_after_second_request()).await;
    let t = warmed(&b, &server).await;
    let res = t
        .send(get(&server.url("/2")))
        .await
        .expect("retried on a fresh connection");
    assert_eq!(res.headers()["x-target"], "/2");
    body_of(res).await.expect("body");
    let seen: Vec<(String, usize)> = server
        .requests()
        .into_iter()
        .map(|r| (r.target, r.connection))
        .collect();
    assert_eq!(
        seen,
        [
            ("/1".to_owned(), 0),
            ("/2".to_owned(), 0),
            ("/2".to_owned(), 1)
        ]
    );
}

/// The same for a PUT whose body is a stream made by `Body::replayable`:
/// sent once more, whole, on a fresh connection, with its stream made again
/// (a file upload gets the resend a buffered body gets); a PUT whose
/// stream cannot be made again is not resent: `RemoteProtocol`,
/// `request_sent`.
pub async fn stale_put_of_a_replayable_stream_resent_whole(b: Backend) {
    let server = TestServer::start(close_after_second_request()).await;
    let t = warmed(&b, &server).await;
    let made = Arc::new(AtomicUsize::new(0));
    let counter = made.clone();
    let upload = Body::replayable(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..4)
            .map(|i| Ok(Bytes::from(vec![b'a' + i; 16 * 1024])))
            .collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    });
    let res = t
        .send(req(Method::PUT, &server.url("/2"), upload))
        .await
        .expect("resent on a fresh connection");
    assert_eq!(res.status(), 200);
    let echoed = body_of(res).await.expect("body");
    assert_eq!(echoed.len(), 64 * 1024);
    assert!(echoed[48 * 1024..].iter().all(|b| *b == b'd'));
    assert_eq!(
        made.load(Ordering::SeqCst),
        2,
        "the stream was made again once"
    );
    let puts: Vec<(usize, usize)> = server
        .requests()
        .iter()
        .filter(|r| r.method == "PUT")
        .map(|r| (r.connection, r.body.len()))
        .collect();
    assert_eq!(puts.last(), Some(&(1, 64 * 1024)), "{puts:?}");

    // a stream that cannot be made again: never resent
    let server = TestServer::start(close_after_second_request()).await;
    let t = warmed(&b, &server).await;
    let chunks: Vec<Result<&'static str, std::io::Error>> = vec![Ok("once")];
    let err = t
        .send(req(
            Method::PUT,
            &server.url("/2"),
            Body::from_stream(futures_util::stream::iter(chunks)),
        ))
        .await
        .expect_err("a stream read once is not sent twice");
    assert_eq!(err.kind(), ErrorKind::RemoteProtocol, "{err:?}");
    assert!(err.request_sent());
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.method == "PUT")
            .count(),
        1
    );
}

/// The same for a POST: not retried, RemoteProtocol, request_sent.
pub async fn stale_post_not_retried(b: Backend) {
    let server = TestServer::start(close_after_second_request()).await;
    let t = warmed(&b, &server).await;
    let err = t
        .send(req(Method::POST, &server.url("/2"), "once"))
        .await
        .expect_err("a POST is never sent twice");
    assert_eq!(err.kind(), ErrorKind::RemoteProtocol, "{err:?}");
    assert!(err.request_sent());
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);
}

/// The same for a POST without a body: never sent twice, or, where the
/// library resends bodiless requests (capability
/// `never_resends_non_idempotent` false), sent twice and answered.
pub async fn stale_bodiless_post(b: Backend) {
    let server = TestServer::start(close_after_second_request()).await;
    let t = warmed(&b, &server).await;
    let result = t
        .send(req(Method::POST, &server.url("/2"), Body::empty()))
        .await;
    let posts = server
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    if t.capabilities().never_resends_non_idempotent {
        let err = result.expect_err("a POST is never sent twice");
        assert_eq!(err.kind(), ErrorKind::RemoteProtocol, "{err:?}");
        assert_eq!(posts, 1);
    } else {
        let res = result.expect("resent on a new connection");
        assert_eq!(res.status(), 200);
        assert_eq!(posts, 2, "the documented deviation: sent twice");
    }
}

/// The server writes a whole unsolicited response on an idle keep-alive
/// connection: it is never read as the answer to the next request, however
/// long after it arrived that request is sent; the connection is closed
/// and the request answered on a new one.
pub async fn stale_unsolicited_bytes_on_idle_connection(b: Backend) {
    const INJECTED: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nx-target: injected\r\n\r\ninjected";
    for wait in [ms(100), ms(300), ms(1200)] {
        let server = TestServer::start(|mut conn: ServerConn| async move {
            while let Ok(Some(req)) = conn.read_request().await {
                if echo(&mut conn, &req).await.is_err() {
                    return;
                }
                // once the response was read and the connection is idle
                // (sent at once, it would arrive with the response, which
                // every library refuses as excess bytes)
                tokio::time::sleep(ms(30)).await;
                if conn.index == 0 && conn.write(INJECTED).await.is_err() {
                    return;
                }
            }
        })
        .await;
        let t = b.default_transport();
        body_of(t.send(get(&server.url("/1"))).await.expect("first"))
            .await
            .expect("body");
        tokio::time::sleep(wait).await;
        let res = t.send(get(&server.url("/2"))).await.expect("second");
        let target = res.headers()["x-target"].clone();
        let body = body_of(res).await.expect("body");
        assert_eq!(
            target, "/2",
            "after {wait:?} idle, the unsolicited response was read as the answer ({body:?})"
        );
        let on: Vec<usize> = server.requests().iter().map(|r| r.connection).collect();
        assert_eq!(
            on,
            [0, 1],
            "after {wait:?}: the second request on a new connection"
        );
    }
}

/// Two idle connections, both closed by the server once they read their
/// next request: a GET that dies on one of them is sent again on a *fresh*
/// connection, not on the other stale one, and succeeds. Every send of it
/// but the last was on a connection that had carried a request before.
pub async fn stale_get_resent_on_a_fresh_connection_not_another_stale_one(b: Backend) {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        let mut n = 0;
        while let Ok(Some(req)) = conn.read_request().await {
            n += 1;
            if conn.index < 2 && n == 2 {
                // the request was read; close without a response
                conn.close().await;
                return;
            }
            if conn.index < 2 {
                // keep the first two answers in flight together, so that
                // the client opens two connections
                tokio::time::sleep(ms(50)).await;
            }
            if echo(&mut conn, &req).await.is_err() {
                return;
            }
        }
    })
    .await;
    let t = b.default_transport();
    let (a, c) = tokio::join!(
        t.send(get(&server.url("/warm-a"))),
        t.send(get(&server.url("/warm-b")))
    );
    body_of(a.expect("warm a")).await.expect("body");
    body_of(c.expect("warm b")).await.expect("body");
    assert_eq!(server.stats().accepted(), 2, "two connections to go stale");
    settle(&t.capabilities()).await;
    let res = t
        .send(get(&server.url("/x")))
        .await
        .expect("sent again on a fresh connection");
    assert_eq!(res.headers()["x-target"], "/x");
    body_of(res).await.expect("body");
    let sends: Vec<usize> = server
        .requests()
        .iter()
        .filter(|r| r.target == "/x")
        .map(|r| r.connection)
        .collect();
    let (last, before) = sends.split_last().expect("sent");
    assert!(*last >= 2, "answered on a fresh connection: {sends:?}");
    assert!(
        before.iter().all(|c| *c < 2),
        "resent only after a stale connection: {sends:?}"
    );
}

/// A default transport of backend `b` whose connection to `server` has
/// carried a GET of `/1` and is idle now, for the next request to reuse.
async fn warmed(b: &Backend, server: &TestServer) -> SharedTransport {
    let t = b.default_transport();
    body_of(t.send(get(&server.url("/1"))).await.expect("first"))
        .await
        .expect("body");
    settle(&t.capabilities()).await;
    t
}
