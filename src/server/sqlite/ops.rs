//! The writes, as SQL run inside the writer's transaction: insert an event with its
//! deliveries, claim, record an attempt, replay, and trim events (capacity and retention).
//! Each keeps the writer's working copy of the counts in step with what it changed.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use rusqlite::{CachedStatement, Connection, OptionalExtension, params, params_from_iter};

use crate::server::store::{
    AttemptRecord, Claim, DeliveryFilter, DeliveryJob, DeliveryStatus, Endpoint, EndpointWrite,
    Headers, Inserted, NewEvent, NextState, Put, Signature, webhook_id,
};
use crate::server::verify::Seen;

use super::trim::{evict_excess, expire, forget_delivery};
use super::{Counts, Limits, status_from_sql};

/// A write, owned so it can be queued to the writer thread and run again alone.
#[derive(Debug)]
pub enum Op {
    Insert {
        id: String,
        event_id: Option<i64>,
        event_type: String,
        body: Vec<u8>,
        headers: Headers,
        signature: Option<Signature>,
        targets: Vec<Arc<str>>,
    },
    Claim {
        target: Arc<str>,
        now: DateTime<Utc>,
    },
    Record {
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
    },
    Replay(DeliveryFilter, Option<Arc<[Arc<str>]>>),
    /// Keeps what a verified webhook-id was answered with; the first answer stays.
    RememberId {
        id: String,
        seen: Seen,
    },
    /// Writes an endpoint whole.
    PutEndpoint {
        endpoint: Box<Endpoint>,
        put: Put,
    },
    /// Removes an endpoint by id.
    DeleteEndpoint(String),
    /// Gives up on waiting deliveries to stored endpoints that no longer exist.
    DropOrphaned(Option<Arc<[Arc<str>]>>),
    /// Drops events beyond the capacity (when it was lowered) or older than the retention.
    Trim,
    #[cfg(test)]
    Exec(String),
}

#[derive(Debug)]
pub enum Reply {
    Inserted(Inserted),
    Claim(Claim),
    Targets(Vec<Arc<str>>),
    Endpoint(EndpointWrite),
    /// `None`: no such endpoint; else how many deliveries were dropped.
    Deleted(Option<usize>),
    /// Each target whose deliveries were dropped, with how many.
    Dropped(Vec<(String, usize)>),
    Done,
}

/// The statements of one group commit that run once per request, prepared once for the
/// group rather than looked up in the connection's cache for each request.
pub struct Group<'c> {
    conn: &'c Connection,
    insert: Option<CachedStatement<'c>>,
}

impl<'c> Group<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        Self { conn, insert: None }
    }
}

const INSERT_EVENT: &str =
    "INSERT INTO events (seq, id, event_id, event_type, received_at, body, headers, signature)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
     ON CONFLICT (id) DO NOTHING";

pub fn apply(
    group: &mut Group<'_>,
    counts: &mut Counts,
    limits: &Limits,
    op: &Op,
) -> Result<Reply> {
    let conn = group.conn;
    Ok(match op {
        Op::Insert {
            id,
            event_id,
            event_type,
            body,
            headers,
            signature,
            targets,
        } => {
            let event = NewEvent {
                id,
                event_id: *event_id,
                event_type,
                body,
                headers: Headers::default(),
                signature: *signature,
                targets,
            };
            Reply::Inserted(insert(group, counts, limits, &event, headers)?)
        }
        Op::Claim { target, now } => Reply::Claim(claim(conn, counts, target, *now)?),
        Op::Record { id, attempt, next } => {
            record(conn, counts, *id, attempt, *next)?;
            Reply::Done
        }
        Op::Replay(filter, served) => {
            Reply::Targets(replay(conn, counts, filter, served.as_deref())?)
        }
        Op::RememberId { id, seen } => {
            counts.webhook_ids += conn
                .prepare_cached(
                    "INSERT INTO webhook_ids (webhook_id, event, event_id, digest, seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (webhook_id) DO NOTHING",
                )?
                .execute(params![
                    id,
                    seen.id,
                    seen.event_id,
                    &seen.digest[..],
                    Utc::now().timestamp_micros()
                ])?;
            Reply::Done
        }
        Op::Trim => {
            evict_excess(conn, counts, limits.capacity)?;
            if let Some(keep) = limits.retention {
                let cutoff = Utc::now() - keep;
                expire(conn, counts, cutoff.timestamp_micros())?;
            }
            Reply::Done
        }
        Op::PutEndpoint { endpoint, put } => Reply::Endpoint(put_endpoint(conn, endpoint, *put)?),
        Op::DeleteEndpoint(id) => Reply::Deleted(delete_endpoint(conn, counts, id)?),
        Op::DropOrphaned(served) => Reply::Dropped(drop_orphaned(conn, counts, served.as_deref())?),
        #[cfg(test)]
        Op::Exec(sql) => {
            conn.execute_batch(sql)?;
            Reply::Done
        }
    })
}

pub type Result<T> = rusqlite::Result<T>;

fn delete_endpoint(conn: &Connection, counts: &mut Counts, id: &str) -> Result<Option<usize>> {
    let deleted = conn
        .prepare_cached("DELETE FROM endpoints WHERE id = ?1")?
        .execute([id])?;
    if deleted == 0 {
        return Ok(None);
    }
    let mut dropped = 0;
    for status in [DeliveryStatus::Pending, DeliveryStatus::Failed] {
        let n = conn
            .prepare_cached(
                "UPDATE deliveries SET status = 'dead', due = NULL WHERE target = ?1 AND status = ?2",
            )?
            .execute(params![id, status.as_str()])?;
        counts.add(status, -(n as isize));
        counts.add(DeliveryStatus::Dead, n as isize);
        dropped += n;
    }
    Ok(Some(dropped))
}

/// The condition on a row of `deliveries` that nobody will attempt it: its target is a
/// stored endpoint no longer kept or, when `served` is the `?N` parameter holding the
/// options' URLs as a JSON array, a URL not among them.
fn orphaned(served: Option<usize>) -> String {
    let gone = "(substr(deliveries.target, 1, 3) = 'ep_'
         AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = deliveries.target))";
    match served {
        None => gone.to_string(),
        Some(n) => format!(
            "({gone} OR (substr(deliveries.target, 1, 3) <> 'ep_'
              AND deliveries.target NOT IN (SELECT value FROM json_each(?{n}))))"
        ),
    }
}

/// The options' URLs as the JSON array [`orphaned`] reads.
fn served_json(served: &[Arc<str>]) -> String {
    serde_json::to_string(&served.iter().map(|s| &**s).collect::<Vec<_>>()).unwrap_or_default()
}

fn drop_orphaned(
    conn: &Connection,
    counts: &mut Counts,
    served: Option<&[Arc<str>]>,
) -> Result<Vec<(String, usize)>> {
    let mut dropped: Vec<(String, usize)> = Vec::new();
    let condition = orphaned(served.map(|_| 2));
    let served = served.map(served_json);
    for status in [DeliveryStatus::Pending, DeliveryStatus::Failed] {
        let mut values = vec![Value::Text(status.as_str().into())];
        values.extend(served.clone().map(Value::Text));
        let targets: Vec<String> = conn
            .prepare_cached(&format!(
                "UPDATE deliveries SET status = 'dead', due = NULL
                 WHERE status = ?1 AND {condition} RETURNING target"
            ))?
            .query_map(params_from_iter(values), |r| r.get(0))?
            .collect::<Result<_>>()?;
        counts.add(status, -(targets.len() as isize));
        counts.add(DeliveryStatus::Dead, targets.len() as isize);
        for target in targets {
            match dropped.iter_mut().find(|(t, _)| *t == target) {
                Some((_, n)) => *n += 1,
                None => dropped.push((target, 1)),
            }
        }
    }
    Ok(dropped)
}

fn put_endpoint(conn: &Connection, endpoint: &Endpoint, put: Put) -> Result<EndpointWrite> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM endpoints WHERE id = ?1")?
        .query_row([&endpoint.id], |_| Ok(()))
        .optional()?
        .is_some();
    if exists != (put == Put::Replace) {
        return Ok(EndpointWrite::IdConflict);
    }
    if let Some(name) = &endpoint.name {
        let taken = conn
            .prepare_cached("SELECT 1 FROM endpoints WHERE name = ?1 AND id <> ?2")?
            .query_row(params![name, endpoint.id], |_| Ok(()))
            .optional()?
            .is_some();
        if taken {
            return Ok(EndpointWrite::NameTaken);
        }
    }
    let doc = serde_json::to_string(endpoint)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    conn.prepare_cached(
        "INSERT INTO endpoints (id, name, created_at, doc) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
    )?
    .execute(params![
        endpoint.id,
        endpoint.name,
        micros(endpoint.created_at),
        doc
    ])?;
    Ok(EndpointWrite::Done)
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn id_sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// The signature as the `signature` column keeps it: its JSON.
pub fn signature_sql(signature: Option<Signature>) -> Option<String> {
    signature.and_then(|s| serde_json::to_string(&s).ok())
}

/// Stores `event` (whose headers are `headers`: moved out so that the op owns them once).
fn insert(
    group: &mut Group<'_>,
    counts: &mut Counts,
    limits: &Limits,
    event: &NewEvent<'_>,
    headers: &Headers,
) -> Result<Inserted> {
    let conn = group.conn;
    let (id, event_id, body, targets) = (event.id, event.event_id, event.body, event.targets);
    let existing = |conn: &Connection| -> Result<Option<Inserted>> {
        let stored: Option<Vec<u8>> = conn
            .prepare_cached("SELECT body FROM events WHERE id = ?1")?
            .query_row([id], |row| row.get(0))
            .optional()?;
        Ok(stored.map(|b| {
            if b == body {
                Inserted::Duplicate
            } else {
                Inserted::Conflict
            }
        }))
    };
    if counts.open() + targets.len() > limits.max_pending {
        return Ok(existing(conn)?.unwrap_or(Inserted::QueueFull));
    }
    let now = micros(Utc::now());
    let statement = match &mut group.insert {
        Some(statement) => statement,
        None => group.insert.insert(conn.prepare_cached(INSERT_EVENT)?),
    };
    // The number after the highest ever given, also when that event is gone: a number is
    // never given twice.
    let seq = counts.seq.saturating_add(1);
    let added = statement.execute(params![
        seq,
        id,
        event_id,
        event.event_type,
        now,
        body,
        headers.as_bytes(),
        signature_sql(event.signature)
    ])?;
    if added == 0 {
        return Ok(existing(conn)?.unwrap_or(Inserted::Conflict));
    }
    counts.seq = seq;
    counts.events += 1;
    if !targets.is_empty() {
        // Looked up only when there is a delivery to add: the lookup hashes the SQL.
        let mut add = conn.prepare_cached(
            "INSERT INTO deliveries (event_seq, event, event_id, target, status, created_at, due)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)",
        )?;
        for target in targets {
            add.execute(params![seq, id, event_id, &**target, now])?;
            counts.add(DeliveryStatus::Pending, 1);
        }
    }
    Ok(Inserted::New {
        seq: seq as u64,
        received_micros: now,
    })
}

fn claim(
    conn: &Connection,
    counts: &mut Counts,
    target: &str,
    now: DateTime<Utc>,
) -> Result<Claim> {
    type Row = (
        i64,
        i64,
        String,
        Option<i64>,
        u32,
        u32,
        Option<Vec<u8>>,
        String,
    );
    let next: Option<Row> = conn
        .prepare_cached(
            "SELECT d.id, d.due, d.status, d.event_id, d.round, d.attempts,
                    coalesce(d.body, (SELECT e.body FROM events e WHERE e.seq = d.event_seq)),
                    d.event
             FROM deliveries d
             WHERE d.target = ?1 AND d.status IN ('pending', 'failed')
             ORDER BY d.due, d.id LIMIT 1",
        )?
        .query_row([target], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .optional()?;
    let Some((id, due, status, event_id, round, attempts, body, event)) = next else {
        return Ok(Claim::Idle { next_due: None });
    };
    if due > micros(now) {
        return Ok(Claim::Idle {
            next_due: DateTime::from_timestamp_micros(due),
        });
    }
    conn.prepare_cached("UPDATE deliveries SET status = 'in_flight', due = NULL WHERE id = ?1")?
        .execute([id])?;
    counts.add(status_from_sql(&status)?, -1);
    counts.add(DeliveryStatus::InFlight, 1);
    Ok(Claim::Job(DeliveryJob {
        id: id as u64,
        webhook_id: webhook_id(&event),
        event,
        event_id,
        target: Arc::from(target),
        body: body.unwrap_or_default().into(),
        round,
        attempts,
    }))
}

fn record(
    conn: &Connection,
    counts: &mut Counts,
    id: u64,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<()> {
    let id = id_sql(id);
    let found: Option<(i64, String, i64)> = conn
        .prepare_cached("SELECT event_seq, status, attempts FROM deliveries WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let Some((event_seq, status, attempts)) = found else {
        return Ok(());
    };
    conn.prepare_cached(
        "INSERT INTO attempts (delivery_id, n, at, status_code, error, duration_ms, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        id,
        attempts + 1,
        micros(attempt.at),
        attempt.status_code,
        attempt.error,
        i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX),
        attempt.next_attempt_at.map(micros),
    ])?;
    let (to, due) = match next {
        NextState::Delivered => (DeliveryStatus::Delivered, None),
        NextState::RetryAt(at) => (DeliveryStatus::Failed, Some(micros(at))),
        NextState::Dead => (DeliveryStatus::Dead, None),
    };
    conn.prepare_cached(
        "UPDATE deliveries SET status = ?2, due = ?3, round = round + 1, attempts = attempts + 1
         WHERE id = ?1",
    )?
    .execute(params![id, to.as_str(), due])?;
    counts.add(status_from_sql(&status)?, -1);
    counts.add(to, 1);
    if !to.is_open() {
        // Sequence numbers are never given twice.
        let event_kept = conn
            .prepare_cached("SELECT 1 FROM events WHERE seq = ?1")?
            .exists([event_seq])?;
        if !event_kept {
            forget_delivery(conn, id)?;
            counts.add(to, -1);
        }
    }
    Ok(())
}

/// The `WHERE` conditions of a delivery filter (status, target, event id, cursor) and
/// their values; shared with the reads.
pub fn filter_sql(filter: &DeliveryFilter) -> (String, Vec<Value>) {
    let mut conditions = vec!["1".to_string()];
    let mut values = Vec::new();
    if let Some(status) = filter.status {
        values.push(Value::Text(status.as_str().into()));
        conditions.push(format!("status = ?{}", values.len()));
    }
    if let Some(targets) = &filter.targets {
        let mut any = Vec::new();
        for target in targets {
            values.push(Value::Text(target.clone()));
            any.push(format!("?{}", values.len()));
        }
        // `target IN ()` is no SQL; no target matches nothing.
        match any.is_empty() {
            true => conditions.push("0".into()),
            false => conditions.push(format!("target IN ({})", any.join(", "))),
        }
    }
    match (&filter.event, filter.event_id) {
        (None, None) => {}
        (event, event_id) => {
            let mut either = Vec::new();
            if let Some(event) = event {
                values.push(Value::Text(event.clone()));
                either.push(format!("event = ?{}", values.len()));
            }
            if let Some(event_id) = event_id {
                values.push(Value::Integer(event_id));
                either.push(format!("event_id = ?{}", values.len()));
            }
            conditions.push(format!("({})", either.join(" OR ")));
        }
    }
    if let Some(after) = filter.after {
        values.push(Value::Integer(id_sql(after)));
        conditions.push(format!("id > ?{}", values.len()));
    }
    (conditions.join(" AND "), values)
}

fn replay(
    conn: &Connection,
    counts: &mut Counts,
    filter: &DeliveryFilter,
    served: Option<&[Arc<str>]>,
) -> Result<Vec<Arc<str>>> {
    let (conditions, mut values) = filter_sql(&DeliveryFilter {
        after: None,
        ..filter.clone()
    });
    if let Some(served) = served {
        values.push(Value::Text(served_json(served)));
    }
    let orphaned = orphaned(served.map(|_| values.len()));
    let sql = format!(
        "SELECT id, target, status FROM deliveries
         WHERE {conditions} AND status IN ('failed', 'delivered', 'dead') AND NOT ({orphaned})
         ORDER BY id"
    );
    let found: Vec<(i64, String, String)> = conn
        .prepare(&sql)?
        .query_map(params_from_iter(values), |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_>>()?;
    let now = micros(Utc::now());
    let mut requeue = conn.prepare_cached(
        "UPDATE deliveries SET status = 'pending', round = 0, due = ?2 WHERE id = ?1",
    )?;
    let mut targets = Vec::with_capacity(found.len());
    for (id, target, status) in found {
        requeue.execute(params![id, now])?;
        counts.add(status_from_sql(&status)?, -1);
        counts.add(DeliveryStatus::Pending, 1);
        targets.push(Arc::from(target));
    }
    Ok(targets)
}
