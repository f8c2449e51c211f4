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
    let args = keeping_place(&served, &customer, &state);
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

/// `listen`'s notes go to stderr; when stderr cannot take them (here a full disk) it still
/// forwards, prints its lines on stdout and stops with 0 at SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn an_unwritable_stderr_does_not_stop_listen() {
    use std::io::BufRead;
    let served = serve_with_token(&[]);
    let customer = Customer::start();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(["listen", "--from", &served.url(""), "--admin-token", TOKEN])
        .args(["--forward-to", &customer.url("/hook")])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    // "listening to" cannot be written: wait until listen is connected by another sign,
    // the stream's reader showing up in the server's state.
    let deadline = Instant::now() + DEADLINE;
    let streams_open = || async {
        let metrics = reqwest::Client::new()
            .get(served.url("/metrics"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .unwrap();
        metrics.lines().any(|l| l == "hookrelay_streams_open 1")
    };
    while !streams_open().await {
        assert!(Instant::now() < deadline, "listen never connected");
        assert!(child.try_wait().unwrap().is_none(), "listen exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    post(&served, &event(5)).await;
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    customer.wait_for(1);
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = child.wait().unwrap();

    assert!(line.contains("#1"), "{line:?}");
    assert_eq!(status.code(), Some(0));
}
