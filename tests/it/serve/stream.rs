//! `GET /events/stream`: events in order with their sequence ids and the JSON of
//! `GET /events/{event_id}`, resuming with `Last-Event-ID` without a gap or a repeat, the
//! type filter, delivery updates, a client that never reads, the bound on streams, the
//! admin token, and a server that stops with streams open.

use std::io::Write;
use std::time::Duration;

use hookrelay::alert::RetryPolicy;
use hookrelay::server::Config;
use hookrelay::server::admin::{AdminAuth, AdminToken};
use hookrelay::server::limits::Limits;
use hookrelay::server::relay::{RelayConfig, Target};

use crate::support::sse::Sse;
use crate::support::{Answer, App, Customer, DEADLINE, event, event_of_type, wait_until};

fn with_streams(max_streams: usize) -> Config {
    Config {
        limits: Limits {
            max_streams,
            ..Limits::default()
        },
        ..Config::default()
    }
}

async fn post_ok(app: &App, body: String) {
    let (status, answer) = app.post(body).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn events_arrive_in_order_with_their_sequence_ids_and_the_json_of_get_events() {
    let app = App::start().await;
    let mut stream = Sse::open(&app.url("/events/stream"), &[]).await;

    for id in [30, 10, 20] {
        post_ok(&app, event(id)).await;
    }

    for (seq, id) in [(1, 30), (2, 10), (3, 20)] {
        let frame = stream.next_of("event").await;
        assert_eq!(frame.id.as_deref(), Some(seq.to_string().as_str()));
        let shown = app.text(&format!("/events/{id}")).await;
        assert_eq!(frame.data, shown, "the frame of event {id}");
    }
}

/// Requests answered concurrently hand their events over out of order: the stream still
/// carries each once, in sequence order, with the JSON `GET /events/{event_id}` answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_posted_concurrently_arrive_once_each_in_order() {
    let app = App::start().await;
    let mut stream = Sse::open(&app.url("/events/stream"), &[]).await;

    let mut posts = tokio::task::JoinSet::new();
    for task in 0..16i64 {
        let (client, url) = (app.client.clone(), app.url("/webhook"));
        posts.spawn(async move {
            for id in (1..=50).map(|n| task * 1000 + n) {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(event(id))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
            }
        });
    }
    while let Some(done) = posts.join_next().await {
        done.unwrap();
    }

    let mut seen = std::collections::HashSet::new();
    for seq in 1..=800u64 {
        let frame = stream.next_of("event").await;
        assert_eq!(frame.id, Some(seq.to_string()), "frames in sequence order");
        let event_id = frame.json()["event_id"].as_i64().unwrap();
        assert!(seen.insert(event_id), "event {event_id} twice");
        if seq % 100 == 0 {
            let shown = app.text(&format!("/events/{event_id}")).await;
            assert_eq!(frame.data, shown, "the frame of event {event_id}");
        }
    }
}

/// A client that reads late gets what gathered meanwhile in few reads: the bytes are still
/// exactly one complete frame per event, each with its id and the JSON of
/// `GET /events/{event_id}`, in order, none cut, none twice, the filter applied to each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_gathered_while_the_client_did_not_read_come_as_whole_frames() {
    let app = App::start().await;
    let mut stream = Sse::open(&app.url("/events/stream?event_type=order.*"), &[]).await;
    // More events than one batch of the hub holds (256), so that what the client reads
    // at once is made of several batches, and of the runs between filtered-out events.
    for id in 1..=700 {
        let event_type = if id % 3 == 0 {
            "user.created"
        } else {
            "order.paid"
        };
        post_ok(&app, event_of_type(id, event_type)).await;
    }

    let mut expected = String::from(": hookrelay event stream\nretry: 2000\n\n");
    for id in (1..=700).filter(|id| id % 3 != 0) {
        let json = app.text(&format!("/events/{id}")).await;
        expected.push_str(&format!("event: event\nid: {id}\ndata: {json}\n\n"));
    }
    let mut got = String::new();
    while got.replace(": heartbeat\n\n", "").len() < expected.len() {
        let chunk = tokio::time::timeout(DEADLINE, stream.response.chunk())
            .await
            .expect("the frames within the deadline")
            .expect("reading the stream")
            .expect("the stream goes on");
        got.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
    }
    assert!(
        got.replace(": heartbeat\n\n", "") == expected,
        "the stream's bytes are one whole frame per event, in order"
    );
}

#[tokio::test]
async fn a_client_that_reconnects_with_last_event_id_gets_exactly_the_missed_ones() {
    let app = App::start().await;
    let mut first = Sse::open(&app.url("/events/stream"), &[]).await;
    for id in 1..=3 {
        post_ok(&app, event(id)).await;
    }
    let mut last = String::new();
    for _ in 1..=3 {
        last = first.next_of("event").await.id.expect("an id");
    }
    drop(first);
    for id in 4..=6 {
        post_ok(&app, event(id)).await;
    }

    let mut again = Sse::open(&app.url("/events/stream"), &[("Last-Event-ID", &last)]).await;
    post_ok(&app, event(7)).await;

    let mut got = Vec::new();
    for _ in 4..=7 {
        got.push(
            again.next_of("event").await.json()["event_id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(got, [4, 5, 6, 7]);
    // Nothing twice: the next frame is the next event, not a repeat of a replayed one.
    post_ok(&app, event(8)).await;
    let next = again.next_of("event").await;
    assert_eq!(next.json()["event_id"], 8);
    assert_eq!(next.id.as_deref(), Some("8"));
}

#[tokio::test]
async fn after_replays_the_kept_events_and_event_type_filters_by_glob() {
    let app = App::start().await;
    post_ok(&app, event_of_type(1, "order.paid")).await;
    post_ok(&app, event_of_type(2, "user.created")).await;
    post_ok(&app, event_of_type(3, "order.refunded")).await;

    let url = app.url("/events/stream?after=0&event_type=order.*");
    let mut stream = Sse::open(&url, &[]).await;
    assert_eq!(stream.next_of("event").await.json()["event_id"], 1);
    assert_eq!(stream.next_of("event").await.json()["event_id"], 3);
    post_ok(&app, event_of_type(4, "user.deleted")).await;
    post_ok(&app, event_of_type(5, "order.paid")).await;
    assert_eq!(stream.next_of("event").await.json()["event_id"], 5);

    let (status, answer) = app.get("/events/stream?after=minus-one").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("bad_request"))
    );
    let (status, _) = app.get("/events/stream?event_type=%5B").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn delivery_updates_arrive_after_their_event() {
    let customer = Customer::failing_first(1, Answer::status(500));
    let relay = RelayConfig {
        targets: vec![Target {
            url: customer.url("/hook").parse().unwrap(),
            route: None,
        }],
        headers: Default::default(),
        policy: RetryPolicy::schedule(vec![Duration::from_millis(50)]),
        timeout: Duration::from_secs(5),
        concurrency: 1,
        signer: None,
        original_headers: false,
        circuit: Default::default(),
    };
    let app = App::with_relay(relay, 100).await;
    let mut stream = Sse::open(&app.url("/events/stream"), &[]).await;

    post_ok(&app, event(9)).await;

    let first = stream.next().await.expect("a frame");
    assert_eq!(first.event, "event");
    let failed = stream.next_of("delivery").await.json();
    assert_eq!(failed["event_id"], 9);
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(failed["attempt"]["status_code"], 500);
    assert!(failed["attempt"]["next_attempt_at"].is_string());
    let delivered = stream.next_of("delivery").await.json();
    assert_eq!(delivered["status"], "delivered");
    assert_eq!(delivered["attempt"]["status_code"], 200);
    assert_eq!(delivered["delivery_id"], failed["delivery_id"]);
    assert_eq!(delivered["target"], customer.url("/hook"));

    let (status, _) = app.post_empty("/events/9/replay").await;
    assert_eq!(status, 200);
    let replayed = stream.next_of("delivery").await.json();
    assert_eq!(replayed["status"], "pending");
    assert!(replayed["attempt"].is_null());
}

#[tokio::test]
async fn a_client_that_never_reads_is_cut_off_and_does_not_hold_up_ingest() {
    let app = App::with(with_streams(1), 100_000).await;
    // A stream whose client never reads a byte of the answer.
    let mut stalled = std::net::TcpStream::connect(app.addr).unwrap();
    stalled
        .write_all(b"GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Its slot is taken: a second stream is refused while it is open.
    let status = |app: &App| {
        let request = app.client.get(app.url("/events/stream"));
        async move { request.send().await.unwrap() }
    };
    let refused = wait_until(
        "the stalled stream never opened",
        Duration::from_millis(20),
        || status(&app),
        |r| r.status() == 503,
    )
    .await;
    assert!(refused.headers().contains_key("retry-after"));
    let answer: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(answer["error"], "too_many_streams");

    // Far more than the socket buffers and the stream's buffer hold.
    let pad = "x".repeat(16 * 1024);
    let started = std::time::Instant::now();
    for id in 0..2000 {
        let body = format!(
            r#"{{"event_id":{id},"timestamp":"2023-10-05T12:34:56","event_type":"t","description":"{pad}"}}"#
        );
        post_ok(&app, body).await;
    }
    assert!(started.elapsed() < DEADLINE, "ingest was held up");

    // Cut off: its slot is free again, and a new stream opens.
    wait_until(
        "the stalled stream was never cut off",
        Duration::from_millis(50),
        || status(&app),
        |r| r.status() == 200,
    )
    .await;
    let metrics = app.text("/metrics").await;
    let cut = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hookrelay_streams_cut_total "))
        .and_then(|n| n.parse::<f64>().ok());
    assert!(cut.is_some_and(|n| n >= 1.0), "{metrics}");
    drop(stalled);
}

#[tokio::test]
async fn the_stream_needs_the_admin_token() {
    let token = "stream-token-0123456789";
    let config = Config {
        admin: AdminAuth {
            tokens: vec![AdminToken::parse(token).unwrap()],
            metrics_public: false,
        },
        ..Config::default()
    };
    let app = App::with(config, 100).await;

    let (status, answer) = app.get("/events/stream").await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let auth = format!("Bearer {token}");
    let mut stream = Sse::open(&app.url("/events/stream"), &[("authorization", &auth)]).await;
    post_ok(&app, event(1)).await;
    assert_eq!(stream.next_of("event").await.json()["event_id"], 1);
}

#[tokio::test]
async fn stopping_the_server_ends_open_streams() {
    let app = App::start().await;
    let mut stream = Sse::open(&app.url("/events/stream"), &[]).await;
    post_ok(&app, event(1)).await;
    stream.next_of("event").await;

    app.stop().await;

    assert_eq!(stream.next().await, None, "the stream ended");
}

#[test]
fn serve_stops_at_sigterm_with_a_stream_open() {
    use std::io::Read;
    let mut served = crate::support::Served::start(&[]);
    let mut client = std::net::TcpStream::connect(served.addr).unwrap();
    client
        .write_all(b"GET /events/stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    client.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains(": hookrelay event stream") {
        let n = client.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended before it began");
        seen.extend_from_slice(&buf[..n]);
    }

    served.signal_term();

    assert!(served.wait().success(), "{}", served.stderr());
}

/// A response header of an open stream.
fn header<'a>(stream: &'a Sse, name: &str) -> &'a str {
    stream.response.headers()[name].to_str().unwrap()
}

#[tokio::test]
async fn a_last_event_id_beyond_the_store_resumes_with_the_next_event_and_says_so() {
    // As after a restart of a server whose in-memory store started again from 1.
    let app = App::start().await;
    post_ok(&app, event(1)).await;
    let mut stream = Sse::open(&app.url("/events/stream"), &[("Last-Event-ID", "50")]).await;
    assert_eq!(header(&stream, "hookrelay-starts-after"), "1");

    post_ok(&app, event(2)).await;

    let frame = stream.next_of("event").await;
    assert_eq!(
        (frame.id.as_deref(), frame.json()["event_id"].as_i64()),
        (Some("2"), Some(2))
    );
}

#[tokio::test]
async fn each_store_in_memory_has_an_id_of_its_own_and_keeps_it() {
    let (one, other) = (App::start().await, App::start().await);
    let url = |app: &App| app.url("/events/stream");
    let id = |stream: Sse| header(&stream, "hookrelay-store-id").to_string();
    let first = id(Sse::open(&url(&one), &[]).await);
    assert_eq!(first.len(), 16, "{first}");
    assert_eq!(id(Sse::open(&url(&one), &[]).await), first);
    assert_ne!(id(Sse::open(&url(&other), &[]).await), first);
}

#[tokio::test]
async fn a_new_stream_on_a_reopened_durable_store_starts_with_the_next_event() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("events.db").display());
    let post = |served: &crate::support::Served, id: i64| {
        let url = served.url("/webhook");
        async move {
            let status = reqwest::Client::new()
                .post(url)
                .header("content-type", "application/json")
                .body(event(id))
                .send()
                .await
                .unwrap()
                .status();
            assert_eq!(status, 200);
        }
    };
    let mut first = crate::support::Served::start(&["--store", &store]);
    for id in 1..=3 {
        post(&first, id).await;
    }
    let before = Sse::open(&first.url("/events/stream"), &[("Last-Event-ID", "1")]).await;
    assert_eq!(header(&before, "hookrelay-starts-after"), "1");
    let store_id = header(&before, "hookrelay-store-id").to_string();
    first.kill9();
    let served = crate::support::Served::start(&["--store", &store]);
    let mut stream = Sse::open(&served.url("/events/stream"), &[]).await;
    // The same store: the same id, kept in the file.
    assert_eq!(header(&stream, "hookrelay-store-id"), store_id);
    assert_eq!(header(&stream, "hookrelay-starts-after"), "3");

    post(&served, 4).await;

    let frame = stream.next_of("event").await;
    assert_eq!(
        (frame.id.as_deref(), frame.json()["event_id"].as_i64()),
        (Some("4"), Some(4))
    );
}
