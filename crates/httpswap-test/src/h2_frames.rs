//! A cleartext HTTP/2 server written frame by frame, for what hyper's
//! server never does on cue.

use std::io;

use crate::server::{ServerConn, TestServer};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// HPACK: `:status: 200`, entry 8 of the static table.
const STATUS_200: u8 = 0x88;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small frame");
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Starts an h2c server (prior knowledge) whose every connection answers
/// its first stream (200, no body) and answers the next stream with a
/// GOAWAY naming the first as the last it processed, then closes: what a
/// server closing an idle connection sends when a client's new stream
/// crosses its GOAWAY (haproxy's `timeout http-keep-alive` did it in
/// `reliability/tests/stale.rs`). RFC 9113 8.7: a stream above the last
/// one named was not processed, and may be sent again.
///
/// # Panics
///
/// If no loopback port can be bound.
pub async fn h2c_goaway_after_first_stream() -> TestServer {
    TestServer::start(|mut conn: ServerConn| async move {
        let _ = goaway_after_first(&mut conn).await;
    })
    .await
}

async fn goaway_after_first(conn: &mut ServerConn) -> io::Result<()> {
    if conn.read_exact(PREFACE.len()).await?.as_ref() != PREFACE {
        return Ok(());
    }
    conn.write(&frame(SETTINGS, 0, 0, &[])).await?;
    let mut answered: Option<u32> = None;
    // bounded: a client sends a handful of frames per request
    for _ in 0..64 {
        let head = conn.read_exact(9).await?;
        let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5] & 0x7f, head[6], head[7], head[8]]);
        let payload = conn.read_exact(len).await?;
        match kind {
            SETTINGS if flags & ACK == 0 => conn.write(&frame(SETTINGS, ACK, 0, &[])).await?,
            PING if flags & ACK == 0 => conn.write(&frame(PING, ACK, 0, &payload)).await?,
            HEADERS => match answered {
                None => {
                    let flags = END_STREAM | END_HEADERS;
                    conn.write(&frame(HEADERS, flags, stream, &[STATUS_200]))
                        .await?;
                    answered = Some(stream);
                }
                Some(last) => {
                    let mut goaway = last.to_be_bytes().to_vec();
                    goaway.extend_from_slice(&0u32.to_be_bytes()); // NO_ERROR
                    conn.write(&frame(GOAWAY, 0, 0, &goaway)).await?;
                    return Ok(());
                }
            },
            _ => {}
        }
    }
    Ok(())
}
