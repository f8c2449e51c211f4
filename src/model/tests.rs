//! Unit tests of the event model: timestamp forms, field checks and their messages, paths
//! inside arrays, malformed JSON.

use super::fields::describe;
use super::scan::opening_brackets;
use super::*;

const EXPECTED: &str = "expected an ISO 8601 date-time such as \"2023-10-05T12:34:56\" \
    (seconds, a fraction and an offset like Z or +02:00 are optional)";

fn body(event_id: &str, timestamp: &str, event_type: &str, description: &str) -> String {
    format!(
        r#"{{"event_id": {event_id}, "timestamp": {timestamp}, "event_type": {event_type}, "description": {description}}}"#
    )
}

fn with_id(event_id: &str) -> String {
    body(event_id, r#""2023-10-05T12:34:56""#, r#""n""#, r#""d""#)
}

fn with_timestamp(timestamp: &str) -> String {
    body("1", timestamp, r#""n""#, r#""d""#)
}

/// The problems of an invalid payload as (field, message) pairs.
fn problems(payload: &str) -> Vec<(String, String)> {
    match validate_document(payload.as_bytes()) {
        Err(Invalid::Fields(errors)) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
        other => panic!("expected field errors for {payload}, got {other:?}"),
    }
}

fn one_problem(payload: &str) -> (String, String) {
    let mut all = problems(payload);
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

mod one_pass;
mod timestamps;

// ---- event_id ----

#[test]
fn event_id_takes_every_integer_in_the_signed_64_bit_range() {
    for (raw, value) in [
        ("0", 0),
        ("-7", -7),
        ("9223372036854775807", i64::MAX),
        ("-9223372036854775808", i64::MIN),
    ] {
        let event = validate_event(with_id(raw).as_bytes()).unwrap();
        assert_eq!(event.event_id, value, "{raw}");
    }
}

#[test]
fn event_id_refuses_what_pydantic_would_coerce() {
    let cases = [
        (r#""12""#, r#"expected an integer, got string "12""#),
        ("123.0", "expected an integer, got number 123.0"),
        ("1e3", "expected an integer, got number 1e3"),
        ("true", "expected an integer, got boolean true"),
        ("false", "expected an integer, got boolean false"),
        ("null", "expected an integer, got null"),
        ("[1]", "expected an integer, got array"),
        (
            "9223372036854775808",
            "expected an integer in the signed 64-bit range, got number 9223372036854775808",
        ),
        (
            "-9223372036854775809",
            "expected an integer in the signed 64-bit range, got number -9223372036854775809",
        ),
    ];
    for (raw, message) in cases {
        assert_eq!(
            one_problem(&with_id(raw)),
            ("event_id".to_string(), message.to_string()),
            "{raw}"
        );
    }
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = format!("\"{}\"", "x".repeat(100));
    let (_, message) = one_problem(&with_id(&long));
    assert_eq!(
        message,
        format!("expected an integer, got string \"{}…", "x".repeat(39))
    );
}

// ---- event_type, description, the object ----

#[test]
fn event_type_must_be_a_non_empty_string_and_description_may_be_empty() {
    assert_eq!(
        one_problem(&body("1", r#""2023-10-05T12:34:56""#, r#""""#, r#""""#)),
        (
            "event_type".to_string(),
            "expected a non-empty string, got an empty string".to_string()
        )
    );
    assert_eq!(
        one_problem(&body("1", r#""2023-10-05T12:34:56""#, "7", r#""""#)),
        (
            "event_type".to_string(),
            "expected a string, got number 7".to_string()
        )
    );
    let event = validate_event(body("1", r#""2023-10-05T12:34:56""#, r#""n""#, r#""""#).as_bytes());
    assert_eq!(event.unwrap().description, "");
}

#[test]
fn every_problem_is_reported_at_once_in_field_order() {
    let all = problems(
        r#"{"description": null, "event_type": "", "timestamp": "2023-10-05", "event_id": "12"}"#,
    );
    let fields: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["event_id", "timestamp", "event_type", "description"]
    );
    assert_eq!(all[0].1, r#"expected an integer, got string "12""#);
    assert_eq!(all[3].1, "expected a string, got null");
}

#[test]
fn missing_fields_are_each_named() {
    assert_eq!(
        problems("{}"),
        ["event_id", "timestamp", "event_type", "description"]
            .map(|f| (f.to_string(), "required field is missing".to_string()))
    );
}

#[test]
fn extra_fields_are_allowed_and_the_parsed_fields_decoded() {
    let payload = r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "caf\u00e9",
        "description": "line\nbreak", "source": {"nested": [1, 2]}, "tags": null}"#;
    let event = validate_event(payload.as_bytes()).unwrap();
    assert_eq!(
        event,
        Event {
            event_id: 1,
            timestamp: "2023-10-05T12:34:56".into(),
            event_type: "café".into(),
            description: "line\nbreak".into(),
        }
    );
}

#[test]
fn opening_brackets_are_counted_exactly() {
    for len in [0, 1, 254, 255, 256, 1000] {
        let text: Vec<u8> = (0..len)
            .map(|i| [b'[', b'{', b'a', b'}', b'{', b'['][i % 6])
            .collect();
        let expected = text.iter().filter(|&&b| b == b'[' || b == b'{').count();
        assert_eq!(opening_brackets(&text), expected, "{len}");
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(opening_brackets(&all), 2);
}

#[test]
fn nesting_is_limited_by_depth_not_by_the_number_of_brackets() {
    let event = |extra: String| {
        format!(
            r#"{{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "n", "description": "d", "x": {extra}}}"#
        )
    };
    // 500 shallow arrays: more brackets than the limit, depth 3.
    let wide = event(format!("[{}[]]", "[], ".repeat(499)));
    assert!(validate_event(wide.as_bytes()).is_ok());
    // The top-level object plus 127 levels is exactly the limit; one more is refused.
    let at_limit = event(format!("{}{}", "[".repeat(127), "]".repeat(127)));
    assert!(validate_event(at_limit.as_bytes()).is_ok());
    let beyond = event(format!("{}{}", "[".repeat(128), "]".repeat(128)));
    assert!(
        matches!(validate_event(beyond.as_bytes()), Err(Invalid::Malformed { ref message, .. }) if message.contains("nested deeper than 128")),
        "{:?}",
        validate_event(beyond.as_bytes())
    );
    // The same, wide enough to pass the bracket count, still refused.
    let deep_and_wide = event(format!(
        "[{}{}{}]",
        "[], ".repeat(200),
        "[".repeat(128),
        "]".repeat(128)
    ));
    assert!(validate_event(deep_and_wide.as_bytes()).is_err());
}

#[test]
fn a_duplicate_key_is_an_error_naming_the_field() {
    let payload = r#"{"event_id": 1, "event_id": 2, "timestamp": "2023-10-05T12:34:56", "event_type": "n", "description": ""}"#;
    assert_eq!(
        one_problem(payload),
        (
            "event_id".to_string(),
            "duplicate key \"event_id\": each field may appear only once".to_string()
        )
    );
}

#[test]
fn the_top_level_must_be_an_object() {
    for (payload, got) in [
        ("42", "number 42"),
        (r#""x""#, r#"string "x""#),
        ("null", "null"),
    ] {
        assert_eq!(
            validate_event(payload.as_bytes()),
            Err(Invalid::Fields(vec![FieldError {
                field: String::new(),
                message: format!("expected a JSON object, got {got}"),
            }]))
        );
    }
    assert!(matches!(
        validate_event(format!("[{}]", with_id("1")).as_bytes()),
        Err(Invalid::Fields(e)) if e[0].message == "expected a JSON object, got array"
    ));
}

// ---- documents: arrays of events ----

#[test]
fn an_array_validates_each_element_with_indexed_paths() {
    let doc = format!(
        "[{}, {}, {}, 5]",
        with_id("1"),
        with_timestamp(r#""2023-10-05""#),
        with_id(r#""3""#)
    );
    let all = problems(&doc);
    let fields: Vec<&str> = all.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(fields, ["[1].timestamp", "[2].event_id", "[3]"]);
    assert_eq!(all[2].1, "expected a JSON object, got number 5");
    let shown = Invalid::Fields(vec![FieldError::new("[1].timestamp", "m")]).to_string();
    assert_eq!(shown, "[1].timestamp: m");
}

#[test]
fn a_valid_array_gives_every_event_in_order() {
    let events =
        validate_document(format!("  [{}, {}]", with_id("1"), with_id("2")).as_bytes()).unwrap();
    let ids: Vec<i64> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn an_empty_array_has_no_event() {
    assert_eq!(
        problems("[]"),
        [(
            String::new(),
            "expected at least one event, got an empty array".to_string()
        )]
    );
}

#[test]
fn a_single_event_refuses_an_array_that_a_document_accepts() {
    let doc = format!("[{}]", with_id("1"));
    assert!(validate_document(doc.as_bytes()).is_ok());
    assert!(validate_event(doc.as_bytes()).is_err());
}

// ---- malformed JSON ----

#[test]
fn malformed_json_gives_line_and_column() {
    let payload = "{\n  \"event_id\": 1,\n  \"timestamp\" \"x\"\n}";
    assert_eq!(
        validate_event(payload.as_bytes()),
        Err(Invalid::Malformed {
            line: 3,
            column: 15,
            message: "expected `:`".to_string()
        })
    );
    assert_eq!(
        validate_event(payload.as_bytes()).unwrap_err().to_string(),
        "invalid JSON at line 3, column 15: expected `:`"
    );
}

#[test]
fn broken_json_is_reported_as_such_before_any_shape_problem() {
    let doc = format!("[{}, {{\"event_id\": }}]", with_id(r#""1""#));
    assert!(matches!(
        validate_document(doc.as_bytes()),
        Err(Invalid::Malformed { line: 1, .. })
    ));
    let trailing = format!("{} x", with_id("1"));
    assert!(matches!(
        validate_event(trailing.as_bytes()),
        Err(Invalid::Malformed { message, .. }) if message == "trailing characters"
    ));
}

#[test]
fn invalid_utf8_and_a_byte_order_mark_are_malformed_at_their_position() {
    assert_eq!(
        validate_event(b"{\n  \"event_id\": \xff}"),
        Err(Invalid::Malformed {
            line: 2,
            column: 15,
            message: "the body is not valid UTF-8".to_string()
        })
    );
    assert!(matches!(
        validate_event("\u{feff}{}".as_bytes()),
        Err(Invalid::Malformed {
            line: 1,
            column: 1,
            ..
        })
    ));
}

#[test]
fn empty_input_is_malformed() {
    for input in ["", "  \n"] {
        assert!(
            matches!(
                validate_event(input.as_bytes()),
                Err(Invalid::Malformed { .. })
            ),
            "{input:?}"
        );
    }
}

// ---- messages ----

#[test]
fn describe_names_values_the_way_messages_show_them() {
    assert_eq!(describe(r#""12""#), r#"string "12""#);
    assert_eq!(describe("1.5"), "number 1.5");
    assert_eq!(describe("-3"), "number -3");
    assert_eq!(describe("true"), "boolean true");
    assert_eq!(describe("null"), "null");
    assert_eq!(describe("{}"), "object");
    assert_eq!(describe("[]"), "array");
}

#[test]
fn a_top_level_problem_is_shown_as_top_level() {
    let error = FieldError::new("", "expected a JSON object, got array");
    assert_eq!(
        error.to_string(),
        "(top level): expected a JSON object, got array"
    );
}

#[test]
fn receive_event_judges_exactly_as_validate_event() {
    let payloads = [
        with_id("42"),
        body("7", r#""2023-10-05T12:34:56Z""#, r#""caf\u00e9""#, r#""d""#),
        body(
            "7",
            r#""2023-10-05T12:34:56Z""#,
            r#""order.created""#,
            r#""line\nbreak""#,
        ),
        with_id("\"42\""),
        with_timestamp(r#""yesterday""#),
        body("1", r#""2023-10-05T12:34:56""#, r#""""#, r#""d""#),
        "[1, 2]".to_owned(),
        "{\"event_id\": 1,".to_owned(),
        String::new(),
    ];
    for payload in payloads {
        let received =
            receive_event(payload.as_bytes()).map(|r| (r.event_id, r.event_type.into_owned()));
        let validated = validate_event(payload.as_bytes()).map(|e| (e.event_id, e.event_type));
        assert_eq!(received, validated, "{payload}");
    }
    // Borrowed from the body when there is nothing to unescape.
    let plain = with_id("1");
    assert!(matches!(
        receive_event(plain.as_bytes()).unwrap().event_type,
        Cow::Borrowed("n")
    ));
}

/// U+0000 (only as the escape `\u0000`: JSON has no raw control characters) cannot be kept
/// by every store, so it is refused on every path, with the other problems of the body.
#[test]
fn an_event_type_with_the_nul_character_is_refused() {
    let payload = body(
        r#""1""#,
        r#""2023-10-05T12:34:56""#,
        r#""a\u0000b""#,
        r#""d""#,
    );
    assert_eq!(
        problems(&payload),
        [
            (
                "event_id".to_string(),
                r#"expected an integer, got string "1""#.to_string()
            ),
            ("event_type".to_string(), NUL_IN_TEXT.to_string()),
        ]
    );
    let alone = body("1", r#""2023-10-05T12:34:56""#, r#""\u0000""#, r#""d""#);
    assert_eq!(
        one_problem(&alone),
        ("event_type".to_string(), NUL_IN_TEXT.to_string())
    );
    assert!(receive_event(alone.as_bytes()).is_err());
    // Elsewhere it is only text of the body, which every store keeps byte for byte.
    let described = body("1", r#""2023-10-05T12:34:56""#, r#""n""#, r#""a\u0000b""#);
    assert_eq!(
        validate_event(described.as_bytes()).unwrap().description,
        "a\0b"
    );
}
