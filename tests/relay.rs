//! The relay end to end: a real hookrelay server (in-process or the binary) forwarding to
//! mock customers on 127.0.0.1, asserting what arrived and what the delivery log says.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use hookrelay::alert::RetryPolicy;
use hookrelay::server::memory::MemoryStore;
use hookrelay::server::relay::{Relay, RelayConfig, Target};
use hookrelay::server::{AppState, Config};
use serde_json::Value;

/// One request as a mock customer saw it.
#[derive(Clone, Debug)]
struct Seen {
    headers: HeaderMap,
    body: Bytes,
}

type Behaviour = Arc<dyn Fn(usize) -> (StatusCode, Duration) + Send + Sync>;

/// A customer endpoint that records every request and answers as told by `behaviour(n)`
/// for its n-th request (0-based).
struct Customer {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Customer {
    async fn start(
        behaviour: impl Fn(usize) -> (StatusCode, Duration) + Send + Sync + 'static,
    ) -> Self {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let behaviour: Behaviour = Arc::new(behaviour);
        let record = Arc::clone(&seen);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let record = Arc::clone(&record);
                let behaviour = Arc::clone(&behaviour);
                async move {
                    let n = {
                        let mut seen = record.lock().unwrap();
                        seen.push(Seen { headers, body });
                        seen.len() - 1
                    };
                    let (status, delay) = behaviour(n);
                    tokio::time::sleep(delay).await;
                    status
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, seen }
    }

    fn ok() -> impl Fn(usize) -> (StatusCode, Duration) + Send + Sync + 'static {
        |_| (StatusCode::OK, Duration::ZERO)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    async fn wait_for(&self, n: usize) -> Vec<Seen> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.seen();
            if seen.len() >= n || Instant::now() > deadline {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// A hookrelay server in-process with the given relay targets.
struct Hub {
    base: String,
    http: reqwest::Client,
}

impl Hub {
    async fn start(targets: Vec<Target>, schedule_ms: &[u64], max_pending: usize) -> Self {
        Self::start_with(targets, schedule_ms, max_pending, Duration::from_secs(5)).await
    }

    async fn start_with(
        targets: Vec<Target>,
        schedule_ms: &[u64],
        max_pending: usize,
        timeout: Duration,
    ) -> Self {
        let schedule = schedule_ms
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        let config = RelayConfig {
            targets,
            headers: HeaderMap::new(),
            policy: RetryPolicy::schedule(schedule),
            timeout,
            concurrency: 4,
            signer: None,
        };
        Self::start_config(config, max_pending).await
    }

    async fn start_config(config: RelayConfig, max_pending: usize) -> Self {
        let store = Arc::new(MemoryStore::new(1000, max_pending));
        let relay = Relay::new(config, store.clone()).unwrap();
        relay.start();
        let state = AppState::new(store, Config::default()).with_relay(relay);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(hookrelay::server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    async fn post(&self, body: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/webhook", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    }

    async fn post_path(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    }

    /// Polls the event's deliveries until `done` holds for them, or 10 s pass.
    async fn deliveries_until(&self, event_id: i64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let page = self.get(&format!("/events/{event_id}/deliveries")).await;
            let list = page["deliveries"].as_array().cloned().unwrap_or_default();
            if done(&list) || Instant::now() > deadline {
                return list;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn target(url: &str) -> Target {
    Target {
        url: url.parse().unwrap(),
        route: None,
    }
}

fn event(id: i64, event_type: &str) -> String {
    // Odd spacing on purpose: a relay that re-serializes would change these bytes.
    format!(
        r#"{{"event_id":  {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "{event_type}", "description": "é", "extra": [1,2.50]}}"#
    )
}

fn statuses(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|d| d["status"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn fan_out_delivers_the_exact_bytes_to_every_target_with_relay_headers() {
    let a = Customer::start(Customer::ok()).await;
    let b = Customer::start(Customer::ok()).await;
    let hub = Hub::start(vec![target(&a.url), target(&b.url)], &[50], 100).await;

    let body = event(1, "order.paid");
    assert_eq!(hub.post(&body).await.status(), 200);

    for customer in [&a, &b] {
        let seen = customer.wait_for(1).await;
        assert_eq!(seen.len(), 1);
        assert_eq!(
            seen[0].body,
            body.as_bytes(),
            "forwarded body must be byte-identical"
        );
        let h = &seen[0].headers;
        assert_eq!(h["content-type"], "application/json");
        assert!(h["user-agent"].to_str().unwrap().starts_with("hookrelay/"));
        assert_eq!(h["webhook-id"], "evt_1");
        let ts: i64 = h["webhook-timestamp"].to_str().unwrap().parse().unwrap();
        assert!((ts - chrono::Utc::now().timestamp()).abs() < 60);
    }
    let list = hub
        .deliveries_until(1, |l| statuses(l) == ["delivered", "delivered"])
        .await;
    assert_eq!(statuses(&list), ["delivered", "delivered"]);
}

#[tokio::test]
async fn routes_send_only_matching_event_types() {
    let orders = Customer::start(Customer::ok()).await;
    let everything = Customer::start(Customer::ok()).await;
    let routed = Target {
        url: orders.url.parse().unwrap(),
        route: Some(glob::Pattern::new("order.*").unwrap()),
    };
    let hub = Hub::start(vec![routed, target(&everything.url)], &[50], 100).await;

    hub.post(&event(1, "order.created")).await;
    hub.post(&event(2, "user.signup")).await;
    hub.post(&event(3, "order.paid")).await;

    let all = everything.wait_for(3).await;
    assert_eq!(all.len(), 3);
    let got = orders.wait_for(2).await;
    let ids: Vec<String> = got
        .iter()
        .map(|s| s.headers["webhook-id"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.contains(&"evt_1".to_string()) && ids.contains(&"evt_3".to_string()),
        "{ids:?}"
    );
    let user = hub.get("/events/2/deliveries").await;
    assert_eq!(
        user["deliveries"].as_array().unwrap().len(),
        1,
        "user.signup goes only to the catch-all"
    );
}

#[tokio::test]
async fn failing_twice_then_succeeding_is_delivered_on_attempt_three_with_attempts_visible() {
    let flaky = Customer::start(|n| {
        let status = if n < 2 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (status, Duration::ZERO)
    })
    .await;
    let hub = Hub::start(vec![target(&flaky.url)], &[50, 50, 50], 100).await;
    hub.post(&event(7, "x")).await;

    let list = hub
        .deliveries_until(7, |l| statuses(l) == ["delivered"])
        .await;
    assert_eq!(statuses(&list), ["delivered"]);
    let attempts = list[0]["attempts"].as_array().unwrap();
    let codes: Vec<u64> = attempts
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [503, 503, 200]);
    assert!(
        attempts[0]["next_attempt_at"].is_string(),
        "a failed attempt says when the next is due"
    );
    assert!(attempts[2]["next_attempt_at"].is_null());
    let seen = flaky.seen();
    let ids: Vec<_> = seen
        .iter()
        .map(|s| s.headers["webhook-id"].clone())
        .collect();
    assert!(
        ids.iter().all(|id| id == "evt_7"),
        "webhook-id is stable across attempts"
    );
}

#[tokio::test]
async fn always_failing_ends_dead_and_a_replay_delivers_after_recovery() {
    let healthy = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&healthy);
    let customer = Customer::start(move |_| {
        let up = flag.load(std::sync::atomic::Ordering::SeqCst);
        (
            if up {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            Duration::ZERO,
        )
    })
    .await;
    let hub = Hub::start(vec![target(&customer.url)], &[20, 20], 100).await;
    hub.post(&event(9, "x")).await;

    let list = hub.deliveries_until(9, |l| statuses(l) == ["dead"]).await;
    assert_eq!(statuses(&list), ["dead"]);
    assert_eq!(
        list[0]["attempts"].as_array().unwrap().len(),
        3,
        "first attempt + 2 retries"
    );
    let dead = hub.get("/deliveries?status=dead").await;
    assert_eq!(dead["deliveries"].as_array().unwrap().len(), 1);

    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, answer) = hub.post_path("/deliveries/replay?status=dead").await;
    assert_eq!((status, answer["replayed"].as_u64()), (200, Some(1)));
    let list = hub
        .deliveries_until(9, |l| statuses(l) == ["delivered"])
        .await;
    assert_eq!(statuses(&list), ["delivered"]);
    assert_eq!(list[0]["attempts"].as_array().unwrap().len(), 4);
    assert_eq!(customer.seen().len(), 4);
}

#[tokio::test]
async fn replay_of_one_event_to_one_target() {
    let a = Customer::start(Customer::ok()).await;
    let b = Customer::start(Customer::ok()).await;
    let hub = Hub::start(vec![target(&a.url), target(&b.url)], &[20], 100).await;
    hub.post(&event(4, "x")).await;
    hub.deliveries_until(4, |l| statuses(l) == ["delivered", "delivered"])
        .await;

    let (status, answer) = hub
        .post_path(&format!("/events/4/replay?target={}", a.url))
        .await;
    assert_eq!((status, answer["replayed"].as_u64()), (200, Some(1)));
    assert_eq!(a.wait_for(2).await.len(), 2);
    assert_eq!(b.seen().len(), 1, "the other target is not replayed");
    let (status, _) = hub.post_path("/events/999/replay").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn gone_is_dead_at_once_and_other_4xx_are_not_retried() {
    let gone = Customer::start(|_| (StatusCode::GONE, Duration::ZERO)).await;
    let bad = Customer::start(|_| (StatusCode::BAD_REQUEST, Duration::ZERO)).await;
    let hub = Hub::start(
        vec![target(&gone.url), target(&bad.url)],
        &[20, 20, 20],
        100,
    )
    .await;
    hub.post(&event(5, "x")).await;

    let list = hub
        .deliveries_until(5, |l| statuses(l) == ["dead", "dead"])
        .await;
    assert_eq!(statuses(&list), ["dead", "dead"]);
    for d in &list {
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    }
    assert_eq!(gone.seen().len() + bad.seen().len(), 2);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_keeps_nothing() {
    // The target hangs, so deliveries stay open.
    let slow = Customer::start(|_| (StatusCode::OK, Duration::from_secs(30))).await;
    let hub = Hub::start(vec![target(&slow.url)], &[20], 2).await;
    assert_eq!(hub.post(&event(1, "x")).await.status(), 200);
    assert_eq!(hub.post(&event(2, "x")).await.status(), 200);

    let refused = hub.post(&event(3, "x")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "error");
    let missing = hub
        .http
        .get(format!("{}/events/3", hub.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "a refused event is not stored");
}

#[tokio::test]
async fn a_slow_target_does_not_delay_a_fast_one() {
    let slow = Customer::start(|_| (StatusCode::OK, Duration::from_secs(30))).await;
    let fast = Customer::start(Customer::ok()).await;
    let hub = Hub::start_with(
        vec![target(&slow.url), target(&fast.url)],
        &[60_000],
        1000,
        Duration::from_millis(500),
    )
    .await;

    let started = Instant::now();
    for id in 0..20 {
        hub.post(&event(id, "x")).await;
    }
    let got = fast.wait_for(20).await;
    assert_eq!(got.len(), 20);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fast target waited on the slow one"
    );
    // The slow target timed out: its deliveries wait for a retry, none is lost.
    let list = hub
        .deliveries_until(0, |l| statuses(l).contains(&"failed".to_string()))
        .await;
    assert!(statuses(&list).contains(&"failed".to_string()), "{list:?}");
    let error =
        list.iter().find(|d| d["status"] == "failed").unwrap()["attempts"][0]["error"].clone();
    assert!(error.as_str().unwrap().contains("timed out"), "{error}");
}

#[tokio::test]
async fn a_duplicate_event_creates_no_new_delivery() {
    let a = Customer::start(Customer::ok()).await;
    let hub = Hub::start(vec![target(&a.url)], &[20], 100).await;
    let body = event(11, "x");
    hub.post(&body).await;
    let second: Value = hub.post(&body).await.json().await.unwrap();
    assert_eq!(second["duplicate"], true);
    hub.deliveries_until(11, |l| statuses(l) == ["delivered"])
        .await;
    let page = hub.get("/deliveries?event_id=11").await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(a.seen().len(), 1);
}

#[tokio::test]
async fn forward_secret_signs_every_attempt_with_a_fresh_timestamp_and_the_same_id() {
    use hookrelay::alert::signing::{Secret, Signer, Tolerance, verify_standard};
    let flaky = Customer::start(|n| {
        let status = if n == 0 {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        };
        (status, Duration::ZERO)
    })
    .await;
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let config = RelayConfig {
        targets: vec![target(&flaky.url)],
        headers: HeaderMap::new(),
        policy: RetryPolicy::schedule(vec![Duration::from_millis(1100)]),
        timeout: Duration::from_secs(5),
        concurrency: 1,
        signer: Signer::new(vec![secret.clone()]),
    };
    let hub = Hub::start_config(config, 100).await;
    let body = event(21, "x");
    hub.post(&body).await;

    let seen = flaky.wait_for(2).await;
    assert_eq!(seen.len(), 2);
    for s in &seen {
        assert_eq!(s.body, body.as_bytes());
        verify_standard(
            std::slice::from_ref(&secret),
            &s.headers,
            &s.body,
            Tolerance::default(),
        )
        .expect("each attempt verifies");
        assert_eq!(s.headers["webhook-id"], "evt_21");
    }
    assert_ne!(
        seen[0].headers["webhook-timestamp"], seen[1].headers["webhook-timestamp"],
        "each attempt is signed afresh"
    );
    let wrong = Secret::parse("whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQQ==").unwrap();
    let refused = verify_standard(
        &[wrong],
        &seen[0].headers,
        &seen[0].body,
        Tolerance::default(),
    );
    assert_eq!(refused.unwrap_err().reason(), "no_matching_signature");
}
