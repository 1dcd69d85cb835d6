//! opentelemetry-http's `HttpClient` through an httpswap transport, on
//! every backend: what the OTLP HTTP exporter calls for each batch.
#![cfg(feature = "opentelemetry")]

mod backends;

use bytes::Bytes;
use httpswap_sdk::SdkClient;
use httpswap_test::{routes, Reply};
use opentelemetry_http::{HttpClient, ResponseBodyTooLarge};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_arrive_whole_and_answers_come_back_on_every_backend() {
    let server = routes(|req, _| match req.target.as_str() {
        // an empty ExportTraceServiceResponse
        "/v1/traces" => Reply::ok(Vec::new()).header("content-type", "application/x-protobuf"),
        "/big" => Reply::ok(vec![b'x'; 64 * 1024]),
        "/stall" => Reply::ok("late").after(std::time::Duration::from_secs(5)),
        _ => Reply::new(404),
    })
    .await;
    let batch: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for (name, transport) in backends::each_backend() {
        let client = SdkClient::new(transport).with_max_body(32 * 1024);
        let request = http::Request::post(server.url("/v1/traces"))
            .header("content-type", "application/x-protobuf")
            .body(Bytes::from(batch.clone()))
            .expect("request");
        let response = client.send_bytes(request).await.unwrap_or_else(|e| {
            panic!("{name}: {e}");
        });
        assert_eq!(response.status(), 200, "{name}");
        assert!(response.body().is_empty(), "{name}");
        // the batch (200 kB, beyond the response limit: it bounds only
        // what comes back) arrived whole
        let seen = server.requests();
        assert_eq!(
            seen.last().expect("a request").body[..],
            batch[..],
            "{name}"
        );

        let err = client
            .send_bytes(
                http::Request::get(server.url("/big"))
                    .body(Bytes::new())
                    .expect("request"),
            )
            .await
            .expect_err("beyond the body limit");
        assert!(
            err.downcast_ref::<ResponseBodyTooLarge>().is_some(),
            "{name}: {err}"
        );

        let err = client
            .send_bytes(
                http::Request::get(server.url("/stall"))
                    .body(Bytes::new())
                    .expect("request"),
            )
            .await
            .expect_err("the transport's read timeout");
        let e = err
            .downcast_ref::<httpswap_core::Error>()
            .unwrap_or_else(|| panic!("{name}: {err}"));
        assert_eq!(e.kind(), httpswap_core::ErrorKind::ReadTimeout, "{name}");
    }
}
