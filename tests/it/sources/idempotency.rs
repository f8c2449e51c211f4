//! A Standard Webhooks (or Svix) delivery retried to `--source standard`: the provider
//! sends the same `webhook-id` and the same bytes again with a later timestamp and a new
//! signature. Every retry is answered as a duplicate of the one event kept; the same id with
//! other bytes is a conflict (409) and changes nothing. In the memory store, with the event
//! already evicted, and in SQLite and PostgreSQL, across a restart.

use serde_json::Value;

use super::providers::{WHSEC, standard_headers};
use super::{get, now, post, serve};
use crate::support::Served;

const BODY: &[u8] = br#"{"type":"invoice.paid","data":{"id":"in_1","amount":4200}}"#;
const CHANGED: &[u8] = br#"{"type":"invoice.paid","data":{"id":"in_1","amount":1}}"#;

/// The events kept under `id`, by listing them all.
fn kept_under(base: &str, id: &str) -> usize {
    let (status, listed) = get(&format!("{base}/events?limit=1000"));
    assert_eq!(status, 200, "{listed}");
    listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["id"] == id)
        .count()
}

/// The Svix header names for the same message.
fn svix(headers: Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    headers
        .into_iter()
        .map(|(name, value)| (name.replacen("webhook-", "svix-", 1).leak() as &str, value))
        .collect()
}

fn assert_duplicate(answer: &(u16, Value), id: &str) {
    assert_eq!(answer.0, 200, "{answer:?}");
    assert_eq!(answer.1["id"], id, "{answer:?}");
    assert_eq!(answer.1["event_type"], "invoice.paid", "{answer:?}");
    assert_eq!(answer.1["duplicate"], true, "{answer:?}");
}

/// The first delivery, a retry of it, a Svix-named retry, and a changed body under the same
/// id; one event is kept, with the first bytes.
fn first_and_retries(serve: &Served, id: &str) {
    let url = serve.url("/webhook");
    let first = post(&url, &standard_headers(id, now(), BODY), BODY);
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(first.1["id"], id, "{first:?}");
    assert_eq!(first.1.get("duplicate"), None, "{first:?}");
    retried(serve, id);
}

/// Retries of the delivery `id` (already acknowledged) and a changed body under its id.
fn retried(serve: &Served, id: &str) {
    let url = serve.url("/webhook");
    let retry = post(&url, &standard_headers(id, now() + 1, BODY), BODY);
    assert_duplicate(&retry, id);
    let retry = post(&url, &svix(standard_headers(id, now() + 2, BODY)), BODY);
    assert_duplicate(&retry, id);
    let (status, conflict) = post(&url, &standard_headers(id, now(), CHANGED), CHANGED);
    assert_eq!(status, 409, "{conflict}");
    assert_eq!(conflict["error"], "conflict", "{conflict}");
    let base = serve.url("");
    assert_eq!(kept_under(&base, id), 1);
    let kept = super::runtime().block_on(async {
        reqwest::get(format!("{base}/events/{id}/body"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    });
    assert_eq!(&kept[..], BODY, "the first bytes are kept");
}

#[test]
fn a_retried_standard_webhook_is_one_event_in_the_memory_store_even_once_evicted() {
    let serve = serve(&[
        "--source",
        "standard",
        "--secret",
        WHSEC,
        "--max-events",
        "2",
    ]);
    first_and_retries(&serve, "msg_retried");
    let url = serve.url("/webhook");
    for other in ["msg_other_1", "msg_other_2"] {
        let body = br#"{"type":"invoice.created"}"#;
        assert_eq!(
            post(&url, &standard_headers(other, now(), body), body).0,
            200
        );
    }
    let base = serve.url("");
    assert_eq!(
        kept_under(&base, "msg_retried"),
        0,
        "evicted by the two others"
    );
    // Its webhook-id is still remembered: a late retry makes no second event.
    let late = post(&url, &standard_headers("msg_retried", now(), BODY), BODY);
    assert_duplicate(&late, "msg_retried");
    assert_eq!(kept_under(&base, "msg_retried"), 0);
    let (status, conflict) = post(
        &url,
        &standard_headers("msg_retried", now(), CHANGED),
        CHANGED,
    );
    assert_eq!(status, 409, "{conflict}");
}

#[test]
fn a_retried_standard_webhook_is_one_event_in_sqlite_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("events.db").display());
    let args = ["--source", "standard", "--secret", WHSEC, "--store", &store];
    let first = serve(&args);
    first_and_retries(&first, "msg_retried");
    drop(first);
    let restarted = serve(&args);
    retried(&restarted, "msg_retried");
}

#[test]
fn a_retried_standard_webhook_is_one_event_in_postgres_across_a_restart() {
    use hookrelay::server::postgres::testdb::TestDb;
    let runtime = super::runtime();
    let Some(db) = runtime.block_on(TestDb::create()) else {
        return;
    };
    let args = [
        "--source", "standard", "--secret", WHSEC, "--store", &db.url,
    ];
    let first = serve(&args);
    first_and_retries(&first, "msg_retried");
    // A second instance on the same database answers a retry the same way.
    let second = serve(&args);
    retried(&second, "msg_retried");
    drop((first, second));
    let restarted = serve(&args);
    retried(&restarted, "msg_retried");
}
