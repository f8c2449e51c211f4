//! The commonest provider body read in one pass without serde: a JSON object whose strings
//! have no escapes, whose members of interest (`id`, `type`, `action`, `event_id`,
//! `challenge`) are plain strings or integers written once, nested at most
//! [`MAX_NESTING`] deep. Every other member is checked as JSON and skipped. Anything else
//! (an escape, a member of interest of another type or written twice, deeper nesting,
//! malformed JSON) is `None`, left to serde, which decides and words the refusal.

use serde::Deserialize;
use serde_json::Value;

/// The deepest nesting the scan follows; deeper bodies go to serde.
pub const MAX_NESTING: usize = 32;

/// The members of a provider's body that say what it is (serde fills it too).
#[derive(Debug, Default, PartialEq, Deserialize)]
pub struct Found {
    pub id: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<Value>,
    pub action: Option<Value>,
    pub event_id: Option<Value>,
    pub challenge: Option<Value>,
}

/// The members of interest of `body`, when it is a plain object (see the module's doc).
pub fn envelope(body: &[u8]) -> Option<Found> {
    let text = std::str::from_utf8(body).ok()?;
    let mut scan = Scan { text, at: 0 };
    scan.whitespace();
    scan.byte(b'{')?;
    let mut found = Found::default();
    scan.whitespace();
    if scan.peek() == Some(b'}') {
        scan.at += 1;
    } else {
        loop {
            scan.whitespace();
            let key = scan.string()?;
            scan.whitespace();
            scan.byte(b':')?;
            scan.whitespace();
            let slot = match key {
                "id" => Some(&mut found.id),
                "type" => Some(&mut found.kind),
                "action" => Some(&mut found.action),
                "event_id" => Some(&mut found.event_id),
                "challenge" => Some(&mut found.challenge),
                _ => None,
            };
            match slot {
                Some(slot) => {
                    let value = scan.plain_value()?;
                    // Written twice: serde refuses it, and says so.
                    slot.replace(value).is_none().then_some(())?;
                }
                None => scan.skip_value(1)?,
            }
            scan.whitespace();
            match scan.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    scan.whitespace();
    (scan.at == text.len()).then_some(found)
}

/// A place in a JSON text, with the steps every reader of JSON here takes: this module's
/// one pass, and the tape (`tape.rs`), which keeps one as its cursor.
pub(super) struct Scan<'a> {
    pub(super) text: &'a str,
    pub(super) at: usize,
}

impl<'a> Scan<'a> {
    pub(super) fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    pub(super) fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    pub(super) fn byte(&mut self, expected: u8) -> Option<()> {
        (self.next()? == expected).then_some(())
    }

    pub(super) fn whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// A string without escapes or control characters: its text.
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let bytes = self.text.as_bytes();
        let start = self.at;
        let len = crate::words::string_stop(&bytes[start..])?;
        let end = start + len;
        (bytes[end] == b'"').then_some(())?;
        self.at = end + 1;
        // Both ends are ASCII quotes, so the slice falls on character boundaries.
        Some(&self.text[start..end])
    }

    /// A member of interest: a plain string, or an integer as JSON writes one.
    fn plain_value(&mut self) -> Option<Value> {
        match self.peek()? {
            b'"' => Some(Value::String(self.string()?.to_string())),
            _ => {
                let start = self.at;
                if !self.number()? {
                    return None;
                }
                let digits = &self.text[start..self.at];
                // serde_json reads `-0` as a float.
                if digits.starts_with("-0") {
                    return None;
                }
                let number = match digits.parse::<i64>() {
                    Ok(n) => serde_json::Number::from(n),
                    Err(_) => serde_json::Number::from(digits.parse::<u64>().ok()?),
                };
                Some(Value::Number(number))
            }
        }
    }

    /// A JSON number: whether it is an integer (no fraction, no exponent).
    fn number(&mut self) -> Option<bool> {
        number_at(self.text.as_bytes(), &mut self.at)
    }

    /// Any JSON value, checked and skipped; `depth` is the nesting it sits in.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' | b'[' => {
                if depth >= MAX_NESTING {
                    return None;
                }
                let close = if self.next()? == b'{' { b'}' } else { b']' };
                self.whitespace();
                if self.peek() == Some(close) {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.whitespace();
                    if close == b'}' {
                        self.string()?;
                        self.whitespace();
                        self.byte(b':')?;
                        self.whitespace();
                    }
                    self.skip_value(depth + 1)?;
                    self.whitespace();
                    match self.next()? {
                        b',' => continue,
                        b if b == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let rest = &self.text.as_bytes()[self.at..];
        rest.starts_with(word.as_bytes()).then_some(())?;
        self.at += word.len();
        Some(())
    }
}

/// Reads the JSON number that starts at `bytes[*at]` and moves `at` past it: `Some(true)`
/// for an integer literal (no fraction, no exponent), `Some(false)` for any other number,
/// `None` when the grammar is broken. Shared by this scan and the tape (`tape.rs`).
pub(super) fn number_at(bytes: &[u8], at: &mut usize) -> Option<bool> {
    let digits = |at: &mut usize| {
        while bytes.get(*at).is_some_and(u8::is_ascii_digit) {
            *at += 1;
        }
    };
    let digit = |at: &mut usize| {
        let ok = bytes.get(*at).is_some_and(u8::is_ascii_digit);
        *at += 1;
        ok.then_some(())
    };
    if bytes.get(*at) == Some(&b'-') {
        *at += 1;
    }
    match bytes.get(*at) {
        Some(b'0') => *at += 1,
        Some(b'1'..=b'9') => {
            *at += 1;
            digits(at);
        }
        _ => return None,
    }
    let mut integer = true;
    if bytes.get(*at) == Some(&b'.') {
        *at += 1;
        digit(at)?;
        digits(at);
        integer = false;
    }
    if matches!(bytes.get(*at), Some(b'e' | b'E')) {
        *at += 1;
        if matches!(bytes.get(*at), Some(b'+' | b'-')) {
            *at += 1;
        }
        digit(at)?;
        digits(at);
        integer = false;
    }
    Some(integer)
}
