//! The receiver's limits against real sockets on 127.0.0.1: slow-loris headers, silent and
//! idle connections, stalled and oversized chunked bodies, admission control, request ids.
//! Raw `TcpStream` clients make the misbehaviour exact; the server runs in-process with
//! short limits (the command-line plumbing is checked in `hardening_cli.rs`).

use crate::support;

mod admission;
mod early_answers;
mod timeouts;

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use hookrelay::server::Config;
use hookrelay::server::limits::Limits;
use support::App;

/// The receiver in-process on 127.0.0.1:0 with `limits`, stopped when dropped.
pub async fn start(limits: Limits, max_body_bytes: usize) -> App {
    let config = Config {
        max_body_bytes,
        limits,
        ..Config::default()
    };
    App::with(config, 10_000).await
}

pub fn limits(header_ms: u64, body_ms: u64, idle_ms: u64, max_inflight: usize) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(header_ms),
        body_timeout: Duration::from_millis(body_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_inflight,
        ..Limits::default()
    }
}

pub fn event(id: i64) -> String {
    format!(
        r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": ""}}"#
    )
}

/// Reads one HTTP/1.1 response with a Content-Length body: (status, head, body).
pub fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
                let status = head[9..12].parse().unwrap();
                return (status, head, body);
            }
        }
        let n = stream.read(&mut buf).expect("reading the response");
        assert!(n > 0, "connection closed before a whole response");
        data.extend_from_slice(&buf[..n]);
    }
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

pub fn post_head(length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    format!(
        "POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )
}

pub fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}
