//! tower interop, both ways.
//!
//! - [`SharedTransport`] is a `tower::Service<Request>`, so any transport can
//!   sit under tower middleware (wrap a concrete transport with
//!   [`SharedTransport::new`] first).
//! - [`ServiceTransport`] turns any `tower::Service<http::Request<Body>>`
//!   into a transport.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use tower_service::Service;

use crate::error::{BoxError, Error, ErrorKind};
use crate::transport::{HttpTransport, Request, Response, SharedTransport};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl Service<Request> for SharedTransport {
    type Response = Response;
    type Error = Error;
    type Future = BoxFuture<Result<Response, Error>>;

    /// Always ready: the pool applies back-pressure inside `send`.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.send(request).await })
    }
}

/// A transport made from any tower service.
///
/// The service is cloned for each request (as tower services that are
/// shared usually are), driven to readiness, then called. Its errors are
/// kept when they are this crate's [`Error`], otherwise wrapped as
/// [`ErrorKind::Other`] with the original as source.
///
/// ```
/// use httpswap_core::{Body, HttpTransport, ServiceTransport};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap_core::Error> {
/// let svc = tower::service_fn(|req: http::Request<Body>| async move {
///     Ok::<_, std::convert::Infallible>(http::Response::new(Body::from(req.uri().to_string())))
/// });
/// let transport = ServiceTransport::new(svc).with_name("service_fn");
/// let res = transport.send(http::Request::get("http://a/b").body(Body::empty())?).await?;
/// assert_eq!(res.into_body().collect_bytes().await?, "http://a/b");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ServiceTransport<S> {
    service: S,
    name: &'static str,
}

impl<S> ServiceTransport<S> {
    /// Wraps `service`; its backend name is `"tower"` until
    /// [`with_name`](Self::with_name).
    pub fn new(service: S) -> Self {
        ServiceTransport {
            service,
            name: "tower",
        }
    }

    /// Sets the name reported by [`HttpTransport::name`] and attached to errors.
    #[must_use]
    pub fn with_name(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }
}

impl<S> fmt::Debug for ServiceTransport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceTransport")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl<S> HttpTransport for ServiceTransport<S>
where
    S: Service<Request, Response = Response> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    async fn send(&self, request: Request) -> Result<Response, Error> {
        let mut svc = self.service.clone();
        let map =
            |e: S::Error| Error::from_boxed(e.into(), ErrorKind::Other).with_backend(self.name);
        std::future::poll_fn(|cx| svc.poll_ready(cx))
            .await
            .map_err(map)?;
        svc.call(request).await.map_err(map)
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Body;
    use tower::ServiceExt;

    #[tokio::test]
    async fn transport_is_a_tower_service() {
        let svc = tower::service_fn(|_req: Request| async {
            Ok::<_, Error>(
                http::Response::builder()
                    .status(204)
                    .body(Body::empty())
                    .unwrap(),
            )
        });
        let shared = SharedTransport::new(ServiceTransport::new(svc));
        let res = shared
            .oneshot(http::Request::new(Body::empty()))
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }

    #[tokio::test]
    async fn foreign_service_errors_are_wrapped_with_source() {
        let svc = tower::service_fn(|_req: Request| async {
            Err::<Response, _>(std::io::Error::other("backend down"))
        });
        let t = ServiceTransport::new(svc).with_name("svc");
        let err = t.send(http::Request::new(Body::empty())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert_eq!(err.backend(), Some("svc"));
        assert!(std::error::Error::source(&err)
            .unwrap()
            .is::<std::io::Error>());
    }

    #[tokio::test]
    async fn our_errors_pass_through_a_service() {
        let svc = tower::service_fn(|_req: Request| async {
            Err::<Response, _>(Error::from_kind(ErrorKind::ReadTimeout))
        });
        let err = ServiceTransport::new(svc)
            .send(http::Request::new(Body::empty()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ReadTimeout);
    }
}
