//! What `listen` asks the server for: the body of an event whose id holds dots or
//! reserved characters, each id one path segment; and the forms of `--from` naming the
//! same hookrelay (its address, its `/events` or `/events/stream` URL), with a hint for a
//! path that names none.

use super::*;

#[tokio::test]
async fn events_whose_ids_hold_dots_or_reserved_characters_are_forwarded_and_passed() {
    let served = serve_with_token(&["--source", "json", "--id-from", "/id"]);
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let _listening = Listening::start(&keeping_place(&served, &customer, &state));
    // Bodies over several lines: listen reads each from /events/{id}/body.
    // (`.` and `..` are refused as ids when they arrive; an older store may hold them,
    // and the unit tests of the path's encoding cover those.)
    let ids = [
        "...", ".a", "?q=1", "#top", "a/../b", "50%25", "é x", "+;=:@",
    ];
    let body = |id: &str| format!("{{\n \"id\": {}\n}}\n", serde_json::json!(id));
    for id in ids {
        post(&served, &body(id)).await;
    }

    let got = customer.wait_for(ids.len());
    for (request, id) in got.iter().zip(ids) {
        assert_eq!(request.body_text(), body(id));
    }
    state_when(&state, |s| s["last_seq"] == ids.len());
}

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
