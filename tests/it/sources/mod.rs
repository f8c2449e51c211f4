//! `serve --source`, `send --as`, `samples`, `validate --schema/--source` through the real
//! binary. Signatures in these tests are computed here from each provider's documented
//! algorithm with the `hmac` and `sha2` crates, never through hookrelay's own signing.

mod edges;
mod idempotency;
mod providers;
mod relay;
mod round_trip;
mod schema;
mod secrets;
mod slack;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::support::{Served, hookrelay};

/// `hookrelay serve --port 0 --host 127.0.0.1 --workers 1 ARGS…`.
pub fn serve(args: &[&str]) -> Served {
    let mut all = vec!["--host", "127.0.0.1", "--workers", "1"];
    all.extend_from_slice(args);
    Served::start(&all)
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// POSTs `body` with `headers` (and `Content-Type: application/json` unless given): the
/// status and the JSON answer.
pub fn post(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    runtime().block_on(async {
        let mut request = reqwest::Client::new().post(url).body(body.to_vec());
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {url}: {e}"));
        crate::support::app::answer(response).await
    })
}

/// GETs `url`: the status and the JSON answer.
pub fn get(url: &str) -> (u16, Value) {
    runtime().block_on(crate::support::get_json(url))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// `hookrelay ARGS…`: exit code, stdout, stderr.
pub fn run(args: &[&str]) -> (i32, String, String) {
    let output = hookrelay().args(args).output().unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
