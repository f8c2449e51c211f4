//! The fast path of validation and the byte-level scans around it: a valid event taken in
//! one pass (a hand-written scanner for the commonest body, serde for the rest) instead of
//! a syntax pass and a field pass, and the nesting-depth bound that serde does not apply.
//! Whatever the one pass does not take goes on to the full path in `fields`, which judges
//! it and reports every problem.

use serde::Deserialize;

use super::fields::check_timestamp;
use super::{Invalid, MAX_DEPTH};

/// The common case, a valid event, in one parse instead of two: a text that deserializes
/// into [`Plain`] is well-formed JSON (the same parser, values and keys checked at least as
/// strictly as by the syntax pass), so that pass can be skipped. Anything else returns
/// `None` and takes the full path, which finds and reports every problem.
pub(super) fn accept_in_one_pass(body: &[u8]) -> Option<Plain<'_>> {
    let text = std::str::from_utf8(body).ok()?;
    let plain = match scan_plain(text) {
        Some(plain) => plain,
        None => {
            if !text.trim_start().starts_with('{') {
                return None;
            }
            // serde_json skips extra members without its depth limit: the scan still applies.
            check_depth(text).ok()?;
            serde_json::from_str(text).ok()?
        }
    };
    check_timestamp(plain.timestamp).ok()?;
    // Borrowed, so written without escapes: it cannot hold U+0000, which JSON writes only
    // as `\u0000`. The full path judges the rest of `check_event_type`.
    if plain.event_type.is_empty() {
        return None;
    }
    Some(plain)
}

/// The commonest body of all, read without serde: one object with exactly the four model
/// members in any order, `event_id` a plain integer and the others strings without
/// escapes or control characters, JSON whitespace anywhere between tokens. That is valid
/// JSON whose fields the full path reads the same way. Anything else (extra members,
/// escapes, `-0`, …) is `None` and left to the paths that follow.
pub(super) fn scan_plain(text: &str) -> Option<Plain<'_>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    let (mut event_id, mut timestamp, mut event_type, mut description) = (None, None, None, None);
    loop {
        let (key, next) = model_key(bytes, skip_whitespace(bytes, at))?;
        at = skip_whitespace(bytes, next);
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at = skip_whitespace(bytes, at + 1);
        at = match key {
            "event_id" => {
                let (value, next) = scan_integer(bytes, at)?;
                event_id.replace(value).is_none().then_some(next)?
            }
            "timestamp" => text_member(text, at, &mut timestamp)?,
            "event_type" => text_member(text, at, &mut event_type)?,
            "description" => text_member(text, at, &mut description)?,
            _ => return None,
        };
        at = skip_whitespace(bytes, at);
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') => break,
            _ => return None,
        }
    }
    if skip_whitespace(bytes, at + 1) != bytes.len() {
        return None;
    }
    Some(Plain {
        event_id: event_id?,
        timestamp: timestamp?,
        event_type: event_type?,
        description: description?,
    })
}

/// The key at `at` when it is one of the model's four, written plainly (as a string
/// without escapes it can only be these bytes): the key and where it ends. Compared
/// whole rather than scanned: any other key makes the scan give up anyway.
fn model_key(bytes: &[u8], at: usize) -> Option<(&'static str, usize)> {
    let rest = bytes.get(at..)?;
    const KEYS: [(&[u8], &str); 4] = [
        (b"\"event_id\"", "event_id"),
        (b"\"timestamp\"", "timestamp"),
        (b"\"event_type\"", "event_type"),
        (b"\"description\"", "description"),
    ];
    KEYS.iter()
        .find(|(quoted, _)| rest.starts_with(quoted))
        .map(|&(quoted, key)| (key, at + quoted.len()))
}

/// The string value of a member into its slot; `None` when it is not a plain string or
/// the member came before.
fn text_member<'a>(text: &'a str, at: usize, slot: &mut Option<&'a str>) -> Option<usize> {
    let (value, next) = scan_string(text, at)?;
    slot.replace(value).is_none().then_some(next)
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// A string at `at` without escapes or control characters: its text and where it ends.
fn scan_string(text: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = text.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let end = start + string_end(&bytes[start..])?;
    // Both ends are ASCII quotes, so the slice falls on character boundaries.
    (bytes[end] == b'"').then(|| (&text[start..end], end + 1))
}

/// Where the first `"`, `\` or control character (below 0x20) is in `bytes`: what ends
/// a plain string. Eight bytes at a time (every event's keys and texts go through here):
/// in each 64-bit word, a byte is flagged by the usual subtract-and-mask tests for zero
/// (after XOR with the quote or the backslash) and for less than 0x20. A test can flag a
/// byte wrongly only above (after) one it flags rightly, where a borrow carries into it,
/// so the first flagged byte of a word is always a right one.
pub(super) fn string_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let zero_byte = |w: u64| w.wrapping_sub(ONES) & !w;
    let mut at = 0;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let flagged = (zero_byte(w ^ (ONES * u64::from(b'"')))
            | zero_byte(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w))
            & HIGH;
        if flagged != 0 {
            return Some(at + flagged.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = bytes[at..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    Some(at + tail)
}

/// An integer at `at` as JSON writes one (no leading zeros, no fraction or exponent) in
/// the signed 64-bit range, but not `-0`: its value and where it ends.
fn scan_integer(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let negative = bytes.get(at) == Some(&b'-');
    let start = at + usize::from(negative);
    // Read and accumulated in one pass, negatively, so that i64::MIN fits; any overflow
    // leaves it to serde.
    let mut end = start;
    let mut magnitude = 0i64;
    while let Some(&d) = bytes.get(end).filter(|d| d.is_ascii_digit()) {
        magnitude = magnitude
            .checked_mul(10)?
            .checked_sub(i64::from(d - b'0'))?;
        end += 1;
    }
    let digits = end - start;
    if digits == 0 || (bytes[start] == b'0' && (digits > 1 || negative)) {
        return None;
    }
    if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    let value = if negative {
        magnitude
    } else {
        magnitude.checked_neg()?
    };
    Some((value, end))
}

/// The model's fields when each has the right JSON type: `i64` takes exactly the integer
/// tokens [`check_integer`](super::fields::check_integer) takes, and `&str` only strings without escapes, which the
/// full path would copy as they are.
#[derive(Deserialize)]
pub(super) struct Plain<'a> {
    pub event_id: i64,
    pub timestamp: &'a str,
    pub event_type: &'a str,
    pub description: &'a str,
}

/// Refuses nesting deeper than [`MAX_DEPTH`]. serde_json skips values without a depth
/// limit, so the syntax check above does not bound it. `text` is known to be valid JSON.
pub(super) fn check_depth(text: &str) -> Result<(), Invalid> {
    let bytes = text.as_bytes();
    // Depth never exceeds the number of opening brackets: counting them (a vectorised
    // pass) settles nearly every body without the byte-by-byte scan below.
    if opening_brackets(bytes) <= MAX_DEPTH {
        return Ok(());
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let (line, column) = position(bytes, i);
                    return Err(Invalid::Malformed {
                        line,
                        column,
                        message: format!(
                            "nested deeper than {MAX_DEPTH} levels (arrays and objects)"
                        ),
                    });
                }
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    Ok(())
}

/// How many `[` and `{` bytes there are. `b | 0x20` maps both (0x5B, 0x7B), and only them,
/// to `{`; byte-wide sums over chunks of 255 let the compiler use vector instructions.
pub(super) fn opening_brackets(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| {
            let n: u8 = chunk.iter().map(|&b| u8::from(b | 0x20 == b'{')).sum();
            usize::from(n)
        })
        .sum()
}

/// Line and 1-based column of a byte offset.
pub(super) fn position(body: &[u8], offset: usize) -> (usize, usize) {
    let before = &body[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = offset
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}
