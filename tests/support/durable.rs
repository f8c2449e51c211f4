//! Helpers shared by the durable-store tests: a `hookrelay serve --store sqlite:…` process
//! that can be SIGKILLed and restarted on the same file, and small HTTP helpers.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A spawned `hookrelay serve` on a database file, killed on drop.
pub struct Served {
    child: Child,
    pub base: String,
}

impl Served {
    pub fn start(db: &Path, args: &[&str]) -> Self {
        let log = db.with_extension(format!("{}.log", std::process::id()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("serve")
            .args(["--port", "0", "--store"])
            .arg(format!("sqlite:{}", db.display()))
            .args(args)
            .env_clear()
            .stdout(Stdio::piped())
            .stderr(
                std::fs::File::options()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let base = match line.trim().strip_prefix("listening on ") {
            Some(base) => base.to_string(),
            None => panic!(
                "no address line; log:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            ),
        };
        Self { child, base }
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
