//! What a crate gets from `httpswap` with the `isahc` feature and nothing
//! else set: curl-sys builds libcurl without `HAVE_POLL`, so with more than
//! 1024 files open a connection fails, and the transport says so in its
//! capabilities and in the error (instead of curl's bare "Could not connect
//! to server"). Built with `CFLAGS=-DHAVE_POLL` (as the httpswap workspace
//! does), the same test finds connections working.

use std::io::{Read, Write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_file_descriptor_1024() {
    // a tiny HTTP server on a thread of its own
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut s = stream;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    let held: Vec<std::fs::File> = (0..1100)
        .map(|_| std::fs::File::open("/dev/null").expect("raise ulimit -n"))
        .collect();
    let config = httpswap::TransportConfig::builder()
        .proxy_from_env(false)
        .build()
        .expect("config");
    let t = httpswap::transport_by_name("isahc", config).expect("isahc");
    let req = http::Request::get(format!("http://{addr}/"))
        .body(httpswap::Body::empty())
        .expect("request");
    let got = t.send(req).await;
    let poll = std::env::var("EXPECT_POLL").is_ok();
    assert_eq!(t.capabilities().sockets_past_fd_1024, poll);
    if poll {
        got.expect("a connection past fd 1024");
    } else {
        let err = got.expect_err("select() cannot watch the socket");
        assert_eq!(err.kind(), httpswap::ErrorKind::Connect, "{err:?}");
        assert!(err.to_string().contains("HAVE_POLL"), "{err}");
        println!("as documented: {err}");
    }
    drop(held);
}
