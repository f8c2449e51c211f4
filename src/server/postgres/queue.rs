//! The shared delivery queue. A worker of any instance claims the next due delivery of
//! its target with `FOR UPDATE SKIP LOCKED`, so no two take the same one, and holds it for
//! a lease (`claimed_until`): when the instance dies mid-attempt, the lease runs out and
//! any instance takes the delivery over, with the same `webhook-id` (at least once).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};

use super::{failed, id_sql, limit_sql, micros, status_from_sql};
use crate::server::store::{
    AttemptRecord, Claim, DeliveryFilter, DeliveryJob, DeliveryRecord, DeliveryStatus, NextState,
    StoreError, webhook_id,
};

/// Takes the next delivery to `target` due at `now`, or one whose lease ran out.
pub async fn claim(
    client: &Client,
    target: &str,
    now: DateTime<Utc>,
    lease_micros: i64,
) -> Result<Claim, StoreError> {
    let now = micros(now);
    let until = now.saturating_add(lease_micros);
    let row = client
        .query_opt(
            "WITH next AS (
                 SELECT id FROM deliveries
                 WHERE target = $1
                   AND ((status IN ('pending', 'failed') AND due <= $2)
                        OR (status = 'in_flight' AND claimed_until <= $2))
                 ORDER BY due, id
                 LIMIT 1
                 FOR UPDATE SKIP LOCKED
             )
             UPDATE deliveries d SET status = 'in_flight', claimed_until = $3
             FROM next WHERE d.id = next.id
             RETURNING d.id, d.event_id, d.round, d.attempts,
                       coalesce(d.body, (SELECT e.body FROM events e WHERE e.seq = d.event_seq)),
                       d.event",
            &[&target, &now, &until],
        )
        .await
        .map_err(failed("claiming a delivery"))?;
    if let Some(row) = row {
        let event: String = row.get(5);
        return Ok(Claim::Job(DeliveryJob {
            id: row.get::<_, i64>(0) as u64,
            webhook_id: webhook_id(&event),
            event,
            event_id: row.get(1),
            target: Arc::from(target),
            body: row.get::<_, Option<Vec<u8>>>(4).unwrap_or_default().into(),
            round: row.get::<_, i32>(2).max(0) as u32,
            attempts: row.get::<_, i32>(3).max(0) as u32,
        }));
    }
    // Nothing due: the earliest retry, or the earliest lease to run out.
    let row = client
        .query_one(
            "SELECT least(
                 (SELECT min(due) FROM deliveries
                  WHERE target = $1 AND status IN ('pending', 'failed')),
                 (SELECT min(claimed_until) FROM deliveries
                  WHERE target = $1 AND status = 'in_flight'))",
            &[&target],
        )
        .await
        .map_err(failed("reading the delivery queue"))?;
    let next_due = row
        .get::<_, Option<i64>>(0)
        .and_then(DateTime::from_timestamp_micros);
    Ok(Claim::Idle { next_due })
}

/// Records an attempt of a claimed delivery and moves it on; a finished delivery of an
/// event no longer kept is forgotten.
pub async fn record(
    tx: &Transaction<'_>,
    id: i64,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<(), StoreError> {
    let found = tx
        .query_opt(
            "SELECT event_seq, attempts FROM deliveries WHERE id = $1 FOR UPDATE",
            &[&id],
        )
        .await
        .map_err(failed("reading a delivery"))?;
    let Some(found) = found else {
        return Ok(());
    };
    let event_seq: i64 = found.get(0);
    let n: i32 = found.get::<_, i32>(1) + 1;
    let status_code = attempt.status_code.map(i32::from);
    let duration = i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO attempts (delivery_id, n, at, status_code, error, duration_ms, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &id,
            &n,
            &micros(attempt.at),
            &status_code,
            &attempt.error,
            &duration,
            &attempt.next_attempt_at.map(micros),
        ],
    )
    .await
    .map_err(failed("recording an attempt"))?;
    let (to, due) = match next {
        NextState::Delivered => (DeliveryStatus::Delivered, None),
        NextState::RetryAt(at) => (DeliveryStatus::Failed, Some(micros(at))),
        NextState::Dead => (DeliveryStatus::Dead, None),
    };
    tx.execute(
        "UPDATE deliveries SET status = $2, due = $3, claimed_until = NULL,
                round = round + 1, attempts = attempts + 1
         WHERE id = $1",
        &[&id, &to.as_str(), &due],
    )
    .await
    .map_err(failed("moving a delivery on"))?;
    if !to.is_open() {
        let kept = tx
            .query_opt("SELECT 1 FROM events WHERE seq = $1", &[&event_seq])
            .await
            .map_err(failed("reading an event"))?;
        if kept.is_none() {
            forget(tx, &[id]).await?;
        }
    }
    Ok(())
}

/// Deletes deliveries and their attempts.
pub async fn forget(tx: &Transaction<'_>, ids: &[i64]) -> Result<(), StoreError> {
    tx.execute("DELETE FROM attempts WHERE delivery_id = ANY($1)", &[&ids])
        .await
        .map_err(failed("deleting attempts"))?;
    tx.execute("DELETE FROM deliveries WHERE id = ANY($1)", &[&ids])
        .await
        .map_err(failed("deleting deliveries"))?;
    Ok(())
}

/// The `WHERE` conditions of a delivery filter, numbered from `$1`, and their values.
fn filter_sql(filter: &DeliveryFilter) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conditions = vec!["TRUE".to_string()];
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if let Some(status) = filter.status {
        values.push(Box::new(status.as_str().to_owned()));
        conditions.push(format!("status = ${}", values.len()));
    }
    if let Some(target) = &filter.target {
        values.push(Box::new(target.clone()));
        conditions.push(format!("target = ${}", values.len()));
    }
    match (&filter.event, filter.event_id) {
        (None, None) => {}
        (event, event_id) => {
            let mut either = Vec::new();
            if let Some(event) = event {
                values.push(Box::new(event.clone()));
                either.push(format!("event = ${}", values.len()));
            }
            if let Some(event_id) = event_id {
                values.push(Box::new(event_id));
                either.push(format!("event_id = ${}", values.len()));
            }
            conditions.push(format!("({})", either.join(" OR ")));
        }
    }
    if let Some(after) = filter.after {
        values.push(Box::new(id_sql(after)));
        conditions.push(format!("id > ${}", values.len()));
    }
    (conditions.join(" AND "), values)
}

fn params(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| &**v as &(dyn ToSql + Sync)).collect()
}

/// Deliveries matching the filter, oldest first, with their attempts.
pub async fn list(
    client: &Client,
    filter: &DeliveryFilter,
) -> Result<Vec<DeliveryRecord>, StoreError> {
    let (conditions, mut values) = filter_sql(filter);
    values.push(Box::new(limit_sql(filter.limit)));
    let sql = format!(
        "SELECT id, event_id, target, status, created_at, due, event FROM deliveries
         WHERE {conditions} ORDER BY id LIMIT ${}",
        values.len()
    );
    let rows = client
        .query(&sql, &params(&values))
        .await
        .map_err(failed("listing deliveries"))?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let status = status_from_sql(row.get(3))?;
        let event: String = row.get(6);
        found.push(DeliveryRecord {
            id: row.get::<_, i64>(0) as u64,
            webhook_id: webhook_id(&event),
            event,
            event_id: row.get(1),
            target: row.get(2),
            status,
            created_at: DateTime::from_timestamp_micros(row.get(4)).unwrap_or_default(),
            next_attempt_at: match status {
                DeliveryStatus::Failed => row
                    .get::<_, Option<i64>>(5)
                    .and_then(DateTime::from_timestamp_micros),
                _ => None,
            },
            attempts: Vec::new(),
        });
    }
    let ids: Vec<i64> = found.iter().map(|d| id_sql(d.id)).collect();
    let rows = client
        .query(
            "SELECT delivery_id, at, status_code, error, duration_ms, next_attempt_at
             FROM attempts WHERE delivery_id = ANY($1) ORDER BY delivery_id, n",
            &[&ids],
        )
        .await
        .map_err(failed("listing attempts"))?;
    for row in &rows {
        let id = row.get::<_, i64>(0) as u64;
        let Some(d) = found.iter_mut().find(|d| d.id == id) else {
            continue;
        };
        d.attempts.push(AttemptRecord {
            at: DateTime::from_timestamp_micros(row.get(1)).unwrap_or_default(),
            status_code: row
                .get::<_, Option<i32>>(2)
                .and_then(|c| u16::try_from(c).ok()),
            error: row.get(3),
            duration_ms: row.get::<_, i64>(4).max(0) as u64,
            next_attempt_at: row
                .get::<_, Option<i64>>(5)
                .and_then(DateTime::from_timestamp_micros),
        });
    }
    Ok(found)
}

/// Queues matching deliveries that are not in flight or pending for a fresh round.
pub async fn replay(client: &Client, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError> {
    let (conditions, mut values) = filter_sql(&DeliveryFilter {
        after: None,
        ..filter.clone()
    });
    values.push(Box::new(micros(Utc::now())));
    let sql = format!(
        "UPDATE deliveries SET status = 'pending', round = 0, due = ${}
         WHERE {conditions} AND status IN ('failed', 'delivered', 'dead')
         RETURNING target",
        values.len()
    );
    let rows = client
        .query(&sql, &params(&values))
        .await
        .map_err(failed("replaying deliveries"))?;
    let targets: Vec<&str> = rows.iter().map(|row| row.get::<_, &str>(0)).collect();
    if !targets.is_empty() {
        super::notify::work_queued(client, &targets).await?;
    }
    Ok(targets.into_iter().map(Arc::from).collect())
}
