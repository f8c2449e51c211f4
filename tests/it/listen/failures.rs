//! What ends `listen`: no token for a server that needs one (exit 2, saying how to give
//! it), and an event whose body cannot be read from the server, which is an event not
//! delivered (exit 1, the state file left before it); and what it does not wait for: a
//! stream gone silent is taken for dead after three of its announced heartbeats.

use super::*;

#[tokio::test]
async fn listen_without_a_token_says_the_server_needs_one_and_how_to_give_it() {
    let served = serve_with_token(&[]);

    let output = hookrelay()
        .args(["listen", "--from", &served.url("")])
        .timeout(DEADLINE)
        .output()
        .unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("needs an admin token, and none was given"),
        "{stderr}"
    );
    for way in [
        "--admin-token TOKEN",
        "HOOKRELAY_ADMIN_TOKEN",
        "--admin-token-file PATH",
    ] {
        assert!(stderr.contains(way), "{way} not named: {stderr}");
    }
    assert!(!stderr.contains("refused"), "{stderr}");
}

#[tokio::test]
async fn an_event_whose_body_cannot_be_read_ends_listen_with_exit_1_before_its_place() {
    // Two events kept: the third and fourth evict the second while listen is busy with
    // the first, so the second's body is gone when listen reads it.
    let served = serve_with_token(&["--max-events", "2"]);
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("st.json");
    let args = keeping_place(&served, &customer, &state);
    let mut listening = Listening::start(&args);
    customer.program(
        1,
        crate::support::Answer::ok().delay(Duration::from_secs(2)),
    );
    post(&served, &event(1)).await;
    customer.wait_for(1);
    // Over several lines: the stream cannot carry it as it is.
    let spread = event(2).replace(",", ",\n  ");
    post(&served, &spread).await;
    post(&served, &event(3)).await;
    post(&served, &event(4)).await;

    assert_eq!(listening.wait().code(), Some(1), "{}", listening.stderr());
    let stderr = listening.stderr();
    assert!(
        stderr.contains(&format!(
            "event #2 not delivered to {}: reading the body of event evt_2",
            customer.url("/hook")
        )) && stderr.contains("404 Not Found"),
        "{stderr}"
    );
    assert_eq!(state_when(&state, |_| true)["last_seq"], 1);

    // The next start goes on from there: the server no longer has the second event, and
    // delivers the ones after it.
    let _again = Listening::start(&args);
    customer.wait_for(3);
    assert_eq!(received_ids(&customer), [1, 3, 4]);
    state_when(&state, |s| s["last_seq"] == 4);
}

/// A stream that goes silent (neither an event nor a heartbeat) is taken for dead after
/// three of the heartbeats its server announced (a second at least), and `listen` connects
/// again instead of waiting for ever.
#[tokio::test]
async fn a_stream_that_goes_silent_is_taken_for_dead_and_listen_connects_again() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};

    // A server that answers as a hookrelay does, announces a heartbeat of 300 ms, then
    // says nothing more on the connection it keeps open.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = server.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&connections);
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in server.incoming() {
            let Ok(mut stream) = stream else { break };
            counted.fetch_add(1, Ordering::SeqCst);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
                head.push(byte[0]);
            }
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                  hookrelay-heartbeat-ms: 300\r\n\r\n: hookrelay event stream\nretry: 2000\n\n",
            );
            open.push(stream);
        }
    });

    let listening = Listening::start(&["--from", &format!("http://{address}")]);
    // Three heartbeats are 900 ms; a second is the least it waits.
    listening.wait_for_stderr("said nothing for 1s");
    let started = Instant::now();
    while connections.load(Ordering::SeqCst) < 2 {
        assert!(
            started.elapsed() < DEADLINE,
            "listen did not connect again; stderr: {}",
            listening.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The stream says how often it writes at the least: its heartbeat, sooner with a short
/// `--idle-timeout` (half of it).
#[tokio::test]
async fn the_stream_announces_its_heartbeat() {
    for (args, expected) in [(&[][..], "15000"), (&["--idle-timeout", "4s"][..], "2000")] {
        let served = serve_with_token(args);
        let response = reqwest::Client::new()
            .get(served.url("/events/stream"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["hookrelay-heartbeat-ms"],
            expected,
            "{args:?}"
        );
    }
}
