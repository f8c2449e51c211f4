//! An event's `event` frame written straight into the stream's buffer: the JSON of
//! `GET /events/{event_id}` byte for byte (the view in `handlers/events.rs`, serialized by
//! serde), without building the view. The stored body goes in as it is when it is known to
//! be JSON (every body the model's one pass takes, and every body the model judged), the
//! time from a cached date and second, the strings escaped as `serde_json` escapes them.
//! A stream renders every event once, so this is the whole per-event cost of the streams.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::model::{self, Invalid};
use crate::server::store::{Headers, Signature, StoredEvent};

/// What the frame of an event is made of, borrowed from wherever the event is.
pub struct EventParts<'a> {
    pub seq: u64,
    /// `None`: the model's id `evt_<event_id>`.
    pub id: Option<&'a str>,
    pub event_id: Option<i64>,
    pub event_type: &'a str,
    /// Microseconds since the Unix epoch, as a store keeps them.
    pub received_micros: i64,
    pub body: &'a [u8],
    pub headers: &'a Headers,
    pub signature: Option<Signature>,
    /// The model's `timestamp` and `description` in `body` when the request found them in
    /// one pass ([`model::Received::plain`]); `None` reads the body again.
    pub plain: Option<(&'a str, &'a str)>,
}

impl<'a> EventParts<'a> {
    pub fn of(stored: &'a StoredEvent) -> Self {
        Self {
            seq: stored.seq,
            id: Some(&stored.id),
            event_id: stored.event_id,
            event_type: &stored.event_type,
            received_micros: stored.received_at.timestamp_micros(),
            body: &stored.body,
            headers: &stored.headers,
            signature: stored.signature,
            plain: None,
        }
    }
}

/// The date and time of one second, `2023-11-14T22:13:20`, kept for the next event: the
/// events of a stream mostly arrive within the same second.
#[derive(Default)]
pub struct Clock {
    second: Option<i64>,
    text: [u8; 19],
}

/// Seconds since the epoch of 10000-01-01: from there on (and before 1970), chrono writes
/// the time, in its own form for such years.
const YEAR_10000: i64 = 253_402_300_800;

impl Clock {
    /// `received_at` as `to_rfc3339_opts(Micros, true)` writes it.
    fn write(&mut self, out: &mut Vec<u8>, micros: i64) {
        let second = micros.div_euclid(1_000_000);
        if !(0..YEAR_10000).contains(&second) {
            let at = chrono::DateTime::from_timestamp_micros(micros).unwrap_or_default();
            out.extend_from_slice(
                at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                    .as_bytes(),
            );
            return;
        }
        if self.second != Some(second) {
            self.text = date_time(second);
            self.second = Some(second);
        }
        out.extend_from_slice(&self.text);
        let fraction = micros.rem_euclid(1_000_000) as u32;
        let mut tail = *b".000000Z";
        let mut rest = fraction;
        for digit in tail[1..7].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        out.extend_from_slice(&tail);
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of a second from 1970 to 9999 (the civil calendar from a day
/// count, as in Howard Hinnant's `civil_from_days`).
fn date_time(second: i64) -> [u8; 19] {
    let (days, in_day) = (second / 86_400, second % 86_400);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = *b"0000-00-00T00:00:00";
    let mut put = |at: usize, width: usize, mut n: i64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, in_day / 3600);
    put(14, 2, in_day / 60 % 60);
    put(17, 2, in_day % 60);
    text
}

/// Appends the `event` frame of `event`: `event: event`, `id:` its sequence number, its
/// JSON in `data:` lines (a line break in a body kept verbatim starts another).
pub fn write_event_frame(out: &mut Vec<u8>, event: &EventParts<'_>, clock: &mut Clock) {
    out.extend_from_slice(b"event: event\nid: ");
    out.extend_from_slice(itoa::Buffer::new().format(event.seq).as_bytes());
    out.extend_from_slice(b"\ndata: ");
    write_event_json(out, event, clock, true);
    out.extend_from_slice(b"\n\n");
}

/// Appends the JSON of `GET /events/{event_id}` for `event`; with `lines`, each line break
/// of a verbatim body as the end of a `data:` line and the start of the next.
pub fn write_event_json(out: &mut Vec<u8>, event: &EventParts<'_>, clock: &mut Clock, lines: bool) {
    let mut number = itoa::Buffer::new();
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(number.format(event.seq).as_bytes());
    out.extend_from_slice(b",\"id\":");
    match (event.id, event.event_id) {
        (Some(id), _) => json_string(out, id),
        (None, Some(n)) => {
            out.extend_from_slice(b"\"evt_");
            out.extend_from_slice(number.format(n).as_bytes());
            out.push(b'"');
        }
        (None, None) => json_string(out, ""),
    }
    out.extend_from_slice(b",\"event_id\":");
    match event.event_id {
        Some(n) => out.extend_from_slice(number.format(n).as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"event_type\":");
    json_string(out, event.event_type);
    let shown = match event.plain {
        Some((timestamp, description)) => Shown {
            fields: Some((Cow::Borrowed(timestamp), Cow::Borrowed(description))),
            json: Some(trim_json_space(event.body)),
        },
        None => read_body(event.body),
    };
    out.extend_from_slice(b",\"timestamp\":");
    optional_string(out, shown.fields.as_ref().map(|(t, _)| &**t));
    out.extend_from_slice(b",\"description\":");
    optional_string(out, shown.fields.as_ref().map(|(_, d)| &**d));
    out.extend_from_slice(b",\"received_at\":\"");
    clock.write(out, event.received_micros);
    out.extend_from_slice(b"\",\"size\":");
    out.extend_from_slice(number.format(event.body.len()).as_bytes());
    out.extend_from_slice(b",\"body\":");
    match shown.json {
        Some(json) if lines => data_lines(out, json),
        Some(json) => out.extend_from_slice(json),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"headers\":[");
    for (i, (name, value)) in event.headers.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'[');
        json_string(out, name);
        out.push(b',');
        json_string(out, &String::from_utf8_lossy(value));
        out.push(b']');
    }
    out.extend_from_slice(b"],\"headers_truncated\":");
    out.extend_from_slice(if event.headers.truncated() {
        b"true"
    } else {
        b"false"
    });
    out.extend_from_slice(b",\"signature\":");
    match event.signature {
        // Three enum names and a bool, rare (`--verify` only): serde writes them.
        Some(signature) => {
            let _ = serde_json::to_writer(&mut *out, &signature);
        }
        None => out.extend_from_slice(b"null"),
    }
    out.push(b'}');
}

/// What the API shows of a body: the model's `timestamp` and `description` when it is a
/// valid event, and the body itself when it is JSON (without the white space around it,
/// as `RawValue` takes it), else `null`.
struct Shown<'a> {
    fields: Option<(Cow<'a, str>, Cow<'a, str>)>,
    json: Option<&'a [u8]>,
}

fn read_body(body: &[u8]) -> Shown<'_> {
    // The commonest body: the one pass that takes it proves it is JSON too.
    if let Some((timestamp, description)) = model::plain_text_fields(body) {
        return Shown {
            fields: Some((Cow::Borrowed(timestamp), Cow::Borrowed(description))),
            json: Some(trim_json_space(body)),
        };
    }
    // The full path judges the JSON before the fields: a body it reads as an event, or
    // rejects only for its fields, is JSON. What it calls malformed may still be JSON to
    // `RawValue` (nested deeper than the model allows), so that one is asked.
    match model::validate_event(body) {
        Ok(event) => Shown {
            fields: Some((Cow::Owned(event.timestamp), Cow::Owned(event.description))),
            json: Some(trim_json_space(body)),
        },
        Err(Invalid::Fields(_)) => Shown {
            fields: None,
            json: Some(trim_json_space(body)),
        },
        Err(Invalid::Malformed { .. }) => Shown {
            fields: None,
            json: std::str::from_utf8(body)
                .ok()
                .and_then(|s| serde_json::from_str::<&RawValue>(s).ok())
                .map(|raw| raw.get().as_bytes()),
        },
    }
}

/// JSON text without the white space before and after its value.
fn trim_json_space(json: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let start = json.iter().position(|b| !space(b)).unwrap_or(json.len());
    let end = json
        .iter()
        .rposition(|b| !space(b))
        .map_or(start, |e| e + 1);
    &json[start..end]
}

fn optional_string(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        Some(text) => json_string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}

/// `text` as a JSON string, escaped exactly as `serde_json` escapes it: `"`, `\` and the
/// control characters below U+0020 (the short forms where JSON has one), nothing else.
pub fn json_string(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    // Nearly every name, header value and type needs no escape: found a word at a time,
    // the last few bytes padded to a word, it is copied in one piece.
    if !needs_escape(bytes) {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    out.reserve(text.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Eight bytes at a time past what needs no escape: nearly every byte of a name,
        // a header value or a type.
        if let Some(word) = bytes.get(i..i + 8)
            && !any_escaped(u64::from_le_bytes(word.try_into().unwrap_or_default()))
        {
            i += 8;
            continue;
        }
        let b = bytes[i];
        i += 1;
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i - 1]);
        start = i;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Whether any byte of `bytes` is one a JSON string escapes, eight bytes at a time (the
/// last word padded with a byte that needs none).
fn needs_escape(bytes: &[u8]) -> bool {
    crate::words::any_word(bytes, b'a', any_escaped)
}

/// Whether any of the eight bytes of `word` is one a JSON string escapes: `"`, `\` or a
/// control character below U+0020.
fn any_escaped(word: u64) -> bool {
    crate::words::escaped_bits(word) != 0
}

/// `json` with each line break (`\r\n`, `\r` or `\n`) written as the end of a `data:` line
/// and the start of the next: a field of a frame cannot hold one. Only a body kept verbatim
/// has line breaks (JSON strings escape theirs); a client joins the lines with `\n`, which
/// JSON reads as the same white space.
pub fn data_lines(out: &mut Vec<u8>, json: &[u8]) {
    let mut rest = json;
    while let Some(at) = memchr::memchr2(b'\n', b'\r', rest) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(b"\ndata: ");
        let skip = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
            2
        } else {
            1
        };
        rest = &rest[at + skip..];
    }
    out.extend_from_slice(rest);
}

#[cfg(test)]
mod tests;
