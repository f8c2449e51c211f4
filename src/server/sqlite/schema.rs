//! The database file: opening it with the pragmas the store relies on (WAL, the chosen
//! `synchronous`), refusing files that are not ours or are newer than this binary,
//! migrating older ones, and recovering what a crash left in flight.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::Sync;

/// Marks the file as hookrelay's (`PRAGMA application_id`): "hkrl".
const APPLICATION_ID: i32 = 0x686b_726c;

/// Migration `i` brings the file from `PRAGMA user_version` `i` to `i + 1`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: events, deliveries, their attempts, and counters that outlive a restart.
    "CREATE TABLE events (
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
     CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;",
    // 2: verified webhook-ids, each a key as long as the event it answered is kept.
    "CREATE TABLE webhook_ids (
         webhook_id TEXT    PRIMARY KEY,
         event_id   INTEGER NOT NULL,
         digest     BLOB    NOT NULL,
         seen_at    INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE INDEX webhook_ids_event ON webhook_ids (event_id);",
    // 3: string ids beside the model's event_id (which becomes optional), the request's
    // headers and the signature's verification. SQLite cannot drop a NOT NULL, so both
    // tables are rebuilt; their AUTOINCREMENT counters carry over, so that no sequence
    // number or delivery id is ever given twice.
    "CREATE TABLE events_v3 (
         seq         INTEGER PRIMARY KEY AUTOINCREMENT,
         id          TEXT    NOT NULL UNIQUE,
         event_id    INTEGER,
         event_type  TEXT    NOT NULL,
         received_at INTEGER NOT NULL,
         body        BLOB    NOT NULL,
         headers     BLOB    NOT NULL DEFAULT x'',
         signature   TEXT
     );
     INSERT INTO events_v3 (seq, id, event_id, event_type, received_at, body)
         SELECT seq, 'evt_' || event_id, event_id, event_type, received_at, body FROM events;
     DELETE FROM sqlite_sequence WHERE name = 'events_v3';
     INSERT INTO sqlite_sequence (name, seq)
         SELECT 'events_v3', seq FROM sqlite_sequence WHERE name = 'events';
     DROP TABLE events;
     ALTER TABLE events_v3 RENAME TO events;
     CREATE INDEX events_event_id ON events (event_id);
     CREATE TABLE deliveries_v3 (
         id         INTEGER PRIMARY KEY AUTOINCREMENT,
         event_seq  INTEGER NOT NULL,
         event      TEXT    NOT NULL,
         event_id   INTEGER,
         target     TEXT    NOT NULL,
         status     TEXT    NOT NULL,
         created_at INTEGER NOT NULL,
         due        INTEGER,
         round      INTEGER NOT NULL DEFAULT 0,
         attempts   INTEGER NOT NULL DEFAULT 0,
         body       BLOB
     );
     INSERT INTO deliveries_v3 (id, event_seq, event, event_id, target, status, created_at,
                                due, round, attempts, body)
         SELECT id, event_seq, 'evt_' || event_id, event_id, target, status, created_at,
                due, round, attempts, body FROM deliveries;
     DELETE FROM sqlite_sequence WHERE name = 'deliveries_v3';
     INSERT INTO sqlite_sequence (name, seq)
         SELECT 'deliveries_v3', seq FROM sqlite_sequence WHERE name = 'deliveries';
     DROP TABLE deliveries;
     ALTER TABLE deliveries_v3 RENAME TO deliveries;
     CREATE INDEX deliveries_queue ON deliveries (target, due)
         WHERE status IN ('pending', 'failed');
     CREATE INDEX deliveries_event ON deliveries (event);
     CREATE INDEX deliveries_event_id ON deliveries (event_id);",
    // 4: endpoints, each a JSON document (`server::endpoints::Endpoint`) under its id and
    // its unique name.
    "CREATE TABLE endpoints (
         id         TEXT    PRIMARY KEY,
         name       TEXT    UNIQUE,
         created_at INTEGER NOT NULL,
         doc        TEXT    NOT NULL
     );",
    // 5: a verified webhook-id names the event it answered by its string id (a source's
    // events have no event_id); the model's rows become `evt_<event_id>`.
    "CREATE TABLE webhook_ids_v5 (
         webhook_id TEXT    PRIMARY KEY,
         event      TEXT    NOT NULL,
         event_id   INTEGER,
         digest     BLOB    NOT NULL,
         seen_at    INTEGER NOT NULL
     ) WITHOUT ROWID;
     INSERT INTO webhook_ids_v5 (webhook_id, event, event_id, digest, seen_at)
         SELECT webhook_id, 'evt_' || event_id, event_id, digest, seen_at FROM webhook_ids;
     DROP TABLE webhook_ids;
     ALTER TABLE webhook_ids_v5 RENAME TO webhook_ids;
     CREATE INDEX webhook_ids_event ON webhook_ids (event);",
    // 6: no index of events by event_id: a model event's id is `evt_<event_id>`, so the
    // unique index of ids finds it, and every insert and eviction paid for a second index.
    "DROP INDEX IF EXISTS events_event_id;",
    // 7: events without AUTOINCREMENT, which wrote `sqlite_sequence` with every insert (and
    // its page with every group commit): the writer gives each event the number after the
    // highest ever given, which is the newest kept event's or, once the newest was dropped,
    // `seq_floor` (written then). The old counter becomes that floor, so no number is given
    // twice. The evicted count is no longer written with every group commit that evicts
    // either: it is the highest number less the events kept, plus `evicted_offset` (the
    // numbers that no event kept, fixed here: the old counter skipped one for each insert
    // that met an existing id).
    "CREATE TABLE events_v7 (
         seq         INTEGER PRIMARY KEY,
         id          TEXT    NOT NULL UNIQUE,
         event_id    INTEGER,
         event_type  TEXT    NOT NULL,
         received_at INTEGER NOT NULL,
         body        BLOB    NOT NULL,
         headers     BLOB    NOT NULL DEFAULT x'',
         signature   TEXT
     );
     INSERT INTO events_v7 (seq, id, event_id, event_type, received_at, body, headers,
                            signature)
         SELECT seq, id, event_id, event_type, received_at, body, headers, signature
         FROM events;
     INSERT INTO meta (key, value) VALUES ('seq_floor', max(
         coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),
         coalesce((SELECT max(seq) FROM events), 0)))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value;
     INSERT INTO meta (key, value) VALUES ('evicted_offset',
         coalesce((SELECT value FROM meta WHERE key = 'evicted'), 0)
         - (SELECT value FROM meta WHERE key = 'seq_floor')
         + (SELECT count(*) FROM events))
         ON CONFLICT (key) DO UPDATE SET value = excluded.value;
     DELETE FROM meta WHERE key = 'evicted';
     DROP TABLE events;
     ALTER TABLE events_v7 RENAME TO events;",
];

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens the writer's connection: locks the file against a second hookrelay, checks,
/// migrates, and turns deliveries that were in flight at the last stop back into due ones.
/// Returns the connection, the lock to hold while serving, and how many were recovered.
pub fn open_writer(path: &Path, sync: Sync) -> anyhow::Result<(Connection, File, usize)> {
    check_directory(path)?;
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    // Before anything is written: a second hookrelay would take back the first one's
    // deliveries in flight.
    lock.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "the store {} is in use by another hookrelay",
            path.display()
        )
    })?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)
        .map_err(explain)
        .with_context(|| format!("cannot open the store {}", path.display()))?;
    conn.busy_timeout(Duration::from_secs(5))?;
    // Room for every statement the writer runs (about 30 with the relay's): beyond
    // rusqlite's default of 16, a relaying store parsed some of them again and again.
    conn.set_prepared_statement_cache_capacity(64);
    let version = identify(&conn, path)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(explain)
        .with_context(|| format!("cannot switch {} to WAL mode", path.display()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        bail!(
            "{} cannot use WAL mode (got {mode}); put it on a local file system",
            path.display()
        );
    }
    let sync = match sync {
        Sync::Full => "FULL",
        Sync::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    // Keeps the WAL file from staying large after a burst.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    let recovered = migrate_and_recover(&mut conn, version)
        .map_err(explain)
        .with_context(|| format!("cannot write to the store {}", path.display()))?;
    Ok((conn, lock, recovered))
}

/// Opens a connection for reads; the writer must have opened the file first.
pub fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn check_directory(path: &Path) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => bail!(
            "cannot create the store {}: {} is not a directory",
            path.display(),
            dir.display()
        ),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot create the store {}: directory {}",
                path.display(),
                dir.display()
            )
        }),
    }
}

/// The file's schema version, once it is known to be an SQLite file that is ours (or
/// empty) and not newer than this binary.
fn identify(conn: &Connection, path: &Path) -> anyhow::Result<i64> {
    let read = |name: &str| -> anyhow::Result<i64> {
        conn.pragma_query_value(None, name, |row| row.get(0))
            .map_err(explain)
            .with_context(|| format!("cannot read the store {}", path.display()))
    };
    let version = read("user_version")?;
    let app = read("application_id")?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))
        .map_err(explain)
        .with_context(|| format!("cannot read the store {}", path.display()))?;
    let ours = app == i64::from(APPLICATION_ID) || (app == 0 && tables == 0);
    if !ours {
        bail!(
            "{} is an SQLite database of another application, not a hookrelay store",
            path.display()
        );
    }
    if version > SCHEMA_VERSION {
        bail!(
            "{} has schema version {version}, newer than this hookrelay understands \
             ({SCHEMA_VERSION}); run a newer hookrelay or use another file",
            path.display()
        );
    }
    Ok(version)
}

fn migrate_and_recover(conn: &mut Connection, version: i64) -> rusqlite::Result<usize> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let from = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    let now = chrono::Utc::now().timestamp_micros();
    // At-least-once: an attempt cut off by the crash may or may not have arrived, so it is
    // made again, with the same webhook-id for the receiver to deduplicate.
    // They were first in line, so they go first again.
    let recovered = tx.execute(
        "UPDATE deliveries SET status = 'pending', due = created_at WHERE status = 'in_flight'",
        [],
    )?;
    // Also proves the file is writable before serve says it is listening.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('last_start', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [now],
    )?;
    // Once per file, in the table any version has: no migration for it.
    tx.execute(
        "INSERT INTO meta (key, value) VALUES ('store_id', random()) ON CONFLICT (key) DO NOTHING",
        [],
    )?;
    tx.commit()?;
    Ok(recovered)
}

/// The file's `store_id` (see [`EventStore::store_id`](crate::server::store::EventStore::store_id)),
/// as 16 hexadecimal digits.
pub fn store_id(conn: &Connection) -> rusqlite::Result<String> {
    let id: i64 = conn.query_row("SELECT value FROM meta WHERE key = 'store_id'", [], |r| {
        r.get(0)
    })?;
    Ok(format!("{:016x}", id as u64))
}

/// Adds what the user can do about the usual failures to SQLite's terse messages.
fn explain(e: rusqlite::Error) -> anyhow::Error {
    let hint = match e.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => Some("it is not an SQLite database"),
        Some(ErrorCode::DatabaseCorrupt) => Some("the file is corrupt; restore it from a backup"),
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::PermissionDenied) => {
            Some("the file or its directory is not writable")
        }
        Some(ErrorCode::CannotOpen) => Some("check that the directory exists and is writable"),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            Some("another process holds it")
        }
        _ => None,
    };
    // SQLite's message only: its source repeats it with a code number.
    let e = anyhow::anyhow!("{e}");
    match hint {
        Some(hint) => e.context(hint),
        None => e,
    }
}
