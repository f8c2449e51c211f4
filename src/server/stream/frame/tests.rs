//! The frame written by hand against the document serde writes from the view
//! (`GET /events/{event_id}`), byte for byte, over bodies, ids, headers and times of every
//! kind.

use proptest::prelude::*;

use super::*;
use crate::server::handlers::events::event_json;
use crate::server::store::{SignatureHeaders, SignatureScheme};

/// The frame as it was built before: serde's document, cut into `data:` lines.
fn frame_through_serde(stored: &StoredEvent) -> String {
    let json = String::from_utf8(event_json(stored)).unwrap();
    let mut frame = format!("event: event\nid: {}\n", stored.seq);
    let mut rest = json.as_str();
    loop {
        match rest.find(['\n', '\r']) {
            None => {
                frame += &format!("data: {rest}\n");
                break;
            }
            Some(at) => {
                frame += &format!("data: {}\n", &rest[..at]);
                let skip = if rest[at..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[at + skip..];
            }
        }
    }
    frame + "\n"
}

fn by_hand(stored: &StoredEvent, clock: &mut Clock) -> (String, String) {
    let parts = EventParts::of(stored);
    let mut json = Vec::new();
    write_event_json(&mut json, &parts, clock, false);
    let mut frame = Vec::new();
    write_event_frame(&mut frame, &parts, clock);
    (
        String::from_utf8(json).unwrap(),
        String::from_utf8(frame).unwrap(),
    )
}

fn assert_same(stored: &StoredEvent, clock: &mut Clock) {
    let (json, frame) = by_hand(stored, clock);
    let serde = String::from_utf8(event_json(stored)).unwrap();
    assert_eq!(json, serde, "the JSON of {stored:?}");
    assert_eq!(
        frame,
        frame_through_serde(stored),
        "the frame of {stored:?}"
    );
}

fn stored(body: &[u8]) -> StoredEvent {
    StoredEvent {
        seq: 7,
        id: "evt_1".into(),
        event_id: Some(1),
        event_type: "order.paid".into(),
        received_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
        body: body.to_vec(),
        headers: Headers::from_pairs([("content-type", &b"application/json"[..])]),
        signature: None,
    }
}

const PLAIN: &str = r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56Z", "event_type": "order.paid", "description": "Event description"}"#;

#[test]
fn every_kind_of_body_renders_as_the_api_shows_it() {
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let bodies: Vec<Vec<u8>> = vec![
        PLAIN.into(),
        format!(" \r\n {PLAIN}\n\n").into(),
        PLAIN.replace(", ", ",\r\n  ").into(),
        PLAIN.replace(", ", ",\r  ").into(),
        // The model's event, but not in the one pass: escapes, extra members, nesting.
        r#"{"event_id":2,"timestamp":"2023-10-05T12:34:56+02:00","event_type":"a\"b","description":"tab\there \u00e9 \ud83d\ude00 \/"}"#.into(),
        r#"{"event_id":3,"timestamp":"2023-10-05T12:34:56Z","event_type":"x","description":"d","extra":{"a":[1,2.5e3,null,true]}}"#.into(),
        // JSON that is not an event, and what is not JSON at all.
        br#"{"type":"push","zen":"x"}"#.to_vec(),
        b"[1, 2, 3]".to_vec(),
        b"null".to_vec(),
        b"  \"text\"  ".to_vec(),
        deep.into_bytes(),
        "\u{feff}{}".into(),
        b"payload=%7B%22a%22%3A1%7D&token=x".to_vec(),
        b"\xff\xfe not utf-8".to_vec(),
        b"{\"unterminated\": ".to_vec(),
        Vec::new(),
        b"{\"event_id\": 1, \"event_id\": 2}".to_vec(),
    ];
    let mut clock = Clock::default();
    for body in &bodies {
        assert_same(&stored(body), &mut clock);
    }
}

#[test]
fn ids_types_headers_and_signatures_render_as_the_api_shows_them() {
    let mut clock = Clock::default();
    let mut event = stored(PLAIN.as_bytes());
    event.id = "msg_\"quoted\"\\ \u{1}\u{1f}\u{7f} é✓".into();
    event.event_id = None;
    event.event_type = "type\nwith\tcontrols\u{8}\u{c}".into();
    event.headers = Headers::from_pairs([
        ("X-GitHub-Event", &b"push"[..]),
        ("x-bytes", b"\xff\x80ok"),
        ("x-quote", b"a\"b\\c"),
        ("x-empty", b""),
    ]);
    event.signature = Some(Signature {
        scheme: SignatureScheme::Standard,
        headers: SignatureHeaders::Svix,
        verified: false,
    });
    assert_same(&event, &mut clock);

    event.headers = Headers::default();
    event.event_id = Some(i64::MIN);
    event.signature = Some(Signature {
        scheme: SignatureScheme::Github,
        headers: SignatureHeaders::HubSignature256,
        verified: true,
    });
    assert_same(&event, &mut clock);

    // Headers left out for the size bound are flagged.
    let mut truncated = Headers::from_pairs([("x-a", &b"1"[..])])
        .as_bytes()
        .to_vec();
    truncated[0] = 1;
    event.headers = Headers::from_bytes(truncated).unwrap();
    assert!(event.headers.truncated());
    assert_same(&event, &mut clock);
}

#[test]
fn the_model_id_is_written_from_the_number() {
    let event = stored(PLAIN.as_bytes());
    let mut parts = EventParts::of(&event);
    parts.id = None;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    write_event_json(&mut a, &parts, &mut Clock::default(), false);
    write_event_json(
        &mut b,
        &EventParts::of(&event),
        &mut Clock::default(),
        false,
    );
    assert_eq!(String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    let mut every: String = (0u8..0x80).map(char::from).collect();
    every += "é✓😀\u{2028}\u{fffd}";
    for text in [every.as_str(), "", "plain", "\"", "\\", "a\u{0}b"] {
        let mut out = Vec::new();
        json_string(&mut out, text);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(text).unwrap()
        );
    }
}

#[test]
fn times_across_the_calendar_render_as_chrono_writes_them() {
    let day = 86_400_000_000i64;
    let mut clock = Clock::default();
    for micros in [
        0,
        1,
        999_999,
        -1,
        -day * 365 * 3000,
        951_782_400_000_000,     // 2000-02-29
        4_107_542_400_000_000,   // 2100-02-28
        253_402_300_799_999_999, // 9999-12-31T23:59:59.999999
        253_402_300_800_000_000, // 10000-01-01
        i64::MAX,
        i64::MIN,
    ] {
        let mut out = Vec::new();
        clock.write(&mut out, micros);
        let expected = chrono::DateTime::from_timestamp_micros(micros)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        assert_eq!(String::from_utf8(out).unwrap(), expected, "{micros}");
    }
}

proptest! {
    #[test]
    fn any_time_renders_as_chrono_writes_it(micros in any::<i64>(), near in 0i64..400_000_000_000_000_000) {
        // One clock for both: its cached second must not leak into the next time.
        let mut clock = Clock::default();
        for micros in [micros, near, near + 1, near + 1_000_000] {
            let mut out = Vec::new();
            clock.write(&mut out, micros);
            let expected = chrono::DateTime::from_timestamp_micros(micros)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            prop_assert_eq!(String::from_utf8(out).unwrap(), expected);
        }
    }

    #[test]
    fn any_body_and_strings_render_as_the_api_shows_them(
        body in prop_oneof![
            any::<Vec<u8>>(),
            any::<String>().prop_map(String::into_bytes),
            "[ \\r\\n\\t]{0,3}\\{\"event_id\": ?-?[0-9]{1,5}, ?\"timestamp\": ?\"2023-10-05T12:34:56(Z|\\+01:00)\",\\r?\\n?\"event_type\":\"[a-z.\\\\\"]{0,8}\", \"description\":\"[^\"\\\\]{0,8}\"\\}[ \\n]{0,2}"
                .prop_map(String::into_bytes),
        ],
        id in any::<String>(),
        event_type in any::<String>(),
        value in any::<Vec<u8>>(),
    ) {
        let mut event = stored(&body);
        event.id = id;
        event.event_type = event_type;
        event.headers = Headers::from_pairs([("x-any", &value[..])]);
        let (json, frame) = by_hand(&event, &mut Clock::default());
        prop_assert_eq!(json, String::from_utf8(event_json(&event)).unwrap());
        prop_assert_eq!(frame, frame_through_serde(&event));
    }
}

#[test]
fn every_line_of_a_body_is_a_data_line() {
    let lines = |json: &str| {
        let mut out = b"data: ".to_vec();
        data_lines(&mut out, json.as_bytes());
        out.push(b'\n');
        String::from_utf8(out).unwrap()
    };
    assert_eq!(lines(r#"{"a":1}"#), "data: {\"a\":1}\n");
    assert_eq!(
        lines("{\n \"a\": 1\r\n}"),
        "data: {\ndata:  \"a\": 1\ndata: }\n"
    );
    assert_eq!(lines("{}\n"), "data: {}\ndata: \n");
    assert_eq!(lines("[\r\r1]"), "data: [\ndata: \ndata: 1]\n");
}

/// What a request hands over with the event (the model's fields it found in one pass)
/// renders the same as the body read again.
#[test]
fn the_fields_found_at_ingest_render_as_the_body_read_again() {
    let spaced = format!(" \r\n{}\n", PLAIN.replace(", ", ",\r\n  "));
    for body in [PLAIN, spaced.as_str()] {
        let event = stored(body.as_bytes());
        let received = model::receive_event(&event.body).unwrap();
        assert!(received.plain.is_some(), "{body}");
        let at = crate::server::stream::Fresh::plain_at(&event.body, received.plain).unwrap();
        let mut parts = EventParts::of(&event);
        let text =
            |r: &std::ops::Range<usize>| std::str::from_utf8(&event.body[r.clone()]).unwrap();
        parts.plain = Some((text(&at[0]), text(&at[1])));
        let mut json = Vec::new();
        write_event_json(&mut json, &parts, &mut Clock::default(), false);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            String::from_utf8(event_json(&event)).unwrap()
        );
    }
}

/// Every character a JSON string escapes, at every place of an eight-byte word and across
/// two, escaped as `serde_json` escapes it.
#[test]
fn escapes_are_found_wherever_they_are_in_a_string() {
    let specials = [
        '"', '\\', '\n', '\r', '\t', '\u{8}', '\u{c}', '\0', '\u{1f}', '\u{7f}', 'é',
    ];
    for special in specials {
        for len in 0..20 {
            for at in 0..=len {
                let mut text: String = "abcdefghijklmnopqrst".chars().take(len).collect();
                text.insert(at, special);
                let mut out = Vec::new();
                json_string(&mut out, &text);
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    serde_json::to_string(&text).unwrap(),
                    "{text:?}"
                );
            }
        }
    }
}
