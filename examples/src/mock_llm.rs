//! An embedded mock of an OpenAI-compatible chat API, so the examples run
//! with no network and no API key.
//!
//! `POST /v1/chat/completions` answers with a fixed text built from the last
//! user message: as one JSON completion, or with `"stream": true` as
//! server-sent events, one token (word) at a time, ended by `data: [DONE]`.
//! [`MockLlmOptions`] adds what tests need: rate-limit answers before the
//! first success, a required API key, a stream that stalls or is cut off.
//!
//! ```
//! use httpswap_examples::mock_llm::MockLlm;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let llm = MockLlm::start().await?;
//! assert!(llm.base_url().starts_with("http://127.0.0.1:"));
//! # Ok(()) }
//! ```

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Limited};
use httpswap::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::json_response;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Largest request body the mock reads.
const MAX_REQUEST: usize = 1024 * 1024;

/// How the mock behaves.
#[derive(Debug, Clone)]
pub struct MockLlmOptions {
    /// Pause between streamed tokens (default 15 ms, so streaming shows).
    pub token_delay: Duration,
    /// This many requests get `429` with `retry-after-ms: 10` before any
    /// succeeds (default 0).
    pub rate_limited_first: u32,
    /// When set, requests without `Authorization: Bearer <key>` get `401`.
    pub api_key: Option<String>,
    /// A streamed answer stops after this many tokens and then sends
    /// nothing more, holding the connection open.
    pub stall_after: Option<usize>,
    /// A streamed answer ends after this many tokens without `[DONE]`.
    pub cut_after: Option<usize>,
}

impl Default for MockLlmOptions {
    fn default() -> Self {
        MockLlmOptions {
            token_delay: Duration::from_millis(15),
            rate_limited_first: 0,
            api_key: None,
            stall_after: None,
            cut_after: None,
        }
    }
}

/// The running mock; stops when dropped.
#[derive(Debug)]
pub struct MockLlm {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct State {
    options: MockLlmOptions,
    requests: AtomicU32,
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockLlm {
    /// Starts the mock on a free port of 127.0.0.1 with the default options.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start() -> io::Result<MockLlm> {
        MockLlm::start_with(MockLlmOptions::default()).await
    }

    /// Starts the mock with these options.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start_with(options: MockLlmOptions) -> io::Result<MockLlm> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            options,
            requests: AtomicU32::new(0),
        });
        let task = tokio::spawn(serve(listener, state.clone()));
        Ok(MockLlm { addr, state, task })
    }

    /// The API base URL, `http://127.0.0.1:<port>/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Requests received so far (rate-limited ones included).
    pub fn requests(&self) -> u32 {
        self.state.requests.load(Ordering::SeqCst)
    }
}

async fn serve(listener: TcpListener, state: Arc<State>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(answer(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn api_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &json!({ "error": { "message": message } }))
}

async fn answer(state: &State, req: Request<Incoming>) -> Response<Body> {
    let n = state.requests.fetch_add(1, Ordering::SeqCst);
    let opts = &state.options;
    if req.uri().path() != "/v1/chat/completions" {
        return api_error(StatusCode::NOT_FOUND, "no such endpoint");
    }
    if req.method() != http::Method::POST {
        return api_error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    if let Some(key) = &opts.api_key {
        let want = format!("Bearer {key}");
        if req.headers().get("authorization").map(|v| v.as_bytes()) != Some(want.as_bytes()) {
            return api_error(StatusCode::UNAUTHORIZED, "invalid API key");
        }
    }
    if n < opts.rate_limited_first {
        let mut res = api_error(StatusCode::TOO_MANY_REQUESTS, "rate limited, try again");
        res.headers_mut()
            .insert("retry-after-ms", http::HeaderValue::from_static("10"));
        return res;
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return api_error(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return api_error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let model = request["model"].as_str().unwrap_or("mock").to_owned();
    let last = request["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or("");
    let text = reply_to(last);
    let id = format!("chatcmpl-mock-{n}");
    if request["stream"] != true {
        let words = text.split_whitespace().count();
        return json_response(
            StatusCode::OK,
            &json!({
                "id": id, "object": "chat.completion", "model": model,
                "choices": [{ "index": 0, "finish_reason": "stop",
                    "message": { "role": "assistant", "content": text } }],
                "usage": { "prompt_tokens": last.split_whitespace().count(),
                    "completion_tokens": words,
                    "total_tokens": last.split_whitespace().count() + words },
            }),
        );
    }
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let opts = opts.clone();
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let v = json!({ "id": id, "object": "chat.completion.chunk", "model": model,
                "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] });
            Bytes::from(format!("data: {v}\n\n"))
        };
        if tx
            .send(chunk(json!({ "role": "assistant" }), Value::Null))
            .await
            .is_err()
        {
            return;
        }
        for (i, token) in tokens(&text).enumerate() {
            if opts.stall_after == Some(i) {
                // hold the stream open until the client goes away
                tx.closed().await;
                return;
            }
            if opts.cut_after == Some(i) {
                return;
            }
            tokio::time::sleep(opts.token_delay).await;
            if tx
                .send(chunk(json!({ "content": token }), Value::Null))
                .await
                .is_err()
            {
                return;
            }
        }
        let _ = tx.send(chunk(json!({}), json!("stop"))).await;
        let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(stream))
        .expect("valid response")
}

/// The mock's answer to `message`.
pub fn reply_to(message: &str) -> String {
    format!("Hello from the mock LLM! You said: {message}")
}

/// The tokens a streamed answer is cut into: words with the space before
/// them, so that joining them gives the text back.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let start = rest.len() - rest.trim_start().len();
        let end = rest[start..]
            .find(char::is_whitespace)
            .map_or(rest.len(), |i| start + i);
        let (token, tail) = rest.split_at(end);
        rest = tail;
        Some(token)
    })
}
