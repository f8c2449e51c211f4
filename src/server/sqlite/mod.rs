//! The durable store: events, deliveries, attempts and verified webhook-ids in one SQLite
//! file in WAL mode.
//! Writes go to one writer thread that commits in groups (`writer.rs`, SQL in `ops.rs`)
//! and answers each caller only after COMMIT, so an acknowledged event survives a crash
//! (`--sync normal`) or a power loss (`--sync full`). Reads run on read-only connections in
//! blocking tasks (`reads.rs`). Counts are kept in memory by the writer, in step with what
//! it commits. The file is checked, migrated and recovered at open (`schema.rs`).

mod ops;
mod reads;
mod schema;
mod trim;
mod writer;

use crate::server::store::Served;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::Connection;

use super::store::{
    AttemptRecord, Claim, DeliveryCounts, DeliveryFilter, DeliveryRecord, DeliveryStatus, Endpoint,
    EndpointWrite, EventKey, EventQuery, EventStore, Inserted, NewEvent, NextState, Put,
    StoreError, StoreStats, StoredEvent,
};
use super::verify::Seen;
use ops::{Op, Reply};
use reads::Readers;
use writer::Writer;

pub use schema::SCHEMA_VERSION;

/// How hard each commit is pushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    /// fsync on every commit: an acknowledged event survives a power loss.
    Full,
    /// fsync at checkpoints only: it survives a crash of the process, not of the machine.
    Normal,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    pub path: PathBuf,
    pub sync: Sync,
    /// Events kept; the oldest are dropped beyond it.
    pub max_events: usize,
    /// Open deliveries allowed; beyond it inserts answer `QueueFull`.
    pub max_pending: usize,
    /// Events older than this are dropped.
    pub retention: Option<Duration>,
}

/// What the writer checks inserts against.
#[derive(Debug, Clone)]
struct Limits {
    capacity: usize,
    max_pending: usize,
    retention: Option<Duration>,
}

/// Counts of rows, kept by the writer so that stats never scan the tables.
#[derive(Debug, Clone, Default)]
struct Counts {
    events: usize,
    evicted: u64,
    /// The highest sequence number ever given; the next event gets the one after it.
    seq: i64,
    /// `evicted` less (`seq` less `events`): the numbers no kept event had, from before
    /// schema version 7 (`meta`, fixed by its migration).
    evicted_offset: i64,
    by_status: [usize; 5],
    /// Verified webhook-ids kept: with none, eviction has none to look for.
    webhook_ids: usize,
}

impl Counts {
    fn slot(status: DeliveryStatus) -> usize {
        DeliveryStatus::ALL
            .iter()
            .position(|s| *s == status)
            .unwrap_or(0)
    }

    fn add(&mut self, status: DeliveryStatus, n: isize) {
        let slot = &mut self.by_status[Self::slot(status)];
        *slot = slot.saturating_add_signed(n);
    }

    fn open(&self) -> usize {
        DeliveryStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| self.by_status[Self::slot(*s)])
            .sum()
    }

    fn load(conn: &Connection) -> rusqlite::Result<Self> {
        let mut counts = Counts {
            events: conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))?
                as usize,
            ..Counts::default()
        };
        let meta = |key: &str| -> rusqlite::Result<i64> {
            let value: Option<i64> = rusqlite::OptionalExtension::optional(conn.query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [key],
                |r| r.get(0),
            ))?;
            Ok(value.unwrap_or(0))
        };
        let newest: Option<i64> =
            conn.query_row("SELECT max(seq) FROM events", [], |r| r.get(0))?;
        counts.seq = newest.unwrap_or(0).max(meta("seq_floor")?);
        counts.evicted_offset = meta("evicted_offset")?;
        counts.evicted = trim::evicted(&counts);
        counts.webhook_ids = conn.query_row("SELECT count(*) FROM webhook_ids", [], |r| {
            r.get::<_, i64>(0)
        })? as usize;
        let mut by_status = conn.prepare("SELECT status, count(*) FROM deliveries GROUP BY 1")?;
        let rows =
            by_status.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (status, n) = row?;
            counts.add(status_from_sql(&status)?, n as isize);
        }
        Ok(counts)
    }
}

fn status_from_sql(text: &str) -> rusqlite::Result<DeliveryStatus> {
    DeliveryStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                format!("unknown delivery status {text:?}").into(),
            )
        })
}

/// Fields drop in order: the readers close before the writer, so that the writer's
/// connection is the last and folds the WAL back into the file.
pub struct SqliteStore {
    readers: Arc<Readers>,
    writer: Writer,
    counts: Arc<Mutex<Counts>>,
    capacity: usize,
    /// The `store_id` row of `meta`, drawn when the file was made.
    id: String,
    /// Held while serving: a second hookrelay on the same file is refused.
    _lock: File,
    served: Served,
}

impl SqliteStore {
    /// Opens (creating, migrating and recovering) the store at `options.path`, and starts
    /// its writer. Errors say what is wrong with the file or its directory.
    pub fn open(options: SqliteOptions) -> anyhow::Result<Self> {
        let path = &options.path;
        let (conn, lock, recovered) = schema::open_writer(path, options.sync)?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "deliveries were in flight at the last stop; they are due again (same webhook-id)"
            );
        }
        let capacity = options.max_events.max(1);
        let limits = Limits {
            capacity,
            max_pending: options.max_pending,
            retention: options.retention,
        };
        let counts =
            Counts::load(&conn).with_context(|| format!("reading the store {}", path.display()))?;
        let id = schema::store_id(&conn)
            .with_context(|| format!("reading the store {}", path.display()))?;
        if counts.events > capacity {
            tracing::warn!(
                kept = counts.events,
                max_events = capacity,
                "the store holds more events than --max-events: the oldest {} go with the next insert",
                counts.events - capacity
            );
        }
        let counts = Arc::new(Mutex::new(counts));
        let writer = Writer::start(conn, Arc::clone(&counts), limits)
            .context("starting the store's writer")?;
        if let Some(keep) = options.retention {
            let every = (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
            writer
                .trim_every(every)
                .context("starting the store's expiry")?;
        }
        let store = Self {
            writer,
            readers: Arc::new(Readers::new(path.clone())),
            counts,
            capacity,
            id,
            _lock: lock,
            served: Served::default(),
        };
        Ok(store)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = Arc::clone(&self.readers);
        let result = tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| StoreError(format!("reading the store: {e}")))?;
        // Logged here without the request's context (a store knows nothing of HTTP); the
        // caller answers the request and says so in its own span.
        result.map_err(|e| {
            tracing::warn!(error = %e, "cannot read the store");
            StoreError(format!("reading the store: {e}"))
        })
    }

    #[cfg(test)]
    async fn exec(&self, sql: &str) -> Result<(), StoreError> {
        self.writer.call(Op::Exec(sql.into())).await.map(|_| ())
    }
}

fn endpoint_from_doc(doc: &str) -> rusqlite::Result<Endpoint> {
    serde_json::from_str(doc).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn unexpected(reply: Reply) -> StoreError {
    StoreError(format!("the store's writer answered {reply:?}"))
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError> {
        let op = Op::Insert {
            id: event.id.to_string(),
            event_id: event.event_id,
            event_type: event.event_type.to_string(),
            body: event.body.to_vec(),
            headers: event.headers,
            signature: event.signature,
            targets: event.targets.to_vec(),
        };
        match self.writer.call(op).await? {
            Reply::Inserted(inserted) => Ok(inserted),
            other => Err(unexpected(other)),
        }
    }

    async fn get(&self, key: EventKey<'_>) -> Result<Option<StoredEvent>, StoreError> {
        match key {
            EventKey::Id(id) => {
                let id = id.to_string();
                self.read(move |conn| reads::get(conn, EventKey::Id(&id)))
                    .await
            }
            EventKey::EventId(n) => {
                self.read(move |conn| reads::get(conn, EventKey::EventId(n)))
                    .await
            }
        }
    }

    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let query = query.clone();
        self.read(move |conn| reads::list(conn, &query)).await
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let counts = writer::lock(&self.counts);
        Ok(StoreStats {
            events: counts.events,
            capacity: self.capacity,
            evicted: counts.evicted,
            evicted_here: None,
        })
    }

    fn store_id(&self) -> &str {
        &self.id
    }

    async fn claim(&self, target: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        let op = Op::Claim {
            target: Arc::from(target),
            now,
        };
        match self.writer.call(op).await? {
            Reply::Claim(claim) => Ok(claim),
            other => Err(unexpected(other)),
        }
    }

    async fn record_attempt(
        &self,
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<(), StoreError> {
        self.writer
            .call(Op::Record { id, attempt, next })
            .await
            .map(|_| ())
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        let filter = filter.clone();
        self.read(move |conn| reads::deliveries(conn, &filter))
            .await
    }

    async fn replay(&self, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError> {
        let served = self.served.get();
        match self.writer.call(Op::Replay(filter.clone(), served)).await? {
            Reply::Targets(targets) => Ok(targets),
            other => Err(unexpected(other)),
        }
    }

    fn inserts_apart(&self) -> bool {
        true
    }

    fn keeps_webhook_ids(&self) -> bool {
        true
    }

    async fn seen_webhook_id(&self, id: &str) -> Result<Option<Seen>, StoreError> {
        let id = id.to_string();
        self.read(move |conn| reads::webhook_id_seen(conn, &id))
            .await
    }

    async fn remember_webhook_id(&self, id: &str, seen: Seen) -> Result<(), StoreError> {
        let op = Op::RememberId {
            id: id.to_string(),
            seen,
        };
        self.writer.call(op).await.map(|_| ())
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        let counts = writer::lock(&self.counts);
        Ok(DeliveryCounts {
            by_status: DeliveryStatus::ALL
                .iter()
                .map(|&s| (s, counts.by_status[Counts::slot(s)]))
                .collect(),
            open: counts.open(),
        })
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        self.read(|conn| {
            let mut rows =
                conn.prepare_cached("SELECT doc FROM endpoints ORDER BY created_at, id")?;
            let docs = rows.query_map([], |r| r.get::<_, String>(0))?;
            docs.map(|doc| endpoint_from_doc(&doc?)).collect()
        })
        .await
    }

    async fn endpoint(&self, id_or_name: &str) -> Result<Option<Endpoint>, StoreError> {
        let key = id_or_name.to_owned();
        self.read(move |conn| {
            let doc: Option<String> = rusqlite::OptionalExtension::optional(
                conn.prepare_cached(
                    "SELECT doc FROM endpoints WHERE id = ?1 OR name = ?1
                     ORDER BY id = ?1 DESC LIMIT 1",
                )?
                .query_row([&key], |r| r.get(0)),
            )?;
            doc.map(|doc| endpoint_from_doc(&doc)).transpose()
        })
        .await
    }

    async fn put_endpoint(
        &self,
        endpoint: &Endpoint,
        put: Put,
    ) -> Result<EndpointWrite, StoreError> {
        let op = Op::PutEndpoint {
            endpoint: Box::new(endpoint.clone()),
            put,
        };
        match self.writer.call(op).await? {
            Reply::Endpoint(written) => Ok(written),
            other => Err(unexpected(other)),
        }
    }

    async fn delete_endpoint(&self, id: &str) -> Result<Option<usize>, StoreError> {
        match self.writer.call(Op::DeleteEndpoint(id.to_owned())).await? {
            Reply::Deleted(deleted) => Ok(deleted),
            other => Err(unexpected(other)),
        }
    }

    async fn drop_orphaned(&self) -> Result<Vec<(String, usize)>, StoreError> {
        match self
            .writer
            .call(Op::DropOrphaned(self.served.get()))
            .await?
        {
            Reply::Dropped(dropped) => Ok(dropped),
            other => Err(unexpected(other)),
        }
    }

    fn serve_targets(&self, targets: Vec<Arc<str>>) {
        self.served.set(targets);
    }
}

#[cfg(test)]
mod tests;
