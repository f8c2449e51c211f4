//! The `hookrelay serve` process: eviction with --max-events, settings from the environment,
//! a port in use, and stopping on SIGTERM and Ctrl-C.

use std::io::{Read, Write};
use std::time::Duration;

use serde_json::json;

use super::ids;
use crate::support::{self, Served, event, get_json, hookrelay, post_json, unused_port};

#[tokio::test]
async fn max_events_evicts_the_oldest() {
    let server = Served::start(&["--max-events", "3"]);
    for id in 1..=5 {
        let (status, _) = post_json(&server.url("/webhook"), event(id)).await;
        assert_eq!(status, 200);
    }

    let (_, list) = get_json(&server.url("/events")).await;
    let (oldest, _) = get_json(&server.url("/events/1")).await;
    let (_, health) = get_json(&server.url("/healthz")).await;

    assert_eq!(ids(&list), [3, 4, 5]);
    assert_eq!(oldest, 404);
    assert_eq!(health, json!({"status": "ok", "events": 3, "evicted": 2}));
}

#[tokio::test]
async fn port_and_max_events_come_from_the_environment() {
    let port = unused_port();
    let server = Served::spawn(
        &[],
        &[
            ("HOOKRELAY_PORT", &port.to_string()),
            ("HOOKRELAY_MAX_EVENTS", "1"),
        ],
    );
    for id in 1..=2 {
        post_json(&server.url("/webhook"), event(id)).await;
    }

    let (_, list) = get_json(&server.url("/events")).await;

    assert_eq!(server.addr.to_string(), format!("127.0.0.1:{port}"));
    assert_eq!(ids(&list), [2]);
}

#[test]
fn a_port_in_use_exits_2_with_a_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();

    let out = hookrelay()
        .args(["serve", "--port", &port.to_string()])
        .timeout(support::DEADLINE)
        .assert()
        .code(2);

    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains(&format!(
            "hookrelay: error: cannot listen on 127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(
        out.get_output().stdout.is_empty(),
        "no address line when nothing listens"
    );
}

#[test]
fn a_port_served_by_another_hookrelay_is_refused() {
    // A second server on a port already served must not share it.
    let port = unused_port().to_string();
    let first = Served::spawn(&["--port", &port, "--workers", "2"], &[]);

    let out = hookrelay()
        .args(["serve", "--port", &port, "--workers", "2"])
        .timeout(support::DEADLINE)
        .assert()
        .code(2);

    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("in use"), "{stderr}");
    assert_eq!(first.addr.port().to_string(), port);
}

#[tokio::test]
async fn every_worker_answers_and_stores_in_one_store() {
    let server = Served::start(&["--workers", "2"]);

    // A new connection per event, taken by either worker.
    for id in 1..=40 {
        let (status, _) = post_json(&server.url("/webhook"), event(id)).await;
        assert_eq!(status, 200, "event {id}");
    }
    let (_, health) = get_json(&server.url("/healthz")).await;

    assert_eq!(health["events"], 40);
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let mut server = Served::start(&[]);
    let body = event(77);
    let mut in_flight = std::net::TcpStream::connect(server.addr).unwrap();
    in_flight.set_read_timeout(Some(support::DEADLINE)).unwrap();
    // With `Expect: 100-continue` the server says when the handler starts reading the body:
    // from then on the request is in flight.
    write!(
        in_flight,
        "POST /webhook HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        server.addr,
        body.len()
    )
    .unwrap();
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        in_flight.read_exact(&mut byte).expect("the interim answer");
        interim.push(byte[0]);
    }
    assert!(interim.starts_with(b"HTTP/1.1 100"), "{interim:?}");

    server.signal_term();
    // Once new connections are refused the server is shutting down; then finish the request.
    let deadline = std::time::Instant::now() + support::DEADLINE;
    while std::net::TcpStream::connect_timeout(&server.addr, Duration::from_secs(1)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "still accepting after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    in_flight.write_all(body.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = in_flight.read_to_string(&mut answer);
    let status = server.wait();

    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        answer.ends_with(r#"{"status":"success","event_id":77}"#),
        "{answer:?}"
    );
    assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
    assert!(
        server.stderr().contains("shutting down"),
        "{}",
        server.stderr()
    );
}

/// SIGTERM by `kill(2)` itself: running the `kill` command takes milliseconds, long enough
/// for the server to get past the moment a test wants to hit.
#[cfg(unix)]
fn sigterm(pid: u32) {
    unsafe extern "C" {
        fn kill(pid: i32, signal: i32) -> i32;
    }
    const SIGTERM: i32 = 15;
    let pid = i32::try_from(pid).expect("a pid");
    // SAFETY: kill(2) only takes two integers and touches no memory of this process.
    let sent = unsafe { kill(pid, SIGTERM) };
    assert_eq!(sent, 0, "kill: {}", std::io::Error::last_os_error());
}

/// A script may send SIGTERM as soon as it has read the address line: the server must
/// already handle it (a graceful exit 0), not die of it. The window is short, so the test
/// tries a number of times.
#[cfg(unix)]
#[test]
fn sigterm_right_after_the_address_line_exits_0() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    for round in 1..=30 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .args(["serve", "--port", "0"])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting hookrelay serve");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout pipe"))
            .read_line(&mut line)
            .expect("reading the address line");
        sigterm(child.id());

        let deadline = std::time::Instant::now() + support::DEADLINE;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for serve") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("round {round}: still running after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let mut stderr = String::new();
        let _ = child
            .stderr
            .take()
            .expect("stderr pipe")
            .read_to_string(&mut stderr);
        assert!(line.starts_with("listening on http://"), "{line:?}");
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}: {status}; stderr: {stderr}"
        );
    }
}

#[tokio::test]
async fn ctrl_c_stops_promptly_even_with_idle_or_half_sent_connections_open() {
    // A header timeout longer than the test's deadline: a stop that waited for it fails.
    let mut server = Served::start(&["--workers", "1", "--header-timeout", "60s"]);
    // A client that keeps its connection alive after a request, one that never speaks,
    // and one that sent half a request head.
    let keep_alive = reqwest::Client::new();
    let (status, _) =
        support::app::answer(keep_alive.get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let _silent = std::net::TcpStream::connect(server.addr).unwrap();
    let mut half = std::net::TcpStream::connect(server.addr).unwrap();
    std::io::Write::write_all(&mut half, b"GET /hea").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &server.pid().to_string()])
        .status()
        .unwrap();
    let status = server.wait();

    assert!(interrupted.success());
    assert_eq!(status.code(), Some(0), "stderr: {}", server.stderr());
    drop(keep_alive);
}

#[tokio::test]
async fn max_body_bytes_comes_from_the_environment() {
    let server = Served::spawn(&["--port", "0"], &[("HOOKRELAY_MAX_BODY_BYTES", "64")]);

    let (status, body) = post_json(&server.url("/webhook"), event(1)).await;

    assert_eq!(status, 413);
    assert_eq!(
        body["message"],
        "the body is larger than the limit of 64 bytes"
    );
}

#[test]
fn bad_settings_exit_2_naming_the_option() {
    let bad_env = hookrelay()
        .args(["serve"])
        .env("HOOKRELAY_PORT", "abc")
        .timeout(support::DEADLINE)
        .assert()
        .code(2);
    let no_workers = hookrelay()
        .args(["serve", "--port", "0", "--workers", "0"])
        .timeout(support::DEADLINE)
        .assert()
        .code(2);
    let bad_size = hookrelay()
        .args(["serve", "--port", "0", "--max-body-bytes", "lots"])
        .timeout(support::DEADLINE)
        .assert()
        .code(2);

    let text = |a: &assert_cmd::assert::Assert| {
        String::from_utf8_lossy(&a.get_output().stderr).into_owned()
    };
    assert!(
        text(&bad_env).starts_with("hookrelay: error: invalid value 'abc' for '--port <PORT>'"),
        "{}",
        text(&bad_env)
    );
    assert!(
        text(&no_workers).contains("'--workers <N>'"),
        "{}",
        text(&no_workers)
    );
    assert!(
        text(&bad_size).contains("expected a size like 1048576, 64KiB or 1MiB"),
        "{}",
        text(&bad_size)
    );
}

#[tokio::test]
async fn keep_secret_headers_keeps_authorization_from_the_flag_or_the_environment() {
    let redacting = Served::start(&[]);
    let by_flag = Served::start(&["--keep-secret-headers"]);
    let by_env = Served::start_with_env(&[], &[("HOOKRELAY_KEEP_SECRET_HEADERS", "true")]);
    let mut seen = Vec::new();
    for server in [&redacting, &by_flag, &by_env] {
        let status = reqwest::Client::new()
            .post(server.url("/webhook"))
            .header("content-type", "application/json")
            .header("authorization", "Bearer s3cret")
            .body(event(1))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        let (_, stored) = get_json(&server.url("/events/evt_1")).await;
        let value = stored["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|pair| pair[0] == "authorization")
            .map(|pair| pair[1].clone());
        seen.push(value);
    }
    assert_eq!(
        seen,
        [
            Some(json!("[redacted]")),
            Some(json!("Bearer s3cret")),
            Some(json!("Bearer s3cret"))
        ]
    );
}

/// Logs that cannot be written (stderr a pipe nobody reads any more, or a full disk) must
/// not take the server down, stop it answering, or make it deaf to SIGTERM.
#[cfg(unix)]
#[tokio::test]
async fn an_unwritable_stderr_neither_stops_the_server_nor_its_shutdown() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    for sink in ["closed pipe", "/dev/full"] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hookrelay"));
        command
            .args(["serve", "--port", "0"])
            .env_clear()
            // Debug logs: a line for every request, so every request meets the broken stderr.
            .env("HOOKRELAY_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if sink == "closed pipe" {
            command.stderr(Stdio::piped());
        } else {
            command.stderr(std::fs::OpenOptions::new().write(true).open(sink).unwrap());
        }
        let mut child = command.spawn().expect("starting hookrelay serve");
        // Nobody reads the logs from here on.
        drop(child.stderr.take());
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout pipe"))
            .read_line(&mut line)
            .expect("reading the address line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{sink}: {line:?}"))
            .to_string();

        let (status, answer) = post_json(&format!("{base}/webhook"), event(31)).await;
        let (_, stored) = get_json(&format!("{base}/events/31")).await;
        sigterm(child.id());
        let deadline = std::time::Instant::now() + support::DEADLINE;
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("waiting for serve") {
                break exit;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("{sink}: still running after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(10));
        };

        assert_eq!(status, 200, "{sink}: {answer}");
        assert_eq!(stored["event_id"], 31, "{sink}: {stored}");
        assert_eq!(exit.code(), Some(0), "{sink}: {exit}");
    }
}

/// Without TLS there is nothing for SIGHUP to reload: it must not end the server (its
/// default action), which would take a memory store's events with it.
#[tokio::test]
async fn sighup_without_tls_changes_nothing() {
    let mut server = Served::start(&[]);
    let (status, _) = post_json(&server.url("/webhook"), event(61)).await;
    assert_eq!(status, 200);

    let hup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let deadline = std::time::Instant::now() + support::DEADLINE;
    while !server.stderr().contains("SIGHUP") {
        assert!(
            std::time::Instant::now() < deadline,
            "no word of the SIGHUP: {}",
            server.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let (_, kept) = get_json(&server.url("/events/61")).await;
    server.signal_term();
    let status = server.wait();

    assert_eq!(kept["event_id"], 61, "{kept}");
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
}

/// A fresh server's `/metrics` has every family of refusals, cut-offs and drops at zero,
/// so that alert rules over `rate()` or `absent()` see them before the first one happens.
#[tokio::test]
async fn a_fresh_server_reports_its_refusal_and_drop_counters_at_zero() {
    let server = Served::start(&[]);
    let text = support::get_text(&reqwest::Client::new(), &server.url("/metrics")).await;
    for series in [
        r#"hookrelay_signature_failures_total{reason="no_matching_signature"} 0"#,
        r#"hookrelay_admin_refused_total{reason="wrong_token"} 0"#,
        r#"hookrelay_requests_rejected_total{reason="overload"} 0"#,
        "hookrelay_streams_open 0",
        "hookrelay_streams_cut_total 0",
        "hookrelay_stream_updates_dropped_total 0",
        "hookrelay_endpoints_auto_disabled_total 0",
        "hookrelay_deliveries_dropped_total 0",
    ] {
        assert!(text.lines().any(|l| l == series), "{series} in\n{text}");
    }
}
