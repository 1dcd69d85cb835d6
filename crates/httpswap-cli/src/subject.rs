//! The clients under test: for each enabled backend, the `httpswap::Client`
//! users call, the transport through the trait, and the library it adapts
//! used directly, driven the same way. Every call
//! reads the response body to its end, so the work compared is the same.

use bytes::Bytes;
use httpswap_core::{Body, SharedTransport, TransportConfig};

/// How a failed request is reported: the error kind's name (the core
/// taxonomy for transports, the library's own class for direct use).
pub type Failure = String;

/// What a subject drives: the [`httpswap::Client`] users call, the
/// transport through the trait, or the library the backend adapts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// `httpswap::Client` (defaults: redirects followed, decompression,
    /// retries, events and tracing) over the backend's transport.
    Client,
    /// The backend's transport through `HttpTransport::send`.
    Transport,
    /// The library used directly (the reference).
    Direct,
}

/// Which layers [`subjects`] makes for each backend.
#[derive(Debug, Clone, Copy)]
pub struct Layers {
    /// A [`Layer::Client`] subject.
    pub client: bool,
    /// A [`Layer::Transport`] subject.
    pub transport: bool,
    /// A [`Layer::Direct`] subject.
    pub direct: bool,
}

impl Layers {
    /// Every layer.
    pub const ALL: Layers = Layers {
        client: true,
        transport: true,
        direct: true,
    };
}

/// One client under test.
#[derive(Clone)]
pub struct Subject {
    /// `httpswap-hyper`, `Client over hyper`, `hyper-util (direct)`, ...
    pub name: String,
    /// The backend this subject belongs to (`hyper`, `reqwest`, `isahc`).
    pub backend: &'static str,
    /// What it drives.
    pub layer: Layer,
    client: Client,
    /// Adds the `Client`'s default headers to what it sends (a transport
    /// or a library; the `Client` adds them itself).
    client_headers: bool,
}

/// hyper-util's legacy client as the bench uses it, plain and over TLS.
#[cfg(feature = "hyper")]
type Legacy = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<Bytes>,
>;
#[cfg(feature = "hyper")]
type LegacyTls = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    http_body_util::Full<Bytes>,
>;

#[derive(Clone)]
enum Client {
    Transport(SharedTransport),
    Httpswap(httpswap::Client),
    #[cfg(feature = "hyper")]
    HyperLegacy(Box<Legacy>),
    #[cfg(feature = "hyper")]
    HyperLegacyTls(Box<LegacyTls>),
    #[cfg(feature = "reqwest")]
    Reqwest(reqwest::Client),
    #[cfg(feature = "isahc")]
    Isahc(isahc::HttpClient),
}

/// The configuration every transport gets: the defaults, without proxies
/// from the environment (a benchmark of loopback must not go through one).
pub fn bench_config() -> TransportConfig {
    config_for(&Proto::Http1).expect("the default configuration is valid")
}

/// reqwest as the bench uses it directly (and wraps it, for the reqwest
/// transport's row): no redirects or proxies, the TLS settings and the
/// idle connections of `config`, `TCP_NODELAY`; no timeout set.
///
/// ```
/// let client = httpswap_cli::subject::reqwest_direct(&httpswap_cli::subject::bench_config())?
///     .read_timeout(std::time::Duration::from_secs(600))
///     .build()
///     .map_err(|e| e.to_string())?;
/// # drop(client);
/// # Ok::<(), String>(())
/// ```
///
/// # Errors
///
/// When the TLS settings of `config` cannot be built.
#[cfg(feature = "reqwest")]
pub fn reqwest_direct(config: &TransportConfig) -> Result<reqwest::ClientBuilder, String> {
    let tls = httpswap_adapter::tls::build(&config.tls).map_err(|e| e.to_string())?;
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_backend_preconfigured((*tls.http1).clone())
        .pool_max_idle_per_host(config.limits.max_keepalive_connections)
        .tcp_nodelay(true))
}

/// How the clients of a scenario reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1 over plain TCP.
    Http1,
    /// HTTP/2 by prior knowledge over plain TCP.
    H2c,
    /// HTTP/1.1 over TLS (rustls; curl's own TLS for isahc), trusting the
    /// CA in this PEM file besides the usual roots.
    Https(std::path::PathBuf),
}

/// [`bench_config`] for `proto`.
fn config_for(proto: &Proto) -> Result<TransportConfig, String> {
    let mut b = TransportConfig::builder()
        .proxy_from_env(false)
        .http2_prior_knowledge(*proto == Proto::H2c);
    if let Proto::Https(ca) = proto {
        let pem = std::fs::read(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?;
        b = b.tls_root_certificates_pem(&pem);
    }
    b.build().map_err(|e| e.to_string())
}

/// What names a subject, without its client: what the parent process of
/// `httpswap bench` knows of the clients its workers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// As [`Subject::name`].
    pub name: String,
    /// As [`Subject::backend`].
    pub backend: &'static str,
    /// As [`Subject::layer`].
    pub layer: Layer,
}

/// The specs of the subjects [`subjects`] makes for the same arguments, in
/// the same order, without building any client.
pub fn specs(only: Option<&[String]>, layers: Layers) -> Vec<Spec> {
    let mut out = Vec::new();
    for &backend in httpswap::enabled_backends() {
        if only.is_some_and(|o| !o.iter().any(|b| b == backend)) {
            continue;
        }
        for (wanted, layer) in [
            (layers.client, Layer::Client),
            (layers.transport, Layer::Transport),
            (layers.direct, Layer::Direct),
        ] {
            if wanted {
                out.push(Spec {
                    name: name_of(backend, layer),
                    backend,
                    layer,
                });
            }
        }
    }
    out
}

fn name_of(backend: &str, layer: Layer) -> String {
    match (layer, backend) {
        (Layer::Client, _) => format!("Client over {backend}"),
        (Layer::Transport, _) => format!("httpswap-{backend}"),
        (Layer::Direct, "hyper") => "hyper-util (direct)".into(),
        (Layer::Direct, _) => format!("{backend} (direct)"),
    }
}

impl Subject {
    /// Its spec.
    pub fn spec(&self) -> Spec {
        Spec {
            name: self.name.clone(),
            backend: self.backend,
            layer: self.layer,
        }
    }
}

/// The subjects of the enabled backends, restricted to `only` when given:
/// for each backend, the layers asked for, in the order `Client`, the
/// transport, the library used directly. The `Client` is built with its
/// defaults over the very transport of the transport subject (one pool).
///
/// # Errors
///
/// A backend that cannot be built, as text.
pub fn subjects(only: Option<&[String]>, layers: Layers) -> Result<Vec<Subject>, String> {
    subjects_over(only, layers, &Proto::Http1)
}

/// As [`subjects`], every client reaching the server by `proto`.
///
/// # Errors
///
/// A backend that cannot be built, as text.
pub fn subjects_over(
    only: Option<&[String]>,
    layers: Layers,
    proto: &Proto,
) -> Result<Vec<Subject>, String> {
    let mut out = Vec::new();
    for &backend in httpswap::enabled_backends() {
        if only.is_some_and(|o| !o.iter().any(|b| b == backend)) {
            continue;
        }
        let Some((transport, direct)) = backend_subjects(backend, proto)? else {
            continue;
        };
        if layers.client {
            let client = httpswap::Client::builder()
                .transport(transport.clone())
                .build()
                .map_err(|e| e.to_string())?;
            out.push(Subject {
                name: name_of(backend, Layer::Client),
                backend,
                layer: Layer::Client,
                client: Client::Httpswap(client),
                client_headers: false,
            });
        }
        if layers.transport {
            out.push(Subject {
                name: name_of(backend, Layer::Transport),
                backend,
                layer: Layer::Transport,
                client: Client::Transport(transport),
                client_headers: false,
            });
        }
        if layers.direct {
            out.push(direct);
        }
    }
    Ok(out)
}

/// A backend's transport, and its library used directly with the same
/// settings (`None` for a backend this build does not know).
// (a build with no backend uses neither `h2c` nor `direct`)
#[cfg_attr(
    not(any(feature = "hyper", feature = "reqwest", feature = "isahc")),
    allow(unused_variables)
)]
fn backend_subjects(
    backend: &'static str,
    proto: &Proto,
) -> Result<Option<(SharedTransport, Subject)>, String> {
    let h2c = *proto == Proto::H2c;
    let direct = |_: &str, client: Client| Subject {
        name: name_of(backend, Layer::Direct),
        backend,
        layer: Layer::Direct,
        client,
        client_headers: false,
    };
    match backend {
        #[cfg(feature = "hyper")]
        "hyper" => {
            let config = config_for(proto)?;
            let transport =
                httpswap::transport_by_name("hyper", config.clone()).map_err(|e| e.to_string())?;
            let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
            connector.set_nodelay(true);
            let mut builder =
                hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new());
            builder
                .pool_max_idle_per_host(httpswap_core::DEFAULT_MAX_KEEPALIVE_CONNECTIONS)
                .http2_only(h2c);
            let client = match proto {
                // the same rustls settings as the transport's
                Proto::Https(_) => {
                    let tls =
                        httpswap_adapter::tls::build(&config.tls).map_err(|e| e.to_string())?;
                    connector.enforce_http(false);
                    // hyper-rustls sets the ALPN list itself
                    let mut rustls_config = (*tls.http1).clone();
                    rustls_config.alpn_protocols.clear();
                    let https = hyper_rustls::HttpsConnectorBuilder::new()
                        .with_tls_config(rustls_config)
                        .https_only()
                        .enable_http1()
                        .wrap_connector(connector);
                    Client::HyperLegacyTls(Box::new(builder.build(https)))
                }
                _ => Client::HyperLegacy(Box::new(builder.build(connector))),
            };
            Ok(Some((transport, direct("hyper-util (direct)", client))))
        }
        #[cfg(feature = "reqwest")]
        "reqwest" => {
            let config = config_for(proto)?;
            let mut builder = reqwest_direct(&config)?;
            if h2c {
                builder = builder.http2_prior_knowledge();
            }
            let client = builder.build().map_err(|e| e.to_string())?;
            let transport = httpswap_reqwest::ReqwestTransport::from_client(client.clone(), config)
                .map_err(|e| e.to_string())?;
            Ok(Some((
                SharedTransport::new(transport),
                direct("reqwest (direct)", Client::Reqwest(client)),
            )))
        }
        #[cfg(feature = "isahc")]
        "isahc" => {
            use isahc::config::{Configurable, RedirectPolicy, VersionNegotiation};
            let config = config_for(proto)?;
            let transport =
                httpswap_isahc::IsahcTransport::new(config.clone()).map_err(|e| e.to_string())?;
            // the settings the adapter gives curl, minus what it adds
            let mut builder = isahc::HttpClient::builder()
                .redirect_policy(RedirectPolicy::None)
                .automatic_decompression(false)
                .expect_continue(false)
                .max_connections(config.limits.max_connections)
                .connection_cache_size(config.limits.max_keepalive_connections)
                .tcp_nodelay()
                .version_negotiation(if h2c {
                    VersionNegotiation::http2()
                } else {
                    VersionNegotiation::latest_compatible()
                })
                .proxy(None);
            if let Some(t) = config.timeouts.connect {
                builder = builder.connect_timeout(t);
            }
            if let Proto::Https(_) = proto {
                // the trust the adapter gives curl: the webpki roots and
                // the run's CA
                let mut store = isahc::tls::TrustStore::builder();
                for root in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
                    store = store.certificate_from_der(root);
                }
                for ca in &config.tls.root_certificates {
                    store = store.certificate_from_der(ca.der());
                }
                builder = builder.tls_config(
                    isahc::tls::TlsConfig::builder()
                        .trust_store(store.build())
                        .build(),
                );
            }
            let client = builder.build().map_err(|e| e.to_string())?;
            Ok(Some((
                SharedTransport::new(transport),
                direct("isahc (direct)", Client::Isahc(client)),
            )))
        }
        _ => Ok(None),
    }
}

impl Subject {
    /// The same client with the `Client` layer's retries off (the others
    /// have none): for measuring what the transport underneath survives.
    ///
    /// # Errors
    ///
    /// The client cannot be rebuilt.
    pub fn without_client_retries(&self) -> Result<Subject, String> {
        let mut out = self.clone();
        if let Client::Httpswap(c) = &self.client {
            out.client = Client::Httpswap(
                httpswap::Client::builder()
                    .transport(c.transport().clone())
                    .max_retries(0)
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(out)
    }

    /// The same client, sending the headers the `Client` adds by default
    /// (`User-Agent`, `Accept-Encoding`, as [`add_client_headers`] adds them)
    /// when `on` and it is not a `Client`, which adds them itself: so that
    /// every layer puts the same request on the wire (`--client-headers`).
    pub fn sending_client_headers(&self, on: bool) -> Subject {
        let mut out = self.clone();
        out.client_headers = on && self.layer != Layer::Client;
        out
    }

    /// Wraps any transport (for tests and custom comparisons).
    pub fn transport(name: &str, backend: &'static str, t: SharedTransport) -> Subject {
        Subject {
            name: name.into(),
            backend,
            layer: Layer::Transport,
            client: Client::Transport(t),
            client_headers: false,
        }
    }

    /// Sends one request and reads the body to its end; returns its length.
    ///
    /// # Errors
    ///
    /// The failure's kind.
    pub async fn call(
        &self,
        method: &http::Method,
        url: &str,
        body: Bytes,
    ) -> Result<usize, Failure> {
        let headers = self.client_headers;
        match &self.client {
            Client::Transport(t) => transport_call(t, method, url, body, headers).await,
            Client::Httpswap(c) => client_call(c, method, url, body, headers).await,
            #[cfg(feature = "hyper")]
            Client::HyperLegacy(c) => legacy(c, method, url, body, headers).await,
            #[cfg(feature = "hyper")]
            Client::HyperLegacyTls(c) => legacy(c, method, url, body, headers).await,
            #[cfg(feature = "reqwest")]
            Client::Reqwest(c) => reqwest_call(c, method, url, body, headers).await,
            #[cfg(feature = "isahc")]
            Client::Isahc(c) => isahc_call(c, method, url, body, headers).await,
        }
    }

    /// Hands `work` this subject's own [`Caller`]: a value of a type of its
    /// own, whose call futures hold only this client's state. A task that
    /// awaits [`Subject::call`] holds the largest future of every kind of
    /// subject (the `Client`'s), whichever it runs: in a burst of 1000
    /// tasks that is memory reported as the client's when it is the
    /// harness's.
    ///
    /// ```
    /// use httpswap_cli::subject::{subjects, Caller, Layers, WithCaller};
    ///
    /// // the size of a call's future (an async call does nothing until
    /// // polled)
    /// struct FutureSize;
    /// impl WithCaller for FutureSize {
    ///     type Output = usize;
    ///     fn with<C: Caller>(self, caller: C) -> usize {
    ///         let call = caller.call(&http::Method::GET, "http://127.0.0.1:9/", bytes::Bytes::new());
    ///         std::mem::size_of_val(&call)
    ///     }
    /// }
    /// for subject in subjects(None, Layers::ALL)? {
    ///     let every_kind = std::mem::size_of_val(&subject.call(
    ///         &http::Method::GET,
    ///         "http://127.0.0.1:9/",
    ///         bytes::Bytes::new(),
    ///     ));
    ///     assert!(subject.with_caller(FutureSize) < every_kind, "{}", subject.name);
    /// }
    /// # Ok::<(), String>(())
    /// ```
    pub fn with_caller<W: WithCaller>(&self, work: W) -> W::Output {
        let headers = self.client_headers;
        match &self.client {
            Client::Transport(t) => work.with(Own(t.clone(), headers)),
            Client::Httpswap(c) => work.with(Own(c.clone(), headers)),
            #[cfg(feature = "hyper")]
            Client::HyperLegacy(c) => work.with(Own(c.clone(), headers)),
            #[cfg(feature = "hyper")]
            Client::HyperLegacyTls(c) => work.with(Own(c.clone(), headers)),
            #[cfg(feature = "reqwest")]
            Client::Reqwest(c) => work.with(Own(c.clone(), headers)),
            #[cfg(feature = "isahc")]
            Client::Isahc(c) => work.with(Own(c.clone(), headers)),
        }
    }
}

/// One subject's way of sending a request: [`Subject::call`] for a single
/// kind of client, so that its futures are only as large as that client
/// needs (see [`Subject::with_caller`]).
pub trait Caller: Clone + Send + Sync + 'static {
    /// Sends one request and reads the body to its end; returns its
    /// length, as [`Subject::call`] does.
    fn call(
        &self,
        method: &http::Method,
        url: &str,
        body: Bytes,
    ) -> impl std::future::Future<Output = Result<usize, Failure>> + Send;
}

/// What is done with a subject's [`Caller`], whose type depends on the
/// subject ([`Subject::with_caller`]).
pub trait WithCaller {
    /// What the work returns.
    type Output;
    /// Does the work with `caller`.
    fn with<C: Caller>(self, caller: C) -> Self::Output;
}

/// A client of one kind and whether it adds the `Client`'s default
/// headers.
#[derive(Clone)]
struct Own<T>(T, bool);

/// [`Caller`] for `Own<$client>`: one request by `$call`.
macro_rules! own_caller {
    ($(#[$attr:meta])* $client:ty => $call:ident) => {
        $(#[$attr])*
        impl Caller for Own<$client> {
            fn call(
                &self,
                method: &http::Method,
                url: &str,
                body: Bytes,
            ) -> impl std::future::Future<Output = Result<usize, Failure>> + Send {
                $call(&self.0, method, url, body, self.1)
            }
        }
    };
}

own_caller!(SharedTransport => transport_call);
own_caller!(httpswap::Client => client_call);
own_caller!(#[cfg(feature = "hyper")] Box<Legacy> => legacy);
own_caller!(#[cfg(feature = "hyper")] Box<LegacyTls> => legacy);
own_caller!(#[cfg(feature = "reqwest")] reqwest::Client => reqwest_call);
own_caller!(#[cfg(feature = "isahc")] isahc::HttpClient => isahc_call);

/// One request through a transport's trait.
async fn transport_call(
    t: &SharedTransport,
    method: &http::Method,
    url: &str,
    body: Bytes,
    with_client_headers: bool,
) -> Result<usize, Failure> {
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .body(Body::full(body))
        .map_err(|_| "invalid_url".to_owned())?;
    if with_client_headers {
        add_client_headers(req.headers_mut());
    }
    let res = t.send(req).await.map_err(|e| kind_name(e.kind()))?;
    // streamed and counted, like every library's body below
    count(res.into_body(), |e: httpswap_core::Error| {
        kind_name(e.kind())
    })
    .await
}

/// One request through `httpswap::Client`, which adds its default headers
/// itself (so it has no use for `_with_client_headers`).
async fn client_call(
    c: &httpswap::Client,
    method: &http::Method,
    url: &str,
    body: Bytes,
    _with_client_headers: bool,
) -> Result<usize, Failure> {
    let res = c
        .request(method.clone(), url)
        .body(body)
        .send()
        .await
        .map_err(|e| kind_name(e.kind()))?;
    count(res.into_body(), |e: httpswap_core::Error| {
        kind_name(e.kind())
    })
    .await
}

/// One request on reqwest used directly.
#[cfg(feature = "reqwest")]
async fn reqwest_call(
    c: &reqwest::Client,
    method: &http::Method,
    url: &str,
    body: Bytes,
    with_client_headers: bool,
) -> Result<usize, Failure> {
    let classify = |e: reqwest::Error| {
        if e.is_connect() {
            "connect"
        } else if e.is_timeout() {
            "timeout"
        } else if e.is_builder() {
            "builder"
        } else if e.is_body() || e.is_decode() {
            "body"
        } else {
            "request"
        }
        .to_owned()
    };
    // built, then executed: what `send` does, with room to add the headers
    // in between
    let mut req = c
        .request(method.clone(), url)
        .body(body)
        .build()
        .map_err(classify)?;
    if with_client_headers {
        add_client_headers(req.headers_mut());
    }
    let mut res = c.execute(req).await.map_err(classify)?;
    let mut n = 0;
    while let Some(chunk) = res.chunk().await.map_err(classify)? {
        n += chunk.len();
    }
    Ok(n)
}

/// One request on isahc used directly.
#[cfg(feature = "isahc")]
async fn isahc_call(
    c: &isahc::HttpClient,
    method: &http::Method,
    url: &str,
    body: Bytes,
    with_client_headers: bool,
) -> Result<usize, Failure> {
    use futures_util::AsyncReadExt as _;
    // the same spellings as for the other libraries
    let classify = |e: isahc::Error| {
        use isahc::error::ErrorKind as K;
        match e.kind() {
            K::ConnectionFailed | K::NameResolution | K::BadServerCertificate => "connect",
            K::Timeout => "timeout",
            K::InvalidRequest => "builder",
            _ => "request",
        }
        .to_owned()
    };
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .body(isahc::AsyncBody::from(body.to_vec()))
        .map_err(|_| "invalid_url".to_owned())?;
    if with_client_headers {
        add_client_headers(req.headers_mut());
    }
    let res = c.send_async(req).await.map_err(classify)?;
    let mut body = res.into_body();
    let mut buf = vec![0u8; 16 * 1024];
    let mut n = 0;
    loop {
        match body.read(&mut buf).await {
            Ok(0) => return Ok(n),
            Ok(k) => n += k,
            Err(_) => return Err("body".to_owned()),
        }
    }
}

/// One request on hyper-util's legacy client, plain or over TLS.
#[cfg(feature = "hyper")]
async fn legacy<C>(
    c: &hyper_util::client::legacy::Client<C, http_body_util::Full<Bytes>>,
    method: &http::Method,
    url: &str,
    body: Bytes,
    with_client_headers: bool,
) -> Result<usize, Failure>
where
    C: hyper_util::client::legacy::connect::Connect + Clone + Send + Sync + 'static,
{
    let mut req = http::Request::builder()
        .method(method.clone())
        .uri(url)
        .body(http_body_util::Full::new(body))
        .map_err(|_| "invalid_url".to_owned())?;
    if with_client_headers {
        add_client_headers(req.headers_mut());
    }
    let res = c
        .request(req)
        .await
        .map_err(|e| if e.is_connect() { "connect" } else { "request" }.to_owned())?;
    count(res.into_body(), |_| "body".to_owned()).await
}

/// Adds the headers a default `httpswap::Client` adds to a request that
/// has none (its `User-Agent` and `Accept-Encoding`), as cheaply as the
/// `Client` does: static values, no parse.
pub fn add_client_headers(headers: &mut http::HeaderMap) {
    headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(httpswap::DEFAULT_USER_AGENT),
    );
    headers.insert(
        http::header::ACCEPT_ENCODING,
        httpswap::decompress::ACCEPT_ENCODING,
    );
}

/// Reads a body to its end without keeping it (a download is streamed, so
/// the peak RSS shows the client's buffering, not ours); returns its length.
async fn count<B, E>(mut body: B, err: impl Fn(E) -> Failure) -> Result<usize, Failure>
where
    B: http_body::Body<Data = Bytes, Error = E> + Unpin,
{
    use http_body_util::BodyExt;
    let mut n = 0;
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(&err)?.data_ref() {
            n += data.len();
        }
    }
    Ok(n)
}

/// `ErrorKind::ReadTimeout` as `read_timeout`: the same spelling as the
/// classes reported for the libraries used directly.
pub fn kind_name(kind: httpswap_core::ErrorKind) -> Failure {
    let mut out = String::new();
    for (i, c) in format!("{kind:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
