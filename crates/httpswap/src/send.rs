//! What `Client::execute` does above the transport: retries around
//! redirects around single attempts, the total deadline across all of
//! them, decompression of the final response, events and tracing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::LOCATION;
use http::{Method, Uri};
use http_body::{Frame, SizeHint};
use httpswap_core::events::{Redirect, RequestEnd, RequestError, RequestStart, Retry};
use httpswap_core::{Body, Error, ErrorKind, Events, HttpTransport, Request, Response, Timeouts};
use tokio::time::{Instant, Sleep};

use crate::client::Client;
use crate::redirect::{is_redirect, next_method, resolve_location, rewrite_headers};
use crate::retry::RetryPolicy;

/// Per-request changes to the client's policies, carried in the request's
/// extensions by the request builder.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestOptions {
    pub(crate) max_retries: Option<u32>,
    pub(crate) follow_redirects: Option<bool>,
}

/// How much of a redirect's (or retried response's) body is read so that
/// its connection can be reused, and for how long at most.
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_millis(250);

/// What one call needs to know.
pub(crate) struct Call {
    pub(crate) events: Arc<dyn Events>,
    pub(crate) timeouts: Timeouts,
    pub(crate) deadline: Option<(Instant, Duration)>,
    pub(crate) retry: RetryPolicy,
    /// `None`: redirects are not followed.
    pub(crate) max_redirects: Option<usize>,
    pub(crate) decompress: bool,
    pub(crate) max_decompressed: Option<u64>,
}

/// A copy of `req` to send again, if its body is replayable, with all its
/// extensions (the call's events, timeouts and options).
fn try_clone(req: &Request) -> Option<Request> {
    let mut copy = httpswap_adapter::try_clone_request(req)?;
    *copy.extensions_mut() = req.extensions().clone();
    Some(copy)
}

/// Why an attempt failed: the transport (maybe worth a retry), or a policy
/// of this layer (a bad `Location`, too many redirects: the same again).
enum Failure {
    Transport(Error),
    Policy(Error),
}

impl Failure {
    fn into_error(self) -> Error {
        match self {
            Failure::Transport(e) | Failure::Policy(e) => e,
        }
    }
}

fn deadline_error(total: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("request deadline of {total:?} exceeded"),
    )
}

/// Reads what is left of a body we do not need, so that its connection can
/// go back to the pool; gives up (dropping the body, which closes the
/// connection) after 64 KiB or 250 ms.
async fn drain(body: Body) {
    let _ = tokio::time::timeout(DRAIN_TIME, body.collect_bytes_limited(DRAIN_LIMIT)).await;
}

impl Client {
    pub(crate) async fn run(&self, request: Request, call: Call) -> Result<Response, Error> {
        let template = if call.retry.retries() > 0 {
            try_clone(&request)
        } else {
            None
        };
        let mut attempt = 1u32;
        let mut request = request;
        loop {
            let result = self.follow(request, attempt, &call).await;
            let retries_done = attempt - 1;
            let Some(tpl) = template
                .as_ref()
                .filter(|_| retries_done < call.retry.retries())
            else {
                return finish(result, &call);
            };
            let (delay, status, error) = match &result {
                Ok((res, _)) => (
                    call.retry
                        .for_response(res.status(), res.headers(), retries_done),
                    Some(res.status()),
                    None,
                ),
                Err(Failure::Transport(e)) => (
                    call.retry
                        .for_error(e, tpl.method(), tpl.headers(), retries_done),
                    None,
                    Some(e.kind()),
                ),
                Err(Failure::Policy(_)) => (None, None, None),
            };
            let Some(delay) = delay else {
                return finish(result, &call);
            };
            if call
                .deadline
                .is_some_and(|(at, _)| Instant::now() + delay >= at)
            {
                // the next attempt could not finish in time: the caller
                // learns more from this answer than from a Timeout
                return finish(result, &call);
            }
            attempt += 1;
            let mut event = Retry::new(tpl.method().clone(), tpl.uri().clone(), attempt, delay);
            event.status = status;
            event.error = error;
            call.events.retry(&event);
            if let Ok((res, _)) = result {
                drain(res.into_body()).await;
            }
            tokio::time::sleep(delay).await;
            request = try_clone(tpl).expect("the template is replayable");
        }
    }

    /// One attempt: the request and the redirects it leads to.
    async fn follow(
        &self,
        mut request: Request,
        attempt: u32,
        call: &Call,
    ) -> Result<(Response, Method), Failure> {
        let mut count = 0;
        loop {
            let method = request.method().clone();
            let uri = request.uri().clone();
            // what a redirect needs, before the transport takes the request
            let replay = call.max_redirects.map(|_| {
                (
                    request.headers().clone(),
                    request.body().try_clone(),
                    request.extensions().clone(),
                )
            });
            let response = self
                .attempt(request, attempt, call)
                .await
                .map_err(Failure::Transport)?;
            let status = response.status();
            let (Some(max), true) = (call.max_redirects, is_redirect(status)) else {
                return Ok((response, method));
            };
            let Some(location) = response.headers().get(LOCATION) else {
                return Ok((response, method));
            };
            let to = resolve_location(&uri, location).map_err(Failure::Policy)?;
            count += 1;
            if count > max {
                return Err(Failure::Policy(Error::new(
                    ErrorKind::TooManyRedirects,
                    format!("more than {max} redirects; the last one from {uri} to {to}"),
                )));
            }
            let (mut headers, body, extensions) = replay.expect("kept when following");
            let next = next_method(status, &method);
            let drop_body = next != method || status.as_u16() == 303;
            let body = match (drop_body, body) {
                (true, _) => Body::empty(),
                (false, Some(body)) => body,
                (false, None) => {
                    return Err(Failure::Policy(Error::new(
                        ErrorKind::BodyNotReplayable,
                        format!(
                            "{status} redirect from {uri} to {to} needs the request body again, but it was a stream"
                        ),
                    )))
                }
            };
            rewrite_headers(&mut headers, &uri, &to, drop_body);
            let mut next_request = Request::new(body);
            *next_request.method_mut() = next.clone();
            *next_request.uri_mut() = to.clone();
            *next_request.headers_mut() = headers;
            *next_request.extensions_mut() = extensions;
            call.events
                .redirect(&Redirect::new(uri, to, status, next, count));
            drain(response.into_body()).await;
            request = next_request;
        }
    }

    /// One request on the transport, with its events and the deadline.
    async fn attempt(
        &self,
        mut request: Request,
        attempt: u32,
        call: &Call,
    ) -> Result<Response, Error> {
        let method = request.method().clone();
        let uri: Uri = request.uri().clone();
        if let Some((at, total)) = call.deadline {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(deadline_error(total));
            }
            // the transport bounds this attempt, body included, by what is left
            let mut t = call.timeouts;
            t.total = Some(left);
            request.extensions_mut().insert(t);
        }
        call.events
            .request_start(&RequestStart::new(method.clone(), uri.clone(), attempt));
        let started = Instant::now();
        let send = self.transport().send(request);
        let result = match call.deadline {
            Some((at, total)) => tokio::time::timeout_at(at, send)
                .await
                .unwrap_or_else(|_| Err(deadline_error(total))),
            None => send.await,
        };
        let elapsed = started.elapsed();
        match result {
            Ok(res) => {
                let end = RequestEnd::new(method, uri, res.status(), attempt, elapsed);
                call.events.request_end(&end);
                Ok(res)
            }
            Err(e) => {
                let error = RequestError::new(method, uri.clone(), e.kind(), attempt, elapsed);
                call.events.request_error(&error);
                // the URL the call failed on, for `Error::url`
                Err(match e.url() {
                    Some(_) => e,
                    None => e.with_url(uri),
                })
            }
        }
    }
}

/// The final response: decoded, and bounded by the deadline.
fn finish(result: Result<(Response, Method), Failure>, call: &Call) -> Result<Response, Error> {
    let (mut response, method) = result.map_err(Failure::into_error)?;
    if call.decompress {
        response = crate::decompress::decode(response, &method, call.max_decompressed);
    }
    if let Some((at, total)) = call.deadline {
        response = response.map(|body| {
            Body::new(DeadlineBody {
                inner: body,
                sleep: Box::pin(tokio::time::sleep_until(at)),
                total,
            })
        });
    }
    Ok(response)
}

/// A body that fails with [`ErrorKind::Timeout`] once the deadline passed,
/// whatever the transport underneath does about it.
struct DeadlineBody {
    inner: Body,
    sleep: Pin<Box<Sleep>>,
    total: Duration,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        // the deadline first: a body that keeps streaming is cut there too
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(deadline_error(self.total))));
        }
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
