//! Group commit: inserts that arrive together share one transaction. A few committers
//! take turns at one queue; each takes the first waiting insert and every other already
//! queued (up to [`MAX_BATCH`]), writes them in one transaction, and answers each caller
//! only after COMMIT. When the shared transaction fails (a deadlock with another instance
//! inserting the same ids in another order, a bad row), each insert is tried again alone,
//! so one caller's failure is never another's.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::{failed, trim};
use crate::server::store::{Headers, Inserted, NewEvent, Signature, StoreError};

/// Key of the advisory lock that keeps inserting transactions one at a time ("hkrl" and 3).
const INSERT_ORDER_LOCK: i64 = 0x686b_726c_0000_0003;

/// Inserts written in one transaction, at most.
const MAX_BATCH: usize = 64;

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

impl Pending {
    fn event(&self) -> NewEvent<'_> {
        NewEvent {
            id: &self.id,
            event_id: self.event_id,
            event_type: &self.event_type,
            body: &self.body,
            // Cloned only when a batch is written again one by one.
            headers: self.headers.clone(),
            signature: self.signature,
            targets: &self.targets,
        }
    }
}

#[derive(Clone, Copy)]
pub struct Limits {
    pub capacity: usize,
    pub max_pending: usize,
}

/// Starts `committers` tasks writing what is sent to the returned queue, until every
/// sender is gone.
pub fn start(pool: Pool, limits: Limits, committers: usize) -> mpsc::UnboundedSender<Pending> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..committers.max(1) {
        let (pool, receiver) = (pool.clone(), Arc::clone(&receiver));
        tokio::spawn(async move {
            while let Some(batch) = next_batch(&receiver).await {
                commit(&pool, limits, batch).await;
            }
        });
    }
    sender
}

/// The first waiting insert and whatever else is already queued; `None` once closed.
async fn next_batch(receiver: &Mutex<mpsc::UnboundedReceiver<Pending>>) -> Option<Vec<Pending>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    Some(batch)
}

async fn commit(pool: &Pool, limits: Limits, batch: Vec<Pending>) {
    if batch.len() > 1 {
        match write(pool, limits, &batch).await {
            Ok(answers) => {
                for (pending, answer) in batch.into_iter().zip(answers) {
                    let _ = pending.reply.send(Ok(answer));
                }
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, size = batch.len(), "a shared insert failed; each alone");
            }
        }
    }
    for pending in batch {
        let answer = write(pool, limits, std::slice::from_ref(&pending))
            .await
            .map(|mut answers| answers.remove(0));
        let _ = pending.reply.send(answer);
    }
}

/// Writes `batch` in one transaction; one answer per insert, in order, once committed.
async fn write(
    pool: &Pool,
    limits: Limits,
    batch: &[Pending],
) -> Result<Vec<Inserted>, StoreError> {
    let mut client = pool
        .get()
        .await
        .map_err(|e| StoreError(format!("connecting to the database: {e}")))?;
    let tx = client
        .transaction()
        .await
        .map_err(failed("starting a transaction"))?;
    // Sequence numbers in commit order: one inserting transaction at a time, from before
    // its first number until its commit, in every instance. Otherwise a transaction
    // holding smaller numbers could commit after one holding larger ones, and a reader
    // paging by sequence number (`?cursor=`, the event stream) would pass its events for
    // good.
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INSERT_ORDER_LOCK])
        .await
        .map_err(failed("taking the insert lock"))?;
    let mut answers = Vec::with_capacity(batch.len());
    for pending in batch {
        let event = pending.event();
        answers.push(trim::insert(&tx, &event, limits.capacity, limits.max_pending).await?);
    }
    tx.commit().await.map_err(failed("committing events"))?;
    Ok(answers)
}
