//! Strict ISO 8601 / RFC 3339 date-time parsing for the `timestamp` field: the forms the
//! model accepts, and a message naming the expected form for everything else.

use chrono::{FixedOffset, NaiveDate, NaiveDateTime, NaiveTime};

/// A parsed timestamp. Without an offset it is a local ("naive") time, kept as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub local: NaiveDateTime,
    pub offset: Option<FixedOffset>,
}

const EXPECTED: &str = "expected an ISO 8601 date-time such as \"2023-10-05T12:34:56\" \
    (seconds, a fraction and an offset like Z or +02:00 are optional)";

/// The message for a value that is not a string at all: the expected form, then what came.
pub(super) fn expected_form(got: &str) -> String {
    format!("{EXPECTED}, got {got}")
}

/// The start of a long value, so that a huge string does not make a huge message.
fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &s[..at]),
        None => s.to_string(),
    }
}

/// Parses the accepted forms: `2023-10-05T12:34:56`, with `Z`/`z`, `+02:00`, `+0200` or
/// `-05:00`; a fraction of 1–9 digits; `t` or a space instead of `T`; seconds optional.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let fail = |why: &str| format!("{EXPECTED}, got \"{}\" ({why})", shorten(s));
    if s.is_empty() {
        return Err(format!("{EXPECTED}, got an empty string"));
    }
    let mut p = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let bad_form = || fail("not in that form");

    let (Some(year), true, Some(month), true, Some(day)) = (
        p.digits(4),
        p.eat(b'-'),
        p.digits(2),
        p.eat(b'-'),
        p.digits(2),
    ) else {
        if s.trim().parse::<f64>().is_ok() {
            return Err(fail("a number is not a date-time"));
        }
        return Err(bad_form());
    };
    if p.done() {
        return Err(fail("a date alone has no time"));
    }
    if !(p.eat(b'T') || p.eat(b't') || p.eat(b' ')) {
        return Err(bad_form());
    }
    let (Some(hour), true, Some(minute)) = (p.digits(2), p.eat(b':'), p.digits(2)) else {
        return Err(bad_form());
    };
    let mut second = 0;
    let mut nanos = 0;
    if p.eat(b':') {
        second = p.digits(2).ok_or_else(bad_form)?;
        if p.eat(b'.') {
            let start = p.i;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.i += 1;
            }
            let frac = &s[start..p.i];
            if frac.is_empty() || frac.len() > 9 {
                return Err(fail("a fraction has 1 to 9 digits"));
            }
            nanos = frac.parse::<u32>().map_err(|_| bad_form())? * 10u32.pow(9 - frac.len() as u32);
        }
    }
    let offset = match p.peek() {
        None => None,
        Some(b'Z' | b'z') => {
            p.i += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) => {
            p.i += 1;
            let hh = p.digits(2).ok_or_else(bad_form)?;
            p.eat(b':');
            let mm = p.digits(2).ok_or_else(bad_form)?;
            if hh > 23 || mm > 59 {
                return Err(fail("offset out of range"));
            }
            let secs = (hh * 3600 + mm * 60) as i32;
            Some(if sign == b'-' { -secs } else { secs })
        }
        Some(_) => return Err(bad_form()),
    };
    if !p.done() {
        return Err(bad_form());
    }
    let date = NaiveDate::from_ymd_opt(year as i32, month, day)
        .ok_or_else(|| fail("the date is out of range"))?;
    if hour > 23 {
        return Err(fail("hour out of range"));
    }
    let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
        .filter(|_| second < 60)
        .ok_or_else(|| fail("the time is out of range"))?;
    Ok(Timestamp {
        local: NaiveDateTime::new(date, time),
        offset: offset.map(|secs| FixedOffset::east_opt(secs).expect("offset within a day")),
    })
}

/// Whether `s` is the commonest form, `2023-10-05T12:34:56` or the same with `Z`, and a
/// valid date and time: checked at fixed places, without the general parser (every event
/// has a timestamp). `true` only for values [`parse_timestamp`] accepts; `false` leaves
/// the value to it, which accepts the other forms and words the refusals.
pub(super) fn plain_is_valid(s: &[u8]) -> bool {
    let s = match s {
        [head @ .., b'Z'] if head.len() == 19 => head,
        _ if s.len() == 19 => s,
        _ => return false,
    };
    // Eight bytes at a time against the pattern `dddd-dd-ddTdd:dd:dd` (`d` a digit), in
    // three overlapping words: after XOR with the pattern (`0` for a digit), a byte must
    // be 0 to 9 where a digit goes and 0 where a separator does. Adding 0x76 (or 0x7f)
    // to its low seven bits sets its high bit exactly when it is more, without a carry.
    const PATTERN: &[u8; 19] = b"0000-00-00T00:00:00";
    let word = |bytes: &[u8]| u64::from_le_bytes(bytes.try_into().expect("eight bytes"));
    const fn limits(at: usize) -> u64 {
        let mut add = [0u8; 8];
        let mut i = 0;
        while i < 8 {
            add[i] = if PATTERN[at + i] == b'0' { 0x76 } else { 0x7f };
            i += 1;
        }
        u64::from_le_bytes(add)
    }
    const WORDS: [(usize, u64); 3] = [(0, limits(0)), (8, limits(8)), (11, limits(11))];
    const LOW: u64 = u64::from_ne_bytes([0x7f; 8]);
    const HIGH: u64 = !LOW;
    let wrong = WORDS.iter().any(|&(at, limit)| {
        let x = word(&s[at..at + 8]) ^ word(&PATTERN[at..at + 8]);
        (((x & LOW) + limit) | x) & HIGH != 0
    });
    if wrong {
        return false;
    }
    let number = |from: usize, to: usize| {
        s[from..to]
            .iter()
            .fold(0u32, |n, &b| n * 10 + u32::from(b - b'0'))
    };
    let (year, month, day) = (number(0, 4), number(5, 7), number(8, 10));
    let (hour, minute, second) = (number(11, 13), number(14, 16), number(17, 19));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        2 => 28 + u32::from(leap),
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return false,
    };
    (1..=days).contains(&day) && hour < 24 && minute < 60 && second < 60
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }
    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let chunk = self.b.get(self.i..self.i + n)?;
        if !chunk.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.i += n;
        Some(
            chunk
                .iter()
                .fold(0, |acc, d| acc * 10 + u32::from(d - b'0')),
        )
    }
}
