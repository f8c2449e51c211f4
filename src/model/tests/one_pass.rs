//! The one-pass shortcut must judge exactly as the full path does.

use super::*;
use crate::model::fields::check_object;
use crate::model::scan::{scan_plain, string_end};

fn full_path(body: &[u8]) -> Result<Event, Invalid> {
    check_object(top_level(body)?, "").map_err(Invalid::Fields)
}

#[test]
fn agrees_with_the_full_path() {
    let ok = r#""event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": """#;
    let cases = [
        format!("{{{ok}}}"),
        format!(" \n{{{ok}, \"extra\": [1, {{\"a\": null}}]}} \n"),
        format!("{{{ok}, \"event_id\": 2}}"),
        format!("{{{ok}}} x"),
        format!("{{{ok},}}"),
        format!("\u{feff}{{{ok}}}"),
        format!("\u{a0}{{{ok}}}"),
        format!("[{{{ok}}}]"),
        format!("{{{ok}, \"k\\ud800\": 1}}"),
        format!("{{{ok}, \"k\": \"\\ud800\"}}"),
        format!("{{{ok}, \"k\": \"a\u{1}b\"}}"),
        r#"{"event_id": 1.0, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": 1, "timestamp": "2023-10-05", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "", "description": ""}"#.into(),
        r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "x"}"#.into(),
        r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0078\n", "description": "a\"b\\"}"#.into(),
        r#"{"event_id": null, "timestamp": null, "event_type": null, "description": null}"#.into(),
        r#"{"event_id": -0, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": 1e2, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": 9223372036854775808, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": -9223372036854775808, "timestamp": "2023-10-05T12:34:5\u0036", "event_type": "x", "description": ""}"#.into(),
        r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0000", "description": ""}"#.into(),
        "{}".into(),
        "[1, 2, 3, 4]".into(),
        "{".into(),
        "".into(),
    ];
    for case in &cases {
        let body = case.as_bytes();
        assert_eq!(validate_event(body), full_path(body), "{case:?}");
    }
    // The plain scan's own edge cases: what it takes must be judged as the full path
    // judges it, and what it leaves must still be judged the same.
    let plain = |event_id: &str, rest: &str| {
        format!(
            r#"{{"event_id": {event_id}, "timestamp": "2023-10-05T12:34:56", "event_type": "x", "description": "d"{rest}}}"#
        )
    };
    let reordered = "\t\r\n{\"description\":\"\",\"event_type\":\"a b\",\"timestamp\":\"2023-10-05T12:34:56Z\",\"event_id\":7}\n";
    let scan_cases = [
        plain("0", ""),
        plain("-1", ""),
        plain("01", ""),
        plain("-01", ""),
        plain("-", ""),
        plain("1x", ""),
        plain("1.5", ""),
        plain("1E3", ""),
        plain("9223372036854775807", ""),
        plain("-9223372036854775808", ""),
        plain("99999999999999999999", ""),
        plain("\"1\"", ""),
        plain("1", r#", "event_id": 2"#),
        plain("1", r#", "timestamp": "2023-10-05T12:34:56""#),
        plain("1", r#", "extra": 1"#),
        plain("1", ","),
        reordered.into(),
        "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"caf\u{e9}\"}".into(),
        "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"a\u{1}b\"}".into(),
        "{\"event_id\":1,\"timestamp\":\"2023-10-05T12:34:56\",\"event_type\":\"x\",\"description\":\"\u{7f}\u{e9}\"}".into(),
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":{}}"#.into(),
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"} }"#.into(),
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"#.into(),
        r#"{"event_id":1 "timestamp":"2023-10-05T12:34:56","event_type":"x","description":"d"}"#.into(),
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"","description":"d"}"#.into(),
        r#"{"event_id":1,"timestamp":"2023-13-05T12:34:56","event_type":"x","description":"d"}"#.into(),
    ];
    for case in &scan_cases {
        let body = case.as_bytes();
        assert_eq!(validate_event(body), full_path(body), "{case:?}");
    }
    // The common forms are taken by the scan, so the cases above exercise it.
    assert!(scan_plain(&plain("42", "")).is_some());
    assert!(scan_plain(reordered).is_some());
    assert!(scan_plain(&plain("-0", "")).is_none());
    assert!(scan_plain(&plain("1", r#", "extra": 1"#)).is_none());
    let escaped = br#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "\u0078\n", "description": "a\"b\\"}"#;
    let event = validate_event(escaped).expect("valid");
    assert_eq!(
        (event.event_type.as_str(), event.description.as_str()),
        ("x\n", "a\"b\\")
    );
}

/// The word-at-a-time search for the end of a plain string finds what a byte-by-byte one
/// finds: every stopping byte (and the bytes either side of the tests' limits) at every
/// position of strings of every length around the eight-byte words, after ASCII and
/// multi-byte UTF-8 text.
#[test]
fn the_end_of_a_string_is_found_where_a_byte_by_byte_search_finds_it() {
    let naive = |bytes: &[u8]| {
        bytes
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
    };
    let fillers: [&[u8]; 3] = [
        b"abcdefghijklmnopqrstuvwxyz0123456789",
        "é€😀ü".as_bytes(),
        &[0x21, 0x7f, 0x80, 0xff, 0x5b, 0x5d, 0x23, 0x20],
    ];
    for filler in fillers {
        let text: Vec<u8> = filler.iter().copied().cycle().take(40).collect();
        assert_eq!(string_end(&text), naive(&text));
        for len in 0..=text.len() {
            for at in 0..len {
                for stop in [
                    b'"',
                    b'\\',
                    0x00,
                    0x1f,
                    b'\n',
                    0x20,
                    0x21,
                    0x5c ^ 0x80,
                    0xa2,
                ] {
                    let mut bytes = text[..len].to_vec();
                    bytes[at] = stop;
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    assert_eq!(string_end(&bytes), naive(&bytes), "{bytes:?}");
                }
            }
        }
    }
}
