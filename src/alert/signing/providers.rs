//! The signature schemes of Stripe (`Stripe-Signature: t=…,v1=<hex>` over `{t}.{body}`),
//! Shopify (`X-Shopify-Hmac-Sha256: <base64>` over the body) and Slack
//! (`X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`, with
//! `X-Slack-Request-Timestamp`): signing, for `send --as`, and verifying, for
//! `serve --source`. Each is HMAC-SHA256 with the secret used as written, compared in
//! constant time against every secret.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use http::header::HeaderMap;

use super::verify::{any_equal, any_equal_hex, header, mac_of};
use super::{Secret, Tolerance, VerifyError, check_timestamp, now_unix, parse_timestamp};

/// Stripe's header: `t=<unix seconds>,v1=<hex>` (several `v1` while a secret is rolled).
pub const HEADER_STRIPE: &str = "stripe-signature";
/// Shopify's header: base64 of HMAC-SHA256 over the body.
pub const HEADER_SHOPIFY: &str = "x-shopify-hmac-sha256";
/// Slack's header: `v0=<hex>`.
pub const HEADER_SLACK: &str = "x-slack-signature";
/// Slack's timestamp header, unix seconds.
pub const HEADER_SLACK_TIMESTAMP: &str = "x-slack-request-timestamp";

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The `Stripe-Signature` value for `body` sent at `timestamp`: one `v1` entry per secret,
/// as Stripe sends while an endpoint's secret is being rolled.
pub fn stripe_signature(secrets: &[Secret], timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mut header = format!("t={t}");
    for secret in secrets {
        let mac = mac_of(secret, &[t.as_bytes(), b".", body]);
        header.push_str(",v1=");
        header.push_str(&hex(&mac));
    }
    header
}

/// Verifies `Stripe-Signature` at the current time: its `t` within `tolerance`, then any
/// `v1` entry against any secret.
pub fn verify_stripe(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Tolerance,
) -> Result<(), VerifyError> {
    verify_stripe_at(
        secrets,
        header(headers, HEADER_STRIPE)?,
        body,
        tolerance,
        now_unix(),
    )
}

/// [`verify_stripe`] of a header value as `now` sees it.
pub fn verify_stripe_at(
    secrets: &[Secret],
    value: &str,
    body: &[u8],
    tolerance: Tolerance,
    now: i64,
) -> Result<(), VerifyError> {
    let entries = || value.split(',').filter_map(|kv| kv.trim().split_once('='));
    let Some((_, t)) = entries().find(|(k, _)| *k == "t") else {
        return Err(VerifyError::MalformedHeader {
            header: HEADER_STRIPE,
            problem: "it has no t= entry; expected t=<unix seconds>,v1=<hex signature>",
        });
    };
    let in_header = |e: VerifyError| e.in_header("stripe-signature t=");
    let timestamp = parse_timestamp(t.trim()).map_err(in_header)?;
    check_timestamp(timestamp, now, tolerance).map_err(in_header)?;
    let t = timestamp.to_string();
    let expected: Vec<[u8; 32]> = secrets
        .iter()
        .map(|s| mac_of(s, &[t.as_bytes(), b".", body]))
        .collect();
    let matched = entries()
        .filter(|(k, _)| *k == "v1")
        .any(|(_, v)| any_equal_hex(&expected, v.trim()));
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The `X-Shopify-Hmac-Sha256` value for `body`.
pub fn shopify_signature(secret: &Secret, body: &[u8]) -> String {
    BASE64.encode(mac_of(secret, &[body]))
}

/// Verifies `X-Shopify-Hmac-Sha256` against any secret. Shopify's scheme has no timestamp.
pub fn verify_shopify(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    let given = header(headers, HEADER_SHOPIFY)?;
    let Ok(given) = BASE64.decode(given) else {
        return Err(VerifyError::NoMatchingSignature);
    };
    let expected: Vec<[u8; 32]> = secrets.iter().map(|s| mac_of(s, &[body])).collect();
    if any_equal(&expected, &given) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The `X-Slack-Signature` value for `body` sent at `timestamp`.
pub fn slack_signature(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let t = timestamp.to_string();
    let mac = mac_of(secret, &[b"v0:", t.as_bytes(), b":", body]);
    format!("v0={}", hex(&mac))
}

/// Verifies `X-Slack-Signature` with `X-Slack-Request-Timestamp` at the current time.
pub fn verify_slack(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Tolerance,
) -> Result<(), VerifyError> {
    let timestamp = header(headers, HEADER_SLACK_TIMESTAMP)?;
    let signature = header(headers, HEADER_SLACK)?;
    verify_slack_at(secrets, timestamp, signature, body, tolerance, now_unix())
}

/// [`verify_slack`] of the two header values as `now` sees them.
pub fn verify_slack_at(
    secrets: &[Secret],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    tolerance: Tolerance,
    now: i64,
) -> Result<(), VerifyError> {
    let in_header = |e: VerifyError| e.in_header(HEADER_SLACK_TIMESTAMP);
    let timestamp = parse_timestamp(timestamp.trim()).map_err(in_header)?;
    check_timestamp(timestamp, now, tolerance).map_err(in_header)?;
    let t = timestamp.to_string();
    let expected: Vec<[u8; 32]> = secrets
        .iter()
        .map(|s| mac_of(s, &[b"v0:", t.as_bytes(), b":", body]))
        .collect();
    let matched = signature
        .trim()
        .strip_prefix("v0=")
        .is_some_and(|given| any_equal_hex(&expected, given));
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}
