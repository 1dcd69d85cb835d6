//! aws-sdk-s3 sending through `SdkClient` to a moto server the test starts
//! (PyPI `moto[server]`, installed by `scripts/install-test-servers`), on
//! every backend: objects both ways, streamed and compared by digest,
//! ranges, lists, multipart uploads, the SDK's own errors, a server that
//! dies mid-download or is down and comes back, and the SDK's timeouts.
#![cfg(feature = "aws-smithy")]

mod backends;

use std::time::{Duration, Instant};

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use httpswap_core::SharedTransport;
use httpswap_reliability::{bounded, moto};
use httpswap_sdk::SdkClient;
use sha2::{Digest, Sha256};

/// An S3 client for `endpoint` over `transport`, with moto's fixed test
/// credentials and the retries and timeouts given.
fn s3(
    endpoint: &str,
    transport: &SharedTransport,
    retry: RetryConfig,
    timeouts: TimeoutConfig,
) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(SdkClient::new(transport.clone()))
        .retry_config(retry)
        .timeout_config(timeouts)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// No retries: each failure shows as it is.
fn once() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(1)
}

/// `len` bytes that differ from one position to the next (a part put in
/// the wrong place changes the digest).
fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}

fn digest(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_on_every_backend() {
    let server = moto(None).await;
    let big = data(20 * 1024 * 1024, 7);
    let dir = std::env::temp_dir().join(format!("httpswap-s3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("big");
    std::fs::write(&file, &big).expect("20 MiB file");
    for (name, transport) in backends::each_backend() {
        bounded(async {
            let s3 = s3(
                &server.url(""),
                &transport,
                once(),
                TimeoutConfig::disabled(),
            );
            let bucket = format!("objects-{name}");
            s3.create_bucket()
                .bucket(&bucket)
                .send()
                .await
                .expect("bucket");

            // a small object with metadata
            s3.put_object()
                .bucket(&bucket)
                .key("small.txt")
                .metadata("colour", "blue")
                .content_type("text/plain")
                .body(ByteStream::from_static(b"hello, s3"))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: put: {e:?}"));
            let got = s3
                .get_object()
                .bucket(&bucket)
                .key("small.txt")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: get: {e:?}"));
            assert_eq!(
                got.metadata()
                    .and_then(|m| m.get("colour"))
                    .map(String::as_str),
                Some("blue")
            );
            assert_eq!(got.content_type(), Some("text/plain"));
            let body = got.body.collect().await.expect("body").into_bytes();
            assert_eq!(&body[..], b"hello, s3", "{name}");

            // 20 MiB streamed from a file (a body the SDK can make again),
            // and back, compared by digest
            let upload = ByteStream::from_path(&file).await.expect("file body");
            s3.put_object()
                .bucket(&bucket)
                .key("big.bin")
                .body(upload)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: big put: {e:?}"));
            let got = s3
                .get_object()
                .bucket(&bucket)
                .key("big.bin")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: big get: {e:?}"));
            assert_eq!(got.content_length(), Some(big.len() as i64));
            let mut body = got.body;
            let mut hash = Sha256::new();
            let mut read = 0;
            while let Some(chunk) = body.try_next().await.expect("a chunk") {
                read += chunk.len();
                hash.update(&chunk);
            }
            assert_eq!(read, big.len(), "{name}");
            assert_eq!(hash.finalize().to_vec(), digest(&big), "{name}");

            // a range
            let got = s3
                .get_object()
                .bucket(&bucket)
                .key("big.bin")
                .range("bytes=1000-1999")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: range: {e:?}"));
            let part = got.body.collect().await.expect("range body").into_bytes();
            assert_eq!(&part[..], &big[1000..2000], "{name}");

            // a list
            let listed = s3
                .list_objects_v2()
                .bucket(&bucket)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: list: {e:?}"));
            let mut keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
            keys.sort_unstable();
            assert_eq!(keys, ["big.bin", "small.txt"], "{name}");

            // a multipart upload of three parts (all but the last at S3's
            // 5 MiB minimum)
            let parts = [data(5 << 20, 1), data(5 << 20, 2), data(1024, 3)];
            let started = s3
                .create_multipart_upload()
                .bucket(&bucket)
                .key("parts.bin")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: multipart: {e:?}"));
            let id = started.upload_id().expect("an upload id");
            let mut done = CompletedMultipartUpload::builder();
            for (n, part) in (1..).zip(&parts) {
                let sent = s3
                    .upload_part()
                    .bucket(&bucket)
                    .key("parts.bin")
                    .upload_id(id)
                    .part_number(n)
                    .body(ByteStream::from(part.clone()))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("{name}: part {n}: {e:?}"));
                done = done.parts(
                    CompletedPart::builder()
                        .part_number(n)
                        .e_tag(sent.e_tag().expect("an etag"))
                        .build(),
                );
            }
            s3.complete_multipart_upload()
                .bucket(&bucket)
                .key("parts.bin")
                .upload_id(id)
                .multipart_upload(done.build())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: complete: {e:?}"));
            let whole = s3
                .get_object()
                .bucket(&bucket)
                .key("parts.bin")
                .send()
                .await
                .expect("the whole")
                .body
                .collect()
                .await
                .expect("body")
                .into_bytes();
            assert_eq!(digest(&whole), digest(&parts.concat()), "{name}");

            // a missing key is the SDK's NoSuchKey
            let err = s3
                .get_object()
                .bucket(&bucket)
                .key("missing")
                .send()
                .await
                .expect_err("no such key");
            assert!(err.into_service_error().is_no_such_key(), "{name}");

            // delete
            s3.delete_object()
                .bucket(&bucket)
                .key("small.txt")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: delete: {e:?}"));
            let listed = s3
                .list_objects_v2()
                .bucket(&bucket)
                .send()
                .await
                .expect("list");
            assert_eq!(listed.contents().len(), 2, "{name}");
        })
        .await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_dying_mid_download_is_an_error_never_a_short_object() {
    let big = data(20 * 1024 * 1024, 9);
    for (name, transport) in backends::each_backend() {
        bounded(async {
            let mut server = moto(None).await;
            let s3 = s3(
                &server.url(""),
                &transport,
                once(),
                TimeoutConfig::disabled(),
            );
            s3.create_bucket()
                .bucket("dying")
                .send()
                .await
                .expect("bucket");
            s3.put_object()
                .bucket("dying")
                .key("big.bin")
                .body(ByteStream::from(big.clone()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: put: {e:?}"));
            let got = s3
                .get_object()
                .bucket("dying")
                .key("big.bin")
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: get: {e:?}"));
            let mut body = got.body;
            let first = body.try_next().await.expect("a first chunk").expect("data");
            let mut read = first.len();
            // the server dies with most of the object unsent (loopback
            // buffers hold a few MiB at most)
            assert!(server.stop().is_empty());
            let end = loop {
                match body.try_next().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            assert!(read < big.len(), "{name}: the server died first");
            end.expect_err("a cut body is an error, never a short object");
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_is_a_retryable_failure_and_the_sdk_retry_reaches_it_back() {
    for (name, transport) in backends::each_backend() {
        bounded(async {
            let mut server = moto(None).await;
            let port = server.addr.port();
            let endpoint = server.url("");
            assert!(server.stop().is_empty());

            // down: a dispatch failure the SDK classes as retryable (io)
            let err = s3(&endpoint, &transport, once(), TimeoutConfig::disabled())
                .list_buckets()
                .send()
                .await
                .expect_err("nothing listens");
            match &err {
                SdkError::DispatchFailure(d) => assert!(d.is_io(), "{name}: {err:?}"),
                other => panic!("{name}: a dispatch failure, got {other:?}"),
            }

            // back: the SDK's retries reach it once it listens again
            let retrying = s3(
                &endpoint,
                &transport,
                RetryConfig::standard()
                    .with_max_attempts(30)
                    .with_initial_backoff(Duration::from_millis(100))
                    .with_max_backoff(Duration::from_millis(500)),
                TimeoutConfig::disabled(),
            );
            let back = tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                moto(Some(port)).await
            });
            let listed = retrying.list_buckets().send().await;
            let server = back.await.expect("restarted");
            listed
                .unwrap_or_else(|e| panic!("{name}: retried until back: {e:?}\n{}", server.log()));
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sdk_read_and_connect_timeouts_are_honoured() {
    // a server that reads requests and never answers
    let silent =
        httpswap_test::TestServer::start(|mut conn: httpswap_test::ServerConn| async move {
            while let Ok(Some(_)) = conn.read_request().await {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        })
        .await;
    let (full, _held) = httpswap_test::backlog_full().await;
    for (name, transport) in backends::each_backend() {
        bounded(async {
            let read_only = TimeoutConfig::builder()
                .read_timeout(Duration::from_millis(300))
                .build();
            // read: the transport's own read timeout is 2 s
            let started = Instant::now();
            let err = s3(&silent.url(""), &transport, once(), read_only)
                .list_buckets()
                .send()
                .await
                .expect_err("never answered");
            match &err {
                SdkError::DispatchFailure(d) => assert!(d.is_timeout(), "{name}: {err:?}"),
                other => panic!("{name}: a timeout, got {other:?}"),
            }
            assert!(
                started.elapsed() < Duration::from_millis(1800),
                "{name}: the SDK's 300 ms"
            );

            // connect: honoured where the backend takes a connect timeout
            // per request; reqwest sets it per client, and its 2 s apply
            // (capability `connect_timeout_per_request`)
            let connect_only = TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(300))
                .build();
            let started = Instant::now();
            let err = s3(&format!("http://{full}"), &transport, once(), connect_only)
                .list_buckets()
                .send()
                .await
                .expect_err("cannot connect");
            match &err {
                SdkError::DispatchFailure(d) => assert!(d.is_timeout(), "{name}: {err:?}"),
                other => panic!("{name}: a timeout, got {other:?}"),
            }
            let took = started.elapsed();
            if transport.capabilities().connect_timeout_per_request {
                assert!(
                    took < Duration::from_millis(1800),
                    "{name}: the SDK's 300 ms, took {took:?}"
                );
            } else {
                assert!(
                    took >= Duration::from_millis(1900),
                    "{name}: the transport's 2 s, took {took:?}"
                );
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_error_poisons_its_connection_where_the_transport_can() {
    for (name, transport) in backends::each_backend() {
        // the first answer a 500 (transient, not throttling: the SDK retries
        // it on another connection when it poisons), then a
        // bucket list
        let server = httpswap_test::routes(|_, n| {
            if n == 0 {
                httpswap_test::Reply::new(500)
                    .header("content-type", "application/xml")
                    .body("<Error><Code>InternalError</Code><Message>try again</Message></Error>")
            } else {
                httpswap_test::Reply::ok(
                    "<ListAllMyBucketsResult><Buckets></Buckets>\
                     <Owner><ID>o</ID></Owner></ListAllMyBucketsResult>",
                )
                .header("content-type", "application/xml")
            }
        })
        .await;
        let retrying = RetryConfig::standard()
            .with_max_attempts(2)
            .with_initial_backoff(Duration::from_millis(10));
        // Retry Behavior 2.1 (the latest behaviour version) reuses every
        // connection; the version before it, still what many configurations
        // pin, poisons the connection of a transient error
        #[allow(deprecated)]
        let poisoning = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::v2026_01_12())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("testing", "testing", None, None, "test"))
            .endpoint_url(server.url(""))
            .force_path_style(true)
            .http_client(SdkClient::new(transport.clone()))
            .retry_config(retrying)
            .build();
        bounded(async {
            aws_sdk_s3::Client::from_conf(poisoning)
                .list_buckets()
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: retried: {e:?}"));
        })
        .await;
        let connections: Vec<usize> = server.requests().iter().map(|r| r.connection).collect();
        if transport.capabilities().poisons_connections {
            assert_eq!(
                connections,
                [0, 1],
                "{name}: the 500's connection was not used again"
            );
        } else {
            assert_eq!(connections, [0, 0], "{name}: the pool took no poisoning");
        }
    }
}
