//! Each thread remembers the last URL a `Client` resolved for a request.
//!
//! A client sends most requests to a few URLs, often one after another to
//! the same (an SDK's `chat/completions` under its base URL). Turning the
//! text into the request's `Uri` is a parse each time: `http::Uri`'s for a
//! URL taken as is (`canonical`), the WHATWG parser's and then `Uri`'s
//! for any other, and for every URL joined to a base. The result depends
//! only on the text and the base URL, so the last one is kept with both
//! and handed out again (a `Uri` clone shares its bytes) when the next
//! request on the thread names the same text under the same base
//! (`a_url_resolved_again_is_resolved_the_same` in `tests/client.rs`). A refused text is not
//! kept: it is refused again, with the same error, each time.

use std::cell::RefCell;

use http::Uri;
use httpswap_core::Error;
use url::Url;

/// What the last URL resolved on a thread was resolved from.
struct Key {
    base: Option<Url>,
    text: Box<str>,
}

thread_local! {
    /// The last URL resolved on this thread: its key, its `Uri` and
    /// whether it carries user info.
    static LAST: RefCell<Option<(Key, (Uri, bool))>> = const { RefCell::new(None) };
}

/// What `resolve` gives for `text` under `base` (the request's `Uri` and
/// whether the URL carries user info), from this thread's memory when the
/// last URL resolved here was the same text under the same base.
///
/// # Errors
///
/// `resolve`'s, which is called whenever the answer is not remembered.
pub(crate) fn resolved(
    base: Option<&Url>,
    text: &str,
    resolve: impl FnOnce() -> Result<(Uri, bool), Error>,
) -> Result<(Uri, bool), Error> {
    // a thread's memory is gone while the thread exits: then every URL is
    // resolved anew (`resolved_while_the_thread_exits`)
    httpswap_adapter::remembered(
        &LAST,
        |last| *last.text == *text && last.base.as_ref() == base,
        || {
            let answer = resolve()?;
            let key = Key {
                base: base.cloned(),
                text: text.into(),
            };
            Ok((key, answer))
        },
    )
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// The same text under the same base is answered from memory; another
    /// text, another base or an earlier refusal is resolved anew.
    #[test]
    fn resolved_anew_only_for_another_text_or_base() {
        let a = Url::parse("http://a.example/v1/").expect("url");
        let b = Url::parse("http://b.example/v1/").expect("url");
        let calls = Cell::new(0);
        let answer = |text: &str, credentials: bool| {
            calls.set(calls.get() + 1);
            let uri: Uri = text.parse().expect("uri");
            Ok((uri, credentials))
        };
        let steps: [(Option<&Url>, &str, &str, bool, u32); 8] = [
            (None, "x", "http://n.example/x", false, 1),
            (None, "x", "http://n.example/x", false, 1),
            (Some(&a), "x", "http://a.example/v1/x", true, 2),
            (Some(&a), "x", "http://a.example/v1/x", true, 2),
            (Some(&b), "x", "http://b.example/v1/x", false, 3),
            (Some(&b), "y", "http://b.example/v1/y", false, 4),
            (Some(&b), "y", "http://b.example/v1/y", false, 4),
            (Some(&a), "x", "http://a.example/v1/x", true, 5),
        ];
        for (base, text, expected, credentials, after) in steps {
            let (uri, c) =
                resolved(base, text, || answer(expected, credentials)).expect("resolved");
            assert_eq!((uri.to_string().as_str(), c), (expected, credentials));
            assert_eq!(calls.get(), after, "{base:?} {text}");
        }
        for n in [6, 7] {
            let e = resolved(None, "bad", || {
                calls.set(calls.get() + 1);
                Err(Error::new(httpswap_core::ErrorKind::InvalidUrl, "bad"))
            })
            .expect_err("refused");
            assert_eq!(e.kind(), httpswap_core::ErrorKind::InvalidUrl);
            assert_eq!(calls.get(), n);
        }
        // the refusal left the last answer in place
        let (uri, _) = resolved(Some(&a), "x", || answer("http://wrong/", false)).expect("kept");
        assert_eq!(uri.to_string(), "http://a.example/v1/x");
        assert_eq!(calls.get(), 7);
    }

    /// A thread-local's destructor that resolves a URL once this
    /// thread's memory is gone still gets the answer, with no panic.
    #[test]
    fn resolved_while_the_thread_exits() {
        let answer = |text: &'static str| move || Ok((text.parse().expect("uri"), false));
        let late = httpswap_test::at_thread_exit(
            move || {
                resolved(None, "y", answer("http://y/")).expect("resolved");
            },
            move || {
                let gone = LAST.try_with(|_| ()).is_err();
                let uri = resolved(None, "x", answer("http://x/")).map(|(uri, _)| uri.to_string());
                (gone, uri.ok())
            },
        );
        assert_eq!(late, Some((true, Some("http://x/".to_owned()))));
    }
}
