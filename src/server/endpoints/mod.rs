//! Endpoints as data: each client endpoint the relay delivers to, with its own URL,
//! signing secret (and the previous ones during their rotations' grace periods), event-type
//! filter, extra headers, rate limit and state. The record the stores keep, and the
//! reading of a JSON document (an API request's body or a config file's table) into one,
//! with every problem listed at once in the event model's `details` shape. The HTTP
//! handlers are in `api.rs`; rotation and the previous secrets in `secrets.rs`.

pub mod api;
pub mod options;
mod secrets;

pub use secrets::{FileSecrets, PreviousSecret, RotateError, rotate};

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::alert::signing::Secret;
use crate::model::FieldError;

/// The default grace period of a secret rotation: the old secret signs beside the new one
/// for this long.
pub const DEFAULT_GRACE_SECS: u64 = 24 * 60 * 60;
/// The longest grace period a rotation accepts (30 days).
pub const MAX_GRACE_SECS: u64 = 30 * 24 * 60 * 60;
/// The most previous secrets that may sign beside the current one: a rotation that would
/// keep one more is refused until the oldest one's grace period ends.
pub const MAX_PREVIOUS_SECRETS: usize = 4;
/// The highest `rate_limit` (requests per second) accepted.
pub const MAX_RATE_LIMIT: u64 = 1_000_000;
/// Bounds of the text fields.
const MAX_URL_LEN: usize = 2048;
const MAX_DESCRIPTION_LEN: usize = 1024;
const MAX_NAME_LEN: usize = 100;
const MAX_FILTER_TYPES: usize = 100;
const MAX_HEADERS: usize = 32;

/// One client endpoint, as every store keeps it (a JSON document: see `secrets.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "secrets::StoredEndpoint", into = "secrets::StoredEndpoint")]
pub struct Endpoint {
    /// `ep_` and 32 hex digits.
    pub id: String,
    /// Optional, unique among the endpoints.
    pub name: Option<String>,
    pub url: String,
    /// Event-type globs; empty means every type.
    pub filter_types: Vec<String>,
    /// `whsec_…`; shown only on creation, by `GET /endpoints/{id}/secret` and a rotation.
    pub secret: String,
    /// The secrets rotated out, newest first, each signing beside [`Endpoint::secret`]
    /// until its own `expires_at` (at most [`MAX_PREVIOUS_SECRETS`]; expired ones are
    /// dropped at the next rotation).
    pub previous_secrets: Vec<PreviousSecret>,
    /// Extra headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// Requests per second; `None` is unlimited.
    pub rate_limit: Option<u64>,
    pub description: Option<String>,
    /// A disabled endpoint's deliveries wait until it is enabled again.
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Whether an event of `event_type` goes to this endpoint (by its filter alone).
    pub fn wants(&self, event_type: &str) -> bool {
        self.filter_types.is_empty()
            || self.filter_types.iter().any(|f| {
                glob::Pattern::new(f)
                    .map(|p| p.matches(event_type))
                    .unwrap_or(false)
            })
    }
}

/// Where an endpoint is defined: in the store (by the API, the CLI or a config file's
/// `[[endpoints]]`), or by `serve`'s options (`--forward-to`, `--route`), which alone
/// change or remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefinedBy {
    Store,
    Options,
}

/// The endpoint as `GET /endpoints…` shows it: everything but the secrets.
#[derive(Debug, Serialize)]
pub struct EndpointView<'a> {
    pub id: &'a str,
    pub name: Option<&'a str>,
    pub url: &'a str,
    pub filter_types: &'a [String],
    pub headers: &'a BTreeMap<String, String>,
    pub rate_limit: Option<u64>,
    pub description: Option<&'a str>,
    pub disabled: bool,
    /// When each previous secret still signing stops, newest first.
    pub previous_secrets_expire_at: Vec<DateTime<Utc>>,
    /// The first of `previous_secrets_expire_at` (that of the newest previous secret), as
    /// shown before several previous secrets could sign.
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub defined_by: DefinedBy,
}

impl Endpoint {
    /// The view of a stored endpoint.
    pub fn view(&self, now: DateTime<Utc>) -> EndpointView<'_> {
        let expiries: Vec<DateTime<Utc>> = self
            .live_previous_secrets(now)
            .map(|p| p.expires_at)
            .collect();
        EndpointView {
            id: &self.id,
            name: self.name.as_deref(),
            url: &self.url,
            filter_types: &self.filter_types,
            headers: &self.headers,
            rate_limit: self.rate_limit,
            description: self.description.as_deref(),
            disabled: self.disabled,
            previous_secret_expires_at: expiries.first().copied(),
            previous_secrets_expire_at: expiries,
            created_at: self.created_at,
            updated_at: self.updated_at,
            defined_by: DefinedBy::Store,
        }
    }
}

/// A fresh endpoint id: `ep_` and 128 random bits in hex.
pub fn new_id() -> Result<String, rand::rngs::SysError> {
    use rand::TryRng as _;
    let mut bytes = [0u8; 16];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes)?;
    let mut id = String::with_capacity(3 + 32);
    id.push_str("ep_");
    for b in bytes {
        id.push_str(&format!("{b:02x}"));
    }
    Ok(id)
}

/// Whether `text` is written as an endpoint id.
pub fn is_endpoint_id(text: &str) -> bool {
    text.strip_prefix("ep_").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 64
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// The fields a document may set, each read and checked; `None` when absent. A field set
/// to `null` is `Some(None)` where null clears it.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    pub id: Option<String>,
    pub name: Option<Option<String>>,
    pub url: Option<String>,
    pub filter_types: Option<Vec<String>>,
    pub secret: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub rate_limit: Option<Option<u64>>,
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
}

/// What a document is read for: which fields it must and may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `POST /endpoints`: `url` required, `id` not allowed.
    Create,
    /// `PATCH /endpoints/{id}`: every field optional, `id` and `secret` not allowed
    /// (a secret changes by rotation).
    Update,
    /// A config file's `[[endpoints]]` table: `url` required, `id` allowed.
    File,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Headers a delivery's own framing and signature set, which neither an endpoint's
/// `headers` nor `serve --forward-header` may replace: a `Content-Length` of another size
/// would cut or stall every body sent. `svix-*` are Svix's names for the `webhook-*`
/// headers, which its library reads first: a receiver would check the relay's signature
/// against them.
pub fn reserved_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    signature_header(&name)
        || matches!(
            name.as_str(),
            "host" | "content-type" | "content-length" | "transfer-encoding" | "connection"
        )
}

/// Whether `name` (lower-case) is a Standard Webhooks header, under its own name
/// (`webhook-*`) or Svix's (`svix-*`): the relay signs each delivery with its own.
pub fn signature_header(name: &str) -> bool {
    name.starts_with("webhook-") || name.starts_with("svix-")
}

/// Reads `document` for `purpose`, collecting every problem. `prefix` is put before each
/// field's path (`endpoints[2].`, for a config file).
pub fn read(document: &Value, purpose: Purpose, prefix: &str) -> Result<Changes, Vec<FieldError>> {
    let mut errors = Vec::new();
    let Some(object) = document.as_object() else {
        return Err(vec![problem(
            prefix.trim_end_matches('.'),
            format!("expected an object, got {}", kind(document)),
        )]);
    };
    let changes = read_fields(object, purpose, prefix, &mut errors);
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

fn read_fields(
    object: &Map<String, Value>,
    purpose: Purpose,
    prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Changes {
    let field = |name: &str| format!("{prefix}{name}");
    let mut changes = Changes::default();
    for (name, value) in object {
        match name.as_str() {
            "id" => match purpose {
                Purpose::File => match value.as_str() {
                    Some(id) if is_endpoint_id(id) => changes.id = Some(id.to_owned()),
                    _ => errors.push(problem(
                        field(name),
                        "expected an endpoint id: ep_ followed by letters, digits, _ or -",
                    )),
                },
                _ => errors.push(problem(field(name), "is read-only; the server gives it")),
            },
            "created_at" | "updated_at" | "previous_secret_expires_at"
            | "previous_secrets_expire_at" => {
                errors.push(problem(field(name), "is read-only; the server gives it"))
            }
            "name" => match value {
                Value::Null => changes.name = Some(None),
                Value::String(s) => {
                    if s.is_empty() || s.len() > MAX_NAME_LEN {
                        errors.push(problem(
                            field(name),
                            format!("expected 1 to {MAX_NAME_LEN} characters, got {}", s.len()),
                        ));
                    } else if !s
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                    {
                        errors.push(problem(
                            field(name),
                            "expected letters, digits, '.', '_' or '-' only",
                        ));
                    } else if s.starts_with("ep_") {
                        errors.push(problem(
                            field(name),
                            "must not start with ep_, which names endpoint ids",
                        ));
                    } else {
                        changes.name = Some(Some(s.clone()));
                    }
                }
                other => errors.push(problem(
                    field(name),
                    format!("expected a string or null, got {}", kind(other)),
                )),
            },
            "url" => match value {
                Value::String(s) => match check_url(s) {
                    Ok(()) => changes.url = Some(s.clone()),
                    Err(m) => errors.push(problem(field(name), m)),
                },
                other => errors.push(problem(
                    field(name),
                    format!("expected an http:// or https:// URL, got {}", kind(other)),
                )),
            },
            "filter_types" => match value {
                Value::Null => changes.filter_types = Some(Vec::new()),
                Value::Array(items) => {
                    let mut types = Vec::new();
                    if items.len() > MAX_FILTER_TYPES {
                        errors.push(problem(
                            field(name),
                            format!("at most {MAX_FILTER_TYPES} types, got {}", items.len()),
                        ));
                    }
                    for (i, item) in items.iter().enumerate() {
                        let at = format!("{prefix}{name}[{i}]");
                        match item.as_str() {
                            Some("") => errors.push(problem(at, "expected a type or a glob")),
                            Some(s) if s.len() > 200 => {
                                errors.push(problem(at, "expected at most 200 characters"))
                            }
                            Some(s) => match glob::Pattern::new(s) {
                                Ok(_) => types.push(s.to_owned()),
                                Err(e) => errors.push(problem(at, format!("invalid glob: {e}"))),
                            },
                            None => errors.push(problem(
                                at,
                                format!("expected a string, got {}", kind(item)),
                            )),
                        }
                    }
                    changes.filter_types = Some(types);
                }
                other => errors.push(problem(
                    field(name),
                    format!("expected an array of event types, got {}", kind(other)),
                )),
            },
            "secret" => match purpose {
                Purpose::Update => errors.push(problem(
                    field(name),
                    "cannot be changed here; rotate it with POST /endpoints/{id}/secret/rotate",
                )),
                _ => match value.as_str() {
                    Some(s) => match Secret::parse(s) {
                        Ok(secret) => changes.secret = Some(secret.to_whsec()),
                        Err(e) => errors.push(problem(field(name), e.to_string())),
                    },
                    None => errors.push(problem(
                        field(name),
                        format!("expected a whsec_ secret, got {}", kind(value)),
                    )),
                },
            },
            "headers" => match value {
                Value::Null => changes.headers = Some(BTreeMap::new()),
                Value::Object(map) => {
                    let mut headers = BTreeMap::new();
                    if map.len() > MAX_HEADERS {
                        errors.push(problem(
                            field(name),
                            format!("at most {MAX_HEADERS} headers, got {}", map.len()),
                        ));
                    }
                    for (h, v) in map {
                        let at = format!("{prefix}{name}.{h}");
                        if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                            errors.push(problem(at, "is not a valid header name"));
                        } else if reserved_header(h) {
                            errors.push(problem(at, "is set by the relay itself"));
                        } else {
                            match v.as_str() {
                                Some(v) if http::HeaderValue::from_str(v).is_ok() => {
                                    headers.insert(h.to_ascii_lowercase(), v.to_owned());
                                }
                                Some(_) => errors.push(problem(at, "is not a valid header value")),
                                None => errors.push(problem(
                                    at,
                                    format!("expected a string, got {}", kind(v)),
                                )),
                            }
                        }
                    }
                    changes.headers = Some(headers);
                }
                other => errors.push(problem(
                    field(name),
                    format!("expected an object of header names to values, got {}", kind(other)),
                )),
            },
            "rate_limit" => match value {
                Value::Null => changes.rate_limit = Some(None),
                // 18.0 is a whole number too, as JSON Schema counts.
                Value::Number(n) => match n.as_u64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && (1.0..=MAX_RATE_LIMIT as f64).contains(f))
                        .map(|f| f as u64)
                }) {
                    Some(r) if (1..=MAX_RATE_LIMIT).contains(&r) => {
                        changes.rate_limit = Some(Some(r))
                    }
                    _ => errors.push(problem(
                        field(name),
                        format!(
                            "expected a whole number of requests per second from 1 to {MAX_RATE_LIMIT}, got {n}"
                        ),
                    )),
                },
                other => errors.push(problem(
                    field(name),
                    format!("expected requests per second (a number) or null, got {}", kind(other)),
                )),
            },
            "description" => match value {
                Value::Null => changes.description = Some(None),
                Value::String(s) if s.len() <= MAX_DESCRIPTION_LEN => {
                    changes.description = Some(Some(s.clone()))
                }
                Value::String(s) => errors.push(problem(
                    field(name),
                    format!("expected at most {MAX_DESCRIPTION_LEN} bytes, got {}", s.len()),
                )),
                other => errors.push(problem(
                    field(name),
                    format!("expected a string or null, got {}", kind(other)),
                )),
            },
            "disabled" => match value {
                Value::Bool(b) => changes.disabled = Some(*b),
                other => errors.push(problem(
                    field(name),
                    format!("expected true or false, got {}", kind(other)),
                )),
            },
            _ => errors.push(problem(field(name), "is not a field of an endpoint")),
        }
    }
    if purpose != Purpose::Update && !object.contains_key("url") {
        errors.push(problem(field("url"), "is required"));
    }
    changes
}

/// An absolute http(s) URL with a host, without credentials or a fragment.
pub fn check_url(text: &str) -> Result<(), String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("expected at most {MAX_URL_LEN} bytes"));
    }
    // The URL parser drops tabs and line breaks and trims spaces: what would be stored is
    // then not where deliveries go.
    if let Some(at) = text.find(|c: char| c.is_control() || c.is_whitespace()) {
        return Err(format!(
            "must not hold whitespace or control characters (one at byte {at}); percent-encode them"
        ));
    }
    let url = url::Url::parse(text).map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "expected an http:// or https:// URL, got scheme {:?}",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("expected a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not hold credentials; use headers instead".into());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment".into());
    }
    Ok(())
}

impl Changes {
    /// A new endpoint made of these changes (which hold a `url`: [`Purpose::Create`]
    /// requires one): its id and secret generated when not given.
    pub fn create(self, now: DateTime<Utc>) -> Result<Endpoint, rand::rngs::SysError> {
        let id = match self.id.clone() {
            Some(id) => id,
            None => new_id()?,
        };
        let secret = match self.secret.clone() {
            Some(secret) => secret,
            None => Secret::generate()?.to_whsec(),
        };
        let mut endpoint = Endpoint {
            id,
            name: None,
            url: String::new(),
            filter_types: Vec::new(),
            secret,
            previous_secrets: Vec::new(),
            headers: BTreeMap::new(),
            rate_limit: None,
            description: None,
            disabled: false,
            created_at: now,
            updated_at: now,
        };
        self.apply(&mut endpoint, now);
        Ok(endpoint)
    }

    /// Applies the changes to `endpoint` (the secret too, when one is given: a config
    /// file's secret is the endpoint's).
    pub fn apply(self, endpoint: &mut Endpoint, now: DateTime<Utc>) {
        if let Some(name) = self.name {
            endpoint.name = name;
        }
        if let Some(url) = self.url {
            endpoint.url = url;
        }
        if let Some(types) = self.filter_types {
            endpoint.filter_types = types;
        }
        if let Some(secret) = self.secret
            && secret != endpoint.secret
        {
            endpoint.secret = secret;
            endpoint.previous_secrets.clear();
        }
        if let Some(headers) = self.headers {
            endpoint.headers = headers;
        }
        if let Some(rate) = self.rate_limit {
            endpoint.rate_limit = rate;
        }
        if let Some(description) = self.description {
            endpoint.description = description;
        }
        if let Some(disabled) = self.disabled {
            endpoint.disabled = disabled;
        }
        endpoint.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn every_problem_of_a_document_is_listed_at_once() {
        let errors = read(
            &json!({
                "url": "ftp://x",
                "filter_types": ["a.*", 3, "[z"],
                "headers": {"webhook-id": "x", "bad header": "y", "x-ok": 1},
                "rate_limit": 0,
                "disabled": "no",
                "name": "has space",
                "id": "ep_1",
                "colour": "red",
                "secret": "whsec_c2hvcnQ="
            }),
            Purpose::Create,
            "",
        )
        .unwrap_err();
        let mut got = fields(&errors);
        got.sort();
        assert_eq!(
            got,
            [
                "colour",
                "disabled",
                "filter_types[1]",
                "filter_types[2]",
                "headers.bad header",
                "headers.webhook-id",
                "headers.x-ok",
                "id",
                "name",
                "rate_limit",
                "secret",
                "url"
            ]
        );
    }

    #[test]
    fn a_new_endpoint_gets_an_id_and_a_secret_and_needs_a_url() {
        let missing = read(&json!({}), Purpose::Create, "").unwrap_err();
        assert_eq!(fields(&missing), ["url"]);
        let changes = read(&json!({"url": "http://127.0.0.1:9/x"}), Purpose::Create, "").unwrap();
        let now = Utc::now();
        let endpoint = changes.create(now).unwrap();
        assert!(is_endpoint_id(&endpoint.id), "{}", endpoint.id);
        assert!(Secret::parse(&endpoint.secret).is_ok());
        assert!(endpoint.wants("anything"));
    }

    #[test]
    fn filters_match_exact_types_and_globs() {
        let changes = read(
            &json!({"url": "http://127.0.0.1:9/", "filter_types": ["invoice.paid", "user.*"]}),
            Purpose::Create,
            "",
        )
        .unwrap();
        let endpoint = changes.create(Utc::now()).unwrap();
        assert!(endpoint.wants("invoice.paid"));
        assert!(endpoint.wants("user.created"));
        assert!(!endpoint.wants("invoice.created"));
    }
}
