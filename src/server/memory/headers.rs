//! The memory store's form of an event's headers: most requests to one receiver carry the
//! same `Host`, `Content-Type`, `User-Agent` and the like, so a header whose value tends to
//! repeat is interned (stored once, counted) and an event keeps its index;
//! `Content-Length` equal to the body's length is one byte. Other headers (ids,
//! timestamps, signatures) are kept as encoded in [`Headers`]. Order and flags are kept:
//! what comes back is the [`Headers`] that went in.
//!
//! Form: empty for no headers at all; else the flags byte, then per header `0`
//! (`content-length: <body length>`), `1` and an interned header's index (LEB128), or `2`
//! and the header as encoded.

use crate::server::headers::{self, Headers};

use super::log::{read_varint, write_varint};
use super::types::Interner;

const BODY_LENGTH: u8 = 0;
const INTERNED: u8 = 1;
const INLINE: u8 = 2;

/// Headers whose value is most often the same from one request to the next of a sender.
fn repeats(name: &str) -> bool {
    matches!(
        name,
        "host"
            | "content-type"
            | "user-agent"
            | "accept"
            | "accept-encoding"
            | "connection"
            | "x-forwarded-proto"
            | "x-github-event"
            | "x-github-hook-id"
            | "x-github-hook-installation-target-id"
            | "x-github-hook-installation-target-type"
            | "x-shopify-topic"
            | "x-shopify-shop-domain"
            | "x-shopify-api-version"
            | "expect"
            | "transfer-encoding"
    )
}

/// Longer values are kept inline even under a name from [`repeats`].
const MAX_INTERNED: usize = 256;

/// Headers whose interned index is remembered by position ([`Hints`]).
const HINTED: usize = 8;

/// The interned index each of the first [`HINTED`] headers had last time.
pub(super) type Hints = [u32; HINTED];

/// Writes `headers` in the store's form to `out` (cleared first), interning in `pairs`.
pub(super) fn compact(
    headers: &Headers,
    body_len: usize,
    pairs: &mut Interner,
    hints: &mut Hints,
    out: &mut Vec<u8>,
) {
    out.clear();
    if headers.as_bytes().is_empty() {
        return;
    }
    out.push(headers.flags());
    let mut length = itoa::Buffer::new();
    let length = length.format(body_len).as_bytes();
    for (n, entry) in headers.entries().enumerate() {
        if entry.name == "content-length" && entry.value == length {
            out.push(BODY_LENGTH);
        } else if repeats(entry.name) && entry.value.len() <= MAX_INTERNED {
            out.push(INTERNED);
            let id = match hints.get_mut(n) {
                Some(hint) => pairs.intern_hinted(entry.encoded, hint),
                None => pairs.intern(entry.encoded),
            };
            write_varint(out, id as usize);
        } else {
            out.push(INLINE);
            out.extend_from_slice(entry.encoded);
        }
    }
}

/// Each interned header of `form`, in turn.
fn interned(mut form: &[u8], mut each: impl FnMut(u32)) {
    form = form.get(1..).unwrap_or_default();
    while let Some((&kind, rest)) = form.split_first() {
        form = rest;
        match kind {
            INTERNED => match read_varint(&mut form) {
                Some(id) => each(id as u32),
                None => return,
            },
            INLINE if headers::split_entry(&mut form).is_none() => return,
            _ => {}
        }
    }
}

/// The event's headers are gone: its interned headers lose one reference each.
pub(super) fn release(form: &[u8], pairs: &mut Interner) {
    interned(form, |id| pairs.release(id));
}

/// The [`Headers`] that `form` was made from.
pub(super) fn expand(form: &[u8], body_len: usize, pairs: &Interner) -> Headers {
    let Some((&flags, mut rest)) = form.split_first() else {
        return Headers::default();
    };
    let mut out = Vec::with_capacity(form.len() * 2);
    out.push(flags);
    while let Some((&kind, tail)) = rest.split_first() {
        rest = tail;
        match kind {
            BODY_LENGTH => {
                let mut length = itoa::Buffer::new();
                headers::encode_entry(
                    &mut out,
                    "content-length",
                    length.format(body_len).as_bytes(),
                );
            }
            INTERNED => match read_varint(&mut rest) {
                Some(id) => out.extend_from_slice(pairs.get(id as u32)),
                None => break,
            },
            _ => match headers::split_entry(&mut rest) {
                Some(entry) => out.extend_from_slice(entry),
                None => break,
            },
        }
    }
    Headers::from_bytes(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_come_back_as_they_went_in_and_repeated_ones_are_stored_once() {
        let mut pairs = Interner::default();
        let mut hints = Hints::default();
        let mut form = Vec::new();
        let sets = [
            Headers::from_pairs([
                ("Host", &b"example.com"[..]),
                ("webhook-id", b"msg_1"),
                ("Content-Type", b"application/json"),
                ("Content-Length", b"12"),
            ]),
            // A length that is not the body's is kept as it came.
            Headers::from_pairs([("content-length", &b"13"[..]), ("host", b"example.com")]),
            Headers::from_pairs([("x-custom", &b"1"[..]), ("x-custom", b"2")]),
            Headers::from_pairs([]),
            Headers::default(),
        ];
        let mut forms = Vec::new();
        for h in &sets {
            compact(h, 12, &mut pairs, &mut hints, &mut form);
            assert_eq!(&expand(&form, 12, &pairs), h);
            forms.push(form.clone());
        }
        // Host, Content-Type and the length take a byte or two each; webhook-id is inline.
        assert_eq!(forms[0].len(), 1 + 2 + (1 + 1 + 1 + 5) + 2 + 1);
        // One `host: example.com` for both events, released with the last of them.
        let host = pairs
            .find(sets[1].entries().nth(1).unwrap().encoded)
            .unwrap();
        release(&forms[0], &mut pairs);
        assert_eq!(
            pairs.find(sets[1].entries().nth(1).unwrap().encoded),
            Some(host)
        );
        release(&forms[1], &mut pairs);
        assert_eq!(pairs.find(sets[1].entries().nth(1).unwrap().encoded), None);
    }
}
