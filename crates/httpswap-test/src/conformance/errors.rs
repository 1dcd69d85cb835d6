//! Errors before anything is sent: refused connections, unsupported schemes, bad URLs.

use super::*;

/// Nothing listens: Connect, request not sent.
pub async fn error_connection_refused(b: Backend) {
    let refused = RefusedPort::new();
    let addr = refused.addr();
    let t = b.default_transport();
    let err = t
        .send(get(&format!("http://{addr}/")))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.is_connect() && !err.request_sent() && err.is_retryable());
    assert!(
        err.backend().is_some_and(|name| !name.is_empty()),
        "{err:?}"
    );
}

/// `ftp://` is UnsupportedProtocol; a URL with no host is InvalidUrl.
pub async fn error_unsupported_scheme_and_bad_url(b: Backend) {
    let t = b.default_transport();
    let err = t.send(get("ftp://127.0.0.1/file")).await.expect_err("ftp");
    assert_eq!(err.kind(), ErrorKind::UnsupportedProtocol, "{err:?}");
    let err = t.send(get("/relative/only")).await.expect_err("relative");
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err:?}");
}

/// Every error says what failed, naming the origin or the proxy: a refused
/// connection, a proxy refusing the CONNECT tunnel with 407, an unreachable
/// proxy, an untrusted certificate, a connection reset, a failing request
/// body (whose own error stays in the source chain). Never a bare "unknown
/// error".
pub async fn error_messages_name_what_failed(b: Backend) {
    let ca = TestCa::new();
    let tls_origin = TestServer::start_tls(&ca, serve_echo).await;
    let origin = TestServer::echo().await;
    let proxy = TestProxy::start(Some("Basic dXNlcjpwYXNz")).await;
    let refused = RefusedPort::new();
    let nobody = refused.addr();
    let reset = TestServer::start(|mut conn: ServerConn| async move {
        if let Ok(Some(_)) = conn.read_request().await {
            conn.reset();
        }
    })
    .await;
    let direct = b.default_transport();
    let proxy_addr = proxy.url(None).trim_start_matches("http://").to_owned();
    let wrong_credentials = b.build(
        base()
            .proxy(&proxy.url(Some("user:wrong")))
            .tls_root_certificate(Certificate::from_der(ca.ca_der())),
    );
    let dead_proxy = b.build(base().proxy(&format!("http://{nobody}")));
    let failing = Body::from_stream(futures_util::stream::iter(vec![
        Ok::<_, std::io::Error>(Bytes::from("a")),
        Err(std::io::Error::other("my stream broke")),
    ]));
    let cases: Vec<(&str, Error, Vec<String>)> = vec![
        (
            "refused",
            direct
                .send(get(&format!("http://{nobody}/")))
                .await
                .expect_err("refused"),
            vec![nobody.to_string()],
        ),
        (
            "407 on CONNECT",
            wrong_credentials
                .send(get(&tls_origin.url("/")))
                .await
                .expect_err("refused tunnel"),
            vec![proxy_addr.clone()],
        ),
        (
            "unreachable proxy",
            dead_proxy
                .send(get(&origin.url("/")))
                .await
                .expect_err("no proxy"),
            vec!["proxy".into(), nobody.to_string()],
        ),
        (
            "untrusted certificate",
            direct
                .send(get(&tls_origin.url("/")))
                .await
                .expect_err("unknown CA"),
            vec![tls_origin.addr().port().to_string()],
        ),
        (
            "reset",
            direct.send(get(&reset.url("/"))).await.expect_err("reset"),
            vec![reset.addr().to_string()],
        ),
        (
            "failing body",
            direct
                .send(req(Method::POST, &origin.url("/"), failing))
                .await
                .expect_err("the body failed"),
            vec!["my stream broke".into()],
        ),
    ];
    for (what, err, words) in cases {
        let text = err.to_string();
        assert!(!text.contains("unknown error"), "{what}: {text}");
        for word in words {
            assert!(text.contains(&word), "{what}: {word:?} not in {text:?}");
        }
    }
    let tunnel = wrong_credentials
        .send(get(&tls_origin.url("/")))
        .await
        .expect_err("refused");
    let text = tunnel.to_string();
    assert!(text.contains("407") && text.contains("refused"), "{text}");
    // the failing body's own error is in the source chain
    let failed = direct
        .send(req(
            Method::POST,
            &origin.url("/"),
            Body::from_stream(futures_util::stream::iter(vec![Err::<Bytes, _>(
                std::io::Error::other("my stream broke"),
            )])),
        ))
        .await
        .expect_err("the body failed");
    let mut chain =
        std::iter::successors(Some(&failed as &(dyn std::error::Error + 'static)), |e| {
            e.source()
        });
    assert!(
        chain.any(|e| e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.to_string() == "my stream broke")),
        "{failed:?}"
    );
}
