//! The events' headers and text ids, appended to one ring of bytes in arrival order and
//! freed from its front as events are evicted. A slot keeps only where its bytes start:
//! no allocation per event and no size-class rounding, so keeping the headers costs a
//! stored event little more than their encoded size.
//!
//! An event's bytes: with a text id, its length (LEB128) and the id; then the encoded
//! [`Headers`].

use std::collections::VecDeque;

use crate::server::headers::Headers;

/// Bytes reserved per event up front (pages are resident only once used).
pub(super) const ROOM_PER_EVENT: usize = 64;

pub(super) struct Extras {
    bytes: VecDeque<u8>,
    /// The position of `bytes[0]` since the store started.
    start: u64,
}

impl Extras {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Self {
            bytes: VecDeque::with_capacity(bytes),
            start: 0,
        }
    }

    fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Appends an event's bytes; returns where they start.
    pub(super) fn push_back(&mut self, text_id: Option<&str>, headers: &[u8]) -> u64 {
        let at = self.end();
        if let Some(id) = text_id {
            let mut n = id.len();
            while n >= 0x80 {
                self.bytes.push_back((n as u8 & 0x7f) | 0x80);
                n >>= 7;
            }
            self.bytes.push_back(n as u8);
            self.bytes.extend(id.as_bytes());
        }
        self.bytes.extend(headers);
        at
    }

    /// Frees the oldest event's bytes, which end at `end` (the next event's start, or
    /// `None` when it was the last); returns its text id when it has one.
    pub(super) fn pop_front(&mut self, end: Option<u64>, text_id: bool) -> Option<String> {
        let len = (end.unwrap_or_else(|| self.end()) - self.start) as usize;
        let id = text_id.then(|| {
            let (id, _) = self.split(0, len, true);
            id.unwrap_or_default()
        });
        self.bytes.drain(..len.min(self.bytes.len()));
        self.start += len as u64;
        id
    }

    /// The text id (when `text_id`) and the headers of the event whose bytes start at
    /// `at` and end at `end` (`None`: the last event).
    pub(super) fn read(
        &self,
        at: u64,
        end: Option<u64>,
        text_id: bool,
    ) -> (Option<String>, Headers) {
        let from = (at.saturating_sub(self.start)) as usize;
        let to = (end.unwrap_or_else(|| self.end()).saturating_sub(self.start)) as usize;
        let (id, headers) = self.split(from, to, text_id);
        (id, headers)
    }

    fn split(&self, from: usize, to: usize, text_id: bool) -> (Option<String>, Headers) {
        let to = to.min(self.bytes.len());
        let bytes: Vec<u8> = self.bytes.range(from.min(to)..to).copied().collect();
        let mut rest = &bytes[..];
        let id = if text_id {
            let mut n = 0usize;
            let mut shift = 0;
            while let Some((&b, tail)) = rest.split_first() {
                rest = tail;
                n |= usize::from(b & 0x7f) << shift;
                shift += 7;
                if b & 0x80 == 0 || shift > 56 {
                    break;
                }
            }
            let n = n.min(rest.len());
            let (id, tail) = rest.split_at(n);
            rest = tail;
            Some(String::from_utf8_lossy(id).into_owned())
        } else {
            None
        };
        (id, Headers::from_bytes(rest.to_vec()).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_back_and_free_in_order() {
        let mut extras = Extras::with_capacity(8);
        let h = Headers::from_pairs([("x-a", &b"1"[..])]);
        let a = extras.push_back(None, h.as_bytes());
        let b = extras.push_back(Some("id-b"), b"");
        let c = extras.push_back(Some(&"long".repeat(100)), h.as_bytes());
        assert_eq!(extras.read(a, Some(b), false), (None, h.clone()));
        assert_eq!(
            extras.read(b, Some(c), true),
            (Some("id-b".into()), Headers::default())
        );
        assert_eq!(extras.read(c, None, true).0.unwrap().len(), 400);
        assert_eq!(extras.pop_front(Some(b), false), None);
        assert_eq!(extras.pop_front(Some(c), true).as_deref(), Some("id-b"));
        assert_eq!(extras.read(c, None, true).1, h);
        assert_eq!(extras.pop_front(None, true).unwrap().len(), 400);
        assert_eq!(extras.bytes.len(), 0);
    }
}
