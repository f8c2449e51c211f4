//! The receiver's limits as the command line sets them, on the real binary: timeouts from
//! options and environment variables, --max-inflight validation, and request ids in every
//! log line of a request in both log formats.

use crate::support;

use std::io::Write;
use std::time::Duration;

use support::{Served, connect, hookrelay, read_to_close};

const EVENT: &str =
    r#"{"event_id": 7, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": ""}"#;

fn post(id: &str) -> String {
    format!(
        "POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nX-Request-Id: {id}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{EVENT}",
        EVENT.len()
    )
}

#[test]
fn the_header_timeout_comes_from_the_environment() {
    let served = Served::start_with_env(&[], &[("HOOKRELAY_HEADER_TIMEOUT", "300ms")]);
    let mut stream = connect(served.addr);
    stream.write_all(b"GET /healthz HTTP/1.1\r\n").unwrap();

    let (answer, elapsed) = read_to_close(&mut stream);

    assert_eq!(answer, "", "no answer to an unfinished head");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn the_body_timeout_option_gives_408() {
    let served = Served::start(&["--body-timeout", "300ms"]);
    let mut stream = connect(served.addr);
    let request = post("slow-body");
    stream
        .write_all(&request.as_bytes()[..request.len() - 5])
        .unwrap();

    let (answer, elapsed) = read_to_close(&mut stream);

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("x-request-id: slow-body"), "{answer}");
    assert!(answer.contains(r#""error":"request_timeout""#), "{answer}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn max_inflight_must_be_at_least_one() {
    let output = hookrelay()
        .args(["serve", "--port", "0", "--max-inflight", "0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--max-inflight"));
}

#[test]
fn every_json_log_line_of_a_request_carries_its_id() {
    let mut served =
        Served::start_with_env(&["--log-format", "json"], &[("HOOKRELAY_LOG", "debug")]);
    let mut stream = connect(served.addr);
    stream.write_all(post("req-json-1").as_bytes()).unwrap();
    let (answer, _) = read_to_close(&mut stream);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    served.kill9();
    let log = served.stderr();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of_request: Vec<_> = lines
        .iter()
        .filter(|l| l["span"]["name"] == "request")
        .collect();
    let messages: Vec<_> = of_request
        .iter()
        .map(|l| l["fields"]["message"].as_str().unwrap())
        .collect();
    assert!(messages.contains(&"webhook received"), "{log}");
    assert!(messages.contains(&"request finished"), "{log}");
    for line in of_request {
        assert_eq!(line["span"]["id"], "req-json-1", "{line}");
    }
}

#[test]
fn text_log_lines_carry_the_id_too() {
    let mut served = Served::start_with_env(&[], &[("HOOKRELAY_LOG", "debug")]);
    let mut stream = connect(served.addr);
    stream.write_all(post("req-text-2").as_bytes()).unwrap();
    let _ = read_to_close(&mut stream);

    served.kill9();
    let log = served.stderr();
    let received = log
        .lines()
        .find(|l| l.contains("webhook received"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(received.contains("id=req-text-2"), "{received}");
}
