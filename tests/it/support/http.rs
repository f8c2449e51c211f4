//! reqwest calls the tests make again and again through a client of their own (a JSON
//! `POST` answered with the whole response, a `GET` read as JSON), and a wait, with a
//! deadline, for a condition read over HTTP.

use std::future::Future;
use std::time::Duration;

use super::DEADLINE;

/// `POST url` with `Content-Type: application/json`; the answer, whatever its status.
pub async fn send_json(
    client: &reqwest::Client,
    url: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"))
}

/// The body of `GET url`, as JSON.
pub async fn fetch_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let text = super::get_text(client, url).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {text}"))
}

/// Reads `probe` every `every` until `done` holds for what it gives; that value. Fails
/// the test with `what` and the last value after [`DEADLINE`].
pub async fn wait_until<T: std::fmt::Debug, F: Future<Output = T>>(
    what: &str,
    every: Duration,
    mut probe: impl FnMut() -> F,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let now = probe().await;
        if done(&now) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {now:?}");
        tokio::time::sleep(every).await;
    }
}
