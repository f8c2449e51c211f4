//! Which source each secret goes to: a `--source-secret` key that names two sources is
//! refused at start (and by `config check`), a provider's source left without a secret is
//! warned about in the log, and refused secrets and signature headers say what is wrong.

use std::time::{Duration, Instant};

use super::{now, post, run, serve};
use crate::support::{DEADLINE, Served, hookrelay};

/// `serve ARGS…` with a deadline: its exit code and stderr (a server that starts is
/// stopped at the deadline, which fails the caller's exit code check).
fn serve_refused(args: &[&str]) -> (Option<i32>, String) {
    let output = hookrelay()
        .args(["serve", "--host", "127.0.0.1", "--port", "0"])
        .args(args)
        .timeout(Duration::from_secs(5))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), err)
}

#[test]
fn a_source_secret_key_that_names_two_mounts_is_refused_at_start() {
    // `slack` is the last part of the GitHub mount's path and the name of the other's
    // source: the secret went to the GitHub mount, and the Slack one took unsigned events.
    let mounts = [
        "--source",
        "github=/webhook/slack",
        "--source",
        "slack=/webhook/x",
    ];
    let (code, err) = serve_refused(&[&mounts[..], &["--source-secret", "slack=y"]].concat());
    assert_eq!(code, Some(2), "{err}");
    for said in [
        "--source-secret slack=…",
        "/webhook/slack (by its path's last part)",
        "/webhook/x (by its source's name)",
        "--source-secret /webhook/slack=… or --source-secret /webhook/x=…",
    ] {
        assert!(err.contains(said), "{said:?} in {err}");
    }
    assert!(!err.contains("=y"), "the secret is never printed: {err}");

    // The same from a file of secrets.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slack-secret.txt");
    std::fs::write(&file, "y\n").unwrap();
    let keyed = format!("slack={}", file.display());
    let (code, err) = serve_refused(&[&mounts[..], &["--source-secret-file", &keyed]].concat());
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--source-secret-file slack=…") && err.contains("/webhook/x"),
        "{err}"
    );

    // Two mounts of one source, named by the source's name.
    let (code, err) = serve_refused(&[
        "--source",
        "github=/webhook/a",
        "--source",
        "github=/webhook/b",
        "--source-secret",
        "github=s",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("/webhook/a (by its source's name) and /webhook/b"),
        "{err}"
    );

    // The whole path is exact: the Slack mount checks its signature.
    let serve = serve(&[&mounts[..], &["--source-secret", "/webhook/x=y"]].concat());
    let event = br#"{"type":"event_callback","event_id":"Ev1"}"#;
    let (status, answer) = post(&serve.url("/webhook/x"), &[], event);
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("missing_header")),
        "{answer}"
    );
}

#[test]
fn config_check_refuses_a_source_secret_key_that_names_two_mounts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mounts.toml");
    std::fs::write(
        &file,
        "source = [\"github=/webhook/slack\", \"slack=/webhook/x\"]\nsource_secret = \"slack=y\"\n",
    )
    .unwrap();
    let (code, out, _) = run(&["config", "check", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("source_secret slack=…")
            && out.contains("/webhook/slack (by its path's last part)")
            && out.contains("/webhook/x (by its source's name)"),
        "{out}"
    );
}

/// What `serve` wrote on stderr once it holds `text`; fails the test after [`DEADLINE`].
fn stderr_once_it_says(serve: &Served, text: &str) -> String {
    let started = Instant::now();
    loop {
        let err = serve.stderr();
        if err.contains(text) {
            return err;
        }
        assert!(started.elapsed() < DEADLINE, "no {text:?} in {err}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn each_provider_source_without_a_secret_is_warned_about_at_start() {
    let serve = serve(&[
        "--source",
        "github",
        "--source",
        "json=/webhook/j",
        "--source",
        "stripe=/webhook/s",
        "--source-secret",
        "s=whsec_stripe",
        "--source",
        "slack=/webhook/x",
    ]);
    // Logged in the order of the mounts, /webhook/x's last.
    let err = stderr_once_it_says(&serve, "POST /webhook/x takes slack events");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("WARN")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("POST /webhook takes github events without checking their signature")
            && lines[0].contains("--secret SECRET"),
        "{err}"
    );
    assert!(
        lines[1].contains("without checking their signature")
            && lines[1].contains("--source-secret x=SECRET"),
        "{err}"
    );
    // Nothing about the json source (no signature scheme) or the signed Stripe one.
    assert!(
        !err.contains("/webhook/j take") && !err.contains("/webhook/s take"),
        "{err}"
    );
}

#[test]
fn a_malformed_stripe_signature_is_called_malformed() {
    let serve = serve(&["--source", "stripe", "--secret", "whsec_stripe"]);
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let (status, answer) = post(
        &serve.url("/webhook"),
        &[("stripe-signature", "garbage".to_string())],
        body,
    );
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["reason"], "missing_header", "{answer}");
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("stripe-signature header is malformed")
            && message.contains("t=<unix seconds>,v1=")
            && !message.contains("missing"),
        "{message}"
    );
    // A header without its v1= still reaches the signature check.
    let (status, answer) = post(
        &serve.url("/webhook"),
        &[("stripe-signature", format!("t={}", now()))],
        body,
    );
    assert_eq!(
        (status, answer["reason"].as_str()),
        (401, Some("no_matching_signature")),
        "{answer}"
    );
}

#[test]
fn a_standard_secret_of_the_wrong_size_names_the_whsec_form() {
    let (code, err) = serve_refused(&["--source", "standard", "--secret", "notwhsec"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("decodes to 6 bytes")
            && err.contains("expected whsec_ followed by the base64 of 24 to 64 bytes"),
        "{err}"
    );
}
