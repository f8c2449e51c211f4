//! Request ids: each request carries the client's `X-Request-Id` (when it is a sensible
//! one) or a new random id. The id is echoed in the response and is a field of the span
//! that every log line written while handling the request belongs to.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::limits::Admission;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-given id that is kept; a longer one is replaced.
const MAX_LEN: usize = 128;

/// Middleware in front of every route: picks the request id, admits the request or
/// answers 503 at once (`--max-inflight`), runs it inside its span, and echoes the id.
/// One middleware rather than two, since each layer costs on every request.
pub async fn front(State(admission): State<Admission>, request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&HEADER)
        .filter(|v| acceptable(v))
        .cloned()
        .unwrap_or_else(generate);
    let mut response = match admission.try_admit() {
        Err(refused) => *refused,
        Ok(_permit) => {
            // Info level, so the span (and the id) is there whenever any line of the request
            // is; only the id is a field, as formatting span fields costs on every request.
            let span = tracing::info_span!("request", id = %id.to_str().unwrap_or_default());
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let started = Instant::now();
            let response = next.run(request).instrument(span.clone()).await;
            span.in_scope(|| {
                tracing::debug!(
                    %method,
                    path,
                    status = response.status().as_u16(),
                    elapsed_us = started.elapsed().as_micros() as u64,
                    "request finished"
                );
            });
            response
        }
    };
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
