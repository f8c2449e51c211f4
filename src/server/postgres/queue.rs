//! The shared delivery queue. A worker of any instance claims the next due delivery of
//! its target with `FOR UPDATE SKIP LOCKED`, so no two take the same one, and holds it for
//! a lease (`claimed_until`): when the instance dies mid-attempt, the lease runs out and
//! any instance takes the delivery over, with the same `webhook-id` (at least once).
//! Workers of one instance that ask together share a round trip ([`Claims`]), and an
//! attempt is recorded in one statement ([`record`]).

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio::sync::oneshot;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::{failed, id_sql, limit_sql, micros, status_from_sql, storable};
use crate::server::store::{
    AttemptRecord, Claim, DeliveryFilter, DeliveryJob, DeliveryRecord, DeliveryStatus, NextState,
    StoreError, webhook_id,
};

/// Deliveries claimed in one statement, at most.
const MAX_CLAIM: usize = 64;

/// Claims made together. The workers of this instance that ask for work of one target
/// while a claim of it is on its way to the database wait for the next round trip, which
/// claims a due delivery for each of them at once: one statement for many workers, and
/// never a delivery claimed here that no worker waits for.
pub struct Claims {
    pool: Pool,
    lease_micros: i64,
    /// The workers waiting, by target; a target is here while a claim of it is running.
    waiting: std::sync::Mutex<HashMap<Arc<str>, Vec<Waiter>>>,
}

struct Waiter {
    now: i64,
    reply: oneshot::Sender<Result<Claim, StoreError>>,
}

impl Claims {
    pub fn new(pool: Pool, lease_micros: i64) -> Arc<Self> {
        Arc::new(Self {
            pool,
            lease_micros,
            waiting: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Takes the next delivery to `target` due at `now`, or one whose lease ran out.
    pub async fn claim(
        self: &Arc<Self>,
        target: &str,
        now: DateTime<Utc>,
    ) -> Result<Claim, StoreError> {
        let (reply, answer) = oneshot::channel();
        let waiter = Waiter {
            now: micros(now),
            reply,
        };
        let lead = {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            match waiting.get_mut(target) {
                Some(queue) => {
                    queue.push(waiter);
                    None
                }
                None => {
                    let target: Arc<str> = Arc::from(target);
                    waiting.insert(Arc::clone(&target), vec![waiter]);
                    Some(target)
                }
            }
        };
        if let Some(target) = lead {
            tokio::spawn(Arc::clone(self).serve(target));
        }
        answer
            .await
            .map_err(|_| StoreError("the claim was dropped".into()))?
    }

    /// Claims for the workers waiting on `target`, a round trip at a time, until none waits.
    async fn serve(self: Arc<Self>, target: Arc<str>) {
        loop {
            let waiters: Vec<Waiter> = {
                let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
                let Some(queue) = waiting.get_mut(&target) else {
                    return;
                };
                if queue.is_empty() {
                    waiting.remove(&target);
                    return;
                }
                let n = queue.len().min(MAX_CLAIM);
                queue.drain(..n).collect()
            };
            // Every waiter may take what is due at the earliest of their times.
            let now = waiters.iter().map(|w| w.now).min().unwrap_or(0);
            match self.claim_many(&target, now, waiters.len()).await {
                Ok((jobs, next_due)) => {
                    let mut jobs = jobs.into_iter();
                    let mut unwanted = Vec::new();
                    for waiter in waiters {
                        let claim = match jobs.next() {
                            Some(job) => Claim::Job(job),
                            None => Claim::Idle { next_due },
                        };
                        if let Err(Ok(Claim::Job(job))) = waiter.reply.send(Ok(claim)) {
                            unwanted.push(id_sql(job.id));
                        }
                    }
                    if !unwanted.is_empty() {
                        self.release(&unwanted, now).await;
                    }
                }
                Err(e) => {
                    for waiter in waiters {
                        let _ = waiter.reply.send(Err(StoreError(e.0.clone())));
                    }
                }
            }
        }
    }

    /// Up to `n` deliveries to `target` due at `now` (or with a lapsed lease), in the order
    /// they came due, each under a fresh lease; when fewer, when the next comes due.
    async fn claim_many(
        &self,
        target: &str,
        now: i64,
        n: usize,
    ) -> Result<(Vec<DeliveryJob>, Option<DateTime<Utc>>), StoreError> {
        let client = super::connection(&self.pool).await?;
        let until = now.saturating_add(self.lease_micros);
        let claim = client
            .prepare_cached(CLAIM_SQL)
            .await
            .map_err(failed("preparing"))?;
        let rows = client
            .query(&claim, &[&target, &now, &until, &(n as i64)])
            .await
            .map_err(failed("claiming deliveries"))?;
        let mut due: Vec<(Option<i64>, DeliveryJob)> = rows
            .iter()
            .map(|row| {
                let event: String = row.get(5);
                let job = DeliveryJob {
                    id: row.get::<_, i64>(0) as u64,
                    webhook_id: webhook_id(&event),
                    event,
                    event_id: row.get(1),
                    target: Arc::from(target),
                    body: row.get::<_, Option<Vec<u8>>>(4).unwrap_or_default().into(),
                    round: row.get::<_, i32>(2).max(0) as u32,
                    attempts: row.get::<_, i32>(3).max(0) as u32,
                };
                (row.get(6), job)
            })
            .collect();
        due.sort_by_key(|(due, job)| (*due, job.id));
        let jobs: Vec<DeliveryJob> = due.into_iter().map(|(_, job)| job).collect();
        if jobs.len() == n {
            return Ok((jobs, None));
        }
        // Not one for everyone: the earliest retry, or the earliest lease to run out.
        let next = client
            .prepare_cached(NEXT_DUE_SQL)
            .await
            .map_err(failed("preparing"))?;
        let next_due = client
            .query_one(&next, &[&target])
            .await
            .map_err(failed("reading the delivery queue"))?
            .get::<_, Option<i64>>(0)
            .and_then(DateTime::from_timestamp_micros);
        Ok((jobs, next_due))
    }

    /// Ends the lease of deliveries claimed for workers that stopped waiting, so any
    /// worker takes them at once. Should this fail, the leases run out by themselves.
    async fn release(&self, ids: &[i64], now: i64) {
        let released = async {
            let client = super::connection(&self.pool).await?;
            client
                .execute(
                    "UPDATE deliveries SET claimed_until = $2
                     WHERE id = ANY($1) AND status = 'in_flight'",
                    &[&ids, &now],
                )
                .await
                .map_err(failed("releasing deliveries"))
        };
        if let Err(e) = released.await {
            tracing::warn!(error = %e, "claimed deliveries wait for their lease to run out");
        }
    }
}

/// Claims up to `$4` deliveries: those due and those whose lease lapsed, each read in the
/// order of its index so that a long queue costs no more than a short one (one scan of
/// both kinds, sorted together, took time in proportion to the whole backlog).
const CLAIM_SQL: &str = "WITH due_now AS (
         SELECT id, due FROM deliveries
         WHERE target = $1 AND status IN ('pending', 'failed') AND due <= $2
         ORDER BY due
         LIMIT $4
         FOR UPDATE SKIP LOCKED
     ), lapsed AS (
         SELECT id, due FROM deliveries
         WHERE target = $1 AND status = 'in_flight' AND claimed_until <= $2
         ORDER BY claimed_until
         LIMIT $4
         FOR UPDATE SKIP LOCKED
     ), next AS (
         SELECT id FROM (SELECT * FROM lapsed UNION ALL SELECT * FROM due_now) AS found
         ORDER BY due, id
         LIMIT $4
     )
     UPDATE deliveries d SET status = 'in_flight', claimed_until = $3
     FROM next WHERE d.id = next.id
     RETURNING d.id, d.event_id, d.round, d.attempts,
               coalesce(d.body, (SELECT e.body FROM events e WHERE e.seq = d.event_seq)),
               d.event, d.due";

const NEXT_DUE_SQL: &str = "SELECT least(
         (SELECT min(due) FROM deliveries
          WHERE target = $1 AND status IN ('pending', 'failed')),
         (SELECT min(claimed_until) FROM deliveries
          WHERE target = $1 AND status = 'in_flight'))";

/// Records an attempt and moves the delivery on, in one statement; whether the delivery
/// ended (delivered or dead) with its event no longer kept.
const RECORD_SQL: &str = "WITH d AS (
         UPDATE deliveries SET status = $2, due = $3, claimed_until = NULL,
                round = round + 1, attempts = attempts + 1
         WHERE id = $1
         RETURNING id, attempts, event_seq, status
     ), a AS (
         INSERT INTO attempts (delivery_id, n, at, status_code, error, duration_ms, next_attempt_at)
         SELECT d.id, d.attempts, $4, $5, $6, $7, $8 FROM d
     )
     SELECT d.status IN ('delivered', 'dead')
            AND NOT EXISTS (SELECT 1 FROM events e WHERE e.seq = d.event_seq)
     FROM d";

/// Records an attempt of a claimed delivery and moves it on, in one statement (one round
/// trip); a finished delivery of an event no longer kept is then forgotten.
pub async fn record(
    client: &mut deadpool_postgres::Object,
    id: i64,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<(), StoreError> {
    let (to, due) = match next {
        NextState::Delivered => (DeliveryStatus::Delivered, None),
        NextState::RetryAt(at) => (DeliveryStatus::Failed, Some(micros(at))),
        NextState::Dead => (DeliveryStatus::Dead, None),
    };
    let status_code = attempt.status_code.map(i32::from);
    let duration = i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX);
    let record = client
        .prepare_cached(RECORD_SQL)
        .await
        .map_err(failed("preparing"))?;
    let orphan = client
        .query_opt(
            &record,
            &[
                &id,
                &to.as_str(),
                &due,
                &micros(attempt.at),
                &status_code,
                &attempt.error,
                &duration,
                &attempt.next_attempt_at.map(micros),
            ],
        )
        .await
        .map_err(failed("recording an attempt"))?
        .is_some_and(|row| row.get::<_, bool>(0));
    if orphan {
        let tx = client
            .transaction()
            .await
            .map_err(failed("starting a transaction"))?;
        forget(&*tx, &[id]).await?;
        tx.commit().await.map_err(failed("forgetting a delivery"))?;
    }
    Ok(())
}

/// Deletes deliveries and their attempts.
pub async fn forget<C>(tx: &C, ids: &[i64]) -> Result<(), StoreError>
where
    C: tokio_postgres::GenericClient + Sync,
{
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
    // Text no row can hold (U+0000) matches nothing, and is not sent: it fails a statement.
    if let Some(targets) = &filter.targets {
        let storable_ones: Vec<String> = targets.iter().filter(|t| storable(t)).cloned().collect();
        if storable_ones.is_empty() {
            conditions.push("FALSE".to_string());
        } else {
            values.push(Box::new(storable_ones));
            conditions.push(format!("target = ANY(${})", values.len()));
        }
    }
    match (&filter.event, filter.event_id) {
        (None, None) => {}
        (event, event_id) => {
            let mut either = Vec::new();
            if let Some(event) = event {
                if storable(event) {
                    values.push(Box::new(event.clone()));
                    either.push(format!("event = ${}", values.len()));
                } else {
                    either.push("FALSE".to_string());
                }
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

/// The condition on a row of `deliveries` that nobody will attempt it: its target is a
/// stored endpoint no longer kept or, when `served` is the `$N` parameter holding the
/// options' URLs, a URL not among them.
fn orphaned(served: Option<usize>) -> String {
    let gone = "(left(deliveries.target, 3) = 'ep_'
         AND NOT EXISTS (SELECT 1 FROM endpoints e WHERE e.id = deliveries.target))";
    match served {
        None => gone.to_string(),
        Some(n) => format!(
            "({gone} OR (left(deliveries.target, 3) <> 'ep_'
              AND NOT deliveries.target = ANY(${n}::TEXT[])))"
        ),
    }
}

/// Queues matching deliveries that are not in flight or pending for a fresh round, but
/// none to a stored endpoint that no longer exists.
pub async fn replay(
    client: &Client,
    filter: &DeliveryFilter,
    served: Option<&[Arc<str>]>,
) -> Result<Vec<Arc<str>>, StoreError> {
    let (conditions, mut values) = filter_sql(&DeliveryFilter {
        after: None,
        ..filter.clone()
    });
    values.push(Box::new(micros(Utc::now())));
    let due = values.len();
    if let Some(served) = served {
        values.push(Box::new(
            served.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        ));
    }
    let orphaned = orphaned(served.map(|_| values.len()));
    let sql = format!(
        "UPDATE deliveries SET status = 'pending', round = 0, due = ${due}
         WHERE {conditions} AND status IN ('failed', 'delivered', 'dead') AND NOT ({orphaned})
         RETURNING target"
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

/// Gives up on waiting deliveries to stored endpoints that no longer exist: each such
/// target, with how many became dead.
pub async fn drop_orphaned(
    client: &Client,
    served: Option<&[Arc<str>]>,
) -> Result<Vec<(String, usize)>, StoreError> {
    let condition = orphaned(served.map(|_| 1));
    let sql = format!(
        "WITH dropped AS (
             UPDATE deliveries SET status = 'dead', due = NULL
             WHERE status IN ('pending', 'failed') AND {condition}
             RETURNING target)
         SELECT target, count(*) FROM dropped GROUP BY target ORDER BY target"
    );
    let urls: Vec<String> = served
        .unwrap_or_default()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = match served {
        Some(_) => vec![&urls],
        None => vec![],
    };
    let rows = client
        .query(&sql, &params)
        .await
        .map_err(failed("dropping deliveries of deleted endpoints"))?;
    Ok(rows
        .iter()
        .map(|row| (row.get(0), row.get::<_, i64>(1) as usize))
        .collect())
}
