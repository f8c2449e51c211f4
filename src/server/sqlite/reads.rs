//! The reads: a few read-only connections, reused, each used by one blocking task at a
//! time. In WAL mode they see the last commit and never wait for the writer.

use crate::sync::LockExt;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::DateTime;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use crate::server::store::{
    AttemptRecord, DeliveryFilter, DeliveryRecord, EventKey, EventQuery, Headers, StoredEvent,
    model_id, webhook_id,
};

use super::{ops, schema, status_from_sql};
use crate::server::verify::Seen;

/// Idle connections kept for reuse, at most.
const KEEP: usize = 4;

type Result<T> = rusqlite::Result<T>;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on an idle connection (or a new one), in a read transaction so that what
    /// it reads in several queries is one snapshot. Blocking: call from `spawn_blocking`.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let taken = self.idle_list().pop();
        let mut conn = match taken {
            Some(conn) => conn,
            None => schema::open_reader(&self.path)?,
        };
        let result = (|| {
            let tx = conn.transaction()?;
            let value = f(&tx)?;
            tx.finish()?;
            Ok(value)
        })();
        let mut idle = self.idle_list();
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }

    fn idle_list(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.locked()
    }
}

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The columns [`event_row`] reads.
const EVENT_COLUMNS: &str = "seq, id, event_id, event_type, received_at, body, headers, signature";

fn event_row(row: &rusqlite::Row<'_>) -> Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get::<_, i64>(0)? as u64,
        id: row.get(1)?,
        event_id: row.get(2)?,
        event_type: row.get(3)?,
        received_at: DateTime::from_timestamp_micros(row.get(4)?).unwrap_or_default(),
        body: row.get(5)?,
        headers: Headers::from_bytes(row.get::<_, Vec<u8>>(6)?).unwrap_or_default(),
        signature: row
            .get::<_, Option<String>>(7)?
            .and_then(|s| serde_json::from_str(&s).ok()),
    })
}

pub fn get(conn: &Connection, key: EventKey<'_>) -> Result<Option<StoredEvent>> {
    match key {
        EventKey::Id(id) => conn
            .prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1"))?
            .query_row([id], event_row),
        // A model event's id is `evt_<event_id>` (and the only index is the id's).
        EventKey::EventId(n) => conn
            .prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE id = ?1 AND event_id = ?2"
            ))?
            .query_row(params![model_id(n), n], event_row),
    }
    .optional()
}

pub fn list(conn: &Connection, query: &EventQuery) -> Result<Vec<StoredEvent>> {
    let mut conditions = vec!["seq > ?1".to_string()];
    let after = query
        .after
        .map_or(0, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let mut values = vec![Value::Integer(after)];
    if let Some(event_type) = &query.event_type {
        values.push(Value::Text(event_type.clone()));
        conditions.push(format!("event_type = ?{}", values.len()));
    }
    if let Some(since) = query.since {
        values.push(Value::Integer(since.timestamp_micros()));
        conditions.push(format!("received_at >= ?{}", values.len()));
    }
    if let Some(before) = query.before {
        values.push(Value::Integer(i64::try_from(before).unwrap_or(i64::MAX)));
        conditions.push(format!("seq < ?{}", values.len()));
    }
    values.push(Value::Integer(limit_sql(query.limit)));
    let order = if query.newest_first { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE {} ORDER BY seq {order} LIMIT ?{}",
        conditions.join(" AND "),
        values.len()
    );
    conn.prepare_cached(&sql)?
        .query_map(params_from_iter(values), event_row)?
        .collect()
}

pub fn deliveries(conn: &Connection, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>> {
    let (conditions, mut values) = ops::filter_sql(filter);
    values.push(Value::Integer(limit_sql(filter.limit)));
    let sql = format!(
        "SELECT id, event_id, target, status, created_at, due, event FROM deliveries
         WHERE {conditions} ORDER BY id LIMIT ?{}",
        values.len()
    );
    let mut found = conn
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |r| {
            let status = status_from_sql(&r.get::<_, String>(3)?)?;
            let event: String = r.get(6)?;
            Ok(DeliveryRecord {
                id: r.get::<_, i64>(0)? as u64,
                webhook_id: webhook_id(&event),
                event,
                event_id: r.get(1)?,
                target: r.get(2)?,
                status,
                created_at: DateTime::from_timestamp_micros(r.get(4)?).unwrap_or_default(),
                next_attempt_at: match status {
                    crate::server::store::DeliveryStatus::Failed => r
                        .get::<_, Option<i64>>(5)?
                        .and_then(DateTime::from_timestamp_micros),
                    _ => None,
                },
                attempts: Vec::new(),
            })
        })?
        .collect::<Result<Vec<_>>>()?;
    let mut attempts = conn.prepare_cached(
        "SELECT at, status_code, error, duration_ms, next_attempt_at FROM attempts
         WHERE delivery_id = ?1 ORDER BY n",
    )?;
    for d in &mut found {
        d.attempts = attempts
            .query_map([d.id as i64], |r| {
                Ok(AttemptRecord {
                    at: DateTime::from_timestamp_micros(r.get(0)?).unwrap_or_default(),
                    status_code: r.get(1)?,
                    error: r.get(2)?,
                    duration_ms: r.get::<_, i64>(3)?.max(0) as u64,
                    next_attempt_at: r
                        .get::<_, Option<i64>>(4)?
                        .and_then(DateTime::from_timestamp_micros),
                })
            })?
            .collect::<Result<_>>()?;
    }
    Ok(found)
}

/// What a verified webhook-id was answered with, if it is kept.
pub fn webhook_id_seen(conn: &Connection, id: &str) -> Result<Option<Seen>> {
    let row: Option<(String, Option<i64>, Vec<u8>)> = conn
        .prepare_cached("SELECT event, event_id, digest FROM webhook_ids WHERE webhook_id = ?1")?
        .query_row([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    Ok(row.and_then(|(event, event_id, digest)| {
        Some(Seen {
            id: event,
            event_id,
            digest: digest.try_into().ok()?,
        })
    }))
}
