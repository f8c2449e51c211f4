//! The receiver's limits against real sockets on 127.0.0.1: slow-loris headers, silent and
//! idle connections, stalled and oversized chunked bodies, admission control, request ids.
//! Raw `TcpStream` clients make the misbehaviour exact; the server runs in-process with
//! short limits (the command-line plumbing is checked in `hardening_cli.rs`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookrelay::server::limits::Limits;
use hookrelay::server::memory::MemoryStore;
use hookrelay::server::{AppState, Config};

/// A server in-process on 127.0.0.1:0 with `limits`, stopped when dropped.
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Server {
    async fn start(limits: Limits, max_body_bytes: usize) -> Self {
        let store = Arc::new(MemoryStore::new(10_000, 10_000));
        let config = Config {
            max_body_bytes,
            limits,
            ..Config::default()
        };
        let state = AppState::new(store, config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(hookrelay::server::serve(listener, state, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn limits(header_ms: u64, body_ms: u64, idle_ms: u64, max_inflight: usize) -> Limits {
    Limits {
        header_timeout: Duration::from_millis(header_ms),
        body_timeout: Duration::from_millis(body_ms),
        idle_timeout: Duration::from_millis(idle_ms),
        max_inflight,
    }
}

fn event(id: i64) -> String {
    format!(
        r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": ""}}"#
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Blocks until the server closes the connection (EOF or reset), discarding what it sends;
/// returns how long that took. Panics if it stays open for 10 s.
fn wait_closed(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return started.elapsed(),
            Err(e) => panic!("connection still open after {:?}: {e}", started.elapsed()),
        }
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body: (status, head, body).
fn read_response(stream: &mut TcpStream) -> (u16, String, String) {
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

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn post_head(length: Option<usize>) -> String {
    let framing = match length {
        Some(n) => format!("Content-Length: {n}"),
        None => "Transfer-Encoding: chunked".to_string(),
    };
    format!(
        "POST /webhook HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n{framing}\r\n\r\n"
    )
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_are_cut_at_the_header_timeout() {
    let server = Server::start(limits(600, 30_000, 60_000, 64), 1 << 20).await;
    let addr = server.addr;

    let (elapsed, sent) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        let started = Instant::now();
        let head = b"POST /webhook HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let mut sent = 0;
        // One byte every 50 ms: never a complete head; stop when the server hangs up.
        for byte in head {
            if stream.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_millis(50));
            if started.elapsed() > Duration::from_secs(3) {
                break;
            }
        }
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 1024];
        let closed = matches!(stream.read(&mut buf), Ok(0))
            || stream.write_all(b"x").is_err()
            || stream.write_all(b"x").is_err();
        assert!(closed, "still open after {:?}", started.elapsed());
        (started.elapsed(), sent)
    })
    .await
    .unwrap();

    // Closed near 600 ms, long before the 5 s the trickle would need.
    assert!(sent < 40, "the server accepted {sent} trickled bytes");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sends_nothing_is_closed_at_the_header_timeout() {
    let server = Server::start(limits(400, 30_000, 60_000, 64), 1 << 20).await;
    let addr = server.addr;

    let elapsed = tokio::task::spawn_blocking(move || wait_closed(&mut connect(addr)))
        .await
        .unwrap();

    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_slow_loris_connections_do_not_keep_others_out_and_are_all_closed() {
    let server = Server::start(limits(800, 30_000, 60_000, 1024), 1 << 20).await;
    let addr = server.addr;
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"POST /webhook HTTP/1.1\r\nHost: t\r\n")
                .unwrap();
            s
        })
        .collect();

    let started = Instant::now();
    let answer = reqwest::Client::new()
        .post(server.url("/webhook"))
        .header("content-type", "application/json")
        .body(event(1))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));

    let closed_after = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for mut s in slow {
            wait_closed(&mut s);
        }
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let server = Server::start(limits(300, 30_000, 1_500, 64), 1 << 20).await;
    let addr = server.addr;

    let (second_status, closed_after) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        let request = |id| format!("{}{}", post_head(Some(event(id).len())), event(id));
        stream.write_all(request(1).as_bytes()).unwrap();
        assert_eq!(read_response(&mut stream).0, 200);
        // Idle for longer than the header timeout: the connection must still be usable.
        std::thread::sleep(Duration::from_millis(800));
        stream.write_all(request(2).as_bytes()).unwrap();
        let second = read_response(&mut stream).0;
        (second, wait_closed(&mut stream))
    })
    .await
    .unwrap();

    assert_eq!(second_status, 200);
    assert!(
        closed_after >= Duration::from_millis(1_200),
        "{closed_after:?}"
    );
    assert!(closed_after < Duration::from_secs(4), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_gets_408_at_the_body_timeout() {
    let server = Server::start(limits(10_000, 500, 60_000, 64), 1 << 20).await;
    let addr = server.addr;

    let (status, head, body, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream.write_all(post_head(Some(200)).as_bytes()).unwrap();
        stream.write_all(br#"{"event_id": 1, "#).unwrap();
        let started = Instant::now();
        let (status, head, body) = read_response(&mut stream);
        (status, head, body, started.elapsed())
    })
    .await
    .unwrap();

    assert_eq!(status, 408, "{head}\n{body}");
    assert!(head.to_ascii_lowercase().contains("connection: close"));
    assert_eq!(json(&body)["error"], "request_timeout");
    assert!(elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_gets_413_before_it_ends() {
    let server = Server::start(limits(10_000, 20_000, 60_000, 64), 1000).await;
    let addr = server.addr;

    let (status, body, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
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
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_max_inflight_requests_get_503_with_retry_after_at_once() {
    let server = Server::start(limits(10_000, 20_000, 60_000, 2), 1 << 20).await;
    let addr = server.addr;
    // Two requests held in progress: headers sent, body never finished.
    let holders: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(post_head(Some(100)).as_bytes()).unwrap();
            s.write_all(b"{").unwrap();
            s
        })
        .collect();
    let http = reqwest::Client::new();
    let post = |id| {
        http.post(server.url("/webhook"))
            .header("content-type", "application/json")
            .body(event(id))
            .send()
    };

    // Until both holders are admitted a third may pass; then it must be refused at once.
    let deadline = Instant::now() + Duration::from_secs(5);
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (answer, elapsed) = refused;
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    assert_eq!(answer.headers()["retry-after"], "1");
    assert!(answer.headers().contains_key("x-request-id"));
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "unavailable");

    // Once they go, requests are admitted again.
    drop(holders);
    let deadline = Instant::now() + Duration::from_secs(5);
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
    let server = Server::start(Limits::default(), 1 << 20).await;
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
    let mut server = Server::start(limits(10_000, 20_000, 60_000, 1), 1 << 20).await;
    let addr = server.addr;
    let mut stream = connect(addr);
    let body = event(5);
    stream
        .write_all(post_head(Some(body.len())).as_bytes())
        .unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while reqwest::get(server.url("/healthz")).await.unwrap().status() != 503 {
        assert!(Instant::now() < deadline, "the request never started");
    }

    // Stop while the request is half sent; it still completes.
    let deadline = Instant::now() + Duration::from_secs(1);
    drop(server.stop.take());
    while TcpStream::connect(addr).is_ok() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(TcpStream::connect(addr).is_err(), "still accepting");
    let (status, _, _) = tokio::task::spawn_blocking(move || {
        stream.write_all(&body.as_bytes()[10..]).unwrap();
        read_response(&mut stream)
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_request_head_gets_431_and_is_not_buffered() {
    let server = Server::start(Limits::default(), 1 << 20).await;
    let addr = server.addr;

    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        let mut head = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ".to_vec();
        head.resize(head.len() + 600_000, b'a');
        let _ = stream.write_all(&head); // the server may stop reading part way
        let mut answer = vec![0u8; 12];
        stream.read_exact(&mut answer).unwrap();
        String::from_utf8_lossy(&answer).to_string()
    })
    .await
    .unwrap();

    assert_eq!(answer, "HTTP/1.1 431");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_its_response_is_cut_at_the_idle_timeout() {
    let server = Server::start(limits(10_000, 20_000, 1_000, 64), 1 << 20).await;
    let http = reqwest::Client::new();
    // 200 events of 100 KB: GET /events answers about 20 MB, far more than socket buffers.
    let filler = "f".repeat(100_000);
    for id in 0..200 {
        let body = format!(
            r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "{filler}"}}"#
        );
        let answer = http
            .post(server.url("/webhook"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    // A small receive buffer, fixed before connecting, so the kernel cannot take it all.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(server.addr)
        .await
        .unwrap()
        .into_std()
        .unwrap();
    stream.set_nonblocking(false).unwrap();

    let (received, length) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        stream
            .write_all(b"GET /events?limit=1000 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        // Read nothing for longer than the idle timeout, then take what is left.
        std::thread::sleep(Duration::from_millis(2_500));
        let mut data = Vec::new();
        let _ = stream.read_to_end(&mut data);
        let head_end = find(&data, b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap();
        (data.len() - head_end - 4, length)
    })
    .await
    .unwrap();

    assert!(length > 19_000_000, "{length}");
    assert!(
        received < length,
        "the whole response waited for the slow reader"
    );
}
