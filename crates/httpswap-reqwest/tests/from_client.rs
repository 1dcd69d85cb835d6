//! A transport around the user's own `reqwest::Client`: the adapter still
//! enforces the slot bound with its pool timeout, and counts connections.

use std::time::Duration;

use httpswap_core::{Body, ErrorKind, HttpTransport, TransportConfig};
use httpswap_reqwest::ReqwestTransport;
use httpswap_test::{ServerConn, TestServer};

fn user_client() -> reqwest::Client {
    let tls = httpswap_adapter::tls::build(&Default::default()).expect("tls");
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured((*tls.http1).clone())
        .build()
        .expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_client_keeps_the_adapter_rules() {
    let server = TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(req)) = conn.read_request().await {
            if req.target == "/hold" {
                let _ = conn
                    .write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nheld")
                    .await;
                conn.wait_closed(Duration::from_secs(5)).await;
                return;
            }
            if httpswap_test::echo(&mut conn, &req).await.is_err() {
                return;
            }
        }
    })
    .await;
    let config = TransportConfig::builder()
        .proxy_from_env(false)
        .pool_max_connections(1)
        .pool_max_keepalive(1)
        .timeout_pool(Duration::from_millis(100))
        .build()
        .expect("config");
    let t = ReqwestTransport::from_client(user_client(), config).expect("transport");
    assert_eq!(t.name(), "reqwest");
    for path in ["/a", "/b"] {
        let req = http::Request::get(server.url(path))
            .body(Body::empty())
            .expect("request");
        let res = t.send(req).await.expect("response");
        assert_eq!(res.headers()["x-target"], path);
        res.into_body().collect_bytes().await.expect("body");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = t.pool_stats();
    assert_eq!(
        (stats.created, stats.reused),
        (Some(1), Some(1)),
        "{stats:?}"
    );

    let held = t
        .send(
            http::Request::get(server.url("/hold"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("head of the held response");
    let err = t
        .send(
            http::Request::get(server.url("/c"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect_err("the only slot is held");
    assert_eq!(err.kind(), ErrorKind::PoolTimeout, "{err:?}");
    assert_eq!(err.backend(), Some("reqwest"));
    drop(held);
}

/// Around the user's own client the resend cannot ask for a new
/// connection: with two stale connections in its pool, the GET is sent
/// again past both and answered on a new one (the conformance scenario,
/// run on `from_client`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_client_resends_past_every_stale_connection() {
    let backend = httpswap_test::conformance::Backend::new(|config| {
        ReqwestTransport::from_client(user_client(), config)
    });
    httpswap_test::conformance::stale_get_resent_on_a_fresh_connection_not_another_stale_one(
        backend,
    )
    .await;
}
