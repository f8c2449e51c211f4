//! When `send` tries again and when it gives up: 5xx, 408, 429 with Retry-After, timeouts,
//! connection errors; never other 4xx or redirects.

use std::time::Duration;

use super::{send, stderr, stdout};
use crate::support::{Answer, Customer, HeldPort};

#[tokio::test]
async fn two_503s_then_200_is_delivered_on_attempt_3() {
    let customer = Customer::failing_first(2, Answer::status(503));
    let url = customer.url("/");

    let running =
        tokio::task::spawn_blocking(move || send(&url, &["--event-id", "5"]).assert().code(0));
    let got = customer.wait_for_async(3).await;
    let done = running.await.unwrap();

    assert_eq!(customer.count(), 3);
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "every attempt sends the same body"
    );
    let err = stderr(&done);
    assert!(
        err.contains("attempt 1/4: 503 Service Unavailable"),
        "{err}"
    );
    assert!(
        err.contains("attempt 2/4: 503 Service Unavailable"),
        "{err}"
    );
    assert!(err.contains("attempt 3/4: 200 OK"), "{err}");
    assert!(!err.contains("attempt 4/4"), "{err}");
    assert_eq!(stdout(&done), "ok\n");
}

#[test]
fn timeouts_408_429_and_5xx_are_retried() {
    for status in [408, 429, 500, 502, 504] {
        let customer = Customer::failing_first(1, Answer::status(status));

        send(&customer.url("/"), &["--event-id", "5"])
            .assert()
            .code(0);

        assert_eq!(customer.count(), 2, "status {status}");
    }
}

#[test]
fn a_400_is_not_retried_and_exits_1() {
    let customer = Customer::always(Answer::status(400).body("bad event"));

    let failed = send(&customer.url("/"), &["--event-id", "5"])
        .assert()
        .code(1);

    assert_eq!(customer.count(), 1);
    assert_eq!(
        stdout(&failed),
        "bad event\n",
        "the refusal's body is shown"
    );
    assert!(
        stderr(&failed)
            .contains("hookrelay: error: not delivered after 1 attempt(s): 400 Bad Request"),
        "{}",
        stderr(&failed)
    );
}

#[test]
fn other_4xx_are_never_retried() {
    for status in [401, 403, 404, 410, 422] {
        let customer = Customer::always(Answer::status(status));

        send(&customer.url("/"), &["--event-id", "5"])
            .assert()
            .code(1);

        assert_eq!(customer.count(), 1, "status {status}");
    }
}

#[test]
fn retries_stop_after_the_given_number() {
    let customer = Customer::always(Answer::status(503));

    let failed = send(&customer.url("/"), &["--event-id", "5", "--retries", "2"])
        .assert()
        .code(1);

    assert_eq!(customer.count(), 3);
    assert!(
        stderr(&failed).contains("not delivered after 3 attempt(s): 503 Service Unavailable"),
        "{}",
        stderr(&failed)
    );
}

#[test]
fn backoff_waits_grow_between_attempts() {
    let customer = Customer::always(Answer::status(503));

    send(
        &customer.url("/"),
        &[
            "--event-id",
            "5",
            "--retries",
            "3",
            "--retry-backoff",
            "100ms",
        ],
    )
    .assert()
    .code(1);

    let at: Vec<_> = customer.requests().iter().map(|r| r.at).collect();
    let gaps: Vec<Duration> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // 100ms, 200ms, 400ms, each within ±20% jitter: only lower bounds are safe to assert.
    assert!(gaps[0] >= Duration::from_millis(80), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(160), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(320), "{gaps:?}");
}

#[test]
fn a_429_retry_after_is_honoured() {
    let customer = Customer::failing_first(1, Answer::status(429).retry_after("1"));
    let url = customer.url("/");

    let running = std::thread::spawn(move || send(&url, &["--event-id", "5"]).assert().code(0));
    let got = customer.wait_for(2);
    let done = running.join().unwrap();

    assert_eq!(customer.count(), 2);
    let waited = got[1].at - got[0].at;
    assert!(
        waited >= Duration::from_millis(950),
        "waited only {waited:?}"
    );
    assert!(
        stderr(&done).contains("retrying in 1000ms"),
        "{}",
        stderr(&done)
    );
}

#[test]
fn an_unreachable_port_exits_1_after_the_retries() {
    // Bound but not listening for the whole test: connections are refused.
    let port = HeldPort::bind();
    let url = port.url("/webhook");

    let failed = send(&url, &["--event-id", "5", "--retries", "2"])
        .assert()
        .code(1);

    let err = stderr(&failed);
    for n in 1..=3 {
        assert!(
            err.contains(&format!("attempt {n}/3: connection failed")),
            "{err}"
        );
    }
    assert!(
        err.contains("hookrelay: error: not delivered after 3 attempt(s)"),
        "{err}"
    );
}

#[test]
fn a_redirect_is_not_followed() {
    let customer = Customer::always(Answer::status(302).header("location", "/elsewhere"));

    let failed = send(&customer.url("/hook"), &["--event-id", "5"])
        .assert()
        .code(1);

    let got = customer.requests();
    assert_eq!(got.len(), 1, "neither followed nor retried");
    assert_eq!(got[0].path, "/hook");
    assert!(
        stderr(&failed).contains("302 Found redirect to /elsewhere (not followed)"),
        "{}",
        stderr(&failed)
    );
}

#[test]
fn an_answer_slower_than_the_timeout_is_timed_out_and_retried() {
    let customer = Customer::failing_first(1, Answer::ok().delay(Duration::from_secs(30)));

    // Long enough for the quick second answer even on a busy machine.
    let done = send(
        &customer.url("/"),
        &["--event-id", "5", "--timeout", "1s", "--retries", "1"],
    )
    .assert()
    .code(0);

    assert_eq!(customer.count(), 2);
    let err = stderr(&done);
    assert!(err.contains("attempt 1/2: timed out"), "{err}");
    assert!(err.contains("attempt 2/2: 200 OK"), "{err}");
}

#[test]
fn an_endpoint_that_always_times_out_exits_1() {
    let customer = Customer::always(Answer::ok().delay(Duration::from_secs(30)));

    let failed = send(
        &customer.url("/"),
        &["--event-id", "5", "--timeout", "200ms", "--retries", "1"],
    )
    .assert()
    .code(1);

    // The customer records a request on its own thread, maybe only after `send` gave up
    // on it.
    assert_eq!(customer.wait_for(2).len(), 2);
    assert!(
        stderr(&failed).contains("not delivered after 2 attempt(s): timed out"),
        "{}",
        stderr(&failed)
    );
}
