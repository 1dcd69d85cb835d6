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
