//! object_store's S3, Azure, GCS and HTTP stores over an httpswap
//! transport (feature `object_store`): [`SdkClient`] is object_store's
//! `HttpConnector`. Take the store's `*-base` feature (`aws-base`, not
//! `aws`, which compiles reqwest for object_store's own client) and a
//! crypto provider (`ring` or `aws-lc-rs`) for signing.
//!
//! What the store gets is said at [`SdkClient`]'s `HttpConnector`
//! implementation: its `ClientOptions` timeouts and `allow_http`, its
//! error kinds.
//!
//! ```
//! use httpswap_core::{SharedTransport, TransportConfig};
//! let transport = httpswap_hyper::HyperTransport::new(TransportConfig::default())?;
//! let store = object_store::aws::AmazonS3Builder::new()
//!     .with_bucket_name("bucket")
//!     .with_region("us-east-1")
//!     .with_http_connector(httpswap_sdk::SdkClient::new(SharedTransport::new(transport)))
//!     .build();
//! assert!(store.is_ok());
//! # Ok::<(), httpswap_core::Error>(())
//! ```

use async_trait::async_trait;
use http_body_util::BodyExt;
use httpswap_core::{Body, Error, ErrorKind, TimeoutOverrides};
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpRequestBody,
    HttpResponse, HttpResponseBody, HttpService,
};
use object_store::{ClientConfigKey, ClientOptions};

use crate::SdkClient;

/// (feature `object_store`) object_store's `HttpConnector`: the HTTP client
/// of its S3, Azure, GCS and HTTP stores
/// (`AmazonS3Builder::new().with_http_connector(client)`).
///
/// Of the store's `ClientOptions`, the timeouts (`timeout` as the total,
/// `connect_timeout`, `read_timeout`; 30 s and 5 s by default) apply to
/// each request, the transport's other timeouts staying as they are, and
/// `allow_http` is kept: an `http://` URL is refused unless it is set.
/// The transport's own settings govern the rest (proxies, TLS roots, pool),
/// so the options for those are not read.
///
/// Errors are given object_store's kinds so that its retry decides right:
/// timeouts as `Timeout`, a connection not made (refused, proxy down) as
/// `Connect` (both retried; a proxy's refusal is `Unknown`, not retried), a
/// connection that failed under the request as
/// `Interrupted` (retried when the request is idempotent), a body that
/// cannot be decoded as `Decode`, the rest as `Unknown`.
impl HttpConnector for SdkClient {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let duration = |key| {
            options
                .get_config_value(&key)
                .map(|text| {
                    humantime::parse_duration(&text).map_err(|e| object_store::Error::Generic {
                        store: "httpswap",
                        source: format!("{key:?} {text:?}: {e}").into(),
                    })
                })
                .transpose()
        };
        let mut timeouts = self.timeouts.unwrap_or_default();
        if let Some(total) = duration(ClientConfigKey::Timeout)? {
            timeouts = timeouts.total(total);
        }
        if let Some(connect) = duration(ClientConfigKey::ConnectTimeout)? {
            timeouts = timeouts.connect(connect);
        }
        if let Some(read) = duration(ClientConfigKey::ReadTimeout)? {
            timeouts = timeouts.read(read);
        }
        let allow_http = options
            .get_config_value(&ClientConfigKey::AllowHttp)
            .is_some_and(|v| v == "true");
        Ok(HttpClient::new(StoreService {
            client: self.clone(),
            timeouts,
            allow_http,
        }))
    }
}

/// The service [`SdkClient::connect`] makes for one store.
#[derive(Debug)]
struct StoreService {
    client: SdkClient,
    timeouts: TimeoutOverrides,
    allow_http: bool,
}

#[async_trait]
impl HttpService for StoreService {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        if !self.allow_http && request.uri().scheme() == Some(&http::uri::Scheme::HTTP) {
            return Err(HttpError::new(
                HttpErrorKind::Unknown,
                Error::new(
                    ErrorKind::InvalidUrl,
                    "an http:// URL, and the store's ClientOptions do not allow HTTP",
                ),
            ));
        }
        let mut request = request.map(upload);
        request.extensions_mut().insert(self.timeouts);
        let response = self
            .client
            .transport
            .send(request)
            .await
            .map_err(classify)?;
        Ok(response.map(|body| HttpResponseBody::new(body.map_err(classify))))
    }
}

/// The store's request body (in memory, as object_store keeps it) as a
/// transport body that can be sent again: zero-copy either way.
fn upload(body: HttpRequestBody) -> Body {
    match body.as_bytes() {
        Some(bytes) => Body::from(bytes.clone()),
        None => Body::replayable(move || Body::from_http_body(body.clone())),
    }
}

/// httpswap's error kinds as object_store's (its retry reads them).
fn classify(e: Error) -> HttpError {
    let kind = match e.kind() {
        ErrorKind::ConnectTimeout
        | ErrorKind::ReadTimeout
        | ErrorKind::WriteTimeout
        | ErrorKind::PoolTimeout
        | ErrorKind::Timeout => HttpErrorKind::Timeout,
        ErrorKind::Connect | ErrorKind::ProxyConnect => HttpErrorKind::Connect,
        ErrorKind::Read | ErrorKind::Write | ErrorKind::RemoteProtocol => {
            HttpErrorKind::Interrupted
        }
        ErrorKind::Decoding => HttpErrorKind::Decode,
        _ => HttpErrorKind::Unknown,
    };
    HttpError::new(kind, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_onto_object_store_kinds() {
        let of = |kind| classify(Error::from_kind(kind)).kind();
        assert_eq!(of(ErrorKind::ConnectTimeout), HttpErrorKind::Timeout);
        assert_eq!(of(ErrorKind::Connect), HttpErrorKind::Connect);
        assert_eq!(of(ErrorKind::RemoteProtocol), HttpErrorKind::Interrupted);
        assert_eq!(of(ErrorKind::Decoding), HttpErrorKind::Decode);
        assert_eq!(of(ErrorKind::InvalidUrl), HttpErrorKind::Unknown);
        assert_eq!(of(ErrorKind::ProxyConnect), HttpErrorKind::Connect);
        assert_eq!(of(ErrorKind::Proxy), HttpErrorKind::Unknown);
    }

    #[tokio::test]
    async fn in_memory_uploads_are_sent_as_they_are_and_replay() {
        let body = upload(HttpRequestBody::from(bytes::Bytes::from_static(b"abc")));
        assert_eq!(body.as_bytes().map(|b| &b[..]), Some(&b"abc"[..]));
        let payload = object_store::PutPayload::from_iter([
            bytes::Bytes::from_static(b"ab"),
            bytes::Bytes::from_static(b"cd"),
        ]);
        let body = upload(HttpRequestBody::from(payload));
        assert!(body.is_replayable());
        assert_eq!(body.content_length(), Some(4));
        let copy = body.try_clone().expect("replayable");
        assert_eq!(body.collect_bytes().await.unwrap(), "abcd");
        assert_eq!(copy.collect_bytes().await.unwrap(), "abcd");
    }
}
