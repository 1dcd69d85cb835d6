//! URLs the WHATWG parser would leave exactly as written: the usual
//! `http://127.0.0.1:8080/v1/chat?x=1` needs no parse and rewrite by the
//! `url` crate (IDNA, host and path normalisation: a third of the client
//! layer's work on a plain GET), only `http::Uri`'s parse, which the
//! request needs anyway. Anything else takes the `url` crate's path.
//!
//! The rule: a URL is taken as is only when `url::Url::parse` would give
//! it back unchanged (`canonical_urls_are_what_the_url_crate_gives`, and
//! `random_urls_taken_as_is_are_canonical`, hold it), so both paths make
//! the same request.

use http::Uri;

/// `url` as a `Uri`, when it is an absolute `http`/`https` URL in the
/// form the WHATWG parser gives back unchanged, with no user info and no
/// fragment; `None` otherwise (not an error: the caller parses it fully).
/// One pass over the bytes (it is on every request's path: a third of
/// `Client::request`'s own work before it was one), no allocation but
/// the `Uri`'s.
pub(crate) fn as_is(url: &str) -> Option<Uri> {
    let bytes = url.as_bytes();
    let (https, rest) = if let Some(rest) = bytes.strip_prefix(b"http://") {
        (false, rest)
    } else {
        (true, bytes.strip_prefix(b"https://")?)
    };
    let slash = authority_as_is(rest, https)?;
    if !path_and_query_as_is(&rest[slash..]) {
        return None;
    }
    Uri::try_from(url).ok()
}

/// `host[:port]` up to the `/` that starts the path, which must be there
/// (the parser adds `/` to `http://host`): the index of that `/` when the
/// host is a lowercase ASCII domain (labels of letters, digits and `-`,
/// none empty, none IDNA) or, when its last label starts with a digit
/// (which the parser reads as IPv4: `127.1`, `0x7f.1`), the canonical
/// dotted form, and the port is not the scheme's default.
fn authority_as_is(rest: &[u8], https: bool) -> Option<usize> {
    let mut i = 0;
    let mut labels = 0;
    // every label so far a decimal 0-255 with no leading zero
    let mut ipv4 = true;
    loop {
        let start = i;
        let mut n: u32 = 0;
        let mut digits = true;
        while let Some(&b) = rest.get(i) {
            match b {
                b'0'..=b'9' => n = n.wrapping_mul(10).wrapping_add(u32::from(b - b'0')),
                b'a'..=b'z' | b'-' => digits = false,
                _ => break,
            }
            i += 1;
        }
        let label = &rest[start..i];
        if label.is_empty() || label.starts_with(b"xn--") {
            return None;
        }
        ipv4 &= digits && label.len() <= 3 && (label.len() == 1 || label[0] != b'0') && n <= 255;
        labels += 1;
        match rest.get(i) {
            Some(b'.') => i += 1,
            Some(b':' | b'/') => {
                if label[0].is_ascii_digit() && !(ipv4 && labels == 4) {
                    return None;
                }
                break;
            }
            _ => return None,
        }
    }
    if rest[i] == b':' {
        i += 1;
        let start = i;
        let mut n: u32 = 0;
        while let Some(&b) = rest.get(i).filter(|b| b.is_ascii_digit()) {
            if i - start == 5 {
                return None;
            }
            n = n * 10 + u32::from(b - b'0');
            i += 1;
        }
        let default = if https { 443 } else { 80 };
        if i == start || rest[start] == b'0' || n > 65_535 || n == default {
            return None;
        }
    }
    (rest.get(i) == Some(&b'/')).then_some(i)
}

/// What a byte of a path or query is to [`path_and_query_as_is`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Never encoded nor rewritten, and not `/`, `?` or `.`.
    Kept,
    /// `/`, `?` and `.`: kept, and what dot segments are made of.
    Delimiter,
    /// `'`: kept in the path, encoded in the query.
    Quote,
    /// `%`: kept before two hex digits.
    Percent,
    /// Encoded, rewritten or refused.
    Other,
}

/// [`Class`] by byte.
const CLASSES: [Class; 256] = {
    let mut t = [Class::Other; 256];
    let kept = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_~!$&()*+,;=:@";
    let mut i = 0;
    while i < kept.len() {
        t[kept[i] as usize] = Class::Kept;
        i += 1;
    }
    t[b'/' as usize] = Class::Delimiter;
    t[b'?' as usize] = Class::Delimiter;
    t[b'.' as usize] = Class::Delimiter;
    t[b'\'' as usize] = Class::Quote;
    t[b'%' as usize] = Class::Percent;
    t
};

/// A path (and query) of characters the parser neither encodes nor
/// rewrites: no dot segments (plain or percent-encoded), no backslash,
/// `%` only before two hex digits, and in the query no `'` (which the
/// parser encodes there). One pass.
fn path_and_query_as_is(pq: &[u8]) -> bool {
    let mut in_query = false;
    // the path segment so far: its length, and how many of its bytes
    // are dots (a segment of one or two bytes, all dots, is refused)
    let (mut len, mut dots) = (0usize, 0usize);
    for (i, &b) in pq.iter().enumerate() {
        match CLASSES[usize::from(b)] {
            Class::Kept => len += 1,
            Class::Delimiter if in_query => {}
            Class::Delimiter => {
                if b == b'.' {
                    len += 1;
                    dots += 1;
                    continue;
                }
                if len == dots && (1..=2).contains(&len) {
                    return false;
                }
                (len, dots) = (0, 0);
                in_query = b == b'?';
            }
            Class::Quote if in_query => return false,
            Class::Quote => len += 1,
            Class::Percent => {
                let hex = |j: usize| pq.get(j).is_some_and(u8::is_ascii_hexdigit);
                // `%2e` is a dot to the parser, in a path segment
                if !hex(i + 1)
                    || !hex(i + 2)
                    || (!in_query && pq[i + 1] == b'2' && pq[i + 2].eq_ignore_ascii_case(&b'e'))
                {
                    return false;
                }
                len += 1;
            }
            Class::Other => return false,
        }
    }
    in_query || !(len == dots && (1..=2).contains(&len))
}

#[cfg(test)]
mod tests {
    use super::as_is;

    /// What the `url` crate gives back for `s`, if it parses.
    fn whatwg(s: &str) -> Option<String> {
        url::Url::parse(s).ok().map(|u| u.to_string())
    }

    #[test]
    fn canonical_urls_are_what_the_url_crate_gives() {
        let taken = [
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/v1/chat/completions?stream=true&x=1",
            "https://api.example.com/v1/a-b_c~d/e.f?q=a%20b&r=%C3%A9",
            "http://localhost:1/x/y/z/",
            "https://s3.eu-west-1.amazonaws.com/bucket/key+with(parens)*;=:@",
            "http://0.0.0.0:9/",
            "http://255.255.255.255:65535/?",
            "http://a.b.c/it's",
        ];
        for s in taken {
            assert!(as_is(s).is_some(), "{s} should be taken as is");
            assert_eq!(whatwg(s).as_deref(), Some(s), "{s}");
            assert_eq!(as_is(s).unwrap().to_string(), s);
        }
        // each of these the WHATWG parser changes (or refuses), or http's
        // `Uri` cannot hold as written: the full parse decides
        let parsed = [
            "http://127.0.0.1:8080",
            "http://Example.com/",
            "http://example.com:80/",
            "https://example.com:443/",
            "http://example.com:080/",
            "http://127.1/",
            "http://0x7f.0.0.1/",
            "http://127.0.0.01/",
            "http://256.0.0.1/",
            "http://1.2.3.4.5/",
            "http://xn--nxasmq6b.com/",
            "http://example.com./",
            "http://a..b/",
            "http://[::1]:8080/",
            "http://user:pw@example.com/",
            "http://example.com/a/../b",
            "http://example.com/a/./b",
            "http://example.com/a/%2e%2E/b",
            "http://example.com/a b",
            "http://example.com/a\\b",
            "http://example.com/a#frag",
            "http://example.com/?q='x'",
            "http://example.com/%zz",
            "http://example.com/%4",
            "http://example.com/é",
            "HTTP://example.com/",
            "ftp://example.com/",
            "http://example.com/{x}",
            "http:/example.com/",
            "http:///x",
            "http://:80/",
        ];
        for s in parsed {
            assert!(as_is(s).is_none(), "{s} must take the full parse");
        }
    }

    /// A bounded random walk over URLs built from the characters that
    /// matter: whatever is taken as is, the `url` crate gives back
    /// unchanged.
    #[test]
    fn random_urls_taken_as_is_are_canonical() {
        let hosts = [
            "a",
            "example.com",
            "EXAMPLE.com",
            "127.0.0.1",
            "127.1",
            "10.0.0.01",
            "x-y.z",
            "xn--abc.d",
            "1a",
            "a.1",
            "a.b1",
            "300.1.1.1",
            "0.0.0.0",
        ];
        let ports = [
            "", ":1", ":80", ":443", ":08", ":65535", ":65536", ":", ":8080",
        ];
        let pieces = [
            "/", "a", ".", "..", "%2e", "%2E", "/.", "%41", "%", "%g1", "?", "=", "&", "'", "\\",
            " ", "#", "@", ":", ";", "~", "+", "é", "|", "^", "`", "{", "\"", "<",
        ];
        let mut rng = fastrand::Rng::with_seed(19);
        let mut taken = 0;
        for _ in 0..50_000 {
            let scheme = if rng.bool() { "http://" } else { "https://" };
            let mut s = format!(
                "{scheme}{}{}/",
                hosts[rng.usize(..hosts.len())],
                ports[rng.usize(..ports.len())]
            );
            for _ in 0..rng.usize(0..8) {
                s.push_str(pieces[rng.usize(..pieces.len())]);
            }
            if let Some(uri) = as_is(&s) {
                taken += 1;
                assert_eq!(whatwg(&s).as_deref(), Some(s.as_str()), "{s}");
                assert_eq!(uri.to_string(), s, "{s}");
            }
        }
        // the walk must exercise the fast path, not only refuse
        assert!(taken > 1000, "only {taken} taken as is");
    }
}
