//! Name resolution (overrides, a plugged-in resolver, the system's), TCP
//! connects with happy eyeballs and proxy CONNECT tunnels, for backends
//! that open sockets themselves.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use httpswap_core::backend::proxy_refused;
use httpswap_core::{Error, ErrorKind, Proxy, Resolve, ResolveOverrides, TransportConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// How long a connection attempt has before the next address is tried
/// beside it: RFC 8305's recommended "Connection Attempt Delay".
pub const HAPPY_EYEBALLS_DELAY: Duration = Duration::from_millis(250);

/// Turns the host of a URL (or of a proxy) into addresses: an IP literal
/// as it is, then a [`ResolveOverrides`] entry for host and port, then the
/// configured [`Resolve`], then the system resolver on a blocking thread.
///
/// ```
/// # httpswap_test::block_on(async {
/// use httpswap_adapter::Resolver;
/// use httpswap_core::TransportConfig;
/// let config = TransportConfig::builder()
///     .resolve("db.internal:5432", ["10.0.0.7".parse().unwrap()])
///     .build()
///     .unwrap();
/// let r = Resolver::new(&config);
/// let addrs = r.lookup("db.internal", 5432).await.unwrap();
/// assert_eq!(addrs, ["10.0.0.7:5432".parse().unwrap()]);
/// let addrs = r.lookup("[::1]", 80).await.unwrap();
/// assert_eq!(addrs, ["[::1]:80".parse().unwrap()]);
/// # });
/// ```
#[derive(Clone, Default)]
pub struct Resolver {
    overrides: ResolveOverrides,
    custom: Option<Arc<dyn Resolve>>,
}

impl Resolver {
    /// The resolver `config` asks for.
    pub fn new(config: &TransportConfig) -> Self {
        Resolver {
            overrides: config.resolve_overrides.clone(),
            custom: config.resolver.clone(),
        }
    }

    /// The addresses to connect to for `host` (as in a URL: an IPv6
    /// literal in brackets) and `port`, in the resolver's order.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Connect`] naming the host when the lookup fails or
    /// finds no address.
    pub async fn lookup(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)]);
        }
        if let Some(ips) = self.overrides.get(bare, port) {
            return Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let failed = |e: String| {
            Error::new(
                ErrorKind::Connect,
                format!("dns lookup of {host} failed: {e}"),
            )
        };
        let ips = match &self.custom {
            Some(r) => r.resolve(bare).await.map_err(|e| {
                let msg = e.to_string();
                failed(msg).with_source(e)
            })?,
            None => tokio::net::lookup_host((bare, port))
                .await
                .map_err(|e| failed(e.to_string()).with_source(e))?
                .map(|a| a.ip())
                .collect(),
        };
        if ips.is_empty() {
            return Err(failed("no address".into()));
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }
}

/// Connects to one of `addrs` with happy eyeballs (RFC 8305): the families
/// interleaved, starting with the first address's; each attempt gets
/// `delay` before the next starts beside it (at once when it fails); the
/// first to connect wins and the others are closed. With `local`, only
/// addresses of its family are tried, from a socket bound to it.
/// `TCP_NODELAY` is set. The caller bounds the whole with its connect
/// timeout.
///
/// # Errors
///
/// The last attempt's error when every attempt failed, or
/// `AddrNotAvailable` when no address is of the local address's family.
pub async fn connect_tcp(
    addrs: &[SocketAddr],
    local: Option<IpAddr>,
    delay: Duration,
) -> io::Result<TcpStream> {
    let mut order = interleave(addrs, local).into_iter();
    let mut running = FuturesUnordered::new();
    match order.next() {
        Some(first) => running.push(connect_one(first, local)),
        None => {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "no address of the local address's family",
            ))
        }
    }
    // Each turn either ends an attempt or starts one, and there are as many
    // attempts as addresses: the loop ends, with the last attempt's error
    // when none connected.
    loop {
        let more = order.len() > 0;
        let next_due = tokio::time::sleep(delay);
        tokio::select! {
            biased;
            Some(done) = running.next() => match done {
                Ok(stream) => return Ok(stream),
                Err(e) => {
                    if let Some(addr) = order.next() {
                        running.push(connect_one(addr, local));
                    } else if running.is_empty() {
                        return Err(e);
                    }
                }
            },
            () = next_due, if more => {
                if let Some(addr) = order.next() {
                    running.push(connect_one(addr, local));
                }
            }
        }
    }
}

/// `addrs` usable from `local`, families alternating, starting with the
/// first address's.
fn interleave(addrs: &[SocketAddr], local: Option<IpAddr>) -> Vec<SocketAddr> {
    let usable = addrs
        .iter()
        .filter(|a| local.is_none_or(|l| l.is_ipv4() == a.is_ipv4()));
    let first_v6 = match usable.clone().next() {
        Some(a) => a.is_ipv6(),
        None => return Vec::new(),
    };
    let (mut first, mut second): (Vec<SocketAddr>, Vec<SocketAddr>) =
        usable.partition(|a| a.is_ipv6() == first_v6);
    let mut out = Vec::with_capacity(first.len() + second.len());
    first.reverse();
    second.reverse();
    while let Some(a) = first.pop() {
        out.push(a);
        if let Some(b) = second.pop() {
            out.push(b);
        }
    }
    out.extend(second.into_iter().rev());
    out
}

async fn connect_one(addr: SocketAddr, local: Option<IpAddr>) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Most bytes of a proxy's answer to CONNECT read before giving up.
const MAX_CONNECT_RESPONSE: usize = 16 * 1024;

/// Opens a tunnel through `proxy` on `io` (a connection to it): sends
/// `CONNECT authority` with `auth` as `Proxy-Authorization`, and reads the
/// answer, which must be a 2xx and nothing after it.
///
/// # Errors
///
/// [`ErrorKind::Proxy`] naming the proxy, with `request_sent() == false`:
/// a refusal (any status but 2xx), a connection closed or failed during
/// the exchange, a malformed or oversized answer, data after it.
pub async fn tunnel<S>(
    io: &mut S,
    authority: &str,
    auth: Option<&http::HeaderValue>,
    proxy: &Proxy,
) -> Result<(), Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(auth) = auth {
        req.push_str("Proxy-Authorization: ");
        req.push_str(auth.to_str().unwrap_or_default());
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let name = proxy.authority();
    let proxy_err = |msg: String| Error::new(ErrorKind::Proxy, msg).with_request_sent(false);
    io.write_all(req.as_bytes())
        .await
        .map_err(|e| proxy_err(format!("sending CONNECT to proxy {name} failed: {e}")))?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = io.read(&mut chunk).await.map_err(|e| {
            proxy_err(format!(
                "reading the CONNECT answer of proxy {name} failed: {e}"
            ))
        })?;
        if n == 0 {
            return Err(proxy_err(format!(
                "proxy {name} closed the connection during CONNECT"
            )));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut res = httparse::Response::new(&mut headers);
        match res.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = res.code.unwrap_or(0);
                if !(200..300).contains(&code) {
                    let status =
                        http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::BAD_GATEWAY);
                    return Err(proxy_refused(status, proxy));
                }
                if len != buf.len() {
                    return Err(proxy_err(format!(
                        "proxy {name} sent data after its CONNECT answer"
                    )));
                }
                return Ok(());
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_CONNECT_RESPONSE => continue,
            Ok(httparse::Status::Partial) => {
                return Err(proxy_err(format!(
                    "proxy {name} sent an oversized CONNECT answer"
                )))
            }
            Err(e) => {
                return Err(proxy_err(format!(
                    "proxy {name} sent a malformed CONNECT answer: {e}"
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn families_alternate_from_the_first_address() {
        let addrs = [
            a("[::1]:1"),
            a("[::2]:1"),
            a("[::3]:1"),
            a("1.0.0.1:1"),
            a("1.0.0.2:1"),
        ];
        assert_eq!(
            interleave(&addrs, None),
            [
                a("[::1]:1"),
                a("1.0.0.1:1"),
                a("[::2]:1"),
                a("1.0.0.2:1"),
                a("[::3]:1")
            ]
        );
        let v4_first = [a("1.0.0.1:1"), a("1.0.0.2:1"), a("1.0.0.3:1"), a("[::1]:1")];
        assert_eq!(
            interleave(&v4_first, None),
            [a("1.0.0.1:1"), a("[::1]:1"), a("1.0.0.2:1"), a("1.0.0.3:1")]
        );
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            interleave(&addrs, Some(local)),
            [a("1.0.0.1:1"), a("1.0.0.2:1")]
        );
        assert!(interleave(&[a("[::1]:1")], Some(local)).is_empty());
    }

    #[tokio::test]
    async fn a_refused_address_gives_way_to_the_next_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        // a port nothing listens on: refused at once
        let refused_port = httpswap_test::RefusedPort::new();
        let refused = refused_port.addr();
        // a delay far longer than the test: only the refusal can start the
        // second attempt
        let stream = connect_tcp(&[refused, good], None, Duration::from_secs(3600))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good);
        let e = connect_tcp(&[refused], None, Duration::from_secs(3600))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
    }

    #[tokio::test]
    async fn an_unanswered_address_gives_way_after_the_delay() {
        // a listener whose backlog is full: connects to it are never answered
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(a("127.0.0.1:0")).unwrap();
        let stalled = socket.listen(0).unwrap();
        let stalled_addr = stalled.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..4 {
            // fill the queue; later connects time out or hang, both are fine
            if let Ok(Ok(s)) =
                tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(stalled_addr))
                    .await
            {
                fillers.push(s);
            }
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good = listener.local_addr().unwrap();
        let stream = connect_tcp(&[stalled_addr, good], None, Duration::from_millis(50))
            .await
            .unwrap();
        assert_eq!(stream.peer_addr().unwrap(), good);
    }
}
