//! Keeping the store within its bounds: the
//! oldest events beyond `--max-events` go as new ones arrive, and with `--retention` one
//! instance at a time (an advisory lock) drops the expired ones.

use std::time::Duration;

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio_util::sync::CancellationToken;

use super::batch::INSERT_LOCK;
use super::{failed, micros, queue};
use crate::server::store::StoreError;

/// Key of the advisory lock held by the instance that expires old events ("hkrl" and 2).
const HOUSEKEEPING_LOCK: i64 = 0x686b_726c_0000_0002;

/// Drops the oldest events beyond `capacity`, `kept` being the count of events stored now
/// (the `kept` counter, read under the insert lock), and with them [`room`] more: a full
/// store evicts a chunk at a time, so most insert batches commit without this step in
/// their turn. Only the evicted are walked: one short index scan, not a count of the store.
/// Returns the count of events kept afterwards.
pub async fn evict_excess<C>(client: &C, capacity: usize, kept: i64) -> Result<i64, StoreError>
where
    C: tokio_postgres::GenericClient + Sync,
{
    let capacity = i64::try_from(capacity).unwrap_or(i64::MAX);
    let excess = kept.saturating_sub(capacity);
    if excess <= 0 {
        return Ok(kept);
    }
    let evicted = excess.saturating_add(room(capacity)).min(kept);
    let last = client
        .query_opt(
            "SELECT seq FROM events ORDER BY seq OFFSET $1 LIMIT 1",
            &[&(evicted - 1)],
        )
        .await
        .map_err(failed("finding the oldest events"))?;
    match last {
        Some(row) => Ok(kept - drop_through(client, row.get(0)).await?),
        None => Ok(kept),
    }
}

/// The room a full store makes when it evicts, beyond the excess: 1 % of `capacity` (none
/// below 100 events, where every event over the bound goes at once).
pub fn room(capacity: i64) -> i64 {
    capacity / 100
}

/// Events this process evicted (by `--max-events` or `--retention`), counted once their
/// transaction committed: the instance's own `hookrelay_store_evictions_total`.
static EVICTED_HERE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn evicted_here() -> u64 {
    EVICTED_HERE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Counts `n` events evicted by a transaction of this process that committed.
pub fn count_evicted(n: i64) {
    EVICTED_HERE.fetch_add(n.max(0) as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Sets the `kept` counter to the count of events, under the insert lock: at start, so a
/// count that drifted (written by an older hookrelay beside this one) is mended.
pub async fn recount(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(failed("starting a transaction"))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])
        .await
        .map_err(failed("taking the insert lock"))?;
    tx.execute(
        "UPDATE counters SET value = (SELECT count(*) FROM events) WHERE key = 'kept'",
        &[],
    )
    .await
    .map_err(failed("counting events"))?;
    tx.commit().await.map_err(failed("committing the count"))
}

/// Removes the events up to sequence number `last`: their open deliveries keep a copy of
/// the body, their finished ones go with them. Counts them as evicted, and returns how many.
async fn drop_through<C>(tx: &C, last: i64) -> Result<i64, StoreError>
where
    C: tokio_postgres::GenericClient + Sync,
{
    tx.execute(
        "UPDATE deliveries d SET body = e.body FROM events e
         WHERE e.seq = d.event_seq AND d.event_seq <= $1 AND d.body IS NULL
           AND d.status IN ('pending', 'in_flight', 'failed')",
        &[&last],
    )
    .await
    .map_err(failed("keeping the bodies of open deliveries"))?;
    let finished: Vec<i64> = tx
        .query(
            "SELECT id FROM deliveries
             WHERE event_seq <= $1 AND status IN ('delivered', 'dead')",
            &[&last],
        )
        .await
        .map_err(failed("finding finished deliveries"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    if !finished.is_empty() {
        queue::forget(tx, &finished).await?;
    }
    // A webhook-id is a key only as long as the event it answered is kept.
    tx.execute(
        "DELETE FROM webhook_ids
         WHERE event IN (SELECT id FROM events WHERE seq <= $1)",
        &[&last],
    )
    .await
    .map_err(failed("dropping the webhook-ids of old events"))?;
    let dropped = tx
        .execute("DELETE FROM events WHERE seq <= $1", &[&last])
        .await
        .map_err(failed("dropping events"))?;
    if dropped > 0 {
        tx.execute(
            "UPDATE counters
             SET value = value + CASE key WHEN 'evicted' THEN $1::BIGINT ELSE -$1::BIGINT END
             WHERE key IN ('evicted', 'kept')",
            &[&(dropped as i64)],
        )
        .await
        .map_err(failed("counting evicted events"))?;
    }
    Ok(dropped as i64)
}

/// Every so often, drops events (and their verified webhook-ids) older than `keep`, in one
/// instance at a time, until `stop`.
pub fn expire_every(pool: Pool, keep: Duration, stop: CancellationToken) {
    let every = (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = expire(&pool, keep).await {
                tracing::warn!(error = %e, "cannot drop expired events");
            }
        }
    });
}

/// Events dropped by expiry in one transaction: each holds the insert lock (which orders
/// every change of the `kept` counter), so ingest waits for one chunk at most.
const EXPIRE_CHUNK: i64 = if cfg!(test) { 7 } else { 5_000 };

async fn expire(pool: &Pool, keep: Duration) -> Result<(), StoreError> {
    let cutoff = chrono::Duration::from_std(keep)
        .ok()
        .and_then(|keep| Utc::now().checked_sub_signed(keep))
        .map_or(i64::MIN, micros);
    let mut client = super::connection(pool).await?;
    loop {
        let tx = client
            .transaction()
            .await
            .map_err(failed("starting a transaction"))?;
        let mine: bool = tx
            .query_one(
                "SELECT pg_try_advisory_xact_lock($1)",
                &[&HOUSEKEEPING_LOCK],
            )
            .await
            .map_err(failed("taking the housekeeping lock"))?
            .get(0);
        if !mine {
            return Ok(());
        }
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_LOCK])
            .await
            .map_err(failed("taking the insert lock"))?;
        // Events are received in sequence order (`received_at` is taken under the insert
        // lock), so the expired ones are the oldest: walked by `seq`, a chunk at a time.
        let row = tx
            .query_one(
                "SELECT max(seq) FILTER (WHERE received_at < $1),
                        count(*) FILTER (WHERE received_at < $1)
                 FROM (SELECT seq, received_at FROM events ORDER BY seq LIMIT $2) oldest",
                &[&cutoff, &EXPIRE_CHUNK],
            )
            .await
            .map_err(failed("finding expired events"))?;
        let (last, expired): (Option<i64>, i64) = (row.get(0), row.get(1));
        let Some(through) = last else {
            return tx.commit().await.map_err(failed("committing the expiry"));
        };
        let dropped = drop_through(&*tx, through).await?;
        tx.commit().await.map_err(failed("committing the expiry"))?;
        count_evicted(dropped);
        if expired < EXPIRE_CHUNK {
            return Ok(());
        }
    }
}
