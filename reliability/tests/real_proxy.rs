//! Every backend through a real forward proxy (Debian's tinyproxy, started
//! here on 127.0.0.1): HTTP in absolute form and HTTPS through CONNECT,
//! proxy auth, refusal, and no credential crossing to where it does not
//! belong.

use httpswap::{Certificate, ErrorKind, ResponseExt};
use httpswap_reliability::{
    bounded, client_no_retry as client, config, httpbin, tinyproxy, BACKENDS,
};
use httpswap_test::{TestCa, TestServer};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_connect_through_tinyproxy_with_auth() {
    bounded(async {
        let bin = httpbin().await;
        let proxy = tinyproxy(true).await;
        let ca = TestCa::new();
        let tls = TestServer::start_tls(&ca, httpswap_test::serve_echo).await;
        let good = format!("http://user:secret@{}", proxy.addr);
        for name in BACKENDS {
            let c = client(
                name,
                config()
                    .proxy(&good)
                    .tls_root_certificate(Certificate::from_der(ca.ca_der())),
            );
            // http: absolute form through the proxy; the origin sees no
            // proxy credentials
            let v: Value = c
                .get(&bin.url("/headers"))
                .header("authorization", "Bearer for-the-origin")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", proxy.log()))
                .json()
                .await
                .expect("json");
            assert_eq!(
                v["headers"]["Authorization"], "Bearer for-the-origin",
                "{name}"
            );
            assert!(
                v["headers"].get("Proxy-Authorization").is_none(),
                "{name}: {v}"
            );

            // https: a CONNECT tunnel; inside it nothing about the proxy
            let before = tls.requests().len();
            let body = c
                .post(&tls.url("/tunnel"))
                .body("through the tunnel")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", proxy.log()))
                .bytes()
                .await
                .expect("body");
            assert_eq!(body, "through the tunnel", "{name}");
            let seen = &tls.requests()[before];
            assert_eq!(seen.target, "/tunnel");
            assert!(!seen.headers.contains_key("proxy-authorization"), "{name}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusal_and_no_proxy() {
    bounded(async {
        let bin = httpbin().await;
        let proxy = tinyproxy(true).await;
        let ca = TestCa::new();
        let tls = TestServer::start_tls(&ca, httpswap_test::serve_echo).await;
        let wrong = format!("http://user:wrong@{}", proxy.addr);
        for name in BACKENDS {
            let c = client(
                name,
                config()
                    .proxy(&wrong)
                    .tls_root_certificate(Certificate::from_der(ca.ca_der())),
            );
            // CONNECT refused: a Proxy error, nothing reached the origin
            let err = c
                .get(&tls.url("/"))
                .send()
                .await
                .expect_err("refused tunnel");
            assert_eq!(err.kind(), ErrorKind::Proxy, "{name}: {err:?}");
            assert!(tls.requests().is_empty());
            // absolute form refused: tinyproxy answers 401 (not 407), which
            // for a plain request is the proxy's response, returned as is
            let res = c.get(&bin.url("/get")).send().await.expect("an answer");
            assert_eq!(res.status(), 401, "{name}");
            assert!(res.headers()["server"]
                .to_str()
                .unwrap_or("")
                .contains("tinyproxy"));

            // NO_PROXY: straight to the origin, and the proxy's
            // credentials stay home
            let c = client(name, config().proxy(&wrong).no_proxy("127.0.0.1"));
            let v: Value = c
                .get(&bin.url("/headers"))
                .send()
                .await
                .expect("direct")
                .json()
                .await
                .expect("json");
            assert!(
                v["headers"].get("Proxy-Authorization").is_none(),
                "{name}: {v}"
            );
        }
    })
    .await;
}
