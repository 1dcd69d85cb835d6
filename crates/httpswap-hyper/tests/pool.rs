//! The hyper pool's own behaviour beyond the conformance suite.

use std::time::Duration;

use httpswap_core::{Body, Certificate, HttpTransport, TransportConfig};
use httpswap_hyper::HyperTransport;
use httpswap_test::{echo_loop, ServerConn, TestCa, TestServer};

/// A request whose own connect is slow takes a connection released
/// meanwhile; its own connection, when it arrives, is kept for later
/// instead of being lost, and nothing leaks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_connection_is_handed_over_while_a_connect_is_slow() {
    let ca = TestCa::new();
    let server = TestServer::start_tls_slow_handshake(
        &ca,
        Duration::from_secs(1),
        |mut conn: ServerConn| async move {
            echo_loop(&mut conn, |_| Duration::from_millis(50)).await;
        },
    )
    .await;
    let config = TransportConfig::builder()
        .proxy_from_env(false)
        .tls_root_certificate(Certificate::from_der(ca.ca_der()))
        .build()
        .unwrap();
    let t = HyperTransport::new(config).unwrap();
    let get = || {
        http::Request::get(server.url("/"))
            .body(Body::empty())
            .unwrap()
    };

    // the first connection is fast; warm it up
    t.send(get())
        .await
        .unwrap()
        .into_body()
        .collect_bytes()
        .await
        .unwrap();
    // A holds it for 50 ms; B finds nothing idle and starts a connect whose
    // handshake takes a second, so B is served by A's connection
    let (a, b) = tokio::join!(
        async { t.send(get()).await?.into_body().collect_bytes().await },
        async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            t.send(get()).await?.into_body().collect_bytes().await
        }
    );
    a.unwrap();
    b.unwrap();
    let connections: Vec<usize> = server.requests().iter().map(|r| r.connection).collect();
    assert_eq!(
        connections,
        [0, 0, 0],
        "B must take the released connection, not wait for its own slow connect"
    );
    // B's own connection arrives later and is pooled, not lost
    for _ in 0..200 {
        if t.pool_stats().idle == Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = t.pool_stats();
    assert_eq!(stats.created, Some(2), "{stats:?}");
    assert_eq!(stats.open, Some(2), "{stats:?}");
    assert_eq!(stats.idle, Some(2), "{stats:?}");
    assert_eq!(stats.in_use, Some(0), "{stats:?}");
    assert_eq!(server.stats().accepted(), 2);
}
