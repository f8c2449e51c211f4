//! The relay as a process: `/metrics` after known traffic, and SIGTERM with deliveries in
//! flight. Drives the real `hookrelay serve` binary.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

/// A spawned `hookrelay serve`, killed on drop.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .expect("address line")
            .to_string();
        Self { child, base }
    }

    fn terminate(&mut self) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Waits for exit (up to `limit`); returns the exit code, stderr and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, String, Duration) {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut stderr = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                return (status.code(), stderr, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("hookrelay did not exit within {limit:?}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A customer on 127.0.0.1 answering `status` after `delay`, counting requests.
async fn customer(status: StatusCode, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            seen.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(delay).await;
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, count)
}

async fn post(base: &str, body: &str) -> u16 {
    let response = reqwest::Client::new()
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

fn event(id: i64) -> String {
    format!(
        r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56Z", "event_type": "t", "description": ""}}"#
    )
}

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

async fn wait_for_metric(base: &str, series: &str, want: f64) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = reqwest::get(format!("{base}/metrics"))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_happened() {
    let (ok_url, ok_count) = customer(StatusCode::OK, Duration::ZERO).await;
    let (gone_url, _) = customer(StatusCode::GONE, Duration::ZERO).await;
    let served = Served::start(&["--forward-to", &ok_url, "--forward-to", &gone_url]);
    let base = served.base.clone();

    for id in 1..=3 {
        assert_eq!(post(&base, &event(id)).await, 200);
    }
    assert_eq!(post(&base, &event(1)).await, 200, "duplicate");
    assert_eq!(post(&base, r#"{"event_id": "1"}"#).await, 422);
    assert_eq!(post(&base, "{nope").await, 400);

    let text = wait_for_metric(&base, r#"hookrelay_deliveries_total{outcome="dead"}"#, 3.0).await;
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
    assert_eq!(ok_count.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_an_attempt_in_flight_finish_within_the_grace_period() {
    let (url, count) = customer(StatusCode::OK, Duration::from_millis(800)).await;
    let mut served = Served::start(&["--forward-to", &url, "--shutdown-grace", "5s"]);
    assert_eq!(post(&served.base, &event(1)).await, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while count.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    served.terminate();
    let (code, stderr, took) = served.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        !stderr.contains("left undelivered"),
        "the attempt in flight finished: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_hanging_target_exits_after_the_grace_and_says_what_was_lost() {
    let (url, count) = customer(StatusCode::OK, Duration::from_secs(60)).await;
    let mut served = Served::start(&["--forward-to", &url, "--shutdown-grace", "1s"]);
    assert_eq!(post(&served.base, &event(1)).await, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while count.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    served.terminate();
    let (code, stderr, took) = served.wait_exit(Duration::from_secs(10));
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        took < Duration::from_secs(4),
        "exit took {took:?} with a 1s grace"
    );
    assert!(stderr.contains("left=1"), "{stderr}");
    assert!(stderr.contains("loses them on exit"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_signatures_are_counted_by_reason() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let served = Served::start(&["--verify", "standard", "--secret", secret]);
    assert_eq!(post(&served.base, &event(1)).await, 401);
    assert_eq!(post(&served.base, &event(2)).await, 401);

    let text = wait_for_metric(
        &served.base,
        r#"hookrelay_signature_failures_total{reason="missing_header"}"#,
        2.0,
    )
    .await;
    let series = r#"hookrelay_signature_failures_total{reason="missing_header"}"#;
    assert_eq!(sample(&text, series), Some(2.0), "{text}");
    let refused = r#"hookrelay_events_received_total{result="invalid_signature"}"#;
    assert_eq!(sample(&text, refused), Some(2.0), "{text}");
}
