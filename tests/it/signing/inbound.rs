//! `serve --verify` as senders meet it: `send --secret`, headers from `sign`, secrets from
//! the environment or a file, stale timestamps, changed bodies, several signatures, the
//! idempotency key, and GitHub's scheme.

use std::path::Path;

use hookrelay::alert::signing::{self, Secret};
use serde_json::Value;

use super::{OTHER_SECRET, SECRET};
use crate::support::{Served, get_json, hookrelay};

/// `hookrelay serve --port 0 --host 127.0.0.1 --workers 1 ARGS…`.
fn start(args: &[&str]) -> Served {
    let mut all = vec!["--host", "127.0.0.1", "--workers", "1"];
    all.extend_from_slice(args);
    Served::start(&all)
}

/// A server verifying the standard scheme with [`SECRET`].
fn verifying() -> Served {
    start(&["--verify", "standard", "--secret", SECRET])
}

/// `hookrelay send --json --retries 0 …`: the exit code and the result object.
fn send(url: &str, args: &[&str]) -> (i32, Value) {
    let output = hookrelay()
        .args(["send", "--to", url, "--json", "--retries", "0"])
        .args(args)
        .output()
        .unwrap();
    let result: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&output.stdout)));
    (output.status.code().unwrap(), result)
}

/// The receiver's answer inside a `send --json` result.
fn response(result: &Value) -> Value {
    serde_json::from_str(result["response"].as_str().unwrap()).unwrap()
}

fn event_file(dir: &Path, name: &str, event_id: i64, description: &str) -> String {
    let path = dir.join(name);
    let body = format!(
        r#"{{"event_id":{event_id},"timestamp":"2023-10-05T12:34:56Z","event_type":"alert","description":"{description}"}}"#
    );
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

/// `hookrelay sign` output turned into `-H` arguments for `send`.
fn signed_headers(args: &[&str]) -> Vec<String> {
    let output = hookrelay().arg("sign").args(args).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .flat_map(|line| ["-H".to_string(), line.to_string()])
        .collect()
}

fn strs(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

/// GETs `url` from a plain test; the status and the JSON answer.
fn get(url: &str) -> (u16, Value) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(get_json(url))
}

#[test]
fn a_signed_send_is_accepted_and_stored() {
    let serve = verifying();
    let (code, result) = send(
        &serve.url("/webhook"),
        &["--event-id", "7", "--secret", SECRET],
    );
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["status"], 200);
    assert_eq!(response(&result)["event_id"], 7);
    let (status, stored) = get(&serve.url("/events/7"));
    assert_eq!(status, 200);
    assert_eq!(stored["event_type"], "alert");
    assert_eq!(
        stored["signature"],
        serde_json::json!({"scheme": "standard", "headers": "webhook-*", "verified": true})
    );
    let names: Vec<&str> = stored["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    for name in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "user-agent",
    ] {
        assert!(names.contains(&name), "{name} kept: {names:?}");
    }
}

#[test]
fn the_secret_can_come_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.txt");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let serve = start(&[
        "--verify",
        "standard",
        "--secret-file",
        file.to_str().unwrap(),
    ]);
    let output = hookrelay()
        .env("HOOKRELAY_SECRET", SECRET)
        .args(["send", "--to", &serve.url("/webhook"), "--event-id", "8"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_wrong_secret_is_refused_with_no_matching_signature() {
    let serve = verifying();
    let (code, result) = send(
        &serve.url("/webhook"),
        &["--event-id", "1", "--secret", OTHER_SECRET],
    );
    assert_eq!(code, 1);
    assert_eq!(result["status"], 401);
    let answer = response(&result);
    assert_eq!(answer["status"], "error");
    assert_eq!(answer["error"], "invalid_signature");
    assert_eq!(answer["reason"], "no_matching_signature");
    assert!(answer["message"].as_str().unwrap().contains("no signature"));
}

#[test]
fn an_unsigned_send_is_refused_with_missing_header() {
    let serve = verifying();
    let (code, result) = send(&serve.url("/webhook"), &["--event-id", "1"]);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "missing_header");
}

#[test]
fn an_old_timestamp_is_refused_unless_the_tolerance_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let body = event_file(dir.path(), "e.json", 3, "late");
    let old = (signing::now_unix() - 600).to_string();
    let headers = signed_headers(&["--secret", SECRET, "--timestamp", &old, &body]);

    let strict = verifying();
    let mut args = strs(&headers);
    args.extend(["--file", &body]);
    let (code, result) = send(&strict.url("/webhook"), &args);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 401);
    assert_eq!(response(&result)["reason"], "timestamp_too_old");

    let lenient = start(&[
        "--verify",
        "standard",
        "--secret",
        SECRET,
        "--verify-tolerance",
        "off",
    ]);
    let (code, result) = send(&lenient.url("/webhook"), &args);
    assert_eq!(code, 0, "{result}");
}

#[test]
fn a_header_whose_second_signature_is_valid_is_accepted() {
    let serve = verifying();
    let url = serve.url("/webhook");
    let args = [
        "--event-id",
        "4",
        "--secret",
        OTHER_SECRET,
        "--secret",
        SECRET,
    ];
    let dry = hookrelay()
        .args(["send", "--to", &url, "--dry-run"])
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8(dry.stdout).unwrap();
    let signature_line = text
        .lines()
        .find(|l| l.starts_with("webhook-signature: "))
        .unwrap();
    assert_eq!(signature_line.matches("v1,").count(), 2, "{signature_line}");

    let (code, result) = send(&url, &args);
    assert_eq!(code, 0, "{result}");
    assert_eq!(response(&result)["event_id"], 4);
}

#[test]
fn a_body_changed_by_one_byte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = event_file(dir.path(), "a.json", 5, "a");
    let changed = event_file(dir.path(), "b.json", 5, "b");
    let headers = signed_headers(&["--secret", SECRET, &signed]);
    let serve = verifying();
    let mut args = strs(&headers);
    args.extend(["--file", &changed]);
    let (code, result) = send(&serve.url("/webhook"), &args);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "no_matching_signature");

    args.pop();
    args.push(&signed);
    let (code, result) = send(&serve.url("/webhook"), &args);
    assert_eq!(code, 0, "{result}");
}

#[test]
fn a_verified_webhook_id_is_an_idempotency_key_for_the_same_bytes_only() {
    let serve = verifying();
    let url = serve.url("/webhook");
    let fixed = ["--secret", SECRET, "--timestamp", "2023-10-05T12:34:56Z"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> {
        let mut args = vec!["--event-id", "9"];
        args.extend_from_slice(&fixed);
        args.extend_from_slice(extra);
        args
    };
    let (_, result) = send(&url, &with(&["--description", "one"]));
    assert_eq!(
        response(&result),
        serde_json::json!({"status": "success", "event_id": 9})
    );
    // The same message again (same webhook-id evt_9, same bytes, a fresh signature): the
    // duplicate answer.
    let (code, result) = send(&url, &with(&["--description", "one"]));
    assert_eq!(code, 0, "{result}");
    assert_eq!(response(&result)["duplicate"], true);
    // The same webhook-id with another body is a conflict, never a silent duplicate.
    let (code, result) = send(&url, &with(&["--description", "two"]));
    assert_eq!(code, 1);
    assert_eq!(result["status"], 409);
    let answer = response(&result);
    assert_eq!(answer["error"], "conflict");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("webhook-id evt_9"),
        "{answer}"
    );
    // Another event under a reused webhook-id is refused too, and not reported as stored.
    let mut other = vec!["--event-id", "10", "--id", "evt_9", "--description", "one"];
    other.extend_from_slice(&fixed);
    let (code, result) = send(&url, &other);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 409);
    // Another webhook-id with the same event_id and a different body is still a conflict.
    let (code, result) = send(&url, &with(&["--description", "two", "--id", "x"]));
    assert_eq!(code, 1);
    assert_eq!(result["status"], 409);
    let (_, stored) = get(&serve.url("/events/9"));
    assert_eq!(stored["description"], "one");
    let (status, _) = get(&serve.url("/events/10"));
    assert_eq!(status, 404);
}

#[test]
fn github_signatures_are_verified() {
    let secret = "It's a Secret to Everybody";
    let dir = tempfile::tempdir().unwrap();
    let body = event_file(dir.path(), "g.json", 11, "from github");
    let good = signing::github_signature(
        &Secret::raw(secret).unwrap(),
        &std::fs::read(&body).unwrap(),
    );
    let serve = start(&["--verify", "github", "--secret", secret]);
    let header = format!("X-Hub-Signature-256: {good}");
    let (code, result) = send(&serve.url("/webhook"), &["--file", &body, "-H", &header]);
    assert_eq!(code, 0, "{result}");

    // GitHub's scheme does not sign webhook-id: reused on another event, it decides nothing.
    let next = event_file(dir.path(), "h.json", 12, "also from github");
    let next_signature = signing::github_signature(
        &Secret::raw(secret).unwrap(),
        &std::fs::read(&next).unwrap(),
    );
    for (file, signature) in [(&body, &good), (&next, &next_signature)] {
        let header = format!("X-Hub-Signature-256: {signature}");
        let args = ["--file", file, "-H", &header, "-H", "webhook-id: shared"];
        let (code, result) = send(&serve.url("/webhook"), &args);
        assert_eq!(code, 0, "{result}");
    }
    let (_, stored) = get(&serve.url("/events/12"));
    assert_eq!(stored["description"], "also from github");
    assert_eq!(
        stored["signature"],
        serde_json::json!({"scheme": "github", "headers": "x-hub-signature-256", "verified": true})
    );

    let wrong = format!("X-Hub-Signature-256: {}0", &good[..good.len() - 1]);
    let (code, result) = send(&serve.url("/webhook"), &["--file", &body, "-H", &wrong]);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "no_matching_signature");
}

/// `hookrelay sign` output under Svix's header names (`svix-id`, …) as `-H` arguments.
fn svix_headers(args: &[&str]) -> Vec<String> {
    signed_headers(args)
        .into_iter()
        .map(|arg| arg.replacen("webhook-", "svix-", 1))
        .collect()
}

#[test]
fn svix_header_names_are_verified_and_a_verified_svix_id_is_an_idempotency_key() {
    let serve = verifying();
    let url = serve.url("/webhook");
    let dir = tempfile::tempdir().unwrap();
    let first = event_file(dir.path(), "first.json", 31, "one");
    let other = event_file(dir.path(), "other.json", 32, "two");
    let post = |file: &str, headers: &[String]| {
        let mut args = vec!["--file", file];
        args.extend(headers.iter().map(String::as_str));
        send(&url, &args)
    };

    let signed = svix_headers(&["--secret", SECRET, "--id", "msg_svix_1", &first]);
    assert!(
        signed.iter().any(|h| h.starts_with("svix-signature: v1,")),
        "{signed:?}"
    );
    let (code, result) = post(&first, &signed);
    assert_eq!(code, 0, "{result}");
    assert_eq!(
        response(&result),
        serde_json::json!({"status": "success", "event_id": 31})
    );
    let (_, stored) = get(&serve.url("/events/31"));
    assert_eq!(stored["signature"]["headers"], "svix-*", "{stored}");

    // Another event under the same verified svix-id is a conflict, as under webhook-id.
    let reused = svix_headers(&["--secret", SECRET, "--id", "msg_svix_1", &other]);
    let (code, result) = post(&other, &reused);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 409, "{result}");

    // Signed with another secret: refused like any bad signature.
    let forged = svix_headers(&["--secret", OTHER_SECRET, "--id", "msg_svix_2", &other]);
    let (code, result) = post(&other, &forged);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 401, "{result}");
    assert_eq!(response(&result)["reason"], "no_matching_signature");
}

/// The python of `target/svix-venv` (made by `scripts/svix-venv.sh`), or why there is none.
fn svix_python() -> Result<String, String> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/svix-venv.sh");
    let made = std::process::Command::new("bash")
        .arg(script)
        .output()
        .map_err(|e| format!("running {script}: {e}"))?;
    if !made.status.success() {
        return Err(format!(
            "{script} failed: {}",
            String::from_utf8_lossy(&made.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&made.stdout).trim().to_string())
}

#[test]
fn a_request_signed_by_the_svix_library_is_accepted() {
    let python = match svix_python() {
        Ok(python) => python,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            println!("skipped: the svix Python library is not available: {why}");
            return;
        }
        Err(why) => panic!("the svix Python library is needed under CI: {why}"),
    };
    let serve = verifying();
    let dir = tempfile::tempdir().unwrap();
    let file = event_file(dir.path(), "event.json", 41, "signed by svix");
    let body = std::fs::read_to_string(&file).unwrap();
    // Svix's own Webhook.sign, at the current time, over the exact body.
    let sign = r#"
import datetime, sys
from svix.webhooks import Webhook
now = datetime.datetime.now(tz=datetime.timezone.utc).replace(microsecond=0)
signature = Webhook(sys.argv[1]).sign(sys.argv[2], now, sys.argv[3])
print(int(now.timestamp()), signature)
"#;
    let signed = std::process::Command::new(&python)
        .args(["-c", sign, SECRET, "msg_svix_lib", &body])
        .output()
        .unwrap();
    assert!(signed.status.success(), "{signed:?}");
    let out = String::from_utf8(signed.stdout).unwrap();
    let (timestamp, signature) = out.trim().split_once(' ').unwrap();

    let headers = [
        "svix-id: msg_svix_lib".to_string(),
        format!("svix-timestamp: {timestamp}"),
        format!("svix-signature: {signature}"),
    ];
    let mut args = vec!["--file", file.as_str()];
    for header in &headers {
        args.extend(["-H", header.as_str()]);
    }
    let (code, result) = send(&serve.url("/webhook"), &args);

    assert_eq!(code, 0, "{result}");
    assert_eq!(
        response(&result),
        serde_json::json!({"status": "success", "event_id": 41})
    );
    // The event says which header names carried the signature.
    let (_, stored) = get(&serve.url("/events/evt_41"));
    assert_eq!(
        stored["signature"],
        serde_json::json!({"scheme": "standard", "headers": "svix-*", "verified": true})
    );
}
