//! Errors before anything is sent: refused connections, unsupported schemes, bad URLs.

use super::*;

/// Nothing listens: Connect, request not sent.
pub async fn error_connection_refused(b: Backend) {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let t = b.default_transport();
    let err = t
        .send(get(&format!("http://{addr}/")))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Connect, "{err:?}");
    assert!(err.is_connect() && !err.request_sent() && err.is_retryable());
    assert!(
        err.backend().is_some_and(|name| !name.is_empty()),
        "{err:?}"
    );
}

/// `ftp://` is UnsupportedProtocol; a URL with no host is InvalidUrl.
pub async fn error_unsupported_scheme_and_bad_url(b: Backend) {
    let t = b.default_transport();
    let err = t.send(get("ftp://127.0.0.1/file")).await.expect_err("ftp");
    assert_eq!(err.kind(), ErrorKind::UnsupportedProtocol, "{err:?}");
    let err = t.send(get("/relative/only")).await.expect_err("relative");
    assert_eq!(err.kind(), ErrorKind::InvalidUrl, "{err:?}");
}
