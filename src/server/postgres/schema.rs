//! The database's tables, versioned in the database itself and migrated at start under an
//! advisory lock, so that instances starting together migrate once. A database written by
//! a newer hookrelay is refused.

use anyhow::{Context, bail};
use tokio_postgres::Client;

/// Migration `i` brings the schema from version `i` to `i + 1`. Times are microseconds
/// since the Unix epoch, as in the SQLite store.
const MIGRATIONS: &[&str] = &[
    // 1: events, deliveries (with their lease), attempts, counters, verified webhook-ids.
    "CREATE TABLE events (
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
     CREATE INDEX webhook_ids_seen ON webhook_ids (seen_at);",
    // 2: string ids beside the model's event_id (now optional; the string id is the key),
    // the request's headers and the signature's verification.
    "ALTER TABLE events ADD COLUMN id TEXT;
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
     CREATE INDEX deliveries_event_text ON deliveries (event);",
    // 3: endpoints, each a JSON document (`server::endpoints::Endpoint`) under its id and
    // its unique name.
    "CREATE TABLE endpoints (
         id         TEXT   PRIMARY KEY,
         name       TEXT   CONSTRAINT endpoints_name_key UNIQUE,
         created_at BIGINT NOT NULL,
         doc        TEXT   NOT NULL
     );",
    // 4: a verified webhook-id names the event it answered by its string id (a source's
    // events have no event_id); the model's rows become `evt_<event_id>`.
    "ALTER TABLE webhook_ids ADD COLUMN event TEXT;
     UPDATE webhook_ids SET event = 'evt_' || event_id;
     ALTER TABLE webhook_ids ALTER COLUMN event SET NOT NULL;
     ALTER TABLE webhook_ids ALTER COLUMN event_id DROP NOT NULL;
     CREATE INDEX webhook_ids_event ON webhook_ids (event);",
    // 5: the number of events kept, maintained by every insert and every removal (under
    // the insert lock), so that a full store finds its excess without counting itself.
    "INSERT INTO counters VALUES ('kept', (SELECT count(*) FROM events))
         ON CONFLICT (key) DO NOTHING;",
    // 6: two indexes fewer to write per event. A model event is found by its string id
    // (`evt_<event_id>`, see `EventKey::EventId`), so `event_id` needs no index of its own;
    // events are received in sequence order (`received_at` is taken under the insert
    // lock), so expiry walks `seq` and `received_at` needs none either. The string id
    // compares as bytes (equal ids are equal bytes under any deterministic collation, so
    // no key changes meaning), which spares the locale's comparison on every insert.
    "DROP INDEX IF EXISTS events_event_id;
     DROP INDEX IF EXISTS events_received;
     ALTER TABLE events ALTER COLUMN id TYPE TEXT COLLATE \"C\";",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Key of the advisory lock held while migrating ("hkrl" and 1).
const MIGRATION_LOCK: i64 = 0x686b_726c_0000_0001;

/// Brings the database to [`SCHEMA_VERSION`], or refuses one that is newer.
pub async fn migrate(client: &mut Client) -> anyhow::Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .context("waiting for the migration lock")?;
    // Without the NOTICE "relation already exists" that every later start would log.
    tx.batch_execute(
        "SET LOCAL client_min_messages = warning;
         CREATE TABLE IF NOT EXISTS hookrelay_schema (version INTEGER NOT NULL)",
    )
    .await
    .context("creating the schema version table")?;
    let row = tx
        .query_opt("SELECT version FROM hookrelay_schema", &[])
        .await?;
    let version = match row {
        Some(row) => row.get::<_, i32>(0),
        None => {
            tx.execute("INSERT INTO hookrelay_schema VALUES (0)", &[])
                .await?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        bail!(
            "the database has schema version {version}, newer than this hookrelay's \
             {SCHEMA_VERSION}; upgrade hookrelay"
        );
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.batch_execute(sql)
            .await
            .with_context(|| format!("migrating the schema from version {from}"))?;
    }
    tx.execute(
        "UPDATE hookrelay_schema SET version = $1",
        &[&SCHEMA_VERSION],
    )
    .await?;
    tx.commit().await.context("committing the migration")?;
    Ok(())
}

/// The database's `store_id` (see [`EventStore::store_id`](crate::server::store::EventStore::store_id)),
/// as 16 hexadecimal digits: a row of `counters` drawn by the first instance to ask, kept
/// by every other (no schema version for it).
pub async fn store_id(client: &Client) -> anyhow::Result<String> {
    client
        .execute(
            "INSERT INTO counters (key, value)
             VALUES ('store_id', (random() * 9.2e18 - 4.6e18)::bigint)
             ON CONFLICT (key) DO NOTHING",
            &[],
        )
        .await?;
    let row = client
        .query_one("SELECT value FROM counters WHERE key = 'store_id'", &[])
        .await?;
    Ok(format!("{:016x}", row.get::<_, i64>(0) as u64))
}
