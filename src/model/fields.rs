//! The full path of validation: one JSON value, known to be well-formed, checked field by
//! field against the model, every problem collected with its path and an expected-versus-got
//! message.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{Event, FieldError, parse_timestamp, timestamp};

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
pub(super) fn check_object<'a>(text: &'a str, prefix: &str) -> Result<Event, Vec<FieldError>> {
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

/// The rules on the text of the string fields, shared by both paths of
/// [`validate_event`](super::validate_event).
pub(super) fn check_timestamp(text: &str) -> Result<(), String> {
    if super::timestamp::plain_is_valid(text.as_bytes()) {
        return Ok(());
    }
    parse_timestamp(text).map(|_| ())
}

pub(super) fn check_event_type(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Err("expected a non-empty string, got an empty string".into());
    }
    if text.contains('\0') {
        return Err(super::NUL_IN_TEXT.into());
    }
    Ok(())
}

/// A checked field's value.
enum Value {
    Int(i64),
    Str(String),
}

/// A JSON integer token within i64. Strings, floats, booleans and null are refused.
pub(super) fn check_integer(raw: &str) -> Result<i64, String> {
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
pub(super) fn describe(raw: &str) -> String {
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
