//! An incremental parser for server-sent events, as the WHATWG HTML
//! standard specifies the `text/event-stream` format.
//!
//! Feed it bytes in chunks of any size ([`SseDecoder::push`]) and take the
//! events out ([`SseDecoder::next_event`]): a chunk may end anywhere, even
//! inside a UTF-8 sequence or between the `\r` and `\n` of a line ending,
//! and the events are the same as if the whole stream came at once.
//!
//! ```
//! use httpswap_examples::sse::SseDecoder;
//!
//! let mut d = SseDecoder::new();
//! d.push(b"event: delta\ndata: hel").unwrap();
//! assert!(d.next_event().is_none(), "not complete yet");
//! d.push(b"lo\ndata: world\n\n: a comment\n").unwrap();
//! let e = d.next_event().unwrap();
//! assert_eq!((e.event.as_str(), e.data.as_str()), ("delta", "hello\nworld"));
//! assert!(d.finish(), "ended between events");
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use httpswap::{Error, ErrorKind};

/// Largest event (its data plus the line being read) accepted by default:
/// 16 MiB. A stream that never ends its line or event cannot grow the
/// decoder's memory past this.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The event type (`message` unless an `event:` field said otherwise).
    pub event: String,
    /// The data lines, joined with `\n`.
    pub data: String,
    /// The last event ID seen so far in the stream (it carries over to
    /// later events, as the standard says); empty when none.
    pub id: String,
    /// A `retry:` field of this event, in milliseconds.
    pub retry: Option<Duration>,
}

/// The incremental parser. See the [module docs](self).
#[derive(Debug)]
pub struct SseDecoder {
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    data: String,
    event: String,
    last_id: String,
    retry: Option<Duration>,
    pending: bool,
    max_event: usize,
    ready: VecDeque<SseEvent>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        SseDecoder::new()
    }
}

impl SseDecoder {
    /// A decoder with the default size limit ([`DEFAULT_MAX_EVENT_SIZE`]).
    pub fn new() -> Self {
        SseDecoder::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// A decoder that refuses events larger than `bytes`.
    pub fn with_max_event_size(bytes: usize) -> Self {
        SseDecoder {
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            data: String::new(),
            event: String::new(),
            last_id: String::new(),
            retry: None,
            pending: false,
            max_event: bytes,
            ready: VecDeque::new(),
        }
    }

    /// Parses the next chunk of the stream.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Decoding`] when an event grows past the size limit; the
    /// decoder should not be used after that.
    pub fn push(&mut self, mut chunk: &[u8]) -> Result<(), Error> {
        while !chunk.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    chunk = &chunk[1..];
                    continue;
                }
            }
            match chunk.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(end) => {
                    self.line.extend_from_slice(&chunk[..end]);
                    self.check_size()?;
                    self.after_cr = chunk[end] == b'\r';
                    self.end_line();
                    chunk = &chunk[end + 1..];
                }
                None => {
                    self.line.extend_from_slice(chunk);
                    self.check_size()?;
                    chunk = &[];
                }
            }
        }
        Ok(())
    }

    /// The next complete event, if any.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// Says whether the stream ended cleanly: `true` when no part of an
    /// event is left over. A partial event is dropped, as the standard
    /// says; a caller that needs every event can treat `false` as a
    /// truncated stream.
    pub fn finish(&mut self) -> bool {
        let clean = self.line.is_empty() && !self.pending;
        self.line.clear();
        self.reset_event();
        clean
    }

    fn check_size(&self) -> Result<(), Error> {
        if self.line.len() + self.data.len() > self.max_event {
            return Err(Error::new(
                ErrorKind::Decoding,
                format!(
                    "server-sent event larger than the limit of {} bytes",
                    self.max_event
                ),
            ));
        }
        Ok(())
    }

    fn reset_event(&mut self) {
        self.data.clear();
        self.event.clear();
        self.retry = None;
        self.pending = false;
    }

    fn end_line(&mut self) {
        let raw = std::mem::take(&mut self.line);
        let mut line = String::from_utf8_lossy(&raw).into_owned();
        if std::mem::take(&mut self.first_line) && line.starts_with('\u{feff}') {
            line.drain(..'\u{feff}'.len_utf8());
        }
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => {
                self.event = value.to_owned();
                self.pending = true;
            }
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.pending = true;
            }
            "id" if !value.contains('\0') => {
                self.last_id = value.to_owned();
                self.pending = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok().map(Duration::from_millis);
                self.pending = true;
            }
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if self.data.is_empty() {
            // nothing to dispatch: the standard resets the buffers
            self.reset_event();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the last "\n"
        let event = if self.event.is_empty() {
            "message".to_owned()
        } else {
            std::mem::take(&mut self.event)
        };
        self.ready.push_back(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
            retry: self.retry,
        });
        self.reset_event();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8]) -> (Vec<SseEvent>, bool) {
        let mut d = SseDecoder::new();
        d.push(input).unwrap();
        let mut out = Vec::new();
        while let Some(e) = d.next_event() {
            out.push(e);
        }
        (out, d.finish())
    }

    #[test]
    fn fields_per_the_standard() {
        let (events, clean) = all(
            b"\xEF\xBB\xBFdata: a\r\ndata:b\rdata\n\nid: 7\nevent: x\nretry: 300\ndata:  two spaces\n\n\
              : comment\nunknown: field\nretry: 1x\n\ndata: after id\n\n",
        );
        assert!(clean);
        assert_eq!(
            events,
            [
                SseEvent {
                    event: "message".into(),
                    data: "a\nb\n".into(),
                    id: String::new(),
                    retry: None
                },
                SseEvent {
                    event: "x".into(),
                    data: " two spaces".into(),
                    id: "7".into(),
                    retry: Some(Duration::from_millis(300))
                },
                SseEvent {
                    event: "message".into(),
                    data: "after id".into(),
                    id: "7".into(),
                    retry: None
                },
            ]
        );
    }

    #[test]
    fn every_split_gives_the_same_events() {
        let input = "data: héllo\r\n\r\nevent: e\ndata: wörld\r\rdata: z\n\n".as_bytes();
        let (whole, _) = all(input);
        assert_eq!(whole.len(), 3);
        for cut in 0..=input.len() {
            let mut d = SseDecoder::new();
            d.push(&input[..cut]).unwrap();
            d.push(&input[cut..]).unwrap();
            let mut got = Vec::new();
            while let Some(e) = d.next_event() {
                got.push(e);
            }
            assert_eq!(got, whole, "cut at {cut}");
        }
        // and one byte at a time
        let mut d = SseDecoder::new();
        for b in input {
            d.push(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(std::iter::from_fn(|| d.next_event()).count(), 3);
    }

    #[test]
    fn partial_event_at_the_end_is_reported() {
        let (events, clean) = all(b"data: one\n\ndata: cut off");
        assert_eq!(events.len(), 1);
        assert!(!clean, "a line without its end");
        let (events, clean) = all(b"data: one\n\ndata: two\n");
        assert_eq!(events.len(), 1);
        assert!(!clean, "an event without its blank line");
        let (_, clean) = all(b"data: one\n\n: bye\n");
        assert!(clean, "a comment is not an event");
    }

    #[test]
    fn empty_data_is_not_dispatched_and_bad_utf8_is_replaced() {
        let (events, _) = all(b"event: x\n\ndata: \xFF\n\n");
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event, "message", "event type was reset");
        assert_eq!(events[0].data, "\u{fffd}");
    }

    #[test]
    fn size_limit() {
        let mut d = SseDecoder::with_max_event_size(10);
        d.push(b"data: 12\n").unwrap();
        let err = d.push(b"data: 345678\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decoding);
        assert!(err.to_string().contains("limit of 10 bytes"), "{err}");
        let mut d = SseDecoder::with_max_event_size(10);
        let err = d.push(&[b'x'; 11]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decoding, "a line that never ends");
    }
}
