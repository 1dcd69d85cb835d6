//! Bad input is refused before anything unsafe happens, on every backend:
//! CR/LF/NUL in header names and values, control characters in URLs. The
//! other security rows of RELIABILITY.md (TLS verification, credentials on
//! redirects, oversized headers, decompression bombs) are conformance
//! scenarios run on every backend by each backend's `tests/conformance.rs`.

use std::time::Duration;

use httpswap::ErrorKind;
use httpswap_reliability::{client, config, BACKENDS};
use httpswap_test::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_injection_is_refused_before_sending() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let server = TestServer::echo().await;
        let url = server.url("/");
        for name in BACKENDS {
            let c = client(name, config());
            for (header, value) in [
                ("x-a", "one\r\nx-injected: 1"),
                ("x-a", "one\nx-injected: 1"),
                ("x-a", "one\rtwo"),
                ("x-a", "nul\0byte"),
                ("x-a\r\nx-injected", "1"),
                ("x a", "space in the name"),
                ("", "empty name"),
                ("x-\u{e9}", "non-ASCII name"),
            ] {
                let err = c
                    .get(&url)
                    .header(header, value)
                    .send()
                    .await
                    .expect_err("refused");
                assert_eq!(
                    err.kind(),
                    ErrorKind::LocalProtocol,
                    "{name} {header:?}: {err}"
                );
            }
            for bad in [
                "/a\r\nx-injected: 1",
                "/a\nb",
                "/a\tb",
                "/a\0b",
                "/a?q=\r\n",
                "/a#\n",
            ] {
                let err = c
                    .get(&format!("{url}{}", bad.trim_start_matches('/')))
                    .send()
                    .await
                    .expect_err("refused");
                assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{name} {bad:?}: {err}");
            }
        }
        assert!(server.requests().is_empty(), "nothing was sent");
        // and a clean request goes through, so the refusals were the input's
        let c = client(BACKENDS[0], config());
        c.get(&url)
            .header("x-a", "fine")
            .send()
            .await
            .expect("clean");
        assert_eq!(server.requests().len(), 1);
    })
    .await
    .expect("finished in time");
}
