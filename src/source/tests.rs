//! Unit tests of reading requests by source: ids and types where each provider keeps them,
//! every problem at once, Slack's challenge, `json` and `schema:` rules.

use http::HeaderMap;
use serde_json::json;

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(n, v)| (http::HeaderName::from_static(n), v.parse().unwrap()))
        .collect()
}

fn event(source: &Source, pairs: &[(&'static str, &str)], body: &str) -> Identified {
    match source.read(&headers(pairs), body.as_bytes()) {
        Ok(Reading::Event(event)) => event,
        other => panic!("{other:?}"),
    }
}

fn problems(source: &Source, pairs: &[(&'static str, &str)], body: &str) -> Vec<FieldError> {
    match source.read(&headers(pairs), body.as_bytes()) {
        Err(Invalid::Fields(problems)) => problems,
        other => panic!("{other:?}"),
    }
}

fn fields(problems: &[FieldError]) -> Vec<&str> {
    problems.iter().map(|p| p.field.as_str()).collect()
}

#[test]
fn github_types_add_the_action_when_there_is_one() {
    let gh = [
        ("x-github-delivery", "72d3162e"),
        ("x-github-event", "pull_request"),
    ];
    let read = event(&Source::Github, &gh, r#"{"action":"opened","number":1}"#);
    assert_eq!(read.id, "72d3162e");
    assert_eq!(read.event_type, "pull_request.opened");
    assert_eq!(read.event_id, None);
    let ping = [("x-github-delivery", "1"), ("x-github-event", "ping")];
    assert_eq!(
        event(&Source::Github, &ping, r#"{"zen":"z"}"#).event_type,
        "ping"
    );
}

#[test]
fn github_without_its_headers_lists_both() {
    let found = problems(&Source::Github, &[], "{}");
    assert_eq!(
        fields(&found),
        ["header:x-github-delivery", "header:x-github-event"]
    );
}

#[test]
fn stripe_reads_id_and_type_from_the_body_and_reports_both_problems() {
    let read = event(
        &Source::Stripe,
        &[],
        r#"{"id":"evt_1","type":"invoice.paid"}"#,
    );
    assert_eq!(
        (read.id.as_str(), read.event_type.as_str()),
        ("evt_1", "invoice.paid")
    );
    let found = problems(&Source::Stripe, &[], r#"{"id":true}"#);
    assert_eq!(fields(&found), ["/id", "/type"]);
    assert!(found[0].message.contains("bool true"), "{found:?}");
}

#[test]
fn standard_takes_webhook_id_or_svix_id() {
    let body = r#"{"type":"invoice.created","data":{}}"#;
    assert_eq!(
        event(&Source::Standard, &[("webhook-id", "msg_1")], body).id,
        "msg_1"
    );
    assert_eq!(
        event(&Source::Standard, &[("svix-id", "msg_2")], body).id,
        "msg_2"
    );
}

#[test]
fn shopify_reads_its_headers() {
    let pairs = [
        ("x-shopify-webhook-id", "b54557e4"),
        ("x-shopify-topic", "orders/create"),
    ];
    let read = event(&Source::Shopify, &pairs, r#"{"id":1}"#);
    assert_eq!(
        (read.id.as_str(), read.event_type.as_str()),
        ("b54557e4", "orders/create")
    );
}

#[test]
fn slack_answers_the_challenge_and_keys_callbacks_by_event_id() {
    let body = r#"{"type":"url_verification","challenge":"abc","token":"t"}"#;
    assert_eq!(
        Source::Slack.read(&HeaderMap::new(), body.as_bytes()),
        Ok(Reading::Challenge("abc".into()))
    );
    let callback = r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
    let read = event(&Source::Slack, &[], callback);
    assert_eq!(
        (read.id.as_str(), read.event_type.as_str()),
        ("Ev1", "event_callback")
    );
    assert!(
        event(&Source::Slack, &[], r#"{"type":"x"}"#)
            .id
            .starts_with("hr_")
    );
    // The ssl_check of a slash command's URL: answered, nothing kept; a form with a
    // command stays a command.
    let mut form = HeaderMap::new();
    form.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    assert_eq!(
        Source::Slack.read(&form, b"ssl_check=1&token=x"),
        Ok(Reading::SslCheck)
    );
    assert!(matches!(
        Source::Slack.read(&form, b"ssl_check=1&command=%2Fw"),
        Ok(Reading::Event(_))
    ));
    assert!(Source::Slack.read(&form, b"ssl_check=0&token=x").is_err());
}

#[test]
fn a_body_that_is_not_an_object_or_not_json_is_refused_as_such() {
    assert_eq!(
        problems(&Source::Stripe, &[], "[1]")[0].message,
        "expected a JSON object, got an array"
    );
    let malformed = Source::Stripe.read(&HeaderMap::new(), b"{\"id\":");
    assert!(
        matches!(malformed, Err(Invalid::Malformed { line: 1, .. })),
        "{malformed:?}"
    );
}

#[test]
fn the_model_is_read_as_before_with_its_evt_id() {
    let body =
        r#"{"event_id":7,"timestamp":"2023-10-05T12:34:56","event_type":"a","description":""}"#;
    let read = event(&Source::Event, &[], body);
    assert_eq!(read.id, "evt_7");
    assert_eq!(read.event_id, Some(7));
}

#[test]
fn json_rules_find_id_and_type_in_headers_or_pointers() {
    let rules = Rules {
        id_from: Some("/data/id".parse().unwrap()),
        type_from: Some("header:x-kind".parse().unwrap()),
    };
    let source = Source::Json(rules);
    let read = event(
        &source,
        &[("x-kind", "order.paid")],
        r#"{"data":{"id":42}}"#,
    );
    assert_eq!(
        (read.id.as_str(), read.event_type.as_str()),
        ("42", "order.paid")
    );
    let found = problems(&source, &[], r#"{"data":{}}"#);
    assert_eq!(fields(&found), ["/data/id", "header:x-kind"]);
    let plain = event(&Source::Json(Rules::default()), &[], "[1,2]");
    assert!(
        plain.id.starts_with("hr_") && plain.event_type == "json",
        "{plain:?}"
    );
}

#[test]
fn locators_are_a_header_or_a_pointer() {
    assert_eq!(
        "header:X-Id".parse(),
        Ok(Locator::Header(http::HeaderName::from_static("x-id")))
    );
    assert_eq!("/a/0".parse(), Ok(Locator::Pointer("/a/0".into())));
    assert!("data.id".parse::<Locator>().is_err());
}

#[test]
fn a_schema_reports_every_violation_with_its_pointer() {
    let schema = json!({
        "type": "object",
        "required": ["id", "amount"],
        "properties": {"id": {"type": "string"}, "amount": {"type": "integer", "minimum": 0}}
    });
    let schema = Schema::compile(std::path::Path::new("order.json"), &schema).unwrap();
    let source = Source::Schema(Rules::default(), Arc::new(schema));
    event(&source, &[], r#"{"id":"o1","amount":3}"#);
    let found = problems(&source, &[], r#"{"amount":-1,"id":5,"x":1}"#);
    let mut at = fields(&found);
    at.sort_unstable();
    assert_eq!(at, ["/amount", "/id"], "{found:?}");
    let found = problems(&source, &[], r#"{"amount":"12"}"#);
    let mut at = fields(&found);
    at.sort_unstable();
    assert_eq!(at, ["", "/amount"], "{found:?}");
    assert!(
        found
            .iter()
            .any(|p| p.message.contains("\"id\" is a required property")),
        "{found:?}"
    );
}

#[test]
fn an_unusable_schema_is_refused_with_its_file_named() {
    let bad = json!({"type": 12});
    let error = Schema::compile(std::path::Path::new("bad.json"), &bad)
        .err()
        .unwrap();
    assert!(
        error
            .to_string()
            .starts_with("bad.json is not a usable JSON Schema"),
        "{error}"
    );
}

#[test]
fn control_characters_are_found_in_the_bytes_as_char_is_control_finds_them() {
    for c in (0..0x3000u32).filter_map(char::from_u32) {
        let text = format!("id-{c}-x");
        assert_eq!(super::has_control(&text), c.is_control(), "{c:?}");
    }
}

/// The one-pass scan agrees with serde wherever it answers, and refuses whatever serde
/// refuses; the commonest bodies are answered by the scan.
#[test]
fn the_envelope_scan_agrees_with_serde() {
    use super::scan::{Found, envelope};
    let taken: &[&str] = &[
        r#"{"action": "opened", "number": 7, "sender": {"login": "octocat"}, "repository": {"name": "hello"}}"#,
        r#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount":-12.5e3,"ok":true,"none":null,"list":[1,"a",[],{}]}}}"#,
        r#" { "type" : "event_callback" , "event_id" : "Ev1" , "event" : { } } "#,
        r#"{"type":"url_verification","challenge":"abc"}"#,
        r#"{"id":12,"type":"x"}"#,
        r#"{"id":18446744073709551615,"type":"x"}"#,
        r#"{"id":-9223372036854775808,"type":"x"}"#,
        r#"{}"#,
        r#"{"zen":"Keep it logically awesome.","hook_id":1,"x":"é✓"}"#,
        r#"{"a":0,"b":-0.0,"c":1E+2,"d":[ ]}"#,
    ];
    let left: &[&str] = &[
        r#"{"id":"a\"b","type":"x"}"#,
        r#"{"id":"a","id":"b"}"#,
        r#"{"id":null}"#,
        r#"{"id":1.5}"#,
        r#"{"id":-0}"#,
        r#"{"id":18446744073709551616}"#,
        r#"{"type":{"nested":1}}"#,
        r#"{"x":"esc\n"}"#,
    ];
    let broken: &[&str] = &[
        r#"{"a":01}"#,
        r#"{"a":1.}"#,
        r#"{"a":.5}"#,
        r#"{"a":-}"#,
        r#"{"a":1e}"#,
        r#"{"a":tru}"#,
        r#"{"a":[1,]}"#,
        r#"{"a":{"b":1,}}"#,
        r#"{"a":1,}"#,
        r#"{"a" 1}"#,
        r#"{"a":1} x"#,
        r#"{"a":"raw	tab"}"#,
        r#"[1]"#,
        r#""s""#,
        r#"{"a":[}"#,
        r#"{a:1}"#,
        r#"{"a":+1}"#,
        r#"{"a":NaN}"#,
        r#"{"a":"x"#,
        r#"{"#,
        "",
    ];
    for body in taken {
        let serde: Found = serde_json::from_str(body).unwrap();
        assert_eq!(envelope(body.as_bytes()), Some(serde), "{body}");
    }
    for body in left {
        assert_eq!(envelope(body.as_bytes()), None, "{body}");
    }
    for body in broken {
        assert!(
            serde_json::from_str::<Found>(body).is_err() || !body.starts_with('{'),
            "{body}"
        );
        assert_eq!(envelope(body.as_bytes()), None, "{body}");
    }
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    assert_eq!(
        envelope(deep.as_bytes()),
        None,
        "deeper than the scan follows"
    );
    assert!(serde_json::from_str::<Found>(&deep).is_ok());
}

#[test]
fn an_integer_id_beyond_64_bits_is_refused_with_the_reason() {
    let source = Source::Stripe;
    for body in [
        r#"{"id": 18446744073709551616, "type": "t"}"#,
        r#"{"id": -9223372036854775809, "type": "t"}"#,
        r#"{"id": 100000000000000000000001, "type": "t"}"#,
    ] {
        let found = problems(&source, &[], body);
        assert_eq!(fields(&found), ["/id"], "{body}");
        assert!(
            found[0].to_string().contains("too large")
                && found[0].to_string().contains("as a JSON string"),
            "{body}: {}",
            found[0]
        );
    }
    // The largest of each kind is still an id, and a fraction is not "too large".
    assert_eq!(
        event(&source, &[], r#"{"id": 18446744073709551615, "type": "t"}"#).id,
        "18446744073709551615"
    );
    assert_eq!(
        event(&source, &[], r#"{"id": -9223372036854775808, "type": "t"}"#).id,
        "-9223372036854775808"
    );
    let fraction = problems(&source, &[], r#"{"id": 1.5, "type": "t"}"#);
    assert!(
        !fraction[0].to_string().contains("too large"),
        "{}",
        fraction[0]
    );
}

#[test]
fn a_header_that_is_there_but_not_text_is_not_called_missing() {
    let rules = Rules {
        id_from: Some("header:x-id".parse().unwrap()),
        type_from: None,
    };
    let mut sent = HeaderMap::new();
    sent.insert(
        "x-id",
        http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
    );
    for source in [Source::Json(rules), Source::Shopify] {
        let mut sent = sent.clone();
        sent.insert(
            "x-shopify-webhook-id",
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        sent.insert(
            "x-shopify-topic",
            http::HeaderValue::from_static("orders/create"),
        );
        let Err(Invalid::Fields(found)) = source.read(&sent, b"{}") else {
            panic!("{source:?} took it");
        };
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].message.contains("expected text"),
            "{source:?}: {found:?}"
        );
        let empty = problems(&source, &[("x-shopify-topic", "t")], "{}");
        assert!(empty[0].message.contains("missing header"), "{empty:?}");
    }
}

/// An event type holding U+0000 (which not every store can keep) is refused by every
/// source where it reads the type, with the model's words and the field it came from; a
/// request header cannot carry the character at all.
#[test]
fn an_event_type_with_the_nul_character_is_refused_by_every_source() {
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let json_rules = Source::Json(Rules {
        id_from: None,
        type_from: Some("/kind".parse().unwrap()),
    });
    type Headers<'a> = &'a [(&'static str, &'a str)];
    let cases: [(&Source, Headers, &str, &str); 8] = [
        (
            &Source::Event,
            &[],
            r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"a\u0000","description":""}"#,
            "event_type",
        ),
        (
            &Source::Github,
            &[("x-github-delivery", "1"), ("x-github-event", "issues")],
            r#"{"action":"opened\u0000"}"#,
            "/action",
        ),
        (
            &Source::Stripe,
            &[],
            r#"{"id":"evt_1","type":"\u0000"}"#,
            "/type",
        ),
        (
            &Source::Standard,
            &[("webhook-id", "msg_1")],
            r#"{"type":"a\u0000b","data":{}}"#,
            "/type",
        ),
        (
            &Source::Slack,
            &[],
            r#"{"type":"event_callback\u0000"}"#,
            "/type",
        ),
        (
            &Source::Slack,
            &form,
            "command=%2Fdeploy%00",
            "form:command",
        ),
        (
            &Source::Slack,
            &form,
            "payload=%7B%22type%22%3A%22block_actions%5Cu0000%22%7D",
            "form:payload/type",
        ),
        (&json_rules, &[], r#"{"kind":"a\u0000"}"#, "/kind"),
    ];
    for (source, pairs, body, field) in cases {
        let found = problems(source, pairs, body);
        assert_eq!(
            found,
            [problem(field, model::NUL_IN_TEXT)],
            "{source:?} {body}"
        );
    }
    assert!(http::HeaderValue::from_bytes(b"a\0b").is_err());
}
