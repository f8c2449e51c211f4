//! What only the durable store promises: reopening keeps everything, in-flight deliveries
//! come back, group commits lose nothing, write failures are reported and survived, and
//! files that are not ours (or are newer) are refused. The shared contract is in
//! `server/store_tests.rs`.

use std::path::Path;

use super::*;
use crate::server::store::DeliveryStatus;

fn open(path: &Path, capacity: usize, retention: Option<Duration>) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(SqliteOptions {
        path: path.to_path_buf(),
        sync: Sync::Full,
        max_events: capacity,
        max_pending: 1000,
        retention,
    })
}

fn body(id: i64, size: usize) -> Vec<u8> {
    let pad = "x".repeat(size);
    format!(r#"{{"event_id": {id}, "timestamp": "2023-10-05T12:34:56", "event_type": "t", "description": "{pad}"}}"#)
        .into_bytes()
}

async fn put(
    store: &SqliteStore,
    id: i64,
    size: usize,
    targets: &[Arc<str>],
) -> Result<Inserted, StoreError> {
    let body = body(id, size);
    store
        .insert(NewEvent {
            id: &crate::server::store::model_id(id),
            event_id: Some(id),
            event_type: "t",
            body: &body,
            headers: Default::default(),
            signature: None,
            targets,
        })
        .await
}

fn attempt(status: u16) -> AttemptRecord {
    AttemptRecord {
        at: Utc::now(),
        status_code: Some(status),
        error: None,
        duration_ms: 1,
        next_attempt_at: None,
    }
}

fn target() -> [Arc<str>; 1] {
    [Arc::from("http://t/hook")]
}

async fn claim(store: &SqliteStore) -> DeliveryJob {
    match store.claim("http://t/hook", Utc::now()).await.unwrap() {
        Claim::Job(job) => job,
        idle => panic!("expected a job, got {idle:?}"),
    }
}

use crate::server::store::DeliveryJob;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_events_deliveries_and_counts_and_retries_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path, 100, None).unwrap();
    for id in 1..=3 {
        put(&store, id, 10, &target()).await.unwrap();
    }
    let delivered = claim(&store).await;
    store
        .record_attempt(delivered.id, attempt(200), NextState::Delivered)
        .await
        .unwrap();
    let in_flight = claim(&store).await;
    drop(store);

    let store = open(&path, 100, None).unwrap();
    assert_eq!(
        store
            .get(crate::server::store::EventKey::EventId(2))
            .await
            .unwrap()
            .unwrap()
            .body,
        body(2, 10)
    );
    assert_eq!(
        put(&store, 1, 10, &target()).await.unwrap(),
        Inserted::Duplicate
    );
    let counts = store.delivery_counts().await.unwrap();
    let of = |s| counts.by_status.iter().find(|(x, _)| *x == s).unwrap().1;
    assert_eq!(of(DeliveryStatus::Delivered), 1);
    assert_eq!(
        (of(DeliveryStatus::InFlight), of(DeliveryStatus::Pending)),
        (0, 2)
    );
    let again = claim(&store).await;
    assert_eq!(
        again.id, in_flight.id,
        "the attempt cut off is made again first"
    );
    assert_eq!(again.webhook_id, in_flight.webhook_id);
    assert_eq!(store.stats().await.unwrap().events, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_share_commits_and_none_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(&dir.path().join("events.db"), 1000, None).unwrap());
    let tasks: Vec<_> = (1..=300)
        .map(|id| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { put(&store, id, 100, &target()).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(task.await.unwrap().unwrap(), Inserted::New { .. }));
    }
    let all = store
        .list(&EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 300);
    assert_eq!(store.delivery_counts().await.unwrap().open, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_recovers_and_keeps_the_attempt_made_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("events.db"), 1000, None).unwrap();
    put(&store, 1, 10, &target()).await.unwrap();
    let job = claim(&store).await;
    // The file may not grow past its current size: the next large write fails as on a
    // full disk.
    store.exec("PRAGMA max_page_count = 1").await.unwrap();
    let refused = put(&store, 2, 200_000, &[]).await.unwrap_err();
    assert!(refused.0.contains("full"), "{refused}");
    // Small rows may still fit in free pages; this write fails whatever its size.
    store
        .exec("CREATE TEMP TRIGGER full BEFORE INSERT ON attempts BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        .await
        .unwrap();
    let lost = store
        .record_attempt(job.id, attempt(200), NextState::Delivered)
        .await;
    assert!(lost.is_err());

    store.exec("PRAGMA max_page_count = 1000000").await.unwrap();
    store.exec("DROP TRIGGER full").await.unwrap();
    assert!(matches!(
        put(&store, 2, 200_000, &[]).await.unwrap(),
        Inserted::New { .. }
    ));
    assert_eq!(
        store
            .get(crate::server::store::EventKey::EventId(1))
            .await
            .unwrap()
            .unwrap()
            .body,
        body(1, 10)
    );
    let filter = DeliveryFilter {
        event_id: Some(1),
        limit: 10,
        ..Default::default()
    };
    let kept = store.deliveries(&filter).await.unwrap();
    assert_eq!(
        kept[0].status,
        DeliveryStatus::Delivered,
        "the attempt was written later"
    );
    assert_eq!(kept[0].attempts.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_and_a_lowered_capacity_apply_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path, 100, None).unwrap();
    for id in 1..=4 {
        put(&store, id, 10, &[]).await.unwrap();
    }
    store
        .exec("UPDATE events SET received_at = 0 WHERE event_id = 1")
        .await
        .unwrap();
    drop(store);

    let store = open(&path, 2, Some(Duration::from_secs(3600))).unwrap();
    let kept = store
        .list(&EventQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<i64> = kept.iter().filter_map(|e| e.event_id).collect();
    assert_eq!(ids, [3, 4]);
    assert_eq!(store.stats().await.unwrap().evicted, 2);
}

/// The evicted count follows from the file at open: exact after a restart, also after a
/// duplicate and a conflict were refused, and when every event expired; a new event's
/// sequence number is still never one given before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_evicted_count_is_exact_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = open(&path, 2, None).unwrap();
    let mut given = Vec::new();
    for id in 1..=3 {
        given.push(put(&store, id, 10, &[]).await.unwrap());
    }
    assert_eq!(put(&store, 3, 10, &[]).await.unwrap(), Inserted::Duplicate);
    assert_eq!(put(&store, 3, 11, &[]).await.unwrap(), Inserted::Conflict);
    given.push(put(&store, 4, 10, &[]).await.unwrap());
    let highest = given
        .iter()
        .map(|inserted| match inserted {
            Inserted::New { seq, .. } => *seq,
            other => panic!("expected a new event, got {other:?}"),
        })
        .max()
        .unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (2, 2));
    drop(store);

    let store = open(&path, 2, Some(Duration::from_secs(3600))).unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (2, 2));
    store
        .exec("UPDATE events SET received_at = 0")
        .await
        .unwrap();
    drop(store);

    // Both expire at start.
    let store = open(&path, 2, Some(Duration::from_secs(3600))).unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (0, 4));
    drop(store);

    let store = open(&path, 2, None).unwrap();
    assert_eq!(store.stats().await.unwrap().evicted, 4);
    let Inserted::New { seq, .. } = put(&store, 5, 10, &[]).await.unwrap() else {
        panic!("event 5 is new");
    };
    assert!(seq > highest, "sequence number {seq} was given before");
    put(&store, 6, 10, &[]).await.unwrap();
    put(&store, 7, 10, &[]).await.unwrap();
    assert_eq!(store.stats().await.unwrap().evicted, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evicting_drops_finished_delivery_history_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("events.db"), 1, None).unwrap();
    put(&store, 1, 10, &target()).await.unwrap();
    let j = claim(&store).await;
    store
        .record_attempt(j.id, attempt(410), NextState::Dead)
        .await
        .unwrap();
    put(&store, 2, 10, &[]).await.unwrap();
    let all = DeliveryFilter {
        limit: 10,
        ..Default::default()
    };
    assert!(store.deliveries(&all).await.unwrap().is_empty());
    assert_eq!(
        store
            .delivery_counts()
            .await
            .unwrap()
            .by_status
            .iter()
            .map(|(_, n)| n)
            .sum::<usize>(),
        0
    );
}

fn open_error(path: &Path) -> String {
    match open(path, 10, None) {
        Ok(_) => panic!("{} was accepted", path.display()),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn files_that_are_not_ours_or_are_newer_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(
        &garbage,
        "this is not a database, just some text\n".repeat(200),
    )
    .unwrap();
    assert!(
        open_error(&garbage).contains("not an SQLite database"),
        "{}",
        open_error(&garbage)
    );

    let other = dir.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    assert!(
        open_error(&other).contains("another application"),
        "{}",
        open_error(&other)
    );

    let newer = dir.path().join("newer.db");
    drop(open(&newer, 10, None).unwrap());
    Connection::open(&newer)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let message = open_error(&newer);
    assert!(message.contains("schema version 99"), "{message}");
    assert!(
        message.contains(&format!("({SCHEMA_VERSION})")),
        "{message}"
    );

    let nowhere = dir.path().join("missing").join("events.db");
    assert!(
        open_error(&nowhere).contains("missing"),
        "{}",
        open_error(&nowhere)
    );
}

#[test]
fn a_second_hookrelay_on_the_same_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let _first = open(&path, 10, None).unwrap();
    assert!(
        open_error(&path).contains("in use"),
        "{}",
        open_error(&path)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_also_applies_while_serving() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(
        &dir.path().join("events.db"),
        100,
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    put(&store, 1, 10, &[]).await.unwrap();
    put(&store, 2, 10, &[]).await.unwrap();
    store
        .exec("UPDATE events SET received_at = 0 WHERE event_id = 1")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store
        .get(crate::server::store::EventKey::EventId(1))
        .await
        .unwrap()
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "event 1 outlived the retention"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        store
            .get(crate::server::store::EventKey::EventId(2))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.stats().await.unwrap().evicted, 1);
}

/// A file of schema version 5 (before events lost their index by `event_id`): its events
/// are found by `event_id` and by id once migrated, and a verified webhook-id it kept is
/// still forgotten with its event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_5_file_migrates_and_finds_its_events_and_forgets_their_webhook_ids() {
    use crate::server::store::EventKey;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    file_of_version(
        &path,
        5,
        "INSERT INTO events (id, event_id, event_type, received_at, body)
             VALUES ('evt_7', 7, 't', 1, x'7b7d'), ('gh-1', NULL, 'push', 2, x'7b7d');
         INSERT INTO webhook_ids VALUES ('msg_7', 'evt_7', 7, zeroblob(32), 1);",
    );
    let store = open(&path, 2, None).unwrap();
    let by_number = store.get(EventKey::EventId(7)).await.unwrap().unwrap();
    assert_eq!((by_number.id.as_str(), by_number.seq), ("evt_7", 1));
    assert_eq!(store.get(EventKey::EventId(1)).await.unwrap(), None);
    let named = store.get(EventKey::Id("gh-1")).await.unwrap().unwrap();
    assert_eq!(named.event_id, None);
    assert!(store.seen_webhook_id("msg_7").await.unwrap().is_some());
    // The third event evicts event 7, and with it the webhook-id that answered it.
    put(&store, 8, 10, &[]).await.unwrap();
    assert_eq!(store.get(EventKey::EventId(7)).await.unwrap(), None);
    assert_eq!(store.seen_webhook_id("msg_7").await.unwrap(), None);
    assert_eq!(
        store.get(EventKey::EventId(8)).await.unwrap().unwrap().seq,
        3
    );
}

/// A file of schema version 6 (events numbered by AUTOINCREMENT, the evicted count in
/// `meta`), whose counter passed its newest event: the count and the numbers carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_6_file_keeps_its_evicted_count_and_never_gives_a_number_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    file_of_version(
        &path,
        6,
        "INSERT INTO events (seq, id, event_id, event_type, received_at, body)
             VALUES (4, 'evt_4', 4, 't', 1, x'7b7d'), (5, 'evt_5', 5, 't', 2, x'7b7d');
         UPDATE sqlite_sequence SET seq = 10 WHERE name = 'events';
         INSERT INTO meta VALUES ('evicted', 5);",
    );
    let store = open(&path, 2, None).unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (2, 5));
    let Inserted::New { seq, .. } = put(&store, 6, 10, &[]).await.unwrap() else {
        panic!("event 6 is new");
    };
    assert_eq!(seq, 11, "after the old counter");
    assert_eq!(store.stats().await.unwrap().evicted, 6);
    drop(store);

    let store = open(&path, 2, None).unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!((stats.events, stats.evicted), (2, 6));
    let Inserted::New { seq, .. } = put(&store, 7, 10, &[]).await.unwrap() else {
        panic!("event 7 is new");
    };
    assert_eq!(seq, 12);
}

/// A store file as schema version `version` wrote it: its migrations, then `rows`, marked
/// with that version and the store's application id.
fn file_of_version(path: &std::path::Path, version: usize, rows: &str) {
    let conn = Connection::open(path).unwrap();
    for sql in &schema::MIGRATIONS[..version] {
        conn.execute_batch(sql).unwrap();
    }
    conn.execute_batch(rows).unwrap();
    conn.pragma_update(None, "user_version", version as i64)
        .unwrap();
    conn.pragma_update(None, "application_id", 1_751_872_108)
        .unwrap();
}
