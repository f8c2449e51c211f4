//! The relay for every source: the exact bytes received go on, and with
//! `--forward-headers original` the provider's own headers with them.

use super::{hex, hmac_sha256, run, serve};
use crate::support::Customer;

#[test]
fn a_github_delivery_is_relayed_byte_for_byte_with_its_own_headers() {
    let customer = Customer::start();
    let target = customer.url("/hook");
    let serve = serve(&[
        "--source",
        "github",
        "--secret",
        "relay-secret",
        "--forward-to",
        &target,
        "--forward-headers",
        "original",
        "--forward-header",
        "X-Team: ops",
    ]);
    let (code, _, err) = run(&[
        "send",
        "--as",
        "github",
        "--sample",
        "github.pull_request",
        "--to",
        &serve.url("/webhook"),
        "--secret",
        "relay-secret",
        "--retries",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let sent_id = err
        .lines()
        .find_map(|l| l.strip_prefix("hookrelay: delivery id "))
        .unwrap();
    let got = &customer.wait_for(1)[0];
    let sample = run(&["samples", "show", "github.pull_request"]).1;
    assert_eq!(got.body_text(), sample, "the exact bytes");
    assert_eq!(got.header("x-github-event"), Some("pull_request"));
    assert_eq!(got.header("x-github-delivery"), Some(sent_id));
    // GitHub's signature still holds for what the target received.
    let expected = format!(
        "sha256={}",
        hex(&hmac_sha256(b"relay-secret", &[sample.as_bytes()]))
    );
    assert_eq!(got.header("x-hub-signature-256"), Some(expected.as_str()));
    assert_eq!(got.header("x-team"), Some("ops"));
    assert_eq!(got.header_all("host").len(), 1, "one Host, the target's");
}

#[test]
fn without_forward_headers_only_the_bytes_go_on() {
    let customer = Customer::start();
    let target = customer.url("/hook");
    let serve = serve(&["--source", "stripe", "--forward-to", &target]);
    let (code, _, err) = run(&[
        "send",
        "--as",
        "stripe",
        "--sample",
        "stripe.invoice.paid",
        "--to",
        &serve.url("/webhook"),
        "--secret",
        "whsec_x",
        "--retries",
        "0",
    ]);
    assert_eq!(code, 0, "{err}");
    let got = &customer.wait_for(1)[0];
    assert_eq!(
        got.body_text(),
        run(&["samples", "show", "stripe.invoice.paid"]).1
    );
    assert_eq!(got.header("stripe-signature"), None);
    assert_eq!(
        got.header("webhook-id"),
        Some("evt_1QnFogHorn4Invoice"),
        "the event's id"
    );
}

#[test]
fn a_slack_form_is_relayed_as_a_form_without_forward_headers() {
    let customer = Customer::start();
    let target = customer.url("/hook");
    let serve = serve(&["--source", "slack", "--forward-to", &target]);
    let form = b"command=%2Fdeploy&text=api&trigger_id=111.222.abc";
    let (status, answer) = super::post(
        &serve.url("/webhook"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )],
        form,
    );
    assert_eq!(status, 200, "{answer}");
    let got = &customer.wait_for(1)[0];
    assert_eq!(got.body_text().as_bytes(), form, "the exact bytes");
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}
