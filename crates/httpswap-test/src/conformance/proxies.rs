//! Forward proxies, CONNECT tunnels, proxy authentication and refusal, NO_PROXY.

use super::*;

const AUTH: &str = "Basic dXNlcjpwYXNz"; // user:pass

/// `http://` through a forward proxy: absolute-form with Proxy-Authorization
/// to the proxy, none of it forwarded to the origin.
pub async fn proxy_http_absolute_form_with_auth(b: Backend) {
    let origin = TestServer::echo().await;
    let proxy = TestProxy::start(Some(AUTH)).await;
    let t = b.build(base().proxy(&proxy.url(Some("user:pass"))));
    let res = t
        .send(get(&origin.url("/via?x=1")))
        .await
        .expect("through the proxy");
    assert_eq!(res.status(), 200);
    assert_eq!(body_of(res).await.expect("body"), "");
    let seen = proxy.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, origin.url("/via?x=1"));
    assert_eq!(seen[0].headers["proxy-authorization"], AUTH);
    let at_origin = &origin.requests()[0];
    assert_eq!(at_origin.target, "/via?x=1");
    assert!(at_origin.headers.get("proxy-authorization").is_none());
}

/// `https://` through a CONNECT tunnel with auth; TLS end to end.
pub async fn proxy_connect_tunnel_with_auth(b: Backend) {
    let ca = TestCa::new();
    let origin = TestServer::start_tls(&ca, serve_echo).await;
    let proxy = TestProxy::start(Some(AUTH)).await;
    let t = b.build(
        base()
            .proxy(&proxy.url(Some("user:pass")))
            .tls_root_certificate(Certificate::from_der(ca.ca_der())),
    );
    let res = t
        .send(req(Method::POST, &origin.url("/secure"), "tunnelled"))
        .await
        .expect("through the tunnel");
    assert_eq!(body_of(res).await.expect("body"), "tunnelled");
    let seen = proxy.requests();
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(
        seen[0].target,
        format!("localhost:{}", origin.addr().port())
    );
    assert_eq!(seen[0].headers["proxy-authorization"], AUTH);
    assert!(origin.requests()[0]
        .headers
        .get("proxy-authorization")
        .is_none());
}

/// Wrong credentials: 407 on CONNECT and on a forwarded request are Proxy
/// errors that say the request was not sent to the origin.
pub async fn proxy_refusal_is_proxy_error(b: Backend) {
    let ca = TestCa::new();
    let tls_origin = TestServer::start_tls(&ca, serve_echo).await;
    let origin = TestServer::echo().await;
    let proxy = TestProxy::start(Some(AUTH)).await;
    let t = b.build(
        base()
            .proxy(&proxy.url(Some("user:wrong")))
            .tls_root_certificate(Certificate::from_der(ca.ca_der())),
    );
    let err = t
        .send(get(&tls_origin.url("/")))
        .await
        .expect_err("refused CONNECT");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(!err.request_sent());
    let err = t
        .send(get(&origin.url("/")))
        .await
        .expect_err("refused forward");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(origin.requests().is_empty() && tls_origin.requests().is_empty());
}

/// A proxy nobody listens on: Proxy error, request not sent.
pub async fn proxy_unreachable(b: Backend) {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let origin = TestServer::echo().await;
    let t = b.build(base().proxy(&format!("http://{addr}")));
    let err = t.send(get(&origin.url("/"))).await.expect_err("no proxy");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(!err.request_sent());
}

/// A host in NO_PROXY is reached directly.
pub async fn proxy_no_proxy_goes_direct(b: Backend) {
    let origin = TestServer::echo().await;
    let proxy = TestProxy::start(None).await;
    let t = b.build(
        base()
            .proxy(&proxy.url(None))
            .no_proxy("localhost,127.0.0.0/8"),
    );
    let res = t.send(get(&origin.url("/direct"))).await.expect("direct");
    assert_eq!(res.headers()["x-target"], "/direct");
    assert!(proxy.requests().is_empty());
}
