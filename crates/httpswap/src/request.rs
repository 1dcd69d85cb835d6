//! `RequestBuilder`: a request being built by a [`Client`].

use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::HeaderMap;
use httpswap_core::{Body, Error, ErrorKind, Request, Response, Timeouts};

use crate::client::Client;
use crate::send::RequestOptions;

/// A request being built. Errors (bad header, bad URL) are kept and
/// returned by [`send`](RequestBuilder::send).
#[must_use]
#[derive(Debug)]
pub struct RequestBuilder {
    pub(crate) client: Client,
    pub(crate) request: Result<Request, Error>,
    /// Set once a timeout is overridden, starting from the client's.
    pub(crate) timeouts: Option<Timeouts>,
    pub(crate) options: RequestOptions,
}

impl RequestBuilder {
    fn map(mut self, f: impl FnOnce(&mut Request) -> Result<(), Error>) -> Self {
        if let Ok(req) = &mut self.request {
            if let Err(e) = f(req) {
                self.request = Err(e);
            }
        }
        self
    }

    /// Sets a header, replacing any of that name (as reqwest's `header`,
    /// which appends instead). Any name and value `http` converts from
    /// work: `&str`, `String`, `HeaderName`, `HeaderValue`, bytes. Names and
    /// values with CR, LF or NUL are rejected with
    /// [`ErrorKind::LocalProtocol`] when the request is sent.
    ///
    /// ```
    /// # #[cfg(feature = "__backend")] {
    /// use httpswap::http::header::ACCEPT;
    /// let c = httpswap::Client::new();
    /// let req = c.get("http://127.0.0.1:1/")
    ///     .header(ACCEPT, "application/json")
    ///     .header("x-trace", String::from("t1"))
    ///     .build()?;
    /// assert_eq!(req.headers()["accept"], "application/json");
    /// let bad = c.get("http://127.0.0.1:1/").header("x-bad", "a\r\nb").build();
    /// assert_eq!(bad.unwrap_err().kind(), httpswap::ErrorKind::LocalProtocol);
    /// # }
    /// # Ok::<(), httpswap::Error>(())
    /// ```
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        self.map(|req| {
            let n = HeaderName::try_from(name).map_err(|e| {
                Error::new(ErrorKind::LocalProtocol, "invalid header name").with_source(e.into())
            })?;
            let v = HeaderValue::try_from(value).map_err(|e| {
                Error::new(
                    ErrorKind::LocalProtocol,
                    format!("invalid value for header {n}"),
                )
                .with_source(e.into())
            })?;
            req.headers_mut().insert(n, v);
            Ok(())
        })
    }

    /// Adds every header of `headers` (keeping repeated ones).
    pub fn headers(self, headers: HeaderMap) -> Self {
        self.map(|req| {
            let mut last = None;
            for (name, value) in headers {
                let name = name
                    .or_else(|| last.clone())
                    .expect("first entry has a name");
                if last.as_ref() != Some(&name) {
                    req.headers_mut().remove(&name);
                }
                req.headers_mut().append(name.clone(), value);
                last = Some(name);
            }
            Ok(())
        })
    }

    /// `Authorization: Bearer <token>`, marked sensitive.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.map(|req| {
            let mut v = HeaderValue::try_from(format!("Bearer {token}")).map_err(|e| {
                Error::new(ErrorKind::LocalProtocol, "invalid bearer token").with_source(e)
            })?;
            v.set_sensitive(true);
            req.headers_mut().insert(http::header::AUTHORIZATION, v);
            Ok(())
        })
    }

    /// Appends query parameters, form-urlencoded: anything `serde`
    /// serializes as a sequence of pairs or a map (`&[("k", "v")]`, a
    /// struct, a `HashMap`), as reqwest's `query`.
    ///
    /// ```
    /// # #[cfg(feature = "__backend")] {
    /// #[derive(serde::Serialize)]
    /// struct Page { page: u32, q: &'static str }
    /// let c = httpswap::Client::new();
    /// let req = c.get("http://127.0.0.1:1/search?x=1")
    ///     .query(&[("lang", "en")])
    ///     .query(&Page { page: 2, q: "a b&c" })
    ///     .build()?;
    /// assert_eq!(req.uri().query(), Some("x=1&lang=en&page=2&q=a+b%26c"));
    /// # }
    /// # Ok::<(), httpswap::Error>(())
    /// ```
    pub fn query<T: serde::Serialize + ?Sized>(self, query: &T) -> Self {
        let encoded = serde_urlencoded::to_string(query);
        self.map(|req| {
            let encoded = encoded.map_err(|e| {
                Error::new(
                    ErrorKind::Builder,
                    format!("could not encode the query parameters: {e}"),
                )
                .with_source(e)
            })?;
            if encoded.is_empty() {
                return Ok(());
            }
            let uri = req.uri().to_string();
            let joined = match req.uri().query() {
                Some(q) if !q.is_empty() => format!("{uri}&{encoded}"),
                Some(_) => format!("{uri}{encoded}"),
                None => match uri.split_once('#') {
                    Some((before, _)) => format!("{before}?{encoded}"),
                    None => format!("{uri}?{encoded}"),
                },
            };
            *req.uri_mut() = joined.parse()?;
            Ok(())
        })
    }

    /// `Authorization: Basic base64(user:password)`, marked sensitive.
    ///
    /// ```
    /// # #[cfg(feature = "__backend")] {
    /// let req = httpswap::Client::new()
    ///     .get("http://127.0.0.1:1/")
    ///     .basic_auth("alice", Some("s3cret"))
    ///     .build()?;
    /// assert_eq!(req.headers()["authorization"], "Basic YWxpY2U6czNjcmV0");
    /// # }
    /// # Ok::<(), httpswap::Error>(())
    /// ```
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        let value = httpswap_core::basic_auth(user.as_bytes(), password.unwrap_or("").as_bytes());
        self.map(|req| {
            req.headers_mut().insert(http::header::AUTHORIZATION, value);
            Ok(())
        })
    }

    /// The request body.
    pub fn body(self, body: impl Into<Body>) -> Self {
        let body = body.into();
        self.map(|req| {
            *req.body_mut() = body;
            Ok(())
        })
    }

    /// A JSON body, with `Content-Type: application/json` unless set.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Self {
        let bytes = serde_json::to_vec(value);
        self.map(|req| {
            let bytes = bytes.map_err(|e| {
                Error::new(
                    ErrorKind::Builder,
                    format!("could not serialize json body: {e}"),
                )
                .with_source(e)
            })?;
            *req.body_mut() = Body::from(bytes);
            if !req.headers().contains_key(CONTENT_TYPE) {
                req.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Ok(())
        })
    }

    /// All timeouts for this request.
    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = Some(timeouts);
        self
    }

    fn timeout(mut self, set: impl FnOnce(&mut Timeouts)) -> Self {
        let base = self.client.timeouts();
        set(self.timeouts.get_or_insert(base));
        self
    }

    /// The read timeout (gap between received chunks) for this request.
    pub fn timeout_read(self, d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        self.timeout(|t| t.read = d)
    }

    /// The connect timeout for this request.
    pub fn timeout_connect(self, d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        self.timeout(|t| t.connect = d)
    }

    /// The write timeout (gap between sent chunks) for this request.
    pub fn timeout_write(self, d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        self.timeout(|t| t.write = d)
    }

    /// The pool timeout (wait for a connection slot) for this request.
    pub fn timeout_pool(self, d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        self.timeout(|t| t.pool = d)
    }

    /// The total deadline of this call: every attempt, redirect and retry
    /// wait, and reading the body. [`ErrorKind::Timeout`] when it passes.
    pub fn timeout_total(self, d: impl Into<Option<Duration>>) -> Self {
        let d = d.into();
        self.timeout(|t| t.total = d)
    }

    /// At most `n` retries for this request (0: none).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.options.max_retries = Some(n);
        self
    }

    /// Whether this request follows redirects.
    pub fn follow_redirects(mut self, yes: bool) -> Self {
        self.options.follow_redirects = Some(yes);
        self
    }

    /// The request, without sending it. Per-request timeouts and policy
    /// changes travel in its extensions, so [`Client::execute`] honours them.
    ///
    /// # Errors
    ///
    /// The first error met while building.
    pub fn build(mut self) -> Result<Request, Error> {
        self.settle();
        self.request
    }

    /// Moves the per-request timeouts and policy changes into the
    /// request's extensions, where [`Client::execute`] reads them.
    fn settle(&mut self) {
        if let Ok(r) = &mut self.request {
            if let Some(t) = self.timeouts.take() {
                r.extensions_mut().insert(t);
            }
            // the defaults need no entry (an extension costs allocations)
            if self.options != RequestOptions::default() {
                r.extensions_mut().insert(self.options);
            }
        }
    }

    /// Sends the request.
    ///
    /// # Errors
    ///
    /// The first error met while building, or any transport error. An
    /// HTTP error status is not an error (see
    /// [`ResponseExt::error_for_status`](crate::ResponseExt::error_for_status)).
    pub fn send(mut self) -> impl std::future::Future<Output = Result<Response, Error>> + Send {
        self.settle();
        let RequestBuilder {
            client, request, ..
        } = self;
        async move {
            // a statement of its own: a temporary of the `.await`'s
            // statement would keep a slot in this future (a second request)
            let call = crate::send::Execution::started(&client, request?);
            call.await
        }
    }
}
