//! Where `listen` starts and resumes: a server whose store in memory started again (its
//! events numbered from 1 again), an event that failed before the state file existed,
//! `?after=N` in `--from`, and a place beyond the server's newest event.

use super::*;

/// The event_ids of the JSON lines `listen --json` prints next, `n` of them.
fn next_ids(listening: &Listening, n: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            let line: serde_json::Value = serde_json::from_str(&listening.line()).unwrap();
            line["event_id"].as_i64().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn events_of_a_restarted_server_with_a_store_in_memory_are_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let port = crate::support::unused_port().to_string();
    let serve = || Served::spawn(&["--port", &port, "--admin-token", TOKEN], &[]);
    let customer = Customer::start();
    let mut served = serve();
    let args = keeping_place(&served, &customer, &state);
    let mut listening = Listening::start(&args);
    for id in 1..=10 {
        post(&served, &event(id)).await;
    }
    customer.wait_for(10);
    let first = state_when(&state, |s| s["last_seq"] == 10);

    // The server restarts: its new store numbers events from 1 again, while listen
    // reconnects with Last-Event-ID: 10.
    served.kill9();
    listening.wait_for_stderr("reconnect");
    let mut served = serve();
    for id in 101..=103 {
        post(&served, &event(id)).await;
    }
    customer.wait_for(13);
    assert_eq!(received_ids(&customer)[10..], [101, 102, 103]);
    listening.wait_for_stderr("the server's store is new");
    let second = state_when(&state, |s| s["last_seq"] == 3);
    assert_ne!(second["store_id"], first["store_id"]);

    // Again with listen stopped meanwhile, and events waiting when it starts again: it
    // begins with the new store's first event, not after its own #3.
    listening.kill9();
    served.kill9();
    let served = serve();
    for id in 201..=202 {
        post(&served, &event(id)).await;
    }
    let restarted = Listening::start(&args);
    customer.wait_for(15);
    assert_eq!(received_ids(&customer)[13..], [201, 202]);
    restarted.wait_for_stderr("starting from its first event");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(customer.count(), 15, "a repeat");
}

#[tokio::test]
async fn an_event_that_failed_before_the_state_file_existed_is_delivered_at_the_next_start() {
    let served = serve_with_token(&[]);
    post(&served, &event(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st4.json");
    let failing = Customer::always(crate::support::Answer::status(500));
    let args = |to: &str| {
        [
            "--from",
            &served.url(""),
            "--admin-token",
            TOKEN,
            "--forward-to",
            to,
            "--retries",
            "1",
            "--retry-backoff",
            "10ms",
            "--state-file",
            state.to_str().unwrap(),
        ]
        .map(String::from)
    };
    let failing_args = args(&failing.url("/hook"));
    let mut first = Listening::start(&failing_args.each_ref().map(String::as_str));
    post(&served, &event(2)).await;
    assert_eq!(first.wait().code(), Some(1));
    assert_eq!(failing.count(), 2, "two attempts of event 2");

    let customer = Customer::start();
    let ok_args = args(&customer.url("/hook"));
    let _second = Listening::start(&ok_args.each_ref().map(String::as_str));
    let got = customer.wait_for(1);
    assert_eq!(got[0].json()["event_id"], 2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(received_ids(&customer), [2], "only the failed event, once");
}

#[tokio::test]
async fn after_in_the_from_url_is_where_a_start_without_state_begins() {
    let served = serve_with_token(&[]);
    for id in 1..=3 {
        post(&served, &event(id)).await;
    }
    let from = served.url("/events/stream?after=1");
    let listening = Listening::start(&["--from", &from, "--admin-token", TOKEN, "--json"]);
    assert_eq!(next_ids(&listening, 2), [2, 3]);

    // A state file, once it holds a place, wins over ?after=.
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let with_state = ["--admin-token", TOKEN, "--json", "--state-file"];
    let mut first = Listening::start(
        &[
            &["--from", from.as_str()],
            &with_state[..],
            &[state.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(next_ids(&first, 2), [2, 3]);
    state_when(&state, |s| s["last_seq"] == 3);
    first.kill9();
    let from_zero = served.url("/events/stream?after=0");
    let again = Listening::start(
        &[
            &["--from", from_zero.as_str()],
            &with_state[..],
            &[state.to_str().unwrap()],
        ]
        .concat(),
    );
    again.wait_for_stderr("?after=0 is for a start without a state");
    post(&served, &event(4)).await;
    assert_eq!(next_ids(&again, 1), [4]);

    // A place beyond the newest event: said, and the new events still come.
    let beyond = served.url("/events/stream?after=1000");
    let ahead = Listening::start(&["--from", &beyond, "--admin-token", TOKEN, "--json"]);
    ahead.wait_for_stderr("has no event after #4");
    post(&served, &event(5)).await;
    assert_eq!(next_ids(&ahead, 1), [5]);

    hookrelay()
        .args(["listen", "--from", &served.url("/events/stream?after=x")])
        .args(["--admin-token", TOKEN])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "?after= must be an event's sequence number",
        ));
}

/// `?event_type=GLOB` in `--from` filters as `--event-type` does; a parameter listen does
/// not read is refused rather than silently ignored.
#[tokio::test]
async fn event_type_in_the_from_url_filters_and_other_parameters_are_refused() {
    let served = serve_with_token(&[]);
    let from = served.url("/events/stream?event_type=order.*");
    let listening = Listening::start(&["--from", &from, "--admin-token", TOKEN, "--json"]);
    for (id, kind) in [(1, "user.created"), (2, "order.paid"), (3, "order.shipped")] {
        post(&served, &crate::support::event_of_type(id, kind)).await;
    }
    assert_eq!(next_ids(&listening, 2), [2, 3]);

    for (url, said) in [
        (
            "/events/stream?evnt_type=order.*",
            "?evnt_type= is not something listen reads",
        ),
        ("/events/stream?event_type=order.*", "disagree"),
    ] {
        hookrelay()
            .args([
                "listen",
                "--from",
                &served.url(url),
                "--event-type",
                "user.*",
            ])
            .args(["--admin-token", TOKEN])
            .timeout(DEADLINE)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(said));
    }
}
