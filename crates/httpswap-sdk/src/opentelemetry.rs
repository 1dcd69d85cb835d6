//! opentelemetry-http's `HttpClient`: what the OTLP HTTP exporter sends
//! its batches through.

use bytes::Bytes;
use httpswap_core::ErrorKind;
use opentelemetry_http::{HttpClient, HttpError, Request, Response, ResponseBodyTooLarge};

/// The OTLP HTTP exporter's client
/// (`SpanExporter::builder().with_http().with_http_client(sdk_client)`).
/// A response body beyond [`SdkClient::max_body`](crate::SdkClient::max_body)
/// is the SDK's own `ResponseBodyTooLarge`; the transport's timeouts bound
/// the request, the body included.
#[async_trait::async_trait]
impl HttpClient for crate::SdkClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        match self.round_trip(request).await {
            Ok(response) => Ok(response),
            Err(e) if e.kind() == ErrorKind::BodyTooLarge => {
                Err(Box::new(ResponseBodyTooLarge::new()))
            }
            Err(e) => Err(Box::new(e)),
        }
    }
}
