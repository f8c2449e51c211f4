//! `listen` as a process: the size its line gives, and Ctrl-C or SIGTERM ending it with
//! exit code 0 and its state file written.

use super::*;

#[tokio::test]
async fn the_line_of_an_event_gives_the_size_of_its_body() {
    let served = serve_with_token(&[]);
    let listening = Listening::start(&["--from", &served.url(""), "--admin-token", TOKEN]);
    // 673 bytes, the last a newline, as many senders end a body.
    let start =
        r#"{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"big","description":""#;
    let end = "\"}\n";
    let body = format!("{start}{}{end}", "x".repeat(673 - start.len() - end.len()));
    assert_eq!(body.len(), 673);
    post(&served, &body).await;

    let line = listening.line();
    assert!(line.ends_with("  673 bytes"), "{line}");
}

#[tokio::test]
async fn sigterm_or_ctrl_c_ends_listen_with_exit_0_and_its_place_written() {
    let served = serve_with_token(&[]);
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let args = [
        "--from",
        &served.url(""),
        "--admin-token",
        TOKEN,
        "--forward-to",
        &customer.url("/hook"),
        "--state-file",
        state.to_str().unwrap(),
    ];
    let mut listening = Listening::start(&args);
    post(&served, &event(1)).await;
    customer.wait_for(1);
    state_when(&state, |s| s["last_seq"] == 1);
    // The next delivery hangs: SIGTERM comes while it is in flight.
    customer.program(
        1,
        crate::support::Answer::ok().delay(Duration::from_secs(60)),
    );
    post(&served, &event(2)).await;
    customer.wait_for(2);

    listening.signal("TERM");
    assert_eq!(listening.wait().code(), Some(0), "{}", listening.stderr());
    // Event 2 was not recorded as handled: the next start delivers it again.
    let written = state_when(&state, |_| true);
    assert_eq!(written["last_seq"], 1);

    let mut again = Listening::start(&args);
    let got = customer.wait_for(3);
    assert_eq!(got[2].json()["event_id"], 2);
    state_when(&state, |s| s["last_seq"] == 2);
    again.signal("INT");
    assert_eq!(again.wait().code(), Some(0), "{}", again.stderr());
}
