//! The AWS SDKs for Rust (and other smithy-generated SDKs) over an
//! httpswap transport (feature `aws-smithy`): [`SdkClient`] is
//! aws-smithy's `HttpClient`, so one call configures an SDK's HTTP stack.
//! Keep the SDK's default features off (they compile a second HTTPS
//! client): `aws-sdk-s3 = { version = "1", default-features = false,
//! features = ["rt-tokio", "behavior-version-latest"] }`.
//!
//! What the SDK gets is said at [`SdkClient`]'s `HttpClient`
//! implementation: the SDK's timeouts per request, its error classes, bodies
//! streamed both ways, its connection poisoning where the transport can.
//!
//! ```
//! use httpswap_core::{SharedTransport, TransportConfig};
//! let transport = httpswap_hyper::HyperTransport::new(TransportConfig::default())?;
//! let config = aws_sdk_s3::Config::builder()
//!     .http_client(httpswap_sdk::SdkClient::new(SharedTransport::new(transport)))
//!     .region(aws_sdk_s3::config::Region::new("us-east-1"))
//!     .build();
//! let s3 = aws_sdk_s3::Client::from_conf(config);
//! # drop(s3);
//! # Ok::<(), httpswap_core::Error>(())
//! ```

use aws_smithy_runtime_api::client::connection::{
    CaptureSmithyConnection, ConnectionId, ConnectionMetadata,
};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use httpswap_core::{Body, CaptureConnection, ConnectionInfo, Error, ErrorKind, TimeoutOverrides};

use crate::SdkClient;

/// (feature `aws-smithy`) aws-smithy's `HttpClient` and `HttpConnector`: the
/// HTTP client of every AWS SDK for Rust (`aws_sdk_s3::Config::builder()
/// .http_client(client)`) and of other smithy-generated SDKs.
///
/// What the SDK asks of its client, and how it is kept:
///
/// - the connect and read timeouts of `HttpConnectorSettings` apply to each
///   request, the transport's other timeouts staying as they are (a
///   [`TimeoutOverrides`] in the request);
/// - errors are classified as smithy classifies them, so that the SDK's
///   retry decides right: timeouts as `timeout`, a connection (to the
///   server or the proxy) refused, reset or closed before the answer as
///   `io` (both retried), a request the transport refuses as `user`, the
///   rest (a proxy's refusal among them) as `other`;
/// - bodies stream both ways: an upload the SDK can make again
///   (`SdkBody::try_clone`, in-memory bodies and files) becomes a
///   [`Body::replayable`], so the transport resends it on a dead reused
///   connection; a response body is handed to the SDK as it arrives, and a
///   body cut short is an error, never a short object;
/// - the SDK learns each request's connection (smithy's
///   `CaptureSmithyConnection`, through a [`CaptureConnection`]), and its
///   connection poisoning after a transient error (a 500, a timeout) keeps
///   that connection from being used again where the transport can
///   (`Capabilities::poisons_connections`: hyper; reqwest's and curl's
///   pools take no such order).
impl HttpClient for SdkClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let mut timeouts = self.timeouts.unwrap_or_default();
        if let Some(connect) = settings.connect_timeout() {
            timeouts = timeouts.connect(connect);
        }
        if let Some(read) = settings.read_timeout() {
            timeouts = timeouts.read(read);
        }
        SharedHttpConnector::new(AwsConnector {
            client: self.clone(),
            timeouts,
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new(
            "httpswap",
            Some(env!("CARGO_PKG_VERSION").into()),
        ))
    }
}

/// The connector [`SdkClient::http_connector`] makes: the client and the
/// timeouts of the SDK's settings. Cheap to make: clones share the
/// transport.
#[derive(Clone, Debug)]
struct AwsConnector {
    client: SdkClient,
    timeouts: TimeoutOverrides,
}

impl HttpConnector for AwsConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move { this.send(request).await })
    }
}

impl AwsConnector {
    async fn send(self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let request = request
            .try_into_http1x()
            .map_err(|e| ConnectorError::user(e.into()))?;
        let smithy_capture = request
            .extensions()
            .get::<CaptureSmithyConnection>()
            .cloned();
        let mut request = request.map(upload);
        request.extensions_mut().insert(self.timeouts);
        if let Some(smithy_capture) = smithy_capture {
            let capture = CaptureConnection::capture(&mut request);
            smithy_capture.set_connection_retriever(move || capture.get().map(metadata));
        }
        let response = self
            .client
            .transport
            .send(request)
            .await
            .map_err(classify)?;
        HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
            .map_err(|e| ConnectorError::other(e.into(), None))
    }
}

/// A connection as smithy describes it, poisoned through the transport.
fn metadata(info: ConnectionInfo) -> ConnectionMetadata {
    let mut builder = ConnectionMetadata::builder()
        .proxied(info.proxied)
        .connection_id(ConnectionId::new(info.id));
    builder.set_remote_addr(info.remote_addr);
    builder.set_local_addr(info.local_addr);
    builder
        .poison_fn(move || {
            info.poison();
        })
        .build()
}

/// The SDK's request body as a transport body: empty, made again for each
/// send when the SDK can make it again (`try_clone`), or read once.
fn upload(body: SdkBody) -> Body {
    if body.bytes().is_some_and(<[u8]>::is_empty) {
        return Body::empty();
    }
    match body.try_clone() {
        // the SDK's bodies that can be cloned once can be cloned again
        // (the clone makes its stream with the same function); `taken` is
        // a body that fails when read, should one not be
        Some(_) => Body::replayable(move || {
            Body::from_http_body(body.try_clone().unwrap_or_else(SdkBody::taken))
        }),
        None => Body::from_http_body(body),
    }
}

/// httpswap's error kinds as smithy's classes: the SDK retries `timeout`
/// and `io` errors (held by `aws_s3.rs`: the server down, then back); a
/// proxy's refusal is `other`, which it does not retry.
fn classify(e: Error) -> ConnectorError {
    match e.kind() {
        ErrorKind::ConnectTimeout
        | ErrorKind::ReadTimeout
        | ErrorKind::WriteTimeout
        | ErrorKind::PoolTimeout
        | ErrorKind::Timeout => ConnectorError::timeout(e.into()),
        ErrorKind::Connect
        | ErrorKind::Read
        | ErrorKind::Write
        | ErrorKind::RemoteProtocol
        | ErrorKind::ProxyConnect => ConnectorError::io(e.into()),
        ErrorKind::LocalProtocol
        | ErrorKind::UnsupportedProtocol
        | ErrorKind::InvalidUrl
        | ErrorKind::Builder
        | ErrorKind::BodyNotReplayable
        | ErrorKind::BodyTooLarge => ConnectorError::user(e.into()),
        _ => ConnectorError::other(e.into(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_onto_smithy_classes() {
        let of = |kind| classify(Error::from_kind(kind));
        assert!(of(ErrorKind::ReadTimeout).is_timeout());
        assert!(of(ErrorKind::PoolTimeout).is_timeout());
        assert!(of(ErrorKind::Connect).is_io());
        assert!(of(ErrorKind::RemoteProtocol).is_io());
        assert!(of(ErrorKind::ProxyConnect).is_io());
        assert!(of(ErrorKind::Proxy).is_other());
        assert!(of(ErrorKind::InvalidUrl).is_user());
        assert!(of(ErrorKind::Decoding).is_other());
        assert!(of(ErrorKind::Closed).is_other());
    }

    #[tokio::test]
    async fn uploads_replay_when_the_sdk_can_make_them_again() {
        let body = upload(SdkBody::from("abc"));
        assert!(body.is_replayable());
        assert_eq!(body.content_length(), Some(3));
        let copy = body.try_clone().expect("replayable");
        assert_eq!(body.collect_bytes().await.unwrap(), "abc");
        assert_eq!(copy.collect_bytes().await.unwrap(), "abc");
        assert!(upload(SdkBody::empty())
            .as_bytes()
            .is_some_and(|b| b.is_empty()));
        let once = SdkBody::from_body_1_x(Body::from_stream(futures_util::stream::iter([Ok::<
            _,
            std::io::Error,
        >(
            "x"
        )])));
        assert!(!upload(once).is_replayable());
    }
}
