//! The store interface the handlers and the relay talk to, and the types that cross it.
//! Each backend implements [`EventStore`]: in memory (`memory/`), in one SQLite file
//! (`sqlite/`); `store_tests.rs` is the contract every backend passes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::verify::Seen;

/// An event as the store keeps it: the original body byte for byte, plus what is needed to
/// find and filter it without parsing the body again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in arrival order; the paging cursor.
    pub seq: u64,
    pub event_id: i64,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
}

/// A validated event on its way in.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub event_id: i64,
    pub event_type: &'a str,
    pub body: &'a [u8],
    /// Relay targets (URLs) that get a delivery of this event, if it is new.
    pub targets: &'a [Arc<str>],
}

/// What happened to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored as a new event with this sequence number, and one delivery per target.
    New { seq: u64 },
    /// The same `event_id` with the same body is already stored; nothing changed.
    Duplicate,
    /// The same `event_id` is stored with a different body; the first one stays.
    Conflict,
    /// Not stored: the delivery queue holds `--max-pending` deliveries already.
    QueueFull,
}

/// Filters and paging for listing events, oldest first (or newest first).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    /// Only events received at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events after this sequence number (the cursor of the previous page).
    pub after: Option<u64>,
    /// Only events before this sequence number (the cursor of the previous page, newest
    /// first).
    pub before: Option<u64>,
    /// Newest first: the last `limit` matches, in descending sequence order.
    pub newest_first: bool,
    pub limit: usize,
}

/// Counters describing the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    pub events: usize,
    pub capacity: usize,
    pub evicted: u64,
}

/// A failure of the backend itself (never of the client's input).
#[derive(Debug, thiserror::Error)]
#[error("store unavailable: {0}")]
pub struct StoreError(pub String);

/// The state of one (event, target) delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Pending,
    InFlight,
    Delivered,
    /// The last attempt failed; another is due at `next_attempt_at`.
    Failed,
    /// Retries exhausted, or the target refused for good.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Pending,
        DeliveryStatus::InFlight,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
        DeliveryStatus::Dead,
    ];

    /// Still owed to the target: counts against `--max-pending`.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            DeliveryStatus::Pending | DeliveryStatus::InFlight | DeliveryStatus::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::InFlight => "in_flight",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Dead => "dead",
        }
    }
}

/// One attempt of a delivery, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptRecord {
    pub at: DateTime<Utc>,
    /// HTTP status of the answer, when one came.
    pub status_code: Option<u16>,
    /// Why there was no usable answer, or why it was refused.
    pub error: Option<String>,
    pub duration_ms: u64,
    /// When the next attempt is due, if there is one.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// A delivery as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryRecord {
    pub id: u64,
    pub event_id: i64,
    pub target: String,
    pub status: DeliveryStatus,
    /// The `webhook-id` header, the same on every attempt.
    pub webhook_id: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptRecord>,
}

/// The `webhook-id` of every delivery of an event: stable across attempts and replays,
/// and the same in every store.
pub fn webhook_id(event_id: i64) -> String {
    crate::alert::signing::MessageId::for_event(event_id).into_string()
}

/// A delivery handed to a worker for one attempt; it is `in_flight` until recorded.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub id: u64,
    pub event_id: i64,
    pub target: Arc<str>,
    pub webhook_id: String,
    pub body: Arc<[u8]>,
    /// Attempts since the delivery was created or last replayed; picks the retry wait.
    pub round: u32,
    /// Attempts made so far, over the delivery's whole life.
    pub attempts: u32,
}

/// What a worker finds when it asks for work.
#[derive(Debug, Clone)]
pub enum Claim {
    Job(DeliveryJob),
    /// Nothing due now; the earliest retry is due then, if any.
    Idle {
        next_due: Option<DateTime<Utc>>,
    },
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextState {
    Delivered,
    RetryAt(DateTime<Utc>),
    Dead,
}

/// Which deliveries to list or replay; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub target: Option<String>,
    pub event_id: Option<i64>,
    /// Only deliveries with a larger id (the cursor of the previous page).
    pub after: Option<u64>,
    pub limit: usize,
}

/// How many deliveries are in each state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub by_status: Vec<(DeliveryStatus, usize)>,
    /// Deliveries still owed (pending, in flight or awaiting a retry).
    pub open: usize,
}

/// Called with a target's URL when a delivery to it was queued by another process.
pub type WakeFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Where events and their deliveries live. Implementations must never lose an
/// acknowledged write under concurrent callers.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores a new event with one pending delivery per target, atomically.
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError>;
    async fn get(&self, event_id: i64) -> Result<Option<StoredEvent>, StoreError>;
    /// Up to `query.limit` events matching the query, oldest first (newest first with
    /// `query.newest_first`).
    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;
    async fn stats(&self) -> Result<StoreStats, StoreError>;

    /// Takes the next delivery to `target` that is due at `now` and marks it in flight.
    async fn claim(&self, target: &str, now: DateTime<Utc>) -> Result<Claim, StoreError>;
    /// Records an attempt of a claimed delivery and moves it to its next state.
    async fn record_attempt(
        &self,
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<(), StoreError>;
    /// Deliveries matching the filter, oldest first.
    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Queues matching deliveries (not in flight) for a fresh round of attempts; returns
    /// the targets that got work.
    async fn replay(&self, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError>;
    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError>;

    /// Whether the store keeps verified `webhook-id`s itself ([`EventStore::seen_webhook_id`],
    /// [`EventStore::remember_webhook_id`]), shared by every process on it and as long as
    /// the events. When `false`, the caller keeps them (`verify::SeenIds`).
    fn keeps_webhook_ids(&self) -> bool {
        false
    }

    /// What a verified `webhook-id` was answered with: the event and the digest of the
    /// body. Always `None` from a store that does not keep them.
    async fn seen_webhook_id(&self, _id: &str) -> Result<Option<Seen>, StoreError> {
        Ok(None)
    }

    /// Remembers what a verified `webhook-id` was answered with; the first answer stays,
    /// whichever process gave it. Does nothing in a store that does not keep them.
    async fn remember_webhook_id(&self, _id: &str, _seen: Seen) -> Result<(), StoreError> {
        Ok(())
    }

    /// Has `wake` called with a target's URL whenever another process queues a delivery
    /// to it in a shared store, so that idle workers here take it at once instead of at
    /// their next poll. Does nothing in a store that only this process writes.
    fn on_work_elsewhere(&self, _wake: WakeFn) {}

    /// How long the counts read for `/metrics` and `/healthz` ([`EventStore::stats`],
    /// [`EventStore::delivery_counts`]) may be reused: counting a shared database's rows on
    /// every scrape and health check would load it. Zero (read every time) by default.
    fn gauges_max_age(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// How often an idle worker must look for work it was not woken for: deliveries that
    /// other processes queued in a shared store. `None` when every delivery is queued
    /// through this process, which wakes its workers itself.
    fn poll_every(&self) -> Option<std::time::Duration> {
        None
    }
}
