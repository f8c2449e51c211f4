//! Verifying inbound signatures: Standard Webhooks (timestamp within a tolerance, then any
//! `v1` signature against any secret, compared in constant time) and GitHub's
//! `X-Hub-Signature-256`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::Mac as _;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use subtle::ConstantTimeEq;

use super::{
    HEADER_GITHUB, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Secret, now_unix, signed_content,
    standard_mac,
};

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
    /// The header is there without a part the scheme needs (Stripe's `t=`); its reason is
    /// `missing_header`, as the part is.
    #[error("the {header} header is malformed: {problem}")]
    MalformedHeader {
        header: &'static str,
        problem: &'static str,
    },
    #[error("{header} must be integer unix seconds, got {got:?}")]
    BadTimestamp { header: &'static str, got: String },
    #[error("{header} is {age}s in the past, beyond the tolerance of {tolerance}s")]
    TimestampTooOld {
        header: &'static str,
        age: u64,
        tolerance: u64,
    },
    #[error("{header} is {ahead}s in the future, beyond the tolerance of {tolerance}s")]
    TimestampTooNew {
        header: &'static str,
        ahead: u64,
        tolerance: u64,
    },
    #[error("no signature matches the body and any of the secrets")]
    NoMatchingSignature,
}

impl VerifyError {
    /// One of `missing_header`, `bad_timestamp`, `timestamp_too_old`, `timestamp_too_new`,
    /// `no_matching_signature`.
    pub fn reason(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader(_) | VerifyError::MalformedHeader { .. } => "missing_header",
            VerifyError::BadTimestamp { .. } => "bad_timestamp",
            VerifyError::TimestampTooOld { .. } => "timestamp_too_old",
            VerifyError::TimestampTooNew { .. } => "timestamp_too_new",
            VerifyError::NoMatchingSignature => "no_matching_signature",
        }
    }

    /// The same error naming `header` as where the timestamp came from.
    pub fn in_header(self, name: &'static str) -> Self {
        match self {
            VerifyError::BadTimestamp { got, .. } => {
                VerifyError::BadTimestamp { header: name, got }
            }
            VerifyError::TimestampTooOld { age, tolerance, .. } => VerifyError::TimestampTooOld {
                header: name,
                age,
                tolerance,
            },
            VerifyError::TimestampTooNew {
                ahead, tolerance, ..
            } => VerifyError::TimestampTooNew {
                header: name,
                ahead,
                tolerance,
            },
            other => other,
        }
    }
}

pub(super) fn header<'a>(
    headers: &'a HeaderMap,
    name: &'static str,
) -> Result<&'a str, VerifyError> {
    present(headers.get(name), name)
}

/// [`header`] by a name made once: looking a header up by `&str` parses the name on every
/// request.
pub(super) fn header_named<'a>(
    headers: &'a HeaderMap,
    name: &'static HeaderName,
) -> Result<&'a str, VerifyError> {
    present(headers.get(name), name.as_str())
}

/// A header's value, trimmed, when it is there, readable and not blank.
fn present<'a>(value: Option<&'a HeaderValue>, name: &'static str) -> Result<&'a str, VerifyError> {
    value
        .and_then(|v| visible_ascii(v.as_bytes()).or_else(|| v.to_str().ok()))
        .map(str::trim_ascii)
        .filter(|v| !v.is_empty())
        .ok_or(VerifyError::MissingHeader(name))
}

/// Svix's names for the same three headers, which Svix-based senders send.
pub const SVIX_HEADERS: [&str; 3] = ["svix-id", "svix-timestamp", "svix-signature"];

/// The names a request's Standard Webhooks headers go by: `webhook-id`, `webhook-timestamp`,
/// `webhook-signature`, or Svix's `svix-*` when the request has none of the former but one
/// of the latter. One family is read as a whole, never a mix.
pub fn header_names(headers: &HeaderMap) -> [&'static str; 3] {
    let standard = [HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE];
    let has_any = |names: &[&str; 3]| names.iter().any(|n| headers.contains_key(*n));
    if !has_any(&standard) && has_any(&SVIX_HEADERS) {
        SVIX_HEADERS
    } else {
        standard
    }
}

/// The message id [`verify_standard`] reads: `webhook-id`, or `svix-id` (see
/// [`header_names`]).
pub fn message_id(headers: &HeaderMap) -> Option<&str> {
    header(headers, header_names(headers)[0]).ok()
}

/// Verifies a Standard Webhooks request against its headers (either family of
/// [`header_names`]), at the current time.
pub fn verify_standard(
    secrets: &[Secret],
    headers: &HeaderMap,
    body: &[u8],
    tolerance: Tolerance,
) -> Result<(), VerifyError> {
    let [id, timestamp, signatures] = header_names(headers);
    let id = header(headers, id)?;
    let timestamp = header(headers, timestamp)?;
    let signatures = header(headers, signatures)?;
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
        .ok_or_else(|| VerifyError::BadTimestamp {
            header: HEADER_TIMESTAMP,
            got: text.chars().take(40).collect(),
        })
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
            header: HEADER_TIMESTAMP,
            age: off,
            tolerance: limit,
        }),
        (false, true) => Err(VerifyError::TimestampTooNew {
            header: HEADER_TIMESTAMP,
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
    static NAME: HeaderName = HeaderName::from_static(HEADER_GITHUB);
    let given = header_named(headers, &NAME)?;
    let given = given
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256="))
        .map(|_| &given[7..]);
    let Some(given) = given.and_then(decode_hex_32) else {
        return Err(VerifyError::NoMatchingSignature);
    };
    // Every secret is tried, so timing does not tell which one matched.
    let matched = secrets.iter().fold(subtle::Choice::from(0), |any, s| {
        let mac = mac_of(s, &[body]);
        // One difference byte for the whole MAC, compared once.
        let diff = mac.iter().zip(&given).fold(0u8, |d, (a, b)| d | (a ^ b));
        any | diff.ct_eq(&0)
    });
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `secret`.
pub(super) fn mac_of(secret: &Secret, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = secret.mac();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `given` equals any of `expected`; every one is compared, so timing does not
/// tell which secret matched.
pub(super) fn any_equal(expected: &[[u8; 32]], given: &[u8]) -> bool {
    let matched = expected.iter().fold(subtle::Choice::from(0), |any, e| {
        any | e.as_slice().ct_eq(given)
    });
    bool::from(matched)
}

/// Whether the hex text `given` spells any of the `expected` MACs (either case).
pub(super) fn any_equal_hex(expected: &[[u8; 32]], given: &str) -> bool {
    decode_hex_32(given).is_some_and(|bytes| any_equal(expected, &bytes))
}

/// The 32 bytes 64 hex digits (either case) spell, or `None`.
fn decode_hex_32(given: &str) -> Option<[u8; 32]> {
    let text: &[u8; 64] = given.as_bytes().try_into().ok()?;
    // Every digit looked up in a table, without a branch; a byte that is no digit marks
    // `bad` with the table's 0xff, judged once at the end.
    let mut bad = 0u8;
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (
            HEX_DIGIT[usize::from(pair[0])],
            HEX_DIGIT[usize::from(pair[1])],
        );
        bad |= high | low;
        *byte = (high << 4) | low;
    }
    (bad < 16).then_some(bytes)
}

/// The value of each hex digit (either case); 0xff for every other byte.
static HEX_DIGIT: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// `bytes` as text when every byte is visible ASCII (a space up to `~`), which nearly every
/// header value is: checked eight bytes at a time, where `HeaderValue::to_str` checks one
/// at a time. `None` for anything else (a tab, a control byte, obs-text), which the caller
/// reads the slower way.
pub fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Some byte below 0x20, or above 0x7e (the high bit set by adding 1, or already set).
    let outside = |w: u64| {
        let below = w.wrapping_sub(ONES * 0x20) & !w;
        let above = w.wrapping_add(ONES) | w;
        (below | above) & HIGH != 0
    };
    if crate::words::any_word(bytes, b'a', outside) {
        return None;
    }
    // SAFETY: every byte is ASCII (0x20 to 0x7e, checked above), and ASCII is UTF-8.
    Some(unsafe { std::str::from_utf8_unchecked(bytes) })
}
