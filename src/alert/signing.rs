//! Webhook signatures: Standard Webhooks (spec 1.0.0) and GitHub's `X-Hub-Signature-256`
//! here, Stripe's, Shopify's and Slack's in `signing/providers.rs`, each for signing and
//! verifying. HMAC-SHA256 from `hmac`/`sha2`, base64 from `base64`, constant-time
//! comparison from `subtle`. `send`, `serve`, the relay and the `sign`/`verify` subcommands
//! all sign and verify through this module: the keys ([`Secret`]) are in
//! `signing/secret.rs`, the checks of inbound requests in `signing/verify.rs`.

mod providers;
mod secret;
mod verify;

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac;
use http::header::{HeaderMap, HeaderValue};

pub use providers::{
    HEADER_SHOPIFY, HEADER_SLACK, HEADER_SLACK_TIMESTAMP, HEADER_STRIPE, hex, shopify_signature,
    slack_signature, stripe_signature, verify_shopify, verify_slack, verify_slack_at,
    verify_stripe, verify_stripe_at,
};
pub use secret::{GENERATED_SECRET_BYTES, SECRET_PREFIX, Secret, SecretError};
pub use verify::{
    SVIX_HEADERS, Tolerance, VerifyError, check_timestamp, header_names, message_id,
    parse_timestamp, verify_github, verify_standard, verify_standard_parts, visible_ascii,
};

/// Header carrying the message id, the same on every attempt of one message.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the unix seconds of this attempt.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";
/// GitHub's header: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const HEADER_GITHUB: &str = "x-hub-signature-256";

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
        // Built by hand rather than with `format!`: this runs once per delivery attempt, and the
        // difference shows in the relay's instruction counts (`benches/README.md`).
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
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
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

    /// The secrets it signs with, in order.
    pub fn secrets(&self) -> &[Secret] {
        &self.secrets
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

#[cfg(test)]
mod tests;
