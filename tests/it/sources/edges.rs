//! `json` and `schema:FILE` at their edges, through the real binary: a large body failing
//! many checks gets a short answer that still names each; a number beyond a 64-bit float's
//! range (`1e400`, valid JSON) is kept byte for byte, and refused only where a schema
//! would have to judge it; a header that is there but empty is called so, not missing.

use serde_json::Value;

use super::{post, run, runtime, serve};

/// A file in `dir` holding `text`; its path.
fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Ten checks failing on the top level of an object, and one on a member.
const MANY_CHECKS: &str = r#"{"allOf": [
  {"type": "array"},
  {"required": ["order"]},
  {"maxProperties": 3},
  {"minProperties": 5000},
  {"const": {"a": 1}},
  {"enum": [1, 2]},
  {"not": {"type": "object"}},
  {"anyOf": [{"type": "string"}, {"type": "number"}]},
  {"oneOf": [{"type": "string"}, {"type": "null"}]},
  {"properties": {"note": {"maxLength": 10}}, "additionalProperties": false}
]}"#;

/// Each failing check: its place and the words that name it.
const FAILING: [(&str, &str); 11] = [
    ("", "is not of type \"array\""),
    ("", "\"order\" is a required property"),
    ("", "has more than 3 properties"),
    ("", "has less than 5000 properties"),
    ("", "{\"a\":1} was expected"),
    ("", "is not one of 1 or 2"),
    ("", "{\"type\":\"object\"} is not allowed for"),
    ("", "'anyOf'"),
    ("", "'oneOf'"),
    (
        "",
        "Additional properties are not allowed ('f0', 'f1', 'f2', 'f3', 'f4' and 995 more were unexpected)",
    ),
    ("/note", "is longer than 10 characters"),
];

/// About 120 KB: 1000 members of 110 characters and a note of 5000.
fn big_body() -> String {
    let mut members: Vec<String> = (0..1000)
        .map(|i| format!("\"f{i}\":\"{}\"", "x".repeat(110)))
        .collect();
    members.push(format!("\"note\":\"{}\"", "y".repeat(5000)));
    format!("{{{}}}", members.join(","))
}

fn assert_names_each_check(details: &[(String, String)], shown: &str) {
    assert_eq!(details.len(), FAILING.len(), "{details:#?}");
    for (field, words) in FAILING {
        assert!(
            details
                .iter()
                .any(|(f, message)| f == field && message.contains(words)),
            "no {words:?} at {field:?}: {details:#?}"
        );
    }
    for (_, message) in details {
        assert!(message.len() < 300, "a long message: {message}");
    }
    assert!(
        details
            .iter()
            .any(|(_, m)| m.contains("an object of 1001 properties")),
        "the body is described, not repeated: {shown}"
    );
    assert!(
        details.iter().any(|(f, m)| f == "/note"
            && m.starts_with(&format!("\"{}…\" (5000 characters)", "y".repeat(40)))),
        "a long string is quoted to 40 characters with its length: {details:#?}"
    );
}

#[test]
fn a_big_body_failing_many_checks_gets_a_short_answer_naming_each() {
    let dir = tempfile::tempdir().unwrap();
    let schema = file(&dir, "many.schema.json", MANY_CHECKS);
    let body = big_body();
    let payload = file(&dir, "big.json", &body);
    let serve = serve(&["--source", &format!("schema:{schema}")]);

    let (status, answer) = post(&serve.url("/webhook"), &[], body.as_bytes());
    let (code, out, err) = run(&["validate", "--schema", &schema, &payload]);
    let (json_code, json_out, _) = run(&[
        "validate", "--schema", &schema, &payload, "--format", "json",
    ]);

    assert!(body.len() > 115_000, "{}", body.len());
    assert_eq!(status, 422, "{answer}");
    let size = answer.to_string().len();
    assert!(
        size < 10_000,
        "a 422 of {size} bytes for a body of {}",
        body.len()
    );
    let details = refusal(&answer);
    assert_names_each_check(&details, &answer.to_string());

    assert_eq!(code, 1, "{err}");
    assert!(out.len() < 10_000, "validate printed {} bytes", out.len());
    assert_eq!(out.lines().count(), 1 + FAILING.len(), "{out}");
    assert_eq!(json_code, 1);
    let result: Value = serde_json::from_str(&json_out).unwrap();
    let errors = field_messages(&result["files"][0]["errors"]);
    assert_eq!(errors, details, "validate and serve say the same");
}

/// The raw body of `GET url`.
fn get_text(url: &str) -> (u16, String) {
    runtime().block_on(async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    })
}

/// The `details` of a refusal as (field, message) pairs.
fn refusal(answer: &Value) -> Vec<(String, String)> {
    field_messages(&answer["details"])
}

/// A list of problems (`details` of the API, `errors` of `validate --format json`) as
/// (field, message) pairs.
fn field_messages(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap_or_else(|| panic!("no list of problems: {list}"))
        .iter()
        .map(|d| {
            (
                d["field"].as_str().unwrap().into(),
                d["message"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn json_keeps_a_number_beyond_a_float_byte_for_byte() {
    let serve = serve(&["--source", "json", "--id-from", "/id"]);
    let url = serve.url("/webhook");
    let body = br#"{"id":"n1","n":-1e400,"m":[1E+999]}"#;

    let (status, answer) = post(&url, &[], body);
    let (got, kept) = get_text(&serve.url("/events/n1/body"));
    let (twice, twice_answer) = post(&url, &[], br#"{"id":"n2","k":1,"k":2,"n":1e400}"#);
    let (at_id, refused) = post(&url, &[], br#"{"id":1e400,"n":1}"#);

    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["id"], "n1");
    assert_eq!((got, kept.as_bytes()), (200, &body[..]));
    assert_eq!(twice, 200, "a key written twice as well: {twice_answer}");
    assert_eq!(at_id, 422, "{refused}");
    let details = refusal(&refused);
    assert_eq!(details.len(), 1, "{refused}");
    assert_eq!(details[0].0, "/id");
    assert!(
        details[0]
            .1
            .contains("got number 1e400, beyond the range of a 64-bit float"),
        "{refused}"
    );

    let dir = tempfile::tempdir().unwrap();
    let huge = file(&dir, "huge.json", r#"{"a":1e400}"#);
    let (code, out, err) = run(&["validate", "--source", "json", &huge]);
    assert_eq!((code, out), (0, format!("{huge}: ok\n")), "{err}");
}

#[test]
fn schema_takes_a_number_beyond_a_float_unless_it_must_judge_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let schema = file(
        &dir,
        "s.json",
        r#"{"type": "object", "properties": {"n": {"type": "number"}, "limit": {"maximum": 10}}}"#,
    );
    let serve = serve(&["--source", &format!("schema:{schema}"), "--id-from", "/id"]);
    let url = serve.url("/webhook");

    let (kept, answer) = post(&url, &[], br#"{"id":"s1","n":-1e400,"other":1e400}"#);
    let (judged, refused) = post(&url, &[], br#"{"id":"s2","limit":1e400}"#);
    let (twice, twice_refused) = post(&url, &[], br#"{"id":"s3","k":1,"k":2,"n":1e400}"#);
    let fine = file(&dir, "fine.json", r#"{"n": 1e400}"#);
    let over = file(&dir, "over.json", r#"{"limit": -1e400}"#);
    let (fine_code, fine_out, _) = run(&["validate", "--schema", &schema, &fine]);
    let (over_code, over_out, _) = run(&["validate", "--schema", &schema, &over]);

    assert_eq!(
        kept, 200,
        "the schema asks only that n be a number: {answer}"
    );
    assert_eq!(judged, 422, "{refused}");
    let details = refusal(&refused);
    assert_eq!(details.len(), 1, "{refused}");
    assert_eq!(details[0].0, "/limit");
    assert!(
        details[0]
            .1
            .starts_with("number 1e400 is beyond the range of a 64-bit float")
            && details[0].1.contains("cannot judge it"),
        "{refused}"
    );
    assert_eq!(twice, 422, "{twice_refused}");
    assert_eq!(refusal(&twice_refused)[0].0, "/n", "{twice_refused}");
    for answer in [&refused, &twice_refused] {
        assert!(!answer.to_string().contains("out of range"), "{answer}");
    }
    assert_eq!((fine_code, fine_out), (0, format!("{fine}: ok\n")));
    assert_eq!(over_code, 1, "{over_out}");
    assert!(
        over_out.contains("/limit: number -1e400 is beyond"),
        "{over_out}"
    );
}

#[test]
fn a_header_that_is_there_but_empty_is_not_called_missing() {
    let serve = serve(&["--source", "json", "--type-from", "header:X-Kind"]);
    let url = serve.url("/webhook");

    let (empty, empty_answer) = post(&url, &[("x-kind", String::new())], b"{}");
    let (blank, blank_answer) = post(&url, &[("x-kind", "  ".to_string())], b"{}");
    let (absent, absent_answer) = post(&url, &[], b"{}");

    for (status, answer) in [(empty, &empty_answer), (blank, &blank_answer)] {
        assert_eq!(status, 422, "{answer}");
        let details = refusal(answer);
        assert_eq!(details[0].0, "header:x-kind", "{answer}");
        assert!(details[0].1.contains("present but empty"), "{answer}");
        assert!(!details[0].1.contains("missing"), "{answer}");
    }
    assert_eq!(absent, 422);
    assert_eq!(
        refusal(&absent_answer)[0].1,
        "missing header",
        "{absent_answer}"
    );
}

/// `.` and `..` name no event in a URL path (browsers, curl and URL libraries resolve them,
/// `%2E` too): refused as ids with the reason, from the body and from a header alike,
/// and nothing is kept; `...` and `a/..` are ids like any other.
#[test]
fn ids_that_a_url_path_cannot_name_are_refused() {
    let json = serve(&["--source", "json", "--id-from", "/id"]);
    let url = json.url("/webhook");
    for id in [".", ".."] {
        let body = serde_json::json!({ "id": id }).to_string();
        let (status, answer) = post(&url, &[], body.as_bytes());
        assert_eq!(status, 422, "{answer}");
        let details = refusal(&answer);
        assert_eq!(details[0].0, "/id", "{answer}");
        assert!(details[0].1.contains("a URL path can name"), "{answer}");
    }
    for id in ["...", "a/..", ".a"] {
        let body = serde_json::json!({ "id": id }).to_string();
        let (status, answer) = post(&url, &[], body.as_bytes());
        assert_eq!(status, 200, "{id}: {answer}");
    }
    let (_, listed) = get_text(&json.url("/events"));
    let listed: Value = serde_json::from_str(&listed).unwrap();
    let ids: Vec<&str> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{listed}");
    assert!(!ids.contains(&".") && !ids.contains(&".."), "{listed}");

    let github = serve(&["--source", "github"]);
    let (status, answer) = post(
        &github.url("/webhook"),
        &[
            ("x-github-event", "push".to_string()),
            ("x-github-delivery", "..".to_string()),
        ],
        b"{}",
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        refusal(&answer)[0].0,
        "header:x-github-delivery",
        "{answer}"
    );
}
