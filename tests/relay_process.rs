//! The relay as a process: `/metrics` after known traffic, and SIGTERM with deliveries in
//! flight. Drives the real `hookrelay serve` binary.
//!
//! The tests run on a current-thread runtime and block it in `Served::wait`: nothing they
//! need runs there, since the mock customers have their own threads and the server is a
//! separate process.

mod support;

use std::time::{Duration, Instant};

use support::{Answer, Customer, Served, event, post_json};

/// The value of one sample line of the metrics text, e.g. `name{label="x"}`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Polls `/metrics` until `series` has the value `want`, or 10 s pass; the last text read.
async fn wait_for_metric(served: &Served, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(served.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if sample(&text, series) == Some(want) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let ok = Customer::start();
    let gone = Customer::always(Answer::status(410));
    let served = Served::start(&[
        "--forward-to",
        &ok.url("/hook"),
        "--forward-to",
        &gone.url("/hook"),
    ]);
    let webhook = served.url("/webhook");

    for id in 1..=3 {
        assert_eq!(post_json(&webhook, event(id)).await.0, 200);
    }
    assert_eq!(post_json(&webhook, event(1)).await.0, 200, "duplicate");
    assert_eq!(post_json(&webhook, r#"{"event_id": "1"}"#).await.0, 422);
    assert_eq!(post_json(&webhook, "{nope").await.0, 400);

    let text = wait_for_metric(
        &served,
        r#"hookrelay_deliveries_total{outcome="dead"}"#,
        3.0,
    )
    .await;
    let expect = [
        (r#"hookrelay_events_received_total{result="accepted"}"#, 3.0),
        (
            r#"hookrelay_events_received_total{result="duplicate"}"#,
            1.0,
        ),
        (
            r#"hookrelay_events_received_total{result="validation_failed"}"#,
            1.0,
        ),
        (
            r#"hookrelay_events_received_total{result="malformed_json"}"#,
            1.0,
        ),
        (r#"hookrelay_deliveries_total{outcome="delivered"}"#, 3.0),
        (r#"hookrelay_deliveries_total{outcome="dead"}"#, 3.0),
        (r#"hookrelay_delivery_attempts_total{result="gone"}"#, 3.0),
        ("hookrelay_store_events", 3.0),
        ("hookrelay_delivery_queue_depth", 0.0),
        ("hookrelay_delivery_attempt_duration_seconds_count", 6.0),
    ];
    for (series, want) in expect {
        assert_eq!(sample(&text, series), Some(want), "{series} in:\n{text}");
    }
    assert_eq!(ok.count(), 3);
}

#[tokio::test]
async fn sigterm_lets_an_attempt_in_flight_finish_within_the_grace_period() {
    let customer = Customer::always(Answer::ok().delay(Duration::from_millis(800)));
    let mut served = Served::start(&[
        "--forward-to",
        &customer.url("/hook"),
        "--shutdown-grace",
        "5s",
    ]);
    assert_eq!(post_json(&served.url("/webhook"), event(1)).await.0, 200);
    customer.wait_for_async(1).await;

    served.signal_term();
    let started = Instant::now();
    let status = served.wait();
    let (took, stderr) = (started.elapsed(), served.stderr());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        !stderr.contains("left undelivered"),
        "the attempt in flight finished: {stderr}"
    );
}

#[tokio::test]
async fn sigterm_with_a_hanging_target_exits_after_the_grace_and_says_what_was_lost() {
    let customer = Customer::always(Answer::ok().delay(Duration::from_secs(60)));
    let mut served = Served::start(&[
        "--forward-to",
        &customer.url("/hook"),
        "--shutdown-grace",
        "1s",
    ]);
    assert_eq!(post_json(&served.url("/webhook"), event(1)).await.0, 200);
    customer.wait_for_async(1).await;

    served.signal_term();
    let started = Instant::now();
    let status = served.wait();
    let (took, stderr) = (started.elapsed(), served.stderr());
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        took < Duration::from_secs(4),
        "exit took {took:?} with a 1s grace"
    );
    assert!(stderr.contains("left=1"), "{stderr}");
    assert!(stderr.contains("loses them on exit"), "{stderr}");
}

#[tokio::test]
async fn refused_signatures_are_counted_by_reason() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let served = Served::start(&["--verify", "standard", "--secret", secret]);
    assert_eq!(post_json(&served.url("/webhook"), event(1)).await.0, 401);
    assert_eq!(post_json(&served.url("/webhook"), event(2)).await.0, 401);

    let text = wait_for_metric(
        &served,
        r#"hookrelay_signature_failures_total{reason="missing_header"}"#,
        2.0,
    )
    .await;
    let series = r#"hookrelay_signature_failures_total{reason="missing_header"}"#;
    assert_eq!(sample(&text, series), Some(2.0), "{text}");
    let refused = r#"hookrelay_events_received_total{result="invalid_signature"}"#;
    assert_eq!(sample(&text, refused), Some(2.0), "{text}");
}
