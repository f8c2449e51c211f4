//! `serve --source schema:FILE` and `json`: bodies judged by a JSON Schema with every
//! violation listed; `validate --schema` and `--source` exit codes; `samples`.

use serde_json::{Value, json};

use super::{post, run, serve};

const SCHEMA: &str = r#"{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["order", "total"],
  "properties": {
    "order": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
    "total": {"type": "number", "minimum": 0},
    "currency": {"enum": ["EUR", "USD"]}
  }
}"#;

fn fields(answer: &Value) -> Vec<String> {
    let mut fields: Vec<String> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap().to_string())
        .collect();
    fields.sort();
    fields
}

#[test]
fn a_schema_source_keeps_valid_bodies_and_lists_every_violation() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("order.schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    let source = format!("schema:{}", schema.display());
    let serve = serve(&[
        "--source",
        &source,
        "--id-from",
        "/order/id",
        "--type-from",
        "header:x-kind",
    ]);
    let url = serve.url("/webhook");
    let kind = [("x-kind", "order.paid".to_string())];
    let (status, answer) = post(&url, &kind, br#"{"order":{"id":"o-17"},"total":12.5}"#);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        (answer["id"].as_str(), answer["event_type"].as_str()),
        (Some("o-17"), Some("order.paid"))
    );

    let (status, answer) = post(
        &url,
        &[],
        br#"{"order":{"id":5},"total":-1,"currency":"GBP"}"#,
    );
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"], "validation_failed");
    assert_eq!(
        fields(&answer),
        ["/currency", "/order/id", "/total", "header:x-kind"],
        "every violation, then the id and type that could not be read: {answer}"
    );
    let (status, answer) = post(&url, &[], b"{\"order\":");
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("malformed_json")),
        "{answer}"
    );
}

#[test]
fn a_json_source_takes_any_value_with_a_generated_id() {
    let serve = serve(&["--source", "json"]);
    let (status, answer) = post(&serve.url("/webhook"), &[], b"[1,2,3]");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer["id"].as_str().unwrap().starts_with("hr_"),
        "{answer}"
    );
    assert_eq!(answer["event_type"], "json");
}

#[test]
fn an_unusable_schema_or_source_stops_serve_at_start() {
    let output = crate::support::hookrelay()
        .args([
            "serve",
            "--port",
            "0",
            "--source",
            "schema:/nonexistent/s.json",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("reading /nonexistent/s.json"), "{err}");
    let output = crate::support::hookrelay()
        .args(["serve", "--port", "0", "--source", "gitlab"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown source \"gitlab\""));
    let output = crate::support::hookrelay()
        .args(["serve", "--port", "0", "--source", "json", "--secret", "s"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a secret for a source that has no signature"
    );
}

#[test]
fn validate_schema_exits_0_1_or_2_and_lists_every_violation() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let schema = path("s.json", SCHEMA);
    let good = path("good.json", r#"{"order":{"id":"a"},"total":1}"#);
    let bad = path("bad.json", r#"{"order":{},"total":"1"}"#);
    let (code, out, _) = run(&["validate", "--schema", &schema, &good]);
    assert_eq!((code, out.as_str()), (0, format!("{good}: ok\n").as_str()));
    let (code, out, _) = run(&[
        "validate", "--schema", &schema, &good, &bad, "--format", "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let result: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(result["valid"], false);
    let errors = &result["files"][1]["errors"];
    assert_eq!(errors.as_array().unwrap().len(), 2, "{errors}");
    assert!(
        errors
            .as_array()
            .unwrap()
            .contains(&json!({"field": "/total", "message": "\"1\" is not of type \"number\""})),
        "{errors}"
    );
    let (code, _, err) = run(&["validate", "--schema", &path("broken.json", "{"), &good]);
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run(&["validate", "--schema", &schema, "/nonexistent.json"]);
    assert_eq!(code, 2);
    let (code, out, _) = run(&["validate", "--source", "stripe", &good]);
    assert_eq!(code, 1);
    assert!(
        out.contains("/id: missing") && out.contains("/type: missing"),
        "{out}"
    );
}

#[test]
fn validate_source_slack_reads_a_file_that_is_not_json_as_a_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    // As an editor saves them: a trailing newline.
    let command = path(
        "command.txt",
        "token=x&command=%2Fweather&text=94070&trigger_id=1334.7384.80889\n",
    );
    let payload = path(
        "payload.txt",
        "payload=%7B%22type%22%3A%22block_actions%22%2C%22trigger_id%22%3A%2213.73.88%22%7D",
    );
    let event = path(
        "event.json",
        r#"{"type":"event_callback","event_id":"Ev01","event":{"type":"app_mention"}}"#,
    );
    let (code, out, err) = run(&["validate", "--source", "slack", &command, &payload, &event]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        format!("{command}: ok\n{payload}: ok\n{event}: ok\n"),
        "{err}"
    );

    // Neither a command nor a payload; a payload that is not an object; a blank command.
    let neither = path("neither.txt", "text=94070&user_id=U1");
    let not_object = path("not_object.txt", "payload=%5B1%2C2%5D");
    let blank = path("blank.txt", "command=+&trigger_id=1.2.3");
    let (code, out, _) = run(&[
        "validate",
        "--source",
        "slack",
        &neither,
        &not_object,
        &blank,
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let result: Value = serde_json::from_str(&out).unwrap();
    let errors = |i: usize| result["files"][i]["errors"].clone();
    assert_eq!(errors(0)[0]["field"], "", "{out}");
    assert!(
        errors(0)[0]["message"]
            .as_str()
            .unwrap()
            .contains("slash command"),
        "{out}"
    );
    assert_eq!(errors(1)[0]["field"], "form:payload", "{out}");
    assert_eq!(errors(2)[0]["field"], "form:command", "{out}");

    // A file that starts as JSON is judged as JSON, with the place of the break.
    let broken = path("broken.json", "{\"type\": ");
    let (code, out, _) = run(&["validate", "--source", "slack", &broken]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("line 1"), "{out}");
    // Only Slack takes forms.
    let (code, out, _) = run(&["validate", "--source", "stripe", &command]);
    assert_eq!(code, 1, "{out}");
}

#[test]
fn samples_are_listed_shown_and_valid_for_their_source() {
    let (code, list, _) = run(&["samples", "list"]);
    assert_eq!(code, 0);
    assert!(
        list.lines().any(|l| l.starts_with("github.push ")),
        "{list}"
    );
    let (code, body, _) = run(&["samples", "show", "stripe.invoice.paid"]);
    assert_eq!(code, 0);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["type"], "invoice.paid");
    let (code, _, err) = run(&["samples", "show", "github.pushed"]);
    assert_eq!(code, 2);
    assert!(err.contains("samples list"), "{err}");
}
