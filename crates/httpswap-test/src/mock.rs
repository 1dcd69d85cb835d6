//! A transport that never touches the network.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use httpswap_core::{async_trait, Body, Error, ErrorKind, HttpTransport, Request, Response};

type Handler = dyn Fn(&RecordedRequest) -> Result<Response, Error> + Send + Sync;

/// A request as the mock saw it, body read in full.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The method.
    pub method: Method,
    /// The full URL.
    pub uri: Uri,
    /// All headers, repeated ones kept.
    pub headers: HeaderMap,
    /// The body, collected.
    pub body: Bytes,
}

/// A transport answering from a closure or a queue of canned responses.
///
/// Every request is recorded (body collected) before it is answered; read
/// them back with [`requests`](MockTransport::requests).
///
/// ```
/// use httpswap_core::{Body, HttpTransport};
/// use httpswap_test::MockTransport;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), httpswap_core::Error> {
/// let mock = MockTransport::from_fn(|req| {
///     Ok(http::Response::new(Body::from(format!("you asked for {}", req.uri.path()))))
/// });
/// let res = mock.send(http::Request::get("http://api.test/a").body(Body::empty())?).await?;
/// assert_eq!(res.into_body().collect_bytes().await?, "you asked for /a");
/// assert_eq!(mock.requests()[0].uri, "http://api.test/a");
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct MockTransport {
    handler: Arc<Handler>,
    seen: Arc<Mutex<Vec<RecordedRequest>>>,
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockTransport")
            .field("requests", &self.request_count())
            .finish()
    }
}

impl MockTransport {
    /// Answers every request by calling `f`.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn(&RecordedRequest) -> Result<Response, Error> + Send + Sync + 'static,
    {
        MockTransport {
            handler: Arc::new(f),
            seen: Arc::default(),
        }
    }

    /// Answers with these results, in order. Once the queue is empty every
    /// request fails with an [`ErrorKind::Other`] error saying so (never a
    /// panic), so a test that sends more than it scripted fails clearly.
    pub fn from_queue(results: impl IntoIterator<Item = Result<Response, Error>>) -> Self {
        let queue = Mutex::new(results.into_iter().collect::<VecDeque<_>>());
        MockTransport::from_fn(move |req| {
            queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
                .unwrap_or_else(|| {
                    Err(Error::new(
                        ErrorKind::Other,
                        format!(
                            "mock transport has no response left for {} {}",
                            req.method, req.uri
                        ),
                    ))
                })
        })
    }

    /// Answers with these `(status, body)` pairs, in order.
    pub fn from_responses<B: Into<Body>>(responses: impl IntoIterator<Item = (u16, B)>) -> Self {
        Self::from_queue(responses.into_iter().map(|(status, body)| {
            Ok(http::Response::builder()
                .status(status)
                .body(body.into())
                .expect("valid status"))
        }))
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many requests were seen.
    pub fn request_count(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[async_trait]
impl HttpTransport for MockTransport {
    async fn send(&self, request: Request) -> Result<Response, Error> {
        let (parts, body) = request.into_parts();
        let recorded = RecordedRequest {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body: body
                .collect_bytes()
                .await
                .map_err(|e| e.with_backend("mock"))?,
        };
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(recorded.clone());
        (self.handler)(&recorded).map_err(|e| e.with_backend("mock"))
    }

    fn name(&self) -> &'static str {
        "mock"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_answers_in_order_then_errors() {
        let mock = MockTransport::from_responses([(200, "a"), (503, "b")]);
        let req = || {
            http::Request::post("http://x/")
                .body(Body::from("payload"))
                .unwrap()
        };
        let r1 = mock.send(req()).await.unwrap();
        assert_eq!(r1.status(), 200);
        let r2 = mock.send(req()).await.unwrap();
        assert_eq!(r2.status(), 503);
        assert_eq!(r2.into_body().collect_bytes().await.unwrap(), "b");
        let e = mock.send(req()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Other);
        assert_eq!(e.backend(), Some("mock"));
        assert!(e.to_string().contains("no response left"));
        assert_eq!(mock.request_count(), 3);
        assert!(mock.requests().iter().all(|r| r.body == "payload"));
    }

    #[tokio::test]
    async fn queued_errors_are_returned() {
        let mock = MockTransport::from_queue([Err(Error::from_kind(ErrorKind::ConnectTimeout))]);
        let e = mock
            .send(http::Request::get("http://x/").body(Body::empty()).unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectTimeout);
    }
}
