//! oauth2 over an httpswap transport (feature `oauth2`): [`SdkClient`]
//! is oauth2's `AsyncHttpClient`, so token requests go through the
//! application's transport (its proxy, TLS roots and timeouts). Keep
//! oauth2's default features off (they compile reqwest):
//! `oauth2 = { version = "5", default-features = false }`.
//!
//! ```no_run
//! use httpswap_core::{SharedTransport, TransportConfig};
//! use httpswap_sdk::SdkClient;
//! use oauth2::basic::BasicClient;
//! use oauth2::{ClientId, ClientSecret, TokenResponse, TokenUrl};
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = httpswap_hyper::HyperTransport::new(TransportConfig::default())?;
//! let http = SdkClient::new(SharedTransport::new(transport));
//! let client = BasicClient::new(ClientId::new("app".into()))
//!     .set_client_secret(ClientSecret::new("secret".into()))
//!     .set_token_uri(TokenUrl::new("https://auth.example.com/token".into())?);
//! let token = client.exchange_client_credentials().request_async(&http).await?;
//! println!("{}", token.access_token().secret());
//! # Ok(()) }
//! ```

use crate::SdkClient;

use std::future::Future;
use std::pin::Pin;

use httpswap_core::Error;
use oauth2::{AsyncHttpClient, HttpRequest, HttpResponse};

/// `client.exchange_client_credentials().request_async(&sdk_client)`: the
/// request goes through the transport as it is (no redirect followed, as
/// oauth2 asks of its clients), and the whole response comes back, an
/// error status included for oauth2 to read.
///
/// # Errors
///
/// The transport's [`Error`], or
/// [`ErrorKind::BodyTooLarge`](httpswap_core::ErrorKind::BodyTooLarge)
/// beyond [`SdkClient::max_body`](crate::SdkClient::max_body).
impl<'c> AsyncHttpClient<'c> for SdkClient {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.round_trip(request.map(bytes::Bytes::from)).await?;
            Ok(response.map(Vec::from))
        })
    }
}
