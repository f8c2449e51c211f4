//! Relaying with the durable store across crashes: deliveries owed to a target that was
//! down, attempts cut off in flight, and delivered/dead states, attempts and replays, all
//! surviving SIGKILL and a restart of the real binary on the same file.

use crate::support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;

use support::durable::{Served, client, event, get_json, post};
use support::{HeldPort, get_text, metric};

/// Polls `check` until it is true, for up to `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One request as the mock target saw it.
#[derive(Clone, Debug)]
struct Seen {
    webhook_id: String,
    body: Bytes,
}

/// A target on 127.0.0.1 that records every request; answers 500 while `failing` says
/// so for the request's event id, and hangs while `hanging` is set.
#[derive(Clone, Default)]
struct Target {
    seen: Arc<Mutex<Vec<Seen>>>,
    failing: Arc<Mutex<HashSet<i64>>>,
    hanging: Arc<AtomicBool>,
}

impl Target {
    async fn serve(&self, listener: tokio::net::TcpListener) {
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let me = me.clone();
                async move {
                    let event: Value = serde_json::from_slice(&body).unwrap();
                    let id = event["event_id"].as_i64().unwrap();
                    let webhook_id = headers["webhook-id"].to_str().unwrap().to_string();
                    me.seen.lock().unwrap().push(Seen { webhook_id, body });
                    if me.hanging.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                    }
                    if me.failing.lock().unwrap().contains(&id) {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        self.serve(listener).await;
        url
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every request carries the webhook-id of the event in its body, and the exact bytes
    /// that were posted. Returns the distinct event ids delivered.
    fn check_every_request(&self) -> HashSet<i64> {
        let mut ids = HashSet::new();
        for seen in self.seen() {
            let parsed: Value = serde_json::from_slice(&seen.body).unwrap();
            let id = parsed["event_id"].as_i64().unwrap();
            assert_eq!(seen.webhook_id, format!("evt_{id}"));
            assert_eq!(&seen.body[..], event(id).as_bytes());
            ids.insert(id);
        }
        ids
    }
}

async fn deliveries(base: &str, query: &str) -> Vec<Value> {
    let page = get_json(base, &format!("/deliveries?limit=1000&{query}")).await;
    page["deliveries"].as_array().unwrap().clone()
}

const LONG_SCHEDULE: &str = "200ms,500ms,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_owed_to_a_down_target_are_made_after_kill_9_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    // Nothing listens on this port until the target starts, after the crash; it stays
    // bound meanwhile, so no other test can take it.
    let port = HeldPort::bind();
    let url = port.url("/hook");
    let args = ["--forward-to", &url, "--retry-schedule", LONG_SCHEDULE];
    let mut served = Served::start(&db, &args);
    let http = client();
    for id in 1..=40 {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    let base = served.base.clone();
    eventually(Duration::from_secs(20), "failed attempts", async || {
        !deliveries(&base, "status=failed").await.is_empty()
    })
    .await;
    served.kill9();

    let target = Target::default();
    target.serve(port.listen()).await;
    let served = Served::start(&db, &args);
    eventually(
        Duration::from_secs(30),
        "all 40 events at the target",
        async || target.check_every_request().len() == 40,
    )
    .await;
    eventually(Duration::from_secs(10), "40 delivered", async || {
        deliveries(&served.base, "status=delivered").await.len() == 40
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_in_flight_at_kill_9_are_made_again_with_the_same_webhook_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let target = Target::default();
    target.hanging.store(true, Ordering::SeqCst);
    let url = target.start().await;
    let args = ["--forward-to", &url, "--forward-timeout", "60s"];
    let mut served = Served::start(&db, &args);
    let http = client();
    for id in 1..=3 {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    eventually(
        Duration::from_secs(10),
        "3 attempts in flight",
        async || target.seen().len() == 3,
    )
    .await;
    served.kill9();

    target.hanging.store(false, Ordering::SeqCst);
    let served = Served::start(&db, &args);
    eventually(Duration::from_secs(10), "3 more requests", async || {
        target.seen().len() == 6
    })
    .await;
    assert_eq!(target.check_every_request().len(), 3);
    eventually(Duration::from_secs(10), "3 delivered", async || {
        deliveries(&served.base, "status=delivered").await.len() == 3
    })
    .await;
}

/// `(status, attempt status codes)` of the one delivery of an event.
async fn delivery_of(base: &str, id: i64) -> (String, Vec<Option<u64>>) {
    let page = get_json(base, &format!("/events/{id}/deliveries")).await;
    let d = &page["deliveries"][0];
    let codes = d["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64())
        .collect();
    (d["status"].as_str().unwrap().to_string(), codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivered_and_dead_states_attempts_and_replays_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let target = Target::default();
    target.failing.lock().unwrap().insert(2);
    let url = target.start().await;
    let args = ["--forward-to", &url, "--retry-schedule", "50ms"];
    let mut served = Served::start(&db, &args);
    let http = client();
    for id in 1..=2 {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    let base = served.base.clone();
    eventually(
        Duration::from_secs(10),
        "1 delivered and 1 dead",
        async || {
            deliveries(&base, "status=delivered").await.len() == 1
                && deliveries(&base, "status=dead").await.len() == 1
        },
    )
    .await;
    served.kill9();

    let mut served = Served::start(&db, &args);
    let ok = Some(200);
    let failed = Some(500);
    assert_eq!(
        delivery_of(&served.base, 1).await,
        ("delivered".into(), vec![ok])
    );
    assert_eq!(
        delivery_of(&served.base, 2).await,
        ("dead".into(), vec![failed, failed])
    );
    let metrics = get_text(&client(), &format!("{}/metrics", served.base)).await;
    assert_eq!(
        metric(&metrics, "hookrelay_delivery_queue_depth"),
        Some(0.0)
    );
    assert_eq!(
        metric(&metrics, r#"hookrelay_deliveries_in_state{status="dead"}"#),
        Some(1.0)
    );

    target.failing.lock().unwrap().clear();
    let replay = http
        .post(format!("{}/deliveries/replay?status=dead", served.base))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let base = served.base.clone();
    eventually(
        Duration::from_secs(10),
        "the replay delivered",
        async || delivery_of(&base, 2).await.0 == "delivered",
    )
    .await;
    served.kill9();

    let served = Served::start(&db, &args);
    assert_eq!(
        delivery_of(&served.base, 2).await,
        ("delivered".into(), vec![failed, failed, ok])
    );
    assert_eq!(target.check_every_request().len(), 2);
    assert_eq!(target.seen().len(), 4, "nothing delivered was sent again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_left_pending_for_a_deleted_endpoint_die_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let mut served = Served::start(&db, &[]);
    let http = client();
    let created: Value = http
        .post(format!("{}/endpoints", served.base))
        .json(&serde_json::json!({"url": "http://127.0.0.1:9/in", "disabled": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(post(&http, &served.base, event(13)).await.unwrap(), 200);
    assert_eq!(deliveries(&served.base, "status=pending").await.len(), 1);
    served.kill9();
    // The endpoint gone while its delivery still waits: as a replay racing the deletion
    // (or an older version's replay) could leave it.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM endpoints WHERE id = ?1", [&id])
        .unwrap();

    let served = Served::start(&db, &[]);
    let base = served.base.clone();
    eventually(
        Duration::from_secs(10),
        "the orphaned delivery dead",
        async || deliveries(&base, "status=dead").await.len() == 1,
    )
    .await;
    assert!(deliveries(&base, "status=pending").await.is_empty());
    let metrics = get_text(&client(), &format!("{base}/metrics")).await;
    assert_eq!(
        metric(&metrics, "hookrelay_delivery_queue_depth"),
        Some(0.0),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_owed_to_a_url_no_longer_forwarded_to_die_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    // The old target refuses connections; its deliveries wait for a retry a minute on.
    let old = HeldPort::bind();
    let old_url = old.url("/hook");
    let mut served = Served::start(&db, &["--forward-to", &old_url, "--retry-schedule", "1m"]);
    let http = client();
    for id in [21, 22] {
        assert_eq!(post(&http, &served.base, event(id)).await.unwrap(), 200);
    }
    let base = served.base.clone();
    eventually(
        Duration::from_secs(10),
        "two failed deliveries",
        async || deliveries(&base, "status=failed").await.len() == 2,
    )
    .await;
    served.kill9();

    // Restarted with another target: nothing would ever take the old URL's deliveries.
    let target = Target::default();
    let new_url = target.start().await;
    let mut served = Served::start(&db, &["--forward-to", &new_url, "--max-pending", "2"]);
    let base = served.base.clone();
    eventually(
        Duration::from_secs(10),
        "the old URL's deliveries dead",
        async || deliveries(&base, "status=dead").await.len() == 2,
    )
    .await;
    let metrics = get_text(&client(), &format!("{base}/metrics")).await;
    assert_eq!(
        metric(&metrics, "hookrelay_delivery_queue_depth"),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "hookrelay_deliveries_dropped_total"),
        Some(2.0),
        "{metrics}"
    );
    // They no longer count against --max-pending, and a replay leaves them be.
    for id in [23, 24] {
        assert_eq!(post(&http, &base, event(id)).await.unwrap(), 200);
    }
    let replay = async |base: &str| -> Value {
        http.post(format!("{base}/deliveries/replay?status=dead"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let replayed = replay(&base).await;
    assert_eq!(replayed["replayed"], 0, "{replayed}");
    eventually(
        Duration::from_secs(10),
        "the new events delivered",
        async || target.seen().len() == 2,
    )
    .await;
    served.kill9();
    let log = served.stderr();
    assert!(
        log.contains("no longer name") && log.contains(&old_url),
        "the log names the URL given up: {log}"
    );

    // The old URL given again (and up now): its dead deliveries replay and arrive.
    let old_target = Target::default();
    old_target.serve(old.listen()).await;
    let served = Served::start(&db, &["--forward-to", &old_url]);
    let replayed = replay(&served.base).await;
    assert_eq!(replayed["replayed"], 2, "{replayed}");
    eventually(
        Duration::from_secs(10),
        "the old deliveries made",
        async || old_target.seen().len() == 2,
    )
    .await;
}

/// A client that shuts its side right after sending, as `nc -N` does or a client that
/// gives up, then resets the connection: the server may be anywhere in the request by
/// then, the insert included.
async fn post_and_vanish(addr: &str, id: i64, pause: Duration) {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    #[allow(deprecated)]
    stream.set_linger(Some(Duration::ZERO)).unwrap();
    let body = event(id);
    let request = format!(
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    tokio::time::sleep(pause).await;
    // Dropped with a zero linger: a reset, not a close.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_clients_that_went_away_are_delivered_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let target = Target::default();
    let url = target.start().await;
    let served = Served::start(&db, &["--forward-to", &url]);
    let addr = served.base.trim_start_matches("http://").to_string();
    for id in 100..160 {
        post_and_vanish(&addr, id, Duration::from_micros(100 * (id as u64 % 7))).await;
    }
    // What was stored (some requests may have been cut before the insert) must each be
    // delivered and counted, as if its client had waited.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let listed = get_json(&served.base, "/events?limit=100").await;
    let stored: HashSet<String> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!stored.is_empty(), "some events were stored: {listed}");
    eventually(
        Duration::from_secs(10),
        "every stored event delivered",
        async || {
            let delivered: HashSet<String> =
                target.seen().into_iter().map(|s| s.webhook_id).collect();
            stored.is_subset(&delivered)
        },
    )
    .await;
    let metrics = get_text(&client(), &format!("{}/metrics", served.base)).await;
    assert_eq!(
        metric(
            &metrics,
            r#"hookrelay_events_received_total{result="accepted"}"#
        ),
        Some(stored.len() as f64),
        "{metrics}"
    );
}
