//! The providers' envelopes: where each keeps its id and type.
//!
//! | source | id | type |
//! |---|---|---|
//! | github | `X-GitHub-Delivery` | `X-GitHub-Event`, plus `.` and `/action` when there is one |
//! | stripe | `/id` | `/type` |
//! | standard | `webhook-id` (or `svix-id`) | `/type` |
//! | shopify | `X-Shopify-Webhook-Id` | `X-Shopify-Topic` |
//! | slack | `/event_id`, else generated | `/type`; `url_verification` answers `/challenge` |
//! | slack, a form | `trigger_id`, else generated | `command` (slash commands) or the `payload`'s `/type` (interactivity); `ssl_check=1` is answered and not kept |
//!
//! The body is parsed once into the few members these need, by `scan.rs` when it is plain
//! and by serde otherwise; the rest is checked as JSON and skipped.
//! Slack's slash commands and interactive components post
//! `application/x-www-form-urlencoded` instead of JSON, signed the same way.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::{
    FieldError, Identified, Reading, Source, checked_id, checked_text, checked_type, describe,
    generated_id, id_of, problem, type_of,
};
use crate::model::{self, Invalid};

/// The members of a provider's body that say what it is.
type Envelope = super::scan::Found;

/// Reads a provider's request (every [`Source`] but the model, `json` and `schema:`).
pub(super) fn read(source: &Source, headers: &HeaderMap, body: &[u8]) -> Result<Reading, Invalid> {
    if matches!(source, Source::Slack) && super::is_form(headers) {
        return slack_form(body);
    }
    let envelope = parse(body)?;
    let mut problems = Vec::new();
    let mut take = |result: Result<String, FieldError>| match result {
        Ok(value) => Some(value),
        Err(e) => {
            problems.push(e);
            None
        }
    };
    let (id, event_type) = match source {
        Source::Github => {
            // Both headers found in one walk of the request's few headers: each lookup by
            // name would hash it.
            let (mut delivery, mut event) = (None, None);
            for (name, value) in headers {
                if *name == GITHUB_DELIVERY {
                    delivery.get_or_insert(value);
                } else if *name == GITHUB_EVENT {
                    event.get_or_insert(value);
                }
            }
            let id = take(value_checked(headers, &GITHUB_DELIVERY, delivery).map(str::to_string));
            let action = match &envelope.action {
                Some(Value::String(action)) if !action.is_empty() => Some(action.as_str()),
                _ => None,
            };
            let bad_action = action.and_then(|action| checked_type("/action", action).err());
            // `event.action` written once into a string of its size.
            let event = value_checked(headers, &GITHUB_EVENT, event).map(|event| match action {
                Some(action) => {
                    let mut text = String::with_capacity(event.len() + 1 + action.len());
                    text.push_str(event);
                    text.push('.');
                    text.push_str(action);
                    text
                }
                None => event.to_string(),
            });
            let event = take(event);
            problems.extend(bad_action);
            (id, event)
        }
        Source::Stripe => (
            take(id_of("/id", envelope.id.as_ref())),
            take(type_of("/type", envelope.kind.as_ref())),
        ),
        Source::Standard => {
            let svix = crate::alert::signing::header_names(headers)[0]
                == crate::alert::signing::SVIX_HEADERS[0];
            let name = if svix { &SVIX_ID } else { &WEBHOOK_ID };
            (
                take(from_header(headers, name)),
                take(type_of("/type", envelope.kind.as_ref())),
            )
        }
        Source::Shopify => (
            take(from_header(headers, &SHOPIFY_WEBHOOK_ID)),
            take(from_header(headers, &SHOPIFY_TOPIC)),
        ),
        Source::Slack => {
            let event_type = take(type_of("/type", envelope.kind.as_ref()));
            if event_type.as_deref() == Some("url_verification") {
                return challenge(envelope.challenge.as_ref());
            }
            let id = match &envelope.event_id {
                None => Some(generated_id()),
                some => take(id_of("/event_id", some.as_ref())),
            };
            (id, event_type)
        }
        Source::Event | Source::Json(_) | Source::Schema(..) => {
            unreachable!("read by their own modules")
        }
    };
    match (id, event_type) {
        (Some(id), Some(event_type)) if problems.is_empty() => Ok(Reading::Event(Identified {
            id,
            event_type,
            event_id: None,
        })),
        _ => Err(Invalid::Fields(problems)),
    }
}

/// The JSON body as an [`Envelope`]: malformed JSON with its line and column, anything
/// but an object as a problem of the top level. Parsed once, straight from the bytes; the
/// model's JSON checks run only to word a refusal.
fn parse(body: &[u8]) -> Result<Envelope, Invalid> {
    // The commonest body in one pass of its own; serde for the rest.
    if let Some(found) = super::scan::envelope(body) {
        return Ok(found);
    }
    let first = body.iter().find(|b| !b.is_ascii_whitespace()).copied();
    // An object only: serde would also fill the struct from an array, by position.
    let parsed = match first {
        Some(b'{') => serde_json::from_slice(body).map_err(Some),
        _ => Err(None),
    };
    parsed.map_err(|error| {
        if let Err(malformed) = model::json_text(body) {
            return malformed;
        }
        let problem_at_top = match error {
            // JSON, and an object: what failed is a member written twice.
            Some(e) => {
                let message = e.to_string();
                message
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
            None => {
                let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                format!("expected a JSON object, got {}", describe(&value))
            }
        };
        Invalid::Fields(vec![problem("", problem_at_top)])
    })
}

// The providers' headers, made once: looking a header up by `&str` parses its name.
static GITHUB_DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");
static GITHUB_EVENT: HeaderName = HeaderName::from_static("x-github-event");
static WEBHOOK_ID: HeaderName = HeaderName::from_static("webhook-id");
static SVIX_ID: HeaderName = HeaderName::from_static("svix-id");
static SHOPIFY_WEBHOOK_ID: HeaderName = HeaderName::from_static("x-shopify-webhook-id");
static SHOPIFY_TOPIC: HeaderName = HeaderName::from_static("x-shopify-topic");

/// A header that must be present: `header:NAME`.
fn from_header(headers: &HeaderMap, name: &HeaderName) -> Result<String, FieldError> {
    header_checked(headers, name).map(str::to_string)
}

/// [`from_header`], the value borrowed.
fn header_checked<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, FieldError> {
    value_checked(headers, name, headers.get(name))
}

/// [`header_checked`] with the header's (first) value already found.
fn value_checked<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
    value: Option<&'h HeaderValue>,
) -> Result<&'h str, FieldError> {
    let field = || format!("header:{name}");
    // The usual value, visible ASCII: it has no control character to look for.
    if let Some(text) = value
        .and_then(|v| crate::alert::signing::visible_ascii(v.as_bytes()))
        .map(str::trim_ascii)
        .filter(|text| {
            !text.is_empty() && text.len() <= super::MAX_ID_BYTES && !super::is_dot_segment(text)
        })
    {
        return Ok(text);
    }
    let value = value
        .and_then(|v| v.to_str().ok())
        .map(str::trim_ascii)
        .filter(|v| !v.is_empty());
    match value {
        Some(value) => checked_text(value, field),
        None => Err(problem(field(), super::no_header_text(headers, name))),
    }
}

/// Slack's `url_verification`: the challenge to answer with.
fn challenge(value: Option<&Value>) -> Result<Reading, Invalid> {
    match value {
        Some(Value::String(challenge)) if !challenge.is_empty() && challenge.len() <= 1024 => {
            Ok(Reading::Challenge(challenge.clone()))
        }
        Some(other) => Err(Invalid::Fields(vec![problem(
            "/challenge",
            format!("expected a non-empty string, got {}", describe(other)),
        )])),
        None => Err(Invalid::Fields(vec![problem(
            "/challenge",
            "missing; url_verification carries the challenge to answer",
        )])),
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, refused (rather than read
/// leniently, as browsers do) when a `%` is not followed by two hex digits or a field
/// does not decode to UTF-8: Slack sends neither, so such a body is not Slack's.
fn form_fields(body: &[u8]) -> Result<Vec<(String, String)>, Invalid> {
    let malformed = |message: String| Invalid::Fields(vec![problem("form", message)]);
    let decode = |part: &[u8], at: usize| -> Result<String, Invalid> {
        let mut bytes = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => bytes.push(b' '),
                b'%' => {
                    let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
                    let (Some(high), Some(low)) = (hex(part.get(i + 1)), hex(part.get(i + 2)))
                    else {
                        return Err(malformed(format!(
                            "a % not followed by two hex digits at byte {}",
                            at + i
                        )));
                    };
                    bytes.push((high * 16 + low) as u8);
                    i += 2;
                }
                b => bytes.push(b),
            }
            i += 1;
        }
        String::from_utf8(bytes)
            .map_err(|_| malformed(format!("a field that is not UTF-8 at byte {at}")))
    };
    let mut fields = Vec::new();
    let mut at = 0;
    for pair in body.split(|b| *b == b'&') {
        if !pair.is_empty() {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            fields.push((decode(name, at)?, decode(value, at + name.len() + 1)?));
        }
        at += pair.len() + 1;
    }
    Ok(fields)
}

/// A Slack slash command (`command`, `trigger_id`, …) or interactivity payload (one
/// `payload` field holding JSON with its `type`, e.g. `block_actions`, and usually a
/// `trigger_id`), posted as a form. Slack's `trigger_id` is the id, or a generated one.
/// A form with neither and `ssl_check=1` is the check Slack makes of a slash command's URL.
fn slack_form(body: &[u8]) -> Result<Reading, Invalid> {
    let mut command = None;
    let mut trigger_id = None;
    let mut payload = None;
    let mut ssl_check = false;
    for (name, value) in form_fields(body)? {
        match &*name {
            "command" => command = Some(value),
            "trigger_id" => trigger_id = Some(value),
            "payload" => payload = Some(value),
            "ssl_check" => ssl_check = value == "1",
            _ => {}
        }
    }
    if ssl_check && command.is_none() && payload.is_none() {
        return Ok(Reading::SslCheck);
    }
    let (id, event_type) = if let Some(payload) = payload {
        let value: Value = serde_json::from_str(&payload).map_err(|e| {
            Invalid::Fields(vec![problem("form:payload", format!("expected JSON: {e}"))])
        })?;
        if !value.is_object() {
            return Err(Invalid::Fields(vec![problem(
                "form:payload",
                format!("expected a JSON object, got {}", describe(&value)),
            )]));
        }
        let event_type = type_of("form:payload/type", value.get("type"));
        let id = match value.get("trigger_id") {
            None => Ok(generated_id()),
            some => id_of("form:payload/trigger_id", some),
        };
        (id, event_type)
    } else if let Some(command) = command {
        let event_type = match command.trim() {
            "" => Err(problem("form:command", "expected a non-empty command")),
            command => checked_type("form:command", command).map(str::to_string),
        };
        let id = match trigger_id.as_deref().map(str::trim) {
            None | Some("") => Ok(generated_id()),
            Some(trigger_id) => checked_id("form:trigger_id", trigger_id),
        };
        (id, event_type)
    } else {
        return Err(Invalid::Fields(vec![problem(
            "",
            "expected a slash command (a command field) or an interactivity payload (a payload field)",
        )]));
    };
    match (id, event_type) {
        (Ok(id), Ok(event_type)) => Ok(Reading::Event(Identified {
            id,
            event_type,
            event_id: None,
        })),
        (id, event_type) => Err(Invalid::Fields(
            [id.err(), event_type.err()].into_iter().flatten().collect(),
        )),
    }
}
