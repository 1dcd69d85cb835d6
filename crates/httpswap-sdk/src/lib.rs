//! An httpswap transport as the HTTP client of the SDKs people already
//! use, so an application configures its HTTP stack once (limits,
//! timeouts, proxies, the stale-connection rule) and every SDK sends
//! through it. One cargo feature per SDK; nothing is compiled that was not
//! asked for.
//!
//! Each SDK has a page of its own: [`aws`], [`oauth2`], [`object_store`],
//! [`opentelemetry`] (built with the SDK's feature).
//!
//! | feature | SDK trait | how |
//! |---|---|---|
//! | `oauth2` | `oauth2::AsyncHttpClient` | `request_async(&SdkClient::new(transport))` |
//! | `opentelemetry` | `opentelemetry_http::HttpClient` | the OTLP HTTP exporter's `with_http_client(SdkClient::new(transport).with_timeout(t))` |
//! | `object_store` | object_store's `HttpConnector` (and `HttpService`) | `AmazonS3Builder::new().with_http_connector(SdkClient::new(transport))` |
//! | `aws-smithy` | aws-smithy's `HttpClient` (and `HttpConnector`) | `aws_sdk_s3::Config::builder().http_client(SdkClient::new(transport))` |
//!
//! [`SdkClient`] sends each request through the transport as it is: no
//! redirect is followed (oauth2 asks its clients not to follow them) and
//! no retry is made beyond the transport's one resend of an idempotent
//! request whose reused connection had died; the SDKs retry themselves.
//! Response bodies are read whole, up to [`SdkClient::max_body`] (4 MiB by
//! default, as opentelemetry-http's own clients), and a larger one is an
//! error, never a cut body; the AWS SDKs, which stream objects, get the
//! body as it arrives instead (see `SdkClient`'s `HttpClient`
//! implementation).
//!
//! ```
//! use httpswap_core::{SharedTransport, TransportConfig};
//! use httpswap_sdk::SdkClient;
//! let transport = httpswap_hyper::HyperTransport::new(TransportConfig::default())?;
//! let client = SdkClient::new(SharedTransport::new(transport));
//! assert_eq!(client.max_body(), 4 * 1024 * 1024);
//! # Ok::<(), httpswap_core::Error>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "aws-smithy")]
pub mod aws;
#[cfg(feature = "oauth2")]
pub mod oauth2;
#[cfg(feature = "object_store")]
pub mod object_store;
#[cfg(feature = "opentelemetry")]
pub mod opentelemetry;

use bytes::Bytes;
use httpswap_core::{Body, Error, SharedTransport, TimeoutOverrides};

/// The largest response body read by default: 4 MiB.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// An httpswap transport as an SDK's HTTP client (see the crate docs for
/// the SDKs and their features). Cheap to clone: clones share the
/// transport and its pool.
#[derive(Clone, Debug)]
pub struct SdkClient {
    transport: SharedTransport,
    max_body: usize,
    timeouts: Option<TimeoutOverrides>,
}

impl SdkClient {
    /// A client sending through `transport`.
    pub fn new(transport: SharedTransport) -> Self {
        SdkClient {
            transport,
            max_body: DEFAULT_MAX_BODY,
            timeouts: None,
        }
    }

    /// Bounds each request, its response body included, by `total` (the
    /// transport's other timeouts stay). For SDKs that leave the timeout
    /// to their client: the OTLP exporter's `with_timeout` bounds only its
    /// retries, and opentelemetry-http asks its clients to enforce the
    /// request timeout.
    #[must_use]
    pub fn with_timeout(mut self, total: std::time::Duration) -> Self {
        self.timeouts = Some(TimeoutOverrides::default().total(total));
        self
    }

    /// The largest response body read; a larger one fails with
    /// [`ErrorKind::BodyTooLarge`](httpswap_core::ErrorKind::BodyTooLarge)
    /// (opentelemetry-http's `ResponseBodyTooLarge` for that SDK).
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The largest response body read.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// The transport requests go through.
    pub fn transport(&self) -> &SharedTransport {
        &self.transport
    }

    /// Sends `request` (its body already in memory, as the SDKs hand it
    /// over) and reads the whole response body.
    async fn round_trip(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, Error> {
        let mut request = request.map(Body::from);
        if let Some(t) = self.timeouts {
            request.extensions_mut().insert(t);
        }
        let response = self.transport.send(request).await?;
        let (head, body) = response.into_parts();
        let bytes = body.collect_bytes_limited(self.max_body).await?;
        Ok(http::Response::from_parts(head, bytes))
    }
}
