//! The webhook event model and the one validation function that `serve`, `send` and
//! `validate` share, so the three can never judge a payload differently. Validation reports
//! every problem at once, each with a field path and an expected-versus-got message.

mod timestamp;

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

pub use timestamp::{Timestamp, parse_timestamp};

/// One problem found in a payload: where it is and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Path of the value: `event_id`, `[3].timestamp`; the empty string is the top level.
    pub field: String,
    /// What was expected and what came.
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = if self.field.is_empty() {
            "(top level)"
        } else {
            &self.field
        };
        write!(f, "{field}: {}", self.message)
    }
}

/// Why a payload is not a valid event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The bytes are not JSON.
    Malformed {
        line: usize,
        column: usize,
        message: String,
    },
    /// The JSON does not follow the event model; every problem is listed.
    Fields(Vec<FieldError>),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Malformed {
                line,
                column,
                message,
            } => {
                write!(f, "invalid JSON at line {line}, column {column}: {message}")
            }
            Invalid::Fields(errors) => {
                let parts: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

impl std::error::Error for Invalid {}

/// A valid event. The body it came from is kept elsewhere, byte for byte; these are its
/// parsed required fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub event_id: i64,
    /// The timestamp exactly as written in the payload.
    pub timestamp: String,
    pub event_type: String,
    pub description: String,
}

/// Validates one event: the body must be a JSON object following the model.
pub fn validate_event(body: &[u8]) -> Result<Event, Invalid> {
    if let Some(plain) = accept_in_one_pass(body) {
        return Ok(Event {
            event_id: plain.event_id,
            timestamp: plain.timestamp.to_owned(),
            event_type: plain.event_type.to_owned(),
            description: plain.description.to_owned(),
        });
    }
    let text = top_level(body)?;
    check_object(text, "").map_err(Invalid::Fields)
}

/// What the receiver keeps of a valid event besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<'a> {
    pub event_id: i64,
    /// Borrowed from the body unless it had to be unescaped.
    pub event_type: Cow<'a, str>,
}

/// Judges one event exactly as [`validate_event`] does, returning only its id and type,
/// borrowed from `body` in the common case: the receiver needs no more, and copying the
/// three text fields cost a tenth of receiving an event.
pub fn receive_event(body: &[u8]) -> Result<Received<'_>, Invalid> {
    if let Some(plain) = accept_in_one_pass(body) {
        return Ok(Received {
            event_id: plain.event_id,
            event_type: Cow::Borrowed(plain.event_type),
        });
    }
    let text = top_level(body)?;
    let event = check_object(text, "").map_err(Invalid::Fields)?;
    Ok(Received {
        event_id: event.event_id,
        event_type: Cow::Owned(event.event_type),
    })
}

/// The common case, a valid event, in one parse instead of two: a text that deserializes
/// into [`Plain`] is well-formed JSON (the same parser, values and keys checked at least as
/// strictly as by the syntax pass), so that pass can be skipped. Anything else returns
/// `None` and takes the full path, which finds and reports every problem.
fn accept_in_one_pass(body: &[u8]) -> Option<Plain<'_>> {
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
    check_event_type(plain.event_type).ok()?;
    Some(plain)
}

/// The commonest body of all, read without serde: one object with exactly the four model
/// members in any order, `event_id` a plain integer and the others strings without
/// escapes or control characters, JSON whitespace anywhere between tokens. That is valid
/// JSON whose fields the full path reads the same way. Anything else (extra members,
/// escapes, `-0`, …) is `None` and left to the paths that follow.
fn scan_plain(text: &str) -> Option<Plain<'_>> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return None;
    }
    at += 1;
    let (mut event_id, mut timestamp, mut event_type, mut description) = (None, None, None, None);
    loop {
        let (key, next) = scan_string(text, skip_whitespace(bytes, at))?;
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
    let end = start
        + bytes[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
    // Both ends are ASCII quotes, so the slice falls on character boundaries.
    (bytes[end] == b'"').then(|| (&text[start..end], end + 1))
}

/// An integer at `at` as JSON writes one (no leading zeros, no fraction or exponent) in
/// the signed 64-bit range, but not `-0`: its value and where it ends.
fn scan_integer(bytes: &[u8], at: usize) -> Option<(i64, usize)> {
    let negative = bytes.get(at) == Some(&b'-');
    let start = at + usize::from(negative);
    let digits = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if digits == 0 || (bytes[start] == b'0' && (digits > 1 || negative)) {
        return None;
    }
    let end = start + digits;
    if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
        return None;
    }
    // Accumulated negatively, so that i64::MIN fits; any overflow leaves it to serde.
    let magnitude = bytes[start..end].iter().try_fold(0i64, |n, &d| {
        n.checked_mul(10)?.checked_sub(i64::from(d - b'0'))
    })?;
    let value = if negative {
        magnitude
    } else {
        magnitude.checked_neg()?
    };
    Some((value, end))
}

/// The model's fields when each has the right JSON type: `i64` takes exactly the integer
/// tokens [`check_integer`] takes, and `&str` only strings without escapes, which the
/// full path would copy as they are.
#[derive(Deserialize)]
struct Plain<'a> {
    event_id: i64,
    timestamp: &'a str,
    event_type: &'a str,
    description: &'a str,
}

/// Validates a document that is either one event or an array of events (as `validate`
/// accepts). Paths inside an array are prefixed with the element index: `[3].timestamp`.
pub fn validate_document(body: &[u8]) -> Result<Vec<Event>, Invalid> {
    let text = top_level(body)?;
    if !text.trim_start().starts_with('[') {
        return check_object(text, "")
            .map(|e| vec![e])
            .map_err(Invalid::Fields);
    }
    let items: Vec<&RawValue> = serde_json::from_str(text).map_err(malformed)?;
    if items.is_empty() {
        let err = FieldError::new("", "expected at least one event, got an empty array");
        return Err(Invalid::Fields(vec![err]));
    }
    let mut events = Vec::with_capacity(items.len());
    let mut errors = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match check_object(item.get(), &format!("[{i}]")) {
            Ok(event) => events.push(event),
            Err(mut errs) => errors.append(&mut errs),
        }
    }
    if errors.is_empty() {
        Ok(events)
    } else {
        Err(Invalid::Fields(errors))
    }
}

/// Checks the bytes are UTF-8 JSON and returns them as text.
fn top_level(body: &[u8]) -> Result<&str, Invalid> {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            let (line, column) = position(body, e.valid_up_to());
            let message = "the body is not valid UTF-8".to_string();
            return Err(Invalid::Malformed {
                line,
                column,
                message,
            });
        }
    };
    if text.starts_with('\u{feff}') {
        let message = "a byte-order mark is not allowed before JSON".to_string();
        return Err(Invalid::Malformed {
            line: 1,
            column: 1,
            message,
        });
    }
    // Syntax is checked before the shape so that broken JSON is always reported as such.
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(malformed)?;
    check_depth(text)?;
    Ok(text)
}

/// Deepest nesting of arrays and objects accepted, so that whatever parses a stored body
/// later (into a tree, recursively) has a known bound.
pub const MAX_DEPTH: usize = 128;

/// Refuses nesting deeper than [`MAX_DEPTH`]. serde_json skips values without a depth
/// limit, so the syntax check above does not bound it. `text` is known to be valid JSON.
fn check_depth(text: &str) -> Result<(), Invalid> {
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
fn opening_brackets(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|chunk| {
            let n: u8 = chunk.iter().map(|&b| u8::from(b | 0x20 == b'{')).sum();
            usize::from(n)
        })
        .sum()
}

/// Line and 1-based column of a byte offset.
fn position(body: &[u8], offset: usize) -> (usize, usize) {
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

fn malformed(e: serde_json::Error) -> Invalid {
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    // serde_json counts an end of input before any character as column 0; columns are 1-based.
    Invalid::Malformed {
        line: e.line(),
        column: e.column().max(1),
        message,
    }
}

/// The model's fields as they came, before any check. A field present with `null` is
/// `Some("null")`, so that null and absent are told apart.
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    event_id: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    timestamp: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    event_type: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    description: Option<&'a RawValue>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Checks one JSON value (already known to be well-formed) against the model.
fn check_object<'a>(text: &'a str, prefix: &str) -> Result<Event, Vec<FieldError>> {
    let path = |name: &str| field_path(prefix, name);
    if !text.trim_start().starts_with('{') {
        let kind = describe(text.trim());
        return Err(vec![FieldError::new(
            prefix,
            format!("expected a JSON object, got {kind}"),
        )]);
    }
    let fields: Fields<'a> = match serde_json::from_str(text) {
        Ok(fields) => fields,
        Err(e) => {
            let msg = e.to_string();
            let dup = msg
                .strip_prefix("duplicate field `")
                .and_then(|r| r.split('`').next());
            return Err(vec![match dup {
                Some(name) => FieldError::new(
                    path(name),
                    format!("duplicate key \"{name}\": each field may appear only once"),
                ),
                None => FieldError::new(prefix, format!("expected an event object: {msg}")),
            }]);
        }
    };
    check_fields(fields, prefix)
}

fn field_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Checks the model's fields of one object, collecting every problem.
fn check_fields<'a>(fields: Fields<'a>, prefix: &str) -> Result<Event, Vec<FieldError>> {
    let path = |name: &str| field_path(prefix, name);
    let mut errors = Vec::new();
    let mut check =
        |name: &str, raw: Option<&'a RawValue>, f: &dyn Fn(&str) -> Result<_, String>| {
            let result = match raw {
                None => Err("required field is missing".to_string()),
                Some(raw) => f(raw.get()),
            };
            result
                .map_err(|m| errors.push(FieldError::new(path(name), m)))
                .ok()
        };
    let event_id = check("event_id", fields.event_id, &|raw| {
        check_integer(raw).map(Value::Int)
    });
    let timestamp = check("timestamp", fields.timestamp, &|raw| {
        // A unix time given as a number must hear which form is wanted, not just "a string".
        if !raw.starts_with('"') {
            return Err(timestamp::expected_form(&describe(raw)));
        }
        let s = string(raw)?;
        check_timestamp(&s).map(|()| Value::Str(s))
    });
    let event_type = check("event_type", fields.event_type, &|raw| {
        let s = string(raw)?;
        check_event_type(&s).map(|()| Value::Str(s))
    });
    let description = check("description", fields.description, &|raw| {
        string(raw).map(Value::Str)
    });

    match (event_id, timestamp, event_type, description) {
        (
            Some(Value::Int(event_id)),
            Some(Value::Str(timestamp)),
            Some(Value::Str(event_type)),
            Some(Value::Str(description)),
        ) => Ok(Event {
            event_id,
            timestamp,
            event_type,
            description,
        }),
        _ => Err(errors),
    }
}

/// The rules on the text of the string fields, shared by both paths of [`validate_event`].
fn check_timestamp(text: &str) -> Result<(), String> {
    parse_timestamp(text).map(|_| ())
}

fn check_event_type(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("expected a non-empty string, got an empty string".into());
    }
    Ok(())
}

/// A checked field's value.
enum Value {
    Int(i64),
    Str(String),
}

/// A JSON integer token within i64. Strings, floats, booleans and null are refused.
fn check_integer(raw: &str) -> Result<i64, String> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    let is_integer_token = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !is_integer_token {
        return Err(format!("expected an integer, got {}", describe(raw)));
    }
    raw.parse::<i64>()
        .map_err(|_| format!("expected an integer in the signed 64-bit range, got number {raw}"))
}

fn string(raw: &str) -> Result<String, String> {
    if !raw.starts_with('"') {
        return Err(format!("expected a string, got {}", describe(raw)));
    }
    // `raw` has passed the parser, so without escapes the text between the quotes is the
    // value; only escapes need decoding.
    if !raw.contains('\\') {
        return Ok(raw[1..raw.len() - 1].to_string());
    }
    serde_json::from_str(raw).map_err(|e| format!("expected a string: {e}"))
}

/// Names a raw JSON value the way messages show it: `string "12"`, `number 1.5`, `null`.
fn describe(raw: &str) -> String {
    const MAX: usize = 40;
    let short = |s: &str| {
        if s.chars().count() > MAX {
            format!("{}…", s.chars().take(MAX).collect::<String>())
        } else {
            s.to_string()
        }
    };
    match raw.as_bytes().first() {
        Some(b'"') => format!("string {}", short(raw)),
        Some(b't' | b'f') => format!("boolean {raw}"),
        Some(b'n') => "null".to_string(),
        Some(b'{') => "object".to_string(),
        Some(b'[') => "array".to_string(),
        Some(_) => format!("number {}", short(raw)),
        None => "nothing".to_string(),
    }
}

#[cfg(test)]
mod tests;

/// The one-pass shortcut must judge exactly as the full path does.
#[cfg(test)]
mod one_pass_tests {
    use super::*;

    fn full_path(body: &[u8]) -> Result<Event, Invalid> {
        check_object(top_level(body)?, "").map_err(Invalid::Fields)
    }

    #[test]
    fn agrees_with_the_full_path() {
        let ok = r#""event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": """#;
        let cases = [
            format!("{{{ok}}}"),
            format!(" \n{{{ok}, \"extra\": [1, {{\"a\": null}}]}} \n"),
            format!("{{{ok}, \"event_id\": 2}}"),
            format!("{{{ok}}} x"),
            format!("{{{ok},}}"),
            format!("\u{feff}{{{ok}}}"),
            format!("\u{a0}{{{ok}}}"),
            format!("[{{{ok}}}]"),
            format!("{{{ok}, \"k\\ud800\": 1}}"),
            format!("{{{ok}, \"k\": \"\\ud800\"}}"),
            format!("{{{ok}, \"k\": \"a\u{1}b\"}}"),
            r#"{"event_id": 1.0, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": 1, "timestamp": "2023-10-05", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "", "description": ""}"#.into(),
            r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x"}"#.into(),
            r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0078\n", "description": "a\"b\\"}"#.into(),
            r#"{"event_id": null, "timestamp": null, "event_type": null, "description": null}"#.into(),
            r#"{"event_id": -0, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": 1e2, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": 9223372036854775808, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": -9223372036854775808, "timestamp": "2023-10-05T12:34:5\u0036", "event_type": "x", "description": ""}"#.into(),
            r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0000", "description": ""}"#.into(),
            "{}".into(),
            "[1, 2, 3, 4]".into(),
            "{".into(),
            "".into(),
        ];
        for case in &cases {
            let body = case.as_bytes();
            assert_eq!(validate_event(body), full_path(body), "{case:?}");
        }
        // The plain scan's own edge cases: what it takes must be judged as the full path
        // judges it, and what it leaves must still be judged the same.
        let plain = |event_id: &str, rest: &str| {
            format!(
                r#"{{"event_id": {event_id}, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": "d"{rest}}}"#
            )
        };
        let reordered = "\t\r\n{\"description\":\"\",\"event_type\":\"a b\",\"timestamp\":\"2023-10-05T12:34:56Z\",\"event_id\":7}\n";
        let scan_cases = [
            plain("0", ""),
            plain("-1", ""),
            plain("01", ""),
            plain("-01", ""),
            plain("-", ""),
            plain("1x", ""),
            plain("1.5", ""),
            plain("1E3", ""),
            plain("9223372036854775807", ""),
            plain("-9223372036854775808", ""),
            plain("99999999999999999999", ""),
            plain("\"1\"", ""),
            plain("1", r#", "event_id": 2"#),
            plain("1", r#", "timestamp": "2023-10-05T12:34:56""#),
            plain("1", r#", "extra": 1"#),
            plain("1", ","),
            reordered.into(),
            "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"caf\u{e9}\"}".into(),
            "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"a\u{1}b\"}".into(),
            "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"\u{7f}\u{e9}\"}".into(),
            r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":{}}"#.into(),
            r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"} }"#.into(),
            r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"#.into(),
            r#"{"event_id":1 "timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"}"#.into(),
            r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"","description":"d"}"#.into(),
            r#"{"event_id":1,"timestamp":"2023-13-05T12:34:56","event_type":"x","description":"d"}"#.into(),
        ];
        for case in &scan_cases {
            let body = case.as_bytes();
            assert_eq!(validate_event(body), full_path(body), "{case:?}");
        }
        // The common forms are taken by the scan, so the cases above exercise it.
        assert!(scan_plain(&plain("42", "")).is_some());
        assert!(scan_plain(reordered).is_some());
        assert!(scan_plain(&plain("-0", "")).is_none());
        assert!(scan_plain(&plain("1", r#", "extra": 1"#)).is_none());
        let escaped = br#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0078\n", "description": "a\"b\\"}"#;
        let event = validate_event(escaped).expect("valid");
        assert_eq!(
            (event.event_type.as_str(), event.description.as_str()),
            ("x\n", "a\"b\\")
        );
    }
}
