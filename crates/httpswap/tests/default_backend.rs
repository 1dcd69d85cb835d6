//! The facade with its default backend, against a local server.
#![cfg(feature = "__backend")]

use httpswap::{Client, ErrorKind, ResponseExt};
use httpswap_test::TestServer;

#[tokio::test]
async fn client_new_uses_the_hyper_backend_end_to_end() {
    let server = TestServer::echo().await;
    let client = Client::builder()
        .config(|c| c.proxy_from_env(false))
        .base_url(&server.url("/api/"))
        .build()
        .unwrap();
    assert_eq!(client.transport().name(), httpswap::enabled_backends()[0]);
    let res = client
        .post("items")
        .query(&[("q", "a b")])
        .json(&serde_json::json!({"n": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-target"], "/api/items?q=a+b");
    assert_eq!(res.text().await.unwrap(), r#"{"n":1}"#);
    let seen = &server.requests()[0];
    assert_eq!(seen.headers["user-agent"], httpswap::DEFAULT_USER_AGENT);
    assert_eq!(seen.headers["content-type"], "application/json");
}

#[tokio::test]
async fn default_client_reports_transport_errors_by_kind() {
    let refused = httpswap_test::RefusedPort::new();
    let addr = refused.addr();
    let client = Client::new();
    let err = client
        .get(&format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect);
    assert_eq!(err.backend(), Some(httpswap::enabled_backends()[0]));
}

#[test]
fn every_enabled_backend_is_constructible_by_name() {
    let expected: Vec<&str> = [
        cfg!(feature = "hyper").then_some("hyper"),
        cfg!(feature = "reqwest").then_some("reqwest"),
        cfg!(feature = "isahc").then_some("isahc"),
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(httpswap::enabled_backends(), expected);
    for name in httpswap::enabled_backends() {
        let t = httpswap::transport_by_name(name, Default::default()).unwrap();
        assert_eq!(t.name(), *name);
    }
}

/// `--no-default-features --features reqwest`: reqwest is the default.
#[cfg(all(feature = "reqwest", not(feature = "hyper")))]
#[test]
fn reqwest_alone_is_the_default_transport() {
    assert_eq!(httpswap::Client::new().transport().name(), "reqwest");
}

/// `--no-default-features --features isahc`: isahc is the default.
#[cfg(all(feature = "isahc", not(feature = "hyper"), not(feature = "reqwest")))]
#[test]
fn isahc_alone_is_the_default_transport() {
    assert_eq!(httpswap::Client::new().transport().name(), "isahc");
}

/// Default features: hyper is the default even when reqwest is on too.
#[cfg(feature = "hyper")]
#[test]
fn hyper_is_the_default_transport() {
    assert_eq!(httpswap::Client::new().transport().name(), "hyper");
}

/// The network settings reach the default backend through `config`: a
/// name overridden to the local server, a resolver of the user's own
/// (implemented with the facade's re-exports alone) where the backend
/// takes one.
#[tokio::test]
async fn network_settings_reach_the_default_backend_through_config() {
    struct Here;
    impl httpswap::Resolve for Here {
        fn resolve(&self, _host: &str) -> httpswap::Resolving {
            Box::pin(async { Ok(vec![std::net::Ipv4Addr::LOCALHOST.into()]) })
        }
    }
    let server = TestServer::echo().await;
    let port = server.addr().port();
    let client = Client::builder()
        .config(|c| {
            c.proxy_from_env(false)
                .resolve(&format!("api.httpswap.test:{port}"), [server.addr().ip()])
        })
        .build()
        .unwrap();
    let res = client
        .get(&format!("http://api.httpswap.test:{port}/over"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let built = Client::builder()
        .config(|c| c.proxy_from_env(false).resolver(std::sync::Arc::new(Here)))
        .build();
    let client = match built {
        Ok(client) => client,
        Err(e) => {
            // only a backend without resolvers refuses one
            assert_eq!(e.kind(), ErrorKind::Builder, "{e:?}");
            assert_eq!(httpswap::enabled_backends()[0], "isahc", "{e}");
            return;
        }
    };
    let res = client
        .get(&format!("http://anything.httpswap.test:{port}/mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(server.requests().len(), 2);
}
