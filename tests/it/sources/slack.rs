//! Slack's requests that are not events: the `ssl_check` of a slash command's URL; and
//! `send --as slack` with a Content-Type of the caller's choosing.

use serde_json::json;

use super::providers::slack_headers;
use super::{get, now, post, run, serve};
use crate::support::Customer;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn slack_s_ssl_check_is_answered_200_and_nothing_is_kept() {
    let serve = serve(&[
        "--source",
        "slack",
        "--secret",
        SECRET,
        "--source",
        "slack=/webhook/commands",
    ]);
    let check = b"ssl_check=1&token=x";
    let mut signed = slack_headers(SECRET, now(), check);
    signed.push(("content-type", FORM.to_string()));

    let (status, answer) = post(&serve.url("/webhook"), &signed, check);
    assert_eq!(
        (status, &answer),
        (200, &json!({"ssl_check": "ok"})),
        "{answer}"
    );
    // The signature is still checked first.
    let mut forged = slack_headers("not-the-secret", now(), check);
    forged.push(("content-type", FORM.to_string()));
    let (status, answer) = post(&serve.url("/webhook"), &forged, check);
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("no_matching_signature")),
        "{answer}"
    );
    // A mount without a secret answers it too.
    let form = [("content-type", FORM.to_string())];
    let (status, answer) = post(&serve.url("/webhook/commands"), &form, check);
    assert_eq!(status, 200, "{answer}");

    let (_, listed) = get(&serve.url("/events"));
    assert_eq!(listed["events"], json!([]), "nothing kept: {listed}");
}

#[test]
fn send_as_slack_sends_a_form_with_the_content_type_given_by_header() {
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("command.txt");
    let command = "command=%2Fweather&text=94070&trigger_id=1.2.3";
    std::fs::write(&file, command).unwrap();

    let (code, out, err) = run(&[
        "send",
        "--as",
        "slack",
        "-H",
        "Content-Type: text/plain",
        "--file",
        file.to_str().unwrap(),
        "--to",
        &customer.url("/hook"),
        "--secret",
        SECRET,
    ]);

    assert_eq!(code, 0, "{out} {err}");
    let got = customer.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header_all("content-type"), ["text/plain"]);
    assert_eq!(got[0].body_text(), command, "the bytes as they are");
    assert!(got[0].header("x-slack-signature").is_some());
}
