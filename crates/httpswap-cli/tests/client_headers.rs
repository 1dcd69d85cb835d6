//! `--client-headers`: with it, every subject (each backend's `Client`,
//! transport and library used directly) puts the `Client`'s default
//! headers on the wire; without it, only the `Client` sends its
//! `User-Agent`, so the rows' requests differ. Checked on the raw request
//! heads a plain local server receives, from the subjects and from
//! `httpswap bench --client-headers` itself (its clients run in processes
//! of their own).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use httpswap_cli::subject::{subjects, Layer, Layers};

/// A keep-alive HTTP/1.1 server that answers every request `ok` and keeps
/// each request head it reads, lower-cased. At most 256 connections, each
/// ending after 10 s without a request.
fn head_recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let heads = Arc::new(Mutex::new(Vec::new()));
    let kept = heads.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(256) {
            let Ok(mut conn) = conn else { return };
            let heads = kept.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head: Vec<u8> = buf.drain(..end + 4).collect();
                        heads
                            .lock()
                            .unwrap()
                            .push(String::from_utf8_lossy(&head).to_ascii_lowercase());
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if conn.write_all(answer).is_err() {
                            return;
                        }
                    }
                    match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (url, heads)
}

#[test]
fn client_headers_put_the_same_request_on_the_wire_for_every_layer() {
    let (url, heads) = head_recorder();
    let rt = httpswap_cli::client_runtime().unwrap();
    let all = {
        let _in = rt.enter();
        subjects(None, Layers::ALL).unwrap()
    };
    assert!(all.iter().any(|s| s.layer == Layer::Transport));
    let user_agent =
        format!("\r\nuser-agent: {}\r\n", httpswap::DEFAULT_USER_AGENT).to_ascii_lowercase();
    let accept_encoding = format!(
        "\r\naccept-encoding: {}\r\n",
        httpswap::decompress::ACCEPT_ENCODING.to_str().unwrap()
    );
    for subject in &all {
        for on in [true, false] {
            let s = subject.sending_client_headers(on);
            let n = rt
                .block_on(s.call(&http::Method::GET, &url, bytes::Bytes::new()))
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(n, 2, "{}", s.name);
            let head = heads.lock().unwrap().pop().expect("a request head");
            let sends_them = head.contains(&user_agent) && head.contains(&accept_encoding);
            if on || s.layer == Layer::Client {
                assert!(sends_them, "{} (on: {on}) sent {head:?}", s.name);
                assert_eq!(head.matches("user-agent:").count(), 1, "{head:?}");
            } else {
                // the difference the flag takes away: no `User-Agent`, or
                // the library's own (isahc's)
                assert!(!head.contains(&user_agent), "{} sent {head:?}", s.name);
            }
        }
    }
}

#[test]
fn the_bench_flag_reaches_every_client_process() {
    let (url, heads) = head_recorder();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_httpswap"))
        .args([
            "bench",
            &url,
            "--client-headers",
            "--scenarios",
            "sustained",
        ])
        .args(["-n", "2", "-c", "1", "-r", "1", "--json", "-q"])
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["client_headers"], true);
    let results = report["scenarios"][0]["results"]
        .as_array()
        .expect("results");
    let user_agent =
        format!("\r\nuser-agent: {}\r\n", httpswap::DEFAULT_USER_AGENT).to_ascii_lowercase();
    let heads = heads.lock().unwrap();
    // each client's warm-up and run: 2 requests each at least
    assert!(heads.len() >= 2 * results.len(), "{} heads", heads.len());
    for head in heads.iter() {
        assert_eq!(head.matches(&user_agent).count(), 1, "{head:?}");
    }
}
