//! Helpers shared by the durable-store tests: a `hookrelay serve --store sqlite:…` process
//! that can be SIGKILLed and restarted on the same file, and small HTTP helpers.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::process;

/// A spawned `hookrelay serve` on a database file, killed on drop.
pub struct Served {
    process: process::Served,
    /// `http://ADDR`.
    pub base: String,
}

impl Served {
    /// `hookrelay serve --port 0 --store sqlite:DB ARGS…` with a cleared environment.
    pub fn start(db: &Path, args: &[&str]) -> Self {
        let store = format!("sqlite:{}", db.display());
        let mut all = vec!["--store", &store];
        all.extend_from_slice(args);
        let process = process::Served::start(&all);
        let base = process.url("");
        Self { process, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// What the server wrote on stderr so far (all of it after [`Served::kill9`]).
    pub fn stderr(&self) -> String {
        self.process.stderr()
    }
}

pub fn event(id: i64) -> String {
    format!(
        r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56Z", "event_type": "order.created", "description": "event number {id}"}}"#
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub async fn post(http: &reqwest::Client, base: &str, body: String) -> reqwest::Result<u16> {
    let response = http
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    Ok(response.status().as_u16())
}

pub async fn get_json(base: &str, path: &str) -> Value {
    client()
        .get(format!("{base}{path}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}
