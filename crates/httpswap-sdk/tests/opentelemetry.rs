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

/// The OTLP HTTP exporter itself, with `SdkClient` as its client: every
/// span arrives intact at a receiver that decodes them; a receiver that
/// never answers ends the export at the client's timeout, an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_otlp_exporter_sends_every_span_on_every_backend() {
    use opentelemetry::trace::{Tracer, TracerProvider as _};
    use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    let names = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = names.clone();
    let receiver = routes(move |req, _| match req.target.as_str() {
        "/v1/traces" => {
            let batch = ExportTraceServiceRequest::decode(&req.body[..]).expect("a trace batch");
            let mut names = seen.lock().expect("names");
            for rs in batch.resource_spans {
                for ss in rs.scope_spans {
                    names.extend(ss.spans.into_iter().map(|s| s.name));
                }
            }
            Reply::ok(Vec::new()).header("content-type", "application/x-protobuf")
        }
        "/silent/v1/traces" => Reply::ok("").after(Duration::from_secs(10)),
        _ => Reply::new(404),
    })
    .await;
    for (name, transport) in backends::each_backend() {
        let client = SdkClient::new(transport).with_timeout(Duration::from_millis(500));
        let exporter = |path: &str| {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(client.clone())
                .with_endpoint(receiver.url(path))
                .with_timeout(Duration::from_secs(1))
                .build()
                .expect("exporter")
        };
        names.lock().expect("names").clear();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_simple_exporter(exporter("/v1/traces"))
            .build();
        // the SDK's simple processor blocks on each export: off the workers
        let provider = tokio::task::spawn_blocking(move || {
            let tracer = provider.tracer("httpswap-sdk-test");
            for i in 0..5 {
                tracer.in_span(format!("span-{i}"), |_| {});
            }
            provider.force_flush().expect("flushed");
            provider
        })
        .await
        .expect("spans");
        let mut got = names.lock().expect("names").clone();
        got.sort();
        assert_eq!(
            got,
            ["span-0", "span-1", "span-2", "span-3", "span-4"],
            "{name}"
        );
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .expect("shut down")
            .expect("shutdown");

        // a receiver that never answers: the export ends, with an error
        let silent = exporter("/silent/v1/traces");
        let result = opentelemetry_sdk::trace::SpanExporter::export(&silent, vec![span()]).await;
        assert!(result.is_err(), "{name}: {result:?}");
    }
}

/// One finished span, as the SDK hands it to an exporter.
fn span() -> opentelemetry_sdk::trace::SpanData {
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };
    let now = std::time::SystemTime::now();
    opentelemetry_sdk::trace::SpanData {
        span_context: SpanContext::new(
            TraceId::from(1u128),
            SpanId::from(1u64),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ),
        parent_span_id: SpanId::INVALID,
        parent_span_is_remote: false,
        span_kind: SpanKind::Client,
        name: "never-answered".into(),
        start_time: now,
        end_time: now,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Default::default(),
        links: Default::default(),
        status: Status::Unset,
        instrumentation_scope: Default::default(),
    }
}
