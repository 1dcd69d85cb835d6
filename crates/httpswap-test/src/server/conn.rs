//! One accepted connection, as a test server's script drives it: read
//! requests (or raw bytes), write answers, close or reset.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::either::Either;

use super::{ServerRequest, ServerStats};

/// Longest request head the test server reads.
const MAX_HEAD: usize = 1024 * 1024;

/// A plain or TLS stream (tokio-util's `Either` forwards every I/O call).
pub(super) type Stream = Either<TcpStream, Box<tokio_rustls::server::TlsStream<TcpStream>>>;

fn tcp_of(stream: &Stream) -> &TcpStream {
    match stream {
        Either::Left(s) => s,
        Either::Right(s) => s.get_ref().0,
    }
}

/// One accepted connection, handed to the script.
pub struct ServerConn {
    pub(super) stream: Stream,
    pub(super) buf: BytesMut,
    /// 0-based accept order of this connection.
    pub index: usize,
    pub(super) stats: Arc<ServerStats>,
}

impl Drop for ServerConn {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl ServerConn {
    /// Reads the next request (head and body). `Ok(None)` when the client
    /// closed the connection cleanly between requests.
    ///
    /// # Errors
    ///
    /// I/O errors, and `InvalidData` for a request that does not parse.
    pub async fn read_request(&mut self) -> io::Result<Option<ServerRequest>> {
        let (head_len, method, target, headers) = loop {
            let mut hs = [httparse::EMPTY_HEADER; 128];
            let mut req = httparse::Request::new(&mut hs);
            match req.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let mut headers = HeaderMap::new();
                    for h in req.headers.iter() {
                        let name = HeaderName::from_bytes(h.name.as_bytes())
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        let value = HeaderValue::from_bytes(h.value)
                            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                        headers.append(name, value);
                    }
                    break (
                        len,
                        req.method.unwrap_or_default().to_owned(),
                        req.path.unwrap_or_default().to_owned(),
                        headers,
                    );
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > MAX_HEAD {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "request head too large",
                        ));
                    }
                    if self.fill().await? == 0 {
                        return if self.buf.is_empty() {
                            Ok(None)
                        } else {
                            Err(io::ErrorKind::UnexpectedEof.into())
                        };
                    }
                }
                Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            }
        };
        self.buf.advance(head_len);
        let chunked = headers
            .get_all("transfer-encoding")
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let body = if chunked {
            self.read_chunked().await?
        } else {
            let len = headers
                .get("content-length")
                .and_then(|v| v.to_str().ok()?.trim().parse::<usize>().ok())
                .unwrap_or(0);
            self.read_exact_body(len).await?
        };
        let req = ServerRequest {
            method,
            target,
            headers,
            body,
            connection: self.index,
        };
        if self.stats.recording() {
            self.stats
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(req.clone());
        }
        Ok(Some(req))
    }

    /// Reads only a request head (for tests where the server must not read
    /// the body).
    ///
    /// # Errors
    ///
    /// As [`read_request`](Self::read_request).
    pub async fn read_head_only(&mut self) -> io::Result<Option<usize>> {
        loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                return Ok(Some(pos + 4));
            }
            if self.fill().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Reads and drops `n` bytes of what follows the last thing read (a
    /// request body the server does not want); fewer if the client closes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn discard(&mut self, n: usize) -> io::Result<()> {
        let mut left = n;
        loop {
            let take = left.min(self.buf.len());
            self.buf.advance(take);
            left -= take;
            if left == 0 || self.fill().await? == 0 {
                return Ok(());
            }
        }
    }

    /// Closes as nginx does after an early answer: stops writing (FIN),
    /// then reads and drops what the client still sends, up to `limit`,
    /// so that the client is not reset before it read the answer.
    pub async fn linger_close(mut self, limit: Duration) {
        let _ = self.stream.shutdown().await;
        let _ = tokio::time::timeout(limit, async {
            loop {
                self.buf.clear();
                if !matches!(self.fill().await, Ok(n) if n > 0) {
                    return;
                }
            }
        })
        .await;
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// Reads exactly `len` bytes (for scripts that speak a protocol of
    /// their own, such as HTTP/2 frames).
    ///
    /// # Errors
    ///
    /// I/O errors, and `UnexpectedEof` if the client closes first.
    pub async fn read_exact(&mut self, len: usize) -> io::Result<Bytes> {
        self.read_exact_body(len).await
    }

    async fn read_exact_body(&mut self, len: usize) -> io::Result<Bytes> {
        while self.buf.len() < len {
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
        Ok(self.buf.split_to(len).freeze())
    }

    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(pos) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = self.buf.split_to(pos + 2);
                return Ok(String::from_utf8_lossy(&line[..pos]).into_owned());
            }
            if self.fill().await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn read_chunked(&mut self) -> io::Result<Bytes> {
        let mut out = BytesMut::new();
        loop {
            let line = self.read_line().await?;
            let size_str = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_str, 16)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if size == 0 {
                // trailers, up to the empty line
                while !self.read_line().await?.is_empty() {}
                return Ok(out.freeze());
            }
            out.extend_from_slice(&self.read_exact_body(size).await?);
            self.read_line().await?;
        }
    }

    /// Writes raw bytes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Writes a complete response with `Content-Length`.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn respond(
        &mut self,
        status: u16,
        headers: &[(&str, &[u8])],
        body: &[u8],
    ) -> io::Result<()> {
        let mut out = format!("HTTP/1.1 {status} {}\r\n", reason(status)).into_bytes();
        for (n, v) in headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        self.write(&out).await
    }

    /// Writes a `200` response head with chunked encoding; follow with
    /// [`chunk`](Self::chunk) and [`end_chunks`](Self::end_chunks).
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn start_chunked(&mut self, headers: &[(&str, &[u8])]) -> io::Result<()> {
        let mut out = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n".to_vec();
        for (n, v) in headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        self.write(&out).await
    }

    /// Writes one chunk.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn chunk(&mut self, data: &[u8]) -> io::Result<()> {
        let mut out = format!("{:x}\r\n", data.len()).into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        self.write(&out).await
    }

    /// Writes the last chunk.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn end_chunks(&mut self) -> io::Result<()> {
        self.write(b"0\r\n\r\n").await
    }

    /// Copies bytes both ways between this connection (anything already
    /// buffered first) and `other`, until either side closes.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub async fn splice(&mut self, other: &mut TcpStream) -> io::Result<()> {
        if !self.buf.is_empty() {
            other.write_all(&self.buf).await?;
            self.buf.clear();
        }
        tokio::io::copy_bidirectional(&mut self.stream, other)
            .await
            .map(|_| ())
    }

    /// Closes with a TCP reset instead of a FIN.
    pub fn reset(self) {
        let _ = tcp_of(&self.stream).set_zero_linger();
        drop(self);
    }

    /// Closes gracefully (FIN).
    pub async fn close(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Waits until the client closes the connection (or `limit` passes);
    /// returns whether it closed.
    pub async fn wait_closed(&mut self, limit: Duration) -> bool {
        let mut chunk = [0u8; 1024];
        let waiting = async {
            loop {
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(limit, waiting).await.is_ok()
    }
}

pub(super) fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Status")
}
