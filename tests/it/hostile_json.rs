//! Hostile bodies on POST /webhook: each gets a 4xx with the one JSON error shape and a
//! message that names the problem; none panics the server or is stored.

use crate::support;

use hookrelay::server::Config;
use serde_json::Value;
use support::{App, get_text};

/// The receiver in-process with a body limit of `max_body_bytes`.
async fn start(max_body_bytes: usize) -> App {
    let config = Config {
        max_body_bytes,
        ..Config::default()
    };
    App::with(config, 1000).await
}

/// How many events the receiver holds, from `GET /healthz`.
async fn stored(app: &App) -> u64 {
    app.get("/healthz").await.1["events"].as_u64().unwrap()
}

const REST: &str = r#""timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "d""#;

/// Asserts a 4xx in the error shape with `code`, a message (or a detail) containing
/// `says`, and, when given, a detail naming `field`.
fn assert_refused(answer: &(u16, Value), status: u16, code: &str, says: &str) {
    let (got, body) = answer;
    assert_eq!(*got, status, "{body}");
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"], code, "{body}");
    let text = body.to_string();
    assert!(text.contains(says), "expected {says:?} in {body}");
}

fn field_of(answer: &(u16, Value)) -> String {
    answer.1["details"][0]["field"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
async fn nesting_deeper_than_the_limit_is_a_400_naming_the_limit() {
    let server = start(16 << 20).await;
    for depth in [129, 100_000] {
        let body = format!(
            r#"{{"event_id": 1, {REST}, "x": {}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let answer = server.post(body.into_bytes()).await;
        assert_refused(
            &answer,
            400,
            "malformed_json",
            "nested deeper than 128 levels",
        );
    }
    // Brackets inside strings are text, not nesting.
    let in_string = format!(
        r#"{{"event_id": 2, {REST}, "x": "{}\"{}"}}"#,
        "[{".repeat(300),
        r"\\[",
    );
    assert_eq!(server.post(in_string.into_bytes()).await.0, 200);
    // 100 levels are fine.
    let ok = format!(
        r#"{{"event_id": 1, {REST}, "x": {}{}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    assert_eq!(server.post(ok.into_bytes()).await.0, 200);
}

#[tokio::test]
async fn numbers_beyond_i64_are_refused_with_the_range() {
    let server = start(1 << 20).await;
    for id in [
        "9223372036854775808",
        "-9223372036854775809",
        "123456789012345678901234567890",
    ] {
        let answer = server
            .post(format!(r#"{{"event_id": {id}, {REST}}}"#).into_bytes())
            .await;
        assert_refused(&answer, 422, "validation_failed", "signed 64-bit range");
        assert_eq!(field_of(&answer), "event_id");
    }
    for id in ["1e3", "1.0", "1e400"] {
        let answer = server
            .post(format!(r#"{{"event_id": {id}, {REST}}}"#).into_bytes())
            .await;
        assert!(matches!(answer.0, 400 | 422), "{id}: {}", answer.1);
        assert_eq!(answer.1["status"], "error");
    }
    assert_eq!(stored(&server).await, 0);

    // Outside the model's fields any JSON number is kept as written, however large.
    let huge_elsewhere =
        format!(r#"{{"event_id": 2, {REST}, "n": 1e400, "m": 123456789012345678901234567890}}"#);
    assert_eq!(
        server.post(huge_elsewhere.clone().into_bytes()).await.0,
        200
    );
    let kept = get_text(&server.client, &server.url("/events/2/body")).await;
    assert_eq!(kept, huge_elsewhere);
}

#[tokio::test]
async fn invalid_utf8_a_bom_and_nul_bytes_are_400s_with_a_position() {
    let server = start(1 << 20).await;
    let mut bad_utf8 = format!(r#"{{"event_id": 1, {REST}, "x": ""#).into_bytes();
    bad_utf8.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let answer = server.post(bad_utf8).await;
    assert_refused(&answer, 400, "malformed_json", "not valid UTF-8");
    assert_eq!(answer.1["line"], 1);

    let bom = format!("\u{feff}{{\"event_id\": 1, {REST}}}").into_bytes();
    assert_refused(
        &server.post(bom).await,
        400,
        "malformed_json",
        "byte-order mark",
    );

    let nul_in_string = format!("{{\"event_id\": 1, {REST}, \"x\": \"a\0b\"}}").into_bytes();
    assert_refused(
        &server.post(nul_in_string).await,
        400,
        "malformed_json",
        "control character",
    );
    let nul_after = format!("{{\"event_id\": 1, {REST}}}\0").into_bytes();
    assert_refused(
        &server.post(nul_after).await,
        400,
        "malformed_json",
        "trailing characters",
    );
    assert_eq!(stored(&server).await, 0);

    // An escaped NUL is valid JSON text and is kept as it came.
    let escaped = format!(r#"{{"event_id": 3, {REST}, "x": "a\u0000b"}}"#);
    assert_eq!(server.post(escaped.into_bytes()).await.0, 200);
}

#[tokio::test]
async fn ten_megabyte_strings_are_judged_and_echoed_in_short() {
    let server = start(16 << 20).await;
    let big = "x".repeat(10 << 20);

    let as_id = format!(r#"{{"event_id": "{big}", {REST}}}"#);
    let answer = server.post(as_id.into_bytes()).await;
    assert_refused(&answer, 422, "validation_failed", "expected an integer");
    // The message quotes only the start of the value.
    assert!(answer.1.to_string().len() < 1000);

    let as_description = format!(
        r#"{{"event_id": 9, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "{big}"}}"#
    );
    assert_eq!(server.post(as_description.into_bytes()).await.0, 200);

    let as_timestamp = format!(
        r#"{{"event_id": 10, "timestamp": "{big}", "event_type": "t", "description": ""}}"#
    );
    let answer = server.post(as_timestamp.into_bytes()).await;
    assert_eq!(answer.0, 422);
    assert!(answer.1.to_string().len() < 1000);
}

#[tokio::test]
async fn a_duplicate_model_key_is_an_error_naming_the_key() {
    let server = start(1 << 20).await;
    let cases = [
        (
            "event_id",
            format!(r#"{{"event_id": 1, "event_id": 2, {REST}}}"#),
        ),
        (
            "timestamp",
            format!(r#"{{"event_id": 1, {REST}, "timestamp": "2024-01-01T00:00:00"}}"#),
        ),
        (
            "event_type",
            format!(r#"{{"event_id": 1, {REST}, "event_type": "other"}}"#),
        ),
        (
            "description",
            format!(r#"{{"event_id": 1, {REST}, "description": "d"}}"#),
        ),
    ];
    for (key, body) in cases {
        let answer = server.post(body.into_bytes()).await;
        assert_refused(
            &answer,
            422,
            "validation_failed",
            &format!("duplicate key \\\"{key}\\\""),
        );
        assert_eq!(field_of(&answer), key);
    }
    assert_eq!(stored(&server).await, 0);
}

#[tokio::test]
async fn top_level_arrays_and_scalars_are_not_events() {
    let server = start(1 << 20).await;
    for (body, got) in [
        (format!(r#"[{{"event_id": 1, {REST}}}]"#), "got array"),
        ("42".to_string(), "got number 42"),
        (r#""event""#.to_string(), "got string"),
        ("null".to_string(), "got null"),
        ("true".to_string(), "got boolean true"),
    ] {
        let answer = server.post(body.into_bytes()).await;
        assert_refused(&answer, 422, "validation_failed", "expected a JSON object");
        assert_refused(&answer, 422, "validation_failed", got);
    }
    for empty in ["", "   "] {
        let answer = server.post(empty.as_bytes().to_vec()).await;
        assert_refused(&answer, 400, "malformed_json", "EOF");
    }
    assert_eq!(stored(&server).await, 0);
}
