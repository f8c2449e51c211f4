//! Group commit: inserts that arrive together share one transaction and one multi-row
//! statement. A few committers take turns at one queue; each takes the first waiting
//! insert, opens a transaction, takes the sequence lock, and only then gathers every other
//! insert already queued (keeping the queue to itself until then, so batches keep the
//! order of arrival) (up to [`MAX_BATCH`]), so that the inserts that arrived while the
//! previous batch was committing all ride in this one. It writes them (events and their
//! deliveries in one statement, one notification per target), commits, and answers each
//! caller only after COMMIT. When the shared transaction fails (a bad row), each insert is
//! tried again alone, so one caller's failure is never another's.
//!
//! Commits side by side, readers at a horizon: a batch's transaction gets its transaction
//! id and draws its `seq` numbers in one statement while its session holds
//! [`SEQUENCE_LOCK`], and lets the lock go as soon as the statement is done; nothing else
//! orders inserts, so the batches of every committer of every instance commit at the same
//! time and PostgreSQL flushes their WAL together. Among insert transactions, transaction
//! id order is therefore `seq` order, and each event keeps the id of the transaction that
//! inserted it (`inserted_by`). Commits finish in any order, so a reader of the sequence
//! (`GET /events?cursor=`, the event stream, `hookrelay listen`) stops at a horizon instead
//! (`HORIZON_SQL` in `mod.rs`): only events inserted by a transaction older than every
//! transaction of this database still in progress are listed, so an event that commits
//! later with a smaller `seq` is never stepped over.
//!
//! The count of events kept is a sum: each transaction adds what it kept to a counter row
//! of its own backend (`kept:<pid>`), never shared with another transaction in progress.
//! After its commit a batch reads the sum and, above `--max-events`, evicts the excess in a
//! transaction of its own under [`TRIM_LOCK`](super::trim::TRIM_LOCK): the last batch to
//! commit sees every other's events, so a store that has gone quiet holds `--max-events`
//! exactly; while batches commit, it may hold theirs beyond it for a moment.
//!
//! `--max-pending` without counting the queue on every insert: the count of open
//! deliveries (as committed) is read at most every [`COUNT_MAX_AGE`], and in between this
//! instance adds what it queued itself (as soon as written, so that the next batch counts
//! it before it commits). Near the bound the count is read again before any refusal, so an
//! event is refused only on a fresh count; the bound may be passed by the deliveries of
//! batches that were committing while it was read (at most one batch per committer), and
//! by other instances' inserts of the last [`COUNT_MAX_AGE`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use super::{failed, micros, trim};
use crate::server::store::{Headers, Inserted, Signature, StoreError};

/// Inserts written in one transaction, at most.
const MAX_BATCH: usize = 512;

/// Key of the session-level advisory lock an insert transaction holds while it gets its
/// transaction id and its events draw their sequence numbers ("hkrl" and 4).
pub const SEQUENCE_LOCK: i64 = 0x686b_726c_0000_0004;

/// How long a count of open deliveries is trusted, plus what this instance queued since.
pub const COUNT_MAX_AGE: Duration = Duration::from_millis(100);

/// An insert waiting for its turn, owned so it can cross to a committer.
pub struct Pending {
    pub id: String,
    pub event_id: Option<i64>,
    pub event_type: String,
    pub body: Vec<u8>,
    pub headers: Headers,
    pub signature: Option<Signature>,
    pub targets: Vec<Arc<str>>,
    pub reply: oneshot::Sender<Result<Inserted, StoreError>>,
}

#[derive(Clone, Copy)]
pub struct Limits {
    pub capacity: usize,
    pub max_pending: usize,
}

/// What the committers of one instance share.
struct Shared {
    receiver: Mutex<mpsc::UnboundedReceiver<Pending>>,
    /// Open deliveries when last counted, and since when, plus those queued here since.
    open: std::sync::Mutex<Option<(Instant, i64)>>,
}

/// Starts `committers` tasks writing what is sent to the returned queue, until every
/// sender is gone.
pub fn start(pool: Pool, limits: Limits, committers: usize) -> mpsc::UnboundedSender<Pending> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        receiver: Mutex::new(receiver),
        open: std::sync::Mutex::new(None),
    });
    for _ in 0..committers.max(1) {
        let (pool, shared) = (pool.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            loop {
                // The queue stays this committer's until it has gathered its batch under
                // the sequence lock: batches draw their sequence numbers in arrival order.
                let mut receiver = shared.receiver.lock().await;
                let Some(first) = receiver.recv().await else {
                    return;
                };
                commit(&pool, limits, &shared, first, receiver).await;
            }
        });
    }
    sender
}

async fn commit(
    pool: &Pool,
    limits: Limits,
    shared: &Shared,
    first: Pending,
    receiver: MutexGuard<'_, mpsc::UnboundedReceiver<Pending>>,
) {
    let mut batch = vec![first];
    match write(pool, limits, shared, &mut batch, Some(receiver)).await {
        Ok(answers) => {
            for (pending, answer) in batch.into_iter().zip(answers) {
                answer_or_count(pending.reply, Ok(answer));
            }
            return;
        }
        Err(e) if batch.len() > 1 => {
            tracing::debug!(error = %e, size = batch.len(), "a shared insert failed; each alone");
        }
        Err(e) => {
            warn_failed(&e);
            if let Some(pending) = batch.pop() {
                let _ = pending.reply.send(Err(e));
            }
            return;
        }
    }
    for pending in batch {
        let mut one = vec![pending];
        let answer = write(pool, limits, shared, &mut one, None)
            .await
            .map(|mut answers| answers.remove(0));
        if let Err(e) = &answer {
            warn_failed(e);
        }
        if let Some(pending) = one.pop() {
            answer_or_count(pending.reply, answer);
        }
    }
}

/// Logs why an insert was answered 503, at most once every [`WARN_EVERY`] with the count
/// of the others since: a database that is down fails every request, and the log should
/// say why without repeating it thousands of times a second.
fn warn_failed(e: &StoreError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: std::sync::Mutex<Option<Instant>> = std::sync::Mutex::new(None);
    static QUIET: AtomicU64 = AtomicU64::new(0);
    let mut last = LAST.lock().unwrap_or_else(|p| p.into_inner());
    if last.is_some_and(|at| at.elapsed() < WARN_EVERY) {
        QUIET.fetch_add(1, Ordering::Relaxed);
        return;
    }
    *last = Some(Instant::now());
    let also = QUIET.swap(0, Ordering::Relaxed);
    tracing::warn!(error = %e, also_failed_since = also, "cannot store an event; answering 503");
}

/// The shortest time between two warnings of [`warn_failed`].
const WARN_EVERY: Duration = Duration::from_secs(5);

/// Answers an insert's caller. One that is gone (its client hung up while the insert was
/// committing) cannot count its event any more, though it is stored and will be delivered:
/// it is counted here, so `hookrelay_events_received_total` matches what was stored.
fn answer_or_count(
    reply: oneshot::Sender<Result<Inserted, StoreError>>,
    answer: Result<Inserted, StoreError>,
) {
    if let Err(Ok(answer)) = reply.send(answer) {
        count_unanswered(answer);
    }
}

/// Counts the result of an insert whose caller left before reading it.
pub fn count_unanswered(answer: Inserted) {
    match answer {
        Inserted::New { .. } => crate::server::metrics::event_received("accepted"),
        Inserted::Duplicate => crate::server::metrics::event_received("duplicate"),
        Inserted::Conflict | Inserted::QueueFull => {}
    }
}

/// The caller's end of an insert's answer. Dropped unread (the caller's request was
/// dropped while the insert was committing, or just after), it stops the committer from
/// answering and counts an answer that had already arrived; the committer counts one
/// that comes after ([`answer_or_count`]). So every stored event is counted once.
pub struct Answer(pub Option<oneshot::Receiver<Result<Inserted, StoreError>>>);

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(mut unread) = self.0.take() {
            unread.close();
            if let Ok(Ok(answer)) = unread.try_recv() {
                count_unanswered(answer);
            }
        }
    }
}

/// The events and their deliveries, and what this transaction kept added to its backend's
/// counter row (never another transaction's while this one is in progress). Each event's
/// `inserted_by` is this transaction's id (the column's default).
const INSERT_SQL: &str = "WITH ins AS (
         INSERT INTO events (id, event_id, event_type, received_at, body, headers, signature)
         SELECT u.id, u.event_id, u.event_type, $4, u.body, u.headers, u.signature
         FROM unnest($1::TEXT[], $2::BIGINT[], $3::TEXT[], $5::BYTEA[], $6::BYTEA[], $7::TEXT[])
              AS u(id, event_id, event_type, body, headers, signature)
         ON CONFLICT (id) DO NOTHING
         RETURNING seq, id, event_id
     ), queued AS (
         INSERT INTO deliveries (event_seq, event, event_id, target, status, created_at, due)
         SELECT ins.seq, ins.id, ins.event_id, d.target, 'pending', $4, $4
         FROM unnest($8::TEXT[], $9::TEXT[]) AS d(id, target) JOIN ins ON ins.id = d.id
         RETURNING 1
     ), kept AS (
         INSERT INTO counters (key, value)
         SELECT 'kept:' || pg_backend_pid(), count(*) FROM ins
         ON CONFLICT (key) DO UPDATE SET value = counters.value + EXCLUDED.value
     )
     SELECT seq, id, (SELECT count(*) FROM queued) FROM ins";

/// Lets the next batch draw its sequence numbers.
const UNLOCK_SQL: &str = "SELECT pg_advisory_unlock($1)";

const OPEN_SQL: &str =
    "SELECT count(*) FROM deliveries WHERE status IN ('pending', 'in_flight', 'failed')";

/// Writes `batch` (and, when `gather`, whatever else is queued by the time this
/// transaction holds the sequence lock) in one transaction; one answer per insert, in
/// order, once committed.
async fn write(
    pool: &Pool,
    limits: Limits,
    shared: &Shared,
    batch: &mut Vec<Pending>,
    gather: Option<MutexGuard<'_, mpsc::UnboundedReceiver<Pending>>>,
) -> Result<Vec<Inserted>, StoreError> {
    let mut client = super::connection(pool).await?;
    let written = write_in(&mut client, limits, shared, batch, gather).await;
    let (answers, announce) = match written {
        Ok(written) => written,
        Err(e) => {
            // The sequence lock belongs to the session and outlives the transaction (rolled
            // back when it was dropped): let it go, or close the connection, which does.
            let unlocked = client.query_one(UNLOCK_SQL, &[&SEQUENCE_LOCK]).await;
            if unlocked.is_err() {
                drop(deadpool_postgres::Object::take(client));
            }
            return Err(e);
        }
    };
    // After the commit, not in the insert's transaction: a transaction that notifies holds
    // a lock of the whole cluster through its commit, so that notifications are queued in
    // commit order, and batches that announce work would commit one at a time again. A
    // notification lost here (the connection broke) is made up for by every instance's poll.
    let targets: Vec<&str> = announce.iter().map(String::as_str).collect();
    if !targets.is_empty()
        && let Err(e) = super::notify::work_queued(&**client, &targets).await
    {
        tracing::debug!(error = %e, "queued deliveries not announced; the poll finds them");
    }
    // The last batch to commit sees every other's events: a store gone quiet holds exactly
    // `--max-events`.
    if let Err(e) = trim::evict_excess(&mut client, limits.capacity).await {
        tracing::warn!(error = %e, "cannot evict the oldest events; the next insert will");
    }
    Ok(answers)
}

/// What one transaction wrote: one answer per insert, and the targets of the deliveries
/// it queued (to announce once committed).
type Written = (Vec<Inserted>, Vec<String>);

async fn write_in(
    client: &mut deadpool_postgres::Object,
    limits: Limits,
    shared: &Shared,
    batch: &mut Vec<Pending>,
    gather: Option<MutexGuard<'_, mpsc::UnboundedReceiver<Pending>>>,
) -> Result<Written, StoreError> {
    let tx = client
        .transaction()
        .await
        .map_err(failed("starting a transaction"))?;
    let lock = tx
        .prepare_cached("SELECT pg_advisory_lock($1)")
        .await
        .map_err(failed("preparing"))?;
    tx.execute(&lock, &[&SEQUENCE_LOCK])
        .await
        .map_err(failed("taking the sequence lock"))?;
    if let Some(mut receiver) = gather {
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
    }

    // Room in the queue: a fresh enough estimate, or a count of what is committed.
    let need: usize = batch.iter().map(|p| p.targets.len()).sum();
    let max_pending = i64::try_from(limits.max_pending).unwrap_or(i64::MAX);
    let estimate = match *shared.open.lock().unwrap_or_else(|e| e.into_inner()) {
        Some((at, n)) if at.elapsed() < COUNT_MAX_AGE => Some(n),
        _ => None,
    };
    let mut open = match estimate {
        Some(n) if n.saturating_add(need as i64) <= max_pending => n,
        _ if need == 0 => estimate.unwrap_or(0),
        _ => {
            let counted = tx
                .prepare_cached(OPEN_SQL)
                .await
                .map_err(failed("preparing"))?;
            let n: i64 = tx
                .query_one(&counted, &[])
                .await
                .map_err(failed("counting open deliveries"))?
                .get(0);
            *shared.open.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), n));
            n
        }
    };

    // Which inserts go in: the first of each id, while the queue has room.
    let mut refused = vec![false; batch.len()];
    let mut first_of: HashMap<&str, usize> = HashMap::with_capacity(batch.len());
    let mut ids = Vec::with_capacity(batch.len());
    let mut event_ids = Vec::with_capacity(batch.len());
    let mut types = Vec::with_capacity(batch.len());
    let mut bodies = Vec::with_capacity(batch.len());
    let mut headers = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let (mut delivery_ids, mut delivery_targets) = (Vec::new(), Vec::new());
    for (i, p) in batch.iter().enumerate() {
        let n = p.targets.len() as i64;
        if n > 0 && open.saturating_add(n) > max_pending {
            refused[i] = true;
            continue;
        }
        if first_of.contains_key(p.id.as_str()) {
            continue;
        }
        first_of.insert(&p.id, i);
        open += n;
        ids.push(p.id.as_str());
        event_ids.push(p.event_id);
        types.push(p.event_type.as_str());
        bodies.push(p.body.as_slice());
        headers.push(p.headers.as_bytes());
        signatures.push(p.signature.and_then(|s| serde_json::to_string(&s).ok()));
        for t in &p.targets {
            delivery_ids.push(p.id.as_str());
            delivery_targets.push(&**t);
        }
    }

    // The transaction id and the sequence numbers, under the sequence lock, let go in the
    // same round trip (a statement sent after the insert runs once it is done).
    let unlock = tx
        .prepare_cached(UNLOCK_SQL)
        .await
        .map_err(failed("preparing"))?;
    let now = micros(Utc::now());
    let mut answers: Vec<Option<Inserted>> = vec![None; batch.len()];
    let mut announce: HashSet<&str> = HashSet::new();
    if ids.is_empty() {
        tx.query_one(&unlock, &[&SEQUENCE_LOCK])
            .await
            .map_err(failed("letting the sequence lock go"))?;
    } else {
        let insert = tx
            .prepare_cached(INSERT_SQL)
            .await
            .map_err(failed("preparing"))?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &ids,
            &event_ids,
            &types,
            &now,
            &bodies,
            &headers,
            &signatures,
            &delivery_ids,
            &delivery_targets,
        ];
        let (rows, _) = tokio::try_join!(
            tx.query(&insert, &params),
            tx.query_one(&unlock, &[&SEQUENCE_LOCK]),
        )
        .map_err(failed("storing events"))?;
        let mut queued = 0i64;
        for row in &rows {
            let id: &str = row.get(1);
            queued = row.get(2);
            if let Some(&i) = first_of.get(id) {
                answers[i] = Some(Inserted::New {
                    seq: row.get::<_, i64>(0) as u64,
                    received_micros: now,
                });
                announce.extend(batch[i].targets.iter().map(|t| &**t));
            }
        }
        // Counted now, so that the next batch's estimate has them before this one
        // commits (should it not, the estimate is high a while).
        if queued > 0 {
            let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, n)) = open.as_mut() {
                *n += queued;
            }
        }
    }

    // The rest: ids stored before (the same body or not), or refused for want of room.
    let unsettled: Vec<&str> = batch
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_none())
        .map(|(p, _)| p.id.as_str())
        .collect();
    if !unsettled.is_empty() {
        let read = tx
            .prepare_cached("SELECT id, body FROM events WHERE id = ANY($1)")
            .await
            .map_err(failed("preparing"))?;
        let stored = tx
            .query(&read, &[&unsettled])
            .await
            .map_err(failed("reading events"))?;
        let stored: HashMap<&str, &[u8]> = stored.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (i, p) in batch.iter().enumerate() {
            if answers[i].is_some() {
                continue;
            }
            answers[i] = Some(match stored.get(p.id.as_str()) {
                Some(body) if *body == p.body.as_slice() => Inserted::Duplicate,
                Some(_) => Inserted::Conflict,
                None if refused[i] => Inserted::QueueFull,
                None => Inserted::Conflict,
            });
        }
    }
    let announce: Vec<String> = announce.into_iter().map(str::to_owned).collect();
    tx.commit().await.map_err(failed("committing events"))?;
    Ok((
        answers
            .into_iter()
            .map(|a| a.unwrap_or(Inserted::Conflict))
            .collect(),
        announce,
    ))
}
