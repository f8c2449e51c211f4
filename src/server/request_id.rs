//! Request ids: each request carries the client's `X-Request-Id` (when it is a sensible
//! one) or a new random id. The id is echoed in the response and is a field of the span
//! that every log line written while handling the request belongs to.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given id that is kept; a longer one is replaced.
const MAX_LEN: usize = 128;

/// Middleware: picks the id, runs the request inside its span, echoes the id.
pub async fn request_id(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .filter(|v| acceptable(v))
        .cloned()
        .unwrap_or_else(generate);
    // Info level, so the span (and the id) is there whenever any line of the request is.
    let span = tracing::info_span!(
        "request",
        id = %String::from_utf8_lossy(id.as_bytes()),
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "request finished"
        );
    });
    response.headers_mut().insert(HEADER, id);
    response
}

/// 1 to 128 visible ASCII characters: safe to echo and to log.
fn acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_LEN && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// 32 random hex digits.
fn generate() -> HeaderValue {
    let id = format!("{:032x}", rand::random::<u128>());
    HeaderValue::from_str(&id).expect("hex digits are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kept_only_when_short_and_visible() {
        assert!(acceptable(&HeaderValue::from_static("abc-123_XYZ.42")));
        assert!(!acceptable(&HeaderValue::from_static("")));
        assert!(!acceptable(&HeaderValue::from_static("has space")));
        assert!(!acceptable(
            &HeaderValue::from_str(&"a".repeat(129)).unwrap()
        ));
        let made = generate();
        assert_eq!(made.len(), 32);
        assert!(acceptable(&made));
        assert_ne!(made, generate());
    }
}
