//! Sources: how a webhook from one kind of sender is read. Each turns a request's headers
//! and body bytes into the event's id, type and (for the model) integer `event_id`, or
//! refuses it with every problem in the model's `details` shape; and names the signature
//! scheme it is verified with when a secret is given. `serve --source`, `send --as` and
//! `validate --source` all read sources through here, so they never disagree.
//!
//! `event` is the model of `crate::model`, unchanged; `github`, `stripe`, `standard`,
//! `shopify` and `slack` follow each provider's documentation (`envelope.rs`); `json` and
//! `schema:FILE` take any JSON value, with id and type where `--id-from` and `--type-from`
//! point (`rules.rs`), the latter checked against a JSON Schema (`schema.rs`); both read
//! the body into a tape (`tape.rs`) when they can.

mod beyond;
mod envelope;
mod rules;
pub mod samples;
mod scan;
mod schema;
mod shown;
mod tape;

use std::fmt;
use std::sync::Arc;

use http::header::HeaderMap;

use crate::alert::signing::{self, Secret, Tolerance, VerifyError};
use crate::model::{self, FieldError, Invalid};

pub use rules::{Locator, LocatorError, Rules};
pub use schema::{Schema, SchemaError};

/// The longest id kept; a longer one is refused.
pub const MAX_ID_BYTES: usize = 256;

/// One kind of sender.
#[derive(Clone)]
pub enum Source {
    /// The model (`event_id`, `timestamp`, `event_type`, `description`).
    Event,
    Github,
    Stripe,
    /// Standard Webhooks, and Svix with its `svix-*` header names.
    Standard,
    Shopify,
    Slack,
    /// Any JSON value.
    Json(Rules),
    /// Any JSON value that satisfies a JSON Schema.
    Schema(Rules, Arc<Schema>),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The names `--source` takes, `schema:FILE` aside.
pub const NAMES: [&str; 7] = [
    "event", "github", "stripe", "standard", "shopify", "slack", "json",
];

/// A signature scheme of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    Standard,
    /// GitHub: `X-Hub-Signature-256`.
    Github,
    /// Stripe: `Stripe-Signature`.
    Stripe,
    /// Shopify: `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// Slack: `X-Slack-Signature` and `X-Slack-Request-Timestamp`.
    Slack,
}

impl Scheme {
    /// Whether a secret of this scheme is `whsec_<base64>` (decoded before use) rather than
    /// used as written.
    pub fn whsec(self) -> bool {
        self == Scheme::Standard
    }

    /// Checks the request's signature against any of `secrets`; timestamps (Standard,
    /// Stripe, Slack) must be within `tolerance` of now.
    pub fn verify(
        self,
        secrets: &[Secret],
        headers: &HeaderMap,
        body: &[u8],
        tolerance: Tolerance,
    ) -> Result<(), VerifyError> {
        match self {
            Scheme::Standard => signing::verify_standard(secrets, headers, body, tolerance),
            Scheme::Github => signing::verify_github(secrets, headers, body),
            Scheme::Stripe => signing::verify_stripe(secrets, headers, body, tolerance),
            Scheme::Shopify => signing::verify_shopify(secrets, headers, body),
            Scheme::Slack => signing::verify_slack(secrets, headers, body, tolerance),
        }
    }
}

/// What a request says about its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    /// The provider's id, `evt_<event_id>` for the model, or a generated one.
    pub id: String,
    pub event_type: String,
    /// The model's integer id; `None` for every other source.
    pub event_id: Option<i64>,
}

/// How a request is to be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// An event, to be kept.
    Event(Identified),
    /// Slack's `url_verification`: answered with the challenge, nothing kept.
    Challenge(String),
    /// Slack's `ssl_check` (a form with `ssl_check=1`, sent to slash-command URLs to check
    /// their certificate): answered 200, nothing kept.
    SslCheck,
}

impl Source {
    /// The source a `--source` value names: one of [`NAMES`], or `schema:FILE` (read and
    /// compiled now). `rules` are the `--id-from`/`--type-from` of `json` and `schema:`.
    pub fn parse(text: &str, rules: &Rules) -> Result<Self, SourceError> {
        if let Some(path) = text.strip_prefix("schema:") {
            let schema = Schema::load(std::path::Path::new(path))?;
            return Ok(Source::Schema(rules.clone(), Arc::new(schema)));
        }
        Ok(match text {
            "event" => Source::Event,
            "github" => Source::Github,
            "stripe" => Source::Stripe,
            "standard" | "svix" => Source::Standard,
            "shopify" => Source::Shopify,
            "slack" => Source::Slack,
            "json" => Source::Json(rules.clone()),
            other => return Err(SourceError::Unknown(other.to_string())),
        })
    }

    /// The source's name: `event`, `github`, …, `json`, `schema`.
    pub fn name(&self) -> &'static str {
        match self {
            Source::Event => "event",
            Source::Github => "github",
            Source::Stripe => "stripe",
            Source::Standard => "standard",
            Source::Shopify => "shopify",
            Source::Slack => "slack",
            Source::Json(_) => "json",
            Source::Schema(..) => "schema",
        }
    }

    /// The signature scheme the provider signs with; `None` for `event` (whose scheme
    /// `--verify` chooses), `json` and `schema:`.
    pub fn scheme(&self) -> Option<Scheme> {
        match self {
            Source::Github => Some(Scheme::Github),
            Source::Stripe => Some(Scheme::Stripe),
            Source::Standard => Some(Scheme::Standard),
            Source::Shopify => Some(Scheme::Shopify),
            Source::Slack => Some(Scheme::Slack),
            Source::Event | Source::Json(_) | Source::Schema(..) => None,
        }
    }

    /// Whether the source takes forms (`application/x-www-form-urlencoded`) besides JSON:
    /// Slack's slash commands and interactivity.
    pub fn takes_forms(&self) -> bool {
        matches!(self, Source::Slack)
    }

    /// Reads one request: its id and type, or every problem found.
    pub fn read(&self, headers: &HeaderMap, body: &[u8]) -> Result<Reading, Invalid> {
        match self {
            Source::Event => {
                let event = model::receive_event(body)?;
                Ok(Reading::Event(Identified {
                    id: crate::alert::signing::MessageId::for_event(event.event_id).into_string(),
                    event_type: event.event_type.into_owned(),
                    event_id: Some(event.event_id),
                }))
            }
            Source::Json(rules) => rules::read(rules, None, headers, body).map(Reading::Event),
            Source::Schema(rules, schema) => {
                rules::read(rules, Some(schema), headers, body).map(Reading::Event)
            }
            provider => envelope::read(provider, headers, body),
        }
    }
}

/// Why a `--source` value cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "unknown source {0:?}; expected one of event, github, stripe, standard, shopify, slack, json, schema:FILE"
    )]
    Unknown(String),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// Whether a Slack body without a `Content-Type` to go by is a form rather than JSON: it
/// does not open with `{`. `send --as slack` and `validate --source slack` decide by this.
pub fn is_form_text(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
}

/// Whether the request says its body is a form (`application/x-www-form-urlencoded`).
pub fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| {
            essence
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A problem at `field` (`/data/id`, `header:x-github-event`, or "" for the top level).
fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// An id as found, checked: 1 to [`MAX_ID_BYTES`] bytes, no control characters, not `.`
/// or `..`.
fn checked_id(field: &str, id: &str) -> Result<String, FieldError> {
    checked_id_with(id, || field.to_string())
}

/// [`checked_id`] with the field's name made only for a refusal.
fn checked_id_with(id: &str, field: impl FnOnce() -> String) -> Result<String, FieldError> {
    checked_text(id, field).map(str::to_string)
}

/// [`checked_id_with`], the id borrowed.
fn checked_text(id: &str, field: impl FnOnce() -> String) -> Result<&str, FieldError> {
    if id.is_empty() {
        return Err(problem(
            field(),
            "expected a non-empty id, got an empty string",
        ));
    }
    if id.len() > MAX_ID_BYTES {
        let n = id.len();
        return Err(problem(
            field(),
            format!("expected an id of at most {MAX_ID_BYTES} bytes, got {n}"),
        ));
    }
    if has_control(id) {
        return Err(problem(
            field(),
            "expected an id without control characters",
        ));
    }
    if is_dot_segment(id) {
        return Err(problem(
            field(),
            format!(
                "expected an id a URL path can name, got {id:?}: browsers and HTTP clients \
                 read /events/{id}/… as a step up the path"
            ),
        ));
    }
    Ok(id)
}

/// Whether `id` is `.` or `..`, which no path segment can carry: clients (browsers, curl,
/// URL libraries) resolve them, written plainly or as `%2E`, before the request is sent.
pub fn is_dot_segment(id: &str) -> bool {
    matches!(id, "." | "..")
}

/// Whether `text` has a control character (`char::is_control`: C0, DEL and C1), judged
/// on its UTF-8 bytes: C1 characters are the two bytes `0xC2 0x80`–`0xC2 0x9F`.
fn has_control(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        b < 0x20 || b == 0x7f || (b == 0xc2 && bytes.get(i + 1).is_some_and(|n| *n < 0xa0))
    })
}

/// A fresh id for an event that brings none: `hr_` and 32 hex digits.
pub fn generated_id() -> String {
    format!("hr_{}", signing::hex(&rand::random::<u128>().to_be_bytes()))
}

/// The value of a header as text, trimmed, when it is present and not empty.
fn header_text(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Why [`header_text`] found no text in `name`: the header is not there, is there with an
/// empty value (or only spaces), or holds bytes that are not visible ASCII.
fn no_header_text(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> &'static str {
    match headers.get(name) {
        None => "missing header",
        Some(value) if value.as_bytes().trim_ascii().is_empty() => {
            "the header is present but empty; expected a value"
        }
        Some(_) => "expected text (visible ASCII), got other bytes",
    }
}

/// A number as written, at most 40 characters of it, as the model's messages quote values.
fn describe_number(text: &str) -> String {
    if text.chars().count() <= 40 {
        return text.to_string();
    }
    format!("{}…", text.chars().take(40).collect::<String>())
}

/// How a JSON value is named in messages: `string "12"`, `number 12`, `an object`.
fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("bool {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {:?}", s.chars().take(40).collect::<String>()),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// An id from a JSON value: a string as written, an integer in decimal.
fn id_of(field: &str, value: Option<&serde_json::Value>) -> Result<String, FieldError> {
    use serde_json::Value;
    match value {
        Some(Value::String(s)) => checked_id(field, s),
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        // Beyond 64 bits it was read as a float and its digits are gone: say so rather than
        // show `1e+23` beside "expected an integer".
        Some(Value::Number(n))
            if n.as_f64()
                .is_some_and(|f| f.abs() >= 9.223_372_036_854_776e18) =>
        {
            Err(problem(
                field,
                format!(
                    "expected a string or an integer of at most 64 bits, got a number too \
                     large for one ({n} as read): send such an id as a JSON string"
                ),
            ))
        }
        Some(other) => Err(problem(
            field,
            format!("expected a string or an integer, got {}", describe(other)),
        )),
        None => Err(problem(field, "missing; expected the event's id")),
    }
}

/// An event type from a JSON value: a non-empty string without U+0000.
fn type_of(field: &str, value: Option<&serde_json::Value>) -> Result<String, FieldError> {
    use serde_json::Value;
    match value {
        Some(Value::String(s)) if !s.is_empty() => checked_type(field, s).map(str::to_string),
        Some(Value::String(_)) => Err(problem(field, "expected a non-empty string, got \"\"")),
        Some(other) => Err(problem(
            field,
            format!("expected a string, got {}", describe(other)),
        )),
        None => Err(problem(field, "missing; expected the event's type")),
    }
}

/// An event type as found, checked the way the model checks its `event_type`: without
/// U+0000, which not every store can keep ([`model::NUL_IN_TEXT`]).
fn checked_type<'t>(field: &str, text: &'t str) -> Result<&'t str, FieldError> {
    if text.contains('\0') {
        return Err(problem(field, model::NUL_IN_TEXT));
    }
    Ok(text)
}

#[cfg(test)]
mod tests;
