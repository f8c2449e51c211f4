//! What ends `listen`: no token for a server that needs one (exit 2, saying how to give
//! it), and an event whose body cannot be read from the server, which is an event not
//! delivered (exit 1, the state file left before it).

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
