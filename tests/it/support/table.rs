//! Trying every route of the routing table: the concrete request each is tried with and
//! what counts as served. The server must hold event 1 ([`super::event`]) and an endpoint
//! named `1` ([`ENDPOINT_ONE`], created with `POST /endpoints`).

use hookrelay::server::routes;
use http::Method;

/// The body of `POST /endpoints` that makes the endpoint named `1`.
pub const ENDPOINT_ONE: &str = r#"{"url": "http://127.0.0.1:9/one", "name": "1"}"#;

/// The request a route is tried with: its path with event 1 and endpoint `1`, and a body
/// where it needs one.
pub fn request(
    client: &reqwest::Client,
    base: &str,
    method: &Method,
    path: &str,
) -> reqwest::RequestBuilder {
    let mut url = format!(
        "{base}{}",
        path.replace("{id}", "1").replace("{file}", "app.js")
    );
    if path == "/deliveries/replay" {
        url.push_str("?status=dead");
    }
    let builder = client.request(method.clone(), url);
    let body = match (method.as_str(), path) {
        ("POST", routes::WEBHOOK) => super::event(2),
        ("POST", "/endpoints") => r#"{"url": "http://127.0.0.1:9/other"}"#.to_owned(),
        ("PATCH", "/endpoints/{id}") => r#"{"description": "tried"}"#.to_owned(),
        _ => return builder,
    };
    builder
        .header("content-type", "application/json")
        .body(body)
}

/// Whether `status` is a proper answer of the route: success, or 404 for the replay of
/// event 1 (it has no deliveries) and for a repeated delete of endpoint `1`.
pub fn served(method: &Method, path: &str, status: reqwest::StatusCode) -> bool {
    status.is_success()
        || status == 404 && path == "/events/{id}/replay"
        || status == 404 && *method == Method::DELETE && path == "/endpoints/{id}"
        // No source is mounted on /webhook/{source}: its own 404 (the fallback's is told
        // apart by tests/it/serve/openapi.rs).
        || status == 404 && path == "/webhook/{source}"
}

/// A method no route of `path` is served on.
pub fn other_method(path: &str) -> Method {
    [Method::GET, Method::DELETE, Method::PUT]
        .into_iter()
        .find(|m| !routes::endpoints().any(|(method, p, _)| p == path && method == m))
        .expect("PUT is never routed")
}
