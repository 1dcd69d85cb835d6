//! Forward proxies, CONNECT tunnels, proxy authentication and refusal, NO_PROXY.

use super::*;

const AUTH: &str = "Basic dXNlcjpwYXNz"; // user:pass

/// `http://` through a forward proxy: absolute-form with Proxy-Authorization
/// to the proxy, none of it forwarded to the origin; the connection is
/// the proxy's (`ConnectionInfo::proxied`).
pub async fn proxy_http_absolute_form_with_auth(b: Backend) {
    let origin = TestServer::echo().await;
    let proxy = TestProxy::start(Some(AUTH)).await;
    let t = b.build(base().proxy(&proxy.url(Some("user:pass"))));
    let mut r = get(&origin.url("/via?x=1"));
    let capture = httpswap_core::CaptureConnection::capture(&mut r);
    let res = t.send(r).await.expect("through the proxy");
    assert_eq!(res.status(), 200);
    let info = capture.get().expect("recorded");
    assert!(info.proxied, "{info:?}");
    assert_ne!(
        info.remote_addr,
        Some(origin.addr()),
        "the proxy's: {info:?}"
    );
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
    assert!(
        !err.is_transient() && !err.is_retryable(),
        "a refusal is final"
    );
    let err = t
        .send(get(&origin.url("/")))
        .await
        .expect_err("refused forward");
    assert_eq!(err.kind(), ErrorKind::Proxy, "{err:?}");
    assert!(
        !err.is_transient() && !err.is_retryable(),
        "a refusal is final"
    );
    assert!(origin.requests().is_empty() && tls_origin.requests().is_empty());
}

/// A proxy nobody listens on, for a plain and a tunnelled request:
/// `ProxyConnect` (told apart from a proxy's refusal, `Proxy`), request not
/// sent, worth a retry.
pub async fn proxy_unreachable(b: Backend) {
    let refused = RefusedPort::new();
    let addr = refused.addr();
    let ca = TestCa::new();
    let tls_origin = TestServer::start_tls(&ca, serve_echo).await;
    let origin = TestServer::echo().await;
    let t = b.build(
        base()
            .proxy(&format!("http://{addr}"))
            .tls_root_certificate(Certificate::from_der(ca.ca_der())),
    );
    for url in [origin.url("/"), tls_origin.url("/")] {
        let err = t.send(get(&url)).await.expect_err("no proxy");
        assert_eq!(err.kind(), ErrorKind::ProxyConnect, "{url}: {err:?}");
        assert!(!err.request_sent());
        assert!(err.is_connect() && err.is_retryable() && err.is_transient());
    }
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

/// `NO_PROXY` entries in every form curl and httpx accept, on every backend:
/// an IP with a port (IPv4, and bracketed IPv6), an IP, a CIDR block, `*`,
/// spaces and empty entries; a port other than the origin's, or another
/// address, still goes through the proxy.
pub async fn proxy_no_proxy_entry_forms(b: Backend) {
    let v4 = TestServer::echo().await;
    let v6 = TestServer::start_on("[::1]:0", serve_echo).await;
    let proxy = TestProxy::start(None).await;
    let (p4, p6) = (v4.addr().port(), v6.addr().port());
    let cases = [
        (format!("127.0.0.1:{p4}"), true, false),
        (format!("[::1]:{p6}"), false, true),
        ("127.0.0.1, ::1".to_owned(), true, true),
        ("127.0.0.0/8,[::1]/128".to_owned(), true, true),
        ("*".to_owned(), true, true),
        (format!(" , example.com , 127.0.0.1:{p4} "), true, false),
        (
            format!("127.0.0.1:{}, [::1]:{}", p4 ^ 1, p6 ^ 1),
            false,
            false,
        ),
        ("127.0.0.2,::2,localhost".to_owned(), false, false),
    ];
    for (list, direct4, direct6) in cases {
        for (server, direct) in [(&v4, direct4), (&v6, direct6)] {
            // a transport of its own: the proxy records the first request
            // of each connection only
            let t = b.build(base().proxy(&proxy.url(None)).no_proxy(&list));
            let before = proxy.requests().len();
            let url = server.url("/np");
            let res = t.send(get(&url)).await;
            if !direct && server.addr().is_ipv6() && !t.capabilities().forward_proxy_ipv6_literal {
                // the documented deviation: refused before anything is sent
                let err = res.expect_err("an IPv6 host through a forward proxy");
                assert_eq!(err.kind(), ErrorKind::LocalProtocol, "{err:?}");
                assert!(!err.request_sent());
                assert_eq!(proxy.requests().len(), before);
                continue;
            }
            let via_proxy = proxy.requests().len() > before;
            assert_eq!(
                via_proxy,
                !direct,
                "NO_PROXY={list:?}, {url}: expected {} ({res:?})",
                if direct {
                    "direct"
                } else {
                    "through the proxy"
                }
            );
            if direct {
                body_of(res.expect("direct")).await.expect("body");
            }
        }
    }
}
