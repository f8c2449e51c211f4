//! The inspector page's copies of a provider's event, in a real browser: "Copy as curl"
//! carries the headers the event arrived with, so that the copied command, run as it is,
//! posts a request the server verifies again (its signature checked, the event a
//! duplicate); "Copy as hookrelay send" sends any JSON with `--as json` and those headers.

use crate::support::browser::Browser;
use crate::support::{DEADLINE, Served, hookrelay};

const SECRET: &str = "It's a Secret to Everybody";

/// What the page put in its copy box after clicking `button`.
async fn copied(browser: &Browser, button: &str) -> String {
    browser
        .js("const t = document.querySelector('#copied textarea'); if (t) t.remove(); return true")
        .await;
    browser.click(button).await;
    let text = browser
        .until(
            "the copied command",
            DEADLINE,
            "const t = document.querySelector('#copied textarea'); return t && t.value",
        )
        .await;
    text.as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_event_copied_as_curl_posts_a_request_that_verifies_again() {
    let served = Served::start(&["--source", "github", "--secret", SECRET]);
    hookrelay()
        .args(["send", "--as", "github", "--sample", "github.push"])
        .args(["--to", &served.url("/webhook"), "--secret", SECRET])
        .timeout(DEADLINE)
        .assert()
        .success();
    let listed = reqwest::get(served.url("/events"))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    let id = listed["events"][0]["id"].as_str().unwrap().to_string();
    let Some(browser) = Browser::start(1280, 1000).await else {
        return;
    };
    browser
        .client
        .goto(&served.url(&format!("/#event/{id}")))
        .await
        .unwrap();
    browser
        .until(
            "the event open",
            DEADLINE,
            "return document.getElementById('body-pretty') !== null",
        )
        .await;

    let curl = copied(&browser, "#copy-curl").await;
    for header in [
        "x-github-event: push",
        "x-github-delivery: ",
        "x-hub-signature-256: sha256=",
    ] {
        assert!(curl.contains(header), "{header} in {curl}");
    }
    assert!(!curl.to_ascii_lowercase().contains("host:"), "{curl}");
    // Run as a user would paste it: the signature verifies, the event is a duplicate.
    let output = std::process::Command::new("sh")
        .args(["-c", &curl])
        .output()
        .expect("running the copied curl");
    let answer = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{curl}: {answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).expect("a JSON answer");
    assert_eq!(answer["id"], id.as_str(), "{answer}");
    assert_eq!(answer["duplicate"], true, "{answer}");

    let send = copied(&browser, "#copy-send").await;
    assert!(send.contains("hookrelay send --as json --to"), "{send}");
    assert!(send.contains("-H 'x-hub-signature-256: sha256="), "{send}");
    assert!(!send.contains("content-type"), "{send}");
    browser.close().await;
}
