//! reqwest takes a `Url`; the trait hands the adapter an `http::Uri`. The
//! `Url` is parsed from the text the `Uri` writes, and parsing (`url`
//! checks the host for international names, then serialises it) is the
//! costliest step of a plain request here (BENCHMARKS.md, "URLs parsed
//! once per thread"). reqwest itself parses every request's URL twice
//! more, in its redirect layer and for its response, which the adapter
//! cannot change.
//!
//! So each thread keeps the last URL it parsed with the text it was parsed
//! from: a request to the same URL as the last one on that thread clones
//! that `Url` (one allocation) instead of parsing its text again. Parsing
//! is a function of the text alone, so the `Url` is the one a parse would
//! give (`a_remembered_url_is_the_one_a_parse_gives`); a text that fails
//! to parse is not remembered, and fails again the same way.

use std::cell::RefCell;

thread_local! {
    /// The text last parsed on this thread, and its `Url`.
    static LAST: RefCell<Option<(String, reqwest::Url)>> = const { RefCell::new(None) };
}

/// reqwest's `Url` for `uri`: the one `reqwest::Url::parse` gives for the
/// text `uri` writes.
///
/// # Errors
///
/// The parser's, when `url` refuses the text.
pub(crate) fn url_of(uri: &http::Uri) -> Result<reqwest::Url, url::ParseError> {
    // a thread's memory is gone while the thread exits: then the text is
    // parsed (`parsed_while_the_thread_exits`)
    httpswap_adapter::remembered(
        &LAST,
        |text| writes(uri, text),
        || {
            let text = url_text(uri);
            let url = reqwest::Url::parse(&text)?;
            Ok((text, url))
        },
    )
}

/// Whether `uri` writes exactly `text`: [`url_text`] compared without
/// being made.
fn writes(uri: &http::Uri, text: &str) -> bool {
    let rest = match uri.scheme_str() {
        Some(scheme) => match text
            .strip_prefix(scheme)
            .and_then(|t| t.strip_prefix("://"))
        {
            Some(rest) => rest,
            None => return false,
        },
        None => text,
    };
    let authority = uri.authority().map_or("", |a| a.as_str());
    let Some(rest) = rest
        .strip_prefix(authority)
        .and_then(|rest| rest.strip_prefix(uri.path()))
    else {
        return false;
    };
    match uri.query() {
        Some(query) => rest.strip_prefix('?') == Some(query),
        None => rest.is_empty(),
    }
}

/// `uri` as its `Display` writes it (`url_text_is_what_display_writes`),
/// in one allocation of the right size.
fn url_text(uri: &http::Uri) -> String {
    let scheme = uri.scheme_str();
    let authority = uri.authority().map_or("", |a| a.as_str());
    let path = uri.path();
    let query = uri.query();
    let mut text = String::with_capacity(
        scheme.map_or(0, |s| s.len() + 3)
            + authority.len()
            + path.len()
            + query.map_or(0, |q| q.len() + 1),
    );
    if let Some(scheme) = scheme {
        text.push_str(scheme);
        text.push_str("://");
    }
    text.push_str(authority);
    text.push_str(path);
    if let Some(query) = query {
        text.push('?');
        text.push_str(query);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const URLS: [&str; 11] = [
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/?",
        "http://127.0.0.1:8081/",
        "http://example.com",
        "HTTP://Example.COM/",
        "https://user:pw@example.com:8443/a/b?c=d&e",
        "https://User:pw@example.com:8443/a/b?c=d&e",
        "http://[::1]:80/x?",
        "http://h/p%20q?x=%41#",
        "https://example.com?q",
        "http://xn--nxasmq6b.example/a",
    ];

    #[test]
    fn url_text_is_what_display_writes() {
        for url in URLS {
            let uri: http::Uri = url.parse().expect("url");
            assert_eq!(url_text(&uri), uri.to_string(), "{url}");
        }
    }

    /// `writes` agrees with comparing the text made, for every pair.
    #[test]
    fn writes_is_the_text_compared() {
        for a in URLS {
            let uri: http::Uri = a.parse().expect("url");
            for b in URLS {
                let text = url_text(&b.parse().expect("url"));
                assert_eq!(writes(&uri, &text), url_text(&uri) == text, "{a} / {b}");
            }
        }
        let uri: http::Uri = "http://h/p?q".parse().expect("url");
        for text in [
            "",
            "http://h/p?",
            "http://h/p?qq",
            "http://h/pq",
            "https://h/p?q",
        ] {
            assert!(!writes(&uri, text), "{text}");
        }
    }

    /// The same URL twice, then every pair in turn: each time the `Url` a
    /// fresh parse gives, whatever the thread remembered.
    #[test]
    fn a_remembered_url_is_the_one_a_parse_gives() {
        let uris: Vec<http::Uri> = URLS.iter().map(|u| u.parse().expect("url")).collect();
        for a in &uris {
            for b in [a].into_iter().chain(&uris) {
                let parsed = reqwest::Url::parse(&b.to_string()).expect("parses");
                let url = url_of(b).expect("parses");
                assert_eq!(url, parsed, "{b}");
                assert_eq!(url.as_str(), parsed.as_str(), "{b}");
            }
        }
    }

    /// A text the parser refuses gives its error every time and leaves the
    /// remembered URL alone.
    #[test]
    fn a_refused_url_is_refused_again_and_not_remembered() {
        let good: http::Uri = "http://127.0.0.1:1/".parse().expect("url");
        url_of(&good).expect("parses");
        // `http::Uri` takes a port `url` refuses as out of range
        let bad: http::Uri = "http://127.0.0.1:99999/".parse().expect("http takes it");
        for _ in 0..2 {
            assert_eq!(url_of(&bad), Err(url::ParseError::InvalidPort));
        }
        LAST.with(|last| {
            let last = last.borrow();
            assert_eq!(
                last.as_ref().map(|(text, _)| text.as_str()),
                Some("http://127.0.0.1:1/")
            );
        });
    }

    /// A thread-local's destructor that sends a request once this
    /// thread's memory is gone still gets the parsed URL, with no panic.
    #[test]
    fn parsed_while_the_thread_exits() {
        let parse = |text: &str| url_of(&text.parse().expect("uri")).map(String::from);
        let late = httpswap_test::at_thread_exit(
            move || {
                parse("http://y/").expect("parses");
            },
            move || (LAST.try_with(|_| ()).is_err(), parse("http://x/")),
        );
        assert_eq!(late, Some((true, Ok("http://x/".to_owned()))));
    }
}
