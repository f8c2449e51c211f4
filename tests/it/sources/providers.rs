//! Each provider's delivery, signed as its documentation says, is accepted with the
//! provider's id and type; a changed body, a wrong secret and a stale timestamp are
//! refused with their reason; Slack's `url_verification` is answered with the challenge.

use serde_json::{Value, json};

use super::{b64, get, hex, hmac_sha256, now, post, serve};
use crate::support::sse::Sse;

const SECRET: &str = "It's a Secret to Everybody";
/// A Standard Webhooks secret: `whsec_` and base64 of the key.
pub(super) const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// 401 with `reason`.
fn assert_refused(answer: &(u16, Value), reason: &str) {
    assert_eq!(answer.0, 401, "{answer:?}");
    assert_eq!(answer.1["error"], "invalid_signature", "{answer:?}");
    assert_eq!(answer.1["reason"], reason, "{answer:?}");
}

/// 200 naming the event's id and type, and the event listed and kept under that id with
/// its signature's scheme.
fn assert_kept(base: &str, answer: &(u16, Value), id: &str, event_type: &str) {
    assert_eq!(answer.0, 200, "{answer:?}");
    assert_eq!(answer.1["status"], "success", "{answer:?}");
    assert_eq!(answer.1["id"], id, "{answer:?}");
    assert_eq!(answer.1["event_type"], event_type, "{answer:?}");
    let (status, kept) = get(&format!("{base}/events/{id}"));
    assert_eq!(status, 200, "{kept}");
    assert_eq!(
        (kept["id"].as_str(), kept["event_type"].as_str()),
        (Some(id), Some(event_type))
    );
    assert_eq!(kept["event_id"], Value::Null, "{kept}");
    assert_eq!(kept["signature"]["verified"], true, "{kept}");
    let (_, listed) = get(&format!("{base}/events?limit=1000"));
    let listed = listed["events"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|e| e["id"] == id && e["event_type"] == event_type),
        "{listed:?}"
    );
}

#[test]
fn github_s_published_vector_passes_the_signature_check() {
    // GitHub's documented example: this secret, this payload, this signature. The payload
    // is not JSON, so once the signature is accepted the body is refused as such.
    let serve = serve(&["--source", "github", "--secret", SECRET]);
    let vector = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let headers = |signature: &str| {
        vec![
            ("x-github-delivery", "d-1".to_string()),
            ("x-github-event", "ping".to_string()),
            ("x-hub-signature-256", signature.to_string()),
        ]
    };
    let answer = post(&serve.url("/webhook"), &headers(vector), b"Hello, World!");
    assert_eq!(answer.0, 400, "{answer:?}");
    assert_eq!(answer.1["error"], "malformed_json", "{answer:?}");
    let answer = post(&serve.url("/webhook"), &headers(vector), b"Hello, World?");
    assert_refused(&answer, "no_matching_signature");
}

#[test]
fn github_deliveries_are_kept_by_delivery_id_and_refused_when_changed_or_wrongly_signed() {
    let serve = serve(&["--source", "github", "--secret", SECRET]);
    let body = br#"{"action":"opened","number":7,"pull_request":{"title":"t"}}"#;
    let headers = |key: &str, body: &[u8]| {
        vec![
            (
                "x-github-delivery",
                "72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string(),
            ),
            ("x-github-event", "pull_request".to_string()),
            (
                "x-hub-signature-256",
                format!("sha256={}", hex(&hmac_sha256(key.as_bytes(), &[body]))),
            ),
        ]
    };
    let url = serve.url("/webhook");
    let answer = post(&url, &headers(SECRET, body), body);
    assert_kept(
        &serve.url(""),
        &answer,
        "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "pull_request.opened",
    );
    let tampered = br#"{"action":"closed","number":7,"pull_request":{"title":"t"}}"#;
    assert_refused(
        &post(&url, &headers(SECRET, body), tampered),
        "no_matching_signature",
    );
    assert_refused(
        &post(&url, &headers("another secret", body), body),
        "no_matching_signature",
    );
    let unsigned = vec![
        ("x-github-delivery", "x".to_string()),
        ("x-github-event", "push".to_string()),
    ];
    assert_refused(&post(&url, &unsigned, body), "missing_header");
}

/// Stripe's documented scheme: `t=<unix>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>`.
fn stripe_header(secret: &str, t: i64, body: &[u8]) -> String {
    let mac = hmac_sha256(secret.as_bytes(), &[t.to_string().as_bytes(), b".", body]);
    format!("t={t},v1={}", hex(&mac))
}

#[test]
fn stripe_events_are_kept_by_their_id_and_stale_or_changed_ones_refused() {
    let secret = "whsec_stripe_test_4eC39HqLyjWDarjtT1zdp7dc";
    let serve = serve(&["--source", "stripe", "--secret", secret]);
    let url = serve.url("/webhook");
    let body = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"invoice.paid","data":{"object":{}}}"#;
    let signed = |secret: &str, t: i64| vec![("stripe-signature", stripe_header(secret, t, body))];
    let answer = post(&url, &signed(secret, now()), body);
    assert_kept(
        &serve.url(""),
        &answer,
        "evt_1NG8Du2eZvKYlo2CUI79vXWy",
        "invoice.paid",
    );
    assert_refused(
        &post(&url, &signed(secret, now() - 600), body),
        "timestamp_too_old",
    );
    assert_refused(
        &post(&url, &signed("whsec_other", now()), body),
        "no_matching_signature",
    );
    let tampered = br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"invoice.voided","data":{"object":{}}}"#;
    assert_refused(
        &post(&url, &signed(secret, now()), tampered),
        "no_matching_signature",
    );
}

/// Standard Webhooks: `v1,<base64 HMAC-SHA256(base64-decoded secret, "{id}.{ts}.{body}")>`.
pub(super) fn standard_headers(id: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(WHSEC.trim_start_matches("whsec_"))
        .unwrap();
    let mac = hmac_sha256(
        &key,
        &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body],
    );
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", format!("v1,{}", b64(&mac))),
    ]
}

#[test]
fn standard_webhooks_are_kept_by_webhook_id_and_stale_or_changed_ones_refused() {
    let serve = serve(&["--source", "standard", "--secret", WHSEC]);
    let url = serve.url("/webhook");
    let body = br#"{"type":"invoice.created","timestamp":"2026-03-04T12:00:00Z","data":{"id":1}}"#;
    let answer = post(
        &url,
        &standard_headers("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", now(), body),
        body,
    );
    assert_kept(
        &serve.url(""),
        &answer,
        "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        "invoice.created",
    );
    let stale = standard_headers("msg_b", now() - 600, body);
    assert_refused(&post(&url, &stale, body), "timestamp_too_old");
    let headers = standard_headers("msg_c", now(), body);
    assert_refused(
        &post(&url, &headers, b"{\"type\":\"invoice.paid\"}"),
        "no_matching_signature",
    );
}

#[test]
fn shopify_orders_are_kept_by_webhook_id_and_changed_ones_refused() {
    let secret = "shpss_hush_5f2c0ffee";
    let serve = serve(&["--source", "shopify", "--secret", secret]);
    let url = serve.url("/webhook");
    let body = br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"403.00"}"#;
    let signed = |key: &str, body: &[u8]| {
        vec![
            ("x-shopify-topic", "orders/create".to_string()),
            (
                "x-shopify-webhook-id",
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".to_string(),
            ),
            (
                "x-shopify-hmac-sha256",
                b64(&hmac_sha256(key.as_bytes(), &[body])),
            ),
        ]
    };
    let answer = post(&url, &signed(secret, body), body);
    assert_kept(
        &serve.url(""),
        &answer,
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
        "orders/create",
    );
    assert_refused(
        &post(&url, &signed("wrong", body), body),
        "no_matching_signature",
    );
    let tampered = br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"0.00"}"#;
    assert_refused(
        &post(&url, &signed(secret, body), tampered),
        "no_matching_signature",
    );
}

/// Slack's documented scheme: `v0=<hex HMAC-SHA256(secret, "v0:{ts}:{body}")>`.
pub(super) fn slack_headers(secret: &str, ts: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    let mac = hmac_sha256(
        secret.as_bytes(),
        &[b"v0:", ts.to_string().as_bytes(), b":", body],
    );
    vec![
        ("x-slack-request-timestamp", ts.to_string()),
        ("x-slack-signature", format!("v0={}", hex(&mac))),
    ]
}

#[test]
fn slack_challenges_are_answered_and_callbacks_kept_by_event_id() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let serve = serve(&["--source", "slack", "--secret", secret]);
    let url = serve.url("/webhook");
    let challenge = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, answer) = post(&url, &slack_headers(secret, now(), challenge), challenge);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        serde_json::json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let callback =
        br#"{"type":"event_callback","event_id":"Ev9UQ52YNA","event":{"type":"app_mention"}}"#;
    let answer = post(&url, &slack_headers(secret, now(), callback), callback);
    assert_kept(&serve.url(""), &answer, "Ev9UQ52YNA", "event_callback");
    let stale = slack_headers(secret, now() - 600, callback);
    assert_refused(&post(&url, &stale, callback), "timestamp_too_old");
    assert_refused(
        &post(&url, &slack_headers("nope", now(), callback), callback),
        "no_matching_signature",
    );
}

#[test]
fn several_sources_are_mounted_on_their_own_paths_with_their_own_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let shop_secrets = dir.path().join("shop-secrets.txt");
    std::fs::write(&shop_secrets, "old-shop-secret\n\nshop-secret\n").unwrap();
    let shop_file = format!("shop={}", shop_secrets.display());
    let serve = serve(&[
        "--source",
        "github=/webhook/github",
        "--source",
        "shopify=/webhook/shop",
        "--source-secret",
        "github=gh-secret",
        "--source-secret-file",
        &shop_file,
    ]);
    let body = br#"{"zen":"Design for failure."}"#;
    let gh = vec![
        ("x-github-delivery", "d-9".to_string()),
        ("x-github-event", "ping".to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", hex(&hmac_sha256(b"gh-secret", &[body]))),
        ),
    ];
    let answer = post(&serve.url("/webhook/github"), &gh, body);
    assert_kept(&serve.url(""), &answer, "d-9", "ping");
    // The other path checks its own secret: GitHub's headers mean nothing there.
    assert_refused(
        &post(&serve.url("/webhook/shop"), &gh, body),
        "missing_header",
    );
    let (status, answer) = post(&serve.url("/webhook/nothing"), &gh, body);
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("not_found")),
        "{answer}"
    );
    // Either secret of the file is accepted.
    let shop = vec![
        ("x-shopify-topic", "orders/paid".to_string()),
        ("x-shopify-webhook-id", "w-1".to_string()),
        (
            "x-shopify-hmac-sha256",
            b64(&hmac_sha256(b"shop-secret", &[body])),
        ),
    ];
    let answer = post(&serve.url("/webhook/shop"), &shop, body);
    assert_kept(&serve.url(""), &answer, "w-1", "orders/paid");
    // POST /webhook keeps the model.
    let (status, answer) = post(&serve.url("/webhook"), &[], body);
    assert_eq!(
        (status, answer["error"].as_str()),
        (422, Some("validation_failed")),
        "{answer}"
    );
}

#[test]
fn a_provider_s_missing_id_and_type_are_listed_together() {
    let serve = serve(&["--source", "github"]);
    let (status, answer) = post(&serve.url("/webhook"), &[], b"{}");
    assert_eq!(status, 422, "{answer}");
    let fields: Vec<&str> = answer["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["header:x-github-delivery", "header:x-github-event"]
    );
    let (status, _) = get(&serve.url("/healthz"));
    assert_eq!(status, 200);
}

const FORM: &str = "application/x-www-form-urlencoded";

/// The body of an event as kept, byte for byte.
fn kept_body(base: &str, id: &str) -> Vec<u8> {
    super::runtime().block_on(async {
        let response = reqwest::get(format!("{base}/events/{id}/body"))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{id}");
        response.bytes().await.unwrap().to_vec()
    })
}

/// A source's events reach the stream as `GET /events/{id}` shows them: a form that is
/// not JSON (its `body` null) and a JSON body with escapes alike.
#[test]
fn a_sources_events_stream_with_the_json_of_get_events() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let serve = serve(&["--source", "slack", "--secret", secret]);
    let (url, base) = (serve.url("/webhook"), serve.url(""));
    let runtime = super::runtime();
    let mut stream = runtime.block_on(Sse::open(&format!("{base}/events/stream"), &[]));
    let form = b"command=%2Fweather&text=94070&trigger_id=1.2.f0&user_id=U1";
    let mut form_headers = slack_headers(secret, now(), form);
    form_headers.push(("content-type", FORM.to_string()));
    let (status, answer) = post(&url, &form_headers, form);
    assert_eq!(status, 200, "{answer}");
    let callback = br#"{"type":"event_callback","event_id":"Ev01","event":{"type":"app_mention","text":"hi\n\u00e9"}}"#;
    let (status, answer) = post(&url, &slack_headers(secret, now(), callback), callback);
    assert_eq!(status, 200, "{answer}");

    for (id, body) in [
        ("1.2.f0", Value::Null),
        ("Ev01", serde_json::from_slice(callback).unwrap()),
    ] {
        let frame = runtime.block_on(stream.next_of("event"));
        let shown = runtime.block_on(async {
            let response = reqwest::get(format!("{base}/events/{id}")).await.unwrap();
            response.text().await.unwrap()
        });
        assert_eq!(frame.data, shown, "the frame of {id}");
        assert_eq!(frame.json()["body"], body, "{}", frame.data);
    }
}

#[test]
fn slack_slash_commands_and_interactivity_forms_are_kept_by_trigger_id() {
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let serve = serve(&["--source", "slack", "--secret", secret]);
    let (url, base) = (serve.url("/webhook"), serve.url(""));
    let signed_form = |body: &[u8]| {
        let mut headers = slack_headers(secret, now(), body);
        headers.push(("content-type", FORM.to_string()));
        headers
    };
    // A slash command as Slack posts it (its documented example fields).
    let command = b"token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&team_domain=example\
&channel_id=C2147483705&channel_name=test&user_id=U2147483697&user_name=Steve\
&command=%2Fweather&text=94070&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678\
&trigger_id=13345224609.738474920.8088930838d88f008e0&api_app_id=A123456";
    let answer = post(&url, &signed_form(command), command);
    assert_kept(
        &base,
        &answer,
        "13345224609.738474920.8088930838d88f008e0",
        "/weather",
    );
    assert_eq!(
        kept_body(&base, "13345224609.738474920.8088930838d88f008e0"),
        command
    );

    // An interactivity payload: one `payload` field of JSON.
    let payload = r#"{"type":"block_actions","trigger_id":"12466734323.1395872398","user":{"id":"U0CA5"},"actions":[{"action_id":"approve","value":"yes"}]}"#;
    let interaction = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", payload)
        .finish();
    let answer = post(
        &url,
        &signed_form(interaction.as_bytes()),
        interaction.as_bytes(),
    );
    assert_kept(&base, &answer, "12466734323.1395872398", "block_actions");
    assert_eq!(
        kept_body(&base, "12466734323.1395872398"),
        interaction.as_bytes()
    );
    // Without a trigger_id, the event gets an id of its own.
    let no_trigger = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", r#"{"type":"view_closed","view":{"id":"V1"}}"#)
        .finish();
    let (status, answer) = post(
        &url,
        &signed_form(no_trigger.as_bytes()),
        no_trigger.as_bytes(),
    );
    assert_eq!(
        (status, &answer["event_type"]),
        (200, &json!("view_closed")),
        "{answer}"
    );
    assert!(
        answer["id"].as_str().unwrap().starts_with("hr_"),
        "{answer}"
    );

    // Refused: a changed form, a stale one, one that is neither a command nor a payload,
    // and a payload that is not JSON.
    let mut changed = command.to_vec();
    changed.extend_from_slice(b"&text=00000");
    assert_refused(
        &post(&url, &signed_form(command), &changed),
        "no_matching_signature",
    );
    let mut stale = slack_headers(secret, now() - 600, command);
    stale.push(("content-type", FORM.to_string()));
    assert_refused(&post(&url, &stale, command), "timestamp_too_old");
    let neither = b"token=x&team_id=T0001";
    let (status, answer) = post(&url, &signed_form(neither), neither);
    assert_eq!(
        (status, &answer["error"]),
        (422, &json!("validation_failed")),
        "{answer}"
    );
    let broken = b"payload=%7B%22type%22%3A";
    let (status, answer) = post(&url, &signed_form(broken), broken);
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["details"][0]["field"], "form:payload", "{answer}");
    // Percent-encoding that Slack never sends: a % without two hex digits, bytes that are
    // not UTF-8. Refused, not kept with a type made of the raw text or U+FFFD.
    for (body, message) in [
        (
            &b"command=%ZZ&trigger_id=1.2.3"[..],
            "two hex digits at byte 8",
        ),
        (&b"command=%2Fok&trigger_id=1.2%FF"[..], "not UTF-8"),
    ] {
        let (status, answer) = post(&url, &signed_form(body), body);
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["details"][0]["field"], "form", "{answer}");
        let said = answer["details"][0]["message"].as_str().unwrap();
        assert!(said.contains(message), "{answer}");
    }
    let (_, listed) = get(&format!("{base}/events"));
    assert_eq!(listed["events"].as_array().unwrap().len(), 3, "{listed}");
}

#[test]
fn sources_other_than_slack_refuse_forms_with_415() {
    let serve = serve(&["--source", "github"]);
    let form = b"payload=%7B%7D";
    let headers = [
        ("content-type", FORM.to_string()),
        ("x-github-event", "ping".to_string()),
        ("x-github-delivery", "d-1".to_string()),
    ];
    let (status, answer) = post(&serve.url("/webhook"), &headers, form);
    assert_eq!(status, 415, "{answer}");
    let slack = serve_slack_unsigned();
    let (status, answer) = post(
        &slack.url("/webhook"),
        &[("content-type", "text/plain".into())],
        form,
    );
    assert_eq!(status, 415, "Slack takes forms and JSON only: {answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("application/json or application/x-www-form-urlencoded"),
        "the refusal names both kinds Slack's source takes: {answer}"
    );
}

#[test]
fn a_mounted_source_refuses_a_compressed_body_with_415() {
    let serve = serve(&["--source", "github=/webhook/github"]);
    // `{"zen":"Design for failure."}`, gzipped.
    let gzipped = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xab\x56\xaa\x4a\xcd\x53\xb2\x52\x72\x49\x2d\xce\x4c\xcf\x53\x48\xcb\x2f\x52\x48\x4b\xcc\xcc\x29\x2d\x4a\xd5\x53\xaa\x05\x00\x68\x4a\xe3\x65\x1d\x00\x00\x00";
    let headers = [
        ("content-encoding", "gzip".to_string()),
        ("x-github-event", "ping".to_string()),
        ("x-github-delivery", "d-1".to_string()),
    ];
    let (status, answer) = post(&serve.url("/webhook/github"), &headers, gzipped);
    assert_eq!(
        (status, answer["error"].as_str()),
        (415, Some("unsupported_media_type")),
        "{answer}"
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.contains("Content-Encoding \"gzip\"") && message.contains("only identity"),
        "{message}"
    );
    let (_, listed) = get(&serve.url("/events"));
    assert_eq!(listed["events"], json!([]), "nothing stored");
}

fn serve_slack_unsigned() -> crate::support::Served {
    serve(&["--source", "slack"])
}
