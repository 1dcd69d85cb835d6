//! `Client`: base URL, default headers, request builder.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, ACCEPT_ENCODING, USER_AGENT};
use http::{HeaderMap, Method, Uri};
use httpswap_core::{
    redact_url, Body, Error, ErrorKind, Events, HttpTransport, Request, Response, SharedEvents,
    SharedTransport, Timeouts, TransportConfig, TransportConfigBuilder,
};
use tokio::time::Instant;
use url::Url;

use crate::backend::default_transport;
#[cfg(feature = "__backend")]
use crate::backend::FailedTransport;
use crate::redirect::DEFAULT_MAX_REDIRECTS;
use crate::request::RequestBuilder;
use crate::retry::RetryPolicy;
use crate::send::{Call, Credentials, Deadline, RequestOptions};
use crate::trace::Traced;

/// The `User-Agent` sent unless one is set: `httpswap/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("httpswap/", env!("CARGO_PKG_VERSION"));

/// An HTTP client over any [`HttpTransport`].
///
/// Cheap to clone: clones share one transport, hence one connection pool.
///
/// ```no_run
/// # #[cfg(feature = "__backend")]
/// # async fn run() -> Result<(), httpswap::Error> {
/// use httpswap::{Client, ResponseExt};
/// let client = Client::new();
/// let text = client.get("http://127.0.0.1:8080/hello").send().await?.text().await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: SharedTransport,
    base_url: Option<Url>,
    /// What every request gets where it has no header of that name: the
    /// `User-Agent`, the builder's default headers, and `Accept-Encoding`
    /// when decompression is on, in that order (`sent_headers`).
    headers: HeaderMap,
    /// The transport's timeouts (what a per-request override starts from),
    /// with the client's total deadline.
    timeouts: Timeouts,
    /// The user's hooks behind the tracing forwarder.
    events: Arc<dyn Events>,
    /// Whether the user gave hooks (else only `tracing` may listen).
    hooks: bool,
    retry: RetryPolicy,
    max_redirects: Option<usize>,
    decompress: bool,
    max_decompressed: Option<u64>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.inner.transport.name())
            .field(
                "base_url",
                &self.inner.base_url.as_ref().map(|u| redact_url(u.as_str())),
            )
            .field("timeouts", &self.inner.timeouts)
            .field("retry", &self.inner.retry)
            .field("max_redirects", &self.inner.max_redirects)
            .field("decompress", &self.inner.decompress)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with the default backend and the default configuration
    /// (connect 5 s; read, write, pool 600 s; 1000 connections, 100 kept
    /// alive; proxies from the environment).
    ///
    /// Never panics: if the default transport cannot be built (say
    /// `HTTPS_PROXY` holds an invalid URL), every request of this client
    /// fails with an [`ErrorKind::Builder`] error that says why. Use
    /// [`Client::builder`] to get that error up front.
    #[cfg(feature = "__backend")]
    pub fn new() -> Client {
        Client::builder().build().unwrap_or_else(|e| {
            Client::from_transport(SharedTransport::new(FailedTransport::new(&e)))
        })
    }

    /// A builder for a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    fn from_transport(transport: SharedTransport) -> Client {
        let headers = sent_headers(HeaderMap::new(), true);
        Client {
            inner: Arc::new(Inner {
                timeouts: transport.timeouts().unwrap_or_default(),
                transport,
                base_url: None,
                headers,
                events: Arc::new(Traced { user: None }),
                hooks: false,
                retry: RetryPolicy::default(),
                max_redirects: Some(DEFAULT_MAX_REDIRECTS),
                decompress: true,
                max_decompressed: None,
            }),
        }
    }

    /// The transport under this client.
    pub fn transport(&self) -> &SharedTransport {
        &self.inner.transport
    }

    /// The timeouts a request's own override starts from.
    pub(crate) fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }

    /// A request with `method` to `url` (joined to the base URL if relative).
    /// A URL that does not parse, or holds a control character such as CR,
    /// LF, tab or NUL (which URL parsers would silently drop), fails the
    /// send with [`ErrorKind::InvalidUrl`].
    ///
    /// User info in the URL (`http://alice:s3cret@host/`) is sent as
    /// `Authorization: Basic ...`, percent-decoded, as httpx, reqwest and
    /// curl do; it replaces a default `Authorization` header, and a header
    /// set on this request replaces it. It is removed from the URL, so it
    /// never appears in the request line, `Host`, events, `tracing` or
    /// errors (see [`redact_url`](crate::redact_url) for printing URLs).
    ///
    /// The client's default headers (`User-Agent`, those of
    /// [`ClientBuilder::default_header`]) are added when the request is
    /// sent, where it has no header of that name, as reqwest does: the
    /// request [`RequestBuilder::build`] returns has only its own.
    pub fn request(&self, method: Method, url: &str) -> RequestBuilder {
        let built = self.resolve_uri(url).and_then(|(uri, credentials)| {
            let mut req = Request::new(Body::empty());
            *req.method_mut() = method;
            *req.uri_mut() = uri;
            if credentials {
                // the URL's credentials are this request's own (a header
                // set on the builder later wins over them)
                httpswap_core::backend::apply_url_credentials(&mut req)?;
            }
            Ok(req)
        });
        RequestBuilder {
            client: self.clone(),
            request: built,
            timeouts: None,
            options: RequestOptions::default(),
        }
    }

    /// `url` as the request's URL, and whether it carries user info. A URL
    /// the WHATWG parser would give back unchanged is taken as is (see
    /// `canonical`); any other goes through [`resolve`](Self::resolve).
    /// The thread's last answer is handed out again for the same text
    /// under the same base (`resolved`).
    fn resolve_uri(&self, url: &str) -> Result<(Uri, bool), Error> {
        let base = self.inner.base_url.as_ref();
        crate::resolved::resolved(base, url, || self.resolve_uri_anew(url))
    }

    fn resolve_uri_anew(&self, url: &str) -> Result<(Uri, bool), Error> {
        if self.inner.base_url.is_none() {
            if let Some(uri) = crate::canonical::as_is(url) {
                return Ok((uri, false));
            }
        }
        let url = self.resolve(url)?;
        let credentials = !url.username().is_empty() || url.password().is_some();
        let uri = Uri::try_from(String::from(url))
            .map_err(|e| Error::new(ErrorKind::InvalidUrl, "invalid url").with_source(e))?;
        Ok((uri, credentials))
    }

    /// A `GET` request.
    pub fn get(&self, url: &str) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: &str) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: &str) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: &str) -> RequestBuilder {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: &str) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request.
    pub fn head(&self, url: &str) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// Sends a request built elsewhere, with every policy of this client:
    /// default headers are added where the request has none of that name,
    /// `Accept-Encoding` when decompression is on, and then redirects are
    /// followed, failures retried, the response decoded, all within the
    /// total deadline, firing events and `tracing` spans on the way (see
    /// the crate docs for the order). Timeouts and events carried in the
    /// request's extensions win over the client's.
    ///
    /// # Errors
    ///
    /// Any transport error of the last attempt; [`ErrorKind::TooManyRedirects`],
    /// [`ErrorKind::BodyNotReplayable`] (a 307/308 with a streaming body),
    /// [`ErrorKind::RemoteProtocol`] (an invalid `Location`) and
    /// [`ErrorKind::Timeout`] (the total deadline) from the policies. Never
    /// an HTTP status.
    ///
    /// Called from a thread without a tokio runtime (a `futures` executor,
    /// an OpenTelemetry batch exporter's thread), the call runs on a
    /// runtime of httpswap's own instead of panicking (see
    /// [`outside_tokio`](httpswap_adapter::outside_tokio)).
    pub fn execute(
        &self,
        request: Request,
    ) -> impl std::future::Future<Output = Result<Response, Error>> + Send + '_ {
        crate::send::Execution::new(self, request)
    }

    /// What a call needs to know, taken from `request` (URL credentials
    /// applied, the call's options taken out of its extensions). What it
    /// then gets before each send is [`complete`](Self::complete)'s.
    pub(crate) fn prepare(
        &self,
        request: &mut Request,
        credentials: Credentials,
    ) -> Result<Call, Error> {
        let inner = &*self.inner;
        // user info leaves the URL before it is sent or recorded; an
        // `Authorization` the request has wins over it
        if credentials == Credentials::InUrl {
            httpswap_core::backend::apply_url_credentials(request)?;
        }
        let ext = request.extensions_mut();
        let options = ext.remove::<RequestOptions>().unwrap_or_default();
        // without hooks, the call's events are `tracing`'s alone, taken
        // (`traced_events`) only where `tracing` listens: an `Arc` cloned
        // and dropped on every request is a shared count two threads
        // write to
        let events = match ext.get::<SharedEvents>() {
            Some(own) => Some(Arc::new(Traced {
                user: Some(own.0.clone()),
            }) as Arc<dyn Events>),
            None if inner.hooks => Some(inner.events.clone()),
            None => None,
        };
        let timeouts = Timeouts::for_request(request, &inner.timeouts)?;
        Ok(Call {
            hooks: events.is_some(),
            events,
            retries: options.max_retries.unwrap_or_else(|| inner.retry.retries()),
            max_redirects: match options.follow_redirects {
                Some(false) => None,
                Some(true) => inner.max_redirects.or(Some(DEFAULT_MAX_REDIRECTS)),
                None => inner.max_redirects,
            },
            deadline: timeouts.total.map(|total| {
                Box::new(Deadline {
                    at: httpswap_adapter::deadline_after(Instant::now(), total),
                    total,
                    timeouts,
                })
            }),
        })
    }

    /// The events of a call with no hooks, when `tracing` listens.
    pub(crate) fn traced_events(&self) -> Arc<dyn Events> {
        self.inner.events.clone()
    }

    /// The retry policy; a call's own limit is [`Call::retries`].
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// `Some(limit)` when responses are decoded (the decoded size limit,
    /// if any); `None` when they are not.
    pub(crate) fn decompression(&self) -> Option<Option<u64>> {
        self.inner.decompress.then_some(self.inner.max_decompressed)
    }

    /// What every request of a call gets before it is sent (the first, a
    /// retry, a redirect's next hop before its headers are rewritten for
    /// the new origin): the default headers it has none of, the
    /// `Accept-Encoding` the decoder handles, the call's events for the
    /// transport's connection events.
    pub(crate) fn complete(&self, request: &mut Request, call: &Call) {
        let inner = &*self.inner;
        let headers = request.headers_mut();
        // A request with no header of its own has no map allocated yet: it
        // gets one with room for the defaults and the `Host` an HTTP/1
        // transport adds, half the size of the one a first insert makes,
        // for every request in flight (`a_plain_request_gets_a_header_map_of_its_size`).
        // (A copy of the client's map would hash nothing, but has no room
        // left: the transport's `Host` then grows it, which costs more.)
        if headers.is_empty() {
            // (no more than a map holds: the client's own map holds them)
            let _ = headers.try_reserve(inner.headers.len() + 1);
        }
        for (name, value) in &inner.headers {
            headers.entry(name).or_insert_with(|| value.clone());
        }
        if let Some(events) = &call.events {
            request
                .extensions_mut()
                .insert(SharedEvents(events.clone()));
        }
    }

    fn resolve(&self, url: &str) -> Result<Url, Error> {
        // the WHATWG parser silently drops tabs and line breaks inside a
        // URL; a URL carrying one is refused instead (header injection)
        if let Some(c) = url.chars().find(|c| c.is_ascii_control()) {
            return Err(Error::new(
                ErrorKind::InvalidUrl,
                format!("invalid url {:?}: control character {c:?}", redact_url(url)),
            ));
        }
        let parsed = match &self.inner.base_url {
            Some(base) => base.join(url.trim_start_matches('/')),
            None => Url::parse(url),
        };
        let url = parsed.map_err(|e| {
            Error::new(
                ErrorKind::InvalidUrl,
                format!("invalid url {:?}: {e}", redact_url(url)),
            )
            .with_source(e)
        })?;
        match url.scheme() {
            "http" | "https" => Ok(url),
            other => Err(Error::new(
                ErrorKind::UnsupportedProtocol,
                format!(
                    "unsupported url scheme {other:?} in {}: expected http or https",
                    redact_url(url.as_str())
                ),
            )),
        }
    }
}

#[cfg(feature = "__backend")]
impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

/// Builds a [`Client`]. Setters never fail; the first error is kept and
/// returned by [`build`](ClientBuilder::build).
#[must_use]
#[derive(Default)]
pub struct ClientBuilder {
    transport: Option<SharedTransport>,
    config: Option<TransportConfigBuilder>,
    base_url: Option<String>,
    headers: HeaderMap,
    events: Option<Arc<dyn Events>>,
    retry: Option<RetryPolicy>,
    max_redirects: Option<Option<usize>>,
    decompress: Option<bool>,
    max_decompressed: Option<u64>,
    timeout_total: Option<Option<Duration>>,
    error: Option<Error>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("config", &self.config)
            .field("base_url", &self.base_url.as_deref().map(redact_url))
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn fail(mut self, e: Error) -> Self {
        self.error.get_or_insert(e);
        self
    }

    /// Uses this transport instead of building the default one. Any
    /// transport works: a backend, a test double such as
    /// `httpswap_test::MockTransport`, or a tower service wrapped in
    /// [`ServiceTransport`](crate::ServiceTransport).
    pub fn transport(mut self, transport: impl Into<TransportArg>) -> Self {
        self.transport = Some(transport.into().0);
        self
    }

    /// Changes the configuration of the default transport, starting from the
    /// defaults. Ignored (and reported by `build`) with a custom transport.
    pub fn config(
        mut self,
        f: impl FnOnce(TransportConfigBuilder) -> TransportConfigBuilder,
    ) -> Self {
        let b = self.config.take().unwrap_or_else(TransportConfig::builder);
        self.config = Some(f(b));
        self
    }

    /// Every request URL is joined to this one (`https://api.example.com/v1/`).
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = Some(url.to_owned());
        self
    }

    /// A header sent with every request (unless the request sets it).
    pub fn default_header(self, name: &str, value: &str) -> Self {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                let mut this = self;
                this.headers.insert(n, v);
                this
            }
            _ => self.fail(Error::new(
                ErrorKind::LocalProtocol,
                format!("invalid default header {name:?}"),
            )),
        }
    }

    /// The `User-Agent` header (default [`DEFAULT_USER_AGENT`]).
    pub fn user_agent(self, value: &str) -> Self {
        self.default_header("user-agent", value)
    }

    /// Event hooks for requests and connections.
    pub fn events(mut self, events: Arc<dyn Events>) -> Self {
        self.events = Some(events);
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`], the OpenAI
    /// SDK's; [`RetryPolicy::none`] turns retries off).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// At most `n` retries, keeping the rest of the retry policy (default 2;
    /// 0 turns retries off).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.retry = Some(self.retry.unwrap_or_default().max_retries(n));
        self
    }

    /// Whether redirects are followed (default: yes, at most 20). When not,
    /// a 3xx response is returned as it is.
    pub fn follow_redirects(mut self, yes: bool) -> Self {
        self.max_redirects = Some(yes.then_some(DEFAULT_MAX_REDIRECTS));
        self
    }

    /// Follows at most `n` redirects; one more is an
    /// [`ErrorKind::TooManyRedirects`] error (default 20).
    pub fn max_redirects(mut self, n: usize) -> Self {
        self.max_redirects = Some(Some(n));
        self
    }

    /// Whether compressed responses are decoded and `Accept-Encoding` set
    /// (default: yes).
    pub fn decompress(mut self, yes: bool) -> Self {
        self.decompress = Some(yes);
        self
    }

    /// A decoded body longer than `bytes` fails with an
    /// [`ErrorKind::Decoding`] error (default: no limit). A guard against
    /// decompression bombs; it applies to compressed responses only.
    pub fn max_decompressed_size(mut self, bytes: u64) -> Self {
        self.max_decompressed = Some(bytes);
        self
    }

    /// The total deadline of each call: all attempts, redirects and retry
    /// waits, and reading the body (default: the transport's total timeout,
    /// none for the default transport). [`ErrorKind::Timeout`] when it passes.
    pub fn timeout_total(mut self, d: impl Into<Option<Duration>>) -> Self {
        self.timeout_total = Some(d.into());
        self
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`] for the first setter error, an invalid
    /// configuration, `config` combined with a custom transport, or no
    /// transport at all (no backend feature enabled and none given: the
    /// message names the features to enable). [`ErrorKind::InvalidUrl`] for
    /// a base URL that does not parse.
    pub fn build(self) -> Result<Client, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let base_url = self
            .base_url
            .map(|u| {
                let mut url = Url::parse(&u).map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidUrl,
                        format!("invalid base url {:?}: {e}", redact_url(&u)),
                    )
                    .with_source(e)
                })?;
                if !url.path().ends_with('/') {
                    let path = format!("{}/", url.path());
                    url.set_path(&path);
                }
                Ok::<_, Error>(url)
            })
            .transpose()?;
        let (transport, timeouts) = match (self.transport, self.config) {
            (Some(_), Some(_)) => {
                return Err(Error::builder(
                    "config(..) applies to the default transport; configure a custom transport when you build it",
                ))
            }
            (Some(t), None) => (t, None),
            (None, config) => {
                let config = config.unwrap_or_else(TransportConfig::builder).build()?;
                let timeouts = config.timeouts;
                (default_transport(config)?, Some(timeouts))
            }
        };
        let mut client = Client::from_transport(transport);
        let inner = Arc::get_mut(&mut client.inner).expect("not shared yet");
        inner.base_url = base_url;
        if let Some(t) = timeouts {
            inner.timeouts = t;
        }
        if let Some(total) = self.timeout_total {
            inner.timeouts.total = total;
        }
        inner.hooks = self.events.is_some();
        inner.events = Arc::new(Traced { user: self.events });
        if let Some(r) = self.retry {
            inner.retry = r;
        }
        if let Some(m) = self.max_redirects {
            inner.max_redirects = m;
        }
        if let Some(d) = self.decompress {
            inner.decompress = d;
        }
        inner.headers = sent_headers(self.headers, inner.decompress);
        inner.max_decompressed = self.max_decompressed;
        Ok(client)
    }
}

/// The headers every request of a client gets where it has none of that
/// name: the default `User-Agent` unless `defaults` (the builder's) has
/// one, then `defaults`, then the `Accept-Encoding` the decoder handles
/// when `decompress` is on and `defaults` has none.
fn sent_headers(defaults: HeaderMap, decompress: bool) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(defaults.len() + 2);
    headers.insert(USER_AGENT, HeaderValue::from_static(DEFAULT_USER_AGENT));
    headers.extend(defaults);
    if decompress && !headers.contains_key(ACCEPT_ENCODING) {
        headers.insert(ACCEPT_ENCODING, crate::decompress::ACCEPT_ENCODING);
    }
    headers
}

/// Anything [`ClientBuilder::transport`] accepts: a concrete transport, a
/// [`SharedTransport`], or an `Arc<dyn HttpTransport>`.
#[derive(Debug)]
pub struct TransportArg(SharedTransport);

impl<T: HttpTransport> From<T> for TransportArg {
    fn from(t: T) -> Self {
        // a SharedTransport passed in stays one level deep
        let any: &dyn std::any::Any = &t;
        if let Some(shared) = any.downcast_ref::<SharedTransport>() {
            return TransportArg(shared.clone());
        }
        TransportArg(SharedTransport::new(t))
    }
}
