//! The relay as a process: `/metrics` after known traffic, and SIGTERM with deliveries in
//! flight. Drives the real `hookrelay serve` binary.
//!
//! The tests run on a current-thread runtime and block it in `Served::wait`: nothing they
//! need runs there, since the mock customers have their own threads and the server is a
//! separate process.

use crate::support;

use std::process::ExitStatus;
use std::time::{Duration, Instant};

use support::{Answer, Customer, Served, event, get_text, metric, post_json};

/// Polls `/metrics` until `series` has the value `want`, or 10 s pass; the last text read.
/// The `/metrics` text once every series has its wanted value, or the last text read
/// after 10 s. The counters of one delivery move one after another, so a test that
/// checks several waits for all of them.
async fn wait_for_metrics(served: &Served, want: &[(&str, f64)]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    let http = reqwest::Client::new();
    loop {
        let text = get_text(&http, &served.url("/metrics")).await;
        let settled = want
            .iter()
            .all(|&(series, value)| metric(&text, series) == Some(value));
        if settled || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Relays one event to a customer that answers after `delay`, with `--shutdown-grace
/// grace`; sends SIGTERM once the attempt is in flight. The exit status, how long the exit
/// took, and stderr.
async fn sigterm_with_an_attempt_in_flight(
    delay: Duration,
    grace: &str,
) -> (ExitStatus, Duration, String) {
    let customer = Customer::always(Answer::ok().delay(delay));
    let mut served = Served::start(&[
        "--forward-to",
        &customer.url("/hook"),
        "--shutdown-grace",
        grace,
    ]);
    assert_eq!(post_json(&served.url("/webhook"), event(1)).await.0, 200);
    customer.wait_for_async(1).await;

    served.signal_term();
    let started = Instant::now();
    let status = served.wait();
    (status, started.elapsed(), served.stderr())
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
    let text = wait_for_metrics(&served, &expect).await;
    for (series, want) in expect {
        assert_eq!(metric(&text, series), Some(want), "{series} in:\n{text}");
    }
    assert_eq!(ok.count(), 3);
}

#[tokio::test]
async fn sigterm_lets_an_attempt_in_flight_finish_within_the_grace_period() {
    let (status, took, stderr) =
        sigterm_with_an_attempt_in_flight(Duration::from_millis(800), "5s").await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(
        !stderr.contains("left undelivered"),
        "the attempt in flight finished: {stderr}"
    );
}

#[tokio::test]
async fn sigterm_with_a_hanging_target_exits_after_the_grace_and_says_what_was_lost() {
    let (status, took, stderr) =
        sigterm_with_an_attempt_in_flight(Duration::from_secs(60), "1s").await;
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

    let expect = [
        (
            r#"hookrelay_signature_failures_total{reason="missing_header"}"#,
            2.0,
        ),
        (
            r#"hookrelay_events_received_total{result="invalid_signature"}"#,
            2.0,
        ),
    ];
    let text = wait_for_metrics(&served, &expect).await;
    for (series, want) in expect {
        assert_eq!(
            metric(&text, series),
            Some(want),
            "{series} in:
{text}"
        );
    }
}

/// With `--forward-threads 3` the delivery workers of each target are spread over three
/// threads, each with its own outbound connections: every event still reaches every
/// target once, byte for byte, and SIGTERM still ends the process cleanly.
#[tokio::test]
async fn forward_threads_deliver_every_event_to_every_target_once() {
    let first = Customer::start();
    let second = Customer::start();
    let mut served = Served::start_with_env(
        &[
            "--forward-to",
            &first.url("/a"),
            "--forward-to",
            &second.url("/b"),
        ],
        &[("HOOKRELAY_FORWARD_THREADS", "3")],
    );
    let webhook = served.url("/webhook");
    let posts: Vec<_> = (1..=60)
        .map(|id| {
            let webhook = webhook.clone();
            tokio::spawn(async move { post_json(&webhook, event(id)).await.0 })
        })
        .collect();
    for post in posts {
        assert_eq!(post.await.unwrap(), 200);
    }

    let want: Vec<String> = (1..=60).map(event).collect();
    for customer in [&first, &second] {
        let mut got: Vec<String> = customer
            .wait_for_async(60)
            .await
            .iter()
            .map(|r| r.body_text().to_owned())
            .collect();
        got.sort_by_key(|body| want.iter().position(|w| w == body));
        assert_eq!(got, want, "each event once, with its exact bytes");
    }
    let text = wait_for_metrics(
        &served,
        &[(r#"hookrelay_deliveries_total{outcome="delivered"}"#, 120.0)],
    )
    .await;
    assert_eq!(
        metric(&text, r#"hookrelay_deliveries_total{outcome="delivered"}"#),
        Some(120.0)
    );
    assert_eq!(first.count() + second.count(), 120, "no delivery twice");
    #[cfg(target_os = "linux")]
    {
        let mut threads: Vec<String> = std::fs::read_dir(format!("/proc/{}/task", served.pid()))
            .unwrap()
            .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
            .map(|name| name.trim().to_owned())
            .filter(|name| name.starts_with("relay-"))
            .collect();
        threads.sort();
        assert_eq!(threads, ["relay-1", "relay-2", "relay-3"]);
    }

    served.signal_term();
    let status = served.wait();
    assert!(status.success(), "{status:?}\n{}", served.stderr());
}

#[tokio::test]
async fn metrics_count_the_endpoints_with_an_open_circuit_and_the_disabled_ones() {
    let failing = Customer::always(Answer::status(500));
    // A --forward-to target is an endpoint too, with a circuit of its own.
    let failing_flag = Customer::always(Answer::status(500));
    let healthy = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.toml");
    std::fs::write(
        &file,
        format!(
            "[[endpoints]]\nname = \"failing\"\nurl = \"{}\"\n\n\
             [[endpoints]]\nname = \"healthy\"\nurl = \"{}\"\n\n\
             [[endpoints]]\nname = \"paused\"\nurl = \"{}\"\ndisabled = true\n",
            failing.url("/hook"),
            healthy.url("/hook"),
            healthy.url("/paused"),
        ),
    )
    .unwrap();
    let served = Served::start(&[
        "--config",
        file.to_str().unwrap(),
        "--forward-to",
        &failing_flag.url("/hook"),
        "--circuit-failures",
        "2",
        "--retry-schedule",
        "10ms,10ms,10ms",
    ]);
    let before = wait_for_metrics(&served, &[]).await;
    assert_eq!(
        metric(&before, "hookrelay_endpoints_circuit_open"),
        Some(0.0)
    );
    assert_eq!(metric(&before, "hookrelay_endpoints_disabled"), Some(1.0));

    assert_eq!(post_json(&served.url("/webhook"), event(1)).await.0, 200);
    failing.wait_for_async(2).await;
    failing_flag.wait_for_async(2).await;
    healthy.wait_for_async(1).await;
    let text = wait_for_metrics(
        &served,
        &[
            ("hookrelay_endpoints_circuit_open", 2.0),
            ("hookrelay_endpoints_disabled", 1.0),
        ],
    )
    .await;
    assert_eq!(
        metric(&text, "hookrelay_endpoints_circuit_open"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(metric(&text, "hookrelay_endpoints_disabled"), Some(1.0));
    assert!(text.contains("# HELP hookrelay_endpoints_circuit_open "));
}

/// Headers the relay sets itself cannot be given with `--forward-header` (from the flag,
/// the environment or a config file), as an endpoint's `headers` cannot: a
/// `Content-Length` of another size would cut every body the relay forwards.
#[test]
fn forward_header_refuses_the_headers_the_relay_sets_itself() {
    for header in [
        "Content-Length: 5",
        "Host: evil.example",
        "webhook-id: x",
        "svix-signature: v1,x",
        "Svix-Id: x",
    ] {
        let out = crate::support::hookrelay()
            .args([
                "serve",
                "--port",
                "0",
                "--forward-to",
                "http://127.0.0.1:9/x",
            ])
            .args(["--forward-header", header])
            .timeout(crate::support::DEADLINE)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{header}: {err}");
        assert!(
            err.contains("is set by the relay itself"),
            "{header}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "forward_to = [\"http://127.0.0.1:9/x\"]\nforward_header = [\"X-Env: prod\", \"Content-Length: 5\"]\n",
    )
    .unwrap();
    let out = crate::support::hookrelay()
        .args(["config", "check", file.to_str().unwrap()])
        .timeout(crate::support::DEADLINE)
        .output()
        .unwrap();
    let err =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(":2: forward_header"), "{err}");
}

/// `serve`'s output and exit code for `args`, given a few seconds: one that starts serving
/// instead of refusing is cut off then, and has no exit code.
fn serve_refusal(args: &[&str]) -> (Option<i32>, String) {
    let out = crate::support::hookrelay()
        .args(["serve", "--port", "0"])
        .args(args)
        .timeout(Duration::from_secs(5))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// On PostgreSQL, a lease that runs out before an attempt may end hands a delivery still
/// in flight to another instance, which sends it again: `serve` refuses it at start,
/// before it connects to the database (nothing listens on the port given here).
#[test]
fn serve_refuses_a_store_lease_not_longer_than_the_forward_timeout() {
    let port = crate::support::HeldPort::bind();
    let store = format!("postgres://hookrelay@127.0.0.1:{}/hookrelay", port.port);
    for (lease, timeout) in [("10s", "15s"), ("15s", "15s")] {
        let (code, err) = serve_refusal(&[
            "--store",
            &store,
            "--store-connect-timeout",
            "1s",
            "--store-lease",
            lease,
            "--forward-timeout",
            timeout,
        ]);
        assert_eq!(code, Some(2), "{lease} against {timeout}: {err}");
        assert!(
            err.contains(&format!(
                "--store-lease {lease} is not longer than --forward-timeout {timeout}"
            )),
            "{err}"
        );
    }
}

/// `--max-pending 0` with a target would answer every event 503: refused at start.
#[test]
fn serve_refuses_max_pending_0_with_a_target() {
    for target in [
        ["--forward-to", "http://127.0.0.1:9/hook"],
        ["--route", "order.*=http://127.0.0.1:9/hook"],
    ] {
        let (code, err) = serve_refusal(&[&["--max-pending", "0"][..], &target[..]].concat());
        assert_eq!(code, Some(2), "{target:?}: {err}");
        assert!(
            err.contains("--max-pending 0 would refuse every event"),
            "{err}"
        );
    }
}

/// `config check` reports what `serve --config` would refuse of the relay's options, in
/// the file's terms and at their line; the lease matters only on PostgreSQL.
#[test]
fn config_check_reports_the_lease_and_max_pending_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, text: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, text).unwrap();
        let out = crate::support::hookrelay()
            .args(["config", "check", file.to_str().unwrap()])
            .timeout(crate::support::DEADLINE)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };

    let (code, out) = check(
        "lease.toml",
        "store = \"postgres://hookrelay@127.0.0.1:9/hookrelay\"\nforward_timeout = \"30s\"\nstore_lease = \"20s\"\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("lease.toml:3: store_lease 20s is not longer than forward_timeout 30s"),
        "{out}"
    );

    let (code, out) = check(
        "sqlite.toml",
        "store = \"sqlite:events.db\"\nstore_lease = \"1s\"\n",
    );
    assert_eq!(
        (code, out.trim_end()),
        (
            Some(0),
            &*format!("{}: ok", dir.path().join("sqlite.toml").display())
        )
    );

    let (code, out) = check(
        "pending.toml",
        "max_pending = 0\n\n[[endpoints]]\nname = \"acme\"\nurl = \"http://127.0.0.1:9/hook\"\n",
    );
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("pending.toml:1: max_pending 0 would refuse every event"),
        "{out}"
    );

    let (code, out) = check("no-target.toml", "max_pending = 0\n");
    assert_eq!(code, Some(0), "without a target nothing is owed: {out}");
}
