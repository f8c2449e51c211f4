//! Timeouts: a head trickled or never sent, a kept-alive connection left idle, a body that
//! stalls, and a client that stops reading its response.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{event, find, json, limits, post_head, read_response, start};
use crate::support::{DEADLINE, connect, read_to_close};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_a_byte_at_a_time_are_cut_at_the_header_timeout() {
    let server = start(limits(600, 30_000, 60_000, 64), 1 << 20).await;
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
    let server = start(limits(400, 30_000, 60_000, 64), 1 << 20).await;
    let addr = server.addr;

    // From before connecting: the server's clock cannot start before the test's.
    let elapsed = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut stream = connect(addr);
        read_to_close(&mut stream);
        started.elapsed()
    })
    .await
    .unwrap();

    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_slow_loris_connections_do_not_keep_others_out_and_are_all_closed() {
    let server = start(limits(800, 30_000, 60_000, 1024), 1 << 20).await;
    let addr = server.addr;
    let slow: Vec<TcpStream> = (0..200)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"POST /webhook HTTP/1.1\r\nHost: t\r\n")
                .unwrap();
            s
        })
        .collect();

    // Served one by one, the slow connections would hold it for 200 header timeouts.
    let started = Instant::now();
    assert_eq!(server.post(event(1)).await.0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    let closed_after = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for mut s in slow {
            read_to_close(&mut s);
        }
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(closed_after < Duration::from_secs(8), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let server = start(limits(300, 30_000, 1_500, 64), 1 << 20).await;
    let addr = server.addr;

    let (status, closed_after) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        // From before the request whose answer starts the server's idle clock.
        let started = Instant::now();
        let request = format!("{}{}", post_head(Some(event(1).len())), event(1));
        stream.write_all(request.as_bytes()).unwrap();
        let status = read_response(&mut stream).0;
        // Waiting for its next request, the connection stays open past the 300 ms header
        // timeout until the 1.5 s idle timeout closes it.
        read_to_close(&mut stream);
        (status, started.elapsed())
    })
    .await
    .unwrap();

    assert_eq!(status, 200);
    assert!(
        closed_after >= Duration::from_millis(1_200),
        "{closed_after:?}"
    );
    assert!(closed_after < Duration::from_secs(8), "{closed_after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_gets_408_at_the_body_timeout() {
    let server = start(limits(10_000, 500, 60_000, 64), 1 << 20).await;
    let addr = server.addr;

    let (status, head, body, elapsed) = tokio::task::spawn_blocking(move || {
        let mut stream = connect(addr);
        // From before the head that starts the server's body clock.
        let started = Instant::now();
        stream.write_all(post_head(Some(200)).as_bytes()).unwrap();
        stream.write_all(br#"{"event_id": 1, "#).unwrap();
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
async fn a_client_that_does_not_read_its_response_is_cut_at_the_idle_timeout() {
    let server = start(limits(10_000, 20_000, 1_000, 64), 1 << 20).await;
    // 200 events of 100 KB: GET /events answers about 20 MB, far more than socket buffers.
    let filler = "f".repeat(100_000);
    for id in 0..200 {
        let body = format!(
            r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "{filler}"}}"#
        );
        assert_eq!(server.post(body).await.0, 200);
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

    // The request sent, and the answer begun: its first bytes have arrived.
    let (stream, started) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
        // From before the request: the server's idle clock cannot start before the test's.
        let started = Instant::now();
        stream
            .write_all(b"GET /events?limit=1000 HTTP/1.1\r\nHost: t\r\n\r\n")
            .unwrap();
        // Building a 20 MB answer takes a debug build seconds on a loaded machine.
        stream.set_read_timeout(Some(DEADLINE * 4)).unwrap();
        stream.peek(&mut [0u8; 1]).expect("the answer begins");
        (stream, started)
    })
    .await
    .unwrap();
    // Reading nothing, wait for the server to let go of the connection: stopped, it closes
    // idle connections and lets a response being written finish or be cut, and returns
    // once all are closed. A server that waited for the slow reader would not return.
    server.stop().await;
    // Not before the 1 s idle timeout, counted from the last bytes the reader took.
    let cut_after = started.elapsed();
    assert!(cut_after >= Duration::from_millis(900), "{cut_after:?}");

    let (received, length) = tokio::task::spawn_blocking(move || {
        let mut stream = stream;
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
