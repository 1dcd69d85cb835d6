//! What the fuzz targets (`fuzz/fuzz_targets/*.rs`, run with `cargo fuzz`)
//! check on each input, kept here so that the saved corpus runs as a plain
//! regression test (`tests/fuzz_corpus.rs`) on the stable toolchain.
//!
//! Each check panics when a property fails; returning means the input was
//! handled: parsed, or refused with an error.

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Uri};
use httpswap::{NoProxy, Proxy, ProxyRules};
use httpswap_examples::sse::SseDecoder;

/// The names of the targets, as directories of `fuzz/corpus/`.
pub const TARGETS: [&str; 4] = ["retry_after", "location", "proxy", "sse"];

/// Runs the check of target `name` on `data`.
///
/// # Panics
///
/// When a property fails, or for an unknown target.
pub fn check(name: &str, data: &[u8]) {
    match name {
        "retry_after" => retry_after(data),
        "location" => location(data),
        "proxy" => proxy(data),
        "sse" => sse(data),
        _ => panic!("no fuzz target {name}"),
    }
}

/// `Retry-After` / `retry-after-ms`: never a panic; the same answer twice;
/// plain whole seconds mean exactly that many.
pub fn retry_after(data: &[u8]) {
    let (ms, secs) = data.split_at(data.len() / 2);
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(ms) {
        headers.insert("retry-after-ms", v);
    }
    if let Ok(v) = HeaderValue::from_bytes(secs) {
        headers.insert("retry-after", v);
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let got = httpswap::retry::retry_after(&headers, now);
    assert_eq!(got, httpswap::retry::retry_after(&headers, now));
    if !headers.contains_key("retry-after-ms")
        && (1..=9).contains(&secs.len())
        && secs.iter().all(u8::is_ascii_digit)
    {
        let n: u64 = std::str::from_utf8(secs)
            .expect("digits")
            .parse()
            .expect("digits");
        assert_eq!(got, Some(Duration::from_secs(n)), "{secs:?}");
    }
}

/// `Location` resolution: never a panic; a resolved target is an absolute
/// http(s) URL with a host that survives printing and parsing again.
pub fn location(data: &[u8]) {
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    let base: Uri = "http://user@example.com:8080/a/b?q=1"
        .parse()
        .expect("base");
    if let Ok(uri) = httpswap::redirect::resolve_location(&base, &value) {
        assert!(matches!(uri.scheme_str(), Some("http" | "https")), "{uri}");
        assert!(uri.host().is_some_and(|h| !h.is_empty()), "{uri}");
        let again: Uri = uri.to_string().parse().expect("prints as a valid URI");
        assert_eq!(again, uri);
    }
}

/// Proxy URLs and `NO_PROXY` lists: never a panic; a parsed proxy has a
/// host; `*` matches every host; an entry matches itself.
pub fn proxy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = Proxy::parse(&text) {
        assert!(!p.host().is_empty(), "{text:?}");
        let _ = p.basic_auth_header();
    }
    let list = NoProxy::parse(&text);
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let _ = list.matches(entry);
    }
    if text.split(',').any(|e| e.trim() == "*") {
        assert!(list.matches("anything.example"), "{text:?}");
    }
    let vars = |name: &str| match name {
        "HTTP_PROXY" | "http_proxy" => Some(text.to_string()),
        "NO_PROXY" | "no_proxy" => Some(text.to_string()),
        _ => None,
    };
    if let Ok(rules) = ProxyRules::from_vars(vars) {
        let _ = rules.proxy_for(&Uri::from_static("http://example.com/"));
    }
}

/// Server-sent events: never a panic; the events do not depend on where
/// the stream is split; no line ending survives inside an event's fields.
pub fn sse(data: &[u8]) {
    let run = |parts: &[&[u8]]| {
        let mut d = SseDecoder::with_max_event_size(1 << 16);
        let mut events = Vec::new();
        for part in parts {
            if d.push(part).is_err() {
                return None;
            }
            events.extend(std::iter::from_fn(|| d.next_event()));
        }
        Some(events)
    };
    let whole = run(&[data]);
    let cut = data.first().map_or(0, |&b| usize::from(b)) % (data.len() + 1);
    let (a, b) = data.split_at(cut);
    let split = run(&[a, b]);
    if let (Some(whole), Some(split)) = (&whole, &split) {
        assert_eq!(whole, split, "cut at {cut}");
        for e in whole {
            assert!(!e.event.contains(['\r', '\n']), "{e:?}");
            assert!(!e.id.contains(['\r', '\n', '\0']), "{e:?}");
            assert!(!e.data.contains('\r'), "{e:?}");
        }
    }
}
