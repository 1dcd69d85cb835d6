//! Helpers on `http::Response<Body>`.

use bytes::Bytes;
use httpswap_core::{async_trait, Error, ErrorKind, Response};

/// Convenience methods on a [`Response`], so that transports and the
/// client return one and the same type.
///
/// ```
/// use httpswap::{Body, ResponseExt};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap::Error> {
/// let res = http::Response::new(Body::from(r#"{"ok":true}"#));
/// let v: serde_json::Value = res.json().await?;
/// assert_eq!(v["ok"], true);
///
/// let res = http::Response::builder().status(503).body(Body::empty()).unwrap();
/// assert_eq!(res.error_for_status().unwrap_err().status().unwrap(), 503);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait ResponseExt: Sized {
    /// The whole body.
    ///
    /// # Errors
    ///
    /// Any error while reading the body (timeouts, truncation).
    async fn bytes(self) -> Result<Bytes, Error>;

    /// The whole body as text (UTF-8, invalid sequences replaced).
    ///
    /// # Errors
    ///
    /// As [`bytes`](ResponseExt::bytes).
    async fn text(self) -> Result<String, Error>;

    /// The body parsed as JSON.
    ///
    /// # Errors
    ///
    /// As [`bytes`](ResponseExt::bytes), or [`ErrorKind::Decoding`] when the
    /// body is not valid JSON for `T`.
    async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error>;

    /// The response itself for a 1xx-3xx status, an
    /// [`ErrorKind::Status`] error for 4xx and 5xx.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Status`] with the status attached.
    fn error_for_status(self) -> Result<Self, Error>;
}

#[async_trait]
impl ResponseExt for Response {
    async fn bytes(self) -> Result<Bytes, Error> {
        self.into_body().collect_bytes().await
    }

    async fn text(self) -> Result<String, Error> {
        self.into_body().collect_string().await
    }

    async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, Error> {
        let bytes = self.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                ErrorKind::Decoding,
                format!("invalid json in response body: {e}"),
            )
            .with_source(e)
        })
    }

    fn error_for_status(self) -> Result<Self, Error> {
        let status = self.status();
        if status.is_client_error() || status.is_server_error() {
            Err(Error::new(ErrorKind::Status, format!("http status {status}")).with_status(status))
        } else {
            Ok(self)
        }
    }
}
