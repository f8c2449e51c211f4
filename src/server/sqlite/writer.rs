//! The writer: one thread owns the writing connection and commits in groups. Requests that
//! queue up while a commit (and its fsync) is under way share the next transaction, and
//! each caller is answered only after that transaction is committed. When a write fails
//! (disk full, I/O error), the batch is rolled back and its requests run again one by one,
//! so only those that really fail get an error; failed attempt records are kept and
//! written again later, so a delivery is not left in flight by a passing failure.

use crate::sync::LockExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::server::store::StoreError;

use super::ops::{self, Op, Reply};
use super::trim;
use super::{Counts, Limits};

/// Requests taken into one transaction at most.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer at most; callers wait beyond it.
const QUEUE: usize = 4096;
/// Attempt records kept for writing again after a failure, at most.
const MAX_DEFERRED: usize = 10_000;
/// Tries of a deferred attempt record before it is given up (and its delivery is retried
/// at the next start instead).
const MAX_TRIES: u32 = 1000;

type Answer = oneshot::Sender<Result<Reply, StoreError>>;

struct Request {
    op: Op,
    answer: Option<Answer>,
}

/// The handle the async side holds. Dropping it lets the thread finish what is queued,
/// close the file (which checkpoints the WAL into it) and stop, and waits for that.
pub struct Writer {
    queue: mpsc::Sender<Request>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.queue, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Writer {
    /// Starts the writer thread on an opened connection.
    pub fn start(
        conn: Connection,
        counts: Arc<Mutex<Counts>>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let (queue, requests) = mpsc::channel(QUEUE);
        let mut thread = Thread {
            conn,
            counts,
            limits,
            deferred: Vec::new(),
            failing_since: None,
            reminded: None,
            refused: 0,
        };
        // What a lowered --max-events or the retention removes goes before serving starts.
        thread.commit_group(vec![Request {
            op: Op::Trim,
            answer: None,
        }]);
        let thread = std::thread::Builder::new()
            .name("hookrelay-store-writer".into())
            .spawn(move || thread.run(requests))?;
        Ok(Self {
            queue,
            thread: Some(thread),
        })
    }

    /// Runs `op` in the next group commit and answers once it is committed.
    pub async fn call(&self, op: Op) -> Result<Reply, StoreError> {
        let (answer, answered) = oneshot::channel();
        let request = Request {
            op,
            answer: Some(answer),
        };
        self.queue.send(request).await.map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// Every `every`, queues `Op::Trim` from a thread of its own, until the writer stops.
    pub fn trim_every(&self, every: Duration) -> std::io::Result<()> {
        let weak = self.queue.downgrade();
        std::thread::Builder::new()
            .name("hookrelay-store-expiry".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(every);
                    let Some(queue) = weak.upgrade() else { return };
                    let request = Request {
                        op: Op::Trim,
                        answer: None,
                    };
                    if queue.blocking_send(request).is_err() {
                        return;
                    }
                }
            })?;
        Ok(())
    }
}

/// Takes what is queued into `batch`, up to [`MAX_BATCH`].
fn drain(requests: &mut mpsc::Receiver<Request>, batch: &mut Vec<Request>) {
    while batch.len() < MAX_BATCH {
        match requests.try_recv() {
            Ok(request) => batch.push(request),
            Err(_) => break,
        }
    }
}

fn stopped() -> StoreError {
    StoreError("the store's writer has stopped".into())
}

pub fn lock(counts: &Mutex<Counts>) -> MutexGuard<'_, Counts> {
    counts.locked()
}

struct Thread {
    conn: Connection,
    counts: Arc<Mutex<Counts>>,
    limits: Limits,
    /// Attempt records to write again, with the tries so far.
    deferred: Vec<(Op, u32)>,
    failing_since: Option<Instant>,
    reminded: Option<Instant>,
    refused: u64,
}

impl Thread {
    fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        while let Some(first) = requests.blocking_recv() {
            self.retry_deferred();
            let mut batch = vec![first];
            drain(&mut requests, &mut batch);
            self.commit_group(batch);
        }
    }

    /// Writes again the attempt records that failed, each alone, so that one that keeps
    /// failing cannot spoil the group commits of others.
    fn retry_deferred(&mut self) {
        for (op, tries) in std::mem::take(&mut self.deferred) {
            match self.commit(&[&op]) {
                Ok(_) => {}
                Err(e) if tries >= MAX_TRIES => {
                    // The delivery's id, not the whole operation: its Debug form holds bodies.
                    let delivery = match &op {
                        Op::Record { id, .. } => Some(*id),
                        _ => None,
                    };
                    tracing::error!(error = %e, delivery, "giving up writing an attempt record")
                }
                Err(_) => self.deferred.push((op, tries + 1)),
            }
        }
    }

    fn commit_group(&mut self, batch: Vec<Request>) {
        let ops: Vec<&Op> = batch.iter().map(|r| &r.op).collect();
        match self.commit(&ops) {
            Ok(replies) => self.answer(batch.into_iter().zip(replies.into_iter().map(Ok))),
            Err(e) if batch.len() == 1 => self.fail(batch, &e),
            Err(_) => {
                // One request may be to blame (or all are, when the disk is full): find out
                // by running each alone.
                for request in batch {
                    match self.commit(&[&request.op]) {
                        Ok(mut replies) => self.answer([(request, Ok(replies.remove(0)))]),
                        Err(e) => self.fail(vec![request], &e),
                    }
                }
            }
        }
    }

    /// Runs `ops` in one transaction; the counts change only when it commits.
    fn commit(&mut self, ops: &[&Op]) -> rusqlite::Result<Vec<Reply>> {
        let mut counts = lock(&self.counts).clone();
        // BEGIN and COMMIT are prepared once, not parsed again for every group.
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        match self.run_in_transaction(ops, &mut counts) {
            Ok(replies) => {
                *lock(&self.counts) = counts;
                Ok(replies)
            }
            Err(e) => {
                // A failed COMMIT may leave the transaction open; nothing of it stays.
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    fn run_in_transaction(
        &mut self,
        ops: &[&Op],
        counts: &mut Counts,
    ) -> rusqlite::Result<Vec<Reply>> {
        let conn = &self.conn;
        let mut group = ops::Group::new(conn);
        let replies = ops
            .iter()
            .map(|op| ops::apply(&mut group, counts, &self.limits, op))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        drop(group);
        // Once per group: inserts may pass --max-events inside the transaction, never
        // outside it.
        trim::evict_excess(conn, counts, self.limits.capacity)?;
        conn.prepare_cached("COMMIT")?.execute([])?;
        Ok(replies)
    }

    fn answer(&mut self, answered: impl IntoIterator<Item = (Request, Result<Reply, StoreError>)>) {
        if let Some(since) = self.failing_since.take() {
            self.reminded = None;
            tracing::warn!(
                refused = self.refused,
                after = ?since.elapsed(),
                "writes to the store succeed again"
            );
            self.refused = 0;
        }
        for (request, reply) in answered {
            if let Some(answer) = request.answer {
                // The caller may have gone (client disconnected); the write stands.
                let _ = answer.send(reply);
            }
        }
    }

    fn fail(&mut self, batch: Vec<Request>, e: &rusqlite::Error) {
        let now = Instant::now();
        let first = self.failing_since.is_none();
        self.failing_since.get_or_insert(now);
        let remind = self
            .reminded
            .is_none_or(|at| now.duration_since(at) > Duration::from_secs(60));
        if first {
            tracing::error!(
                error = %e,
                "cannot write to the store; POST /webhook answers 503 until writes succeed"
            );
            self.reminded = Some(now);
        } else if remind {
            tracing::error!(error = %e, refused = self.refused, "still cannot write to the store");
            self.reminded = Some(now);
        }
        for request in batch {
            self.refused += 1;
            if let Some(answer) = request.answer {
                let _ = answer.send(Err(StoreError(format!("writing the store: {e}"))));
            }
            // An attempt that was made must be recorded, or its delivery would stay in
            // flight until the next start.
            if matches!(request.op, Op::Record { .. }) && self.deferred.len() < MAX_DEFERRED {
                self.deferred.push((request.op, 1));
            }
        }
    }
}
