//! `hookrelay validate`: one fixture per kind of bad input with its exact messages, exit
//! codes, stdin, `--format json`, several files; and `send` and `serve` judging the same
//! payloads with the same messages.

use crate::support;

use std::collections::BTreeSet;

use assert_cmd::assert::Assert;
use serde_json::{Value, json};
use support::{App, hookrelay, unused_port};

const TS_FORM: &str = "expected an ISO 8601 date-time such as \"2023-10-05T12:34:56\" \
    (seconds, a fraction and an offset like Z or +02:00 are optional)";

/// Valid fixtures and what `validate` says of them.
const VALID: &[(&str, &str)] = &[
    ("valid.json", "ok"),
    ("valid_array.json", "ok (3 events)"),
    ("valid_extra_fields.json", "ok"),
];

/// Invalid fixtures and each problem line `validate` prints for them.
fn invalid() -> Vec<(&'static str, Vec<String>)> {
    let ts = |got: &str| format!("timestamp: {TS_FORM}, got {got}");
    vec![
        ("id_string.json", vec![r#"event_id: expected an integer, got string "123""#.into()]),
        ("id_float.json", vec!["event_id: expected an integer, got number 123.0".into()]),
        ("id_bool.json", vec!["event_id: expected an integer, got boolean true".into()]),
        ("id_null.json", vec!["event_id: expected an integer, got null".into()]),
        (
            "id_beyond_i64.json",
            vec![
                "event_id: expected an integer in the signed 64-bit range, got number 9223372036854775808"
                    .into(),
            ],
        ),
        (
            "missing_fields.json",
            vec![
                "event_id: required field is missing".into(),
                "timestamp: required field is missing".into(),
                "description: required field is missing".into(),
            ],
        ),
        (
            "empty_event_type.json",
            vec!["event_type: expected a non-empty string, got an empty string".into()],
        ),
        (
            "nul_in_event_type.json",
            vec!["event_type: must not contain the NUL character (U+0000)".into()],
        ),
        (
            "every_field_wrong.json",
            vec![
                r#"event_id: expected an integer, got string "12""#.into(),
                ts("number 5"),
                "event_type: expected a non-empty string, got an empty string".into(),
                "description: expected a string, got null".into(),
            ],
        ),
        ("timestamp_date_only.json", vec![ts(r#""2023-10-05" (a date alone has no time)"#)]),
        ("timestamp_unix_number.json", vec![ts("number 1696509296")]),
        (
            "timestamp_numeric_string.json",
            vec![ts(r#""1696509296" (a number is not a date-time)"#)],
        ),
        ("timestamp_hour_24.json", vec![ts(r#""2023-10-05T24:00:00" (hour out of range)"#)]),
        (
            "timestamp_month_13.json",
            vec![ts(r#""2023-13-05T12:34:56" (the date is out of range)"#)],
        ),
        (
            "array_bad_element.json",
            vec![format!(
                "[1].{}",
                ts(r#""2023-10-05" (a date alone has no time)"#)
            )],
        ),
        (
            "top_level_scalar.json",
            vec![r#"(top level): expected a JSON object, got string "an event""#.into()],
        ),
        (
            "malformed.json",
            vec!["invalid JSON at line 5, column 3: expected `,` or `}`".into()],
        ),
        (
            "empty.json",
            vec!["invalid JSON at line 1, column 1: EOF while parsing a value".into()],
        ),
    ]
}

fn validate(args: &[&str]) -> assert_cmd::Command {
    let mut command = hookrelay();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("validate")
        .args(args)
        .timeout(support::DEADLINE);
    command
}

fn fixture(name: &str) -> String {
    format!("tests/fixtures/{name}")
}

fn stdout(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[test]
fn every_fixture_is_covered_by_a_test() {
    let on_disk: BTreeSet<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    let covered: BTreeSet<String> = VALID
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(invalid().into_iter().map(|(name, _)| name.to_string()))
        .collect();
    assert_eq!(on_disk, covered);
}

#[test]
fn valid_files_are_ok_and_exit_0() {
    for (name, verdict) in VALID {
        let done = validate(&[&fixture(name)]).assert().code(0);

        assert_eq!(stdout(&done), format!("{}: {verdict}\n", fixture(name)));
        assert_eq!(stderr(&done), "");
    }
}

#[test]
fn each_kind_of_bad_input_gets_its_exact_messages_and_exit_1() {
    for (name, lines) in invalid() {
        let refused = validate(&[&fixture(name)]).assert().code(1);

        let expected: String = lines.iter().map(|l| format!("\n  {l}")).collect();
        assert_eq!(
            stdout(&refused),
            format!("{}: invalid{expected}\n", fixture(name)),
            "{name}"
        );
    }
}

#[test]
fn stdin_is_read_with_a_dash() {
    let good = std::fs::read(fixture_path("valid.json")).unwrap();
    let bad = std::fs::read(fixture_path("id_string.json")).unwrap();

    let ok = validate(&["-"]).write_stdin(good).assert().code(0);
    let refused = validate(&["-"]).write_stdin(bad).assert().code(1);

    assert_eq!(stdout(&ok), "(stdin): ok\n");
    assert_eq!(
        stdout(&refused),
        "(stdin): invalid\n  event_id: expected an integer, got string \"123\"\n"
    );
}

fn fixture_path(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn several_files_are_each_reported_and_one_invalid_makes_exit_1() {
    let refused = validate(&[
        &fixture("valid.json"),
        &fixture("id_null.json"),
        &fixture("valid_array.json"),
    ])
    .assert()
    .code(1);

    assert_eq!(
        stdout(&refused),
        format!(
            "{}: ok\n{}: invalid\n  event_id: expected an integer, got null\n{}: ok (3 events)\n",
            fixture("valid.json"),
            fixture("id_null.json"),
            fixture("valid_array.json")
        )
    );
}

#[test]
fn an_unreadable_file_exits_2_and_the_others_are_still_checked() {
    let trouble = validate(&[
        &fixture("missing.json"),
        &fixture("id_null.json"),
        &fixture("valid.json"),
    ])
    .assert()
    .code(2);

    assert_eq!(
        stderr(&trouble),
        format!(
            "hookrelay: error: reading {}: No such file or directory (os error 2)\n",
            fixture("missing.json")
        )
    );
    assert!(stdout(&trouble).contains("id_null.json: invalid"));
    assert!(stdout(&trouble).contains("valid.json: ok"));
}

#[test]
fn a_directory_is_unreadable() {
    let trouble = validate(&["tests/fixtures"]).assert().code(2);

    assert!(
        stderr(&trouble).starts_with("hookrelay: error: reading tests/fixtures:"),
        "{}",
        stderr(&trouble)
    );
}

#[test]
fn json_format_gives_one_machine_readable_object() {
    let refused = validate(&[
        "--format",
        "json",
        &fixture("valid_array.json"),
        &fixture("array_bad_element.json"),
        &fixture("malformed.json"),
    ])
    .assert()
    .code(1);

    let result: Value = serde_json::from_str(&stdout(&refused)).expect("one JSON object");
    assert_eq!(
        result,
        json!({
            "valid": false,
            "files": [
                {"file": fixture("valid_array.json"), "valid": true, "events": 3, "errors": []},
                {"file": fixture("array_bad_element.json"), "valid": false, "events": 0, "errors": [
                    {"field": "[1].timestamp", "message": format!("{TS_FORM}, got \"2023-10-05\" (a date alone has no time)")},
                ]},
                {"file": fixture("malformed.json"), "valid": false, "events": 0, "errors": [
                    {"field": "", "line": 5, "column": 3,
                     "message": "invalid JSON at line 5, column 3: expected `,` or `}`"},
                ]},
            ],
        })
    );
    assert_eq!(stdout(&refused).lines().count(), 1);
}

#[test]
fn json_format_reports_an_unreadable_file_in_the_object_and_exits_2() {
    let trouble = validate(&[
        "--format",
        "json",
        &fixture("valid.json"),
        &fixture("missing.json"),
    ])
    .assert()
    .code(2);

    let result: Value = serde_json::from_str(&stdout(&trouble)).expect("one JSON object");
    assert_eq!(result["valid"], false);
    assert_eq!(result["files"][0]["valid"], true);
    assert_eq!(result["files"][1]["file"], fixture("missing.json"));
    assert_eq!(result["files"][1]["valid"], false);
    assert_eq!(result["files"][1]["events"], 0);
    let errors = result["files"][1]["errors"]
        .as_array()
        .expect("an errors list");
    assert_eq!(errors.len(), 1, "{result}");
    assert_eq!(errors[0]["field"], "");
    assert!(
        errors[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("reading tests/fixtures/missing.json"),
        "{result}"
    );
    // One shape for every file: the same keys whether valid, invalid or unreadable.
    let keys = |file: &Value| {
        let mut keys: Vec<String> = file.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&result["files"][0]), keys(&result["files"][1]));
    assert_eq!(
        keys(&result["files"][1]),
        ["errors", "events", "file", "valid"]
    );
}

#[test]
fn all_valid_in_json_format_exits_0() {
    let done = validate(&["--format", "json", &fixture("valid.json")])
        .assert()
        .code(0);

    let result: Value = serde_json::from_str(&stdout(&done)).unwrap();
    assert_eq!(result["valid"], true);
}

#[test]
fn usage_errors_exit_2() {
    let no_files = validate(&[]).assert().code(2);
    let bad_format = validate(&["--format", "yaml", &fixture("valid.json")])
        .assert()
        .code(2);

    assert!(stderr(&no_files).contains("required arguments were not provided"));
    assert!(stderr(&bad_format).contains("invalid value 'yaml' for '--format <FORMAT>'"));
}

/// `send` refuses each single-event fixture with the same problem lines `validate` prints.
#[test]
fn send_and_validate_never_disagree() {
    let nowhere = format!("http://127.0.0.1:{}/webhook", unused_port());
    for (name, lines) in invalid() {
        if name.starts_with("array") {
            continue;
        }

        let refused = hookrelay()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["send", "--to", &nowhere, "--file", &fixture(name)])
            .timeout(support::DEADLINE)
            .assert()
            .code(2);

        let err = stderr(&refused);
        for line in lines {
            assert!(err.contains(&format!("\n  {line}\n")), "{name}: {err}");
        }
        assert!(!err.contains("attempt"), "{name}: nothing may be sent");
    }
}

/// `serve` answers each single-event fixture with the problems `validate --format json` gives.
#[tokio::test]
async fn serve_and_validate_never_disagree() {
    let app = App::start().await;
    for (name, _) in invalid() {
        if name.starts_with("array") {
            continue;
        }
        let judged = validate(&["--format", "json", &fixture(name)])
            .assert()
            .code(1);
        let verdict: Value = serde_json::from_str(&stdout(&judged)).unwrap();
        let errors = &verdict["files"][0]["errors"];

        let (status, answer) = app.post(std::fs::read(fixture_path(name)).unwrap()).await;

        if errors[0].get("line").is_some() {
            assert_eq!(status, 400, "{name}");
            assert_eq!(answer["message"], errors[0]["message"], "{name}");
            assert_eq!(answer["line"], errors[0]["line"], "{name}");
            assert_eq!(answer["column"], errors[0]["column"], "{name}");
        } else {
            assert_eq!(status, 422, "{name}");
            assert_eq!(&answer["details"], errors, "{name}");
        }
    }
}
