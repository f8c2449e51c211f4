//! Outbound delivery: one POST of a [`Delivery`] ([`attempt`]), the [`Verdict`] on its
//! answer, and [`deliver`], the in-process retry loop of `hookrelay send`. The relay
//! (`server::relay`) makes its attempts through [`attempt`] as well, but keeps each
//! delivery's state and next attempt in its store, so they outlive a restart. Connections
//! come from [`client`], the waits between attempts from [`retry`], signatures from
//! [`signing`].

pub mod client;
mod outbound;
pub mod retry;
pub mod signing;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, RETRY_AFTER, USER_AGENT,
};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Body as _;

use client::SendError;
pub use client::{Client, ClientOptions, Endpoint, Proxies, build_client};
pub use retry::{Backoff, Decision, RetryPolicy};

/// How much of a response body is read for the report; the rest is discarded.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// What to deliver, and where.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub endpoint: Endpoint,
    /// Sent exactly as given.
    pub body: Bytes,
    /// Extra headers (Content-Type and User-Agent are always set).
    pub headers: HeaderMap,
}

/// The result of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    pub status: Option<StatusCode>,
    /// At most [`MAX_RESPONSE_BYTES`] of the response body.
    pub body: Bytes,
    pub retry_after: Option<Duration>,
    pub location: Option<String>,
    /// Why there was no usable answer (connection refused, timed out, …).
    pub error: Option<String>,
    pub elapsed: Duration,
}

/// What an attempt means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another try: connection errors, timeouts, 408, 429, 5xx.
    Retry,
    /// A final refusal: other 4xx, redirects (never followed).
    Fail,
    /// 410 Gone: the endpoint asks never to be called again.
    Gone,
}

impl Attempt {
    pub fn verdict(&self) -> Verdict {
        match self.status {
            None => Verdict::Retry,
            Some(s) if s.is_success() => Verdict::Delivered,
            Some(StatusCode::GONE) => Verdict::Gone,
            Some(StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS) => Verdict::Retry,
            Some(s) if s.is_server_error() => Verdict::Retry,
            Some(_) => Verdict::Fail,
        }
    }

    /// One line for humans: `503 Service Unavailable in 3ms` or the error.
    pub fn summary(&self) -> String {
        let ms = self.elapsed.as_millis();
        let took = if self.status.is_some() { "in" } else { "after" };
        format!("{} {took} {ms}ms", self.outcome())
    }

    /// What came back, without timing: `503 Service Unavailable`, `timed out`, …
    pub fn outcome(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) if s.is_redirection() => {
                let to = self.location.as_deref().unwrap_or("(no Location)");
                format!("{s} redirect to {to} (not followed)")
            }
            (Some(s), Some(e)) => format!("{s}; the response body was cut: {e}"),
            (Some(s), None) => s.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".to_string(),
        }
    }
}

/// Makes one POST of `delivery`, with `extra` headers for this attempt only.
pub async fn attempt(
    client: &Client,
    delivery: &Delivery,
    extra: HeaderMap,
    number: u32,
) -> Attempt {
    let started = Instant::now();
    let mut result = Attempt {
        number,
        status: None,
        body: Bytes::new(),
        retry_after: None,
        location: None,
        error: None,
        elapsed: Duration::ZERO,
    };
    let request = request(delivery, extra);
    let exchange = exchange(client, &delivery.endpoint, request, &mut result);
    if tokio::time::timeout(client.timeout, exchange)
        .await
        .is_err()
    {
        result.error = Some("timed out".to_string());
    }
    result.elapsed = started.elapsed();
    result
}

/// Headers every request gets besides the delivery's and the attempt's: Content-Type,
/// User-Agent, Accept, Host and Content-Length. A caller that sizes the attempt's map for
/// them spares a rehash.
pub const ADDED_HEADERS: usize = 5;

fn request(delivery: &Delivery, extra: HeaderMap) -> Request<Full<Bytes>> {
    // The URI is the endpoint's, set by the client.
    let mut request = Request::new(Full::new(delivery.body.clone()));
    *request.method_mut() = Method::POST;
    *request.headers_mut() = request_headers(delivery, extra);
    request
}

/// The headers of one attempt of `delivery`, as sent but for Host and Content-Length
/// (which the client and hyper add from the URL and the body): the delivery's, the
/// attempt's `extra` (which replace those of the same name), and Content-Type
/// (`application/json`), User-Agent and Accept unless either gives them. `send --dry-run`
/// prints them.
pub fn request_headers(delivery: &Delivery, extra: HeaderMap) -> HeaderMap {
    // Sized once for everything that goes in, with Host and Content-Length added by the
    // client and hyper: growing a HeaderMap rehashes it. Without extra headers of the
    // delivery's own, the attempt's map is used as it is.
    let mut headers = if delivery.headers.is_empty() {
        let mut headers = extra;
        headers.reserve(ADDED_HEADERS);
        headers
    } else {
        let capacity = delivery.headers.len() + extra.len() + ADDED_HEADERS;
        let mut headers = HeaderMap::with_capacity(capacity);
        headers.extend(delivery.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
        headers.extend(extra);
        headers
    };
    headers
        .entry(CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/json"));
    headers
        .entry(USER_AGENT)
        .or_insert(HeaderValue::from_static(client::USER_AGENT));
    headers
        .entry(ACCEPT)
        .or_insert(HeaderValue::from_static("*/*"));
    headers
}

/// Sends `request` and reads the answer into `result`, which keeps what arrived if the
/// caller's timeout ends this early.
async fn exchange(
    client: &Client,
    endpoint: &Endpoint,
    request: Request<Full<Bytes>>,
    result: &mut Attempt,
) {
    let (response, conn) = match client.send(endpoint, request).await {
        Ok(sent) => sent,
        Err(SendError::Invalid(why)) => {
            result.error = Some(format!("request failed: {why}"));
            return;
        }
        Err(SendError::Connect(e)) => {
            let kind = if timed_out(&*e) {
                "timed out"
            } else {
                "connection failed"
            };
            result.error = Some(describe_error(kind, &*e));
            return;
        }
        Err(SendError::Proxy(why)) => {
            result.error = Some(format!("connection failed: {why}"));
            return;
        }
        Err(SendError::Request(e)) => {
            result.error = Some(describe_error("request failed", &e));
            return;
        }
    };
    result.status = Some(response.status());
    result.retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(retry::parse_retry_after);
    result.location = response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = response.into_body();
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                let room = MAX_RESPONSE_BYTES - kept.len();
                kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if kept.len() == MAX_RESPONSE_BYTES {
                    break;
                }
            }
            // The status already arrived; a body cut short does not change the verdict.
            Err(e) => {
                result.error = Some(describe_error("reading the response failed", &e));
                break;
            }
        }
    }
    // Only a connection whose response was read to its end can carry the next request.
    if body.is_end_stream() && result.error.is_none() {
        client.release(conn);
    }
    result.body = kept.into();
}

/// Whether an I/O timeout (the connect timeout) caused `e`.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = c.source();
    }
    false
}

/// A short cause for a failed request: `connection failed: Connection refused (os error 111)`, …
fn describe_error(kind: &str, e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    let detail = root.to_string();
    if detail.is_empty() || detail == kind {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}

/// The end of a delivery with retries.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub delivered: bool,
    pub attempts: Vec<Attempt>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn last(&self) -> &Attempt {
        self.attempts
            .last()
            .expect("a delivery makes at least one attempt")
    }
}

/// Delivers with retries under `policy`. `headers_for(n)` gives headers for attempt `n`
/// (signatures are made per attempt); `report` hears of each attempt and the wait that follows.
pub async fn deliver(
    client: &Client,
    delivery: &Delivery,
    policy: &RetryPolicy,
    headers_for: impl Fn(u32) -> HeaderMap,
    mut report: impl FnMut(&Attempt, Option<Duration>),
) -> Outcome {
    let started = Instant::now();
    let mut attempts = Vec::new();
    let mut number = 0;
    loop {
        number += 1;
        let this = attempt(client, delivery, headers_for(number), number).await;
        let decision = policy.decide(this.verdict(), number - 1, this.retry_after);
        let wait = match decision {
            Decision::RetryIn(wait) => Some(wait),
            Decision::Delivered | Decision::GiveUp => None,
        };
        report(&this, wait);
        attempts.push(this);
        match wait {
            Some(wait) => tokio::time::sleep(wait).await,
            None => {
                let delivered = decision == Decision::Delivered;
                return Outcome {
                    delivered,
                    attempts,
                    elapsed: started.elapsed(),
                };
            }
        }
    }
}
