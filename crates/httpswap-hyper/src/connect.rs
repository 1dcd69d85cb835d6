//! Establishing a connection: TCP (optionally bound to a local address),
//! a proxy CONNECT tunnel, TLS with ALPN.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use httpswap_core::{Error, ErrorKind, Proxy};
use tokio::net::TcpStream;

use crate::error::{map_connect_io, BACKEND};
use crate::io::Stream;
use httpswap_adapter::tls::{server_name, TlsConfigs};
use httpswap_adapter::{connect_tcp, tunnel, Resolver, HAPPY_EYEBALLS_DELAY};
use tokio_util::either::Either;

/// Where a request goes: the origin, and the proxy in front of it.
///
/// Cheap to build and clone per request: the authority shares the URI's
/// bytes and the proxy key is shared.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) https: bool,
    authority: http::uri::Authority,
    pub(crate) port: u16,
    pub(crate) proxy: Option<Arc<ProxyKey>>,
}

/// A proxy, and its `Proxy-Authorization` value made once.
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct ProxyKey {
    pub(crate) proxy: Proxy,
    pub(crate) auth: Option<http::HeaderValue>,
}

impl ProxyKey {
    pub(crate) fn new(proxy: &Proxy) -> Self {
        ProxyKey {
            auth: proxy.basic_auth_header(),
            proxy: proxy.clone(),
        }
    }
    pub(crate) fn authority(&self) -> String {
        self.proxy.authority()
    }
}

/// `scheme://host:port` of the origin, as in error messages.
impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host(), self.port)
    }
}

impl Target {
    pub(crate) fn new(
        https: bool,
        authority: http::uri::Authority,
        port: u16,
        proxy: Option<Arc<ProxyKey>>,
    ) -> Self {
        Target {
            https,
            authority,
            port,
            proxy,
        }
    }

    /// The `Host` header: the host, and the port unless it is the
    /// scheme's default.
    pub(crate) fn host_header(
        &self,
    ) -> Result<http::HeaderValue, http::header::InvalidHeaderValue> {
        httpswap_adapter::host_header(&self.authority, self.https, self.port)
    }

    /// The authority as written in the URL.
    pub(crate) fn authority_text(&self) -> &str {
        self.authority.as_str()
    }

    /// The host as in the URL (IPv6 in brackets).
    pub(crate) fn host(&self) -> &str {
        self.authority.host()
    }

    /// `scheme://host:port` of the origin.
    pub(crate) fn origin(&self) -> String {
        self.to_string()
    }

    /// An `http://` request through a forward proxy (absolute-form).
    pub(crate) fn forward_proxied(&self) -> bool {
        self.proxy.is_some() && !self.https
    }
}

impl PartialEq for Target {
    fn eq(&self, other: &Self) -> bool {
        self.https == other.https
            && self.port == other.port
            && self.proxy == other.proxy
            // the same text (the usual case) is the same host, unparsed
            && (self.authority.as_str() == other.authority.as_str()
                || self.host().eq_ignore_ascii_case(other.host()))
    }
}

impl Eq for Target {}

impl std::hash::Hash for Target {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.https.hash(state);
        self.port.hash(state);
        for b in self.host().bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        self.proxy.hash(state);
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin())?;
        if let Some(p) = &self.proxy {
            write!(f, " via {}", p.authority())?;
        }
        Ok(())
    }
}

pub(crate) struct Connected {
    pub(crate) stream: Stream,
    pub(crate) http2: bool,
}

pub(crate) struct ConnectOptions<'a> {
    pub(crate) tls: &'a TlsConfigs,
    pub(crate) http2: bool,
    pub(crate) http2_prior_knowledge: bool,
    pub(crate) local_address: Option<IpAddr>,
    pub(crate) resolver: &'a Resolver,
    /// Every connection goes to this Unix socket (plain HTTP only).
    pub(crate) unix_socket: Option<&'a std::path::Path>,
}

/// Connects to `target` (through its proxy, if any). The caller bounds it
/// with the connect timeout.
pub(crate) async fn connect(
    target: &Target,
    opts: &ConnectOptions<'_>,
) -> Result<Connected, Error> {
    if let Some(path) = opts.unix_socket {
        let unix = tokio::net::UnixStream::connect(path)
            .await
            .map_err(|e| map_connect_io(e, &format!("unix socket {}", path.display())))?;
        return Ok(Connected {
            stream: Either::Left(Either::Right(unix)),
            http2: opts.http2_prior_knowledge,
        });
    }
    let tcp = match &target.proxy {
        Some(p) => tcp(
            opts.resolver,
            p.proxy.host(),
            p.proxy.port(),
            opts.local_address,
        )
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::ProxyConnect,
                format!("proxy {} is unreachable: {e}", p.authority()),
            )
            .with_source(e)
            .with_backend(BACKEND)
        })?,
        None => {
            tcp(
                opts.resolver,
                target.host(),
                target.port,
                opts.local_address,
            )
            .await?
        }
    };
    let mut tcp = tcp;
    if !target.https {
        return Ok(Connected {
            stream: Either::Left(Either::Left(tcp)),
            http2: opts.http2_prior_knowledge,
        });
    }
    if let Some(p) = &target.proxy {
        let authority = format!("{}:{}", target.host(), target.port);
        tunnel(&mut tcp, &authority, p.auth.as_ref(), &p.proxy)
            .await
            .map_err(|e| e.with_backend(BACKEND))?;
    }
    let name = server_name(target.host()).map_err(|e| e.with_backend(BACKEND))?;
    let config = if opts.http2 {
        &opts.tls.http2
    } else {
        &opts.tls.http1
    };
    let tls = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| map_connect_io(e, &target.origin()))?;
    let http2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    Ok(Connected {
        stream: Either::Right(Box::new(tls)),
        http2,
    })
}

async fn tcp(
    resolver: &Resolver,
    host: &str,
    port: u16,
    local: Option<IpAddr>,
) -> Result<TcpStream, Error> {
    let addrs = resolver
        .lookup(host, port)
        .await
        .map_err(|e| e.with_backend(BACKEND))?;
    connect_tcp(&addrs, local, HAPPY_EYEBALLS_DELAY)
        .await
        .map_err(|e| map_connect_io(e, &format!("{host}:{port}")))
}
