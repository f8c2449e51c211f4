//! `hookrelay serve`: every answer of `POST /webhook`, reading events back, the bounded
//! store, concurrency, and the process itself (address line, env vars, port in use, signals),
//! and the protection of the admin endpoints.

mod admin;
mod events;
mod http2;
mod metrics;
mod openapi;
mod page;
mod postgres;
mod process;
mod routing;
mod stream;
mod tls;
mod webhook;

use serde_json::Value;

/// `/events?…` with the pairs URL-encoded.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/events?{}", q.finish())
}

/// The event_ids of a page, in order.
pub fn ids(page: &Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .map(|e| e["event_id"].as_i64().expect("an event_id"))
        .collect()
}
