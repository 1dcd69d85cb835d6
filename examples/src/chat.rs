//! A small OpenAI-style SDK: chat completions, plain and streamed, over
//! any transport.
//!
//! Like `OpenAI(http_client=...)` in the OpenAI Python SDK, the client takes
//! the transport as an argument: the default transport (chosen by cargo
//! feature) when none is given, or any backend, a `MockTransport`, or a
//! tower service. Retries and timeouts come from the client layer, so they
//! behave the same whatever the transport.
//!
//! ```no_run
//! use httpswap_examples::chat::{ChatClient, ChatRequest, Message};
//! # async fn run() -> Result<(), httpswap::Error> {
//! let client = ChatClient::builder()
//!     .base_url("http://127.0.0.1:8000/v1")
//!     .api_key("sk-...")
//!     .transport(httpswap::transport_by_name("reqwest", Default::default())?)
//!     .build()?;
//! let req = ChatRequest::new("gpt-4o-mini", vec![Message::user("Hello!")]);
//! println!("{}", client.create(&req).await?.text());
//! let mut stream = client.create_stream(&req).await?;
//! while let Some(chunk) = stream.next_chunk().await {
//!     print!("{}", chunk?.text());
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use http_body::Body as _;
use httpswap::{Body, Client, Error, ErrorKind, ResponseExt, TransportArg};
use serde::{Deserialize, Serialize};

use crate::sse::SseDecoder;

/// The API's address when none is given (the OpenAI SDK's default).
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: "user".into(),
            content: content.into(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: "system".into(),
            content: content.into(),
        }
    }
}

/// A chat completion request.
#[derive(Debug, Clone, Serialize)]
pub struct ChatRequest {
    /// The model name.
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// At most this many tokens in the answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

impl ChatRequest {
    /// A request for `model` with these messages.
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        ChatRequest {
            model: model.into(),
            messages,
            max_tokens: None,
            stream: false,
        }
    }
}

/// A whole answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatCompletion {
    /// The completion's id.
    pub id: String,
    /// The model that answered.
    pub model: String,
    /// The answers (one unless asked for more).
    pub choices: Vec<Choice>,
    /// Token counts, when the server reports them.
    pub usage: Option<Usage>,
}

impl ChatCompletion {
    /// The first answer's text (empty when there is none).
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .map_or("", |c| c.message.content.as_str())
    }
}

/// One answer of a [`ChatCompletion`].
#[derive(Debug, Clone, Deserialize)]
pub struct Choice {
    /// Its index.
    pub index: u32,
    /// The message.
    pub message: Message,
    /// Why it stopped (`stop`, `length`, ...).
    pub finish_reason: Option<String>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Usage {
    /// Tokens in the request.
    pub prompt_tokens: u32,
    /// Tokens in the answer.
    pub completion_tokens: u32,
    /// Their sum.
    pub total_tokens: u32,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatChunk {
    /// The completion's id (the same in every chunk).
    pub id: String,
    /// The deltas.
    pub choices: Vec<ChunkChoice>,
}

impl ChatChunk {
    /// The first delta's text (empty when there is none).
    pub fn text(&self) -> &str {
        self.choices
            .first()
            .and_then(|c| c.delta.content.as_deref())
            .unwrap_or("")
    }
}

/// One delta of a [`ChatChunk`].
#[derive(Debug, Clone, Deserialize)]
pub struct ChunkChoice {
    /// Its index.
    pub index: u32,
    /// What is new.
    pub delta: Delta,
    /// Set on the last chunk of this answer.
    pub finish_reason: Option<String>,
}

/// New text of a streamed answer.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Delta {
    /// The role, in the first chunk.
    pub role: Option<String>,
    /// New text.
    pub content: Option<String>,
}

/// The chat client. Cheap to clone; clones share one connection pool.
#[derive(Debug, Clone)]
pub struct ChatClient {
    http: Client,
    timeout: Option<Duration>,
}

/// Builds a [`ChatClient`].
#[must_use]
#[derive(Debug)]
pub struct ChatClientBuilder {
    base_url: String,
    api_key: Option<String>,
    transport: Option<TransportArg>,
    max_retries: u32,
    timeout: Option<Duration>,
}

impl ChatClient {
    /// A builder with the OpenAI SDK's defaults: base URL
    /// [`DEFAULT_BASE_URL`], 2 retries, the transport's timeouts.
    pub fn builder() -> ChatClientBuilder {
        ChatClientBuilder {
            base_url: DEFAULT_BASE_URL.to_owned(),
            api_key: None,
            transport: None,
            max_retries: httpswap::RetryPolicy::DEFAULT_MAX_RETRIES,
            timeout: None,
        }
    }

    /// A builder set from `OPENAI_BASE_URL` and `OPENAI_API_KEY`, when set.
    pub fn builder_from_env() -> ChatClientBuilder {
        let mut b = ChatClient::builder();
        if let Ok(url) = std::env::var("OPENAI_BASE_URL") {
            b = b.base_url(&url);
        }
        if let Ok(key) = std::env::var("OPENAI_API_KEY") {
            b = b.api_key(&key);
        }
        b
    }

    /// The name of the transport in use (`hyper`, `reqwest`, `isahc`, ...).
    pub fn backend(&self) -> &'static str {
        self.http.transport().name()
    }

    fn post(&self, req: &ChatRequest) -> httpswap::RequestBuilder {
        let b = self.http.post("chat/completions").json(req);
        match self.timeout {
            Some(t) => b.timeout_read(t).timeout_write(t),
            None => b,
        }
    }

    /// Sends the request and returns the whole answer.
    ///
    /// # Errors
    ///
    /// Transport errors (after the retries), [`ErrorKind::Status`] for an
    /// error status, [`ErrorKind::Decoding`] for an answer that is not a
    /// chat completion.
    pub async fn create(&self, req: &ChatRequest) -> Result<ChatCompletion, Error> {
        let mut req = req.clone();
        req.stream = false;
        self.post(&req)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    /// Sends the request with `stream: true` and returns the answer as it
    /// comes. Retries apply until the response head arrives.
    ///
    /// # Errors
    ///
    /// As [`create`](Self::create), for the response head.
    pub async fn create_stream(&self, req: &ChatRequest) -> Result<ChatStream, Error> {
        let mut req = req.clone();
        req.stream = true;
        let res = self
            .post(&req)
            .header("accept", "text/event-stream")
            .send()
            .await?
            .error_for_status()?;
        Ok(ChatStream {
            body: res.into_body(),
            decoder: SseDecoder::new(),
            state: State::Events,
        })
    }
}

impl ChatClientBuilder {
    /// The API's base URL (default [`DEFAULT_BASE_URL`]).
    pub fn base_url(mut self, url: &str) -> Self {
        self.base_url = url.to_owned();
        self
    }

    /// The API key, sent as a bearer token.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// The transport, like `http_client=` in the OpenAI SDK (default: the
    /// default transport of the enabled backend features).
    pub fn transport(mut self, transport: impl Into<TransportArg>) -> Self {
        self.transport = Some(transport.into());
        self
    }

    /// Retries per request (default 2; 0 turns them off).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The read and write timeout of each request (gaps between chunks,
    /// so a long stream that keeps sending is never cut; default: the
    /// transport's, 600 s for the default one).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// The client.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidUrl`] for a bad base URL, [`ErrorKind::Builder`]
    /// for an API key that cannot be a header value, or when no transport
    /// is given and no backend feature is enabled.
    pub fn build(self) -> Result<ChatClient, Error> {
        let mut b = Client::builder()
            .base_url(&self.base_url)
            .max_retries(self.max_retries)
            .user_agent(concat!("httpswap-chat/", env!("CARGO_PKG_VERSION")));
        if let Some(key) = &self.api_key {
            b = b.default_header("authorization", &format!("Bearer {key}"));
        }
        if let Some(t) = self.transport {
            b = b.transport(t);
        }
        Ok(ChatClient {
            http: b.build().map_err(|e| {
                if e.kind() == ErrorKind::LocalProtocol {
                    Error::builder("the API key is not a valid header value")
                } else {
                    e
                }
            })?,
            timeout: self.timeout,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading events.
    Events,
    /// `[DONE]` seen: reading what is left of the body so the connection
    /// can be reused.
    Draining(usize),
    /// Over.
    Done,
}

/// Most bytes read after `[DONE]` before giving up on the connection.
const DRAIN_LIMIT: usize = 64 * 1024;

/// A streamed answer: a [`Stream`] of [`ChatChunk`]s that ends after the
/// server's `data: [DONE]`.
///
/// A body that ends before `[DONE]` is an [`ErrorKind::RemoteProtocol`]
/// error, never a silently shorter answer.
pub struct ChatStream {
    body: Body,
    decoder: SseDecoder,
    state: State,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ChatStream {
    /// The next chunk; `None` after `[DONE]`.
    pub async fn next_chunk(&mut self) -> Option<Result<ChatChunk, Error>> {
        futures_util::StreamExt::next(self).await
    }

    /// Reads the whole answer and returns its text.
    ///
    /// # Errors
    ///
    /// The first error of the stream.
    pub async fn text(mut self) -> Result<String, Error> {
        let mut out = String::new();
        while let Some(chunk) = self.next_chunk().await {
            out.push_str(chunk?.text());
        }
        Ok(out)
    }

    fn fail(&mut self, e: Error) -> Poll<Option<Result<ChatChunk, Error>>> {
        self.state = State::Done;
        Poll::Ready(Some(Err(e)))
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatChunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.state == State::Events {
                if let Some(ev) = this.decoder.next_event() {
                    if ev.data == "[DONE]" {
                        this.state = State::Draining(0);
                        continue;
                    }
                    if ev.event == "error" {
                        return this.fail(Error::new(
                            ErrorKind::RemoteProtocol,
                            format!("the server sent an error event: {}", ev.data),
                        ));
                    }
                    return match serde_json::from_str::<ChatChunk>(&ev.data) {
                        Ok(chunk) => Poll::Ready(Some(Ok(chunk))),
                        Err(e) => this.fail(
                            Error::new(ErrorKind::Decoding, format!("bad chunk {:?}", ev.data))
                                .with_source(e),
                        ),
                    };
                }
            }
            if this.state == State::Done {
                return Poll::Ready(None);
            }
            let frame = ready!(Pin::new(&mut this.body).poll_frame(cx));
            match (this.state, frame) {
                (State::Events, Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        if let Err(e) = this.decoder.push(&data) {
                            return this.fail(e);
                        }
                    }
                }
                (State::Draining(n), Some(Ok(frame))) => {
                    let len = frame.data_ref().map_or(0, Bytes::len);
                    this.state = if n + len > DRAIN_LIMIT {
                        State::Done
                    } else {
                        State::Draining(n + len)
                    };
                }
                (State::Events, Some(Err(e))) => return this.fail(e),
                // the answer was complete; a broken tail does not matter
                (State::Draining(_), Some(Err(_)) | None) => this.state = State::Done,
                (State::Events, None) => {
                    this.decoder.finish();
                    return this.fail(Error::new(
                        ErrorKind::RemoteProtocol,
                        "the event stream ended before data: [DONE]",
                    ));
                }
                (State::Done, _) => return Poll::Ready(None),
            }
        }
    }
}
