//! The request headers an event keeps ([`Headers`]), encoded compactly: every store holds
//! them as one byte string, so that keeping them costs a stored event few bytes.
//!
//! Encoding (stored as is by SQLite and PostgreSQL, so it only ever grows): one flags byte
//! (bit 0: truncated), then per header a name tag, a value length and the value. A name tag
//! is a LEB128 number: odd is a well-known name (`(tag - 1) / 2` indexes `KNOWN`), even is
//! a literal name of `tag / 2` bytes that follows. Lengths are LEB128 too.

use std::fmt;

use axum::http::{HeaderMap, HeaderName, header};

/// The most header bytes (names and values, as encoded) an event keeps: 16 KiB.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What a redacted value reads as.
pub const REDACTED: &str = "[redacted]";

/// Names written as one byte. Append only: stored events refer to them by position.
const KNOWN: &[&str] = &[
    "host",
    "content-type",
    "content-length",
    "user-agent",
    "accept",
    "accept-encoding",
    "connection",
    "authorization",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-request-id",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "x-hub-signature-256",
    "x-hub-signature",
    "x-github-event",
    "x-github-delivery",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "stripe-signature",
    "x-shopify-topic",
    "x-shopify-hmac-sha256",
    "x-shopify-shop-domain",
    "x-shopify-webhook-id",
    "x-shopify-api-version",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "traceparent",
    "proxy-authorization",
    "expect",
    "transfer-encoding",
];

const TRUNCATED: u8 = 1;

/// The headers of a request as received: names (lower case, as HTTP/2 and hyper give them)
/// and values in the order they came, repeated names grouped at their first place;
/// bounded to [`MAX_HEADER_BYTES`]; the values of `Authorization`, `Cookie` and
/// `Proxy-Authorization` replaced by [`REDACTED`] unless kept on purpose. One byte string
/// (empty: no headers at all), as written: not shrunk to fit, since it lives only until a
/// store has copied or written it out, and shrinking is a reallocation and a copy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<u8>);

impl Headers {
    /// Captures `map`: in order, redacting secret values unless `keep_secrets`, and keeping
    /// only the headers that fit in [`MAX_HEADER_BYTES`] (then [`Headers::truncated`]).
    pub fn capture(map: &HeaderMap, keep_secrets: bool) -> Self {
        // A bound of the encoding's size first, from the lengths alone (no name looked up,
        // no value redacted): under the limit, as nearly every request is, the headers are
        // all kept and written in one pass.
        let mut bound = 1;
        for (name, value) in map {
            bound += name.as_str().len() + value.len().max(REDACTED.len()) + 2 * MAX_VARINT;
        }
        if bound <= MAX_HEADER_BYTES + 1 {
            let mut out = Vec::with_capacity(bound);
            out.push(0);
            for (name, value) in map {
                write_entry(&mut out, name, value.as_bytes(), keep_secrets);
            }
            return Self(out);
        }
        // Near the limit: sized exactly, to know where to stop.
        let mut size = 1;
        let mut kept = 0;
        let mut truncated = false;
        for (name, value) in map {
            let value = shown(name, value.as_bytes(), keep_secrets);
            let n = name_size(name.as_str()) + varint_size(value.len()) + value.len();
            if size + n > MAX_HEADER_BYTES + 1 {
                truncated = true;
                break;
            }
            size += n;
            kept += 1;
        }
        let mut out = Vec::with_capacity(size);
        out.push(if truncated { TRUNCATED } else { 0 });
        for (name, value) in map.iter().take(kept) {
            write_entry(&mut out, name, value.as_bytes(), keep_secrets);
        }
        Self(out)
    }

    /// Headers from pairs, in order (for tests and tools; no redaction, no bound).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut out = vec![0];
        for (name, value) in pairs {
            write_name(&mut out, &name.to_ascii_lowercase());
            write_varint(&mut out, value.len());
            out.extend_from_slice(value);
        }
        Self(out)
    }

    /// The encoded form, as a store keeps it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Headers from their encoded form as a store kept it; `None` when it is not one.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Option<Self> {
        let headers = Self(bytes.into());
        let whole = headers.raw_iter().all(|entry| entry.is_some());
        whole.then_some(headers)
    }

    /// Whether headers were left out to stay within [`MAX_HEADER_BYTES`].
    pub fn truncated(&self) -> bool {
        self.0.first().is_some_and(|f| f & TRUNCATED != 0)
    }

    /// Whether no header is kept.
    pub fn is_empty(&self) -> bool {
        self.0.len() <= 1
    }

    /// `(name, value)` in the order received.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        self.raw_iter().map_while(|entry| entry)
    }

    fn raw_iter(&self) -> impl Iterator<Item = Option<(&str, &[u8])>> + '_ {
        let mut rest = self.0.get(1..).unwrap_or(&[]);
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            let entry = read_entry(&mut rest);
            if entry.is_none() {
                rest = &[];
            }
            Some(entry)
        })
    }
}

/// One header of [`Headers::as_bytes`], with its bytes as encoded: for a store that keeps
/// headers in a form of its own and writes them back with [`encode_entry`].
pub struct RawEntry<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
    pub encoded: &'a [u8],
}

impl Headers {
    /// The flags byte of the encoding (0 for no headers at all).
    pub fn flags(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    /// Each header in order with its encoded bytes (stops at a damaged entry).
    pub fn entries(&self) -> impl Iterator<Item = RawEntry<'_>> + '_ {
        let mut rest = self.0.get(1..).unwrap_or(&[]);
        std::iter::from_fn(move || {
            let before = rest;
            let (name, value) = read_entry(&mut rest)?;
            let encoded = &before[..before.len() - rest.len()];
            Some(RawEntry {
                name,
                value,
                encoded,
            })
        })
    }
}

/// The header names (lower case) that a request's `Connection` headers name: headers for
/// that hop alone, which are not passed on (RFC 9110, 7.6.1).
pub fn named_by_connection<'a>(
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<String> {
    headers
        .into_iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| {
            String::from_utf8_lossy(value)
                .split(',')
                .map(|token| token.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Appends one header, encoded as in [`Headers::as_bytes`]; `name` in lower case.
pub fn encode_entry(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    write_name(out, name);
    write_varint(out, value.len());
    out.extend_from_slice(value);
}

/// Takes one encoded header from the front of `rest`: its encoded bytes.
pub fn split_entry<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let before = *rest;
    read_entry(rest)?;
    Some(&before[..before.len() - rest.len()])
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(
                self.iter()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v).into_owned())),
            )
            .finish()
    }
}

/// The value as kept: secret ones redacted unless `keep_secrets`.
fn shown<'a>(name: &HeaderName, value: &'a [u8], keep_secrets: bool) -> &'a [u8] {
    let secret = *name == header::AUTHORIZATION
        || *name == header::COOKIE
        || *name == header::PROXY_AUTHORIZATION;
    if secret && !keep_secrets {
        REDACTED.as_bytes()
    } else {
        value
    }
}

/// The position of `name` in [`KNOWN`]: a `match`, which the compiler turns into a test
/// of the length and a few comparisons, where a search of the list compared every name.
fn known(name: &str) -> Option<usize> {
    Some(match name {
        "host" => 0,
        "content-type" => 1,
        "content-length" => 2,
        "user-agent" => 3,
        "accept" => 4,
        "accept-encoding" => 5,
        "connection" => 6,
        "authorization" => 7,
        "cookie" => 8,
        "x-forwarded-for" => 9,
        "x-forwarded-proto" => 10,
        "x-request-id" => 11,
        "webhook-id" => 12,
        "webhook-timestamp" => 13,
        "webhook-signature" => 14,
        "svix-id" => 15,
        "svix-timestamp" => 16,
        "svix-signature" => 17,
        "x-hub-signature-256" => 18,
        "x-hub-signature" => 19,
        "x-github-event" => 20,
        "x-github-delivery" => 21,
        "x-github-hook-id" => 22,
        "x-github-hook-installation-target-id" => 23,
        "x-github-hook-installation-target-type" => 24,
        "stripe-signature" => 25,
        "x-shopify-topic" => 26,
        "x-shopify-hmac-sha256" => 27,
        "x-shopify-shop-domain" => 28,
        "x-shopify-webhook-id" => 29,
        "x-shopify-api-version" => 30,
        "x-slack-signature" => 31,
        "x-slack-request-timestamp" => 32,
        "traceparent" => 33,
        "proxy-authorization" => 34,
        "expect" => 35,
        "transfer-encoding" => 36,
        _ => return None,
    })
}

fn name_size(name: &str) -> usize {
    match known(name) {
        Some(i) => varint_size(2 * i + 1),
        None => varint_size(2 * name.len()) + name.len(),
    }
}

/// The most bytes a LEB128 `usize` takes.
const MAX_VARINT: usize = usize::BITS.div_ceil(7) as usize;

fn write_entry(out: &mut Vec<u8>, name: &HeaderName, value: &[u8], keep_secrets: bool) {
    let value = shown(name, value, keep_secrets);
    write_name(out, name.as_str());
    write_varint(out, value.len());
    out.extend_from_slice(value);
}

fn write_name(out: &mut Vec<u8>, name: &str) {
    match known(name) {
        Some(i) => write_varint(out, 2 * i + 1),
        None => {
            write_varint(out, 2 * name.len());
            out.extend_from_slice(name.as_bytes());
        }
    }
}

fn read_entry<'a>(rest: &mut &'a [u8]) -> Option<(&'a str, &'a [u8])> {
    let tag = read_varint(rest)?;
    let name = if tag % 2 == 1 {
        *KNOWN.get((tag - 1) / 2)?
    } else {
        let bytes = take(rest, tag / 2)?;
        std::str::from_utf8(bytes).ok()?
    };
    let len = read_varint(rest)?;
    let value = take(rest, len)?;
    Some((name, value))
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if rest.len() < n {
        return None;
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Some(head)
}

/// The bytes [`write_varint`] takes for `n`.
pub(crate) fn varint_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

/// Appends `n` as LEB128: seven bits a byte, low bits first, the high bit set on every
/// byte but the last. The encoded headers and the memory store's log both use it.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Reads what [`write_varint`] wrote from the front of `rest`, moving past it; `None` when
/// `rest` ends first or the number does not fit.
pub(crate) fn read_varint(rest: &mut &[u8]) -> Option<usize> {
    let mut n: usize = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, tail) = rest.split_first()?;
        *rest = tail;
        n |= usize::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn pairs(h: &Headers) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    #[test]
    fn headers_come_back_in_order_with_secrets_redacted() {
        let m = map(&[
            ("Host", "127.0.0.1:5000"),
            ("X-Custom-Thing", "a"),
            ("Authorization", "Bearer s3cret"),
            ("content-type", "application/json"),
            ("cookie", "id=1"),
            ("proxy-authorization", "Basic eA=="),
        ]);
        let h = Headers::capture(&m, false);
        assert_eq!(
            pairs(&h),
            [
                ("host", "127.0.0.1:5000"),
                ("x-custom-thing", "a"),
                ("authorization", REDACTED),
                ("content-type", "application/json"),
                ("cookie", REDACTED),
                ("proxy-authorization", REDACTED),
            ]
            .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        assert!(!h.truncated());
        let kept = Headers::capture(&m, true);
        assert_eq!(pairs(&kept)[2].1, "Bearer s3cret");
        assert_eq!(Headers::from_bytes(h.as_bytes().to_vec()), Some(h));
    }

    #[test]
    fn repeated_names_keep_every_value() {
        let h = Headers::capture(&map(&[("x-a", "1"), ("x-a", "2")]), false);
        assert_eq!(pairs(&h).len(), 2);
        assert_eq!(pairs(&h)[1].1, "2");
    }

    #[test]
    fn over_the_bound_what_fits_is_kept_and_truncation_said() {
        let big = "v".repeat(1000);
        let names: Vec<String> = (0..20).map(|i| format!("x-big-{i}")).collect();
        let m = map(&names
            .iter()
            .map(|n| (n.as_str(), big.as_str()))
            .collect::<Vec<_>>());
        let h = Headers::capture(&m, false);
        assert!(h.truncated());
        assert!(h.as_bytes().len() <= MAX_HEADER_BYTES + 1);
        assert_eq!(pairs(&h).len(), 16);
        assert_eq!(pairs(&h)[0].0, "x-big-0");
    }

    #[test]
    fn well_known_names_take_one_byte() {
        let h = Headers::capture(
            &map(&[("host", "h"), ("content-type", "application/json")]),
            false,
        );
        assert_eq!(h.as_bytes().len(), 1 + (1 + 1 + 1) + (1 + 1 + 16));
    }

    #[test]
    fn every_well_known_name_is_found_at_its_place() {
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(known(name), Some(i), "{name}");
        }
        assert_eq!(known("x-unknown"), None);
    }

    #[test]
    fn a_damaged_encoding_is_refused() {
        assert_eq!(Headers::from_bytes(vec![0, 0x80]), None);
        assert_eq!(Headers::from_bytes(vec![0, 4, b'a']), None);
        assert!(Headers::from_bytes(Vec::new()).unwrap().is_empty());
    }
}
