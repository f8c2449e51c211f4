//! The OpenAPI 3.1 description of the HTTP API (`openapi.json`, next to this file), served at
//! `GET /openapi.json`. Tests check it against the router both ways, and Schemathesis
//! (`scripts/schemathesis.sh`) checks the running server's answers against it.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The description, as committed.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// `GET /openapi.json`.
pub async fn document() -> Response {
    let mut response = DOCUMENT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Every operation the description has, as (upper-case method, path template), in the
/// order written.
pub fn operations() -> Vec<(String, String)> {
    let document: serde_json::Value =
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON (checked by a test)");
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if METHODS.contains(&method.as_str()) {
                all.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    all
}

/// The keys of an OpenAPI path item that are operations.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_is_openapi_3_1_with_every_operation_named_once() {
        let document: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(
            document["info"]["version"],
            env!("CARGO_PKG_VERSION"),
            "info.version follows Cargo.toml"
        );
        let mut ids: Vec<&str> = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let count = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), count, "operationIds are unique");
        assert_eq!(
            count,
            operations().len(),
            "every operation has an operationId"
        );
    }
}
