//! oauth2 through an httpswap transport, on every backend, against a
//! token endpoint the test runs.
#![cfg(feature = "oauth2")]

mod backends;

use httpswap_sdk::SdkClient;
use httpswap_test::{routes, Reply};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{ClientId, ClientSecret, RequestTokenError, TokenResponse, TokenUrl};

/// `Basic base64("app:right")`, the only credentials the endpoint takes.
const GOOD: &[u8] = b"Basic YXBwOnJpZ2h0";

async fn token_endpoint() -> httpswap_test::TestServer {
    routes(|req, _| match req.target.as_str() {
        "/moved" => Reply::to(302, "/token"),
        "/token" if req.headers.get("authorization").map(|v| v.as_bytes()) == Some(GOOD) => {
            assert!(
                String::from_utf8_lossy(&req.body).contains("grant_type=client_credentials"),
                "{:?}",
                req.body
            );
            Reply::ok(r#"{"access_token":"t0k3n","token_type":"bearer","expires_in":3600}"#)
                .header("content-type", "application/json")
        }
        _ => Reply::new(401)
            .header("content-type", "application/json")
            .body(r#"{"error":"invalid_client"}"#),
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_credentials_exchange_on_every_backend() {
    let server = token_endpoint().await;
    for (name, transport) in backends::each_backend() {
        let http = SdkClient::new(transport);
        let client = |secret: &str, path: &str| {
            BasicClient::new(ClientId::new("app".into()))
                .set_client_secret(ClientSecret::new(secret.into()))
                .set_token_uri(TokenUrl::new(server.url(path)).expect("token url"))
        };
        let token = client("right", "/token")
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(token.access_token().secret(), "t0k3n", "{name}");

        let err = client("wrong", "/token")
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .expect_err("a wrong secret");
        match err {
            RequestTokenError::ServerResponse(r) => {
                assert_eq!(*r.error(), BasicErrorResponseType::InvalidClient, "{name}");
            }
            other => panic!("{name}: {other:?}"),
        }

        // a redirect is not followed: the token endpoint behind it is
        // never asked
        let before = server.requests().len();
        let err = client("right", "/moved")
            .exchange_client_credentials()
            .request_async(&http)
            .await
            .expect_err("a redirect is an error, not followed");
        let after = server.requests();
        assert_eq!(after.len(), before + 1, "{name}: {err:?}");
        assert_eq!(after[before].target, "/moved", "{name}");
    }
}
