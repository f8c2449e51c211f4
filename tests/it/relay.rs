//! The relay end to end: the hookrelay router in-process with a relay, forwarding to mock
//! customers on 127.0.0.1, asserting what arrived and what the delivery log says.

use crate::support;

use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use hookrelay::alert::RetryPolicy;
use hookrelay::server::relay::{RelayConfig, Target};
use serde_json::{Value, json};
use support::{Answer, App, Customer};

/// Relays to `targets` with retries after `schedule_ms`, 5 s per attempt, 4 attempts in
/// flight per target, unsigned.
fn relay(targets: Vec<Target>, schedule_ms: &[u64]) -> RelayConfig {
    RelayConfig {
        targets,
        headers: HeaderMap::new(),
        policy: RetryPolicy::schedule(
            schedule_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
        ),
        timeout: Duration::from_secs(5),
        concurrency: 4,
        signer: None,
        original_headers: false,
        circuit: Default::default(),
    }
}

fn target(customer: &Customer) -> Target {
    Target {
        url: customer.url("/hook").parse().unwrap(),
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

/// Polls the event's deliveries until `done` holds for them, or 10 s pass.
async fn deliveries_until(app: &App, event_id: i64, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = app.get(&format!("/events/{event_id}/deliveries")).await;
        let list = page["deliveries"].as_array().cloned().unwrap_or_default();
        if done(&list) || Instant::now() > deadline {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn fan_out_delivers_the_exact_bytes_to_every_target_with_relay_headers() {
    let a = Customer::start();
    let b = Customer::start();
    let hub = App::with_relay(relay(vec![target(&a), target(&b)], &[50]), 100).await;

    let body = event(1, "order.paid");
    assert_eq!(hub.post(body.clone()).await.0, 200);

    for customer in [&a, &b] {
        let seen = customer.wait_for_async(1).await;
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
    let list = deliveries_until(&hub, 1, |l| statuses(l) == ["delivered", "delivered"]).await;
    assert_eq!(statuses(&list), ["delivered", "delivered"]);
}

#[tokio::test]
async fn routes_send_only_matching_event_types() {
    let orders = Customer::start();
    let everything = Customer::start();
    let routed = Target {
        route: Some(glob::Pattern::new("order.*").unwrap()),
        ..target(&orders)
    };
    let hub = App::with_relay(relay(vec![routed, target(&everything)], &[50]), 100).await;

    hub.post(event(1, "order.created")).await;
    hub.post(event(2, "user.signup")).await;
    hub.post(event(3, "order.paid")).await;

    let all = everything.wait_for_async(3).await;
    assert_eq!(all.len(), 3);
    let got = orders.wait_for_async(2).await;
    let ids: Vec<String> = got
        .iter()
        .map(|s| s.headers["webhook-id"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert!(
        ids.contains(&"evt_1".to_string()) && ids.contains(&"evt_3".to_string()),
        "{ids:?}"
    );
    let (_, user) = hub.get("/events/2/deliveries").await;
    assert_eq!(
        user["deliveries"].as_array().unwrap().len(),
        1,
        "user.signup goes only to the catch-all"
    );
}

#[tokio::test]
async fn failing_twice_then_succeeding_is_delivered_on_attempt_three_with_attempts_visible() {
    let flaky = Customer::failing_first(2, Answer::status(503));
    let hub = App::with_relay(relay(vec![target(&flaky)], &[50, 50, 50]), 100).await;
    hub.post(event(7, "x")).await;

    let list = deliveries_until(&hub, 7, |l| statuses(l) == ["delivered"]).await;
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
    let seen = flaky.requests();
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
    let customer = Customer::always(Answer::status(500));
    let hub = App::with_relay(relay(vec![target(&customer)], &[20, 20]), 100).await;
    hub.post(event(9, "x")).await;

    // Three failures in a row, fewer than the 5 that open a target's circuit (which would
    // keep the delivery waiting): it dies at the end of the schedule.
    let list = deliveries_until(&hub, 9, |l| statuses(l) == ["dead"]).await;
    assert_eq!(statuses(&list), ["dead"]);
    assert_eq!(
        list[0]["attempts"].as_array().unwrap().len(),
        3,
        "first attempt + 2 retries"
    );
    let (_, dead) = hub.get("/deliveries?status=dead").await;
    assert_eq!(dead["deliveries"].as_array().unwrap().len(), 1);

    // The customer recovers: no more failures, `200 ok` from the next request on.
    customer.program(0, Answer::ok());
    let (status, answer) = hub.post_empty("/deliveries/replay?status=dead").await;
    assert_eq!((status, answer["replayed"].as_u64()), (200, Some(1)));
    let list = deliveries_until(&hub, 9, |l| statuses(l) == ["delivered"]).await;
    assert_eq!(statuses(&list), ["delivered"]);
    assert_eq!(list[0]["attempts"].as_array().unwrap().len(), 4);
    assert_eq!(customer.count(), 4);
}

#[tokio::test]
async fn replay_of_one_event_to_one_target() {
    let a = Customer::start();
    let b = Customer::start();
    let hub = App::with_relay(relay(vec![target(&a), target(&b)], &[20]), 100).await;
    hub.post(event(4, "x")).await;
    deliveries_until(&hub, 4, |l| statuses(l) == ["delivered", "delivered"]).await;

    let (status, answer) = hub
        .post_empty(&format!("/events/4/replay?target={}", a.url("/hook")))
        .await;
    assert_eq!((status, answer["replayed"].as_u64()), (200, Some(1)));
    assert_eq!(a.wait_for_async(2).await.len(), 2);
    assert_eq!(b.count(), 1, "the other target is not replayed");
    let (status, _) = hub.post_empty("/events/999/replay").await;
    assert_eq!(status, 404);

    // The event's string id names it as well as its event_id, everywhere.
    let (status, answer) = hub
        .post_empty(&format!("/events/evt_4/replay?target={}", b.url("/hook")))
        .await;
    assert_eq!((status, answer["replayed"].as_u64()), (200, Some(1)));
    assert_eq!(b.wait_for_async(2).await.len(), 2);
    let (_, by_id) = hub.get("/events/evt_4/deliveries").await;
    let (_, by_number) = hub.get("/events/4/deliveries").await;
    assert_eq!(
        (&by_id["id"], &by_id["event_id"]),
        (&json!("evt_4"), &json!(4))
    );
    assert_eq!(by_id["deliveries"].as_array().unwrap().len(), 2);
    let (_, filtered) = hub.get("/deliveries?event_id=evt_4").await;
    let (_, by_event_id) = hub.get("/deliveries?event_id=4").await;
    assert_eq!(filtered["deliveries"].as_array().unwrap().len(), 2);
    for list in [
        &by_number["deliveries"],
        &filtered["deliveries"],
        &by_event_id["deliveries"],
    ] {
        for d in list.as_array().unwrap() {
            assert_eq!((&d["event"], &d["event_id"]), (&json!("evt_4"), &json!(4)));
        }
    }
    let (_, none) = hub.get("/deliveries?event_id=evt_5").await;
    assert!(none["deliveries"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn gone_is_dead_at_once_and_other_4xx_are_not_retried() {
    let gone = Customer::always(Answer::status(410));
    let bad = Customer::always(Answer::status(400));
    let hub = App::with_relay(relay(vec![target(&gone), target(&bad)], &[20, 20, 20]), 100).await;
    hub.post(event(5, "x")).await;

    let list = deliveries_until(&hub, 5, |l| statuses(l) == ["dead", "dead"]).await;
    assert_eq!(statuses(&list), ["dead", "dead"]);
    for d in &list {
        assert_eq!(d["attempts"].as_array().unwrap().len(), 1);
    }
    assert_eq!(gone.count() + bad.count(), 2);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_keeps_nothing() {
    // The target hangs, so deliveries stay open.
    let slow = Customer::always(Answer::ok().delay(Duration::from_secs(30)));
    let hub = App::with_relay(relay(vec![target(&slow)], &[20]), 2).await;
    assert_eq!(hub.post(event(1, "x")).await.0, 200);
    assert_eq!(hub.post(event(2, "x")).await.0, 200);

    let refused = crate::support::send_json(&hub.client, &hub.url("/webhook"), event(3, "x")).await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["status"], "error");
    let (missing, _) = hub.get("/events/3").await;
    assert_eq!(missing, 404, "a refused event is not stored");
}

#[tokio::test]
async fn a_slow_target_does_not_delay_a_fast_one() {
    // The slow target's attempts hang for a minute, far past every deadline of this test:
    // a fast delivery that waited on one of them could not arrive in time.
    let slow = Customer::always(Answer::ok().delay(Duration::from_secs(120)));
    let fast = Customer::start();
    let config = RelayConfig {
        timeout: Duration::from_secs(60),
        ..relay(vec![target(&slow), target(&fast)], &[60_000])
    };
    let hub = App::with_relay(config, 1000).await;

    let started = Instant::now();
    for id in 0..20 {
        hub.post(event(id, "x")).await;
    }
    let got = fast.wait_for_async(20).await;
    assert_eq!(got.len(), 20);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fast target waited on the slow one"
    );
    // Meanwhile the slow target holds 4 attempts (its concurrency), none of them ended.
    assert_eq!(slow.wait_for_async(4).await.len(), 4);
    let (_, page) = hub
        .get(&format!(
            "/deliveries?limit=100&target={}",
            slow.url("/hook")
        ))
        .await;
    let list = page["deliveries"].as_array().unwrap();
    assert_eq!(list.len(), 20);
    assert!(
        list.iter().all(|d| {
            matches!(d["status"].as_str(), Some("pending" | "in_flight"))
                && d["attempts"].as_array().unwrap().is_empty()
        }),
        "{list:?}"
    );
}

#[tokio::test]
async fn a_target_that_times_out_keeps_its_delivery_for_a_retry() {
    let slow = Customer::always(Answer::ok().delay(Duration::from_secs(30)));
    let config = RelayConfig {
        timeout: Duration::from_millis(500),
        ..relay(vec![target(&slow)], &[60_000])
    };
    let hub = App::with_relay(config, 100).await;
    hub.post(event(1, "x")).await;

    let list = deliveries_until(&hub, 1, |l| statuses(l) == ["failed"]).await;
    assert_eq!(statuses(&list), ["failed"], "{list:?}");
    let attempts = list[0]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    let error = attempts[0]["error"].as_str().unwrap();
    assert!(error.contains("timed out"), "{error}");
    assert!(attempts[0]["next_attempt_at"].is_string());
}

#[tokio::test]
async fn a_duplicate_event_creates_no_new_delivery() {
    let a = Customer::start();
    let hub = App::with_relay(relay(vec![target(&a)], &[20]), 100).await;
    let body = event(11, "x");
    hub.post(body.clone()).await;
    let (_, second) = hub.post(body).await;
    assert_eq!(second["duplicate"], true);
    deliveries_until(&hub, 11, |l| statuses(l) == ["delivered"]).await;
    let (_, page) = hub.get("/deliveries?event_id=11").await;
    assert_eq!(page["deliveries"].as_array().unwrap().len(), 1);
    assert_eq!(a.count(), 1);
}

#[tokio::test]
async fn forward_secret_signs_every_attempt_with_a_fresh_timestamp_and_the_same_id() {
    use hookrelay::alert::signing::{Secret, Signer, Tolerance, verify_standard};
    let flaky = Customer::failing_first(1, Answer::status(503));
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    // `webhook-timestamp` is in whole seconds: a retry more than 1 s later, without jitter
    // that could bring it under 1 s, must carry another one.
    let config = RelayConfig {
        concurrency: 1,
        signer: Signer::new(vec![secret.clone()]),
        circuit: Default::default(),
        policy: RetryPolicy {
            jitter: 0.0,
            ..RetryPolicy::schedule(vec![Duration::from_millis(1100)])
        },
        ..relay(vec![target(&flaky)], &[])
    };
    let hub = App::with_relay(config, 100).await;
    let body = event(21, "x");
    hub.post(body.clone()).await;

    let seen = flaky.wait_for_async(2).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_already_in_flight_when_the_circuit_opens_do_not_push_the_probe_out() {
    use hookrelay::server::relay::CircuitConfig;
    // The target takes every request and answers none of them in time: the 4 attempts in
    // flight at once all time out, one after another.
    let hanging = Customer::always(Answer::ok().delay(Duration::from_secs(30)));
    let config = RelayConfig {
        timeout: Duration::from_millis(300),
        circuit: CircuitConfig {
            failures: 1,
            first_probe: Duration::from_secs(1),
            max_probe: Duration::from_secs(3600),
            disable_after: Duration::from_secs(3600),
        },
        ..relay(vec![target(&hanging)], &[60_000])
    };
    let hub = App::with_relay(config, 100).await;
    for id in 1..=4 {
        assert_eq!(hub.post(event(id, "x")).await.0, 200);
    }
    let in_flight = hanging.wait_for_async(4).await;
    // The target is healthy again from the next request on: the probe is delivered.
    hanging.program(0, Answer::ok());

    let seen = hanging.wait_for_async(5).await;
    // The first failure opened the circuit (probe after 1 s); the 3 other attempts, begun
    // before it opened, must not double that wait to 8 s.
    let waited = seen[4].at - in_flight[3].at;
    assert!(
        waited < Duration::from_secs(4),
        "the probe came {waited:?} after the last attempt in flight began"
    );
    assert!(
        waited >= Duration::from_secs(1),
        "the probe waited less than the first probe wait: {waited:?}"
    );
}

/// With `--forward-headers original`, the sender's Svix signature headers stay behind as
/// its `webhook-*` ones do: the official Svix library reads `svix-*` before `webhook-*`,
/// and would check the sender's signature against the relay's secret.
#[tokio::test]
async fn original_headers_leave_the_senders_svix_headers_behind() {
    use hookrelay::alert::signing::{Secret, Signer, Tolerance, verify_standard};
    let customer = Customer::start();
    let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let config = RelayConfig {
        signer: Signer::new(vec![secret.clone()]),
        original_headers: true,
        ..relay(vec![target(&customer)], &[50])
    };
    let hub = App::with_relay(config, 100).await;
    let body = event(31, "x");
    let sent = hub
        .client
        .post(hub.url("/webhook"))
        .header("content-type", "application/json")
        .header("svix-id", "msg_sender")
        .header("svix-timestamp", "1700000000")
        .header("svix-signature", "v1,c2VuZGVyJ3Mgc2lnbmF0dXJl")
        .header("webhook-signature", "v1,c2VuZGVyJ3Mgc2lnbmF0dXJl")
        .header("x-provider", "kept")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    let got = &customer.wait_for_async(1).await[0];
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        assert_eq!(got.header(name), None, "{name} was forwarded");
    }
    assert_eq!(got.header("x-provider"), Some("kept"));
    assert_eq!(got.header("webhook-id"), Some("evt_31"));
    assert_eq!(got.header_all("webhook-signature").len(), 1);
    verify_standard(
        std::slice::from_ref(&secret),
        &got.headers,
        &got.body,
        Tolerance::default(),
    )
    .expect("the relay's own signature verifies");
}

#[tokio::test]
async fn original_headers_leave_out_the_ones_the_senders_connection_named() {
    let customer = Customer::start();
    let config = RelayConfig {
        original_headers: true,
        ..relay(vec![target(&customer)], &[50])
    };
    let hub = App::with_relay(config, 100).await;
    let sent = hub
        .client
        .post(hub.url("/webhook"))
        .header("content-type", "application/json")
        .header("connection", "keep-alive, X-Hop")
        .header("x-hop", "for this hop only")
        .header("x-provider", "kept")
        .body(event(32, "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    let got = &customer.wait_for_async(1).await[0];
    assert_eq!(
        got.header("x-hop"),
        None,
        "a hop-by-hop header was forwarded"
    );
    assert_eq!(got.header("x-provider"), Some("kept"));
}
