//! Servers of canned answers ([`routes`], [`Reply`]) and compressed
//! bodies ([`compress`]), for the client scenarios and the facade's tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{ServerConn, ServerRequest, TestServer};

/// A canned answer of a [`routes`] server.
///
/// ```
/// use httpswap_test::Reply;
/// let moved = Reply::to(302, "/elsewhere");
/// let gz = Reply::ok(vec![0x1f, 0x8b]).header("content-encoding", "gzip");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
    delay: Duration,
    reset: bool,
    /// Send the head and this many body bytes of `body`, then stall.
    stall_after: Option<usize>,
}

impl Reply {
    /// A reply with `status` and no body.
    pub fn new(status: u16) -> Reply {
        Reply {
            status,
            ..Reply::default()
        }
    }
    /// A 200 with `body`.
    pub fn ok(body: impl Into<Vec<u8>>) -> Reply {
        Reply::new(200).body(body)
    }
    /// A redirect with `Location: location`.
    pub fn to(status: u16, location: impl Into<Vec<u8>>) -> Reply {
        Reply::new(status).header("location", location)
    }
    /// No reply: the connection is reset.
    pub fn reset() -> Reply {
        Reply {
            reset: true,
            ..Reply::default()
        }
    }
    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }
    /// Waits `d` before replying.
    pub fn after(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
    /// Sends the head and `n` bytes of the body, then stalls (3 s).
    pub fn stall_after(mut self, n: usize) -> Reply {
        self.stall_after = Some(n);
        self
    }
}

/// A server answering each request with `handler(request, n)`, where `n`
/// counts requests from 0 across connections (keep-alive, HTTP/1.1).
///
/// # Panics
///
/// As [`TestServer::start`].
pub async fn routes<F>(handler: F) -> TestServer
where
    F: Fn(&ServerRequest, usize) -> Reply + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let count = Arc::new(AtomicUsize::new(0));
    TestServer::start(move |conn: ServerConn| {
        let (handler, count) = (handler.clone(), count.clone());
        serve(conn, move |r| {
            handler(r, count.fetch_add(1, Ordering::SeqCst))
        })
    })
    .await
}

async fn serve(mut conn: ServerConn, handler: impl Fn(&ServerRequest) -> Reply) {
    while let Ok(Some(req)) = conn.read_request().await {
        let reply = handler(&req);
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        if reply.reset {
            conn.reset();
            return;
        }
        let headers: Vec<(&str, &[u8])> = reply
            .headers
            .iter()
            .map(|(n, v)| (*n, v.as_slice()))
            .collect();
        if let Some(n) = reply.stall_after {
            let len = reply.body.len().to_string();
            let mut all = headers.clone();
            all.push(("content-length", len.as_bytes()));
            if conn
                .respond(reply.status, &all, &reply.body[..n])
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
            return;
        }
        let body = if req.method == "HEAD" {
            &[][..]
        } else {
            &reply.body[..]
        };
        let len = reply.body.len().to_string();
        let mut all = headers.clone();
        if req.method == "HEAD" {
            all.push(("content-length", len.as_bytes()));
        }
        if conn.respond(reply.status, &all, body).await.is_err() {
            return;
        }
    }
}

/// `data` compressed with `coding` (`gzip`, `zlib`, raw `deflate`, `br`,
/// `zstd`), by async-compression's encoders (flate2, brotli and zstd).
///
/// # Panics
///
/// For another coding.
pub async fn compress(coding: &str, data: &[u8]) -> Vec<u8> {
    use async_compression::tokio::bufread as enc;
    use tokio::io::AsyncReadExt as _;
    let mut out = Vec::new();
    let r = match coding {
        "gzip" => enc::GzipEncoder::new(data).read_to_end(&mut out).await,
        "zlib" => enc::ZlibEncoder::new(data).read_to_end(&mut out).await,
        "deflate" => enc::DeflateEncoder::new(data).read_to_end(&mut out).await,
        "br" => enc::BrotliEncoder::new(data).read_to_end(&mut out).await,
        "zstd" => enc::ZstdEncoder::new(data).read_to_end(&mut out).await,
        other => panic!("no encoder {other}"),
    };
    r.expect("encode");
    out
}
