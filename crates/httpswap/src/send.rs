//! What `Client::execute` does above the transport: retries around
//! redirects around single attempts, the total deadline across all of
//! them, decompression of the final response, events and tracing. The
//! common case (answered at once, nothing to follow or retry) takes none
//! of that machinery: see [`Execution`].

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

/// Where a call's request may still carry user info in its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credentials {
    /// A request built elsewhere (`Client::execute`): its URL's user
    /// info, if any, becomes `Authorization` in `Client::prepare`.
    InUrl,
    /// A request of `Client::request`, which took the URL's user info
    /// out already (`RequestBuilder::query` cannot put any back).
    Taken,
}

/// Per-request changes to the client's policies, carried in the request's
/// extensions by the request builder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RequestOptions {
    pub(crate) max_retries: Option<u32>,
    pub(crate) follow_redirects: Option<bool>,
}

/// How much of a redirect's (or retried response's) body is read so that
/// its connection can be reused, and for how long at most.
const DRAIN_LIMIT: usize = 64 * 1024;
const DRAIN_TIME: Duration = Duration::from_millis(250);

/// What one call needs to know beyond the client's own settings (the
/// retry policy but its limit, decompression: read from the client). Kept
/// small: it is moved with the call's state.
pub(crate) struct Call {
    /// The hooks of the call, `tracing`'s and the user's; `None` when
    /// nobody listens (no user hooks, `tracing` off for `httpswap` at
    /// DEBUG), so that no event is made, here or in the transport.
    pub(crate) events: Option<Arc<dyn Events>>,
    /// Whether user hooks listen (the client's or the request's own).
    pub(crate) hooks: bool,
    /// The retries allowed (the client's limit, or the request's own).
    pub(crate) retries: u32,
    /// `None`: redirects are not followed.
    pub(crate) max_redirects: Option<usize>,
    pub(crate) deadline: Option<Box<Deadline>>,
}

/// A call's total deadline, and the timeouts each attempt gets with what
/// is left of it.
pub(crate) struct Deadline {
    pub(crate) at: Instant,
    pub(crate) total: Duration,
    pub(crate) timeouts: Timeouts,
}

/// A copy of a request made before the transport takes it: its head (with
/// all its extensions: the call's events, timeouts and options) and its
/// body when that is replayable. A retry sends the request again from it;
/// a redirect makes the next hop from it. One copy serves both.
pub(crate) struct Replay {
    request: http::Request<Option<Body>>,
    /// The copy was made after [`Client::complete`]: a next hop made
    /// from it has its headers, rewritten for its origin, and must not get
    /// the defaults again (a default `Authorization` dropped on the way to
    /// another host stays dropped).
    completed: bool,
}

impl Replay {
    fn of(req: &Request, completed: bool) -> Box<Replay> {
        Box::new(Replay {
            request: with_head_of(req, req.body().try_clone()),
            completed,
        })
    }

    /// The request again, when its body is replayable.
    fn request(&self) -> Option<Request> {
        let body = self.request.body().as_ref()?.try_clone()?;
        Some(with_head_of(&self.request, body))
    }

    fn replayable(&self) -> bool {
        self.request.body().is_some()
    }
}

/// The first request's copy, kept by the common path until it is needed.
/// A plain request (no header of its own, no extension, the default
/// version, an empty buffered body: a GET as most are made) keeps nothing:
/// its method and URL are the sent ones, which the answer carries (`Hop`),
/// so its copy is made from them only when the call goes on to a redirect
/// or a retry. (`plain_requests_are_redirected_and_retried_from_their_answer`
/// holds that both ways make the same copy.)
enum FirstCopy {
    Plain,
    Full(Box<Replay>),
}

impl FirstCopy {
    fn of(req: &Request) -> FirstCopy {
        if req.headers().is_empty()
            && req.extensions().is_empty()
            && req.version() == http::Version::HTTP_11
            && req.body().as_bytes().is_some_and(Bytes::is_empty)
        {
            FirstCopy::Plain
        } else {
            FirstCopy::Full(Replay::of(req, false))
        }
    }

    fn replayable(&self) -> bool {
        match self {
            FirstCopy::Plain => true,
            FirstCopy::Full(replay) => replay.replayable(),
        }
    }

    /// The full copy; a plain one made with the method and URL it was
    /// sent with.
    fn into_replay(self, method: &Method, uri: &Uri) -> Box<Replay> {
        match self {
            FirstCopy::Full(replay) => replay,
            FirstCopy::Plain => {
                let mut request = http::Request::new(Some(Body::empty()));
                *request.method_mut() = method.clone();
                *request.uri_mut() = uri.clone();
                Box::new(Replay {
                    request,
                    completed: false,
                })
            }
        }
    }
}

/// A request with `body` and a copy of `from`'s head: method, URL,
/// version, headers and every extension.
fn with_head_of<A, B>(from: &http::Request<A>, body: B) -> http::Request<B> {
    let mut to = http::Request::new(body);
    *to.method_mut() = from.method().clone();
    *to.uri_mut() = from.uri().clone();
    *to.version_mut() = from.version();
    *to.headers_mut() = from.headers().clone();
    *to.extensions_mut() = from.extensions().clone();
    to
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

type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'a>>;

/// One request handed to the transport: what its end needs to know.
struct Sent<'a> {
    method: Method,
    uri: Uri,
    attempt: u32,
    /// When it was handed over, for the end event's duration: read only
    /// when there are events.
    started: Option<Instant>,
    send: SendFuture<'a>,
}

/// One request sent and answered (a hop of an attempt): the response or
/// the transport's error, with the request's method and URL.
struct Hop {
    method: Method,
    uri: Uri,
    outcome: Result<Response, Error>,
}

impl Client {
    /// Hands one request to the transport, with its start event and the
    /// deadline's share (what is left of it bounds this attempt, body
    /// included). `Err` when the deadline has passed already.
    fn send_one(&self, mut request: Request, attempt: u32, call: &Call) -> Result<Sent<'_>, Error> {
        let method = request.method().clone();
        let uri: Uri = request.uri().clone();
        if let Some(d) = &call.deadline {
            let left = d.at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(deadline_error(d.total));
            }
            let mut t = d.timeouts;
            t.total = Some(left);
            request.extensions_mut().insert(t);
        }
        if let Some(events) = &call.events {
            events.request_start(&RequestStart::new(method.clone(), uri.clone(), attempt));
        }
        let started = call.events.is_some().then(Instant::now);
        let send = self.transport().send(request);
        let send = match call.deadline.as_deref() {
            // boxed again, the rare case: the common one stays one future
            Some(&Deadline { at, total, .. }) => Box::pin(async move {
                tokio::time::timeout_at(at, send)
                    .await
                    .unwrap_or_else(|_| Err(deadline_error(total)))
            }),
            None => send,
        };
        Ok(Sent {
            method,
            uri,
            attempt,
            started,
            send,
        })
    }

    /// One request on the transport, sent and answered.
    async fn hop(&self, request: Request, attempt: u32, call: &Call) -> Hop {
        let method = request.method().clone();
        let uri = request.uri().clone();
        match self.send_one(request, attempt, call) {
            Ok(mut sent) => {
                let result = sent.send.as_mut().await;
                let outcome = ended(&sent, result, call);
                Hop {
                    method: sent.method,
                    uri: sent.uri,
                    outcome,
                }
            }
            Err(e) => Hop {
                method,
                uri,
                outcome: Err(e),
            },
        }
    }

    /// The general path, from the first answer on: redirects followed and
    /// retries made as the policies say. `replay` is the copy of the
    /// request (kept when it may be retried or redirected).
    async fn resume(
        &self,
        call: Call,
        replay: Option<Box<Replay>>,
        first: Hop,
    ) -> Result<Response, Error> {
        let mut attempt = 1u32;
        let mut hop = first;
        // redirects followed in this attempt, and the copy of the hop sent
        // last when it is not the attempt's first
        let mut count = 0;
        let mut hop_copy: Option<Box<Replay>> = None;
        loop {
            let result = match hop.outcome {
                Err(e) => Err(Failure::Transport(e)),
                Ok(res) => {
                    let from = hop_copy.as_deref().or(replay.as_deref());
                    match self.next_hop(&res, &hop.method, &hop.uri, &mut count, &call, from) {
                        Ok(Some(next)) => {
                            drain(res.into_body()).await;
                            hop_copy = Some(Replay::of(&next, true));
                            hop = self.hop(next, attempt, &call).await;
                            continue;
                        }
                        Ok(None) => Ok((res, hop.method)),
                        Err(e) => Err(Failure::Policy(e)),
                    }
                }
            };
            let retries_done = attempt - 1;
            let Some(tpl) = replay
                .as_deref()
                .filter(|r| r.replayable() && retries_done < call.retries)
            else {
                return finish_hop(result, self, &call);
            };
            let (delay, status, error) = match &result {
                Ok((res, _)) => (
                    self.retry_policy()
                        .for_response(res.status(), res.headers(), retries_done),
                    Some(res.status()),
                    None,
                ),
                Err(Failure::Transport(e)) => (
                    self.retry_policy().for_error(
                        e,
                        tpl.request.method(),
                        tpl.request.headers(),
                        retries_done,
                    ),
                    None,
                    Some(e.kind()),
                ),
                Err(Failure::Policy(_)) => (None, None, None),
            };
            let Some(delay) = delay else {
                return finish_hop(result, self, &call);
            };
            if call
                .deadline
                .as_ref()
                .is_some_and(|d| httpswap_adapter::deadline_after(Instant::now(), delay) >= d.at)
            {
                // the next attempt could not finish in time: the caller
                // learns more from this answer than from a Timeout
                return finish_hop(result, self, &call);
            }
            attempt += 1;
            let mut event = Retry::new(
                tpl.request.method().clone(),
                tpl.request.uri().clone(),
                attempt,
                delay,
            );
            event.status = status;
            event.error = error;
            if let Some(events) = &call.events {
                events.retry(&event);
            }
            if let Ok((res, _)) = result {
                drain(res.into_body()).await;
            }
            tokio::time::sleep(delay).await;
            let mut request = tpl.request().expect("the template is replayable");
            self.complete(&mut request, &call);
            count = 0;
            hop_copy = None;
            hop = self.hop(request, attempt, &call).await;
        }
    }
}

impl Client {
    /// The next request when `res` (the answer to `method` `uri`) is a
    /// redirect to follow, made from `from` (the copy of the request that got
    /// it); `None` when it is not one. Counts it in `count`.
    fn next_hop(
        &self,
        res: &Response,
        method: &Method,
        uri: &Uri,
        count: &mut usize,
        call: &Call,
        from: Option<&Replay>,
    ) -> Result<Option<Request>, Error> {
        let status = res.status();
        let Some((max, location)) = redirect_to_follow(res, call) else {
            return Ok(None);
        };
        let to = resolve_location(uri, location)?;
        *count += 1;
        if *count > max {
            return Err(Error::new(
                ErrorKind::TooManyRedirects,
                format!("more than {max} redirects; the last one from {uri} to {to}"),
            ));
        }
        let from = from.expect("a copy is kept when redirects are followed");
        let completed = from.completed;
        let from = &from.request;
        let next = next_method(status, method);
        let drop_body = next != *method || status.as_u16() == 303;
        let body = match (drop_body, from.body().as_ref().and_then(Body::try_clone)) {
            (true, _) => Body::empty(),
            (false, Some(body)) => body,
            (false, None) => {
                return Err(Error::new(
                    ErrorKind::BodyNotReplayable,
                    format!(
                        "{status} redirect from {uri} to {to} needs the request body again, but it was a stream"
                    ),
                ))
            }
        };
        let mut next_request = Request::new(body);
        *next_request.method_mut() = next.clone();
        *next_request.uri_mut() = to.clone();
        *next_request.headers_mut() = from.headers().clone();
        *next_request.extensions_mut() = from.extensions().clone();
        // the defaults first, so that the rewrite for the new origin applies
        // to them too (a default `Authorization` is not sent to another host)
        if !completed {
            self.complete(&mut next_request, call);
        }
        rewrite_headers(next_request.headers_mut(), uri, &to, drop_body);
        if let Some(events) = &call.events {
            events.redirect(&Redirect::new(uri.clone(), to, status, next, *count));
        }
        Ok(Some(next_request))
    }
}

/// The end of one request on the transport: its end or error event, and
/// the URL on the error (for `Error::url`); a response nobody listens
/// for, the common end, needs none of that.
fn ended(sent: &Sent<'_>, result: Result<Response, Error>, call: &Call) -> Result<Response, Error> {
    if call.events.is_none() && result.is_ok() {
        return result;
    }
    let elapsed = sent.started.map(|at| at.elapsed()).unwrap_or_default();
    match result {
        Ok(res) => {
            if let Some(events) = &call.events {
                events.request_end(&RequestEnd::new(
                    sent.method.clone(),
                    sent.uri.clone(),
                    res.status(),
                    sent.attempt,
                    elapsed,
                ));
            }
            Ok(res)
        }
        Err(e) => {
            if let Some(events) = &call.events {
                events.request_error(&RequestError::new(
                    sent.method.clone(),
                    sent.uri.clone(),
                    e.kind(),
                    sent.attempt,
                    elapsed,
                ));
            }
            Err(match e.url() {
                Some(_) => e,
                None => e.with_url(sent.uri.clone()),
            })
        }
    }
}

/// A call to [`Client::execute`]: its common case, a request answered at
/// once with no redirect to follow and no retry to make, is one request on
/// the transport, with no state beyond it; anything else continues on the
/// general path ([`Client::resume`], boxed).
pub(crate) struct Execution<'a> {
    client: &'a Client,
    span: tracing::Span,
    state: State<'a>,
}

enum State<'a> {
    /// Not polled yet.
    Start(Request),
    /// The first request is with the transport.
    First {
        call: Call,
        replay: Option<FirstCopy>,
        sent: Sent<'a>,
    },
    General(SendFuture<'a>),
    Done,
}

impl<'a> Execution<'a> {
    pub(crate) fn new(client: &'a Client, request: Request) -> Self {
        Execution {
            client,
            span: tracing::Span::none(),
            state: State::Start(request),
        }
    }

    /// A call started at once (by a future that is being polled), for a
    /// request `Client::request` built: its URL has no user info (taken
    /// into `Authorization` there), so none is looked for again.
    pub(crate) fn started(client: &'a Client, request: Request) -> Self {
        // made in place: the state and the call are not moved again
        let mut span = tracing::Span::none();
        let state = Self::start(client, &mut span, request, Credentials::Taken);
        Execution {
            client,
            span,
            state,
        }
    }

    /// Starts the call: outside a tokio runtime, on httpswap's own;
    /// else the request prepared (`Client::prepare`) and handed to the
    /// transport, within the call's `request` span (made into `span`).
    fn start(
        client: &'a Client,
        span: &mut tracing::Span,
        mut request: Request,
        credentials: Credentials,
    ) -> State<'a> {
        if tokio::runtime::Handle::try_current().is_err() {
            let this = client.clone();
            return State::General(Box::pin(httpswap_adapter::outside_tokio(async move {
                this.execute(request).await
            })));
        }
        let call = match client.prepare(&mut request, credentials) {
            Ok(call) => call,
            Err(e) => return State::General(Box::pin(std::future::ready(Err(e)))),
        };
        *span = tracing::debug_span!(
            target: "httpswap",
            "request",
            method = %request.method(),
            url = %request.uri(),
        );
        let _in = span.enter();
        // asked here, in the call's span, as its events would be
        let mut call = call;
        if !call.hooks && tracing::enabled!(target: "httpswap", tracing::Level::DEBUG) {
            call.events = Some(client.traced_events());
        }
        // the copy is made before the defaults are added: a plain GET's
        // has no header to copy (they are added again to what is sent
        // from it)
        let replay =
            (call.retries > 0 || call.max_redirects.is_some()).then(|| FirstCopy::of(&request));
        client.complete(&mut request, &call);
        match client.send_one(request, 1, &call) {
            Ok(sent) => State::First { call, replay, sent },
            Err(e) => State::General(Box::pin(std::future::ready(Err(e)))),
        }
    }
}

impl Future for Execution<'_> {
    type Output = Result<Response, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                State::Start(_) => {
                    let State::Start(request) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("matched above")
                    };
                    this.state =
                        Self::start(this.client, &mut this.span, request, Credentials::InUrl);
                }
                State::First { call, replay, sent } => {
                    let _in = this.span.enter();
                    let result = std::task::ready!(sent.send.as_mut().poll(cx));
                    let mut outcome = ended(sent, result, call);
                    if !may_go_on(&outcome, this.client, call, replay.as_ref()) {
                        // the common end: the state is dropped where it is
                        if let Ok(response) = &mut outcome {
                            finish(response, &sent.method, this.client, call);
                        }
                        this.state = State::Done;
                        return Poll::Ready(outcome);
                    }
                    let State::First { call, replay, sent } =
                        std::mem::replace(&mut this.state, State::Done)
                    else {
                        unreachable!("matched above")
                    };
                    let hop = Hop {
                        method: sent.method,
                        uri: sent.uri,
                        outcome,
                    };
                    let client = this.client;
                    let replay = replay.map(|r| r.into_replay(&hop.method, &hop.uri));
                    this.state =
                        State::General(Box::pin(
                            async move { client.resume(call, replay, hop).await },
                        ));
                }
                State::General(rest) => {
                    let _in = this.span.enter();
                    let out = std::task::ready!(rest.as_mut().poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(out);
                }
                State::Done => panic!("`Execution` polled after it completed"),
            }
        }
    }
}

/// Whether the first answer may lead to more than itself: a redirect to
/// follow, or a retry (an error, or a status that asks for one, with a
/// replayable copy and retries allowed). Only then does the call take the
/// general path, which decides.
fn may_go_on(
    outcome: &Result<Response, Error>,
    client: &Client,
    call: &Call,
    replay: Option<&FirstCopy>,
) -> bool {
    let retries = call.retries > 0 && replay.is_some_and(FirstCopy::replayable);
    match outcome {
        Err(_) => retries,
        Ok(res) => {
            redirect_to_follow(res, call).is_some()
                || (retries
                    && client
                        .retry_policy()
                        .wants_retry_after(res.status(), res.headers()))
        }
    }
}

/// The redirect limit and the `Location` of a redirect the call follows;
/// `None` for any other response.
fn redirect_to_follow<'r>(
    res: &'r Response,
    call: &Call,
) -> Option<(usize, &'r http::HeaderValue)> {
    let max = call.max_redirects?;
    if !is_redirect(res.status()) {
        return None;
    }
    Some((max, res.headers().get(LOCATION)?))
}

/// The final response of the general path, as [`finish`] makes it.
fn finish_hop(
    result: Result<(Response, Method), Failure>,
    client: &Client,
    call: &Call,
) -> Result<Response, Error> {
    let (mut response, method) = result.map_err(Failure::into_error)?;
    finish(&mut response, &method, client, call);
    Ok(response)
}

/// Makes `response` (the answer to a `method` request) the final one:
/// decoded, and bounded by the deadline. In place: the common response,
/// neither compressed nor under a deadline, is not moved.
fn finish(response: &mut Response, method: &Method, client: &Client, call: &Call) {
    if let Some(max_decompressed) = client.decompression() {
        crate::decompress::decode(response, method, max_decompressed);
    }
    if let Some(&Deadline { at, total, .. }) = call.deadline.as_deref() {
        let inner = std::mem::take(response.body_mut());
        *response.body_mut() = Body::new(DeadlineBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(at)),
            total,
        });
    }
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

#[cfg(test)]
mod tests {
    use super::{FirstCopy, Replay};
    use httpswap_core::{Body, Request};

    /// What a redirect or a retry is made from: the method, URL, version,
    /// headers, extensions and body of the copy.
    async fn head_and_body(replay: &Replay) -> (String, Option<bytes::Bytes>) {
        let r = &replay.request;
        let head = format!(
            "{} {} {:?} {:?} {} {}",
            r.method(),
            r.uri(),
            r.version(),
            r.headers(),
            r.extensions().len(),
            replay.completed
        );
        let body = match r.body().as_ref().and_then(Body::try_clone) {
            Some(body) => Some(body.collect_bytes().await.unwrap()),
            None => None,
        };
        (head, body)
    }

    #[tokio::test]
    async fn plain_requests_are_redirected_and_retried_from_their_answer() {
        let requests = || {
            let mut with_header = Request::new(Body::empty());
            with_header
                .headers_mut()
                .insert("x-a", http::HeaderValue::from_static("1"));
            let mut with_extension = Request::new(Body::empty());
            with_extension.extensions_mut().insert(7u8);
            let mut http10 = Request::new(Body::empty());
            *http10.version_mut() = http::Version::HTTP_10;
            vec![
                Request::new(Body::empty()),
                Request::new(Body::full(bytes::Bytes::new())),
                Request::new(Body::full("payload")),
                Request::new(Body::from_stream(futures_util::stream::empty::<
                    Result<bytes::Bytes, std::io::Error>,
                >())),
                with_header,
                with_extension,
                http10,
            ]
        };
        for (mut request, plain) in requests()
            .into_iter()
            .zip([true, true, false, false, false, false, false])
        {
            *request.method_mut() = http::Method::PUT;
            *request.uri_mut() = "http://127.0.0.1:9/a?b".parse().unwrap();
            let copy = FirstCopy::of(&request);
            assert_eq!(matches!(copy, FirstCopy::Plain), plain);
            assert_eq!(copy.replayable(), Replay::of(&request, false).replayable());
            // the method and URL a plain copy gets are the sent ones
            let made = copy.into_replay(request.method(), request.uri());
            assert_eq!(
                head_and_body(&made).await,
                head_and_body(&Replay::of(&request, false)).await
            );
        }
    }
}
