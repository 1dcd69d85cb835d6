//! The `HttpTransport` of a library adapter, written once.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::TryFutureExt;
use http::{HeaderMap, StatusCode, Version};
use httpswap_core::{
    Capabilities, CaptureConnection, ConnectionInfo, Error, Events, PoolStats, Proxy, ProxyRules,
    Request, Response, SharedEvents, Timeouts, TransportConfig,
};

use crate::{outside_tokio, Connections, H2Gate, Slots};

/// What every adapter over a library keeps beside the library: the
/// configuration, the proxy rules read from it, the bound on requests in
/// flight, the connections seen, the HTTP/2 gate.
#[derive(Debug)]
pub struct AdapterState {
    /// The configuration in force.
    pub config: TransportConfig,
    /// Its proxy rules, read (from the environment too) when built.
    pub proxies: ProxyRules,
    /// The bound on requests in flight (`max_connections`).
    pub slots: Slots,
    /// Created and reused connections, by address pair.
    pub connections: Connections,
    /// Requests to a cold origin that may speak HTTP/2 wait for the first.
    pub h2_gate: H2Gate,
    /// The read timeout's timers, kept from request to request ([`drive`](crate::drive)).
    pub timers: crate::TimerCache,
}

impl AdapterState {
    /// The state for `config`, which it checks; proxies from the
    /// environment are read now. `release_turns`: see [`Slots::new`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Builder`](httpswap_core::ErrorKind::Builder) for an
    /// invalid configuration or proxy URL.
    pub fn new(config: TransportConfig, release_turns: u32) -> Result<Self, Error> {
        config.validate()?;
        if config.limits.max_lifetime.is_some() {
            // `Capabilities::max_lifetime`: the libraries keep no age of
            // their connections that the adapter could act on
            return Err(Error::builder(
                "this backend cannot limit a connection's lifetime (max_lifetime): \
                 its library reuses connections of any age; use the hyper backend",
            ));
        }
        let proxies = config.proxy_rules()?;
        Ok(AdapterState {
            proxies,
            slots: Slots::new(config.limits.max_connections, release_turns)
                .per_host(config.limits.max_connections_per_host),
            connections: Connections::default(),
            h2_gate: H2Gate::new(config.limits.keepalive_expiry),
            timers: crate::TimerCache::default(),
            config,
        })
    }

    /// The context of `request`: its origin, event hooks and proxy.
    ///
    /// # Errors
    ///
    /// As [`Origin::of`](crate::Origin::of): an unsupported scheme or a URL with no host.
    pub fn exchange(&self, request: &Request) -> Result<Exchange<'_>, Error> {
        let (https, what) = crate::OriginName::of(request.uri())?;
        self.config.check_unix_socket(https, request.uri())?;
        let proxy = self.proxies.proxy_for(request.uri());
        Ok(Exchange {
            what,
            events: SharedEvents::for_request(request, self.config.events.as_ref()).cloned(),
            proxy,
            forward: proxy.is_some() && !https,
            capture: CaptureConnection::of(request),
        })
    }

    /// What every adapter does before sending `request`: its URL's user
    /// info becomes Basic authentication (never sent as it is, nor printed
    /// in a library's errors), then its timeouts (the configured ones and
    /// its own) and its [`exchange`](Self::exchange) are read.
    ///
    /// # Errors
    ///
    /// A URL left invalid without its user info
    /// ([`ErrorKind::InvalidUrl`](httpswap_core::ErrorKind::InvalidUrl)), bad
    /// per-request timeouts
    /// ([`ErrorKind::Builder`](httpswap_core::ErrorKind::Builder)), or as
    /// [`exchange`](Self::exchange).
    pub fn prepare(&self, request: &mut Request) -> Result<(Timeouts, Exchange<'_>), Error> {
        httpswap_core::backend::apply_url_credentials(request)?;
        let timeouts = Timeouts::for_request(request, &self.config.timeouts)?;
        Ok((timeouts, self.exchange(request)?))
    }

    /// [`prepare`](Self::prepare), on a transport still `open`; a closed
    /// one's request fails at once with [`Error::closed`].
    ///
    /// # Errors
    ///
    /// [`Error::closed`], or as [`prepare`](Self::prepare).
    pub fn prepare_open(
        &self,
        open: bool,
        request: &mut Request,
    ) -> Result<(Timeouts, Exchange<'_>), Error> {
        if !open {
            return Err(Error::closed());
        }
        self.prepare(request)
    }
}

/// A request's context, for events, errors and proxies.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// `scheme://host:port`, naming the origin in messages and events
    /// (written only when one asks).
    pub what: crate::OriginName,
    /// The hooks its connection events go to.
    pub events: Option<Arc<dyn Events>>,
    /// The proxy it goes through, if any.
    pub proxy: Option<&'a Proxy>,
    /// Through that proxy in absolute form (`http://`), not a tunnel.
    pub forward: bool,
    /// Where the response's connection is recorded, when the request asks.
    pub capture: Option<CaptureConnection>,
}

impl Exchange<'_> {
    /// The proxy's `host:port`, for messages.
    pub fn proxy_name(&self) -> Option<String> {
        self.proxy.map(Proxy::authority)
    }

    /// The response head arrived: counts and announces its connection
    /// (known by its address pair, when the library says) and records it
    /// in the request's [`CaptureConnection`] (these libraries' pools take
    /// no poisoning: `Capabilities::poisons_connections` is `false`), checks the head
    /// ([`check_response_head`](crate::check_response_head)), and turns a
    /// forward proxy's 407 into a [`Proxy`](httpswap_core::ErrorKind::Proxy)
    /// error.
    ///
    /// # Errors
    ///
    /// The head's, or the proxy's refusal.
    pub fn accept_head(
        &self,
        state: &AdapterState,
        addrs: Option<(SocketAddr, SocketAddr)>,
        version: Version,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<(), Error> {
        if let Some((local, remote)) = addrs {
            let http2 = version == Version::HTTP_2;
            let (id, reused) =
                state
                    .connections
                    .observe((local, remote), &self.what, http2, self.events.as_ref());
            if let Some(capture) = &self.capture {
                capture.set(
                    ConnectionInfo::new(id, reused, http2)
                        .with_addrs(Some(remote), Some(local))
                        .with_proxied(self.proxy.is_some()),
                );
            }
        }
        crate::check_response_head(headers, version, &state.config.response_head, || {
            self.what.to_string()
        })?;
        match self.proxy {
            Some(proxy) if self.forward && status == StatusCode::PROXY_AUTHENTICATION_REQUIRED => {
                Err(httpswap_core::backend::proxy_refused(status, proxy))
            }
            _ => Ok(()),
        }
    }
}

/// What an adapter over a library (reqwest, isahc) provides; the
/// [`adapted_transport!`](crate::adapted_transport) macro makes its public
/// type an [`HttpTransport`](httpswap_core::HttpTransport) from it, the
/// same way for every such backend: the backend's name on every error, a
/// call from outside a tokio runtime run on httpswap's own
/// ([`outside_tokio`]), pool statistics from the adapter's [`Slots`] and
/// [`Connections`], the configured timeouts; [`AdapterState`] is what
/// every such adapter keeps beside its library.
pub trait Adapted: Send + Sync + 'static {
    /// The backend's name, in errors and `HttpTransport::name`.
    fn backend(&self) -> &'static str;

    /// Sends one request (called on a tokio runtime), as
    /// `HttpTransport::send` does.
    fn send(&self, request: Request) -> impl Future<Output = Result<Response, Error>> + Send + '_;

    /// The state every adapter keeps.
    fn state(&self) -> &AdapterState;

    /// Refuses new requests and lets idle connections go.
    fn close(&self);

    /// What the backend guarantees where backends differ.
    fn capabilities(&self) -> Capabilities;
}

/// A boxed send, as `HttpTransport::send` returns it.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, Error>> + Send + 'a>>;

/// `HttpTransport::send` for an adapter: on the caller's runtime, or on
/// httpswap's own when the caller has none; every error named with the
/// backend.
pub fn send_adapted<A: Adapted>(inner: &Arc<A>, request: Request) -> SendFuture<'_> {
    let backend = inner.backend();
    if tokio::runtime::Handle::try_current().is_err() {
        let inner = inner.clone();
        return Box::pin(async move {
            outside_tokio(async move { inner.send(request).await })
                .await
                .map_err(|e| e.with_backend(backend))
        });
    }
    // the library's future boxed as it is, with no state machine around it
    // (whose state would be one more copy of it)
    Box::pin(
        inner
            .send(request)
            .map_err(move |e| e.with_backend(backend)),
    )
}

/// `HttpTransport::pool_stats` for an adapter (see [`pool_stats`](crate::pool_stats)).
pub fn adapted_pool_stats<A: Adapted>(inner: &A) -> PoolStats {
    let state = inner.state();
    crate::pool_stats(&state.slots, &state.connections)
}

/// `HttpTransport::timeouts` for an adapter: the configured ones.
pub fn adapted_timeouts<A: Adapted>(inner: &A) -> Option<Timeouts> {
    Some(inner.state().config.timeouts)
}

/// Implements `HttpTransport` for `$transport`, a type whose field
/// `$field` is an `Arc` of an [`Adapted`](crate::Adapted) type.
///
/// ```ignore
/// pub struct IsahcTransport { inner: Arc<Inner> }
/// impl httpswap_adapter::Adapted for Inner { /* ... */ }
/// httpswap_adapter::adapted_transport!(IsahcTransport, inner);
/// ```
#[macro_export]
macro_rules! adapted_transport {
    ($transport:ty, $field:ident) => {
        impl $crate::__core::HttpTransport for $transport {
            fn send<'life0, 'async_trait>(
                &'life0 self,
                request: $crate::__core::Request,
            ) -> $crate::SendFuture<'async_trait>
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                $crate::send_adapted(&self.$field, request)
            }

            fn name(&self) -> &'static str {
                $crate::Adapted::backend(&*self.$field)
            }

            fn timeouts(&self) -> ::std::option::Option<$crate::__core::Timeouts> {
                $crate::adapted_timeouts(&*self.$field)
            }

            fn pool_stats(&self) -> $crate::__core::PoolStats {
                $crate::adapted_pool_stats(&*self.$field)
            }

            fn close<'life0, 'async_trait>(
                &'life0 self,
            ) -> ::std::pin::Pin<
                ::std::boxed::Box<dyn ::std::future::Future<Output = ()> + Send + 'async_trait>,
            >
            where
                'life0: 'async_trait,
                Self: 'async_trait,
            {
                $crate::Adapted::close(&*self.$field);
                ::std::boxed::Box::pin(::std::future::ready(()))
            }

            fn capabilities(&self) -> $crate::__core::Capabilities {
                $crate::Adapted::capabilities(&*self.$field)
            }
        }
    };
}
