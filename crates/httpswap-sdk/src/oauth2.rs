//! oauth2's `AsyncHttpClient`: token requests through the transport.

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
impl<'c> AsyncHttpClient<'c> for crate::SdkClient {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, Error>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.round_trip(request.map(bytes::Bytes::from)).await?;
            Ok(response.map(Vec::from))
        })
    }
}
