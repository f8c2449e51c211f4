//! `send --as P` to `serve --source P --secret S` for every provider, and `send --as github`
//! checked by an independent receiver: a few lines of Python's `hmac`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::{run, serve};

/// (provider, secret, sample, id the answer must carry or "" for a fresh one, type).
const CASES: &[(&str, &str, &str, &str)] = &[
    ("github", "gh-round-trip", "github.push", "push"),
    (
        "stripe",
        "whsec_stripe_round_trip",
        "stripe.payment_intent.succeeded",
        "payment_intent.succeeded",
    ),
    (
        "standard",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "standard.invoice.created",
        "invoice.created",
    ),
    (
        "shopify",
        "shopify-round-trip",
        "shopify.orders.create",
        "orders/create",
    ),
    (
        "slack",
        "slack-round-trip",
        "slack.app_mention",
        "event_callback",
    ),
];

#[test]
fn every_provider_s_send_is_accepted_by_its_source_and_refused_under_another_secret() {
    for &(provider, secret, sample, event_type) in CASES {
        let serve = serve(&["--source", provider, "--secret", secret]);
        let url = serve.url("/webhook");
        let (code, out, err) = send_signed(provider, &url, ("--sample", sample), &[secret]);
        assert_eq!(code, 0, "{provider}: {out} {err}");
        let result: Value = serde_json::from_str(&out).unwrap();
        let answer: Value = serde_json::from_str(result["response"].as_str().unwrap()).unwrap();
        assert_eq!(answer["event_type"], event_type, "{provider}: {answer}");
        assert!(
            answer["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{answer}"
        );
        // Fresh delivery ids: the providers whose id is the delivery's see two events.
        let other = if provider == "standard" {
            "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y"
        } else {
            "not-the-secret"
        };
        let (code, out, _) = send_signed(provider, &url, ("--sample", sample), &[other]);
        assert_eq!(code, 1, "{provider}: {out}");
        let result: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(result["status"], 401, "{provider}: {result}");
    }
}

#[test]
fn a_sample_for_another_provider_or_a_missing_type_header_is_a_usage_error() {
    let to = "http://127.0.0.1:9/never";
    let (code, _, err) = run(&[
        "send",
        "--as",
        "stripe",
        "--sample",
        "github.push",
        "--to",
        to,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("written for --as github"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("push.json");
    std::fs::write(&file, r#"{"ref":"refs/heads/main"}"#).unwrap();
    let (code, _, err) = run(&[
        "send",
        "--as",
        "github",
        "--file",
        file.to_str().unwrap(),
        "--to",
        to,
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--event TYPE"), "{err}");
    let (code, _, err) = run(&[
        "send",
        "--as",
        "stripe",
        "--file",
        file.to_str().unwrap(),
        "--to",
        to,
    ]);
    assert_eq!(code, 2, "a Stripe body without /id and /type is not sent");
    assert!(err.contains("/id") && err.contains("/type"), "{err}");
}

#[test]
fn a_sample_without_as_is_sent_as_its_provider_does() {
    let serve = serve(&["--source", "github", "--secret", "s3cret"]);
    let (code, out, err) = run(&[
        "send",
        "--sample",
        "github.push",
        "--to",
        &serve.url("/webhook"),
        "--secret",
        "s3cret",
    ]);
    assert_eq!(code, 0, "{out} {err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (answer["status"].as_str(), answer["event_type"].as_str()),
        (Some("success"), Some("push")),
        "{answer}"
    );
    // Asked for the model, a provider's sample is refused before anything is sent.
    let (code, _, err) = run(&[
        "send",
        "--as",
        "event",
        "--sample",
        "github.push",
        "--to",
        &serve.url("/webhook"),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("sample github.push is written for --as github, not --as event"),
        "{err}"
    );
}

#[test]
fn the_same_delivery_id_is_sent_on_every_retry_and_the_signature_over_the_exact_bytes() {
    let customer = crate::support::Customer::failing_first(1, crate::support::Answer::status(503));
    let (code, _, err) = run(&[
        "send",
        "--as",
        "github",
        "--sample",
        "github.push",
        "--to",
        &customer.url("/hook"),
        "--secret",
        "s3cret",
        "--retries",
        "2",
        "--retry-backoff",
        "10ms",
    ]);
    assert_eq!(code, 0, "{err}");
    let requests = customer.wait_for(2);
    let ids: Vec<_> = requests
        .iter()
        .map(|r| r.header("x-github-delivery").unwrap())
        .collect();
    assert_eq!(ids[0], ids[1], "one delivery id for both attempts");
    let sample = run(&["samples", "show", "github.push"]).1;
    assert_eq!(
        requests[1].body_text(),
        sample,
        "the sample's bytes, unchanged"
    );
    let expected = format!(
        "sha256={}",
        super::hex(&super::hmac_sha256(b"s3cret", &[sample.as_bytes()]))
    );
    assert_eq!(
        requests[1].header("x-hub-signature-256"),
        Some(expected.as_str())
    );
    assert_eq!(requests[1].header("x-github-event"), Some("push"));
}

/// A receiver written with Python's standard library alone: checks X-Hub-Signature-256 with
/// `hmac.compare_digest`, answers 200 or 401, prints what it judged.
const PYTHON_RECEIVER: &str = r#"
import hashlib, hmac, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = sys.argv[1].encode()

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        given = self.headers.get("X-Hub-Signature-256", "")
        ok = hmac.compare_digest(expected, given)
        print(("verified" if ok else "refused"), self.headers.get("X-GitHub-Event"),
              self.headers.get("X-GitHub-Delivery"), flush=True)
        self.send_response(200 if ok else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", 0), Receiver)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[test]
fn send_as_github_is_verified_by_python_s_hmac() {
    let python = Command::new("python3")
        .args(["-c", PYTHON_RECEIVER, "py-secret"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let mut python = match python {
        Ok(child) => child,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("skipped: python3 is not available ({e})");
            return;
        }
        Err(e) => panic!("python3 is required under CI: {e}"),
    };
    let mut lines = BufReader::new(python.stdout.take().unwrap()).lines();
    let port = lines.next().unwrap().unwrap();
    let url = format!("http://127.0.0.1:{}/hook", port.trim());
    let send = |secret: &str| {
        run(&[
            "send",
            "--as",
            "github",
            "--sample",
            "github.push",
            "--to",
            &url,
            "--secret",
            secret,
            "--retries",
            "0",
        ])
    };
    let (code, _, err) = send("py-secret");
    let judged = lines.next().unwrap().unwrap();
    let (wrong_code, _, _) = send("not-py-secret");
    let wrong = lines.next().unwrap().unwrap();
    let _ = python.kill();
    let _ = python.wait();
    assert_eq!(code, 0, "{err}");
    assert!(judged.starts_with("verified push "), "{judged}");
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("hookrelay: delivery id "))
        .unwrap();
    assert!(judged.ends_with(id), "{judged} vs {id}");
    assert_eq!(wrong_code, 1);
    assert!(wrong.starts_with("refused push "), "{wrong}");
}

/// `send --as P --secret A --secret B` with `--json`: the answer of the server.
fn send_signed(
    provider: &str,
    url: &str,
    input: (&str, &str),
    secrets: &[&str],
) -> (i32, String, String) {
    let mut args = vec![
        "send",
        "--as",
        provider,
        input.0,
        input.1,
        "--to",
        url,
        "--json",
        "--retries",
        "0",
    ];
    for secret in secrets {
        args.extend(["--secret", secret]);
    }
    run(&args)
}

#[test]
fn several_secrets_sign_with_each_where_the_scheme_carries_several_signatures() {
    // (provider, sample, the old secret, the new one)
    let cases = [
        (
            "stripe",
            "stripe.payment_intent.succeeded",
            "whsec_stripe_old",
            "whsec_stripe_new",
        ),
        (
            "standard",
            "standard.invoice.created",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y",
        ),
    ];
    for (provider, sample, old, new) in cases {
        // A receiver that knows only one of the two secrets accepts the delivery: it
        // carries a signature under each.
        for known in [old, new] {
            let serve = serve(&["--source", provider, "--secret", known]);
            let (code, out, err) = send_signed(
                provider,
                &serve.url("/webhook"),
                ("--sample", sample),
                &[old, new],
            );
            assert_eq!(code, 0, "{provider} receiving with {known}: {out} {err}");
        }
        let serve = serve(&[
            "--source",
            provider,
            "--secret",
            "whsec_YSB0aGlyZCBzZWNyZXQgdGhhdCBub2JvZHkgc2lnbnMgd2l0aA==",
        ]);
        let (code, out, _) = send_signed(
            provider,
            &serve.url("/webhook"),
            ("--sample", sample),
            &[old, new],
        );
        assert_eq!(
            code, 1,
            "{provider}: neither secret is the receiver's: {out}"
        );
    }
}

#[test]
fn schemes_with_one_signature_refuse_a_second_secret() {
    for (provider, sample, header) in [
        ("github", "github.push", "x-hub-signature-256"),
        ("shopify", "shopify.orders.create", "x-shopify-hmac-sha256"),
        ("slack", "slack.app_mention", "x-slack-signature"),
    ] {
        let (code, out, err) = send_signed(
            provider,
            "http://127.0.0.1:9/webhook",
            ("--sample", sample),
            &["first", "second"],
        );
        assert_eq!(code, 2, "{provider}: {out} {err}");
        assert!(
            err.contains("one secret") && err.contains(header),
            "{provider}: {err}"
        );
    }
}

#[test]
fn send_as_slack_posts_a_slash_command_form_that_serve_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let form = dir.path().join("command.txt");
    let body = "token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&command=%2Fdeploy&text=api+v2\
&trigger_id=13345224609.738474920.8088930838d88f008e0";
    std::fs::write(&form, body).unwrap();
    let serve = serve(&["--source", "slack", "--secret", "slack-form-secret"]);
    let (code, out, err) = send_signed(
        "slack",
        &serve.url("/webhook"),
        ("--file", form.to_str().unwrap()),
        &["slack-form-secret"],
    );
    assert_eq!(code, 0, "{out} {err}");
    let result: Value = serde_json::from_str(&out).unwrap();
    let answer: Value = serde_json::from_str(result["response"].as_str().unwrap()).unwrap();
    assert_eq!(
        (answer["id"].as_str(), answer["event_type"].as_str()),
        (
            Some("13345224609.738474920.8088930838d88f008e0"),
            Some("/deploy")
        ),
        "{answer}"
    );
    let (_, kept) = super::get(&serve.url("/events/13345224609.738474920.8088930838d88f008e0"));
    let headers = kept["headers"].as_array().unwrap();
    assert!(
        headers.contains(&serde_json::json!([
            "content-type",
            "application/x-www-form-urlencoded"
        ])),
        "{kept}"
    );
}
