//! What ends `listen` beside the refusals of `mod.rs`: no token for a server that needs
//! one (exit 2, saying how to give it).

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
