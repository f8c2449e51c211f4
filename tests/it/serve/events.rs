//! Reading events back: listing, filters, cursor paging, one event and its body, health,
//! and writes from many tasks at once.

use hookrelay::server::Config;
use serde_json::{Value, json};

use super::{ids, query};
use crate::support::{App, event, event_of_type};

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
        json!({"status": "error", "error": "not_found", "message": "no event with id \"2\""})
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

/// POSTs event `id` with extra headers, in order; the answer's status.
async fn post_with(app: &crate::support::App, id: i64, headers: &[(&str, &str)]) -> u16 {
    let mut request = app
        .client
        .post(app.url("/webhook"))
        .header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(event(id))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn header_values<'a>(event: &'a Value, name: &str) -> Vec<&'a str> {
    event["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_event_is_found_by_its_string_id_or_its_event_id_with_its_headers() {
    let app = App::start().await;
    let sent = [
        ("x-first", "1"),
        ("authorization", "Bearer s3cret"),
        ("cookie", "session=abc"),
        ("proxy-authorization", "Basic dTpw"),
        ("x-second", "2"),
    ];
    assert_eq!(post_with(&app, 5, &sent).await, 200);

    let (status, by_id) = app.get("/events/evt_5").await;
    let (_, by_number) = app.get("/events/5").await;
    let (_, listed) = app.get("/events").await;

    assert_eq!(status, 200);
    assert_eq!(by_id, by_number);
    assert_eq!(listed["events"][0], by_id, "the listing shows the same");
    assert_eq!(
        (&by_id["id"], &by_id["event_id"]),
        (&json!("evt_5"), &json!(5))
    );
    assert_eq!(header_values(&by_id, "content-type"), ["application/json"]);
    assert_eq!(header_values(&by_id, "x-first"), ["1"]);
    for secret in ["authorization", "cookie", "proxy-authorization"] {
        assert_eq!(header_values(&by_id, secret), ["[redacted]"], "{secret}");
    }
    let names: Vec<&str> = by_id["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| pair[0].as_str().unwrap())
        .collect();
    let at = |name| names.iter().position(|n| *n == name).unwrap();
    assert!(at("x-first") < at("authorization") && at("authorization") < at("x-second"));
    assert_eq!(by_id["headers_truncated"], false);
    assert_eq!(
        by_id["signature"],
        Value::Null,
        "no --verify, nothing verified"
    );
    let body = app.text("/events/evt_5/body").await;
    assert_eq!(body, event(5));
    let (absent, _) = app.get("/events/evt_6").await;
    assert_eq!(absent, 404);
}

#[tokio::test]
async fn secret_header_values_are_kept_only_when_asked() {
    let config = Config {
        keep_secret_headers: true,
        ..Config::default()
    };
    let app = App::with(config, 100).await;
    post_with(
        &app,
        1,
        &[("authorization", "Bearer s3cret"), ("cookie", "a=b")],
    )
    .await;

    let (_, stored) = app.get("/events/1").await;

    assert_eq!(header_values(&stored, "authorization"), ["Bearer s3cret"]);
    assert_eq!(header_values(&stored, "cookie"), ["a=b"]);
}

#[tokio::test]
async fn headers_beyond_16_kib_are_cut_and_the_event_says_so() {
    let app = App::start().await;
    let big = "v".repeat(1000);
    let names: Vec<String> = (0..20).map(|i| format!("x-big-{i:02}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), big.as_str())).collect();
    assert_eq!(post_with(&app, 1, &headers).await, 200);

    let (_, stored) = app.get("/events/1").await;

    assert_eq!(stored["headers_truncated"], true);
    let pairs = stored["headers"].as_array().unwrap();
    let kept: usize = pairs
        .iter()
        .map(|p| p[0].as_str().unwrap().len() + p[1].as_str().unwrap().len())
        .sum();
    assert!(kept <= 16 * 1024, "{kept} bytes kept");
    let bigs: Vec<&str> = pairs
        .iter()
        .map(|p| p[0].as_str().unwrap())
        .filter(|n| n.starts_with("x-big-"))
        .collect();
    assert!((14..20).contains(&bigs.len()), "{bigs:?}");
    assert_eq!(
        bigs,
        names[..bigs.len()],
        "the first ones are kept, in order"
    );
}

/// Ids as senders make them (`--source json --id-from /id`): `stream`, which is also the
/// last segment of the event stream's path, and ids that a path must percent-encode.
#[tokio::test]
async fn every_string_id_can_be_read_back_including_stream_and_ids_with_slashes_percents_and_spaces()
 {
    let served = crate::support::Served::start(&[
        "--source",
        "json",
        "--id-from",
        "/id",
        "--type-from",
        "/type",
    ]);
    let client = reqwest::Client::new();
    let ids = ["stream", "a/b", "100%", "with space", "x?y#z"];
    let body = |id: &str| format!("{{\"id\":{},\"type\":\"odd.ids\"}}", json!(id));
    for id in ids {
        let answer = client
            .post(served.url("/webhook"))
            .header("content-type", "application/json")
            .body(body(id))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200, "posting id {id:?}");
    }
    let get = |path: String| {
        let client = client.clone();
        let url = served.url(&path);
        async move {
            let response = client.get(&url).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.text().await.unwrap())
        }
    };

    // GET /events/stream stays the event stream; ?id= names the event called stream.
    let stream = client
        .get(served.url("/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    drop(stream);
    for id in ids {
        let encoded: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        let (status, page) = get(format!("/events?id={encoded}")).await;
        assert_eq!(status, 200, "{page}");
        let page: Value = serde_json::from_str(&page).unwrap();
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "?id={encoded}: {page}");
        assert_eq!(events[0]["id"], id);
        assert_eq!(
            events[0]["body"],
            serde_json::from_str::<Value>(&body(id)).unwrap()
        );

        // As one path segment: every character but the unreserved ones percent-encoded.
        let segment = utf8_percent_encode(id);
        let (status, body_bytes) = get(format!("/events/{segment}/body")).await;
        assert_eq!(
            (status, body_bytes),
            (200, body(id)),
            "/events/{segment}/body"
        );
        if id != "stream" {
            let (status, shown) = get(format!("/events/{segment}")).await;
            assert_eq!(status, 200, "/events/{segment}: {shown}");
            assert_eq!(serde_json::from_str::<Value>(&shown).unwrap()["id"], id);
        }
    }
    let (status, page) = get("/events?id=nope".into()).await;
    assert_eq!(
        (status, page.as_str()),
        (200, r#"{"events":[],"next_cursor":null}"#)
    );
    // The other filters still apply to the one event.
    let (_, page) = get("/events?id=stream&event_type=other".into()).await;
    assert_eq!(
        serde_json::from_str::<Value>(&page).unwrap()["events"],
        json!([])
    );
}

/// `text` with every byte outside RFC 3986's unreserved set percent-encoded.
fn utf8_percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
