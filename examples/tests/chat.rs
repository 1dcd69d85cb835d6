//! The chat SDK example against the embedded mock LLM, on every enabled
//! backend, and against a `MockTransport`.

use std::time::Duration;

use bytes::Bytes;
use httpswap::{Body, ErrorKind, TransportConfig};
use httpswap_examples::chat::{ChatClient, ChatRequest, Message};
use httpswap_examples::mock_llm::{reply_to, tokens, MockLlm, MockLlmOptions};
use httpswap_test::MockTransport;

const KEY: &str = "sk-test";

fn transport(name: &str) -> httpswap::SharedTransport {
    let config = TransportConfig::builder()
        .proxy_from_env(false)
        .build()
        .expect("config");
    httpswap::transport_by_name(name, config).expect("enabled backend")
}

fn client(name: &str, llm: &MockLlm) -> ChatClient {
    ChatClient::builder()
        .base_url(&llm.base_url())
        .api_key(KEY)
        .transport(transport(name))
        .build()
        .expect("client")
}

fn request(text: &str) -> ChatRequest {
    ChatRequest::new(
        "mock-1",
        vec![Message::system("be brief"), Message::user(text)],
    )
}

/// Bounds every test: a hang is a failure, not a stuck CI job.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("finished in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_and_streams_on_every_backend() {
    bounded(async {
        let llm = MockLlm::start_with(MockLlmOptions {
            api_key: Some(KEY.into()),
            token_delay: Duration::from_millis(1),
            ..Default::default()
        })
        .await
        .expect("mock");
        for name in httpswap::enabled_backends() {
            let chat = client(name, &llm);
            assert_eq!(chat.backend(), *name);
            let done = chat.create(&request("what is 2+2?")).await.expect(name);
            assert_eq!(done.text(), reply_to("what is 2+2?"), "{name}");
            assert_eq!(done.model, "mock-1");
            assert_eq!(done.choices[0].finish_reason.as_deref(), Some("stop"));
            let usage = done.usage.expect("usage");
            assert_eq!(
                usage.total_tokens,
                usage.prompt_tokens + usage.completion_tokens
            );

            let mut stream = chat.create_stream(&request("stream it")).await.expect(name);
            let mut texts = Vec::new();
            let mut finish = None;
            while let Some(chunk) = stream.next_chunk().await {
                let chunk = chunk.expect(name);
                texts.push(chunk.text().to_owned());
                finish = finish.or(chunk.choices[0].finish_reason.clone());
            }
            let want = reply_to("stream it");
            assert_eq!(texts.concat(), want, "{name}");
            // the role chunk, one per token, the finish chunk
            assert_eq!(texts.len(), tokens(&want).count() + 2, "{name}");
            assert_eq!(finish.as_deref(), Some("stop"));
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_retried_by_the_client_layer() {
    bounded(async {
        for name in httpswap::enabled_backends() {
            let llm = MockLlm::start_with(MockLlmOptions {
                rate_limited_first: 2,
                ..Default::default()
            })
            .await
            .expect("mock");
            let done = client(name, &llm).create(&request("hi")).await.expect(name);
            assert_eq!(done.text(), reply_to("hi"));
            assert_eq!(llm.requests(), 3, "{name}: two 429s, then the answer");

            let llm = MockLlm::start_with(MockLlmOptions {
                rate_limited_first: 5,
                ..Default::default()
            })
            .await
            .expect("mock");
            let chat = ChatClient::builder()
                .base_url(&llm.base_url())
                .transport(transport(name))
                .max_retries(1)
                .build()
                .expect("client");
            let err = chat
                .create(&request("hi"))
                .await
                .expect_err("still limited");
            assert_eq!(err.kind(), ErrorKind::Status, "{name}: {err}");
            assert_eq!(err.status().map(|s| s.as_u16()), Some(429));
            assert_eq!(llm.requests(), 2, "{name}: one retry only");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_a_401_and_not_retried() {
    bounded(async {
        let llm = MockLlm::start_with(MockLlmOptions {
            api_key: Some(KEY.into()),
            ..Default::default()
        })
        .await
        .expect("mock");
        let chat = ChatClient::builder()
            .base_url(&llm.base_url())
            .api_key("sk-wrong")
            .transport(transport(httpswap::enabled_backends()[0]))
            .build()
            .expect("client");
        let err = chat.create(&request("hi")).await.expect_err("401");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err}");
        assert_eq!(llm.requests(), 1);
        let err = ChatClient::builder()
            .api_key("bad\nkey")
            .build()
            .expect_err("newline in the key");
        assert_eq!(err.kind(), ErrorKind::Builder, "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_stream_times_out_and_a_cut_one_is_an_error_on_every_backend() {
    bounded(async {
        for name in httpswap::enabled_backends() {
            let llm = MockLlm::start_with(MockLlmOptions {
                stall_after: Some(2),
                token_delay: Duration::ZERO,
                ..Default::default()
            })
            .await
            .expect("mock");
            let chat = ChatClient::builder()
                .base_url(&llm.base_url())
                .transport(transport(name))
                .timeout(Duration::from_millis(200))
                .build()
                .expect("client");
            let mut stream = chat.create_stream(&request("x")).await.expect(name);
            let mut got = 0;
            let err = loop {
                match stream.next_chunk().await {
                    Some(Ok(_)) => got += 1,
                    Some(Err(e)) => break e,
                    None => panic!("{name}: a stalled stream ended"),
                }
            };
            assert_eq!(err.kind(), ErrorKind::ReadTimeout, "{name}: {err}");
            assert_eq!(got, 3, "{name}: the role chunk and two tokens came first");
            assert!(stream.next_chunk().await.is_none(), "over after the error");

            let llm = MockLlm::start_with(MockLlmOptions {
                cut_after: Some(2),
                token_delay: Duration::ZERO,
                ..Default::default()
            })
            .await
            .expect("mock");
            let err = client(name, &llm)
                .create_stream(&request("x"))
                .await
                .expect(name)
                .text()
                .await
                .expect_err("no [DONE]");
            assert_eq!(err.kind(), ErrorKind::RemoteProtocol, "{name}: {err}");
            assert!(err.to_string().contains("[DONE]"), "{err}");
        }
    })
    .await;
}

fn sse(events: &[&str]) -> Bytes {
    events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect::<String>()
        .into()
}

#[tokio::test]
async fn any_transport_fits_like_http_client_in_the_openai_sdk() {
    let chunk =
        r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#;
    let mock = MockTransport::from_fn(move |req| {
        let streaming = req
            .headers
            .get("accept")
            .is_some_and(|v| v == "text/event-stream");
        let body = if streaming {
            // split inside an event, as a network would
            let all = sse(&[chunk, chunk, "[DONE]"]);
            let (a, b) = all.split_at(17);
            let parts = vec![
                Ok::<_, std::io::Error>(Bytes::copy_from_slice(a)),
                Ok(Bytes::copy_from_slice(b)),
            ];
            Body::from_stream(futures_util::stream::iter(parts))
        } else {
            Body::from(
                r#"{"id":"c0","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"canned"},"finish_reason":"stop"}]}"#,
            )
        };
        Ok(http::Response::new(body))
    });
    let chat = ChatClient::builder()
        .base_url("http://api.test/v1")
        .api_key(KEY)
        .transport(mock.clone())
        .build()
        .expect("client");
    assert_eq!(
        chat.create(&request("hi")).await.expect("canned").text(),
        "canned"
    );
    assert_eq!(
        chat.create_stream(&request("hi"))
            .await
            .expect("stream")
            .text()
            .await
            .expect("text"),
        "hihi"
    );
    let seen = mock.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, http::Method::POST);
    assert_eq!(seen[0].uri, "http://api.test/v1/chat/completions");
    assert_eq!(seen[0].headers["authorization"], "Bearer sk-test");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).expect("json");
    assert_eq!(body["model"], "mock-1");
    assert_eq!(body["messages"][1]["content"], "hi");
    assert!(body.get("stream").is_none(), "{body}");
    let body: serde_json::Value = serde_json::from_slice(&seen[1].body).expect("json");
    assert_eq!(body["stream"], true);
}

#[tokio::test]
async fn bad_chunks_and_error_events_are_errors() {
    for (payload, kind) in [
        (sse(&["{not json"]), ErrorKind::Decoding),
        (
            Bytes::from_static(b"event: error\ndata: {\"message\":\"overloaded\"}\n\n"),
            ErrorKind::RemoteProtocol,
        ),
        (
            Bytes::from_static(b"data: {\"id\":\"x\",\"choices\":[]}\n\ndata: [DO"),
            ErrorKind::RemoteProtocol,
        ),
    ] {
        let mock =
            MockTransport::from_fn(move |_| Ok(http::Response::new(Body::from(payload.clone()))));
        let chat = ChatClient::builder()
            .base_url("http://api.test/v1")
            .transport(mock)
            .build()
            .expect("client");
        let err = chat
            .create_stream(&request("hi"))
            .await
            .expect("head")
            .text()
            .await
            .expect_err("bad stream");
        assert_eq!(err.kind(), kind, "{err}");
    }
}
