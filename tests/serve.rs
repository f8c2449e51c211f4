//! `hookrelay serve`: every answer of `POST /webhook`, reading events back, the bounded
//! store, concurrency, and the process itself (address line, env vars, port in use, SIGTERM).

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use hookrelay::server::Config;
use hookrelay::server::store::EventStore;
use serde_json::{Value, json};
use support::{
    App, Served, event, event_of_type, get_json, hookrelay, post_json, raw_http, unused_port,
};

fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/events?{}", q.finish())
}

fn ids(page: &Value) -> Vec<i64> {
    page["events"]
        .as_array()
        .expect("an events array")
        .iter()
        .map(|e| e["event_id"].as_i64().expect("an event_id"))
        .collect()
}

// ---- POST /webhook ----

#[tokio::test]
async fn a_valid_event_is_answered_200_and_stored() {
    let app = App::start().await;

    let (status, body) = app.post(event(123)).await;

    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "success", "event_id": 123}));
    let (status, list) = app.get("/events").await;
    assert_eq!(status, 200);
    assert_eq!(ids(&list), [123]);
    let stored = &list["events"][0];
    assert_eq!(stored["event_type"], "notification");
    assert_eq!(stored["timestamp"], "2023-10-05T12:34:56");
    assert_eq!(stored["description"], "Event description");
}

#[tokio::test]
async fn the_same_event_again_is_a_duplicate_and_is_not_stored_twice() {
    let app = App::start().await;
    app.post(event(7)).await;

    let (status, body) = app.post(event(7)).await;

    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "success", "event_id": 7, "duplicate": true})
    );
    let (_, list) = app.get("/events").await;
    assert_eq!(ids(&list), [7]);
}

#[tokio::test]
async fn the_same_id_with_another_body_is_409_and_the_first_event_stays() {
    let app = App::start().await;
    let first = event_of_type(5, "first");
    app.post(first.clone()).await;

    let (status, body) = app.post(event_of_type(5, "second")).await;

    assert_eq!(status, 409);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "conflict");
    assert!(
        body["message"].as_str().unwrap().contains("event 5"),
        "{body}"
    );
    let kept = app
        .client
        .get(app.url("/events/5/body"))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.text().await.unwrap(), first);
    assert_eq!(app.store.stats().await.unwrap().events, 1);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_400_with_line_and_column() {
    let app = App::start().await;

    let (status, body) = app.post("{\n  \"event_id\": 1,\n  \"timestamp\": }").await;

    assert_eq!(status, 400);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "malformed_json");
    assert_eq!(body["line"], 3);
    assert_eq!(body["column"], 16);
    assert_eq!(
        body["message"],
        "invalid JSON at line 3, column 16: expected value"
    );
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_400_not_a_server_error() {
    let app = App::start().await;

    let (status, body) = app.post(b"{\"event_id\": \xff}".to_vec()).await;

    assert_eq!(status, 400);
    assert_eq!(body["error"], "malformed_json");
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(1), Some(14))
    );
}

#[tokio::test]
async fn a_content_type_other_than_json_is_415() {
    let app = App::start().await;
    let post = |content_type: Option<&'static str>| {
        let mut request = app.client.post(app.url("/webhook")).body(event(1));
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        async move { support::app::answer(request.send().await.unwrap()).await }
    };

    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let (status, body) = post(content_type).await;
        assert_eq!(status, 415, "{content_type:?}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"], "unsupported_media_type");
    }
    let (status, _) = post(Some("application/json; charset=utf-8")).await;
    assert_eq!(status, 200, "a charset parameter is still JSON");
    assert_eq!(app.store.stats().await.unwrap().events, 1);
}

#[tokio::test]
async fn a_body_at_the_limit_is_accepted_and_one_byte_more_is_413() {
    let config = Config {
        max_body_bytes: 1024,
    };
    let app = App::with(config, 100).await;
    let padded = |id: i64, len: usize| {
        let head = format!(
            r#"{{"event_id":{id},"timestamp":"2023-10-05T12:34:56","event_type":"t","description":""#
        );
        let pad = "x".repeat(len - head.len() - 2);
        format!("{head}{pad}\"}}")
    };
    assert_eq!(padded(1, 1024).len(), 1024);

    let (at_limit, _) = app.post(padded(1, 1024)).await;
    let (over, body) = app.post(padded(2, 1025)).await;

    assert_eq!(at_limit, 200);
    assert_eq!(over, 413);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(
        body["message"],
        "the body is larger than the limit of 1024 bytes"
    );
}

#[tokio::test]
async fn a_declared_content_length_over_the_limit_is_413_before_the_body_is_sent() {
    let app = App::start().await;
    // Headers only: the 2 MB body never comes, so only Content-Length can decide.
    let request = format!(
        "POST /webhook HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 2000000\r\nConnection: close\r\n\r\n",
        app.addr
    );

    let response = raw_http(app.addr, request.as_bytes()).await;

    assert_eq!(response.status, 413, "{response:?}");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "payload_too_large");
}

fn chunked(addr: std::net::SocketAddr, body: &str, chunk: usize) -> Vec<u8> {
    let mut request = format!(
        "POST /webhook HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for piece in body.as_bytes().chunks(chunk) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    request
}

#[tokio::test]
async fn a_chunked_body_without_content_length_is_413_once_it_passes_the_limit() {
    let config = Config {
        max_body_bytes: 1024,
    };
    let app = App::with(config, 100).await;
    let big = format!(
        r#"{{"event_id":1,"timestamp":"2023-10-05T12:34:56","event_type":"t","description":"{}"}}"#,
        "x".repeat(4000)
    );

    let response = raw_http(app.addr, &chunked(app.addr, &big, 512)).await;

    assert_eq!(response.status, 413, "{response:?}");
    let body: Value = serde_json::from_str(&response.body).unwrap();
    assert_eq!(body["error"], "payload_too_large");
    assert_eq!(app.store.stats().await.unwrap().events, 0);
}

#[tokio::test]
async fn a_chunked_body_within_the_limit_is_stored_byte_for_byte() {
    let app = App::start().await;
    let body = event(44);

    let response = raw_http(app.addr, &chunked(app.addr, &body, 16)).await;

    assert_eq!(response.status, 200, "{response:?}");
    let stored = app
        .client
        .get(app.url("/events/44/body"))
        .send()
        .await
        .unwrap();
    assert_eq!(stored.text().await.unwrap(), body);
}

#[tokio::test]
async fn schema_errors_are_422_listing_every_problem_with_its_field() {
    let app = App::start().await;

    let (status, body) = app
        .post(r#"{"event_id": "12", "timestamp": "2023-10-05", "event_type": ""}"#)
        .await;

    assert_eq!(status, 422);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "validation_failed");
    assert_eq!(
        body["details"],
        json!([
            {"field": "event_id", "message": "expected an integer, got string \"12\""},
            {"field": "timestamp", "message": "expected an ISO 8601 date-time such as \"2023-10-05T12:34:56\" (seconds, a fraction and an offset like Z or +02:00 are optional), got \"2023-10-05\" (a date alone has no time)"},
            {"field": "event_type", "message": "expected a non-empty string, got an empty string"},
            {"field": "description", "message": "required field is missing"},
        ])
    );
    assert_eq!(app.store.stats().await.unwrap().events, 0);
}

#[tokio::test]
async fn a_top_level_array_or_scalar_is_422_not_an_event() {
    let app = App::start().await;

    for (payload, got) in [
        (format!("[{}]", event(1)), "array"),
        ("42".into(), "number 42"),
    ] {
        let (status, body) = app.post(payload).await;
        assert_eq!(status, 422);
        assert_eq!(
            body["details"],
            json!([{"field": "", "message": format!("expected a JSON object, got {got}")}])
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_same_error_shape() {
    let app = App::start().await;

    let (not_found, body) = app.get("/nope").await;
    assert_eq!(not_found, 404);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], "not_found");

    let (not_allowed, body) = app.get("/webhook").await;
    assert_eq!(not_allowed, 405);
    assert_eq!(body["error"], "method_not_allowed");

    let (bad_id, body) = app.get("/events/abc").await;
    assert_eq!(bad_id, 400);
    assert_eq!(body["error"], "bad_request");
}

// ---- reading events back ----

#[tokio::test]
async fn events_are_listed_oldest_first_and_filtered_by_type() {
    let app = App::start().await;
    for id in 1..=6 {
        let kind = if id % 2 == 0 { "even" } else { "odd" };
        app.post(event_of_type(id, kind)).await;
    }

    let (_, all) = app.get("/events").await;
    let (_, even) = app.get("/events?event_type=even").await;
    let (_, none) = app.get("/events?event_type=missing").await;
    let (_, first_two) = app.get("/events?limit=2").await;

    assert_eq!(ids(&all), [1, 2, 3, 4, 5, 6]);
    assert_eq!(all["next_cursor"], Value::Null);
    assert_eq!(ids(&even), [2, 4, 6]);
    assert_eq!(ids(&none), Vec::<i64>::new());
    assert_eq!(ids(&first_two), [1, 2]);
    assert!(first_two["next_cursor"].is_string());
}

#[tokio::test]
async fn cursor_paging_walks_every_event_once() {
    let app = App::start().await;
    for id in 1..=25 {
        let kind = if id % 3 == 0 { "third" } else { "other" };
        app.post(event_of_type(id, kind)).await;
    }

    let walk = |filter: Option<&'static str>| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            let mut pages = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut pairs = vec![("limit", "4")];
                if let Some(t) = filter {
                    pairs.push(("event_type", t));
                }
                if let Some(c) = &cursor {
                    pairs.push(("cursor", c.as_str()));
                }
                let (status, page) = app.get(&query(&pairs)).await;
                assert_eq!(status, 200, "{page}");
                pages.push(ids(&page).len());
                seen.extend(ids(&page));
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_string()),
                    None => break,
                }
                assert!(pages.len() < 50, "paging does not end");
            }
            (seen, pages)
        }
    };

    let (all, pages) = walk(None).await;
    assert_eq!(all, (1..=25).collect::<Vec<_>>());
    assert_eq!(pages, [4, 4, 4, 4, 4, 4, 1]);
    let (thirds, _) = walk(Some("third")).await;
    assert_eq!(thirds, [3, 6, 9, 12, 15, 18, 21, 24]);
}

#[tokio::test]
async fn since_keeps_events_received_at_or_after_an_instant() {
    let app = App::start().await;
    for id in 1..=3 {
        app.post(event(id)).await;
    }
    let (_, all) = app.get("/events").await;
    let second = all["events"][1]["received_at"]
        .as_str()
        .unwrap()
        .to_string();
    let as_plus_two = chrono::DateTime::parse_from_rfc3339(&second)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);

    let (_, from_second) = app.get(&query(&[("since", &second)])).await;
    let (_, same_in_plus_two) = app.get(&query(&[("since", &as_plus_two)])).await;
    let (_, future) = app.get(&query(&[("since", "2999-01-01")])).await;
    let (bad, body) = app.get(&query(&[("since", "yesterday")])).await;

    assert_eq!(ids(&from_second), [2, 3]);
    assert_eq!(ids(&same_in_plus_two), [2, 3], "since={as_plus_two}");
    assert_eq!(ids(&future), Vec::<i64>::new());
    assert_eq!(bad, 400);
    assert_eq!(body["error"], "bad_request");
}

#[tokio::test]
async fn bad_limits_and_cursors_are_400() {
    let app = App::start().await;

    for path in [
        "/events?limit=0",
        "/events?limit=1001",
        "/events?limit=ten",
        "/events?cursor=abc",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}");
        assert_eq!(body["status"], "error", "{path}");
    }
}

#[tokio::test]
async fn one_event_shows_its_fields_and_its_original_body() {
    let app = App::start().await;
    // Odd spacing, an escape and an extra field: kept exactly as sent.
    let original = "{ \"event_id\" : 9,\n \"timestamp\": \"2023-10-05t12:34:56.5+0200\", \
                    \"event_type\": \"caf\\u00e9\", \"description\": \"\", \"extra\": [1, 2] }";
    app.post(original).await;

    let (status, shown) = app.get("/events/9").await;
    let raw = app.client.get(app.url("/events/9")).send().await.unwrap();
    let raw_text = raw.text().await.unwrap();
    let body = app
        .client
        .get(app.url("/events/9/body"))
        .send()
        .await
        .unwrap();
    let content_type = body.headers()["content-type"].to_str().unwrap().to_string();
    let body_bytes = body.bytes().await.unwrap();

    assert_eq!(status, 200);
    assert_eq!(shown["event_id"], 9);
    assert_eq!(shown["event_type"], "café");
    assert_eq!(shown["timestamp"], "2023-10-05t12:34:56.5+0200");
    assert_eq!(shown["description"], "");
    assert_eq!(shown["body"]["extra"], json!([1, 2]));
    assert!(
        chrono::DateTime::parse_from_rfc3339(shown["received_at"].as_str().unwrap()).is_ok(),
        "{shown}"
    );
    assert!(
        raw_text.contains(original.trim()),
        "the body is embedded verbatim: {raw_text}"
    );
    assert_eq!(content_type, "application/json");
    assert_eq!(&body_bytes[..], original.as_bytes());
}

#[tokio::test]
async fn an_absent_event_is_404_in_both_views() {
    let app = App::start().await;
    app.post(event(1)).await;

    let (status, body) = app.get("/events/2").await;
    let (body_status, _) = app.get("/events/2/body").await;

    assert_eq!(status, 404);
    assert_eq!(body_status, 404);
    assert_eq!(
        body,
        json!({"status": "error", "error": "not_found", "message": "no event with event_id 2"})
    );
}

#[tokio::test]
async fn healthz_answers_200_with_the_store_counts() {
    let app = App::with(Config::default(), 2).await;
    for id in 1..=3 {
        app.post(event(id)).await;
    }

    let (status, body) = app.get("/healthz").await;

    assert_eq!(status, 200);
    assert_eq!(body, json!({"status": "ok", "events": 2, "evicted": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posts_are_all_stored_none_lost() {
    let app = App::start().await;
    let url = app.url("/webhook");
    let mut tasks = Vec::new();
    for task in 0..50i64 {
        let client = app.client.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 0..100i64 {
                let response = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(event(task * 100 + n))
                    .send()
                    .await
                    .expect("POST");
                statuses.push(response.status().as_u16());
            }
            statuses
        }));
    }

    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }

    assert_eq!(statuses.len(), 5000);
    assert!(statuses.iter().all(|&s| s == 200));
    let (_, health) = app.get("/healthz").await;
    assert_eq!(health["events"], 5000);
    let mut stored = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = app
            .get(&query(&[("limit", "1000"), ("cursor", &cursor)]))
            .await;
        stored.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    stored.sort_unstable();
    assert_eq!(stored, (0..5000).collect::<Vec<_>>());
}

// ---- the process ----

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

#[tokio::test]
async fn ctrl_c_stops_promptly_even_with_idle_connections_open() {
    let mut server = Served::start(&["--workers", "1"]);
    // A client that keeps its connection alive after a request, and one that never speaks.
    let keep_alive = reqwest::Client::new();
    let (status, _) =
        support::app::answer(keep_alive.get(server.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200);
    let _silent = std::net::TcpStream::connect(server.addr).unwrap();

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
