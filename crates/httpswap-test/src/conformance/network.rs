//! Real networks: resolve overrides, a plugged-in resolver, happy eyeballs,
//! Unix domain sockets.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use httpswap_core::{Resolve, Resolving};

use super::*;

/// A name that resolves nowhere by itself (`.test` is reserved): only an
/// override or the test's resolver gives it addresses.
const NAME: &str = "httpswap.test";

fn host_header(req: &crate::ServerRequest) -> &str {
    req.headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A `host:port` override reaches the given address; the URL's host stays
/// in the `Host` header. A second port of the same host is overridden too
/// only where the backend cannot tell ports apart
/// ([`httpswap_core::Capabilities::resolve_overrides_by_port`]): elsewhere
/// it is resolved by the system, here `localhost`.
pub async fn network_resolve_override(b: Backend) {
    let server = TestServer::echo().await;
    let port = server.addr().port();
    let t = b.build(base().resolve(&format!("{NAME}:{port}"), [IpAddr::V4(Ipv4Addr::LOCALHOST)]));
    let res = t
        .send(get(&format!("http://{NAME}:{port}/over")))
        .await
        .expect("overridden name");
    assert_eq!(res.status(), StatusCode::OK);
    body_of(res).await.expect("body");
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/over");
    assert_eq!(host_header(&seen[0]), format!("{NAME}:{port}"));

    // `localhost:P2` overridden to ::1, where nothing listens on P2;
    // `localhost:P1` (this server's port) is not overridden
    let other = {
        let l = std::net::TcpListener::bind("[::1]:0").expect("bind ::1");
        l.local_addr().expect("addr").port()
    };
    let t = b.build(base().resolve(
        &format!("localhost:{other}"),
        [IpAddr::V6(Ipv6Addr::LOCALHOST)],
    ));
    let result = t
        .send(get(&format!("http://localhost:{port}/other-port")))
        .await;
    if t.capabilities().resolve_overrides_by_port {
        let res = result.expect("localhost resolved by the system");
        assert_eq!(res.status(), StatusCode::OK);
    } else {
        // the override reaches this port too: ::1, where the server does not listen
        let err = result.expect_err("overridden to ::1 on every port");
        assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    }
}

/// Resolves every name to one address, counting the names asked for.
struct CountingResolver {
    to: Option<IpAddr>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Resolve for CountingResolver {
    fn resolve(&self, host: &str) -> Resolving {
        self.asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(host.to_owned());
        let to = self.to;
        Box::pin(async move {
            match to {
                Some(ip) => Ok(vec![ip]),
                None => Err("no such host in the test's resolver".into()),
            }
        })
    }
}

/// A plugged-in resolver is asked for the name (once for a pooled
/// connection), and its failure is a `Connect` error naming the host.
/// A backend that cannot take one refuses it when built
/// ([`httpswap_core::Capabilities::custom_resolver`]).
pub async fn network_custom_resolver(b: Backend) {
    let server = TestServer::echo().await;
    let port = server.addr().port();
    let asked = Arc::new(Mutex::new(Vec::new()));
    let resolver = Arc::new(CountingResolver {
        to: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        asked: asked.clone(),
    });
    let built = b.try_build(base().resolver(resolver));
    let caps = b.default_transport().capabilities();
    if !caps.custom_resolver {
        let err = built.expect_err("a backend without resolvers refuses one");
        assert_eq!(err.kind(), ErrorKind::Builder, "{err:?}");
        assert!(err.to_string().contains("resolve"), "{err}");
        return;
    }
    let t = built.expect("a backend that takes a resolver");
    let url = format!("http://{NAME}:{port}/r");
    for _ in 0..2 {
        let res = t.send(get(&url)).await.expect("resolved by the test");
        assert_eq!(res.status(), StatusCode::OK);
        body_of(res).await.expect("body");
        settle(&caps).await;
    }
    assert_eq!(server.stats().accepted(), 1, "one pooled connection");
    assert_eq!(
        *asked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        [NAME.to_owned()]
    );
    assert_eq!(host_header(&server.requests()[0]), format!("{NAME}:{port}"));

    let failing = Arc::new(CountingResolver {
        to: None,
        asked: Arc::new(Mutex::new(Vec::new())),
    });
    let t = b.build(base().resolver(failing));
    let err = t.send(get(&url)).await.expect_err("the resolver fails");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(!err.request_sent());
    let chain = format!("{err} {err:?}");
    assert!(chain.contains(NAME), "{chain}");
}

/// Happy eyeballs: a name overridden to [an address whose listener never
/// answers (`[::1]:P`, its backlog full), a working one
/// (`127.0.0.1:P`)] connects through the second, long before the connect
/// timeout, which trying the addresses one after the other would use up on
/// the first.
pub async fn network_happy_eyeballs_past_an_unanswered_address(b: Backend) {
    // the same port on both families: curl's overrides are per host and port
    let mut found = None;
    for _ in 0..20 {
        let server = TestServer::echo().await;
        let port = server.addr().port();
        let Ok(socket) = tokio::net::TcpSocket::new_v6() else {
            panic!("no IPv6 socket: the test machine needs ::1");
        };
        if socket
            .bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port))
            .is_ok()
        {
            let listener = socket.listen(1).expect("listen on ::1");
            found = Some((server, listener));
            break;
        }
    }
    let (server, stalled) = found.expect("a port free on both 127.0.0.1 and ::1");
    let port = server.addr().port();
    let stalled_addr = stalled.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(Ok(s)) =
            tokio::time::timeout(ms(100), tokio::net::TcpStream::connect(stalled_addr)).await
        {
            fillers.push(s);
        }
    }
    let t = b.build(
        base()
            .timeout_connect(std::time::Duration::from_secs(5))
            .resolve(
                &format!("{NAME}:{port}"),
                [
                    IpAddr::V6(Ipv6Addr::LOCALHOST),
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                ],
            ),
    );
    let res = t
        .send(get(&format!("http://{NAME}:{port}/eyeballs")))
        .await
        .expect("connected through the second address");
    assert_eq!(res.status(), StatusCode::OK);
    body_of(res).await.expect("body");
    assert_eq!(server.requests().len(), 1);
    drop((stalled, fillers));
}

/// A Unix socket path of its own for a test, removed on drop.
struct SocketPath(PathBuf);

impl SocketPath {
    fn new(tag: &str) -> SocketPath {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path =
            std::env::temp_dir().join(format!("httpswap-{tag}-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Relays every connection accepted on a Unix socket to `to` (a test
/// server), one TCP connection each, so the server's counts are the
/// socket's. Stops when the returned handle is dropped.
fn relay_unix_to(path: &SocketPath, to: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::UnixListener::bind(&path.0).expect("bind unix socket");
    tokio::spawn(async move {
        // bounded: the test ends (and aborts this) long before
        for _ in 0..64 {
            let Ok((mut unix, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                if let Ok(mut tcp) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut unix, &mut tcp).await;
                }
            });
        }
    })
}

/// Requests over a Unix socket: the URL gives the `Host` header and the
/// path, the connection is pooled, limits apply; an `https://` URL is
/// refused with `InvalidUrl` and a missing socket is a `Connect` error.
pub async fn network_unix_socket(b: Backend) {
    let server = TestServer::echo().await;
    let path = SocketPath::new("uds");
    let relay = relay_unix_to(&path, server.addr());
    let t = b.build(
        base()
            .unix_socket(path.0.clone())
            .pool_max_connections(1)
            .pool_max_keepalive(1),
    );
    let caps = t.capabilities();
    for i in 0..3 {
        let res = t
            .send(get(&format!("http://daemon.local/v1/items?n={i}")))
            .await
            .expect("over the unix socket");
        assert_eq!(res.status(), StatusCode::OK);
        body_of(res).await.expect("body");
        settle(&caps).await;
    }
    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].target, "/v1/items?n=2");
    assert_eq!(host_header(&seen[0]), "daemon.local");
    assert_eq!(server.stats().accepted(), 1, "one pooled connection");

    let err = t
        .send(get("https://daemon.local/"))
        .await
        .expect_err("https over a unix socket");
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err:?}");
    assert!(!err.request_sent());

    let missing = SocketPath::new("missing");
    let t = b.build(base().unix_socket(missing.0.clone()));
    let err = t
        .send(get("http://daemon.local/"))
        .await
        .expect_err("no socket there");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(!err.request_sent());
    relay.abort();
}
