//! The webhook event model and the one validation function that `serve`, `send` and
//! `validate` share, so the three can never judge a payload differently. Validation reports
//! every problem at once, each with a field path and an expected-versus-got message.

mod fields;
mod scan;
mod timestamp;

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::value::RawValue;

use fields::check_object;
use scan::{accept_in_one_pass, check_depth, position};

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

/// Why an event type holding U+0000 is refused. No store could keep it alike (PostgreSQL's
/// `text` cannot hold the character), so every one refuses it, as `validate` does; the
/// sources refuse the event types they read with the same words.
pub const NUL_IN_TEXT: &str = "must not contain the NUL character (U+0000)";

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
    /// `timestamp` and `description` as written, when the one pass took the body (what
    /// [`plain_text_fields`] gives): the body is then known to be JSON too.
    pub plain: Option<(&'a str, &'a str)>,
}

/// Judges one event exactly as [`validate_event`] does, returning only its id and type,
/// borrowed from `body` in the common case: the receiver needs no more, and copying the
/// three text fields is a measurable share of receiving an event (`benches/README.md`).
pub fn receive_event(body: &[u8]) -> Result<Received<'_>, Invalid> {
    if let Some(plain) = accept_in_one_pass(body) {
        return Ok(Received {
            event_id: plain.event_id,
            event_type: Cow::Borrowed(plain.event_type),
            plain: Some((plain.timestamp, plain.description)),
        });
    }
    let text = top_level(body)?;
    let event = check_object(text, "").map_err(Invalid::Fields)?;
    Ok(Received {
        event_id: event.event_id,
        event_type: Cow::Owned(event.event_type),
        plain: None,
    })
}

/// The `timestamp` and `description` of a valid event borrowed from `body`, when the one
/// pass of [`validate_event`] takes it (strings without escapes); `None` leaves the body to
/// [`validate_event`]. A body this takes is JSON, as any body that pass takes is.
pub fn plain_text_fields(body: &[u8]) -> Option<(&str, &str)> {
    accept_in_one_pass(body).map(|plain| (plain.timestamp, plain.description))
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

/// Checks that the bytes are JSON (UTF-8, no byte-order mark, nested at most
/// [`MAX_DEPTH`] deep) and returns them as text; malformed JSON with its line and column.
/// The sources other than the model start from it.
pub fn json_text(body: &[u8]) -> Result<&str, Invalid> {
    top_level(body)
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

#[cfg(test)]
mod tests;
