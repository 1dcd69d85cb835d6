//! `--client-headers`: with it, every subject (each backend's `Client`,
//! transport and library used directly) puts the `Client`'s default
//! headers on the wire; without it, only the `Client` sends its
//! `User-Agent`, so the rows' requests differ. Checked on the requests the
//! suite's test server reads, from the subjects and from
//! `httpswap bench --client-headers` itself (its clients run in processes
//! of their own).

use httpswap_cli::subject::{subjects, Layer, Layers};
use httpswap_test::{ServerConn, ServerRequest, TestServer};

/// A keep-alive HTTP/1.1 server (the suite's, which keeps every request
/// it reads) that answers every request `ok`.
async fn answers_ok() -> TestServer {
    TestServer::start(|mut conn: ServerConn| async move {
        while let Ok(Some(_)) = conn.read_request().await {
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
            if conn.write(answer).await.is_err() {
                return;
            }
        }
    })
    .await
}

/// The values of `name` in a request the server read.
fn values<'a>(seen: &'a ServerRequest, name: &str) -> Vec<&'a [u8]> {
    seen.headers
        .get_all(name)
        .iter()
        .map(http::HeaderValue::as_bytes)
        .collect()
}

/// Whether `seen` carries the `Client`'s two default headers, each once.
fn has_client_headers(seen: &ServerRequest) -> bool {
    values(seen, "user-agent") == [httpswap::DEFAULT_USER_AGENT.as_bytes()]
        && values(seen, "accept-encoding") == [httpswap::decompress::ACCEPT_ENCODING.as_bytes()]
}

#[test]
fn client_headers_put_the_same_request_on_the_wire_for_every_layer() {
    let rt = httpswap_cli::client_runtime().unwrap();
    let server = rt.block_on(answers_ok());
    let url = server.url("/");
    let all = {
        let _in = rt.enter();
        subjects(None, Layers::ALL).unwrap()
    };
    assert!(all.iter().any(|s| s.layer == Layer::Transport));
    for subject in &all {
        for on in [true, false] {
            let s = subject.sending_client_headers(on);
            let n = rt
                .block_on(s.call(&http::Method::GET, &url, bytes::Bytes::new()))
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(n, 2, "{}", s.name);
            let seen = server.requests().pop().expect("a request");
            if on || s.layer == Layer::Client {
                assert!(
                    has_client_headers(&seen),
                    "{} (on: {on}) sent {:?}",
                    s.name,
                    seen.headers
                );
                assert_eq!(values(&seen, "user-agent").len(), 1, "{:?}", seen.headers);
            } else {
                // the difference the flag takes away: no `User-Agent`, or
                // the library's own (isahc's)
                assert!(
                    !values(&seen, "user-agent").contains(&httpswap::DEFAULT_USER_AGENT.as_bytes()),
                    "{} sent {:?}",
                    s.name,
                    seen.headers
                );
            }
        }
    }
}

#[test]
fn the_bench_flag_reaches_every_client_process() {
    // the server runs on this runtime's workers while the binary runs
    let rt = httpswap_cli::client_runtime().unwrap();
    let server = rt.block_on(answers_ok());
    let url = server.url("/");
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
    let seen = server.requests();
    // each client's warm-up and run: 2 requests each at least
    assert!(seen.len() >= 2 * results.len(), "{} requests", seen.len());
    for request in &seen {
        assert_eq!(
            values(request, "user-agent"),
            [httpswap::DEFAULT_USER_AGENT.as_bytes()],
            "{:?}",
            request.headers
        );
    }
}
