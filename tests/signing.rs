//! Signatures end to end through the real binary: `send --secret` to `serve --verify`,
//! `sign`/`verify`/`secret new`, retries signed afresh at a mock customer, GitHub's scheme,
//! and secrets kept out of output. Helpers are local to this file.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::{Arc, Mutex};

use assert_cmd::Command;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hookrelay::alert::signing::{self, Secret, Tolerance};
use predicates::prelude::*;
use serde_json::Value;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y";
const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

/// The binary with a cleared environment.
fn hookrelay() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hookrelay"));
    cmd.env_clear();
    cmd
}

/// A `hookrelay serve --port 0 …` child, killed on drop.
struct Serve {
    child: Child,
    base: String,
}

impl Serve {
    fn start(args: &[&str]) -> Self {
        let mut child = StdCommand::new(env!("CARGO_BIN_EXE_hookrelay"))
            .env_clear()
            .args([
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--workers",
                "1",
            ])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning hookrelay serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Serve { child, base }
    }

    fn webhook(&self) -> String {
        format!("{}/webhook", self.base)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

fn get(url: &str) -> (u16, Value) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let answer = reqwest::get(url).await.unwrap();
        let status = answer.status().as_u16();
        (
            status,
            serde_json::from_str(&answer.text().await.unwrap()).unwrap(),
        )
    })
}

#[test]
fn a_signed_send_is_accepted_and_stored() {
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let (code, result) = send(&serve.webhook(), &["--event-id", "7", "--secret", SECRET]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["status"], 200);
    assert_eq!(response(&result)["event_id"], 7);
    let (status, stored) = get(&format!("{}/events/7", serve.base));
    assert_eq!(status, 200);
    assert_eq!(stored["event_type"], "alert");
}

#[test]
fn the_secret_can_come_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secrets.txt");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let serve = Serve::start(&[
        "--verify",
        "standard",
        "--secret-file",
        file.to_str().unwrap(),
    ]);
    let output = hookrelay()
        .env("HOOKRELAY_SECRET", SECRET)
        .args(["send", "--to", &serve.webhook(), "--event-id", "8"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

#[test]
fn a_wrong_secret_is_refused_with_no_matching_signature() {
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let (code, result) = send(
        &serve.webhook(),
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
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let (code, result) = send(&serve.webhook(), &["--event-id", "1"]);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "missing_header");
}

#[test]
fn an_old_timestamp_is_refused_unless_the_tolerance_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let body = event_file(dir.path(), "e.json", 3, "late");
    let old = (signing::now_unix() - 600).to_string();
    let headers = signed_headers(&["--secret", SECRET, "--timestamp", &old, &body]);

    let strict = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let mut args = strs(&headers);
    args.extend(["--file", &body]);
    let (code, result) = send(&strict.webhook(), &args);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 401);
    assert_eq!(response(&result)["reason"], "timestamp_too_old");

    let lenient = Serve::start(&[
        "--verify",
        "standard",
        "--secret",
        SECRET,
        "--verify-tolerance",
        "off",
    ]);
    let (code, result) = send(&lenient.webhook(), &args);
    assert_eq!(code, 0, "{result}");
}

#[test]
fn a_header_whose_second_signature_is_valid_is_accepted() {
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let url = serve.webhook();
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
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let mut args = strs(&headers);
    args.extend(["--file", &changed]);
    let (code, result) = send(&serve.webhook(), &args);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "no_matching_signature");

    args.pop();
    args.push(&signed);
    let (code, result) = send(&serve.webhook(), &args);
    assert_eq!(code, 0, "{result}");
}

#[test]
fn webhook_id_is_the_idempotency_key() {
    let serve = Serve::start(&["--verify", "standard", "--secret", SECRET]);
    let url = serve.webhook();
    let first = [
        "--event-id",
        "9",
        "--secret",
        SECRET,
        "--description",
        "one",
    ];
    let (_, result) = send(&url, &first);
    assert_eq!(
        response(&result),
        serde_json::json!({"status": "success", "event_id": 9})
    );
    // Same webhook-id (evt_9), rebuilt body: the duplicate answer, not a conflict.
    let again = [
        "--event-id",
        "9",
        "--secret",
        SECRET,
        "--description",
        "two",
    ];
    let (code, result) = send(&url, &again);
    assert_eq!(code, 0);
    assert_eq!(response(&result)["duplicate"], true);
    // Another webhook-id with the same event_id and a different body is still a conflict.
    let other_id = [
        "--event-id",
        "9",
        "--secret",
        SECRET,
        "--description",
        "two",
        "--id",
        "x",
    ];
    let (code, result) = send(&url, &other_id);
    assert_eq!(code, 1);
    assert_eq!(result["status"], 409);
    let (_, stored) = get(&format!("{}/events/9", serve.base));
    assert_eq!(stored["description"], "one");
}

/// A customer on 127.0.0.1:0 that answers 503 to the first `failures` requests, then 200,
/// and records every request's headers and body.
struct Mock {
    url: String,
    requests: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
}

fn mock_customer(failures: usize) -> Mock {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&requests);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
                let recorded = Arc::clone(&recorded);
                async move {
                    let mut all = recorded.lock().unwrap();
                    all.push((headers, body));
                    if all.len() <= failures {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            });
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    Mock { url, requests }
}

#[test]
fn retries_carry_fresh_timestamps_and_the_same_id() {
    let mock = mock_customer(1);
    // Backoff 1300ms minus 20% jitter is still over a second: the timestamps must differ.
    hookrelay()
        .args([
            "send",
            "--to",
            &mock.url,
            "--event-id",
            "42",
            "--secret",
            SECRET,
        ])
        .args(["--retries", "2", "--retry-backoff", "1300ms"])
        .assert()
        .success()
        .stderr(predicate::str::contains("attempt 2/3: 200"));

    let requests = mock.requests.lock().unwrap();
    assert_eq!(requests.len(), 2);
    let secrets = [Secret::parse(SECRET).unwrap()];
    for (headers, body) in requests.iter() {
        assert_eq!(headers["webhook-id"], "evt_42");
        signing::verify_standard(&secrets, headers, body, Tolerance::default())
            .expect("each attempt's signature verifies");
    }
    let ts = |i: usize| {
        requests[i].0["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse::<i64>()
    };
    assert!(ts(1).unwrap() > ts(0).unwrap());
    assert_ne!(
        requests[0].0["webhook-signature"],
        requests[1].0["webhook-signature"]
    );
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
    let serve = Serve::start(&["--verify", "github", "--secret", secret]);
    let header = format!("X-Hub-Signature-256: {good}");
    let (code, result) = send(&serve.webhook(), &["--file", &body, "-H", &header]);
    assert_eq!(code, 0, "{result}");

    let wrong = format!("X-Hub-Signature-256: {}0", &good[..good.len() - 1]);
    let (code, result) = send(&serve.webhook(), &["--file", &body, "-H", &wrong]);
    assert_eq!(code, 1);
    assert_eq!(response(&result)["reason"], "no_matching_signature");
}

#[test]
fn sign_and_verify_reproduce_the_specification_vector() {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.json");
    std::fs::write(&body, r#"{"test": 2432232314}"#).unwrap();
    let body = body.to_str().unwrap();
    let fixed = ["--id", VECTOR_ID, "--timestamp", "1614265330"];
    hookrelay()
        .args(["sign", "--secret", SECRET])
        .args(fixed)
        .arg(body)
        .assert()
        .success()
        .stdout(format!(
            "webhook-id: {VECTOR_ID}\nwebhook-timestamp: 1614265330\nwebhook-signature: {VECTOR_SIGNATURE}\n"
        ));

    let verify = |signature: &str| {
        let mut cmd = hookrelay();
        cmd.args([
            "verify",
            "--secret",
            SECRET,
            "--tolerance",
            "off",
            "--explain",
        ])
        .args(fixed)
        .args(["--signature", signature, body]);
        cmd
    };
    verify(VECTOR_SIGNATURE)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("signed content: 60 bytes"))
        .stdout(predicate::str::ends_with("valid\n"));
    let off_by_one = VECTOR_SIGNATURE.replace("g0hM", "g0hN");
    verify(&off_by_one)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!(
            "expected:       {VECTOR_SIGNATURE}"
        )))
        .stdout(predicate::str::contains(format!(
            "received:       {off_by_one}"
        )))
        .stdout(predicate::str::contains(
            "failed check:   signature: no_matching_signature",
        ));
    // The vector's timestamp is years old: with the default tolerance it is refused.
    hookrelay()
        .args(["verify", "--secret", SECRET])
        .args(fixed)
        .args(["--signature", VECTOR_SIGNATURE, body])
        .assert()
        .code(1)
        .stdout(predicate::str::starts_with("invalid: timestamp_too_old"));
    verify(VECTOR_SIGNATURE)
        .arg("/nonexistent/body.json")
        .assert()
        .code(2);
}

#[test]
fn secret_new_prints_fresh_32_byte_secrets() {
    let make = || {
        let output = hookrelay().args(["secret", "new"]).output().unwrap();
        assert!(output.status.success());
        String::from_utf8(output.stdout).unwrap()
    };
    let (a, b) = (make(), make());
    assert_ne!(a, b);
    assert!(a.starts_with("whsec_") && a.ends_with('\n'));
    assert_eq!(
        a.trim().len(),
        "whsec_".len() + 44,
        "32 bytes are 44 base64 characters"
    );
    assert!(Secret::parse(a.trim()).is_ok());
}

#[test]
fn secrets_stay_out_of_dry_runs_and_error_messages() {
    let key = SECRET.trim_start_matches("whsec_");
    hookrelay()
        .args(["send", "--to", "http://127.0.0.1:9/", "--event-id", "1"])
        .args(["--secret", SECRET, "--dry-run"])
        .assert()
        .success()
        .stdout(predicate::str::contains("webhook-signature: v1,"))
        .stdout(predicate::str::contains(key).not());
    let bad = "whsec_this-is-not-base64-but-secret";
    for args in [
        vec![
            "send",
            "--to",
            "http://127.0.0.1:9/",
            "--event-id",
            "1",
            "--secret",
            bad,
        ],
        vec!["sign", "--secret", bad, "-"],
        vec![
            "serve", "--port", "0", "--verify", "standard", "--secret", bad,
        ],
    ] {
        hookrelay()
            .args(&args)
            .write_stdin("{}")
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not valid base64"))
            .stderr(predicate::str::contains("this-is-not").not());
    }
}
