//! The store contract, checked against every backend: dedup, listing, eviction, the
//! delivery queue and its states, replay. A backend passes these or is not a store.

use std::sync::Arc;

use chrono::{Duration, Utc};

use super::endpoints::{self, Endpoint};
use super::memory::MemoryStore;
use super::postgres::testdb::TestDb;
use super::postgres::{PostgresOptions, PostgresStore};
use super::sqlite::{SqliteOptions, SqliteStore, Sync};
use super::store::{
    AttemptRecord, Claim, DeliveryFilter, DeliveryJob, DeliveryStatus, EventKey, EventQuery,
    EventStore, Headers, Inserted, NewEvent, NextState, Signature, SignatureHeaders,
    SignatureScheme, model_id,
};
use super::store::{EndpointWrite, Put};
use super::verify::Seen;

/// A backend under test, and what must live as long as it.
struct Backend {
    store: Box<dyn EventStore>,
    _dir: Option<tempfile::TempDir>,
    _db: Option<TestDb>,
}

fn memory(capacity: usize, max_pending: usize) -> Backend {
    Backend {
        store: Box::new(MemoryStore::new(capacity, max_pending)),
        _dir: None,
        _db: None,
    }
}

fn sqlite(capacity: usize, max_pending: usize) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(SqliteOptions {
        path: dir.path().join("events.db"),
        sync: Sync::Normal,
        max_events: capacity,
        max_pending,
        retention: None,
    })
    .unwrap();
    Backend {
        store: Box::new(store),
        _dir: Some(dir),
        _db: None,
    }
}

/// A store in a fresh database, or `None` when no PostgreSQL can be reached (see
/// [`TestDb::create`]).
async fn postgres(capacity: usize, max_pending: usize) -> Option<Backend> {
    let db = TestDb::create().await?;
    let store = PostgresStore::open(PostgresOptions::new(&db.url, capacity, max_pending))
        .await
        .unwrap();
    Some(Backend {
        store: Box::new(store),
        _dir: None,
        _db: Some(db),
    })
}

fn body(id: i64, text: &str) -> Vec<u8> {
    format!(r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "{text}"}}"#)
        .into_bytes()
}

async fn put(
    store: &dyn EventStore,
    id: i64,
    kind: &str,
    body: &[u8],
    targets: &[Arc<str>],
) -> Inserted {
    let event = NewEvent {
        id: &model_id(id),
        event_id: Some(id),
        event_type: kind,
        body,
        headers: Headers::default(),
        signature: None,
        targets,
    };
    store.insert(event).await.unwrap()
}

/// Inserts an event with a string id and no `event_id`, as a provider's source does.
async fn put_named(
    store: &dyn EventStore,
    id: &str,
    body: &[u8],
    headers: &Headers,
    targets: &[Arc<str>],
) -> Inserted {
    let event = NewEvent {
        id,
        event_id: None,
        event_type: "push",
        body,
        headers: headers.clone(),
        signature: Some(SIGNED),
        targets,
    };
    store.insert(event).await.unwrap()
}

const SIGNED: Signature = Signature {
    scheme: SignatureScheme::Standard,
    headers: SignatureHeaders::Svix,
    verified: true,
};

fn headers_of(n: usize) -> Headers {
    let value = format!("value-{n}");
    Headers::from_pairs([
        ("host", &b"127.0.0.1:5000"[..]),
        ("x-github-delivery", value.as_bytes()),
        ("x-custom", b"\xff raw"),
    ])
}

async fn job(store: &dyn EventStore, target: &str) -> DeliveryJob {
    match store.claim(target, Utc::now()).await.unwrap() {
        Claim::Job(job) => job,
        idle => panic!("expected a job for {target}, got {idle:?}"),
    }
}

fn attempt(status: u16) -> AttemptRecord {
    AttemptRecord {
        at: Utc::now(),
        status_code: Some(status),
        error: (status != 200).then(|| format!("HTTP {status}")),
        duration_ms: 3,
        next_attempt_at: None,
    }
}

fn count(counts: &super::store::DeliveryCounts, status: DeliveryStatus) -> usize {
    counts
        .by_status
        .iter()
        .find(|(s, _)| *s == status)
        .map_or(0, |(_, n)| *n)
}

async fn dedup_and_conflict(b: Backend) {
    let s = &*b.store;
    assert!(matches!(
        put(s, 1, "t", &body(1, "a"), &[]).await,
        Inserted::New { .. }
    ));
    assert_eq!(
        put(s, 1, "t", &body(1, "a"), &[]).await,
        Inserted::Duplicate
    );
    assert_eq!(put(s, 1, "t", &body(1, "b"), &[]).await, Inserted::Conflict);
    let stored = s.get(EventKey::EventId(1)).await.unwrap().unwrap();
    assert_eq!(
        stored.body,
        body(1, "a"),
        "the first body stays, byte for byte"
    );
    assert_eq!(stored.event_type, "t");
    assert!(s.get(EventKey::EventId(2)).await.unwrap().is_none());
    assert_eq!(s.stats().await.unwrap().events, 1);
}

async fn listing_filters_and_pages(b: Backend) {
    let s = &*b.store;
    for id in 1..=5 {
        let kind = if id % 2 == 0 { "even" } else { "odd" };
        put(s, id, kind, &body(id, ""), &[]).await;
    }
    let all = |after, limit| EventQuery {
        after,
        limit,
        ..Default::default()
    };
    let page = s.list(&all(None, 2)).await.unwrap();
    assert_eq!(
        page.iter().map(|e| e.event_id.unwrap()).collect::<Vec<_>>(),
        [1, 2]
    );
    let next = s.list(&all(Some(page[1].seq), 10)).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.event_id.unwrap()).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    let odd = EventQuery {
        event_type: Some("odd".into()),
        limit: 10,
        ..Default::default()
    };
    let odd = s.list(&odd).await.unwrap();
    assert_eq!(
        odd.iter().map(|e| e.event_id.unwrap()).collect::<Vec<_>>(),
        [1, 3, 5]
    );
    let future = EventQuery {
        since: Some(Utc::now() + Duration::hours(1)),
        limit: 10,
        ..Default::default()
    };
    assert!(s.list(&future).await.unwrap().is_empty());
}

/// Newest first, paged by `before`, filtered by type; eviction moves the oldest end.
async fn listing_newest_first(b: Backend) {
    let s = &*b.store;
    for id in 1..=6 {
        let kind = if id % 2 == 0 { "even" } else { "odd" };
        put(s, id, kind, &body(id, ""), &[]).await;
    }
    let newest = |before, event_type: Option<&str>| EventQuery {
        before,
        event_type: event_type.map(Into::into),
        newest_first: true,
        limit: 2,
        ..Default::default()
    };
    let ids = |events: &[super::store::StoredEvent]| {
        events.iter().filter_map(|e| e.event_id).collect::<Vec<_>>()
    };
    // Capacity 5: event 1 is gone.
    let page = s.list(&newest(None, None)).await.unwrap();
    assert_eq!(ids(&page), [6, 5]);
    let page = s.list(&newest(Some(page[1].seq), None)).await.unwrap();
    assert_eq!(ids(&page), [4, 3]);
    let page = s.list(&newest(Some(page[1].seq), None)).await.unwrap();
    assert_eq!(ids(&page), [2], "the last page stops at the oldest kept");
    let odd = s.list(&newest(None, Some("odd"))).await.unwrap();
    assert_eq!(ids(&odd), [5, 3]);
    let odd = s
        .list(&newest(Some(odd[1].seq), Some("odd")))
        .await
        .unwrap();
    assert!(odd.is_empty(), "event 1 was evicted");
    let none_before_first = s.list(&newest(Some(0), None)).await.unwrap();
    assert!(none_before_first.is_empty());
}

async fn the_oldest_is_evicted(b: Backend) {
    let s = &*b.store;
    for id in 1..=5 {
        put(s, id, "t", &body(id, ""), &[]).await;
    }
    let stats = s.stats().await.unwrap();
    assert_eq!((stats.events, stats.capacity, stats.evicted), (3, 3, 2));
    assert!(s.get(EventKey::EventId(1)).await.unwrap().is_none());
    let kept = s
        .list(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        kept.iter().map(|e| e.event_id.unwrap()).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert!(
        matches!(
            put(s, 1, "t", &body(1, "again"), &[]).await,
            Inserted::New { .. }
        ),
        "an evicted id is new again"
    );
}

/// Types come and go with the events that have them: a type whose last event was evicted
/// lists nothing, and a type seen later lists only its own events.
async fn event_types_follow_eviction(b: Backend) {
    let s = &*b.store;
    let of_type = |t: &str| EventQuery {
        event_type: Some(t.into()),
        limit: 10,
        ..Default::default()
    };
    let ids = async |t: &str| {
        let found = s.list(&of_type(t)).await.unwrap();
        found
            .iter()
            .map(|e| e.event_id.unwrap())
            .collect::<Vec<_>>()
    };
    put(s, 1, "order.created", &body(1, ""), &[]).await;
    put(s, 2, "order.paid", &body(2, ""), &[]).await;
    put(s, 3, "order.created", &body(3, ""), &[]).await;
    assert_eq!(ids("order.created").await, [1, 3]);
    // Capacity 3: events 4 and 5 push out 1 and 2, then 6 pushes out 3, the last
    // order.created.
    put(s, 4, "invoice.sent", &body(4, ""), &[]).await;
    put(s, 5, "order.paid", &body(5, ""), &[]).await;
    assert_eq!(ids("order.created").await, [3]);
    put(s, 6, "refund.issued", &body(6, ""), &[]).await;
    assert!(ids("order.created").await.is_empty());
    assert_eq!(ids("refund.issued").await, [6]);
    assert_eq!(ids("order.paid").await, [5]);
    assert_eq!(ids("invoice.sent").await, [4]);
    assert_eq!(
        s.get(EventKey::EventId(5))
            .await
            .unwrap()
            .unwrap()
            .event_type,
        "order.paid"
    );
    assert_eq!(
        s.get(EventKey::EventId(6))
            .await
            .unwrap()
            .unwrap()
            .event_type,
        "refund.issued"
    );
    put(s, 7, "order.created", &body(7, ""), &[]).await;
    assert_eq!(ids("order.created").await, [7]);
    assert_eq!(
        s.get(EventKey::EventId(7))
            .await
            .unwrap()
            .unwrap()
            .event_type,
        "order.created"
    );
    assert!(ids("invoice.sent").await.is_empty(), "event 4 was evicted");
}

async fn a_full_queue_refuses_new_events(b: Backend) {
    let s = &*b.store;
    let t: [Arc<str>; 1] = [Arc::from("http://t/hook")];
    assert!(matches!(
        put(s, 1, "t", &body(1, ""), &t).await,
        Inserted::New { .. }
    ));
    assert!(matches!(
        put(s, 2, "t", &body(2, ""), &t).await,
        Inserted::New { .. }
    ));
    assert_eq!(put(s, 3, "t", &body(3, ""), &t).await, Inserted::QueueFull);
    assert_eq!(put(s, 1, "t", &body(1, ""), &t).await, Inserted::Duplicate);
    assert!(s.get(EventKey::EventId(3)).await.unwrap().is_none());
    let j = job(s, "http://t/hook").await;
    s.record_attempt(j.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    assert!(matches!(
        put(s, 3, "t", &body(3, ""), &t).await,
        Inserted::New { .. }
    ));
}

async fn deliveries_retry_die_and_replay(b: Backend) {
    let s = &*b.store;
    let targets: [Arc<str>; 2] = [Arc::from("http://a/hook"), Arc::from("http://b/hook")];
    put(s, 7, "t", &body(7, "x"), &targets).await;
    let first = job(s, "http://a/hook").await;
    assert_eq!(
        (first.event_id, first.round, first.attempts),
        (Some(7), 0, 0)
    );
    assert_eq!(first.event, "evt_7");
    assert_eq!(first.webhook_id, "evt_7");
    assert_eq!(&*first.body, &body(7, "x")[..]);
    let counts = s.delivery_counts().await.unwrap();
    assert_eq!(count(&counts, DeliveryStatus::InFlight), 1);
    assert_eq!(
        (count(&counts, DeliveryStatus::Pending), counts.open),
        (1, 2)
    );

    let due = Utc::now() + Duration::hours(1);
    s.record_attempt(first.id, attempt(500), NextState::RetryAt(due))
        .await
        .unwrap();
    match s.claim("http://a/hook", Utc::now()).await.unwrap() {
        Claim::Idle { next_due: Some(at) } => assert!((at - due).num_milliseconds().abs() < 2),
        other => panic!("nothing is due before the retry, got {other:?}"),
    }
    let Claim::Job(second) = s
        .claim("http://a/hook", due + Duration::seconds(1))
        .await
        .unwrap()
    else {
        panic!("the retry is due");
    };
    assert_eq!((second.id, second.round, second.attempts), (first.id, 1, 1));
    s.record_attempt(second.id, attempt(500), NextState::Dead)
        .await
        .unwrap();

    let of_a = DeliveryFilter {
        targets: Some(vec!["http://a/hook".into()]),
        limit: 10,
        ..Default::default()
    };
    let listed = s.deliveries(&of_a).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].status, DeliveryStatus::Dead);
    assert_eq!(listed[0].webhook_id, "evt_7");
    let codes: Vec<_> = listed[0].attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500)]);

    let dead = DeliveryFilter {
        status: Some(DeliveryStatus::Dead),
        limit: usize::MAX,
        ..Default::default()
    };
    let replayed = s.replay(&dead).await.unwrap();
    assert_eq!(
        replayed.iter().map(|t| &**t).collect::<Vec<_>>(),
        ["http://a/hook"]
    );
    let third = job(s, "http://a/hook").await;
    assert_eq!(
        (third.round, third.attempts),
        (0, 2),
        "a fresh round, history kept"
    );
    s.record_attempt(third.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    let counts = s.delivery_counts().await.unwrap();
    assert_eq!(count(&counts, DeliveryStatus::Delivered), 1);
    assert_eq!(counts.open, 1, "b is still owed");
    let all = s
        .deliveries(&DeliveryFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all[0].id < all[1].id);
    let page = DeliveryFilter {
        after: Some(all[0].id),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(s.deliveries(&page).await.unwrap().len(), 1);
}

async fn evicted_events_still_owe_their_deliveries(b: Backend) {
    let s = &*b.store;
    let t: [Arc<str>; 1] = [Arc::from("http://t/hook")];
    put(s, 1, "t", &body(1, "owed"), &t).await;
    put(s, 2, "t", &body(2, ""), &[]).await;
    assert!(
        s.get(EventKey::EventId(1)).await.unwrap().is_none(),
        "evicted"
    );
    let owed = job(s, "http://t/hook").await;
    assert_eq!(&*owed.body, &body(1, "owed")[..]);
    s.record_attempt(owed.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    let counts = s.delivery_counts().await.unwrap();
    assert_eq!(
        (counts.open, count(&counts, DeliveryStatus::Delivered)),
        (0, 0)
    );
}

async fn evicting_an_event_takes_its_dead_deliveries(b: Backend) {
    let s = &*b.store;
    let t: [Arc<str>; 1] = [Arc::from("http://t/hook")];
    put(s, 1, "t", &body(1, ""), &t).await;
    let dead = job(s, "http://t/hook").await;
    s.record_attempt(dead.id, attempt(410), NextState::Dead)
        .await
        .unwrap();
    let counts = s.delivery_counts().await.unwrap();
    assert_eq!(count(&counts, DeliveryStatus::Dead), 1);

    put(s, 2, "t", &body(2, ""), &[]).await;
    assert!(
        s.get(EventKey::EventId(1)).await.unwrap().is_none(),
        "evicted"
    );
    let counts = s.delivery_counts().await.unwrap();
    assert_eq!(
        count(&counts, DeliveryStatus::Dead),
        0,
        "memory stays bounded"
    );
    let all = DeliveryFilter {
        limit: 10,
        ..Default::default()
    };
    assert!(s.deliveries(&all).await.unwrap().is_empty());
}

/// A store that keeps verified webhook-ids answers with the first one, and forgets it
/// with its event.
async fn webhook_ids_live_as_long_as_their_event(b: Backend) {
    let s = &*b.store;
    if !s.keeps_webhook_ids() {
        assert_eq!(s.seen_webhook_id("msg_1").await.unwrap(), None);
        return;
    }
    let first = Seen::model(1, [1; 32]);
    put(s, 1, "t", &body(1, "x"), &[]).await;
    assert_eq!(s.seen_webhook_id("msg_1").await.unwrap(), None);
    s.remember_webhook_id("msg_1", first.clone()).await.unwrap();
    let other = Seen::model(1, [2; 32]);
    s.remember_webhook_id("msg_1", other).await.unwrap();
    assert_eq!(s.seen_webhook_id("msg_1").await.unwrap(), Some(first));
    // Capacity 1: the next event evicts the first, and its webhook-id goes with it.
    put(s, 2, "t", &body(2, "x"), &[]).await;
    assert_eq!(s.seen_webhook_id("msg_1").await.unwrap(), None);
    // A source's event (a Standard Webhooks `webhook-id` as its id) has no event_id: the
    // webhook-id names it by its string id, and goes with it too.
    put_named(s, "msg_2", b"{}", &Headers::default(), &[]).await;
    let provider = Seen {
        id: "msg_2".into(),
        event_id: None,
        digest: [3; 32],
    };
    s.remember_webhook_id("msg_2", provider.clone())
        .await
        .unwrap();
    assert_eq!(s.seen_webhook_id("msg_2").await.unwrap(), Some(provider));
    put(s, 3, "t", &body(3, "x"), &[]).await;
    assert_eq!(s.seen_webhook_id("msg_2").await.unwrap(), None);
}

/// Every event has a string id; the model's is `evt_<event_id>`, and either finds it.
/// Other ids (a provider's) are keys of their own, with no `event_id`; headers and the
/// signature's verification come back as stored.
async fn string_ids_and_event_ids_find_the_same_event(b: Backend) {
    let s = &*b.store;
    put(s, 5, "t", &body(5, "a"), &[]).await;
    let by_id = s.get(EventKey::Id("evt_5")).await.unwrap().unwrap();
    assert_eq!(by_id.id, "evt_5");
    assert_eq!(by_id.event_id, Some(5));
    assert_eq!(Some(by_id), s.get(EventKey::EventId(5)).await.unwrap());
    assert_eq!(s.get(EventKey::Id("5")).await.unwrap(), None);
    assert_eq!(s.get(EventKey::Id("evt_05")).await.unwrap(), None);

    let guid = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let github = br#"{"zen":"Design for failure.","hook_id":1}"#;
    let first = put_named(s, guid, github, &headers_of(1), &[]).await;
    assert!(matches!(first, Inserted::New { .. }), "{first:?}");
    assert_eq!(
        put_named(s, guid, github, &headers_of(2), &[]).await,
        Inserted::Duplicate
    );
    assert_eq!(
        put_named(s, guid, b"{}", &headers_of(3), &[]).await,
        Inserted::Conflict
    );
    let stored = s.get(EventKey::Id(guid)).await.unwrap().unwrap();
    assert_eq!(
        (stored.id.as_str(), stored.event_id),
        (guid, None),
        "a provider's event has no event_id"
    );
    assert_eq!(stored.body, github);
    assert_eq!(stored.event_type, "push");
    assert_eq!(
        stored.headers,
        headers_of(1),
        "the first request's headers stay"
    );
    assert_eq!(stored.signature, Some(SIGNED));

    // An id that reads like the model's is the same key, but has no event_id.
    assert!(matches!(
        put_named(s, "evt_9", b"{}", &Headers::default(), &[]).await,
        Inserted::New { .. }
    ));
    let nine = s.get(EventKey::Id("evt_9")).await.unwrap().unwrap();
    assert_eq!((nine.event_id, nine.headers.is_empty()), (None, true));
    assert_eq!(s.get(EventKey::EventId(9)).await.unwrap(), None);
    assert_eq!(put(s, 9, "t", b"{}", &[]).await, Inserted::Duplicate);

    let all = s
        .list(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<_> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["evt_5", guid, "evt_9"]);
    assert_eq!(all[1].headers, headers_of(1));
    assert_eq!(all[0].signature, None);
}

/// Events with string ids leave in arrival order like the others, taking their ids and
/// headers with them, and leaving the kept ones' intact.
async fn string_ids_follow_eviction(b: Backend) {
    let s = &*b.store;
    put_named(s, "a-1", b"{}", &headers_of(1), &[]).await;
    put(s, 2, "t", &body(2, ""), &[]).await;
    put_named(s, "c-3", b"{}", &headers_of(3), &[]).await;
    put_named(s, "d-4", b"{}", &headers_of(4), &[]).await;
    assert_eq!(s.get(EventKey::Id("a-1")).await.unwrap(), None);
    assert_eq!(s.get(EventKey::EventId(2)).await.unwrap(), None);
    let c = s.get(EventKey::Id("c-3")).await.unwrap().unwrap();
    assert_eq!(c.headers, headers_of(3));
    let d = s.get(EventKey::Id("d-4")).await.unwrap().unwrap();
    assert_eq!(d.headers, headers_of(4));
    assert!(matches!(
        put_named(s, "a-1", b"{}", &headers_of(5), &[]).await,
        Inserted::New { .. }
    ));
    let again = s.get(EventKey::Id("a-1")).await.unwrap().unwrap();
    assert_eq!(again.headers, headers_of(5));
    assert!(again.seq > d.seq);
    assert_eq!(s.get(EventKey::Id("c-3")).await.unwrap(), None);
    let d = s.get(EventKey::Id("d-4")).await.unwrap().unwrap();
    assert_eq!(d.headers, headers_of(4));
}

/// Deliveries of an event with a string id carry it, are found by it, and get a
/// `webhook-id` from it.
async fn deliveries_know_their_events_string_id(b: Backend) {
    let s = &*b.store;
    let t: [Arc<str>; 1] = [Arc::from("http://t/hook")];
    put_named(s, "gh-1", b"{}", &Headers::default(), &t).await;
    put_named(s, "id with spaces.and dots", b"{}", &Headers::default(), &t).await;
    put(s, 3, "t", &body(3, ""), &t).await;
    let first = job(s, "http://t/hook").await;
    assert_eq!((first.event.as_str(), first.event_id), ("gh-1", None));
    assert_eq!(first.webhook_id, "gh-1");
    let second = job(s, "http://t/hook").await;
    assert_eq!(second.event, "id with spaces.and dots");
    assert!(
        second.webhook_id.starts_with("msg_"),
        "{}",
        second.webhook_id
    );
    crate::alert::signing::MessageId::new(second.webhook_id.as_str()).unwrap();
    let third = job(s, "http://t/hook").await;
    assert_eq!((third.event.as_str(), third.event_id), ("evt_3", Some(3)));

    let of = |event: Option<&str>, event_id: Option<i64>| DeliveryFilter {
        event: event.map(str::to_owned),
        event_id,
        limit: 10,
        ..Default::default()
    };
    let found = s.deliveries(&of(Some("gh-1"), None)).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!((found[0].event.as_str(), found[0].event_id), ("gh-1", None));
    assert_eq!(found[0].webhook_id, "gh-1");
    let spaced = s
        .deliveries(&of(Some("id with spaces.and dots"), None))
        .await
        .unwrap();
    assert_eq!(
        spaced[0].webhook_id, second.webhook_id,
        "the same on every read"
    );
    let model = s.deliveries(&of(None, Some(3))).await.unwrap();
    assert_eq!(model.len(), 1);
    assert_eq!(model[0].event, "evt_3");
    let either = s.deliveries(&of(Some("gh-1"), Some(3))).await.unwrap();
    assert_eq!(either.len(), 2);
    assert!(s.deliveries(&of(Some("3"), None)).await.unwrap().is_empty());

    s.record_attempt(first.id, attempt(500), NextState::Dead)
        .await
        .unwrap();
    let replayed = s.replay(&of(Some("gh-1"), None)).await.unwrap();
    assert_eq!(replayed.len(), 1);
    let again = job(s, "http://t/hook").await;
    assert_eq!((again.id, again.webhook_id.as_str()), (first.id, "gh-1"));
}

fn new_endpoint(url: &str, name: Option<&str>, at: chrono::DateTime<Utc>) -> Endpoint {
    let mut document = serde_json::json!({"url": url, "filter_types": ["a.*"]});
    if let Some(name) = name {
        document["name"] = name.into();
    }
    endpoints::read(&document, endpoints::Purpose::Create, "")
        .unwrap()
        .create(at)
        .unwrap()
}

async fn endpoints_are_kept_by_id_and_unique_name(backend: Backend) {
    let s = &*backend.store;
    let t0 = Utc::now();
    let first = new_endpoint("http://127.0.0.1:9/a", Some("alpha"), t0);
    let second = new_endpoint("http://127.0.0.1:9/b", None, t0 + Duration::seconds(1));
    assert_eq!(
        s.put_endpoint(&second, Put::Create).await.unwrap(),
        EndpointWrite::Done
    );
    assert_eq!(
        s.put_endpoint(&first, Put::Create).await.unwrap(),
        EndpointWrite::Done
    );
    assert_eq!(
        s.put_endpoint(&first, Put::Create).await.unwrap(),
        EndpointWrite::IdConflict,
        "an id is created once"
    );
    let listed = s.endpoints().await.unwrap();
    assert_eq!(
        listed,
        [first.clone(), second.clone()],
        "oldest first, whole"
    );
    assert_eq!(s.endpoint(&first.id).await.unwrap().as_ref(), Some(&first));
    assert_eq!(s.endpoint("alpha").await.unwrap().as_ref(), Some(&first));
    assert_eq!(s.endpoint("nobody").await.unwrap(), None);

    let mut clash = new_endpoint("http://127.0.0.1:9/c", Some("alpha"), t0);
    assert_eq!(
        s.put_endpoint(&clash, Put::Create).await.unwrap(),
        EndpointWrite::NameTaken
    );
    let mut renamed = second.clone();
    renamed.name = Some("alpha".into());
    assert_eq!(
        s.put_endpoint(&renamed, Put::Replace).await.unwrap(),
        EndpointWrite::NameTaken
    );
    renamed.name = Some("beta".into());
    renamed.disabled = true;
    // Two previous secrets signing: the whole list is kept.
    for new in ["whsec_x", "whsec_y"] {
        endpoints::rotate(&mut renamed, new.into(), chrono::Duration::hours(1), t0).unwrap();
    }
    assert_eq!(renamed.previous_secrets.len(), 2);
    assert_eq!(
        s.put_endpoint(&renamed, Put::Replace).await.unwrap(),
        EndpointWrite::Done
    );
    assert_eq!(s.endpoint("beta").await.unwrap().as_ref(), Some(&renamed));
    clash.id = "ep_nonesuch".into();
    clash.name = None;
    assert_eq!(
        s.put_endpoint(&clash, Put::Replace).await.unwrap(),
        EndpointWrite::IdConflict,
        "only an existing endpoint is replaced"
    );

    assert_eq!(s.delete_endpoint(&first.id).await.unwrap(), Some(0));
    assert_eq!(s.delete_endpoint(&first.id).await.unwrap(), None);
    assert_eq!(s.endpoints().await.unwrap(), [renamed]);
    let reused = new_endpoint("http://127.0.0.1:9/d", Some("alpha"), t0);
    assert_eq!(
        s.put_endpoint(&reused, Put::Create).await.unwrap(),
        EndpointWrite::Done,
        "a deleted endpoint's name is free again"
    );
}

async fn deleting_an_endpoint_drops_its_waiting_deliveries(backend: Backend) {
    let s = &*backend.store;
    let endpoint = new_endpoint("http://127.0.0.1:9/a", None, Utc::now());
    s.put_endpoint(&endpoint, Put::Create).await.unwrap();
    let target: Arc<str> = Arc::from(endpoint.id.as_str());
    let other: Arc<str> = Arc::from("http://127.0.0.1:9/other");
    for id in 1..=3 {
        let b = body(id, "x");
        put(s, id, "t", &b, &[Arc::clone(&target), Arc::clone(&other)]).await;
    }
    // One delivered, one awaiting a retry, one pending.
    let delivered = job(s, &target).await;
    s.record_attempt(delivered.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    let retried = job(s, &target).await;
    let later = Utc::now() + Duration::hours(1);
    s.record_attempt(retried.id, attempt(500), NextState::RetryAt(later))
        .await
        .unwrap();

    assert_eq!(s.delete_endpoint(&endpoint.id).await.unwrap(), Some(2));
    let to = |t: &Arc<str>| DeliveryFilter {
        targets: Some(vec![t.to_string()]),
        limit: 100,
        ..Default::default()
    };
    let mut states: Vec<DeliveryStatus> = s
        .deliveries(&to(&target))
        .await
        .unwrap()
        .iter()
        .map(|d| d.status)
        .collect();
    states.sort_by_key(|s| s.as_str());
    assert_eq!(
        states,
        [
            DeliveryStatus::Dead,
            DeliveryStatus::Dead,
            DeliveryStatus::Delivered
        ]
    );
    assert!(matches!(
        s.claim(&target, later + Duration::hours(1)).await.unwrap(),
        Claim::Idle { .. }
    ));
    let others = s.deliveries(&to(&other)).await.unwrap();
    assert!(
        others.iter().all(|d| d.status == DeliveryStatus::Pending),
        "untouched"
    );
    assert_eq!(
        s.delivery_counts().await.unwrap().open,
        3,
        "only the other target's"
    );
}

async fn a_deleted_endpoints_deliveries_are_not_replayed(backend: Backend) {
    let s = &*backend.store;
    let endpoint = new_endpoint("http://127.0.0.1:9/a", None, Utc::now());
    s.put_endpoint(&endpoint, Put::Create).await.unwrap();
    let target: Arc<str> = Arc::from(endpoint.id.as_str());
    let url: Arc<str> = Arc::from("http://127.0.0.1:9/options");
    let b = body(13, "x");
    put(s, 13, "t", &b, &[Arc::clone(&target), Arc::clone(&url)]).await;
    assert_eq!(s.delete_endpoint(&endpoint.id).await.unwrap(), Some(1));
    let dead = job(s, &url).await;
    s.record_attempt(dead.id, attempt(410), NextState::Dead)
        .await
        .unwrap();

    let every_dead = DeliveryFilter {
        status: Some(DeliveryStatus::Dead),
        limit: 100,
        ..Default::default()
    };
    let replayed = s.replay(&every_dead).await.unwrap();
    assert_eq!(replayed, [Arc::clone(&url)], "only the one with a target");
    let gone = DeliveryFilter {
        targets: Some(vec![target.to_string()]),
        limit: 100,
        ..Default::default()
    };
    let left = s.deliveries(&gone).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].status, DeliveryStatus::Dead);
    assert_eq!(
        s.delivery_counts().await.unwrap().open,
        1,
        "the replayed one"
    );
    assert!(s.drop_orphaned().await.unwrap().is_empty(), "nothing waits");
}

async fn waiting_deliveries_of_missing_endpoints_are_dropped(backend: Backend) {
    let s = &*backend.store;
    let kept = new_endpoint("http://127.0.0.1:9/kept", None, Utc::now());
    s.put_endpoint(&kept, Put::Create).await.unwrap();
    let kept_target: Arc<str> = Arc::from(kept.id.as_str());
    // Deliveries queued for an endpoint the store does not keep (any more).
    let missing: Arc<str> = Arc::from("ep_0123456789abcdef0123456789abcdef");
    let url: Arc<str> = Arc::from("http://127.0.0.1:9/options");
    for id in 1..=2 {
        let b = body(id, "x");
        let targets = [
            Arc::clone(&missing),
            Arc::clone(&kept_target),
            Arc::clone(&url),
        ];
        put(s, id, "t", &b, &targets).await;
    }
    let retried = job(s, &missing).await;
    let later = Utc::now() + Duration::hours(1);
    s.record_attempt(retried.id, attempt(500), NextState::RetryAt(later))
        .await
        .unwrap();
    assert_eq!(s.delivery_counts().await.unwrap().open, 6);

    let dropped = s.drop_orphaned().await.unwrap();
    assert_eq!(dropped, [(missing.to_string(), 2)]);
    let of = |t: &Arc<str>| DeliveryFilter {
        targets: Some(vec![t.to_string()]),
        limit: 100,
        ..Default::default()
    };
    let states = |d: Vec<super::store::DeliveryRecord>| -> Vec<DeliveryStatus> {
        d.iter().map(|d| d.status).collect()
    };
    assert_eq!(
        states(s.deliveries(&of(&missing)).await.unwrap()),
        [DeliveryStatus::Dead, DeliveryStatus::Dead]
    );
    for other in [&kept_target, &url] {
        assert_eq!(
            states(s.deliveries(&of(other)).await.unwrap()),
            [DeliveryStatus::Pending, DeliveryStatus::Pending],
            "{other} untouched"
        );
    }
    assert_eq!(s.delivery_counts().await.unwrap().open, 4);
    assert!(s.drop_orphaned().await.unwrap().is_empty(), "once");
}

async fn deliveries_of_urls_no_longer_served_are_dropped_and_not_replayed(backend: Backend) {
    let s = &*backend.store;
    let kept: Arc<str> = Arc::from("http://127.0.0.1:9/kept");
    let removed: Arc<str> = Arc::from("http://127.0.0.1:9/removed");
    for id in 1..=2 {
        let b = body(id, "x");
        put(s, id, "t", &b, &[Arc::clone(&kept), Arc::clone(&removed)]).await;
    }
    let done = job(s, &removed).await;
    s.record_attempt(done.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    // Not told what the options serve: every URL is judged served.
    assert!(s.drop_orphaned().await.unwrap().is_empty());

    s.serve_targets(vec![Arc::clone(&kept)]);
    assert_eq!(s.drop_orphaned().await.unwrap(), [(removed.to_string(), 1)]);
    assert_eq!(s.delivery_counts().await.unwrap().open, 2, "the kept URL's");
    let every = DeliveryFilter {
        limit: 100,
        ..Default::default()
    };
    let replayed = s.replay(&every).await.unwrap();
    assert!(
        replayed.is_empty(),
        "nothing of the removed URL: {replayed:?}"
    );

    // Served again: its deliveries replay, the delivered one and the dead one.
    s.serve_targets(vec![Arc::clone(&kept), Arc::clone(&removed)]);
    let replayed = s.replay(&every).await.unwrap();
    assert_eq!(replayed, [Arc::clone(&removed), Arc::clone(&removed)]);
}

macro_rules! contract {
    ($($check:ident($capacity:expr, $pending:expr)),* $(,)?) => {
        mod memory_backend {
            use super::*;
            $(#[tokio::test]
            async fn $check() {
                super::$check(memory($capacity, $pending)).await;
            })*
        }
        mod sqlite_backend {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                super::$check(sqlite($capacity, $pending)).await;
            })*
        }
        mod postgres_backend {
            use super::*;
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(backend) = postgres($capacity, $pending).await else {
                    return;
                };
                super::$check(backend).await;
            })*
        }
    };
}

contract! {
    dedup_and_conflict(100, 100),
    listing_filters_and_pages(100, 100),
    listing_newest_first(5, 100),
    the_oldest_is_evicted(3, 100),
    event_types_follow_eviction(3, 100),
    a_full_queue_refuses_new_events(100, 2),
    deliveries_retry_die_and_replay(100, 100),
    evicted_events_still_owe_their_deliveries(1, 100),
    evicting_an_event_takes_its_dead_deliveries(1, 100),
    webhook_ids_live_as_long_as_their_event(1, 100),
    string_ids_and_event_ids_find_the_same_event(100, 100),
    string_ids_follow_eviction(2, 100),
    deliveries_know_their_events_string_id(100, 100),
    endpoints_are_kept_by_id_and_unique_name(100, 100),
    deleting_an_endpoint_drops_its_waiting_deliveries(100, 100),
    a_deleted_endpoints_deliveries_are_not_replayed(100, 100),
    waiting_deliveries_of_missing_endpoints_are_dropped(100, 100),
    deliveries_of_urls_no_longer_served_are_dropped_and_not_replayed(100, 100),
}

/// A fresh database and a store on it (room for 1000 events and deliveries), or `None`
/// where no PostgreSQL can be reached.
async fn postgres_store() -> Option<(TestDb, PostgresStore)> {
    let db = TestDb::create().await?;
    let store = PostgresStore::open(PostgresOptions::new(&db.url, 1000, 1000))
        .await
        .unwrap();
    Some((db, store))
}

/// A connection of the test's own to the store's database, to look at its tables.
async fn look_into(db: &TestDb) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Inserts that arrive together are written in shared transactions (group commit), and
/// each is still answered as if alone: new, duplicate or conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_inserts_that_arrive_together_share_transactions() {
    let Some((db, store)) = postgres_store().await else {
        return;
    };
    let bodies: Vec<Vec<u8>> = (1..=60).map(|id| body(id, "x")).collect();
    let targets: Vec<Arc<str>> = vec![Arc::from("http://127.0.0.1:9/hook")];
    let other = body(1, "another");
    let mut inserts: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| put(&store, i as i64 + 1, "t", b, &targets))
        .collect();
    // The same id once more with the same body, and once with another.
    inserts.push(put(&store, 1, "t", &bodies[0], &targets));
    inserts.push(put(&store, 1, "t", &other, &targets));

    let answers = futures_join_all(inserts).await;

    assert!(
        answers[..60]
            .iter()
            .all(|a| matches!(a, Inserted::New { .. })),
        "{answers:?}"
    );
    assert_eq!(answers[60], Inserted::Duplicate);
    assert_eq!(answers[61], Inserted::Conflict);
    let client = look_into(&db).await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT xmin::TEXT) FROM events",
            &[],
        )
        .await
        .unwrap();
    let (events, transactions): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(events, 60);
    assert!(
        transactions < 30,
        "60 events in {transactions} transactions"
    );
}

/// Workers that ask for work together share round trips: each gets a delivery of its
/// own, none is handed out twice, and the claims take far fewer statements than workers
/// (deliveries claimed by one statement share its transaction id, `xmin`). Each attempt
/// is then recorded with its number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_claims_made_together_share_round_trips() {
    let Some((db, store)) = postgres_store().await else {
        return;
    };
    let target = "http://127.0.0.1:9/hook";
    let targets: Vec<Arc<str>> = vec![Arc::from(target)];
    for id in 1..=50 {
        put(&store, id, "t", &body(id, "x"), &targets).await;
    }
    let now = Utc::now();
    let claims: Vec<_> = (0..60).map(|_| store.claim(target, now)).collect();
    let answers = futures_join_all(claims).await;

    let mut ids: Vec<u64> = answers
        .iter()
        .filter_map(|a| match a {
            Ok(Claim::Job(job)) => Some(job.id),
            _ => None,
        })
        .collect();
    let idle = answers
        .iter()
        .filter(|a| matches!(a, Ok(Claim::Idle { .. })))
        .count();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!((ids.len(), idle), (50, 10), "{answers:?}");
    let client = look_into(&db).await;
    let row = client
        .query_one(
            "SELECT count(*), count(DISTINCT xmin::TEXT) FROM deliveries
             WHERE status = 'in_flight'",
            &[],
        )
        .await
        .unwrap();
    let (claimed, statements): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(claimed, 50);
    assert!(statements < 25, "50 claims in {statements} statements");

    for id in &ids {
        store
            .record_attempt(*id, attempt(500), NextState::RetryAt(now))
            .await
            .unwrap();
        store
            .record_attempt(*id, attempt(200), NextState::Delivered)
            .await
            .unwrap();
    }
    let delivered = store
        .deliveries(&DeliveryFilter {
            status: Some(DeliveryStatus::Delivered),
            limit: 100,
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(delivered.len(), 50);
    assert!(delivered.iter().all(|d| d.attempts.len() == 2
        && d.attempts[0].status_code == Some(500)
        && d.attempts[1].status_code == Some(200)));
}

/// Polls every future to completion at once, answers in order.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, slot) in set.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    done.into_iter().map(|v| v.unwrap()).collect()
}

/// The store's count of itself: a full store evicts exactly its excess on every batch,
/// the `kept` counter always says what the table holds, and a count that drifted (written
/// beside an older hookrelay) is mended when a store opens on the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_full_store_evicts_its_excess_and_mends_its_count() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = PostgresStore::open(PostgresOptions::new(&db.url, 50, 100))
        .await
        .unwrap();
    let bodies: Vec<Vec<u8>> = (1..=80).map(|id| body(id, "x")).collect();
    for chunk in bodies.chunks(20) {
        let inserts: Vec<_> = chunk
            .iter()
            .map(|b| {
                let id = serde_json::from_slice::<serde_json::Value>(b).unwrap()["event_id"]
                    .as_i64()
                    .unwrap();
                put(&store, id, "t", b, &[])
            })
            .collect();
        futures_join_all(inserts).await;
    }
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (50, 30));
    let client = look_into(&db).await;
    let counts = |client: tokio_postgres::Client| async move {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM events), min(seq),
                        (SELECT value FROM counters WHERE key = 'kept')
                 FROM events",
                &[],
            )
            .await
            .unwrap();
        (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
            client,
        )
    };
    let (rows, oldest, kept, client) = counts(client).await;
    assert_eq!((rows, kept), (50, 50));
    assert_eq!(oldest, 31, "the 30 oldest went");

    client
        .execute("UPDATE counters SET value = 7 WHERE key = 'kept'", &[])
        .await
        .unwrap();
    drop(store);
    let store = PostgresStore::open(PostgresOptions::new(&db.url, 50, 100))
        .await
        .unwrap();
    assert_eq!(
        store.stats().await.unwrap().events,
        50,
        "recounted at start"
    );
    put(&store, 81, "t", &body(81, "x"), &[]).await;
    let (rows, oldest, kept, _) = counts(client).await;
    assert_eq!((rows, oldest, kept), (50, 32, 50));
    assert_eq!(store.stats().await.unwrap().evicted, 31);
}

/// `--retention` on PostgreSQL drops every expired event, in chunks (seven at a time in
/// tests) that each hold the insert lock briefly, and keeps the count of events true.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_retention_drops_expired_events_in_chunks() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut options = PostgresOptions::new(&db.url, 1000, 1000);
    options.retention = Some(std::time::Duration::from_secs(1));
    let store = PostgresStore::open(options).await.unwrap();
    for id in 1..=30 {
        put(&store, id, "t", &body(id, "old"), &[]).await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let stats = store.stats().await.unwrap();
        if stats.events == 0 {
            assert_eq!(stats.evicted, 30);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "30 expired events, {} still kept after 10 s",
            stats.events
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let client = look_into(&db).await;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
    put(&store, 31, "t", &body(31, "new"), &[]).await;
    assert_eq!(store.stats().await.unwrap().events, 1);
}

/// Commits that would finish out of order leave no gap for a reader to step over. An
/// insert transaction held open after it drew its sequence number (by hand here, taking
/// the store's locks as every insert does, as a slow commit would) keeps the next insert,
/// which draws a larger number, from committing before it: no listing shows event 3 while
/// event 2 is still to come, and once 2 commits, both are listed, in order. Inserts that
/// committed side by side without a horizon for the readers would fail this.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_reader_never_passes_an_insert_still_committing() {
    use super::postgres::{INSERT_LOCK, SEQUENCE_LOCK};
    let Some((db, store)) = postgres_store().await else {
        return;
    };
    let store = Arc::new(store);
    let listed = |newest_first: bool| {
        let store = Arc::clone(&store);
        async move {
            let query = EventQuery {
                limit: 10,
                newest_first,
                ..EventQuery::default()
            };
            let events = store.list(&query).await.unwrap();
            events
                .iter()
                .map(|e| e.event_id.unwrap())
                .collect::<Vec<_>>()
        }
    };
    put(&*store, 1, "t", &body(1, "x"), &[]).await;

    let mut held = look_into(&db).await;
    let slow = held.transaction().await.unwrap();
    slow.execute("SELECT pg_advisory_lock($1)", &[&SEQUENCE_LOCK])
        .await
        .unwrap();
    let inserted = slow
        .execute(
            "INSERT INTO events (id, event_id, event_type, received_at, body)
             VALUES ('evt_2', 2, 't', 0, $1)",
            &[&body(2, "slow")],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    slow.execute(
        "SELECT pg_advisory_xact_lock($1), pg_advisory_unlock($2)",
        &[&INSERT_LOCK, &SEQUENCE_LOCK],
    )
    .await
    .unwrap();

    let third = tokio::spawn({
        let store = Arc::clone(&store);
        async move { put(&*store, 3, "t", &body(3, "x"), &[]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!third.is_finished(), "event 3 committed before event 2");
    assert_eq!(
        listed(false).await,
        [1],
        "listed past a commit still to come"
    );
    assert_eq!(
        listed(true).await,
        [1],
        "listed past a commit still to come"
    );

    slow.commit().await.unwrap();
    assert!(matches!(third.await.unwrap(), Inserted::New { .. }));
    assert_eq!(listed(false).await, [1, 2, 3]);
    assert_eq!(listed(true).await, [3, 2, 1]);
}

/// Every instance on one database gives the same store id, drawn once and kept there; a
/// store in another database has another.
#[tokio::test]
async fn postgres_instances_on_one_database_share_its_store_id() {
    let (Some((db, first)), Some((_other_db, other))) =
        (postgres_store().await, postgres_store().await)
    else {
        return;
    };
    let second = PostgresStore::open(PostgresOptions::new(&db.url, 1000, 1000))
        .await
        .unwrap();
    assert_eq!(first.store_id().len(), 16);
    assert_eq!(second.store_id(), first.store_id());
    assert_ne!(other.store_id(), first.store_id());
}
