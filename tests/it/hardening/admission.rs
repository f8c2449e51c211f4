//! What gets in and how it leaves: bodies and heads over the size limits, requests beyond
//! --max-inflight, request ids, and a shutdown with a request in flight.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hookrelay::server::limits::Limits;

use super::{event, json, limits, post_head, read_response, start};
use crate::support::{DEADLINE, connect};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_gets_413_before_it_ends() {
    let server = start(limits(10_000, 20_000, 60_000, 64), 1000).await;
    let addr = server.addr;

    let (status, body, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        // Longer than the bound below, shorter than the 20 s body timeout a server that
        // waited for the body's end would answer at.
        stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
        stream.write_all(post_head(None).as_bytes()).unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 600, " ".repeat(600));
        // 1200 bytes, and no final chunk: only a streaming limit can answer now.
        stream.write_all(chunk.as_bytes()).unwrap();
        stream.write_all(chunk.as_bytes()).unwrap();
        let started = Instant::now();
        let (status, _, body) = read_response(&mut stream);
        (status, body, started.elapsed())
    })
    .await
    .unwrap();

    assert_eq!(status, 413);
    assert_eq!(json(&body)["error"], "payload_too_large");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_inflight_requests_get_503_with_retry_after_at_once() {
    let server = start(limits(10_000, 20_000, 60_000, 2), 1 << 20).await;
    let addr = server.addr;
    // Two requests held in progress: headers sent, body never finished.
    let hold = || {
        let mut s = connect(addr);
        s.write_all(post_head(Some(100)).as_bytes()).unwrap();
        s.write_all(b"{").unwrap();
        s
    };
    let mut holders: Vec<TcpStream> = (0..2).map(|_| hold()).collect();
    let http = reqwest::Client::new();
    let post = |id| {
        http.post(server.url("/webhook"))
            .header("content-type", "application/json")
            .body(event(id))
            .send()
    };

    // Until both holders are admitted a third may pass; then it must be refused at once.
    let deadline = Instant::now() + DEADLINE;
    let refused = loop {
        let started = Instant::now();
        let answer = post(7).await.unwrap();
        if answer.status() == 503 {
            break (answer, started.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "never refused: {}",
            answer.status()
        );
        // A holder that came in while a request of this loop held a place was refused
        // itself (it has an answer to read): it holds nothing, so another takes its place.
        for holder in &mut holders {
            if answered(holder) {
                *holder = hold();
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Not queued until a holder leaves: they hold on up to the 20 s body timeout.
    let (answer, elapsed) = refused;
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    assert_eq!(answer.headers()["retry-after"], "1");
    assert!(answer.headers().contains_key("x-request-id"));
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");

    // Once they go, requests are admitted again.
    drop(holders);
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = post(8).await.unwrap().status();
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let server = start(Limits::default(), 1 << 20).await;
    let http = reqwest::Client::new();
    let get = |id: Option<&'static str>| {
        let mut request = http.get(server.url("/healthz"));
        if let Some(id) = id {
            request = request.header("x-request-id", id);
        }
        request.send()
    };

    let given = get(Some("order-42.retry_1")).await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "order-42.retry_1");

    let made = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    let a = made(&get(None).await.unwrap());
    let b = made(&get(None).await.unwrap());
    assert_eq!(a.len(), 32);
    assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);

    // A value not fit to echo into logs is replaced.
    let long: &'static str = Box::leak("x".repeat(200).into_boxed_str());
    assert_eq!(made(&get(Some(long)).await.unwrap()).len(), 32);
    let missing = http.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(made(&missing).len(), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_stops_accepting() {
    // One request at a time: a 503 for another proves the first is in progress.
    let server = start(limits(10_000, 20_000, 60_000, 1), 1 << 20).await;
    let addr = server.addr;
    let mut stream = connect(addr);
    let body = event(5);
    stream
        .write_all(post_head(Some(body.len())).as_bytes())
        .unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    let deadline = Instant::now() + DEADLINE;
    while reqwest::get(server.url("/healthz")).await.unwrap().status() != 503 {
        assert!(Instant::now() < deadline, "the request never started");
    }

    // Stop while the request is half sent; it still completes. The listener closes soon
    // after: the first refused connection shows it. No other listener can have taken the
    // port by then, as the connection in flight keeps it bound.
    let deadline = Instant::now() + DEADLINE;
    drop(server);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        stream.write_all(&body.as_bytes()[10..]).unwrap();
        read_response(&mut stream)
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_gets_431_in_the_error_shape_and_is_not_buffered() {
    let server = start(Limits::default(), 1 << 20).await;
    let addr = server.addr;

    let (status, head, body) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
        head.resize(head.len() + 600_000, b'a');
        let _ = stream.write_all(&head); // the server may stop reading part way
        read_response(&mut stream)
    })
    .await
    .unwrap();

    assert_eq!(status, 431, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = json(&body);
    assert_eq!(body["status"], "error", "{body}");
    assert_eq!(body["error"], "headers_too_large", "{body}");
}

#[tokio::test]
async fn a_request_that_is_not_http_gets_400_in_the_error_shape() {
    let server = start(Limits::default(), 1 << 20).await;
    let addr = server.addr;

    let (status, _, body) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost t\r\n\r\n")
            .unwrap();
        read_response(&mut stream)
    })
    .await
    .unwrap();

    assert_eq!(status, 400);
    assert_eq!(json(&body)["error"], "bad_request", "{body}");
}

/// A refusal of the server's own on a kept-alive connection is told apart from hyper's:
/// the `400` for a bad query after an answered request keeps its own message.
#[tokio::test]
async fn the_servers_own_400_after_another_answer_is_not_taken_for_hypers() {
    let server = start(Limits::default(), 1 << 20).await;
    let addr = server.addr;

    let (first, second) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        let first = read_response(&mut stream);
        stream
            .write_all(b"GET /events?limit=5000 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        (first, read_response(&mut stream))
    })
    .await
    .unwrap();

    assert_eq!(first.0, 200);
    assert_eq!(second.0, 400);
    let body = json(&second.2);
    assert_eq!(body["error"], "bad_request");
    assert!(
        body["message"].as_str().unwrap().contains("limit"),
        "{body}"
    );
}

/// Whether the server has written anything to `stream` (an answer), without waiting.
fn answered(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    let got = matches!(stream.peek(&mut byte), Ok(n) if n > 0);
    stream.set_nonblocking(false).unwrap();
    got
}
