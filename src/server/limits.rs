//! The receiver's protective limits: connection timeouts (enforced in `conn`), the body
//! timeout (enforced while reading the body), and admission control: at most
//! `max_inflight` requests are handled at once, and one more is answered 503 with
//! `Retry-After` at once instead of waiting in an unbounded queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Limits of `serve`; the defaults are those of the command line.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time from the first byte of a request (or from accepting the connection) to the
    /// end of its headers.
    pub header_timeout: Duration,
    /// Time to receive a whole request body.
    pub body_timeout: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle_timeout: Duration,
    /// Requests handled at once; more are refused with 503.
    pub max_inflight: usize,
    /// Event streams (`GET /events/stream`) open at once; more are refused with 503.
    pub max_streams: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_inflight: 1024,
            max_streams: 16,
        }
    }
}

/// Runs `reading` (of a request body) under the body timeout: 408 when it runs out.
///
/// The timer is made only when the body is not there at the first look: hyper has
/// usually read a small body with the request's head, and making a timer and dropping it
/// unused was a tenth of what handling such a request costs.
pub async fn within<T>(
    timeout: Duration,
    reading: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let mut reading = std::pin::pin!(reading);
    let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx))).await;
    if let Poll::Ready(read) = first {
        return read;
    }
    tokio::time::timeout(timeout, reading)
        .await
        .unwrap_or(Err(ApiError::RequestTimeout(timeout)))
}

/// Seconds a client refused for overload is asked to wait.
const RETRY_AFTER_SECS: u64 = 1;

/// Admission control: how many requests are being handled, against `--max-inflight`.
/// A plain counter rather than a semaphore: nobody waits for a place, a request either
/// gets one at once or is refused.
#[derive(Clone)]
pub struct Admission(Arc<Gate>);

struct Gate {
    inflight: AtomicUsize,
    max: usize,
}

impl Admission {
    pub fn new(max_inflight: usize) -> Self {
        Self(Arc::new(Gate {
            inflight: AtomicUsize::new(0),
            max: max_inflight.max(1),
        }))
    }

    /// Takes a place while fewer than `--max-inflight` requests are in progress; a place
    /// taken is given back with [`Admission::leave`].
    pub fn enter(&self) -> bool {
        if self.0.inflight.fetch_add(1, Ordering::AcqRel) < self.0.max {
            return true;
        }
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
        metrics::counter!(super::metrics::REQUESTS_REJECTED, "reason" => "overload").increment(1);
        false
    }

    pub fn leave(&self) {
        self.0.inflight.fetch_sub(1, Ordering::AcqRel);
    }

    /// The answer to a request refused for overload.
    pub fn refused() -> Response {
        ApiError::Unavailable {
            message: "the server is handling too many requests; retry later".into(),
            retry_after_secs: RETRY_AFTER_SECS,
        }
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_max_inflight_places_are_taken_at_once() {
        let admission = Admission::new(2);
        assert!(admission.enter());
        assert!(admission.enter());
        assert!(!admission.enter());
        admission.leave();
        assert!(admission.enter());
        assert!(!admission.enter());
        assert_eq!(Admission::refused().status(), 503);
    }
}
