//! A mock customer endpoint on 127.0.0.1:0 that records every request it receives (method,
//! path, headers, exact body bytes, arrival instant) and answers as programmed: a given
//! answer for the first N requests and 200 after, or always the same answer, with extra
//! headers (`Retry-After`, `Location`) and delays. It runs on its own thread and runtime,
//! so both plain `#[test]`s that run the binary and `#[tokio::test]`s can use it.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, oneshot};

use super::DEADLINE;

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    /// Path and query, as sent.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Recorded {
    /// The value of a header, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether one of the `v1,` signatures of this (Standard Webhooks) delivery is the one
    /// `secret` makes over its id, timestamp and body.
    pub fn signed_by(&self, secret: &str) -> bool {
        let secret = hookrelay::alert::signing::Secret::parse(secret).unwrap();
        let id = self.header("webhook-id").unwrap();
        let timestamp: i64 = self.header("webhook-timestamp").unwrap().parse().unwrap();
        let expected = hookrelay::alert::signing::sign(&[secret], id, timestamp, &self.body);
        self.header("webhook-signature")
            .unwrap()
            .split(' ')
            .any(|s| s == expected)
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    }

    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("the body is UTF-8")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// What the customer answers.
#[derive(Debug, Clone)]
pub struct Answer {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    delay: Duration,
}

impl Answer {
    /// `200` with the body `ok`.
    pub fn ok() -> Self {
        Self::status(200).body("ok")
    }

    /// The given status with the body `status <code>`.
    pub fn status(code: u16) -> Self {
        Self {
            status: StatusCode::from_u16(code).expect("a valid status code"),
            headers: Vec::new(),
            body: Bytes::from(format!("status {code}")),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((
            HeaderName::try_from(name).expect("a header name"),
            HeaderValue::try_from(value).expect("a header value"),
        ));
        self
    }

    pub fn retry_after(self, value: &str) -> Self {
        self.header("retry-after", value)
    }

    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Waits this long after the request arrived before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// Which answer the next requests get.
struct Plan {
    /// How many more requests get `answer`; `usize::MAX` means all of them.
    remaining: usize,
    answer: Answer,
}

struct Shared {
    log: Mutex<Vec<Recorded>>,
    plan: Mutex<Plan>,
    /// Wakes blocking waiters when a request is recorded.
    arrived: Condvar,
    /// Wakes async waiters when a request is recorded.
    notify: Notify,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Vec<Recorded>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running mock endpoint; stops on drop.
pub struct Customer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Customer {
    /// Answers every request with `200 ok`.
    pub fn start() -> Self {
        Self::with_plan(0, Answer::ok())
    }

    /// Answers the first `n` requests with `answer`, then `200 ok`.
    pub fn failing_first(n: usize, answer: Answer) -> Self {
        Self::with_plan(n, answer)
    }

    /// Answers every request with `answer`.
    pub fn always(answer: Answer) -> Self {
        Self::with_plan(usize::MAX, answer)
    }

    fn with_plan(remaining: usize, answer: Answer) -> Self {
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            plan: Mutex::new(Plan { remaining, answer }),
            arrived: Condvar::new(),
            notify: Notify::new(),
        });
        // Bound here so that the address is known, and connections queue, before the
        // server thread runs.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding the customer");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("customer address");
        let (stop, stopped) = oneshot::channel::<()>();
        let app = Router::new()
            .fallback(record)
            .layer(DefaultBodyLimit::disable())
            .with_state(Arc::clone(&shared));
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("customer runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                tokio::select! {
                    result = axum::serve(listener, app) => result.expect("customer server"),
                    _ = stopped => {}
                }
            });
        });
        Self {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// From the next request on: `answer` for `n` requests, then `200 ok`.
    pub fn program(&self, n: usize, answer: Answer) {
        *self.shared.plan.lock().unwrap() = Plan {
            remaining: n,
            answer,
        };
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Everything received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.log().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.log().len()
    }

    /// Blocks until at least `k` requests arrived and returns them all; panics at the deadline.
    pub fn wait_for(&self, k: usize) -> Vec<Recorded> {
        let log = self.shared.log();
        let (log, timeout) = self
            .shared
            .arrived
            .wait_timeout_while(log, DEADLINE, |log| log.len() < k)
            .unwrap_or_else(|p| p.into_inner());
        assert!(
            !timeout.timed_out(),
            "the customer saw {} request(s), expected {k}",
            log.len()
        );
        log.clone()
    }

    /// [`Customer::wait_for`] for async tests.
    pub async fn wait_for_async(&self, k: usize) -> Vec<Recorded> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let log = self.shared.log();
                if log.len() >= k {
                    return log.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("the customer saw {} request(s), expected {k}", self.count());
            }
        }
    }
}

impl Drop for Customer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let answer = {
        let mut plan = shared.plan.lock().unwrap_or_else(|p| p.into_inner());
        if plan.remaining == 0 {
            Answer::ok()
        } else {
            if plan.remaining != usize::MAX {
                plan.remaining -= 1;
            }
            plan.answer.clone()
        }
    };
    let path = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_string(), ToString::to_string);
    shared.log().push(Recorded {
        method,
        path,
        headers,
        body,
        at,
    });
    shared.arrived.notify_all();
    shared.notify.notify_waiters();
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let mut response = (answer.status, answer.body).into_response();
    for (name, value) in answer.headers {
        response.headers_mut().append(name, value);
    }
    response
}
