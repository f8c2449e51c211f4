//! Group commit: inserts that arrive together share one transaction and one multi-row
//! statement. A few committers take turns at one queue; each takes the first waiting
//! insert, opens a transaction, takes the insert lock, and only then gathers every other
//! insert already queued (keeping the queue to itself until then, so batches keep the
//! order of arrival) (up to [`MAX_BATCH`]), so that the inserts that arrived while the
//! previous batch was committing all ride in this one. It writes them (events and their
//! deliveries in one statement, one notification per target), commits, and answers each
//! caller only after COMMIT. When the shared transaction fails on a statement (a bad row),
//! each insert is tried again alone, so one caller's failure is never another's; not when
//! no row can be the cause (no connection, a lock waited for until `lock_timeout`), which
//! would fail each insert again as slowly.
//!
//! Sequence numbers in commit order, two batches at a time: a batch's transaction draws
//! its `seq` while its session holds [`SEQUENCE_LOCK`], and before it commits it takes the
//! transaction-level [`INSERT_LOCK`], waiting for the batch before it to be committed and
//! visible (a transaction's locks are released only then), and only then lets the
//! sequence lock go. Both locks are taken in that order by every insert transaction of
//! every instance, so batches take the commit lock in the order they drew their sequence
//! numbers, and a transaction with smaller sequence numbers is always visible before one
//! with larger ones: a client paging `GET /events?cursor=` (or resuming a stream from the
//! last `seq` it saw) never steps over an event that commits later. In between, the next
//! batch is gathered and written while the previous one's COMMIT waits for its WAL flush,
//! so the flush no longer stops the next batch's work (the turn that serialises is the
//! commit, not the insert). The `kept` counter (and eviction) moves under the commit lock.
//!
//! `--max-pending` without counting the queue on every insert: the count of open
//! deliveries is read (exactly, under both locks, once the batch before is committed) at
//! most every [`COUNT_MAX_AGE`], and in between this instance adds what it queued itself
//! (as soon as written, so that the next batch counts it before it commits). Near the bound the count is
//! read again before any refusal, so an event is refused only on an exact count; above
//! it, other instances' inserts of the last [`COUNT_MAX_AGE`] may be missed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use chrono::Utc;
use deadpool_postgres::Pool;
use tokio::sync::{Mutex, MutexGuard, mpsc, oneshot};

use super::{micros, trim};
use crate::server::quiet::Quieted;
use crate::server::store::{Headers, Inserted, Signature, StoreError};

/// Awaits statements sent together (`name = future, …`), as `tokio::try_join!` would, but
/// fails with the first error in the order they were sent. After one statement of a
/// transaction fails every later one fails too ("current transaction is aborted"), and
/// `try_join!` may return any of those first, hiding the cause: a bad row (worth writing
/// each insert alone) or a lock waited for until `lock_timeout` (not worth it).
macro_rules! join_in_order {
    ($($name:ident = $future:expr),+ $(,)?) => {{
        let ($($name,)+) = tokio::join!($($future),+);
        let first_error = || Ok::<_, tokio_postgres::Error>(($($name?,)+));
        first_error()
    }};
}

/// Inserts written in one transaction, at most.
const MAX_BATCH: usize = 512;

/// Key of the transaction-level advisory lock every insert transaction takes once its
/// events have their sequence numbers and holds until it has committed; every change of
/// the `kept` counter is made under it ("hkrl" and 3).
pub const INSERT_LOCK: i64 = 0x686b_726c_0000_0003;

/// Key of the session-level advisory lock an insert transaction holds while its events
/// draw their sequence numbers, until it holds [`INSERT_LOCK`] ("hkrl" and 4).
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
    /// Events kept after the last batch committed here (`i64::MAX` when not known): while
    /// a batch cannot take the store past its capacity, it commits without waiting to
    /// learn whether to evict. Another instance's inserts since are learnt from the next
    /// batch's count, so the store exceeds its bound by a batch of theirs at most, a while.
    kept: AtomicI64,
    /// Events of this instance's batches committing now, counted as kept already.
    ahead: AtomicI64,
}

/// Starts `committers` tasks writing what is sent to the returned queue, until every
/// sender is gone.
pub fn start(pool: Pool, limits: Limits, committers: usize) -> mpsc::UnboundedSender<Pending> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        receiver: Mutex::new(receiver),
        open: std::sync::Mutex::new(None),
        kept: AtomicI64::new(i64::MAX),
        ahead: AtomicI64::new(0),
    });
    for _ in 0..committers.max(1) {
        let (pool, shared) = (pool.clone(), Arc::clone(&shared));
        tokio::spawn(async move {
            loop {
                // The queue stays this committer's until it has gathered its batch under
                // the insert lock: batches are formed, and committed, in arrival order.
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
        Err(e) if batch.len() > 1 && e.each_alone => {
            let (error, size) = (e.error, batch.len());
            tracing::debug!(%error, size, "a shared insert failed; each alone");
        }
        Err(e) => {
            warn_failed(&e.error);
            for pending in batch {
                answer_or_count(pending.reply, Err(StoreError(e.error.0.clone())));
            }
            return;
        }
    }
    for pending in batch {
        let mut one = vec![pending];
        let answer = write(pool, limits, shared, &mut one, None)
            .await
            .map(|mut answers| answers.remove(0))
            .map_err(|e| e.error);
        if let Err(e) = &answer {
            warn_failed(e);
        }
        if let Some(pending) = one.pop() {
            answer_or_count(pending.reply, answer);
        }
    }
}

/// Why a batch was not written, and whether writing its inserts one at a time may help: it
/// does when a row of the batch may be the cause, not when none is (no connection, a lock
/// waited for until `lock_timeout`), which would fail each insert again, as slowly.
struct Failed {
    error: StoreError,
    each_alone: bool,
}

/// A failure of the store's own steps (a connection, an eviction): no row's fault.
impl From<StoreError> for Failed {
    fn from(error: StoreError) -> Self {
        Self {
            error,
            each_alone: false,
        }
    }
}

/// [`super::failed`], telling whether the batch's rows may be the cause: not when the
/// statement waited too long for a lock or was cancelled.
fn failed(what: &str) -> impl Fn(tokio_postgres::Error) -> Failed + '_ {
    use tokio_postgres::error::SqlState;
    move |e| {
        let waited = [SqlState::LOCK_NOT_AVAILABLE, SqlState::QUERY_CANCELED];
        let each_alone = !e.code().is_some_and(|code| waited.contains(code));
        Failed {
            error: super::failed(what)(e),
            each_alone,
        }
    }
}

/// Logs why an insert was answered 503, at most once every 5 seconds with the count of the
/// others since: a database that is down fails every request, and the log should say why
/// without repeating it thousands of times a second.
fn warn_failed(e: &StoreError) {
    static WARNING: Quieted = Quieted::every(Duration::from_secs(5));
    if let Some(also) = WARNING.due() {
        tracing::warn!(error = %e, also_failed_since = also, "cannot store an event; answering 503");
    }
}

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

/// The batch before is committed once this returns; this one's sequence numbers are drawn.
const ORDER_SQL: &str = "SELECT pg_advisory_xact_lock($1), pg_advisory_unlock($2)";

/// The same once the commit lock is held already.
const UNLOCK_SQL: &str = "SELECT pg_advisory_unlock($1)";

const READ_SQL: &str = "SELECT id, body FROM events WHERE id = ANY($1)";

const NOTIFY_SQL: &str = "SELECT pg_notify('hookrelay_work', t) FROM unnest($1::TEXT[]) AS t";

const KEPT_SQL: &str = "UPDATE counters SET value = value + $1 WHERE key = 'kept' RETURNING value";

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
) -> Result<Vec<Inserted>, Failed> {
    let mut client = super::connection(pool).await?;
    let written = write_in(&mut client, limits, shared, batch, gather).await;
    if written.is_err() {
        // The transaction may be open still, and the sequence lock belongs to the session
        // and outlives it: end both, or close the connection, which does.
        let ended = client
            .batch_execute(&format!(
                "ROLLBACK; SELECT pg_advisory_unlock({SEQUENCE_LOCK})"
            ))
            .await;
        if ended.is_err() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
    written
}

async fn write_in(
    client: &mut deadpool_postgres::Object,
    limits: Limits,
    shared: &Shared,
    batch: &mut Vec<Pending>,
    gather: Option<MutexGuard<'_, mpsc::UnboundedReceiver<Pending>>>,
) -> Result<Vec<Inserted>, Failed> {
    // BEGIN and COMMIT as statements of their own, sent together with the statements
    // beside them: the turn waits for no answer it does not need.
    let begin = client
        .prepare_cached("BEGIN")
        .await
        .map_err(failed("preparing"))?;
    let lock = client
        .prepare_cached("SELECT pg_advisory_lock($1)")
        .await
        .map_err(failed("preparing"))?;
    let tx = &***client;
    join_in_order!(
        began = tx.execute(&begin, &[]),
        locked = tx.execute(&lock, &[&SEQUENCE_LOCK]),
    )
    .map_err(failed("taking the sequence lock"))?;
    if let Some(mut receiver) = gather {
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
    }
    // Whether this transaction holds the commit lock already: an exact count of open
    // deliveries needs the batch before committed.
    let mut ordered = false;

    // Room in the queue: a fresh enough estimate, or an exact count under the lock.
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
            // Both locks held: the batch before is committed, none other is in flight.
            let commit_lock = client
                .prepare_cached("SELECT pg_advisory_xact_lock($1)")
                .await
                .map_err(failed("preparing"))?;
            tx.execute(&commit_lock, &[&INSERT_LOCK])
                .await
                .map_err(failed("waiting for the batch before"))?;
            ordered = true;
            let counted = client
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

    let now = micros(Utc::now());
    // The common turn in one exchange: no exact count was needed and no eviction can be
    // due, so the insert, its announcements, the wait for the batch before, the count and
    // the commit go together.
    let rows = Rows {
        ids: &ids,
        event_ids: &event_ids,
        types: &types,
        bodies: &bodies,
        headers: &headers,
        signatures: &signatures,
        delivery_ids: &delivery_ids,
        delivery_targets: &delivery_targets,
    };
    if !ordered && !ids.is_empty() {
        let capacity = i64::try_from(limits.capacity).unwrap_or(i64::MAX);
        let most = ids.len() as i64;
        let ahead = shared.ahead.fetch_add(most, Relaxed) + most;
        let known = shared.kept.load(Relaxed);
        if known.saturating_add(ahead) <= capacity {
            let written = in_one_exchange(client, shared, now, &rows).await;
            shared.ahead.fetch_sub(most, Relaxed);
            let inserted = written?;
            return settle(client, batch, &refused, now, &first_of, inserted).await;
        }
        shared.ahead.fetch_sub(most, Relaxed);
    }
    let mut inserted = Numbered::new();
    let mut added = 0i64;
    let mut announce: HashSet<&str> = HashSet::new();
    if !ids.is_empty() {
        let insert = client
            .prepare_cached(INSERT_SQL)
            .await
            .map_err(failed("preparing"))?;
        let row = tx
            .query_one(&insert, &rows.params(&now))
            .await
            .map_err(failed("storing events"))?;
        inserted = numbered(&row);
        for id in inserted.keys() {
            if let Some(&i) = first_of.get(id.as_str()) {
                announce.extend(batch[i].targets.iter().map(|t| &**t));
            }
        }
        added = inserted.len() as i64;
        // Counted now, under the sequence lock, so that the next batch's estimate has
        // them before this one commits (should it not, the estimate is high a while).
        adjust_open(shared, row.get(2));
    }

    if !announce.is_empty() {
        let targets: Vec<&str> = announce.into_iter().collect();
        let notify = client
            .prepare_cached(NOTIFY_SQL)
            .await
            .map_err(failed("preparing"))?;
        tx.execute(&notify, &[&targets])
            .await
            .map_err(failed("announcing queued deliveries"))?;
    }

    // The commit's turn: wait for the batch before to be visible, let the next one draw
    // its sequence numbers, count what this one kept, and commit, all sent at once; only
    // when the store may be full does the count come back before the commit, to evict.
    let kept_sql = client
        .prepare_cached(KEPT_SQL)
        .await
        .map_err(failed("preparing"))?;
    let order = client
        .prepare_cached(if ordered { UNLOCK_SQL } else { ORDER_SQL })
        .await
        .map_err(failed("preparing"))?;
    let commit = client
        .prepare_cached("COMMIT")
        .await
        .map_err(failed("preparing"))?;
    let both: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&INSERT_LOCK, &SEQUENCE_LOCK];
    let order_params = if ordered { &both[1..] } else { &both[..] };
    let kept_params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&added];
    let capacity = i64::try_from(limits.capacity).unwrap_or(i64::MAX);
    // This instance's batches between their count and the store of it count as kept.
    let ahead = shared.ahead.fetch_add(added, Relaxed) + added;
    let known = shared.kept.load(Relaxed);
    let turn = async {
        if known.saturating_add(ahead) <= capacity {
            let (_, kept, _) = join_in_order!(
                ordered = tx.execute(&order, order_params),
                kept = tx.query_opt(&kept_sql, &kept_params),
                committed = tx.execute(&commit, &[]),
            )
            .map_err(failed("committing events"))?;
            Ok(kept.map(|row| row.get::<_, i64>(0)))
        } else {
            let (_, kept) = join_in_order!(
                ordered = tx.execute(&order, order_params),
                kept = tx.query_opt(&kept_sql, &kept_params),
            )
            .map_err(failed("waiting for the batch before"))?;
            let (kept, evicted) = match kept {
                Some(row) => {
                    let before: i64 = row.get(0);
                    let after = trim::evict_excess(tx, limits.capacity, before).await?;
                    (Some(after), before - after)
                }
                None => (None, 0),
            };
            tx.execute(&commit, &[])
                .await
                .map_err(failed("committing events"))?;
            trim::count_evicted(evicted);
            Ok::<_, Failed>(kept)
        }
    };
    let kept = turn.await;
    shared.ahead.fetch_sub(added, Relaxed);
    shared.kept.store(kept?.unwrap_or(i64::MAX), Relaxed);
    settle(client, batch, &refused, now, &first_of, inserted).await
}

/// The columns of a batch's inserts, one entry per event (`delivery_*`: per delivery).
struct Rows<'a> {
    ids: &'a [&'a str],
    event_ids: &'a [Option<i64>],
    types: &'a [&'a str],
    bodies: &'a [&'a [u8]],
    headers: &'a [&'a [u8]],
    signatures: &'a [Option<String>],
    delivery_ids: &'a [&'a str],
    delivery_targets: &'a [&'a str],
}

impl Rows<'_> {
    /// The parameters of [`INSERT_SQL`], received at `now`.
    fn params<'p>(&'p self, now: &'p i64) -> [&'p (dyn tokio_postgres::types::ToSql + Sync); 9] {
        [
            &self.ids,
            &self.event_ids,
            &self.types,
            now,
            &self.bodies,
            &self.headers,
            &self.signatures,
            &self.delivery_ids,
            &self.delivery_targets,
        ]
    }
}

/// A batch's events and their deliveries in one statement, answered by one row whatever
/// was inserted: the events' `seq` and `id` as arrays ([`numbered`]), the deliveries
/// queued, and the count of events inserted, also left in the transaction's
/// `hookrelay.added` for [`ADDED_SQL`] when that is sent in the same exchange.
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
     )
     SELECT array_agg(seq), array_agg(id), (SELECT count(*) FROM queued),
            set_config('hookrelay.added', count(*)::TEXT, true)
     FROM ins";

/// [`KEPT_SQL`] with the count [`INSERT_SQL`] left.
const ADDED_SQL: &str =
    "UPDATE counters SET value = value + current_setting('hookrelay.added')::BIGINT
     WHERE key = 'kept' RETURNING value";

/// The sequence number of each event inserted, by id.
type Numbered = HashMap<String, u64>;

/// Writes `rows` and commits, in one exchange with the database: the insert, the
/// announcements of its targets, the wait for the batch before (which lets the next one
/// draw its numbers), the `kept` counter and COMMIT. Deliveries are counted as queued
/// before they are sent, then corrected, so another batch never underestimates them.
async fn in_one_exchange(
    client: &deadpool_postgres::Object,
    shared: &Shared,
    now: i64,
    rows: &Rows<'_>,
) -> Result<Numbered, Failed> {
    let prepared = join_in_order!(
        insert = client.prepare_cached(INSERT_SQL),
        notify = client.prepare_cached(NOTIFY_SQL),
        order = client.prepare_cached(ORDER_SQL),
        added = client.prepare_cached(ADDED_SQL),
        commit = client.prepare_cached("COMMIT"),
    );
    let (insert, notify, order, added, commit) = prepared.map_err(failed("preparing"))?;
    let targets: Vec<&str> = {
        let mut seen: HashSet<&str> = HashSet::new();
        rows.delivery_targets
            .iter()
            .copied()
            .filter(|t| seen.insert(t))
            .collect()
    };
    let listed = rows.delivery_ids.len() as i64;
    adjust_open(shared, listed);
    let tx = &***client;
    let announce = async {
        if targets.is_empty() {
            return Ok(0);
        }
        tx.execute(&notify, &[&targets]).await
    };
    let params = rows.params(&now);
    let (row, _, _, kept, _) = join_in_order!(
        row = tx.query_one(&insert, &params),
        announced = announce,
        ordered = tx.execute(&order, &[&INSERT_LOCK, &SEQUENCE_LOCK]),
        kept = tx.query_opt(&added, &[]),
        committed = tx.execute(&commit, &[]),
    )
    .map_err(failed("storing events"))?;
    let queued: i64 = row.get(2);
    adjust_open(shared, -(listed - queued).max(0));
    shared
        .kept
        .store(kept.map_or(i64::MAX, |row| row.get(0)), Relaxed);
    Ok(numbered(&row))
}

/// The sequence number of each event [`INSERT_SQL`] inserted, by id.
fn numbered(row: &tokio_postgres::Row) -> Numbered {
    let seqs: Vec<i64> = row.get::<_, Option<Vec<i64>>>(0).unwrap_or_default();
    let ids: Vec<String> = row.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
    ids.into_iter()
        .zip(seqs.into_iter().map(|s| s as u64))
        .collect()
}

/// Adds `n` to the count of open deliveries, when there is one.
fn adjust_open(shared: &Shared, n: i64) {
    if n != 0
        && let Some((_, open)) = shared
            .open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
    {
        *open += n;
    }
}

/// The answers of a committed batch, `inserted` holding the ids it inserted: each is new; any
/// other was stored before (the same body or not) or was refused for want of room.
async fn settle(
    client: &deadpool_postgres::Object,
    batch: &[Pending],
    refused: &[bool],
    now: i64,
    first_of: &HashMap<&str, usize>,
    inserted: Numbered,
) -> Result<Vec<Inserted>, Failed> {
    let mut answers: Vec<Option<Inserted>> = vec![None; batch.len()];
    for (id, seq) in &inserted {
        if let Some(&i) = first_of.get(id.as_str()) {
            answers[i] = Some(Inserted::New {
                seq: *seq,
                received_micros: now,
            });
        }
    }
    let unsettled: Vec<&str> = batch
        .iter()
        .zip(&answers)
        .filter(|(_, a)| a.is_none())
        .map(|(p, _)| p.id.as_str())
        .collect();
    if !unsettled.is_empty() {
        let read = client
            .prepare_cached(READ_SQL)
            .await
            .map_err(failed("preparing"))?;
        let stored = client
            .query(&read, &[&unsettled])
            .await
            .map_err(failed("reading events"))?;
        let stored: HashMap<&str, &[u8]> = stored.iter().map(|r| (r.get(0), r.get(1))).collect();
        for (i, p) in batch.iter().enumerate() {
            if answers[i].is_none() {
                answers[i] = Some(match stored.get(p.id.as_str()) {
                    Some(body) if *body == p.body.as_slice() => Inserted::Duplicate,
                    Some(_) => Inserted::Conflict,
                    None if refused[i] => Inserted::QueueFull,
                    None => Inserted::Conflict,
                });
            }
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or(Inserted::Conflict))
        .collect())
}
