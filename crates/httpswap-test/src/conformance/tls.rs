//! TLS: a custom CA accepted, unknown CAs, wrong hosts, expired certificates and plaintext ports rejected.

use super::*;

/// A server certificate from an extra root CA is accepted.
pub async fn tls_custom_ca_accepted(b: Backend) {
    let ca = TestCa::new();
    let server = TestServer::start_tls(&ca, serve_echo).await;
    let t = b.build(base().tls_root_certificates_pem(ca.ca_pem().as_bytes()));
    let res = t
        .send(req(Method::POST, &server.url("/tls"), "secret"))
        .await
        .expect("trusted");
    assert_eq!(body_of(res).await.expect("body"), "secret");
}

/// A certificate from an unknown CA is rejected with Connect.
pub async fn tls_unknown_ca_rejected(b: Backend) {
    let ca = TestCa::new();
    let server = TestServer::start_tls(&ca, serve_echo).await;
    let t = b.default_transport();
    let err = t.send(get(&server.url("/"))).await.expect_err("untrusted");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(!err.request_sent());
    assert!(server.requests().is_empty());
}

/// A certificate from a trusted CA but for another host name: Connect,
/// nothing sent.
pub async fn tls_wrong_host_rejected(b: Backend) {
    let ca = TestCa::for_names(&["other.test"]);
    let server = TestServer::start_tls(&ca, serve_echo).await;
    let t = b.build(base().tls_root_certificate(Certificate::from_der(ca.ca_der())));
    let err = t.send(get(&server.url("/"))).await.expect_err("wrong host");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(!err.request_sent());
    assert!(server.requests().is_empty());
    // the same CA and server are fine once the name matches: the name was
    // the only thing wrong
    let ca = TestCa::new();
    let server = TestServer::start_tls(&ca, serve_echo).await;
    let t = b.build(base().tls_root_certificate(Certificate::from_der(ca.ca_der())));
    t.send(get(&server.url("/"))).await.expect("right host");
}

/// An expired certificate from a trusted CA: Connect, nothing sent.
pub async fn tls_expired_rejected(b: Backend) {
    let ca = TestCa::expired();
    let server = TestServer::start_tls(&ca, serve_echo).await;
    let t = b.build(base().tls_root_certificate(Certificate::from_der(ca.ca_der())));
    let err = t.send(get(&server.url("/"))).await.expect_err("expired");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(!err.request_sent());
    assert!(server.requests().is_empty());
}

/// `https://` to a plaintext HTTP port: Connect (the handshake fails).
pub async fn tls_plaintext_port_is_connect_error(b: Backend) {
    let server = TestServer::echo().await;
    let t = b.default_transport();
    let err = t
        .send(get(&format!("https://127.0.0.1:{}/", server.addr().port())))
        .await
        .expect_err("not tls");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
}
