//! The send pipeline: a request started ([`Inner::start`]), given a
//! connection (the fast path, or the general one through the pool), sent,
//! its head awaited within the read timeout, and sent once more on a new
//! connection when its reused one died before answering.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use futures_util::future::{Either, FutureExt, TryFutureExt};
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{PathAndQuery, Uri};
use http::{StatusCode, Version};
use httpswap_adapter::{is_idempotent, BodyLimits, RequestCopy};
use httpswap_core::{
    Body, CaptureConnection, ConnectionInfo, Error, ErrorKind, HeadLimits, Request, Response,
    SharedEvents, Timeouts,
};
use hyper::body::Incoming;

use crate::body::{map_body_error, HandedOver, ReqBody, ResBody};
use crate::connect::Target;
use crate::error::{is_dead_connection, map_hyper, Phase, BACKEND};
use crate::fast::{Fast, Waiting};
use crate::h1::{H1Conn, Waited};
use crate::io::WriteTimeout;
use crate::{Checkout, H1Lease, H2Pending, Inner, Lease, Slot};

/// Which connections the general path ([`Inner::send_inner`]) may take.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// An idle connection made for the request's very origin first, then
    /// anything the pool has.
    IdleFirst,
    /// [`Inner::start`] looked for such an idle connection already and
    /// found none: anything the pool has.
    IdleLookedFor,
    /// The resend after a reused connection died: a new connection only.
    NewOnly,
}

/// The copy a resend is made from, and its URL.
pub(crate) type Backup = Box<(RequestCopy, http::Uri)>;

/// How one attempt failed.
pub(crate) struct Failed {
    pub(crate) error: Error,
    /// The request, when hyper gave it back unsent.
    unsent: Option<Box<Request>>,
    /// The connection died under the request (one resend may be right).
    dead: bool,
}

impl Failed {
    fn new(error: Error) -> Self {
        Failed {
            error,
            unsent: None,
            dead: false,
        }
    }

    /// hyper's error for a request on a connection to `target`, and the
    /// request if hyper gave it back unsent.
    pub(crate) fn from_hyper(
        err: hyper::Error,
        unsent: Option<Box<Request>>,
        target: &Target,
    ) -> Self {
        let dead = is_dead_connection(&err);
        let mut error = map_hyper(err, Phase::Request, &target.origin());
        if unsent.is_some() {
            error = error.with_request_sent(false);
        }
        Failed {
            error,
            unsent,
            dead,
        }
    }

    /// A request whose HTTP/1 connection ended while it waited for its
    /// response, with no answer from hyper: it was never taken from hyper's
    /// queue (see [`ConnEnd`](crate::h1::ConnEnd)), so it was not sent, and
    /// it may be sent again.
    pub(crate) fn not_sent(target: &Target) -> Self {
        Failed {
            error: Error::new(
                ErrorKind::RemoteProtocol,
                format!(
                    "{} closed the connection before the request was sent",
                    target.origin()
                ),
            )
            .with_request_sent(false),
            unsent: None,
            dead: true,
        }
    }

    /// The one rule of resending, for both paths: a request whose *reused*
    /// connection died before answering is sent once more on a new
    /// connection, when hyper gave it back unsent or a copy was kept
    /// (`backup`: made only for idempotent requests with a replayable body).
    /// Else the error. Held by `stale_get_retried_once_after_close` and
    /// `stale_get_resent_on_a_fresh_connection_not_another_stale_one`.
    pub(crate) fn resend(
        self,
        backup: Option<Backup>,
        target: &Target,
    ) -> Result<Box<Request>, Error> {
        let backup = || backup.map(|b| Box::new(b.0.into_request(b.1)));
        match self.unsent.or_else(backup) {
            Some(again) if self.dead => {
                tracing::debug!(
                    ?target,
                    "reused connection was dead; sending again on a new one"
                );
                Ok(again)
            }
            _ => Err(self.error),
        }
    }
}

impl Inner {
    /// The timeouts of `request`: its own, else the configured ones.
    pub(crate) fn timeouts_for(&self, request: &Request) -> Result<Timeouts, Error> {
        Timeouts::for_request(request, &self.config.timeouts).map_err(|e| e.with_backend(BACKEND))
    }

    /// Starts a request. The usual case, a bodiless idempotent request with
    /// no total deadline and an idle HTTP/1 connection of its origin ready,
    /// is handed to that connection now (as `hyper`'s own `send_request`
    /// does): its future only waits for the head (see [`Fast`]). Everything
    /// else is done when the future is polled (`send`).
    pub(crate) fn start(
        self: &Arc<Self>,
        mut request: Request,
    ) -> Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + '_>> {
        // before anything looks at the URL: its user info is sent as Basic
        // authentication, never on the wire as it is, logged or in an error
        if let Err(e) = httpswap_core::backend::apply_url_credentials(&mut request) {
            return Box::pin(std::future::ready(Err(e.with_backend(BACKEND))));
        }
        let timeouts = match self.timeouts_for(&request) {
            Ok(t) => t,
            Err(e) => return Box::pin(std::future::ready(Err(e))),
        };
        let mut choice = Choice::IdleFirst;
        // (a request that asks for its connection's information takes the
        // general path, which records it)
        if timeouts.total.is_none()
            && is_idempotent(request.method())
            && http_body::Body::is_end_stream(request.body())
            && request.body().is_replayable()
            && request.extensions().get::<CaptureConnection>().is_none()
        {
            let events = SharedEvents::for_request(&request, self.config.events.as_ref());
            match self.exact_idle(request.uri(), events) {
                Some((target, lease)) => {
                    return match self.send_fast(request, target, lease, timeouts) {
                        Ok(fast) => Box::pin(fast),
                        Err(e) => Box::pin(std::future::ready(Err(e.with_backend(BACKEND)))),
                    }
                }
                None => choice = Choice::IdleLookedFor,
            }
        }
        Box::pin(
            self.send(request, timeouts, choice)
                .map_err(|e| e.with_backend(BACKEND)),
        )
    }

    /// Starts the fast path on `lease`, an idle connection of the
    /// request's origin (`target`).
    fn send_fast(
        self: &Arc<Self>,
        mut request: Request,
        target: Target,
        mut lease: H1Lease,
        timeouts: Timeouts,
    ) -> Result<Fast<'_, impl Future<Output = hyper::Result<http::Response<Incoming>>> + Send>, Error>
    {
        // A copy for the one resend a dead reused connection allows
        // (`RequestCopy`), with the request's own event hooks (the resend
        // looks for them there: held by
        // `the_fast_path_retry_keeps_the_request_hooks`), in a box, and
        // given the request's URL itself when the request takes the
        // origin-form (a URL copied and the original dropped cost more).
        let mut backup = RequestCopy::of(&request).map(|mut copy| {
            if let Some(events) = request.extensions().get::<SharedEvents>() {
                copy.extensions_mut().insert(events.clone());
            }
            Box::new((copy, http::Uri::default()))
        });
        let conn = lease.conn();
        conn.write_timeout.set(timeouts.write);
        let url = prepare_h1(&mut request, &target, conn)?;
        if let Some(backup) = &mut backup {
            backup.1 = url.unwrap_or_else(|| request.uri().clone());
        }
        let send = conn
            .sender
            .send_request(request.map(|b| ReqBody::new(b, None)));
        Ok(Fast {
            send,
            inner: self,
            read: timeouts.read,
            timer_set: false,
            waiting: Some(Waiting {
                lease,
                target,
                backup,
            }),
            resend: None,
        })
    }

    /// Sends within the total deadline, if one is set (the body is bound
    /// by it too, in `ResBody`).
    pub(crate) fn send(
        self: &Arc<Self>,
        request: Request,
        timeouts: Timeouts,
        choice: Choice,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        match timeouts.total {
            None => Either::Left(self.send_inner(Box::new(request), timeouts, None, choice)),
            // boxed: this rarer path must not make every request's future
            // (allocated and moved per request) bigger
            Some(total) => Either::Right(Box::pin(async move {
                let at = httpswap_adapter::deadline_after(tokio::time::Instant::now(), total);
                let uri = request.uri().clone();
                let request = Box::new(request);
                tokio::time::timeout_at(
                    at,
                    self.send_inner(request, timeouts, Some((at, total)), choice),
                )
                .await
                .unwrap_or_else(|_| Err(Error::timeout(ErrorKind::Timeout, total, uri)))
            })),
        }
    }

    // Written as a function returning an `async move` block, not as an
    // `async fn`: an `async fn` keeps its arguments twice in its state (as
    // arguments and as the locals they are moved to), and this state is
    // allocated for every request. It must stay under 1 KiB
    // (`the_request_future_stays_small`): larger blocks miss the
    // allocator's per-thread cache and take its arena lock.
    #[allow(clippy::manual_async_fn)]
    pub(crate) fn send_inner(
        self: &Arc<Self>,
        mut request: Box<Request>,
        timeouts: Timeouts,
        deadline: Option<(tokio::time::Instant, std::time::Duration)>,
        choice: Choice,
    ) -> impl Future<Output = Result<Response, Error>> + Send + '_ {
        async move {
            let events = SharedEvents::for_request(&request, self.config.events.as_ref()).cloned();
            // The usual case: an idle connection made for this very origin
            // (whose target is the request's, so none is built for it).
            let found = match choice {
                Choice::IdleFirst => self.exact_idle(request.uri(), events.as_ref()),
                Choice::IdleLookedFor | Choice::NewOnly => None,
            };
            let (target, mut idle) = match found {
                Some((target, lease)) => (target, Some(Checkout::Reused(Lease::H1(lease)))),
                None => (self.target_for(request.uri())?, None),
            };

            let mut fresh = choice == Choice::NewOnly;
            loop {
                // In a block: what it leaves behind is not kept in the state
                // while the attempt runs.
                let (mut conn, reused) = {
                    let connect = |slot: Slot, pending: Option<H2Pending>| {
                        self.connect_in_background(
                            &target,
                            slot,
                            pending,
                            &timeouts,
                            events.as_ref(),
                        )
                    };
                    // The usual case, an idle connection ready now, takes no
                    // wait; the others are boxed so that every request's future
                    // stays small.
                    let idle = idle.take().or_else(|| {
                        (!fresh)
                            .then(|| self.pool.try_idle(&target, events.as_ref()))
                            .flatten()
                    });
                    let checkout = match idle {
                        Some(checkout) => checkout,
                        None => {
                            Box::pin(self.pool.acquire(
                                &target,
                                fresh,
                                self.may_be_http2(&target),
                                timeouts.pool,
                                events.as_ref(),
                                connect,
                            ))
                            .await?
                        }
                    };
                    match checkout {
                        Checkout::Reused(conn) => (conn, true),
                        Checkout::Created(conn) => (conn, false),
                        Checkout::New(slot) => (
                            Box::pin(self.new_conn(&target, slot, &timeouts, events.as_ref()))
                                .await?,
                            false,
                        ),
                    }
                };
                // (looked up here, not kept: the future of every request
                // stays small, `the_request_future_stays_small`)
                if let Some(capture) = request.extensions().get::<CaptureConnection>() {
                    capture.set(connection_info(&mut conn, reused, target.proxy.is_some()));
                }
                // keep a copy for the one resend a dead reused connection allows
                let backup = (reused && !fresh && is_idempotent(request.method()))
                    .then(|| {
                        RequestCopy::of(&request).map(|c| Box::new((c, request.uri().clone())))
                    })
                    .flatten();
                match self
                    .attempt(
                        conn,
                        request,
                        &target,
                        &timeouts,
                        deadline,
                        backup.is_some(),
                    )
                    .await
                {
                    Ok(res) => return Ok(res),
                    Err(failed) if reused && !fresh => {
                        request = failed.resend(backup, &target)?;
                        fresh = true;
                    }
                    Err(failed) => return Err(failed.error),
                }
            }
        }
    }

    /// Sends one request on `conn` and waits for the response head. Not
    /// an `async fn`, for the reason given at `send_inner`.
    #[allow(clippy::manual_async_fn)]
    fn attempt<'a>(
        &'a self,
        mut conn: Lease,
        request: Box<Request>,
        target: &'a Target,
        timeouts: &'a Timeouts,
        deadline: Option<(tokio::time::Instant, std::time::Duration)>,
        has_backup: bool,
    ) -> impl Future<Output = Result<Response, Failed>> + Send + 'a {
        async move {
            write_timeout(&mut conn).set(timeouts.write);
            let mut request = request;
            prepare(&mut request, target, &mut conn).map_err(Failed::new)?;
            // a body still to be sent is tracked: the read timeout starts
            // when it was all handed over
            let handed_over = (!http_body::Body::is_end_stream(request.body()))
                .then(|| Arc::new(HandedOver::default()));
            let request = (*request).map(|b| ReqBody::new(b, handed_over.clone()));
            // Made in place, and its outcome made small at once: hyper's
            // error carries the unsent request inline (300 bytes), which
            // every layer above would copy again, for a rare case. With a
            // copy kept for the resend, the request need not come back:
            // `send_request` (whose outcome is small all through hyper)
            // does, an unsent request showing as a canceled error.
            let compact = |sent: Result<_, hyper::client::conn::TrySendError<_>>| {
                sent.map_err(|mut e| {
                    let unsent = e.take_message().map(Box::new);
                    (e.into_error(), unsent)
                })
            };
            let mut send = std::pin::pin!(match &mut conn {
                Lease::H1(l) if has_backup => Either::Left(Either::Left(
                    l.conn()
                        .sender
                        .send_request(request)
                        .map(|sent| sent.map_err(|e| (e, None))),
                )),
                Lease::H1(l) => Either::Left(Either::Right(
                    l.conn().sender.try_send_request(request).map(compact),
                )),
                Lease::H2(l) => {
                    Either::Right(l.handle.sender.try_send_request(request).map(compact))
                }
            });
            let result = loop {
                let pending_body = handed_over.as_ref().filter(|p| !p.is_done());
                // While the body is handed over, the wait ends with its last
                // chunk; after it, the read timeout runs. On HTTP/1 the end
                // of the connection ends it too (see `h1::ConnEnd`).
                let notified = pending_body.map(|p| p.notify.notified());
                tokio::pin!(notified);
                if let Some(n) = notified.as_mut().as_pin_mut() {
                    n.enable();
                    if pending_body.is_some_and(|p| p.is_done()) {
                        continue;
                    }
                }
                let limit = timeouts.read.filter(|_| pending_body.is_none());
                let mut body_handed_over =
                    |cx: &mut std::task::Context<'_>| match notified.as_mut().as_pin_mut() {
                        Some(n) => n.poll(cx),
                        None => Poll::Pending,
                    };
                let waited = match &mut conn {
                    Lease::H1(l) => {
                        if let Some(limit) = limit {
                            l.conn().start_head_timer(limit, handed_over.is_none());
                        }
                        std::future::poll_fn(|cx| {
                            if body_handed_over(cx).is_ready() {
                                return Poll::Ready(Waited::BodyHandedOver);
                            }
                            l.conn().poll_answer(cx, send.as_mut(), limit.is_some())
                        })
                        .await
                    }
                    // HTTP/2 streams share their connection: each has a
                    // timer of its own
                    Lease::H2(_) => {
                        let answer_or_body = std::future::poll_fn(|cx| {
                            if let Poll::Ready(r) = send.as_mut().poll(cx) {
                                return Poll::Ready(Waited::Answer(r));
                            }
                            body_handed_over(cx).map(|()| Waited::BodyHandedOver)
                        });
                        match limit {
                            Some(limit) => tokio::time::timeout(limit, answer_or_body)
                                .await
                                .unwrap_or(Waited::TimedOut),
                            None => answer_or_body.await,
                        }
                    }
                };
                match waited {
                    Waited::Answer(r) => break r,
                    Waited::BodyHandedOver => continue,
                    Waited::NotSent => return Err(Failed::not_sent(target)),
                    Waited::TimedOut => {
                        let limit = limit.unwrap_or_default();
                        return Err(Failed::new(Error::timeout(
                            ErrorKind::ReadTimeout,
                            limit,
                            target.origin(),
                        )));
                    }
                }
            };
            match result {
                Ok(res) => {
                    let limits = BodyLimits {
                        read: timeouts.read,
                        deadline,
                        backend: Some(BACKEND),
                    };
                    let head = &self.config.response_head;
                    respond(res, conn, target.clone(), head, limits).map_err(Failed::new)
                }
                Err((err, unsent)) => {
                    let unsent = unsent.map(|r| Box::new(r.map(ReqBody::into_inner)));
                    Err(Failed::from_hyper(err, unsent, target))
                }
            }
        }
    }
}

/// The write timeout of the connection under a lease.
fn write_timeout(conn: &mut Lease) -> &WriteTimeout {
    match conn {
        Lease::H1(l) => &l.conn().write_timeout,
        Lease::H2(l) => &l.handle.write_timeout,
    }
}

/// The `Keep-Alive` header (`http` has no constant for it).
const KEEP_ALIVE: http::header::HeaderName = http::header::HeaderName::from_static("keep-alive");

/// The response for a head that arrived: its body holds the connection
/// (given back to the pool at the body's end). A forward proxy's 407 is a
/// [`ErrorKind::Proxy`] error.
pub(crate) fn respond(
    res: http::Response<Incoming>,
    mut conn: Lease,
    target: Target,
    head: &HeadLimits,
    limits: BodyLimits,
) -> Result<Response, Error> {
    // refused, its connection closed with the lease dropped here
    httpswap_adapter::check_response_head(res.headers(), res.version(), head, || target.origin())?;
    if let Lease::H1(lease) = &mut conn {
        lease.conn().note_keep_alive(res.headers().get(KEEP_ALIVE));
    }
    match &target.proxy {
        Some(p)
            if target.forward_proxied()
                && res.status() == StatusCode::PROXY_AUTHENTICATION_REQUIRED =>
        {
            return Err(httpswap_core::backend::proxy_refused(
                res.status(),
                &p.proxy,
            ));
        }
        _ => {}
    }
    Ok(res.map(|incoming| Body::new(ResBody::new(incoming, target, map_body_error, conn, limits))))
}

/// Puts the request in the form the connection needs: Host header and
/// origin-form for HTTP/1 (absolute-form through a forward proxy, with
/// `Proxy-Authorization`); absolute-form, no Host, for HTTP/2.
fn prepare(req: &mut Request, target: &Target, conn: &mut Lease) -> Result<(), Error> {
    match conn {
        Lease::H1(lease) => prepare_h1(req, target, lease.conn()).map(drop),
        Lease::H2(_) => {
            *req.version_mut() = Version::HTTP_2;
            req.headers_mut().remove(HOST);
            Ok(())
        }
    }
}

/// [`prepare`] for an HTTP/1 connection. Returns the request's URL when it
/// was replaced by the origin-form.
fn prepare_h1(req: &mut Request, target: &Target, conn: &mut H1Conn) -> Result<Option<Uri>, Error> {
    *req.version_mut() = Version::HTTP_11;
    let forward_proxied = target.forward_proxied();
    // (an empty map, as a plain GET's often is, has nothing to look up)
    if !forward_proxied && !req.headers().is_empty() {
        req.headers_mut().remove(PROXY_AUTHORIZATION);
    }
    if !req.headers().contains_key(HOST) {
        let value = conn.host_header(target).map_err(|e| {
            Error::new(
                ErrorKind::InvalidUrl,
                format!("invalid host {:?}", target.host()),
            )
            .with_source(e)
        })?;
        req.headers_mut().insert(HOST, value);
    }
    if forward_proxied {
        if let Some(auth) = target.proxy.as_ref().and_then(|p| p.auth.clone()) {
            req.headers_mut().entry(PROXY_AUTHORIZATION).or_insert(auth);
        }
        Ok(None)
    } else {
        let pq = req
            .uri()
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Some(std::mem::replace(req.uri_mut(), Uri::from(pq))))
    }
}

/// What a request that asked ([`CaptureConnection`]) learns of `conn`,
/// with the way to poison it: an HTTP/1 connection is then closed when it
/// is given back, an HTTP/2 one takes no new stream (the pool drops
/// connections that say they are closed: `Poolable::is_closed`).
fn connection_info(conn: &mut Lease, reused: bool, proxied: bool) -> ConnectionInfo {
    match conn {
        Lease::H1(l) => {
            let c = l.conn();
            let end = c.end.clone();
            ConnectionInfo::new(c.id, reused, false)
                .with_addrs(c.addrs.remote, c.addrs.local)
                .with_proxied(proxied)
                .with_poison(move || end.poison())
        }
        Lease::H2(l) => {
            let poisoned = l.handle.poisoned.clone();
            ConnectionInfo::new(l.id, reused, true)
                .with_addrs(l.handle.addrs.remote, l.handle.addrs.local)
                .with_proxied(proxied)
                .with_poison(move || poisoned.store(true, std::sync::atomic::Ordering::Release))
        }
    }
}
