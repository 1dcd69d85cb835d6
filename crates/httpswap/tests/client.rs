//! The facade over a mock transport and a plain tower service.

use std::sync::Arc;

use httpswap::{
    Body, Client, Error, ErrorKind, HttpTransport, ResponseExt, ServiceTransport, SharedTransport,
};
use httpswap_test::MockTransport;

/// An SDK-shaped type: it takes any transport, like `http_client=` in the
/// OpenAI Python SDK.
struct TodoApi {
    http: Client,
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct Todo {
    id: u32,
    title: String,
}

impl TodoApi {
    fn new(transport: SharedTransport) -> Result<Self, Error> {
        let http = Client::builder()
            .transport(transport)
            .base_url("https://todo.example/api/v2")
            .default_header("x-api-key", "k-123")
            .build()?;
        Ok(TodoApi { http })
    }

    async fn create(&self, title: &str) -> Result<Todo, Error> {
        self.http
            .post("todos")
            .query(&[("notify", "yes & no")])
            .json(&serde_json::json!({ "title": title }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

#[tokio::test]
async fn sdk_takes_a_shared_transport_and_works_with_the_mock() {
    let mock = MockTransport::from_fn(|req| {
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let out = serde_json::json!({ "id": 7, "title": v["title"] });
        Ok(http::Response::builder()
            .status(201)
            .header("content-type", "application/json")
            .body(Body::from(out.to_string()))
            .unwrap())
    });
    let api = TodoApi::new(SharedTransport::new(mock.clone())).unwrap();
    let todo = api.create("write tests").await.unwrap();
    assert_eq!(
        todo,
        Todo {
            id: 7,
            title: "write tests".into()
        }
    );

    let seen = mock.requests();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, http::Method::POST);
    assert_eq!(
        req.uri,
        "https://todo.example/api/v2/todos?notify=yes+%26+no"
    );
    assert_eq!(req.headers["x-api-key"], "k-123");
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.headers["user-agent"], httpswap::DEFAULT_USER_AGENT);
    assert!(httpswap::DEFAULT_USER_AGENT.starts_with("httpswap/"));
    assert_eq!(req.body, r#"{"title":"write tests"}"#);
}

#[tokio::test]
async fn error_status_becomes_a_status_error_only_on_request() {
    let mock = MockTransport::from_responses([(429, "slow down"), (429, "slow down")]);
    // retries would consume the canned 429s: this test is about statuses
    let client = Client::builder()
        .transport(mock)
        .max_retries(0)
        .build()
        .unwrap();
    let res = client.get("http://a.test/").send().await.unwrap();
    assert_eq!(res.status(), 429, "a status is never a transport error");
    let err = client
        .get("http://a.test/")
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Status);
    assert_eq!(err.status(), Some(http::StatusCode::TOO_MANY_REQUESTS));
}

#[tokio::test]
async fn a_tower_service_fn_serves_requests_through_the_client() {
    let svc = tower::service_fn(|req: http::Request<Body>| async move {
        let body = req.into_body().collect_bytes().await?;
        let mut reversed = body.to_vec();
        reversed.reverse();
        Ok::<_, Error>(http::Response::new(Body::from(reversed)))
    });
    let transport = ServiceTransport::new(svc).with_name("reverser");
    let client = Client::builder().transport(transport).build().unwrap();
    assert_eq!(client.transport().name(), "reverser");
    let text = client
        .post("http://svc.test/")
        .body("abc")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(text, "cba");
}

#[tokio::test]
async fn bad_input_is_a_clear_error_not_a_panic() {
    let client = Client::builder()
        .transport(MockTransport::from_responses([(200, "")]))
        .build()
        .unwrap();
    let e = client.get("ftp://files.test/x").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::UnsupportedProtocol);
    let e = client.get("not a url").send().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidUrl);
    let e = client
        .get("http://a.test/")
        .header("x-evil", "a\r\nInjected: yes")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LocalProtocol);
    let e = Client::builder().base_url("::nope").build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidUrl);
}

#[tokio::test]
async fn clones_share_one_transport() {
    let mock = MockTransport::from_responses([(200, "1"), (200, "2")]);
    let client = Client::builder().transport(mock.clone()).build().unwrap();
    let other = client.clone();
    client.get("http://a.test/").send().await.unwrap();
    other.get("http://a.test/").send().await.unwrap();
    assert_eq!(mock.request_count(), 2);
    assert!(Arc::ptr_eq(
        client.transport().as_arc(),
        other.transport().as_arc()
    ));
}

#[tokio::test]
async fn per_request_timeouts_travel_in_extensions() {
    let mock = MockTransport::from_responses([(200, "")]);
    let probe = Arc::new(std::sync::Mutex::new(None));
    let p2 = probe.clone();
    let svc = tower::service_fn(move |req: http::Request<Body>| {
        *p2.lock().unwrap() = req.extensions().get::<httpswap::Timeouts>().copied();
        let mock = mock.clone();
        async move { mock.send(req).await }
    });
    let client = Client::builder()
        .transport(ServiceTransport::new(svc))
        .build()
        .unwrap();
    client
        .get("http://a.test/")
        .timeout_read(std::time::Duration::from_millis(250))
        .send()
        .await
        .unwrap();
    let seen = probe.lock().unwrap().unwrap();
    assert_eq!(seen.read, Some(std::time::Duration::from_millis(250)));
    assert_eq!(seen.connect, Some(httpswap::DEFAULT_CONNECT_TIMEOUT));
}

#[cfg(not(feature = "__backend"))]
#[test]
fn without_a_backend_building_needs_a_transport() {
    let e = Client::builder().build().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Builder);
    let msg = e.to_string();
    for feature in ["`hyper`", "`reqwest`", "`isahc`", "transport("] {
        assert!(msg.contains(feature), "{msg} should name {feature}");
    }
    assert!(httpswap::enabled_backends().is_empty());
    assert_eq!(
        httpswap::default_transport(Default::default())
            .unwrap_err()
            .kind(),
        ErrorKind::Builder
    );
}

#[test]
fn config_with_a_custom_transport_is_rejected() {
    let e = Client::builder()
        .transport(MockTransport::from_responses([(200, "")]))
        .config(|c| c.pool_max_connections(3))
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Builder);
}

/// The headers a request is sent with, in order, for each kind of client
/// and request: each of the client's defaults (`User-Agent`, the
/// builder's, `Accept-Encoding` when decoding) that the request lacks,
/// after its own.
#[tokio::test]
async fn default_headers_are_what_the_request_lacks_in_order() {
    let ua = httpswap::DEFAULT_USER_AGENT;
    let ae = "gzip, deflate, br, zstd";
    // the client, whether the request has a header of its own, what is sent
    type Case = (
        httpswap::ClientBuilder,
        bool,
        Vec<(&'static str, &'static str)>,
    );
    let cases: Vec<Case> = vec![
        (
            Client::builder(),
            false,
            vec![("user-agent", ua), ("accept-encoding", ae)],
        ),
        (
            Client::builder(),
            true,
            vec![("x-own", "1"), ("user-agent", ua), ("accept-encoding", ae)],
        ),
        (
            Client::builder()
                .default_header("x-d", "d")
                .user_agent("me/1"),
            false,
            vec![
                ("user-agent", "me/1"),
                ("x-d", "d"),
                ("accept-encoding", ae),
            ],
        ),
        (
            Client::builder().default_header("x-own", "default"),
            true,
            vec![("x-own", "1"), ("user-agent", ua), ("accept-encoding", ae)],
        ),
        (
            Client::builder().decompress(false),
            false,
            vec![("user-agent", ua)],
        ),
        (
            Client::builder()
                .default_header("accept-encoding", "identity")
                .decompress(false),
            false,
            vec![("user-agent", ua), ("accept-encoding", "identity")],
        ),
        (
            Client::builder().default_header("accept-encoding", "gzip"),
            true,
            vec![
                ("x-own", "1"),
                ("user-agent", ua),
                ("accept-encoding", "gzip"),
            ],
        ),
    ];
    for (i, (builder, own, expected)) in cases.into_iter().enumerate() {
        let mock = MockTransport::from_responses([(200, "")]);
        let client = builder.transport(mock.clone()).build().unwrap();
        let mut req = client.get("http://a.test/");
        if own {
            req = req.header("x-own", "1");
        }
        req.send().await.unwrap();
        let seen = mock.requests();
        let sent: Vec<(&str, &str)> = seen[0]
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap()))
            .collect();
        assert_eq!(sent, expected, "case {i}");
    }
}

/// The futures of a call stay small: every request's state is moved into
/// the caller's future, and a few hundred bytes more on each move is what
/// a temporary kept across the `.await` once cost (the send future was
/// 1056 bytes; 656 without it and with the call's state made small).
/// Sizes, not times: the same on any machine with this compiler.
#[test]
fn call_futures_stay_small() {
    let client = Client::builder()
        .transport(MockTransport::from_responses([(200, "")]))
        .build()
        .unwrap();
    let send = client.get("http://a.test/").send();
    assert!(
        std::mem::size_of_val(&send) <= 700,
        "{}",
        std::mem::size_of_val(&send)
    );
    let execute = client.execute(http::Request::new(Body::empty()));
    assert!(
        std::mem::size_of_val(&execute) <= 400,
        "{}",
        std::mem::size_of_val(&execute)
    );
}

/// What a request's URL resolves to, as a test compares it: the URL and
/// the `Authorization` its user info became, or the error.
fn resolved_as(client: &Client, text: &str) -> Result<(String, Option<String>), String> {
    match client.get(text).build() {
        Ok(req) => Ok((
            req.uri().to_string(),
            req.headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.to_str().expect("ascii").to_owned()),
        )),
        Err(e) => Err(format!("{:?}: {e}", e.kind())),
    }
}

/// A client's requests to a URL it resolved before on the same thread
/// (which it remembers) go where a first resolution sends them: every
/// pair of clients (bases) and texts, each first on a thread of its own,
/// then all on one thread, each twice in a row and in turn.
#[test]
fn a_url_resolved_again_is_resolved_the_same() {
    let mock = SharedTransport::new(MockTransport::from_fn(|_| {
        Ok(http::Response::new(Body::empty()))
    }));
    let clients: Vec<Client> = [
        None,
        Some("http://a.example/v1/"),
        Some("http://a.example/v2"),
        Some("https://b.example/"),
    ]
    .into_iter()
    .map(|base| {
        let b = Client::builder().transport(mock.clone());
        match base {
            Some(base) => b.base_url(base),
            None => b,
        }
        .build()
        .expect("client")
    })
    .collect();
    let texts = [
        "http://127.0.0.1:8080/",
        "chat/completions",
        "/chat/completions",
        "http://user:pw@127.0.0.1:8080/x",
        "HTTP://Example.COM/x?q=1",
        "http://127.0.0.1:8080/\nx",
        "ftp://example.com/",
        "",
    ];
    let mut first = Vec::new();
    for client in &clients {
        for text in texts {
            let (client, text) = (client.clone(), text.to_owned());
            let got = std::thread::spawn(move || resolved_as(&client, &text))
                .join()
                .expect("thread");
            first.push(got);
        }
    }
    // the answers differ by base and text, so a mixed-up memory shows
    let url_of =
        |client: usize, text: usize| first[client * texts.len() + text].clone().map(|(u, _)| u);
    assert_eq!(url_of(0, 0).as_deref(), Ok("http://127.0.0.1:8080/"));
    assert_eq!(
        url_of(1, 1).as_deref(),
        Ok("http://a.example/v1/chat/completions")
    );
    assert_eq!(
        url_of(2, 1).as_deref(),
        Ok("http://a.example/v2/chat/completions")
    );
    assert_eq!(
        url_of(3, 2).as_deref(),
        Ok("https://b.example/chat/completions")
    );
    assert_eq!(url_of(0, 4).as_deref(), Ok("http://example.com/x?q=1"));
    assert!(url_of(0, 1).is_err() && url_of(0, 5).is_err() && url_of(0, 6).is_err());
    assert_eq!(
        first[3],
        Ok((
            "http://127.0.0.1:8080/x".to_owned(),
            Some("Basic dXNlcjpwdw==".to_owned())
        ))
    );
    for _ in 0..2 {
        let mut expected = first.iter();
        for client in &clients {
            for text in texts {
                let expected = expected.next().expect("as many");
                assert_eq!(&resolved_as(client, text), expected, "{text:?}");
                assert_eq!(&resolved_as(client, text), expected, "{text:?} again");
            }
        }
    }
    // the same text under every base in turn
    for text in texts {
        for (i, client) in clients.iter().enumerate() {
            let at = i * texts.len() + texts.iter().position(|t| *t == text).expect("listed");
            assert_eq!(
                resolved_as(client, text),
                first[at],
                "{text:?} under client {i}"
            );
        }
    }
}

/// A request with no header of its own reaches the transport with the
/// `Client`'s defaults in a map just big enough for them and the `Host`
/// an HTTP/1 transport adds: no smaller (`Host` would grow it), no larger
/// (the 6 entries a first insert makes, held by every request in flight).
/// A request with headers of its own keeps its map, the defaults added.
#[tokio::test]
async fn a_plain_request_gets_a_header_map_of_its_size() {
    let svc = tower::service_fn(|req: http::Request<Body>| async move {
        let h = req.headers();
        let seen = format!("{} {}", h.len(), h.capacity());
        Ok::<_, Error>(http::Response::new(Body::from(seen)))
    });
    let client = Client::builder()
        .transport(ServiceTransport::new(svc))
        .build()
        .unwrap();
    let seen = |b: httpswap::RequestBuilder| async move {
        let text = b.send().await.unwrap().text().await.unwrap();
        let (len, cap) = text.split_once(' ').unwrap();
        (len.parse::<usize>().unwrap(), cap.parse::<usize>().unwrap())
    };
    let (len, cap) = seen(client.get("http://svc.test/")).await;
    assert_eq!(len, 2, "the User-Agent and Accept-Encoding");
    assert!(cap > len && cap < 6, "{len} headers in room for {cap}");
    // a first insert's map, as a header of the caller's own makes it
    let mut first = http::HeaderMap::new();
    first.insert("x-a", http::HeaderValue::from_static("1"));
    assert_eq!(first.capacity(), 6);
    let (len, cap) = seen(client.get("http://svc.test/").header("x-a", "1")).await;
    assert_eq!((len, cap), (3, 6));
}
