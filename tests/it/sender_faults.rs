//! Faulty endpoints against both senders: `hookrelay send` (the binary: exit code, report,
//! time taken) and the relay's deliveries (final state and recorded attempts). Each fault
//! is a raw `TcpListener` on 127.0.0.1 misbehaving on purpose; nothing may hang past the
//! configured timeouts and no more than 64 KiB of an answer is read.

use crate::support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookrelay::alert::{self, ClientOptions, Delivery, RetryPolicy, build_client};
use hookrelay::server::relay::{RelayConfig, Target};
use reqwest::header::HeaderMap;
use serde_json::Value;
use support::{App, HeldPort, hookrelay};

/// A misbehaving endpoint: `behave` runs for every connection, on its own thread.
struct Endpoint {
    url: String,
    connections: Arc<AtomicUsize>,
    /// Connections whose `behave` returned, that is whose socket the endpoint closed.
    closed: Arc<AtomicUsize>,
}

impl Endpoint {
    fn start(behave: fn(TcpStream)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        let ended = Arc::clone(&closed);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                let ended = Arc::clone(&ended);
                std::thread::spawn(move || {
                    // `behave` owns the stream: it is closed when `behave` returns.
                    behave(stream);
                    ended.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        Self {
            url,
            connections,
            closed,
        }
    }

    /// A port where nothing listens, held for as long as the result lives so that no other
    /// test can start listening on it: connections are refused.
    fn refused() -> HeldPort {
        HeldPort::bind()
    }

    /// Waits until the endpoint has closed `count` connections; panics at the deadline.
    async fn wait_closed(&self, count: usize) {
        let deadline = Instant::now() + support::DEADLINE;
        loop {
            let closed = self.closed.load(Ordering::SeqCst);
            // The runtime parks at least once after the close was seen, so its I/O driver
            // has taken in the end of file the close sent to the client's connection.
            tokio::time::sleep(Duration::from_millis(5)).await;
            if closed >= count {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the endpoint closed {closed} connection(s), expected {count}"
            );
        }
    }
}

/// Reads one request (head and Content-Length body) so that closing later is orderly.
/// Returns false when the connection ended first.
fn read_request(stream: &mut TcpStream) -> bool {
    let mut data = Vec::new();
    let mut buf = [0u8; 1];
    loop {
        if is_whole_request(&data) {
            return true;
        }
        // A byte at a time: what follows this request on a kept-alive connection is the
        // next one's, and stays in the socket for the next call.
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
}

/// Answers every request on the connection, keeping it open between them.
fn keeps_alive(mut stream: TcpStream) {
    while read_request(&mut stream) {
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
    }
}

/// Answers one request as if keeping the connection, then closes it (an idle timeout
/// shorter than the client's).
fn closes_after_one(mut stream: TcpStream) {
    if read_request(&mut stream) {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}

/// Answers one request with `Connection: close`, then waits for the client to close.
fn says_close(mut stream: TcpStream) {
    if read_request(&mut stream) {
        let _ = stream
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
        assert!(
            !read_request(&mut stream),
            "a request came after Connection: close"
        );
    }
}

/// Whether `data` holds a whole request: its head and its Content-Length body.
fn is_whole_request(data: &[u8]) -> bool {
    let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    data.len() >= end + 4 + length
}

/// Waits until the whole request has arrived but leaves it unread, so that closing the
/// socket makes the kernel send a reset (and the client is not still writing when it
/// comes).
fn wait_unread(stream: &mut TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.peek(&mut buf) {
            Ok(n) if n > 0 && !is_whole_request(&buf[..n]) => {
                // Part of it is there: peeking again at once would spin.
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

fn never_answers(mut stream: TcpStream) {
    read_request(&mut stream);
    std::thread::sleep(Duration::from_secs(30));
}

// A reset does not take away what already reached the client: the bytes written before
// it stay readable there, and the next read after them fails. So these endpoints need not
// wait for the client to read anything before they reset.

fn resets_before_the_status(mut stream: TcpStream) {
    wait_unread(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 2");
}

fn resets_after_a_200(mut stream: TcpStream) {
    wait_unread(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial");
}

fn endless_body(mut stream: TcpStream) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    let chunk = format!("10000\r\n{}\r\n", "y".repeat(0x10000));
    while stream.write_all(chunk.as_bytes()).is_ok() {}
}

fn hundred_megabytes(mut stream: TcpStream) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n");
    let block = vec![b'z'; 1 << 20];
    for _ in 0..100 {
        if stream.write_all(&block).is_err() {
            return;
        }
    }
}

fn redirects(mut stream: TcpStream) {
    read_request(&mut stream);
    let _ = stream.write_all(
        b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\nContent-Length: 0\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(200));
}

fn status_a_byte_a_second(mut stream: TcpStream) {
    read_request(&mut stream);
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" {
        if stream.write_all(&[*byte]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn body_a_byte_a_second(mut stream: TcpStream) {
    read_request(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n");
    for _ in 0..60 {
        if stream.write_all(b"b").is_err() {
            return;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// What `hookrelay send` did: exit code, its `--json` result, stdout size, stderr, time.
struct Sent {
    code: i32,
    result: Value,
    stderr: String,
    elapsed: Duration,
}

/// `hookrelay send` with `timeout` per attempt and one retry 10 ms later.
fn send(url: &str, timeout: &str) -> Sent {
    let started = Instant::now();
    let output = hookrelay()
        .args(["send", "--to", url, "--event-id", "1", "--json"])
        .args([
            "--timeout",
            timeout,
            "--retries",
            "1",
            "--retry-backoff",
            "10ms",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    Sent {
        code: output.status.code().unwrap_or(-1),
        result: serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
        stderr: String::from_utf8_lossy(&output.stderr).to_string(),
        elapsed: started.elapsed(),
    }
}

/// Relays one event to `url` (`timeout` per attempt, one retry 10 ms later) and returns its
/// delivery once delivered or dead, with the time that took.
async fn relay(url: &str, timeout: Duration) -> (Value, Duration) {
    let config = RelayConfig {
        targets: vec![Target {
            url: url.parse().unwrap(),
            route: None,
        }],
        headers: HeaderMap::new(),
        policy: RetryPolicy::schedule(vec![Duration::from_millis(10)]),
        timeout,
        concurrency: 1,
        signer: None,
        original_headers: false,
        circuit: Default::default(),
    };
    let app = App::with_relay(config, 100).await;
    let started = Instant::now();
    let (accepted, _) = app
        .post(r#"{"event_id": 1, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": ""}"#)
        .await;
    assert_eq!(accepted, 200);
    loop {
        let (_, page) = app.get("/events/1/deliveries").await;
        let delivery = page["deliveries"][0].clone();
        if matches!(delivery["status"].as_str(), Some("delivered" | "dead")) {
            return (delivery, started.elapsed());
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{delivery}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn attempts(delivery: &Value) -> &Vec<Value> {
    delivery["attempts"].as_array().unwrap()
}

/// The error recorded for a delivery's first attempt.
fn first_error(delivery: &Value) -> &str {
    attempts(delivery)[0]["error"].as_str().unwrap()
}

/// Both senders against `url`, with a 1 s timeout per attempt.
fn sent_and_relayed(url: &str) -> (Sent, (Value, Duration)) {
    sent_and_relayed_within(url, 1)
}

fn sent_and_relayed_within(url: &str, timeout_secs: u64) -> (Sent, (Value, Duration)) {
    let url = url.to_string();
    let sent = std::thread::spawn({
        let url = url.clone();
        move || send(&url, &format!("{timeout_secs}s"))
    });
    let relayed = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(relay(&url, Duration::from_secs(timeout_secs)));
    (sent.join().unwrap(), relayed)
}

#[test]
fn a_refused_connection_is_retried_then_reported_not_delivered() {
    let refused = Endpoint::refused();
    let (sent, (delivery, _)) = sent_and_relayed(&refused.url("/hook"));

    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert_eq!(sent.result["attempts"], 2);
    assert!(sent.stderr.contains("connection failed"), "{}", sent.stderr);
    assert_eq!(delivery["status"], "dead");
    assert_eq!(attempts(&delivery).len(), 2);
    assert!(first_error(&delivery).contains("connection failed"));
}

#[test]
fn an_endpoint_that_never_answers_times_out_on_each_attempt() {
    let endpoint = Endpoint::start(never_answers);
    let (sent, (delivery, took)) = sent_and_relayed(&endpoint.url);

    assert_eq!(sent.code, 1);
    assert!(sent.stderr.contains("timed out"), "{}", sent.stderr);
    // Two attempts of 1 s each, not 30 s of silence each.
    assert!(sent.elapsed < Duration::from_secs(15), "{:?}", sent.elapsed);
    assert_eq!(delivery["status"], "dead");
    assert!(
        attempts(&delivery)
            .iter()
            .all(|a| a["error"].as_str().unwrap().contains("timed out"))
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn a_reset_before_the_status_is_a_failed_attempt() {
    let endpoint = Endpoint::start(resets_before_the_status);
    let (sent, (delivery, _)) = sent_and_relayed(&endpoint.url);

    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert_eq!(sent.result["attempts"], 2);
    assert_eq!(sent.result["status"], Value::Null);
    assert_eq!(delivery["status"], "dead");
    assert!(attempts(&delivery)[0]["status_code"].is_null());
}

#[test]
fn a_reset_after_a_200_is_delivered_and_the_cut_is_reported() {
    let endpoint = Endpoint::start(resets_after_a_200);
    let (sent, (delivery, _)) = sent_and_relayed_within(&endpoint.url, 10);

    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert_eq!(sent.result["attempts"], 1);
    assert!(
        sent.stderr.contains("200 OK") && sent.stderr.contains("response body was cut"),
        "{}",
        sent.stderr
    );
    assert_eq!(delivery["status"], "delivered");
}

/// Both senders, with a 60 s timeout, against an endpoint that answers 200 with a body far
/// larger than 64 KiB: each reads 64 KiB and stops at once instead of running into the
/// timeout (a sender that read on would take the 60 s).
fn assert_read_to_64_kib_only(behave: fn(TcpStream)) {
    let endpoint = Endpoint::start(behave);
    let (sent, (delivery, took)) = sent_and_relayed_within(&endpoint.url, 60);

    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert_eq!(sent.result["response"].as_str().unwrap().len(), 64 * 1024);
    assert!(sent.elapsed < Duration::from_secs(15), "{:?}", sent.elapsed);
    assert_eq!(delivery["status"], "delivered");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn an_endless_body_is_read_to_64_kib_only() {
    assert_read_to_64_kib_only(endless_body);
}

#[test]
fn a_hundred_megabyte_body_is_read_to_64_kib_only() {
    assert_read_to_64_kib_only(hundred_megabytes);
}

#[test]
fn a_redirect_is_not_followed_and_is_reported() {
    let endpoint = Endpoint::start(redirects);
    let (sent, (delivery, _)) = sent_and_relayed(&endpoint.url);

    assert_eq!(sent.code, 1);
    assert_eq!(sent.result["attempts"], 1, "a redirect is not retried");
    assert_eq!(sent.result["status"], 302);
    assert!(
        sent.stderr
            .contains("redirect to http://127.0.0.1:9/elsewhere (not followed)"),
        "{}",
        sent.stderr
    );
    assert_eq!(delivery["status"], "dead");
    assert_eq!(attempts(&delivery).len(), 1);
    assert!(first_error(&delivery).contains("not followed"));
    assert_eq!(endpoint.connections.load(Ordering::SeqCst), 2);
}

#[test]
fn a_status_line_sent_a_byte_a_second_times_out() {
    let endpoint = Endpoint::start(status_a_byte_a_second);
    let (sent, (delivery, took)) = sent_and_relayed(&endpoint.url);

    assert_eq!(sent.code, 1, "{}", sent.stderr);
    assert!(sent.stderr.contains("timed out"), "{}", sent.stderr);
    // The status line alone would take 38 s per attempt.
    assert!(sent.elapsed < Duration::from_secs(15), "{:?}", sent.elapsed);
    assert_eq!(delivery["status"], "dead");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

#[test]
fn a_200_whose_body_comes_a_byte_a_second_is_delivered_within_the_timeout() {
    let endpoint = Endpoint::start(body_a_byte_a_second);
    let (sent, (delivery, took)) = sent_and_relayed(&endpoint.url);

    assert_eq!(sent.code, 0, "{}", sent.stderr);
    assert_eq!(sent.result["attempts"], 1);
    assert!(
        sent.stderr.contains("response body was cut"),
        "{}",
        sent.stderr
    );
    // 60 bytes would take 60 s; the 1 s timeout ends the read.
    assert!(sent.elapsed < Duration::from_secs(15), "{:?}", sent.elapsed);
    assert_eq!(delivery["status"], "delivered");
    assert!(took < Duration::from_secs(15), "{took:?}");
}

/// `count` attempts to `endpoint` in a row through one client, each a 200 without error;
/// returns how many connections the endpoint accepted. With `after_close`, each next
/// attempt waits until the endpoint has closed the connection of the one before.
async fn attempts_in_a_row(endpoint: &Endpoint, count: u32, after_close: bool) -> usize {
    let client = build_client(ClientOptions::default()).unwrap();
    let delivery = Delivery {
        endpoint: url::Url::parse(&endpoint.url).unwrap().into(),
        body: Bytes::from_static(b"{}"),
        headers: HeaderMap::new(),
    };
    for number in 1..=count {
        let attempt = alert::attempt(&client, &delivery, HeaderMap::new(), number).await;
        assert_eq!(attempt.status.map(|s| s.as_u16()), Some(200), "{attempt:?}");
        assert_eq!(attempt.error, None, "attempt {number}");
        assert_eq!(&attempt.body[..], b"ok");
        if after_close {
            endpoint.wait_closed(number as usize).await;
        }
    }
    endpoint.connections.load(Ordering::SeqCst)
}

#[tokio::test]
async fn attempts_to_one_endpoint_share_a_kept_alive_connection() {
    let endpoint = Endpoint::start(keeps_alive);
    assert_eq!(attempts_in_a_row(&endpoint, 5, false).await, 1);
}

#[tokio::test]
async fn a_connection_the_endpoint_closed_while_idle_is_not_used_again() {
    let endpoint = Endpoint::start(closes_after_one);
    // Each next attempt starts once the endpoint has closed the idle connection.
    assert_eq!(attempts_in_a_row(&endpoint, 3, true).await, 3);
}

#[tokio::test]
async fn a_connection_answered_with_connection_close_is_not_used_again() {
    let endpoint = Endpoint::start(says_close);
    assert_eq!(attempts_in_a_row(&endpoint, 3, false).await, 3);
}
