//! `tracing` alone (no hooks of the user's) gets the events of a call:
//! the client makes them only when a subscriber listens to target
//! `httpswap` at DEBUG (`Execution::start`), so both sides of that check
//! are run here. A test binary of its own: a subscriber is set per test,
//! on the test's thread.

use std::sync::{Arc, Mutex};

use http::Method;
use httpswap::Client;
use httpswap_test::MockTransport;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Records the messages of the events it is enabled for: target
/// `httpswap`, at `level` or less verbose.
#[derive(Clone)]
struct Messages {
    level: Level,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Messages {
    fn new(level: Level) -> Self {
        Messages {
            level,
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

impl Subscriber for Messages {
    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        meta.target() == "httpswap" && *meta.level() <= self.level
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        struct Message(String);
        impl Visit for Message {
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{value:?}");
                }
            }
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        self.seen.lock().expect("not poisoned").push(message.0);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// A client over a transport that redirects `/old` to `/new` and answers
/// anything else with 200.
fn client() -> Client {
    let mock = MockTransport::from_fn(|req| {
        let mut res = http::Response::new(httpswap::Body::empty());
        if req.uri.path() == "/old" {
            *res.status_mut() = http::StatusCode::FOUND;
            res.headers_mut()
                .insert(http::header::LOCATION, "/new".parse().expect("valid"));
        }
        Ok(res)
    });
    Client::builder().transport(mock).build().expect("client")
}

/// What a subscriber enabled at `level` gets from one call to `/old`
/// (redirected to `/new`), which must succeed either way.
async fn messages_of_a_call(level: Level) -> Vec<String> {
    let messages = Messages::new(level);
    let _on = tracing::subscriber::set_default(messages.clone());
    let res = client()
        .request(Method::GET, "http://api.test/old")
        .send()
        .await
        .expect("answered");
    assert_eq!(res.status(), 200);
    messages.seen()
}

#[tokio::test]
async fn a_call_without_hooks_reaches_tracing_at_debug() {
    assert_eq!(
        messages_of_a_call(Level::DEBUG).await,
        [
            "request start",
            "response head",
            "redirect",
            "request start",
            "response head"
        ]
    );
}

#[tokio::test]
async fn a_call_without_hooks_makes_no_event_where_tracing_does_not_listen() {
    // enabled for `httpswap` but above DEBUG: none of the call's events
    // reaches it, and the call does not fail for it
    assert_eq!(messages_of_a_call(Level::INFO).await, Vec::<String>::new());
}
