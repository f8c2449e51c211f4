//! The events' headers and text ids, appended to one ring of bytes in arrival order and
//! freed from its front as events are evicted. A slot keeps only where its bytes start:
//! no allocation per event and no size-class rounding, so keeping the headers costs a
//! stored event little more than their encoded size.
//!
//! An event's bytes: with a text id, its length (LEB128) and the id; then the encoded
//! [`Headers`].

use crate::server::headers::Headers;

/// Bytes reserved per event up front (pages are resident only once used).
pub(super) const ROOM_PER_EVENT: usize = 64;

/// A ring of bytes: appended at the back with at most two copies, freed from the front by
/// moving a number (a `VecDeque<u8>` walked every freed byte).
pub(super) struct Extras {
    ring: Box<[u8]>,
    /// Where the oldest byte is in `ring`.
    head: usize,
    len: usize,
    /// The position of the oldest byte since the store started.
    start: u64,
}

impl Extras {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Self {
            // Zeroed pages from the system: untouched ones stay out of resident memory.
            ring: vec![0; bytes.max(64)].into_boxed_slice(),
            head: 0,
            len: 0,
            start: 0,
        }
    }

    fn end(&self) -> u64 {
        self.start + self.len as u64
    }

    /// Appends an event's bytes; returns where they start.
    pub(super) fn push_back(&mut self, text_id: Option<&str>, headers: &[u8]) -> u64 {
        let at = self.end();
        if let Some(id) = text_id {
            let mut prefix = [0u8; 10];
            let mut n = id.len();
            let mut used = 0;
            while n >= 0x80 {
                prefix[used] = (n as u8 & 0x7f) | 0x80;
                n >>= 7;
                used += 1;
            }
            prefix[used] = n as u8;
            self.append(&prefix[..=used]);
            self.append(id.as_bytes());
        }
        self.append(headers);
        at
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > self.ring.len() {
            self.grow(self.len + bytes.len());
        }
        let cap = self.ring.len();
        let tail = (self.head + self.len) % cap;
        let first = bytes.len().min(cap - tail);
        self.ring[tail..tail + first].copy_from_slice(&bytes[..first]);
        self.ring[..bytes.len() - first].copy_from_slice(&bytes[first..]);
        self.len += bytes.len();
    }

    /// Doubles the ring (at least to `need`), the kept bytes first in order.
    fn grow(&mut self, need: usize) {
        let mut size = self.ring.len() * 2;
        while size < need {
            size *= 2;
        }
        let mut ring = vec![0; size].into_boxed_slice();
        let (a, b) = self.slices(0, self.len);
        ring[..a.len()].copy_from_slice(a);
        ring[a.len()..a.len() + b.len()].copy_from_slice(b);
        self.ring = ring;
        self.head = 0;
    }

    /// The kept bytes `from..to` (offsets from the oldest), in at most two pieces.
    fn slices(&self, from: usize, to: usize) -> (&[u8], &[u8]) {
        let cap = self.ring.len();
        let to = to.min(self.len);
        let from = from.min(to);
        let a = (self.head + from) % cap;
        let n = to - from;
        let first = n.min(cap - a);
        (&self.ring[a..a + first], &self.ring[..n - first])
    }

    /// Frees the oldest event's bytes, which end at `end` (the next event's start, or
    /// `None` when it was the last); returns its text id when it has one.
    pub(super) fn pop_front(&mut self, end: Option<u64>, text_id: bool) -> Option<String> {
        let len = (end.unwrap_or_else(|| self.end()) - self.start) as usize;
        let len = len.min(self.len);
        let id = text_id.then(|| self.split(0, len, true).0.unwrap_or_default());
        self.head = (self.head + len) % self.ring.len();
        self.len -= len;
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
        self.split(from, to, text_id)
    }

    fn split(&self, from: usize, to: usize, text_id: bool) -> (Option<String>, Headers) {
        let (a, b) = self.slices(from, to);
        let bytes = [a, b].concat();
        let mut rest = &bytes[..];
        let id = if text_id {
            let mut n = 0usize;
            let mut shift = 0;
            while let Some((&byte, tail)) = rest.split_first() {
                rest = tail;
                n |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 || shift > 56 {
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
        // The smallest ring: the events below wrap around it and make it grow.
        let mut extras = Extras::with_capacity(1);
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
        assert_eq!(extras.len, 0);
    }

    #[test]
    fn a_full_ring_wraps_around_and_keeps_every_event_whole() {
        let mut extras = Extras::with_capacity(64);
        let mut kept = std::collections::VecDeque::new();
        for i in 0..200 {
            let value = format!("value-{i}");
            let h = Headers::from_pairs([("x-n", value.as_bytes())]);
            let id = format!("id-{i}");
            let text = (i % 3 == 0).then_some(id.as_str());
            let at = extras.push_back(text, h.as_bytes());
            kept.push_back((at, text.map(str::to_owned), h));
            // Three events kept at a time: the ring of 64 bytes wraps many times.
            if kept.len() > 3 {
                let (_, text, _) = kept.pop_front().unwrap();
                let next = kept.front().map(|k| k.0);
                assert_eq!(extras.pop_front(next, text.is_some()), text);
            }
            for (n, (at, text, h)) in kept.iter().enumerate() {
                let end = kept.get(n + 1).map(|k| k.0);
                assert_eq!(
                    extras.read(*at, end, text.is_some()),
                    (text.clone(), h.clone())
                );
            }
        }
        assert!(
            extras.ring.len() <= 128,
            "four events at most: grown once at most"
        );
    }
}
