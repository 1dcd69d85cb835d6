//! The clients under test: each enabled backend through the trait, and
//! the library it adapts used directly, driven the same way. Every call
//! reads the response body to its end, so the work compared is the same.

use bytes::Bytes;
use httpswap_core::{Body, SharedTransport, TransportConfig};

/// How a failed request is reported: the error kind's name (the core
/// taxonomy for transports, the library's own class for direct use).
pub type Failure = String;

/// One client under test.
#[derive(Clone)]
pub struct Subject {
    /// `httpswap-hyper`, `hyper-util (direct)`, ...
    pub name: String,
    /// The backend this subject belongs to (`hyper`, `reqwest`, `isahc`).
    pub backend: &'static str,
    /// Whether this is the library used directly (the reference).
    pub direct: bool,
    client: Client,
}

#[derive(Clone)]
enum Client {
    Transport(SharedTransport),
    #[cfg(feature = "hyper")]
    HyperLegacy(
        Box<
            hyper_util::client::legacy::Client<
                hyper_util::client::legacy::connect::HttpConnector,
                http_body_util::Full<Bytes>,
            >,
        >,
    ),
    #[cfg(feature = "reqwest")]
    Reqwest(reqwest::Client),
    #[cfg(feature = "isahc")]
    Isahc(isahc::HttpClient),
}

/// The configuration every transport gets: the defaults, without proxies
/// from the environment (a benchmark of loopback must not go through one).
pub fn bench_config() -> TransportConfig {
    TransportConfig::builder()
        .proxy_from_env(false)
        .build()
        .expect("the default configuration is valid")
}

/// The subjects of the enabled backends, restricted to `only` when given:
/// for each backend, the transport through the trait, then (unless
/// `with_direct` is false) its library used directly.
///
/// # Errors
///
/// A backend that cannot be built, as text.
pub fn subjects(only: Option<&[String]>, with_direct: bool) -> Result<Vec<Subject>, String> {
    let mut out = Vec::new();
    for &backend in httpswap::enabled_backends() {
        if only.is_some_and(|o| !o.iter().any(|b| b == backend)) {
            continue;
        }
        match backend {
            #[cfg(feature = "hyper")]
            "hyper" => {
                out.push(Subject {
                    name: "httpswap-hyper".into(),
                    backend,
                    direct: false,
                    client: Client::Transport(
                        httpswap::transport_by_name("hyper", bench_config())
                            .map_err(|e| e.to_string())?,
                    ),
                });
                if with_direct {
                    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
                    connector.set_nodelay(true);
                    let client = hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .pool_max_idle_per_host(httpswap_core::DEFAULT_MAX_KEEPALIVE_CONNECTIONS)
                    .build(connector);
                    out.push(Subject {
                        name: "hyper-util (direct)".into(),
                        backend,
                        direct: true,
                        client: Client::HyperLegacy(Box::new(client)),
                    });
                }
            }
            #[cfg(feature = "reqwest")]
            "reqwest" => {
                let config = bench_config();
                let tls = httpswap_adapter::tls::build(&config.tls).map_err(|e| e.to_string())?;
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .no_proxy()
                    .tls_backend_preconfigured((*tls.http1).clone())
                    .pool_max_idle_per_host(config.limits.max_keepalive_connections)
                    .tcp_nodelay(true)
                    .build()
                    .map_err(|e| e.to_string())?;
                let transport =
                    httpswap_reqwest::ReqwestTransport::from_client(client.clone(), config)
                        .map_err(|e| e.to_string())?;
                out.push(Subject {
                    name: "httpswap-reqwest".into(),
                    backend,
                    direct: false,
                    client: Client::Transport(SharedTransport::new(transport)),
                });
                if with_direct {
                    out.push(Subject {
                        name: "reqwest (direct)".into(),
                        backend,
                        direct: true,
                        client: Client::Reqwest(client),
                    });
                }
            }
            #[cfg(feature = "isahc")]
            "isahc" => {
                let config = bench_config();
                let transport = httpswap_isahc::IsahcTransport::new(config.clone())
                    .map_err(|e| e.to_string())?;
                out.push(Subject {
                    name: "httpswap-isahc".into(),
                    backend,
                    direct: false,
                    client: Client::Transport(SharedTransport::new(transport)),
                });
                if with_direct {
                    use isahc::config::{Configurable, RedirectPolicy, VersionNegotiation};
                    // the settings the adapter gives curl, minus what it adds
                    let mut builder = isahc::HttpClient::builder()
                        .redirect_policy(RedirectPolicy::None)
                        .automatic_decompression(false)
                        .expect_continue(false)
                        .max_connections(config.limits.max_connections)
                        .connection_cache_size(config.limits.max_keepalive_connections)
                        .tcp_nodelay()
                        .version_negotiation(VersionNegotiation::latest_compatible())
                        .proxy(None);
                    if let Some(t) = config.timeouts.connect {
                        builder = builder.connect_timeout(t);
                    }
                    let client = builder.build().map_err(|e| e.to_string())?;
                    out.push(Subject {
                        name: "isahc (direct)".into(),
                        backend,
                        direct: true,
                        client: Client::Isahc(client),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

impl Subject {
    /// Wraps any transport (for tests and custom comparisons).
    pub fn transport(name: &str, backend: &'static str, t: SharedTransport) -> Subject {
        Subject {
            name: name.into(),
            backend,
            direct: false,
            client: Client::Transport(t),
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
        match &self.client {
            Client::Transport(t) => {
                let req = http::Request::builder()
                    .method(method.clone())
                    .uri(url)
                    .body(Body::full(body))
                    .map_err(|_| "invalid_url".to_owned())?;
                let res = t.send(req).await.map_err(|e| kind_name(e.kind()))?;
                // streamed and counted, like every library's body below
                count(res.into_body(), |e: httpswap_core::Error| {
                    kind_name(e.kind())
                })
                .await
            }
            #[cfg(feature = "hyper")]
            Client::HyperLegacy(c) => {
                let req = http::Request::builder()
                    .method(method.clone())
                    .uri(url)
                    .body(http_body_util::Full::new(body))
                    .map_err(|_| "invalid_url".to_owned())?;
                let res = c
                    .request(req)
                    .await
                    .map_err(|e| if e.is_connect() { "connect" } else { "request" }.to_owned())?;
                count(res.into_body(), |_| "body".to_owned()).await
            }
            #[cfg(feature = "reqwest")]
            Client::Reqwest(c) => {
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
                let res = c
                    .request(method.clone(), url)
                    .body(body)
                    .send()
                    .await
                    .map_err(classify)?;
                let mut res = res;
                let mut n = 0;
                while let Some(chunk) = res.chunk().await.map_err(classify)? {
                    n += chunk.len();
                }
                Ok(n)
            }
            #[cfg(feature = "isahc")]
            Client::Isahc(c) => {
                use futures_util::AsyncReadExt as _;
                // the same spellings as for the other libraries
                let classify = |e: isahc::Error| {
                    use isahc::error::ErrorKind as K;
                    match e.kind() {
                        K::ConnectionFailed | K::NameResolution | K::BadServerCertificate => {
                            "connect"
                        }
                        K::Timeout => "timeout",
                        K::InvalidRequest => "builder",
                        _ => "request",
                    }
                    .to_owned()
                };
                let req = http::Request::builder()
                    .method(method.clone())
                    .uri(url)
                    .body(isahc::AsyncBody::from(body.to_vec()))
                    .map_err(|_| "invalid_url".to_owned())?;
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
        }
    }
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
