//! object_store's S3 store sending through `SdkClient` to a moto server
//! the test starts, on every backend: put, get, ranges, a multipart upload,
//! list, delete; and a store that does not allow HTTP refusing an
//! `http://` endpoint.
#![cfg(feature = "object_store")]

mod backends;

use futures_util::TryStreamExt;
use httpswap_reliability::{bounded, moto};
use httpswap_sdk::SdkClient;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// An S3 store of `bucket` at `endpoint` over `client`.
fn store(endpoint: &str, bucket: &str, client: SdkClient, allow_http: bool) -> impl ObjectStore {
    AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region("us-east-1")
        .with_access_key_id("testing")
        .with_secret_access_key("testing")
        .with_allow_http(allow_http)
        .with_virtual_hosted_style_request(false)
        .with_http_connector(client)
        .build()
        .expect("a store")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_round_trip_on_every_backend() {
    let server = moto(None).await;
    for (name, transport) in backends::each_backend() {
        bounded(async {
            let bucket = format!("store-{name}");
            // moto takes an unsigned bucket creation
            let created = transport
                .send(
                    http::Request::put(server.url(&format!("/{bucket}")))
                        .body(httpswap_core::Body::empty())
                        .expect("request"),
                )
                .await
                .expect("bucket");
            assert_eq!(created.status(), 200, "{name}");
            let store = store(
                &server.url(""),
                &bucket,
                SdkClient::new(transport.clone()),
                true,
            );

            let small = Path::from("dir/small.txt");
            store
                .put(&small, PutPayload::from_static(b"hello, store"))
                .await
                .unwrap_or_else(|e| panic!("{name}: put: {e:?}"));
            let got = store
                .get(&small)
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes");
            assert_eq!(&got[..], b"hello, store", "{name}");
            let part = store.get_range(&small, 7..12).await.expect("range");
            assert_eq!(&part[..], b"store", "{name}");

            // a multipart upload of three parts (all but the last at S3's
            // 5 MiB minimum)
            let parts: Vec<Vec<u8>> = (0..3u8)
                .map(|i| {
                    let len = if i < 2 { 5 << 20 } else { 1000 };
                    (0..len).map(|j| (j % 251) as u8 ^ i).collect()
                })
                .collect();
            let big = Path::from("dir/parts.bin");
            let mut upload = store.put_multipart(&big).await.expect("multipart");
            for part in &parts {
                upload
                    .put_part(PutPayload::from(part.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{name}: part: {e:?}"));
            }
            upload
                .complete()
                .await
                .unwrap_or_else(|e| panic!("{name}: complete: {e:?}"));
            let whole = store
                .get(&big)
                .await
                .expect("get")
                .bytes()
                .await
                .expect("bytes");
            assert!(
                whole[..] == parts.concat()[..],
                "{name}: the parts in order"
            );

            let mut listed: Vec<String> = store
                .list(Some(&Path::from("dir")))
                .map_ok(|meta| meta.location.to_string())
                .try_collect()
                .await
                .expect("list");
            listed.sort_unstable();
            assert_eq!(listed, ["dir/parts.bin", "dir/small.txt"], "{name}");

            store.delete(&small).await.expect("delete");
            let err = store.get(&small).await.expect_err("deleted");
            assert!(
                matches!(err, object_store::Error::NotFound { .. }),
                "{name}: {err:?}"
            );
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_endpoint_is_refused_unless_the_store_allows_http() {
    let server = moto(None).await;
    for (name, transport) in backends::each_backend() {
        let store = store(&server.url(""), "any", SdkClient::new(transport), false);
        let err = store
            .get(&Path::from("x"))
            .await
            .expect_err("http:// is not allowed");
        let text = format!("{err:?}");
        assert!(text.contains("do not allow HTTP"), "{name}: {text}");
    }
}
