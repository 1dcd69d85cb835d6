//! A forward proxy on 127.0.0.1: absolute-form requests and CONNECT tunnels,
//! optional basic auth, and a record of what it was asked.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::server::{ServerRequest, TestServer};

/// A forward proxy for tests. Stops when dropped.
pub struct TestProxy {
    server: TestServer,
    seen: Arc<Mutex<Vec<ServerRequest>>>,
}

impl TestProxy {
    /// Starts a proxy; with `auth = Some("Basic ...")` every request without
    /// that exact `Proxy-Authorization` value gets `407`.
    pub async fn start(auth: Option<&str>) -> TestProxy {
        let auth = auth.map(str::to_owned);
        let seen: Arc<Mutex<Vec<ServerRequest>>> = Arc::default();
        let log = seen.clone();
        let server = TestServer::start(move |mut conn| {
            let auth = auth.clone();
            let log = log.clone();
            async move {
                let Ok(Some(req)) = conn.read_request().await else {
                    return;
                };
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(req.clone());
                let given = req
                    .headers
                    .get("proxy-authorization")
                    .map(|v| v.as_bytes().to_vec());
                if let Some(want) = &auth {
                    if given.as_deref() != Some(want.as_bytes()) {
                        let _ = conn
                            .respond(407, &[("proxy-authenticate", b"Basic realm=\"test\"")], b"")
                            .await;
                        return;
                    }
                }
                if req.method == "CONNECT" {
                    let Ok(mut upstream) = TcpStream::connect(&req.target).await else {
                        let _ = conn.respond(502, &[], b"").await;
                        return;
                    };
                    if conn
                        .write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = conn.splice(&mut upstream).await;
                    return;
                }
                // absolute-form: forward this request, then splice the rest
                let Ok(uri) = req.target.parse::<http::Uri>() else {
                    let _ = conn.respond(400, &[], b"").await;
                    return;
                };
                let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
                let Ok(mut upstream) = TcpStream::connect(&authority).await else {
                    let _ = conn.respond(502, &[], b"").await;
                    return;
                };
                let path = uri.path_and_query().map_or("/", |p| p.as_str());
                let mut head = format!("{} {} HTTP/1.1\r\n", req.method, path).into_bytes();
                for (name, value) in &req.headers {
                    if name == "proxy-authorization" || name == "transfer-encoding" {
                        continue;
                    }
                    head.extend_from_slice(name.as_str().as_bytes());
                    head.extend_from_slice(b": ");
                    head.extend_from_slice(value.as_bytes());
                    head.extend_from_slice(b"\r\n");
                }
                if !req.headers.contains_key("content-length") && !req.body.is_empty() {
                    head.extend_from_slice(
                        format!("content-length: {}\r\n", req.body.len()).as_bytes(),
                    );
                }
                head.extend_from_slice(b"\r\n");
                head.extend_from_slice(&req.body);
                if upstream.write_all(&head).await.is_err() {
                    return;
                }
                let _ = conn.splice(&mut upstream).await;
            }
        })
        .await;
        TestProxy { server, seen }
    }

    /// `http://127.0.0.1:PORT`, with `user:pass@` when given.
    pub fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(u) => format!("http://{u}@{}", self.server.addr()),
            None => format!("http://{}", self.server.addr()),
        }
    }

    /// The first request of every connection the proxy accepted.
    pub fn requests(&self) -> Vec<ServerRequest> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
