//! What a transport tells about the connection a response came on, when
//! the request asks ([`CaptureConnection`]), and the way to keep that
//! connection from being used again ([`ConnectionInfo::poison`]).

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::Request;

/// The connection a response came on: filled in by the transport for a
/// request that carries a [`CaptureConnection`].
///
/// ```
/// use httpswap_core::ConnectionInfo;
/// let info = ConnectionInfo::new(7, true, false).with_addrs(Some(([127, 0, 0, 1], 80).into()), None);
/// assert_eq!((info.id, info.reused, info.http2), (7, true, false));
/// assert!(!info.poison(), "no transport said how to poison it");
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// The transport's id for the connection, as its
    /// [`ConnectionEvent`](crate::events::ConnectionEvent)s give it.
    pub id: u64,
    /// Whether the connection had carried a request before.
    pub reused: bool,
    /// Whether it speaks HTTP/2.
    pub http2: bool,
    /// Whether it goes through a proxy (then `remote_addr` is the proxy's).
    pub proxied: bool,
    /// The address its socket is connected to (the proxy's, through a
    /// proxy); `None` for a Unix socket or where the library does not say.
    pub remote_addr: Option<SocketAddr>,
    /// The socket's own address; `None` as for `remote_addr`.
    pub local_addr: Option<SocketAddr>,
    poison: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl ConnectionInfo {
    /// Information on connection `id`.
    pub fn new(id: u64, reused: bool, http2: bool) -> Self {
        ConnectionInfo {
            id,
            reused,
            http2,
            proxied: false,
            remote_addr: None,
            local_addr: None,
            poison: None,
        }
    }

    /// With the socket's addresses.
    #[must_use]
    pub fn with_addrs(mut self, remote: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        self.remote_addr = remote;
        self.local_addr = local;
        self
    }

    /// Through a proxy.
    #[must_use]
    pub fn with_proxied(mut self, proxied: bool) -> Self {
        self.proxied = proxied;
        self
    }

    /// With what [`poison`](Self::poison) calls: for transports.
    #[must_use]
    pub fn with_poison(mut self, poison: impl Fn() + Send + Sync + 'static) -> Self {
        self.poison = Some(Arc::new(poison));
        self
    }

    /// Marks the connection not to be used again: an HTTP/1 connection is
    /// closed once the response in flight on it is done, an HTTP/2 one
    /// takes no new stream (its streams in flight go on). For a connection
    /// that served a response the caller distrusts (a 503 from one bad
    /// host behind a load balancer), as aws-smithy's connection poisoning.
    /// Returns whether the transport could do it
    /// ([`Capabilities::poisons_connections`](crate::Capabilities::poisons_connections)).
    pub fn poison(&self) -> bool {
        match &self.poison {
            Some(poison) => {
                poison();
                true
            }
            None => false,
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("id", &self.id)
            .field("reused", &self.reused)
            .field("http2", &self.http2)
            .field("proxied", &self.proxied)
            .field("remote_addr", &self.remote_addr)
            .field("local_addr", &self.local_addr)
            .field("can_poison", &self.poison.is_some())
            .finish()
    }
}

/// Put in a request's extensions, it receives the [`ConnectionInfo`] of
/// the connection the response came on (after a resend, the new
/// connection's), as hyper-util's `capture_connection`. A request without
/// one costs the transport nothing for this.
///
/// The hyper backend records the connection as soon as it is chosen, so
/// that a request that failed on it can poison it too; reqwest and isahc
/// say which connection it was with the response head, and not on a
/// failure.
///
/// ```
/// use httpswap_core::{Body, CaptureConnection};
/// let mut request = http::Request::get("http://example.com/").body(Body::empty()).unwrap();
/// let capture = CaptureConnection::capture(&mut request);
/// assert!(capture.get().is_none(), "filled in once a response arrives");
/// ```
#[derive(Clone, Debug, Default)]
pub struct CaptureConnection(Arc<Mutex<Option<ConnectionInfo>>>);

impl CaptureConnection {
    /// A capture to put in a request's extensions.
    pub fn new() -> Self {
        CaptureConnection::default()
    }

    /// Puts a new capture in `request`'s extensions and returns it.
    pub fn capture(request: &mut Request) -> Self {
        let capture = CaptureConnection::new();
        request.extensions_mut().insert(capture.clone());
        capture
    }

    /// The connection of the response, once one arrived.
    pub fn get(&self) -> Option<ConnectionInfo> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records the connection of the response: for transports.
    pub fn set(&self, info: ConnectionInfo) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(info);
    }

    /// The capture `request` carries, if any: for transports.
    pub fn of(request: &Request) -> Option<CaptureConnection> {
        request.extensions().get::<CaptureConnection>().cloned()
    }
}
