//! The OTLP HTTP exporter over an httpswap transport (feature
//! `opentelemetry`): [`SdkClient`] is opentelemetry-http's `HttpClient`,
//! which the exporter sends its batches through. Keep the exporter's
//! default features off (they compile reqwest):
//! `opentelemetry-otlp = { version = "0.33", default-features = false,
//! features = ["http-proto", "trace"] }`. The exporter leaves the request
//! timeout to its client: give it with [`SdkClient::with_timeout`].
//!
//! ```
//! use std::time::Duration;
//! use httpswap_core::{SharedTransport, TransportConfig};
//! use httpswap_sdk::SdkClient;
//! use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = httpswap_hyper::HyperTransport::new(TransportConfig::default())?;
//! let client = SdkClient::new(SharedTransport::new(transport)).with_timeout(Duration::from_secs(10));
//! let exporter = opentelemetry_otlp::SpanExporter::builder()
//!     .with_http()
//!     .with_http_client(client)
//!     .with_endpoint("http://collector.example.com:4318/v1/traces")
//!     .build()?;
//! # drop(exporter);
//! # Ok(()) }
//! ```

use crate::SdkClient;

use bytes::Bytes;
use httpswap_core::ErrorKind;
use opentelemetry_http::{HttpClient, HttpError, Request, Response, ResponseBodyTooLarge};

/// The OTLP HTTP exporter's client
/// (`SpanExporter::builder().with_http().with_http_client(sdk_client)`).
/// A response body beyond [`SdkClient::max_body`](crate::SdkClient::max_body)
/// is the SDK's own `ResponseBodyTooLarge`; the transport's timeouts bound
/// the request, the body included.
#[async_trait::async_trait]
impl HttpClient for SdkClient {
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
