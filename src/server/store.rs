//! The store interface the handlers talk to, and the types that cross it. The in-memory
//! backend lives in `memory.rs`; a durable backend implements the same trait.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

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
}

/// What happened to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored as a new event with this sequence number.
    New { seq: u64 },
    /// The same `event_id` with the same body is already stored; nothing changed.
    Duplicate,
    /// The same `event_id` is stored with a different body; the first one stays.
    Conflict,
}

/// Filters and paging for listing events, oldest first.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_type: Option<String>,
    /// Only events received at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only events after this sequence number (the cursor of the previous page).
    pub after: Option<u64>,
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

/// Where events live. Implementations must never lose an acknowledged write under
/// concurrent callers.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError>;
    async fn get(&self, event_id: i64) -> Result<Option<StoredEvent>, StoreError>;
    /// Up to `query.limit` events matching the query, oldest first.
    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;
    async fn stats(&self) -> Result<StoreStats, StoreError>;
}
