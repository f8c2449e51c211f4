//! What `listen` makes of `--from`: the hookrelay's address, its `/events` or
//! `/events/stream` URL name the same; a path that names none gets a hint.

use super::*;

#[tokio::test]
async fn from_with_the_events_or_stream_path_follows_the_same_hookrelay() {
    let served = serve_with_token(&[]);
    let stream = served.url("/events/stream");
    let listening: Vec<Listening> = ["/events", "/events/", "/events/stream", "/events/stream/"]
        .into_iter()
        .map(|path| {
            let listening =
                Listening::start(&["--from", &served.url(path), "--admin-token", TOKEN]);
            listening.wait_for_stderr(&format!("listening to {stream}\n"));
            listening
        })
        .collect();

    post(&served, &event(9)).await;

    for each in &listening {
        let line = each.line();
        assert!(line.contains("#1") && line.contains("evt_9"), "{line}");
    }
}

#[tokio::test]
async fn from_with_a_path_that_names_no_hookrelay_gets_the_address_to_give() {
    let served = serve_with_token(&[]);

    hookrelay()
        .args(["listen", "--from", &served.url("/webhook")])
        .args(["--admin-token", TOKEN])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "/webhook/events/stream is not the event stream of a hookrelay",
        ))
        .stderr(predicates::str::contains(format!(
            "give --from {}\n",
            served.url("")
        )));
}
