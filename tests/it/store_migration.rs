//! A store written by the previous hookrelay, opened by this one: an SQLite file made with
//! the schema of version 2 (its DDL copied here as it was) migrates on open without losing
//! an event, a delivery, an attempt or a counter, and its events are found by their new
//! string id and by their `event_id`, across a restart. The same for PostgreSQL, through
//! the store's own migration, against the real server.

use crate::support;

use std::path::Path;

use rusqlite::Connection;
use serde_json::{Value, json};

use support::durable::{Served, client, event, get_json, post};

/// The schema of version 2 (migrations 1 and 2 as released), verbatim.
const SCHEMA_V2: &str = "
    CREATE TABLE events (
         seq         INTEGER PRIMARY KEY AUTOINCREMENT,
         event_id    INTEGER NOT NULL UNIQUE,
         event_type  TEXT    NOT NULL,
         received_at INTEGER NOT NULL,
         body        BLOB    NOT NULL
     );
     CREATE TABLE deliveries (
         id         INTEGER PRIMARY KEY AUTOINCREMENT,
         event_seq  INTEGER NOT NULL,
         event_id   INTEGER NOT NULL,
         target     TEXT    NOT NULL,
         status     TEXT    NOT NULL,
         created_at INTEGER NOT NULL,
         due        INTEGER,
         round      INTEGER NOT NULL DEFAULT 0,
         attempts   INTEGER NOT NULL DEFAULT 0,
         body       BLOB
     );
     CREATE INDEX deliveries_queue ON deliveries (target, due)
         WHERE status IN ('pending', 'failed');
     CREATE INDEX deliveries_event ON deliveries (event_id);
     CREATE TABLE attempts (
         delivery_id     INTEGER NOT NULL,
         n               INTEGER NOT NULL,
         at              INTEGER NOT NULL,
         status_code     INTEGER,
         error           TEXT,
         duration_ms     INTEGER NOT NULL,
         next_attempt_at INTEGER,
         PRIMARY KEY (delivery_id, n)
     ) WITHOUT ROWID;
     CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE webhook_ids (
         webhook_id TEXT    PRIMARY KEY,
         event_id   INTEGER NOT NULL,
         digest     BLOB    NOT NULL,
         seen_at    INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX webhook_ids_event ON webhook_ids (event_id);
     PRAGMA user_version = 2;
     PRAGMA application_id = 1751872108; -- 'hkrl'
";

const RECEIVED: i64 = 1_700_000_000_000_000;

/// A version-2 file holding events 10, 11 and -12 (sequence numbers 3 to 5; 1, 2 and 6
/// were dropped, so the next event must get 7), a dead delivery of event 10 with its
/// attempt, a delivery of event 11 still owed, a verified webhook-id and the evicted count.
fn old_store(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(SCHEMA_V2).unwrap();
    for (seq, id) in [(3, 10), (4, 11), (5, -12)] {
        conn.execute(
            "INSERT INTO events (seq, event_id, event_type, received_at, body)
             VALUES (?1, ?2, 'order.created', ?3, ?4)",
            rusqlite::params![seq, id, RECEIVED + seq, event(id).as_bytes()],
        )
        .unwrap();
    }
    conn.execute_batch(
        "UPDATE sqlite_sequence SET seq = 6 WHERE name = 'events';
         INSERT INTO deliveries (id, event_seq, event_id, target, status, created_at, due,
                                 round, attempts)
             VALUES (8, 3, 10, 'http://127.0.0.1:9/dead', 'dead', 1700000000000000, NULL, 1, 1),
                    (9, 4, 11, 'http://127.0.0.1:9/owed', 'failed', 1700000000000000,
                     4102444800000000, 1, 1);
         INSERT INTO attempts VALUES (8, 1, 1700000000000001, 410, 'HTTP 410', 12, NULL),
                                     (9, 1, 1700000000000002, 503, 'HTTP 503', 7,
                                      4102444800000000);
         INSERT INTO webhook_ids VALUES ('msg_10', 10, x'00', 1700000000000000);
         INSERT INTO meta VALUES ('evicted', 3);",
    )
    .unwrap();
}

fn ids(list: &Value) -> Vec<(Value, Value)> {
    list["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["id"].clone(), e["event_id"].clone()))
        .collect()
}

/// The target of the delivery the old stores owe.
const OWED: &str = "http://127.0.0.1:9/owed";

/// What a user reads back from the migrated store: every old event by both ids, its
/// body byte for byte, its deliveries with their attempts and webhook-ids, the counts.
async fn everything_is_there(base: &str) {
    let listed = get_json(base, "/events").await;
    assert_eq!(
        ids(&listed)[..3],
        [
            (json!("evt_10"), json!(10)),
            (json!("evt_11"), json!(11)),
            (json!("evt_-12"), json!(-12)),
        ]
    );
    for (text, number) in [("evt_10", "10"), ("evt_11", "11"), ("evt_-12", "-12")] {
        let by_id = get_json(base, &format!("/events/{text}")).await;
        let by_number = get_json(base, &format!("/events/{number}")).await;
        assert_eq!(by_id, by_number, "{text}");
        assert_eq!(by_id["id"], text);
        assert_eq!(by_id["headers"], json!([]), "old events had none kept");
        assert_eq!(by_id["signature"], Value::Null);
        let body = crate::support::get_text(&client(), &format!("{base}/events/{text}/body")).await;
        assert_eq!(body, event(number.parse().unwrap()));
    }
    for filter in ["evt_10", "10"] {
        let found = get_json(base, &format!("/deliveries?event_id={filter}")).await;
        let deliveries = found["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{found}");
        let dead = &deliveries[0];
        assert_eq!(
            (&dead["id"], &dead["event"], &dead["event_id"]),
            (&json!(8), &json!("evt_10"), &json!(10))
        );
        assert_eq!(dead["status"], "dead");
        assert_eq!(dead["webhook_id"], "evt_10");
        assert_eq!(dead["attempts"][0]["status_code"], 410);
    }
    let owed = get_json(base, "/events/11/deliveries").await;
    assert_eq!(owed["id"], "evt_11");
    assert_eq!(owed["deliveries"][0]["status"], "failed");
    assert_eq!(owed["deliveries"][0]["attempts"][0]["error"], "HTTP 503");
    let health = get_json(base, "/healthz").await;
    assert_eq!(health["evicted"], 3, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_2_sqlite_store_migrates_without_loss_and_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    old_store(&db);

    // Served with the relay options of its time: the owed delivery is still to be made.
    let served = Served::start(&db, &["--forward-to", OWED]);
    everything_is_there(&served.base).await;
    let http = client();
    assert_eq!(post(&http, &served.base, event(10)).await.unwrap(), 200);
    let again = get_json(&served.base, "/events?limit=10").await;
    assert_eq!(ids(&again).len(), 3, "event 10 again is a duplicate");
    let (status, answer) = {
        let r = http
            .post(format!("{}/webhook", served.base))
            .header("content-type", "application/json")
            .header("x-trace", "after-migration")
            .body(event(13))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    };
    assert_eq!(
        (status, answer.as_str()),
        (200, r#"{"status":"success","event_id":13}"#)
    );
    let new = get_json(&served.base, "/events/evt_13").await;
    // 6 was given before the migration (a duplicate may use up a number, never a kept one).
    assert!(new["seq"].as_i64().unwrap() > 6, "{new}");
    assert!(
        new["headers"]
            .as_array()
            .unwrap()
            .contains(&json!(["x-trace", "after-migration"])),
        "{new}"
    );
    drop(served);

    let restarted = Served::start(&db, &["--forward-to", OWED]);
    everything_is_there(&restarted.base).await;
    let kept = get_json(&restarted.base, "/events/13").await;
    assert_eq!(kept, new, "the same after a restart, headers included");

    let conn = Connection::open(&db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, hookrelay::server::sqlite::SCHEMA_VERSION);
    let endpoints: i64 = conn
        .query_row("SELECT count(*) FROM endpoints", [], |r| r.get(0))
        .unwrap();
    assert_eq!(endpoints, 0, "the endpoints table is made, empty");
    let webhook_id: (String, Option<i64>, Vec<u8>) = conn
        .query_row(
            "SELECT event, event_id, digest FROM webhook_ids WHERE webhook_id = 'msg_10'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        webhook_id,
        ("evt_10".to_string(), Some(10), vec![0]),
        "the verified webhook-id names its event by its string id"
    );
    let next_delivery: i64 = conn
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'deliveries'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        next_delivery, 10,
        "delivery ids carry on from the old file: the new event's delivery is the 10th"
    );
}

/// The PostgreSQL store's migration from version 1, on the real server: rows written with
/// the old schema are read back by both ids, and new events get the new columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_postgres_database_migrates_without_loss() {
    use hookrelay::server::postgres::testdb::TestDb;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let pg = db.client().await;
    pg.batch_execute(POSTGRES_V1).await.unwrap();
    for (seq, id) in [(3i64, 10i64), (4, 11), (5, -12)] {
        pg.execute(
            "INSERT INTO events (seq, event_id, event_type, received_at, body)
             VALUES ($1, $2, 'order.created', $3, $4)",
            &[&seq, &id, &(RECEIVED + seq), &event(id).as_bytes()],
        )
        .await
        .unwrap();
    }
    pg.batch_execute(
        "SELECT setval('events_seq_seq', 6);
         INSERT INTO deliveries (id, event_seq, event_id, target, status, created_at, due,
                                 round, attempts)
             VALUES (8, 3, 10, 'http://127.0.0.1:9/dead', 'dead', 1700000000000000, NULL, 1, 1),
                    (9, 4, 11, 'http://127.0.0.1:9/owed', 'failed', 1700000000000000,
                     4102444800000000, 1, 1);
         SELECT setval('deliveries_id_seq', 9);
         INSERT INTO attempts VALUES (8, 1, 1700000000000001, 410, 'HTTP 410', 12, NULL),
                                     (9, 1, 1700000000000002, 503, 'HTTP 503', 7,
                                      4102444800000000);
         INSERT INTO webhook_ids VALUES ('msg_10', 10, '\\x00', 1700000000000000);
         UPDATE counters SET value = 3 WHERE key = 'evicted';",
    )
    .await
    .unwrap();

    let served = support::process::Served::start(&["--store", &db.url, "--forward-to", OWED]);
    let base = served.url("");
    everything_is_there(&base).await;
    assert_eq!(post(&client(), &base, event(13)).await.unwrap(), 200);
    let new = get_json(&base, "/events/13").await;
    assert_eq!((&new["id"], &new["seq"]), (&json!("evt_13"), &json!(7)));
    assert!(!new["headers"].as_array().unwrap().is_empty());
    drop(served);
    let restarted = support::process::Served::start(&["--store", &db.url, "--forward-to", OWED]);
    everything_is_there(&restarted.url("")).await;
    let version: i32 = pg
        .query_one("SELECT version FROM hookrelay_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, hookrelay::server::postgres::SCHEMA_VERSION);
    let endpoints: i64 = pg
        .query_one("SELECT count(*) FROM endpoints", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(endpoints, 0, "the endpoints table is made, empty");
    let webhook_id = pg
        .query_one(
            "SELECT event, event_id FROM webhook_ids WHERE webhook_id = 'msg_10'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (
            webhook_id.get::<_, String>(0),
            webhook_id.get::<_, Option<i64>>(1)
        ),
        ("evt_10".to_string(), Some(10)),
        "the verified webhook-id names its event by its string id"
    );
}

/// The PostgreSQL store's migration from version 5 (where `event_id` and `received_at` had
/// indexes of their own and the string id the database's collation), on the real server:
/// every event is still found by its string id and by its `event_id` (and a provider's
/// event named like a model event is not found by the number), duplicates and conflicts
/// are still told apart, the count of events carries on, and new events follow in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_5_postgres_database_migrates_without_loss() {
    use hookrelay::server::postgres::testdb::TestDb;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let pg = db.client().await;
    pg.batch_execute(POSTGRES_V1).await.unwrap();
    pg.batch_execute(POSTGRES_V2_TO_V5).await.unwrap();
    let rows: [(i64, &str, Option<i64>, String); 4] = [
        (3, "evt_10", Some(10), event(10)),
        (4, "evt_11", Some(11), event(11)),
        (5, "evt_-12", Some(-12), event(-12)),
        (
            6,
            "evt_13",
            None,
            r#"{"id":"evt_13","type":"charge.succeeded"}"#.to_owned(),
        ),
    ];
    for (seq, id, event_id, body) in &rows {
        pg.execute(
            "INSERT INTO events (seq, id, event_id, event_type, received_at, body, headers)
             VALUES ($1, $2, $3, 'order.created', $4, $5, ''::BYTEA)",
            &[seq, id, event_id, &(RECEIVED + seq), &body.as_bytes()],
        )
        .await
        .unwrap();
    }
    pg.batch_execute(
        "SELECT setval('events_seq_seq', 6);
         UPDATE counters SET value = 4 WHERE key = 'kept';
         UPDATE counters SET value = 3 WHERE key = 'evicted';",
    )
    .await
    .unwrap();

    let served = support::process::Served::start(&["--store", &db.url, "--forward-to", OWED]);
    let base = served.url("");
    for (_, id, event_id, body) in &rows {
        let by_id = get_json(&base, &format!("/events/{id}")).await;
        assert_eq!(by_id["id"], *id, "{by_id}");
        let shown = crate::support::get_text(&client(), &format!("{base}/events/{id}/body")).await;
        assert_eq!(shown, *body);
        let number = id.trim_start_matches("evt_");
        let by_number = client()
            .get(format!("{base}/events/{number}"))
            .send()
            .await
            .unwrap();
        match event_id {
            Some(_) => assert_eq!(by_number.json::<Value>().await.unwrap(), by_id),
            None => assert_eq!(
                by_number.status(),
                404,
                "a provider's evt_13 is no event 13"
            ),
        }
    }
    let http = client();
    let again = http
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .body(event(10))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.json::<Value>().await.unwrap()["duplicate"], true);
    let changed = event(11).replace("event number", "another event number");
    assert_eq!(post(&http, &base, changed).await.unwrap(), 409);
    assert_eq!(post(&http, &base, event(14)).await.unwrap(), 200);
    let new = get_json(&base, "/events/14").await;
    assert_eq!(new["id"], "evt_14");
    // After the old ones (the duplicate and the conflict drew numbers too, unused).
    assert!(new["seq"].as_i64().unwrap() > 6, "{new}");
    let health = get_json(&base, "/healthz").await;
    assert_eq!(
        (&health["events"], &health["evicted"]),
        (&json!(5), &json!(3)),
        "{health}"
    );
    let listed = get_json(&base, "/events?since=2023-11-14T22:13:20.000005Z").await;
    assert_eq!(
        ids(&listed),
        [
            (json!("evt_-12"), json!(-12)),
            (json!("evt_13"), Value::Null),
            (json!("evt_14"), json!(14)),
        ],
        "listed since the received time of the third"
    );
    let version: i32 = pg
        .query_one("SELECT version FROM hookrelay_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, hookrelay::server::postgres::SCHEMA_VERSION);
}

/// Migrations 2 to 5 of the PostgreSQL store as released, verbatim, with version 5 recorded.
const POSTGRES_V2_TO_V5: &str = "
    ALTER TABLE events ADD COLUMN id TEXT;
    UPDATE events SET id = 'evt_' || event_id;
    ALTER TABLE events ALTER COLUMN id SET NOT NULL;
    ALTER TABLE events ADD CONSTRAINT events_id_key UNIQUE (id);
    ALTER TABLE events DROP CONSTRAINT events_event_id_key;
    ALTER TABLE events ALTER COLUMN event_id DROP NOT NULL;
    CREATE INDEX events_event_id ON events (event_id);
    ALTER TABLE events ADD COLUMN headers BYTEA NOT NULL DEFAULT ''::BYTEA;
    ALTER TABLE events ADD COLUMN signature TEXT;
    ALTER TABLE deliveries ADD COLUMN event TEXT;
    UPDATE deliveries SET event = 'evt_' || event_id;
    ALTER TABLE deliveries ALTER COLUMN event SET NOT NULL;
    ALTER TABLE deliveries ALTER COLUMN event_id DROP NOT NULL;
    CREATE INDEX deliveries_event_text ON deliveries (event);
    CREATE TABLE endpoints (
         id         TEXT   PRIMARY KEY,
         name       TEXT   CONSTRAINT endpoints_name_key UNIQUE,
         created_at BIGINT NOT NULL,
         doc        TEXT   NOT NULL
     );
    ALTER TABLE webhook_ids ADD COLUMN event TEXT;
    UPDATE webhook_ids SET event = 'evt_' || event_id;
    ALTER TABLE webhook_ids ALTER COLUMN event SET NOT NULL;
    ALTER TABLE webhook_ids ALTER COLUMN event_id DROP NOT NULL;
    CREATE INDEX webhook_ids_event ON webhook_ids (event);
    INSERT INTO counters VALUES ('kept', (SELECT count(*) FROM events))
         ON CONFLICT (key) DO NOTHING;
    UPDATE hookrelay_schema SET version = 5;
";

/// The PostgreSQL schema of version 1 as released, verbatim, with its version recorded.
const POSTGRES_V1: &str = "
    CREATE TABLE events (
         seq         BIGSERIAL PRIMARY KEY,
         event_id    BIGINT NOT NULL UNIQUE,
         event_type  TEXT   NOT NULL,
         received_at BIGINT NOT NULL,
         body        BYTEA  NOT NULL
     );
     CREATE INDEX events_received ON events (received_at);
     CREATE TABLE deliveries (
         id            BIGSERIAL PRIMARY KEY,
         event_seq     BIGINT  NOT NULL,
         event_id      BIGINT  NOT NULL,
         target        TEXT    NOT NULL,
         status        TEXT    NOT NULL,
         created_at    BIGINT  NOT NULL,
         due           BIGINT,
         claimed_until BIGINT,
         round         INTEGER NOT NULL DEFAULT 0,
         attempts      INTEGER NOT NULL DEFAULT 0,
         body          BYTEA
     );
     CREATE INDEX deliveries_queue ON deliveries (target, due)
         WHERE status IN ('pending', 'failed');
     CREATE INDEX deliveries_leases ON deliveries (target, claimed_until)
         WHERE status = 'in_flight';
     CREATE INDEX deliveries_event ON deliveries (event_id);
     CREATE TABLE attempts (
         delivery_id     BIGINT  NOT NULL,
         n               INTEGER NOT NULL,
         at              BIGINT  NOT NULL,
         status_code     INTEGER,
         error           TEXT,
         duration_ms     BIGINT  NOT NULL,
         next_attempt_at BIGINT,
         PRIMARY KEY (delivery_id, n)
     );
     CREATE TABLE counters (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
     INSERT INTO counters VALUES ('evicted', 0);
     CREATE TABLE webhook_ids (
         webhook_id TEXT   PRIMARY KEY,
         event_id   BIGINT NOT NULL,
         digest     BYTEA  NOT NULL,
         seen_at    BIGINT NOT NULL
     );
     CREATE INDEX webhook_ids_seen ON webhook_ids (seen_at);
     CREATE TABLE hookrelay_schema (version INTEGER NOT NULL);
     INSERT INTO hookrelay_schema VALUES (1);
";
