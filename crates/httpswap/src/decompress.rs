//! Decoding compressed response bodies.
//!
//! With decompression on (the default), every request gets
//! `Accept-Encoding: gzip, deflate, br, zstd` unless it has an
//! `Accept-Encoding` header of its own, and a response whose
//! `Content-Encoding` lists only these codings (and `identity`, case
//! insensitive, several in order) is decoded as it is read. The decoded
//! response loses its `Content-Encoding` and `Content-Length` headers (they
//! described the encoded bytes), as in reqwest. A response with a coding
//! this client does not know is returned untouched, headers included.
//! `deflate` accepts both the zlib format (RFC 9110) and raw deflate, as
//! httpx does. HEAD responses, 204 and 304, and empty bodies are not decoded.
//!
//! Corrupt data is a [`ErrorKind::Decoding`] error from the body stream;
//! errors of the body underneath (read timeout, truncation) keep their own
//! kind. With a limit set
//! ([`ClientBuilder::max_decompressed_size`](crate::ClientBuilder::max_decompressed_size)),
//! a body that decodes to more bytes is stopped at the limit with a
//! `Decoding` error saying so, so a decompression bomb costs at most the
//! limit in memory and the time to inflate it.
//!
//! The codecs are async-compression's (flate2, brotli and zstd underneath).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_compression::tokio::bufread::{
    BrotliDecoder, DeflateDecoder, GzipDecoder, ZlibDecoder, ZstdDecoder,
};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH};
use http::{HeaderValue, Method};
use httpswap_core::{Body, Error, ErrorKind, Response};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

/// The `Accept-Encoding` value sent by default.
pub const ACCEPT_ENCODING: HeaderValue = HeaderValue::from_static("gzip, deflate, br, zstd");

/// Chunk size of the decoded stream.
const CHUNK: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Coding {
    Gzip,
    Deflate,
    Brotli,
    Zstd,
}

/// The codings to undo, outermost first; `None` when one is unknown.
fn codings(value: &HeaderValue) -> Option<Vec<Coding>> {
    let text = value.to_str().ok()?;
    let mut out = Vec::new();
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let c = match token.to_ascii_lowercase().as_str() {
            "identity" => continue,
            "gzip" | "x-gzip" => Coding::Gzip,
            "deflate" => Coding::Deflate,
            "br" => Coding::Brotli,
            "zstd" => Coding::Zstd,
            _ => return None,
        };
        out.push(c);
    }
    out.reverse();
    Some(out)
}

type Reader = Pin<Box<dyn AsyncBufRead + Send>>;

/// Raw deflate or zlib, told apart by the zlib header (RFC 1950: method 8,
/// and the first two bytes a multiple of 31).
async fn deflate(mut input: Reader) -> io::Result<Pin<Box<dyn AsyncRead + Send>>> {
    let head = input.fill_buf().await?;
    let zlib = head.len() >= 2
        && head[0] & 0x0f == 8
        && (u16::from(head[0]) << 8 | u16::from(head[1])) % 31 == 0;
    Ok(if zlib {
        Box::pin(ZlibDecoder::new(input))
    } else {
        Box::pin(DeflateDecoder::new(input))
    })
}

async fn decoder(coding: Coding, input: Reader) -> io::Result<Pin<Box<dyn AsyncRead + Send>>> {
    Ok(match coding {
        Coding::Gzip => {
            let mut d = GzipDecoder::new(input);
            d.multiple_members(true);
            Box::pin(d)
        }
        Coding::Deflate => deflate(input).await?,
        Coding::Brotli => Box::pin(BrotliDecoder::new(input)),
        Coding::Zstd => Box::pin(ZstdDecoder::new(input)),
    })
}

/// Our error back out of an `io::Error`, or a Decoding error.
fn from_io(e: io::Error, what: &str) -> Error {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        let inner = e.into_inner().expect("checked");
        return *inner.downcast::<Error>().expect("checked");
    }
    Error::new(
        ErrorKind::Decoding,
        format!("could not decode the {what} response body: {e}"),
    )
    .with_source(e)
}

/// Decodes `response` in place if it is compressed with codings this
/// client knows (in place: the common response, not compressed, is not
/// moved).
pub(crate) fn decode(response: &mut Response, method: &Method, limit: Option<u64>) {
    if *method == Method::HEAD || httpswap_core::backend::status_has_no_body(response.status()) {
        return;
    }
    let Some(codings) = response.headers().get(CONTENT_ENCODING).and_then(codings) else {
        return;
    };
    let headers = response.headers_mut();
    headers.remove(CONTENT_ENCODING);
    if codings.is_empty() {
        return;
    }
    headers.remove(CONTENT_LENGTH);
    let name = format!("{codings:?}").to_lowercase();
    let body = std::mem::take(response.body_mut());
    *response.body_mut() = decoded(body, codings, limit, name);
}

fn decoded(body: Body, codings: Vec<Coding>, limit: Option<u64>, what: String) -> Body {
    // bytes that arrived, so that an empty body decodes to an empty body
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let input = body.into_data_stream().map(move |r| {
        r.inspect(|b: &Bytes| {
            counter.fetch_add(b.len() as u64, Ordering::Relaxed);
        })
        .map_err(io::Error::other)
    });
    let what2 = what.clone();
    let stream = futures_util::stream::once(async move {
        let mut reader: Reader = Box::pin(StreamReader::new(input));
        let mut last = None;
        for (i, coding) in codings.iter().enumerate() {
            let d = decoder(*coding, reader).await?;
            if i + 1 == codings.len() {
                last = Some(d);
                break;
            }
            reader = Box::pin(BufReader::with_capacity(CHUNK, d));
        }
        Ok::<_, io::Error>(ReaderStream::with_capacity(
            last.expect("one coding at least"),
            CHUNK,
        ))
    })
    .try_flatten();
    let mut produced = 0u64;
    let stream = stream.map(move |r| match r {
        Ok(chunk) => {
            produced += chunk.len() as u64;
            match limit {
                Some(max) if produced > max => Err(Error::new(
                    ErrorKind::Decoding,
                    format!("decoded {what} response body is larger than the limit of {max} bytes"),
                )),
                _ => Ok(chunk),
            }
        }
        // nothing arrived: an empty body, not a truncated one (the decoder's
        // stream ends after any error, this one included)
        Err(e) if received.load(Ordering::Relaxed) == 0 && is_eof(&e) => Ok(Bytes::new()),
        Err(e) => Err(from_io(e, &what2)),
    });
    Body::from_stream(stream)
}

fn is_eof(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::UnexpectedEof && e.get_ref().is_none_or(|i| !i.is::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coding_lists() {
        let c = |s: &'static str| codings(&HeaderValue::from_static(s));
        assert_eq!(c("gzip"), Some(vec![Coding::Gzip]));
        assert_eq!(c("X-GZIP"), Some(vec![Coding::Gzip]));
        assert_eq!(
            c("deflate, br"),
            Some(vec![Coding::Brotli, Coding::Deflate])
        );
        assert_eq!(c("identity"), Some(vec![]));
        assert_eq!(c("gzip, compress"), None);
        assert_eq!(c("zstd,"), Some(vec![Coding::Zstd]));
    }
}
