//! Choosing a backend by cargo feature or by name.

use httpswap_core::{
    async_trait, Error, HttpTransport, Request, Response, SharedTransport, TransportConfig,
};

/// The names of the backends compiled in, in the order the default is
/// picked: hyper, reqwest, isahc.
///
/// ```
/// let names = httpswap::enabled_backends();
/// # #[cfg(feature = "hyper")]
/// assert_eq!(names.first(), Some(&"hyper"));
/// ```
pub fn enabled_backends() -> &'static [&'static str] {
    &[
        #[cfg(feature = "hyper")]
        "hyper",
        #[cfg(feature = "reqwest")]
        "reqwest",
        #[cfg(feature = "isahc")]
        "isahc",
    ]
}

/// Builds the default transport: the first enabled backend in the order
/// hyper, reqwest, isahc.
///
/// # Errors
///
/// [`ErrorKind::Builder`](crate::ErrorKind::Builder) when no backend
/// feature is enabled (the message names the features), or when the
/// backend rejects the configuration.
pub fn default_transport(config: TransportConfig) -> Result<SharedTransport, Error> {
    match enabled_backends().first() {
        Some(name) => transport_by_name(name, config),
        None => Err(no_backend()),
    }
}

/// Builds the backend called `name` (`"hyper"`, `"reqwest"`, `"isahc"`).
///
/// ```
/// # #[cfg(feature = "hyper")] {
/// let t = httpswap::transport_by_name("hyper", Default::default()).unwrap();
/// assert_eq!(t.name(), "hyper");
/// # }
/// let err = httpswap::transport_by_name("curl-impersonate", Default::default()).unwrap_err();
/// assert!(err.to_string().contains("unknown backend"));
/// ```
///
/// # Errors
///
/// [`ErrorKind::Builder`](crate::ErrorKind::Builder) for an unknown name,
/// a backend whose feature is off (the message names the feature), or a
/// configuration the backend rejects.
pub fn transport_by_name(name: &str, config: TransportConfig) -> Result<SharedTransport, Error> {
    #[cfg(not(feature = "__backend"))]
    let _ = &config;
    match name {
        #[cfg(feature = "hyper")]
        "hyper" => Ok(SharedTransport::new(httpswap_hyper::HyperTransport::new(
            config,
        )?)),
        #[cfg(feature = "reqwest")]
        "reqwest" => Ok(SharedTransport::new(
            httpswap_reqwest::ReqwestTransport::new(config)?,
        )),
        #[cfg(feature = "isahc")]
        "isahc" => Ok(SharedTransport::new(httpswap_isahc::IsahcTransport::new(
            config,
        )?)),
        known if KNOWN_BACKENDS.contains(&known) => Err(Error::builder(format!(
            "the {name} backend is not compiled in: enable the `{name}` cargo feature of httpswap"
        ))),
        other => Err(Error::builder(format!(
            "unknown backend {other:?}: expected one of hyper, reqwest, isahc"
        ))),
    }
}

const KNOWN_BACKENDS: [&str; 3] = ["hyper", "reqwest", "isahc"];

pub(crate) fn no_backend() -> Error {
    Error::builder(
        "no transport: enable one of the cargo features `hyper` (default), `reqwest` or `isahc` \
         of httpswap, or pass one with Client::builder().transport(..)",
    )
}

/// A transport that fails every request with the error that stopped it
/// being built. [`Client::new`](crate::Client::new) uses it so that a bad
/// environment (e.g. an invalid `HTTPS_PROXY`) is reported at the first
/// request instead of panicking.
#[derive(Debug)]
#[cfg_attr(not(feature = "__backend"), allow(dead_code))]
pub(crate) struct FailedTransport {
    message: String,
}

#[cfg_attr(not(feature = "__backend"), allow(dead_code))]
impl FailedTransport {
    pub(crate) fn new(err: &Error) -> Self {
        FailedTransport {
            message: format!("the client could not be built: {err}"),
        }
    }
}

#[async_trait]
impl HttpTransport for FailedTransport {
    async fn send(&self, _request: Request) -> Result<Response, Error> {
        Err(Error::builder(self.message.clone()))
    }
    fn name(&self) -> &'static str {
        "unavailable"
    }
}
