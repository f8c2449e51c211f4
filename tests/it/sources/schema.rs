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

/// The README's own JSON flow: `send --as json` posts a file as it is, with the header the
/// receiver's `--type-from` reads, and the schema source keeps it under the id it points at.
#[test]
fn send_as_json_posts_any_json_to_a_schema_source_as_the_readme_shows() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("order.schema.json");
    std::fs::write(&schema, SCHEMA).unwrap();
    let order = dir.path().join("order.json");
    let body = "{\"order\": {\"id\": \"ord_17\"}, \"total\": 12.5}\n";
    std::fs::write(&order, body).unwrap();
    let order = order.to_str().unwrap();
    let serve = serve(&[
        "--source",
        &format!("schema:{}", schema.display()),
        "--id-from",
        "/order/id",
        "--type-from",
        "header:X-Kind",
    ]);
    let url = serve.url("/webhook");

    let (code, out, err) = run(&[
        "send",
        "--as",
        "json",
        "--to",
        &url,
        "--file",
        order,
        "-H",
        "X-Kind: order.paid",
    ]);
    let (status, stored) = super::get(&serve.url("/events/ord_17"));
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "total: 12").unwrap();
    let (refused, _, why) = run(&[
        "send",
        "--as",
        "json",
        "--to",
        &url,
        "--file",
        not_json.to_str().unwrap(),
    ]);
    let (_, listed) = super::get(&serve.url("/events"));

    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("\"id\":\"ord_17\""), "{out}");
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["event_type"], "order.paid");
    assert_eq!(stored["body"]["total"], 12.5, "{stored}");
    assert_eq!(refused, 2, "{why}");
    assert!(why.contains("nothing was sent"), "{why}");
    assert_eq!(
        listed["events"].as_array().unwrap().len(),
        1,
        "only the order was stored: {listed}"
    );
}

/// With a secret, `--as json` signs as Standard Webhooks does: a `standard` source with the
/// same secret accepts it, another secret is refused.
#[test]
fn send_as_json_with_a_secret_is_signed_as_standard_webhooks() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let serve = serve(&["--source", "standard", "--secret", secret]);
    let body = r#"{"type": "invoice.paid", "amount": 5}"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.json");
    std::fs::write(&file, body).unwrap();
    let file = file.to_str().unwrap();
    let url = serve.url("/webhook");

    let (code, out, err) = run(&[
        "send",
        "--as",
        "json",
        "--to",
        &url,
        "--file",
        file,
        "--secret",
        secret,
        "--id",
        "msg_json_1",
    ]);
    let (other, _, _) = run(&[
        "send",
        "--as",
        "json",
        "--to",
        &url,
        "--file",
        file,
        "--secret",
        "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=",
        "--retries",
        "0",
    ]);
    let (status, stored) = super::get(&serve.url("/events/msg_json_1"));

    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(status, 200, "{stored}");
    assert_eq!(stored["event_type"], "invoice.paid");
    assert_eq!(other, 1, "a delivery refused with 401 is not delivered");
}

/// `validate --id-from/--type-from` check that each file has its id and type where the
/// receiver will look; a header locator cannot be checked in a file and is left out.
#[test]
fn validate_checks_where_the_id_and_type_are() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let schema = path("s.json", SCHEMA);
    let with_id = path("a.json", r#"{"order":{"id":"a"},"total":1}"#);
    let without = path("b.json", r#"{"order":{"id":"b"},"total":1,"kind":null}"#);

    let (ok, _, err) = run(&[
        "validate",
        "--schema",
        &schema,
        "--id-from",
        "/order/id",
        "--type-from",
        "header:X-Kind",
        &with_id,
    ]);
    let (bad, out, _) = run(&[
        "validate",
        "--source",
        "json",
        "--id-from",
        "/order/id",
        "--type-from",
        "/kind",
        &with_id,
        &without,
    ]);
    let (usage, _, why) = run(&["validate", "--id-from", "/order/id", &with_id]);
    let (pointer, _, bad_pointer) = run(&[
        "validate",
        "--source",
        "json",
        "--id-from",
        "/a~2b",
        &with_id,
    ]);

    assert_eq!(ok, 0, "{err}");
    assert_eq!(bad, 1, "{out}");
    assert!(out.contains("/kind"), "{out}");
    assert_eq!(usage, 2, "{why}");
    assert!(why.contains("--id-from"), "{why}");
    assert_eq!(pointer, 2, "{bad_pointer}");
    assert!(bad_pointer.contains("~0 or ~1"), "{bad_pointer}");
}

/// `serve --id-from` or `--type-from` for a source that takes its id elsewhere would be
/// ignored: refused at start instead, as a stray --secret is.
#[test]
fn id_from_without_a_json_source_is_refused_at_start() {
    for args in [
        vec!["serve", "--port", "0", "--id-from", "/id"],
        vec![
            "serve",
            "--port",
            "0",
            "--source",
            "stripe",
            "--type-from",
            "header:X-Kind",
        ],
        vec![
            "serve",
            "--port",
            "0",
            "--source",
            "json",
            "--id-from",
            "/a~2b",
        ],
    ] {
        let output = crate::support::hookrelay()
            .args(&args)
            .timeout(crate::support::DEADLINE)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("--id-from") || err.contains("--type-from"),
            "{args:?}: {err}"
        );
    }
}
