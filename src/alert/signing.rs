//! Webhook signatures: Standard Webhooks (spec 1.0.0) signing and verifying, and GitHub's
//! `X-Hub-Signature-256` verifying. HMAC-SHA256 from `hmac`/`sha2`, base64 from `base64`,
//! constant-time comparison from `subtle`. A [`Secret`] never shows its bytes in `Debug`
//! or `Display`; `send`, `serve`, the relay and the `sign`/`verify` subcommands all sign and
//! verify through this module.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use http::header::{HeaderMap, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header carrying the message id, the same on every attempt of one message.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix seconds of this attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// GitHub's header: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const HEADER_GITHUB: &str = "x-hub-signature-256";
/// The optional prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Bytes in a secret made by [`Secret::generate`].
pub const GENERATED_SECRET_BYTES: usize = 32;

/// Accepted decoded lengths of a `whsec_` secret (spec: 24 to 64 random bytes).
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// A signing key. Its bytes are shown only by [`Secret::to_whsec`], never by `Debug` or
/// `Display`, which print `whsec_***`.
#[derive(Clone)]
pub struct Secret(Arc<[u8]>);

/// Why a secret was refused. The messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("the secret is empty")]
    Empty,
    #[error("the secret is not valid base64 (expected whsec_ followed by base64)")]
    NotBase64,
    #[error("the secret decodes to {0} bytes; expected 24 to 64")]
    BadLength(usize),
}

impl Secret {
    /// Parses `whsec_<base64>` (the prefix is optional) as a Standard Webhooks secret.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let encoded = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let bytes = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if !SECRET_BYTES.contains(&bytes.len()) {
            return Err(SecretError::BadLength(bytes.len()));
        }
        Ok(Self(bytes.into()))
    }

    /// A secret used as it is written, as GitHub uses its webhook secrets.
    pub fn raw(text: &str) -> Result<Self, SecretError> {
        if text.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(text.as_bytes().into()))
    }

    /// A fresh secret of [`GENERATED_SECRET_BYTES`] bytes from the operating system's RNG.
    pub fn generate() -> Result<Self, rand::rngs::SysError> {
        use rand::TryRng as _;
        let mut bytes = [0u8; GENERATED_SECRET_BYTES];
        rand::rngs::SysRng.try_fill_bytes(&mut bytes)?;
        Ok(Self(bytes.as_slice().into()))
    }

    /// The secret written out as `whsec_<base64>`: only for handing a new secret to a person.
    pub fn to_whsec(&self) -> String {
        format!("{SECRET_PREFIX}{}", BASE64.encode(&self.0))
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes keys of any length")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_***")
    }
}

/// A `webhook-id`: non-empty visible ASCII without `.` (which separates the signed parts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a message id must be non-empty visible ASCII without '.', got {0:?}")]
pub struct InvalidMessageId(pub String);

impl MessageId {
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidMessageId> {
        let id = id.into();
        let fine = !id.is_empty() && id.bytes().all(|b| b.is_ascii_graphic() && b != b'.');
        if fine {
            Ok(Self(id))
        } else {
            Err(InvalidMessageId(id))
        }
    }

    /// The id `hookrelay` gives an event by default: `evt_<event_id>`.
    pub fn for_event(event_id: i64) -> Self {
        // Built by hand: `format!` costs several times more, once per delivery attempt.
        let mut id = String::with_capacity(24);
        id.push_str("evt_");
        id.push_str(itoa::Buffer::new().format(event_id));
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The bytes a Standard Webhooks signature covers: `{id}.{timestamp}.{body}`.
pub fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}

fn standard_mac(secret: &Secret, content: &[u8]) -> [u8; 32] {
    let mut mac = secret.mac();
    mac.update(content);
    mac.finalize().into_bytes().into()
}

/// The `webhook-signature` value: one `v1,<base64>` per secret, separated by spaces.
pub fn sign(secrets: &[Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = signed_content(msg_id, timestamp, body);
    secrets
        .iter()
        .map(|secret| format!("v1,{}", BASE64.encode(standard_mac(secret, &content))))
        .collect::<Vec<_>>()
        .join(" ")
}

/// GitHub's `X-Hub-Signature-256` value for `body`: `sha256=<lowercase hex>`.
pub fn github_signature(secret: &Secret, body: &[u8]) -> String {
    let mut mac = secret.mac();
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// Unix seconds now.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Signs outbound deliveries: the clean hook point for `send` and the relay. Call
/// [`Signer::headers`] once per attempt: each gets a fresh timestamp and signature, while
/// the caller keeps the same [`MessageId`] for every attempt of one message.
#[derive(Debug, Clone)]
pub struct Signer {
    secrets: Arc<[Secret]>,
}

impl Signer {
    /// `None` without secrets: nothing to sign with.
    pub fn new(secrets: Vec<Secret>) -> Option<Self> {
        (!secrets.is_empty()).then(|| Self {
            secrets: secrets.into(),
        })
    }

    /// `webhook-id`, `webhook-timestamp` (now) and `webhook-signature` for one attempt.
    pub fn headers(&self, id: &MessageId, body: &[u8]) -> HeaderMap {
        self.headers_at(id, now_unix(), body)
    }

    /// The same, at a given timestamp.
    pub fn headers_at(&self, id: &MessageId, timestamp: i64, body: &[u8]) -> HeaderMap {
        let signature = sign(&self.secrets, id.as_str(), timestamp, body);
        let mut headers = HeaderMap::new();
        let value = |text: &str| HeaderValue::from_str(text).expect("ASCII by construction");
        headers.insert(HEADER_ID, value(id.as_str()));
        headers.insert(HEADER_TIMESTAMP, HeaderValue::from(timestamp));
        headers.insert(HEADER_SIGNATURE, value(&signature));
        headers
    }
}

/// How far a `webhook-timestamp` may be from now, either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// No check (for tests and replays of recorded deliveries).
    Off,
    Within(Duration),
}

impl Default for Tolerance {
    /// Five minutes, as the specification recommends.
    fn default() -> Self {
        Tolerance::Within(Duration::from_secs(5 * 60))
    }
}

/// Why a request failed verification. [`VerifyError::reason`] is the stable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("webhook-timestamp must be integer unix seconds, got {0:?}")]
    BadTimestamp(String),
    #[error("webhook-timestamp is {age}s in the past, beyond the tolerance of {tolerance}s")]
    TimestampTooOld { age: u64, tolerance: u64 },
    #[error("webhook-timestamp is {ahead}s in the future, beyond the tolerance of {tolerance}s")]
    TimestampTooNew { ahead: u64, tolerance: u64 },
    #[error("no signature matches the body and any of the secrets")]
    NoMatchingSignature,
}

impl VerifyError {
    /// One of `missing_header`, `bad_timestamp`, `timestamp_too_old`, `timestamp_too_new`,
    /// `no_matching_signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) => "missing_header",
            VerifyError::BadTimestamp(_) => "bad_timestamp",
            VerifyError::TimestampTooOld { .. } => "timestamp_too_old",
            VerifyError::TimestampTooNew { .. } => "timestamp_too_new",
            VerifyError::NoMatchingSignature => "no_matching_signature",
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Verifies a Standard Webhooks request against its headers, at the current time.
pub fn verify_standard(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Tolerance,
) -> Result<(), VerifyError> {
    let id = header(headers, HEADER_ID)?;
    let timestamp = header(headers, HEADER_TIMESTAMP)?;
    let signatures = header(headers, HEADER_SIGNATURE)?;
    verify_standard_parts(
        secrets,
        id,
        timestamp,
        signatures,
        body,
        tolerance,
        now_unix(),
    )
}

/// Parses a `webhook-timestamp`: ASCII digits, unix seconds.
pub fn parse_timestamp(text: &str) -> Result<i64, VerifyError> {
    let digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| text.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| VerifyError::BadTimestamp(text.chars().take(40).collect()))
}

/// Checks `timestamp` against `now` within `tolerance`.
pub fn check_timestamp(timestamp: i64, now: i64, tolerance: Tolerance) -> Result<(), VerifyError> {
    let Tolerance::Within(limit) = tolerance else {
        return Ok(());
    };
    let limit = limit.as_secs();
    let diff = i128::from(now) - i128::from(timestamp);
    let off = u64::try_from(diff.unsigned_abs()).unwrap_or(u64::MAX);
    match (diff > 0, off > limit) {
        (_, false) => Ok(()),
        (true, true) => Err(VerifyError::TimestampTooOld {
            age: off,
            tolerance: limit,
        }),
        (false, true) => Err(VerifyError::TimestampTooNew {
            ahead: off,
            tolerance: limit,
        }),
    }
}

/// Verifies the three Standard Webhooks values as `now` sees them: the timestamp first, then
/// the signatures. Accepts when any `v1` entry matches any secret; other versions are ignored.
pub fn verify_standard_parts(
    secrets: &[Secret],
    msg_id: &str,
    timestamp: &str,
    signatures: &str,
    body: &[u8],
    tolerance: Tolerance,
    now: i64,
) -> Result<(), VerifyError> {
    let timestamp = parse_timestamp(timestamp.trim())?;
    check_timestamp(timestamp, now, tolerance)?;
    let content = signed_content(msg_id, timestamp, body);
    let expected: Vec<[u8; 32]> = secrets.iter().map(|s| standard_mac(s, &content)).collect();
    let received = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| BASE64.decode(b64).ok());
    for given in received {
        // Every expected value is compared, so timing does not tell which secret matched.
        let matched = expected.iter().fold(subtle::Choice::from(0), |any, e| {
            any | e.as_slice().ct_eq(&given)
        });
        if bool::from(matched) {
            return Ok(());
        }
    }
    Err(VerifyError::NoMatchingSignature)
}

/// Verifies GitHub's `X-Hub-Signature-256` header against any of `secrets` (used raw).
pub fn verify_github(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    let given = header(headers, HEADER_GITHUB)?.to_ascii_lowercase();
    let matched = secrets.iter().fold(subtle::Choice::from(0), |any, secret| {
        any | github_signature(secret, body)
            .as_bytes()
            .ct_eq(given.as_bytes())
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

#[cfg(test)]
mod tests;
