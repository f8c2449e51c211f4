//! `POST /webhook`: each row of the table in DESIGN §3, one JSON error shape.

use hookrelay::server::Config;
use hookrelay::server::store::EventStore;
use serde_json::{Value, json};

use super::ids;
use crate::support::{self, App, event, event_of_type, raw_http};

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

/// Event 1 of [`event`], gzipped (`gzip.compress(…, mtime=0)`).
pub const GZIPPED_EVENT: &[u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xab\x56\x4a\x2d\x4b\xcd\x2b\x89\xcf\x4c\x51\xb2\x32\xd4\x51\x2a\xc9\xcc\x4d\x2d\x2e\x49\xcc\x2d\x50\xb2\x52\x32\x32\x30\x32\xd6\x35\x34\xd0\x35\x30\x0d\x31\x34\xb2\x32\x36\xb1\x32\x35\x53\xd2\x81\x2a\x2f\xa9\x2c\x48\x05\x2a\xc9\xcb\x2f\xc9\x4c\xcb\x4c\x4e\x2c\xc9\xcc\xcf\x53\xaa\x05\x00\x6d\x96\x4e\xb0\x4c\x00\x00\x00";

#[tokio::test]
async fn a_compressed_body_is_415_naming_its_content_encoding_and_nothing_is_stored() {
    let app = App::start().await;
    let post = |encoding: &'static str, body: Vec<u8>| {
        let request = app
            .client
            .post(app.url("/webhook"))
            .header("content-type", "application/json")
            .header("content-encoding", encoding)
            .body(body);
        async move { support::app::answer(request.send().await.unwrap()).await }
    };

    for encoding in ["gzip", "br", "deflate", "identity, gzip", "x-custom"] {
        let (status, body) = post(encoding, GZIPPED_EVENT.to_vec()).await;
        assert_eq!(status, 415, "{encoding}: {body}");
        assert_eq!(body["status"], "error");
        assert_eq!(body["error"], "unsupported_media_type");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains("Content-Encoding") && message.contains(encoding),
            "{encoding}: {message}"
        );
        assert!(message.contains("only identity"), "{message}");
    }
    assert_eq!(app.store.stats().await.unwrap().events, 0, "nothing stored");
    let refused = app
        .client
        .post(app.url("/webhook"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(GZIPPED_EVENT)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused
            .headers()
            .get("accept-encoding")
            .map(|v| v.as_bytes()),
        Some(&b"identity"[..]),
        "the answer says which coding is taken (RFC 9110 §15.5.16)"
    );
    let metrics = app.text("/metrics").await;
    assert!(
        metrics.contains(r#"hookrelay_events_received_total{result="unsupported_media_type"}"#),
        "{metrics}"
    );

    let (status, body) = post("identity", event(1).into_bytes()).await;
    assert_eq!(status, 200, "identity is no encoding at all: {body}");
    assert_eq!(app.store.stats().await.unwrap().events, 1);
}

#[tokio::test]
async fn a_body_at_the_limit_is_accepted_and_one_byte_more_is_413() {
    let config = Config {
        max_body_bytes: 1024,
        ..Config::default()
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
        ..Config::default()
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

    // Any text names an event (a provider's id is not an integer): absent is 404.
    let (absent, body) = app.get("/events/abc").await;
    assert_eq!(absent, 404);
    assert_eq!(body["error"], "not_found");
}

/// Without `--verify` nothing vouches for a `webhook-id`: a reused one must neither turn
/// another event into a "duplicate" that is never stored nor hide a changed body.
#[tokio::test]
async fn an_unverified_webhook_id_never_drops_an_event() {
    let app = App::start().await;
    let post = |body: String| {
        app.client
            .post(app.url("/webhook"))
            .header("content-type", "application/json")
            .header("webhook-id", "evt_900")
            .body(body)
            .send()
    };
    let first = post(event(900)).await.unwrap();
    assert_eq!(first.status(), 200);

    let other = post(event(902)).await.unwrap();
    assert_eq!(other.status(), 200);
    let answer: Value = other.json().await.unwrap();
    assert_eq!(answer, json!({"status": "success", "event_id": 902}));
    let (status, stored) = app.get("/events/902").await;
    assert_eq!(status, 200, "{stored}");

    let changed = post(event_of_type(900, "changed")).await.unwrap();
    assert_eq!(changed.status(), 409);
    let (_, list) = app.get("/events").await;
    assert_eq!(ids(&list), [900, 902]);
}

/// A receiver verifying Standard Webhooks signatures, and a signer with its secret.
async fn verifying() -> (App, hookrelay::alert::signing::Signer) {
    use hookrelay::alert::signing::{Secret, Signer};
    use hookrelay::server::verify::{Scheme, Verification};

    let secret = Secret::generate().expect("a secret");
    let config = Config {
        verify: Some(Verification {
            scheme: Scheme::Standard,
            secrets: vec![secret.clone()],
            tolerance: Default::default(),
        }),
        ..Config::default()
    };
    let signer = Signer::new(vec![secret]).expect("a signer");
    (App::with(config, 100).await, signer)
}

/// POSTs `body` to /webhook with `content_type` and `headers`; the status and the answer.
async fn post_with(
    app: &App,
    content_type: &str,
    headers: http::HeaderMap,
    body: String,
) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/webhook"))
        .header("content-type", content_type)
        .headers(headers)
        .body(body)
        .send()
        .await
        .unwrap();
    support::app::answer(response).await
}

#[tokio::test]
async fn with_verify_a_badly_signed_request_is_401_whatever_its_content_type() {
    let (app, signer) = verifying().await;
    let id = hookrelay::alert::signing::MessageId::new("msg_1").unwrap();
    let body = event(31);
    let mut forged = signer.headers(&id, body.as_bytes());
    let other = signer.headers(&id, b"another body");
    forged.insert("webhook-signature", other["webhook-signature"].clone());

    let (unsigned, unsigned_body) =
        post_with(&app, "text/plain", Default::default(), "not json".into()).await;
    let (bad, bad_body) = post_with(&app, "text/plain", forged, body.clone()).await;
    let (good, good_body) = post_with(
        &app,
        "text/plain",
        signer.headers(&id, body.as_bytes()),
        body,
    )
    .await;

    assert_eq!(unsigned, 401, "{unsigned_body}");
    assert_eq!(bad, 401, "{bad_body}");
    assert_eq!(bad_body["error"], "invalid_signature");
    assert_eq!(good, 415, "{good_body}");
    assert_eq!(good_body["error"], "unsupported_media_type");
    assert_eq!(app.store.stats().await.unwrap().events, 0);
}

#[tokio::test]
async fn with_verify_only_a_verified_request_learns_that_its_event_is_invalid() {
    let (app, signer) = verifying().await;
    let id = hookrelay::alert::signing::MessageId::new("msg_2").unwrap();
    let invalid = r#"{"event_id": "x"}"#.to_string();

    let (unsigned, _) = post_with(
        &app,
        "application/json",
        Default::default(),
        invalid.clone(),
    )
    .await;
    let signed = signer.headers(&id, invalid.as_bytes());
    let (verified, body) = post_with(&app, "application/json", signed, invalid).await;

    assert_eq!(unsigned, 401);
    assert_eq!(verified, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_shuts_its_side_after_sending_still_gets_its_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let served = support::process::Served::start(&[]);
    let addr = served.url("").trim_start_matches("http://").to_string();
    for (i, request) in [
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
        {
            let body = event(7);
            format!(
                "POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        },
    ]
    .iter()
    .enumerate()
    {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        // As `nc -N` or socat do: nothing more to send.
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            stream.read_to_string(&mut answer),
        )
        .await
        .expect("the answer comes")
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "request {i}: {answer:?}");
    }
}
