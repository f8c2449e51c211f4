//! The OpenAPI description against the server, both ways: every described operation is
//! routed, and every route is described. Schemathesis (`scripts/schemathesis.sh`) checks
//! the answers themselves.

use hookrelay::server::openapi;
use serde_json::Value;

use crate::support::App;

/// Every (method, path) of the routing table, the one place the server routes from.
fn routed() -> Vec<(String, &'static str)> {
    hookrelay::server::routes::endpoints()
        .map(|(method, path, _)| (method.to_string(), path))
        .collect()
}

/// A concrete path for a template: every `{parameter}` becomes `1`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| if part.starts_with('{') { "1" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

/// The status and body of `method path` with no body and no query.
async fn call(app: &App, method: &str, path: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let response = app
        .client
        .request(method, app.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = response.status().as_u16();
    let streaming = response
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if streaming {
        // GET /events/stream: an answer that does not end; its head tells enough.
        return (status, String::new());
    }
    (status, response.text().await.expect("reading the answer"))
}

/// Whether an answer is the router's fallback for an unknown path or method.
fn is_fallback(status: u16, body: &str) -> bool {
    let body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    (status == 404 && body["message"] == "no such endpoint")
        || (status == 405 && body["error"] == "method_not_allowed")
}

#[tokio::test]
async fn every_described_operation_is_routed() {
    let app = App::start().await;
    let operations = openapi::operations();
    assert_eq!(operations.len(), routed().len(), "{operations:?}");

    for (method, template) in &operations {
        let (status, body) = call(&app, method, &concrete(template)).await;

        assert!(
            !is_fallback(status, &body),
            "{method} {template} is described but not routed: {status} {body}"
        );
    }
}

#[tokio::test]
async fn every_route_is_described_and_the_fallback_is_told_apart() {
    let app = App::start().await;
    let described = openapi::operations();

    for (method, path) in routed() {
        assert!(
            described
                .iter()
                .any(|(m, p)| m.as_str() == method && p.as_str() == path),
            "{method} {path} is routed but missing from openapi.json"
        );
        let (status, body) = call(&app, &method, &concrete(path)).await;
        assert!(
            !is_fallback(status, &body),
            "the routing table lists {method} {path}, which the server does not route: {status} {body}"
        );
    }
    // The probe itself can tell: an unknown path and a wrong method are the fallback.
    let (status, body) = call(&app, "GET", "/nowhere").await;
    assert!(is_fallback(status, &body), "{status} {body}");
    let (status, body) = call(&app, "DELETE", "/events").await;
    assert!(is_fallback(status, &body), "{status} {body}");
}

#[tokio::test]
async fn the_description_is_served_as_committed() {
    let app = App::start().await;

    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("GET /openapi.json");

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served: Value = response.json().await.expect("JSON");
    let committed: Value = serde_json::from_str(openapi::DOCUMENT).expect("JSON");
    assert_eq!(served, committed);
    assert_eq!(served["openapi"], "3.1.0");
    assert!(served["paths"]["/webhook"]["post"]["responses"]["422"].is_object());
}

/// The answers of `POST /webhook` as a client meets them, the model's and under `--source`
/// (a provider's event, Slack's challenge), are ones its description allows.
#[tokio::test]
async fn answers_of_post_webhook_under_a_source_are_described() {
    let mut root: Value = serde_json::from_str(openapi::DOCUMENT).expect("JSON");
    // The 200 answer's schema, its `$ref`s resolved against the whole document.
    root["$ref"] = "#/paths/~1webhook/post/responses/200/content/application~1json/schema".into();
    let described = jsonschema::draft202012::new(&root).expect("a JSON Schema");
    let post = |served: &crate::support::process::Served, headers: &[(&str, &str)], body: &str| {
        let mut request = reqwest::Client::new()
            .post(served.url("/webhook"))
            .header("content-type", "application/json")
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let answer = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("a JSON answer")
    };

    let model = crate::support::process::Served::start(&[]);
    let body = r#"{"event_id": 7, "timestamp": "2023-10-05T12:34:56Z", "event_type": "t", "description": "d"}"#;
    let got = answer(post(&model, &[], body).await.expect("POST")).await;
    assert!(described.is_valid(&got), "{got}");

    let github = crate::support::process::Served::start(&["--source", "github"]);
    let headers = [("x-github-event", "issues"), ("x-github-delivery", "d-7")];
    let got = answer(
        post(&github, &headers, r#"{"action": "opened"}"#)
            .await
            .expect("POST"),
    )
    .await;
    assert_eq!(got["id"], "d-7");
    assert!(described.is_valid(&got), "{got}");

    let slack = crate::support::process::Served::start(&["--source", "slack"]);
    let body = r#"{"type": "url_verification", "challenge": "c-7"}"#;
    let got = answer(post(&slack, &[], body).await.expect("POST")).await;
    assert_eq!(got["challenge"], "c-7");
    assert!(described.is_valid(&got), "{got}");

    // Not anything at all: an answer of none of these shapes is not described.
    assert!(!described.is_valid(&serde_json::json!({"status": "success"})));
}
