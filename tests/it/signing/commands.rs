//! Signing on the command line: retries signed afresh at a mock customer, `sign` and
//! `verify` against the specification's vector, `secret new`, and secrets kept out of output.

use hookrelay::alert::signing::{self, Secret, Tolerance};
use predicates::prelude::*;

use super::SECRET;
use crate::support::{Answer, Customer, hookrelay};

const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn retries_carry_fresh_timestamps_and_the_same_id() {
    let customer = Customer::failing_first(1, Answer::status(503));
    // Backoff 1300ms minus 20% jitter is still over a second: the timestamps must differ.
    hookrelay()
        .args([
            "send",
            "--to",
            &customer.url("/hook"),
            "--event-id",
            "42",
            "--secret",
            SECRET,
        ])
        .args(["--retries", "2", "--retry-backoff", "1300ms"])
        .assert()
        .success()
        .stderr(predicate::str::contains("attempt 2/3: 200"));

    let requests = customer.requests();
    assert_eq!(requests.len(), 2);
    let secrets = [Secret::parse(SECRET).unwrap()];
    for request in &requests {
        assert_eq!(request.headers["webhook-id"], "evt_42");
        signing::verify_standard(
            &secrets,
            &request.headers,
            &request.body,
            Tolerance::default(),
        )
        .expect("each attempt's signature verifies");
    }
    let ts = |i: usize| {
        requests[i].headers["webhook-timestamp"]
            .to_str()
            .unwrap()
            .parse::<i64>()
    };
    assert!(ts(1).unwrap() > ts(0).unwrap());
    assert_ne!(
        requests[0].headers["webhook-signature"],
        requests[1].headers["webhook-signature"]
    );
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
