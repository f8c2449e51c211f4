//! The inspector page's actions, in a real browser: the copies of a provider's event
//! ("Copy as curl" carries the headers the event arrived with, so that the copied command,
//! run as it is, posts a request the server verifies again, the event a duplicate; "Copy
//! as hookrelay send" sends any JSON with `--as json` and those headers), and what a
//! replay of the dead deliveries says, which stays where it was said.

use crate::support::browser::Browser;
use crate::support::{Answer, Customer, DEADLINE, Served, hookrelay};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_dead_deliveries_says_how_many_and_the_word_stays() {
    // 410 Gone: dead at once; then the replay is delivered.
    let customer = Customer::start();
    customer.program(1, Answer::status(410));
    let served = Served::start(&["--forward-to", &customer.url("/hook")]);
    hookrelay()
        .args(["send", "--to", &served.url("/webhook"), "--event-id", "7"])
        .timeout(DEADLINE)
        .assert()
        .success();
    let Some(browser) = Browser::start(1280, 900).await else {
        return;
    };
    browser.client.goto(&served.url("/")).await.unwrap();
    browser
        .until(
            "the button for dead deliveries",
            DEADLINE,
            "return !document.getElementById('replay-dead').hidden",
        )
        .await;
    browser.click("#replay-dead").await;
    browser
        .until(
            "the replay's word",
            DEADLINE,
            "return document.getElementById('replay-note').textContent === 'replayed 1 dead delivery'",
        )
        .await;
    customer.wait_for(2);
    // The state line refreshes every second; the word beside the button stays.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let word = browser
        .js("return document.getElementById('replay-note').textContent")
        .await;
    assert_eq!(word, "replayed 1 dead delivery");
    browser.close().await;
}
