//! Answers given before the body is read (413 from `Content-Length`, 415, 401) reach a client
//! that writes its whole request before reading, as Python's `http.client` does: the
//! server reads and throws away the rest of the body, within a bound, before it closes.

use std::io::Write;
use std::time::{Duration, Instant};

use super::{json, limits, post_head, read_response, start};
use crate::support::tcp;

/// Two MiB and one KiB, twice the default body limit.
const BIG: usize = (2 << 20) + 1024;

/// Writes a whole POST (head and `BIG` bytes of body) before reading, then reads the
/// answer: (status, body). Most of the body is written once the answer has arrived (seen
/// by peeking, which takes nothing), as happens to a client whose body is larger than
/// what the sockets' buffers hold.
fn post_everything_then_read(addr: std::net::SocketAddr, content_type: &str) -> (u16, String) {
    post_everything_to(addr, "/webhook", content_type)
}

/// [`post_everything_then_read`] to `path`.
fn post_everything_to(addr: std::net::SocketAddr, path: &str, content_type: &str) -> (u16, String) {
    let mut stream = tcp::connect(addr);
    let head = post_head(Some(BIG))
        .replace("application/json", content_type)
        .replace("/webhook", path);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&[b' '; 1024]).unwrap();
    stream.peek(&mut [0u8; 1]).expect("an answer");
    // In blocks, as `http.client` sends a body from a file.
    for _ in 0..(BIG - 1024) / 8192 {
        stream
            .write_all(&[b' '; 8192])
            .expect("the whole body is taken, not refused with a reset");
    }
    let (status, _, body) = read_response(&mut stream);
    (status, body)
}

#[tokio::test]
async fn a_client_that_writes_a_too_large_body_before_reading_reads_the_413() {
    let app = start(limits(5_000, 5_000, 5_000, 64), 1024 * 1024).await;
    let addr = app.addr;
    let (status, body) =
        tokio::task::spawn_blocking(move || post_everything_then_read(addr, "application/json"))
            .await
            .unwrap();
    assert_eq!(status, 413);
    assert_eq!(json(&body)["error"], "payload_too_large", "{body}");
}

#[tokio::test]
async fn a_client_that_writes_a_body_of_the_wrong_type_before_reading_reads_the_415() {
    let app = start(limits(5_000, 5_000, 5_000, 64), 4 << 20).await;
    let addr = app.addr;
    let (status, body) =
        tokio::task::spawn_blocking(move || post_everything_then_read(addr, "text/plain"))
            .await
            .unwrap();
    assert_eq!(status, 415);
    assert_eq!(json(&body)["error"], "unsupported_media_type", "{body}");
}

#[tokio::test]
async fn a_client_that_sends_an_endless_body_after_its_answer_is_cut_off() {
    let app = start(limits(2_000, 2_000, 2_000, 64), 1024).await;
    let addr = app.addr;
    let (written, took) = tokio::task::spawn_blocking(move || {
        let mut stream = tcp::connect(addr);
        stream
            .set_write_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(post_head(Some(1 << 30)).as_bytes())
            .unwrap();
        let started = Instant::now();
        let chunk = vec![b' '; 64 * 1024];
        let mut written = 0usize;
        while written < 1 << 30 {
            match stream.write(&chunk) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        (written, started.elapsed())
    })
    .await
    .unwrap();
    // The server reads at most 4 MiB after its answer; the rest is what the sockets'
    // buffers on both sides hold.
    assert!(written < 64 << 20, "{written} bytes taken");
    assert!(
        took < Duration::from_secs(20),
        "cut off only after {took:?}"
    );
}

/// The admin guard answers before the body is read: a client without the token that
/// writes its whole body first still reads the 401.
#[tokio::test]
async fn a_client_without_the_admin_token_that_writes_its_body_first_reads_the_401() {
    use hookrelay::server::Config;
    use hookrelay::server::admin::{AdminAuth, AdminToken};

    let config = Config {
        limits: limits(5_000, 5_000, 5_000, 64),
        admin: AdminAuth {
            tokens: vec![AdminToken::parse("hra_a-token-long-enough-for-the-rules").unwrap()],
            metrics_public: false,
        },
        ..Config::default()
    };
    let app = crate::support::App::with(config, 100).await;
    let addr = app.addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        post_everything_to(addr, "/deliveries/replay", "application/json")
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    assert_eq!(json(&body)["error"], "unauthorized", "{body}");
}

/// Admission answers before the body is read: a client over `--max-inflight` that writes
/// its whole body first still reads the 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_max_inflight_that_writes_its_body_first_reads_the_503() {
    let app = start(limits(10_000, 20_000, 20_000, 1), 4 << 20).await;
    let addr = app.addr;
    let (status, body) = tokio::task::spawn_blocking(move || {
        // One request held in progress: its head sent, its body never finished.
        let mut holder = tcp::connect(addr);
        holder.write_all(post_head(Some(100)).as_bytes()).unwrap();
        holder.write_all(b"{").unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let answer = post_everything_then_read(addr, "application/json");
        drop(holder);
        answer
    })
    .await
    .unwrap();
    assert_eq!(status, 503);
    assert_eq!(json(&body)["error"], "unavailable", "{body}");
}
