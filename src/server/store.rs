//! The store interface the handlers and the relay talk to, and the types that cross it.
//! Each backend implements [`EventStore`]: in memory (`memory/`), in one SQLite file
//! (`sqlite/`); `store_tests.rs` is the contract every backend passes.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use super::endpoints::Endpoint;
pub use super::headers::Headers;
use super::verify::Seen;

/// An event as the store keeps it: the original body byte for byte, the request's
/// headers, plus what is needed to find and filter it without parsing the body again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Position in arrival order; the paging cursor.
    pub seq: u64,
    /// The event's id: `evt_<event_id>` for the model's events, the provider's otherwise.
    pub id: String,
    /// The model's integer id; `None` for events that have none.
    pub event_id: Option<i64>,
    pub event_type: String,
    pub received_at: DateTime<Utc>,
    pub body: Vec<u8>,
    /// The request's headers as received (bounded, secrets redacted).
    pub headers: Headers,
    /// How the request's signature was verified, when `--verify` asked for one.
    pub signature: Option<Signature>,
}

/// A validated event on its way in.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    /// The event's id, the key of duplicates: `evt_<event_id>` for the model's events
    /// ([`model_id`]), the provider's id otherwise.
    pub id: &'a str,
    /// The model's integer id. When given, `id` must be [`model_id`] of it.
    pub event_id: Option<i64>,
    pub event_type: &'a str,
    pub body: &'a [u8],
    /// The request's headers ([`Headers::capture`]).
    pub headers: Headers,
    /// How the request's signature was verified, if it was.
    pub signature: Option<Signature>,
    /// Relay targets (URLs) that get a delivery of this event, if it is new.
    pub targets: &'a [Arc<str>],
}

/// The id of the model's event `event_id`: `evt_<event_id>`.
pub fn model_id(event_id: i64) -> String {
    crate::alert::signing::MessageId::for_event(event_id).into_string()
}

/// [`model_id`] written on the stack, for the ingest path: `evt_` and at most 20 characters.
pub struct ModelId {
    buf: [u8; 24],
    len: usize,
}

impl ModelId {
    pub fn new(event_id: i64) -> Self {
        let mut buf = [0u8; 24];
        buf[..4].copy_from_slice(b"evt_");
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(event_id).as_bytes();
        buf[4..4 + digits.len()].copy_from_slice(digits);
        Self {
            buf,
            len: 4 + digits.len(),
        }
    }

    /// The `<event_id>` of `evt_<event_id>`.
    pub fn digits(&self) -> &str {
        &self.as_str()[4..]
    }

    pub fn as_str(&self) -> &str {
        // Not checked again: the check cost 100 instructions per POST /webhook.
        // SAFETY: `new` wrote `evt_` and the ASCII digits (and sign) of an integer.
        unsafe { std::str::from_utf8_unchecked(&self.buf[..self.len]) }
    }
}

/// The `event_id` whose [`model_id`] is `id`, if `id` is one.
pub fn model_event_id(id: &str) -> Option<i64> {
    let text = id.strip_prefix("evt_")?.as_bytes();
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    // Only the one spelling `model_id` writes: `evt_007`, `evt_+7` or `evt_-0` are other
    // ids. Read by hand: this runs on every insert.
    match digits {
        [] => return None,
        [b'0'] if negative => return None,
        [b'0', _, ..] => return None,
        _ => {}
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        // Built negative, which reaches i64::MIN.
        n = n.checked_mul(10)?.checked_sub(d)?;
    }
    if negative { Some(n) } else { n.checked_neg() }
}

/// How a request names one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKey<'a> {
    /// By its string id.
    Id(&'a str),
    /// By the model's integer `event_id`.
    EventId(i64),
}

/// The signature scheme a request was verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureScheme {
    /// Standard Webhooks (and Svix, which uses the same scheme).
    Standard,
    /// GitHub's `X-Hub-Signature-256`.
    Github,
    /// Stripe's `Stripe-Signature`.
    Stripe,
    /// Shopify's `X-Shopify-Hmac-Sha256`.
    Shopify,
    /// Slack's `X-Slack-Signature` (with `X-Slack-Request-Timestamp`).
    Slack,
}

/// The headers that carried a verified signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum SignatureHeaders {
    /// `webhook-id`, `webhook-timestamp`, `webhook-signature`.
    #[serde(rename = "webhook-*")]
    Webhook,
    /// Svix's names: `svix-id`, `svix-timestamp`, `svix-signature`.
    #[serde(rename = "svix-*")]
    Svix,
    /// `x-hub-signature-256`.
    #[serde(rename = "x-hub-signature-256")]
    HubSignature256,
    /// `stripe-signature`.
    #[serde(rename = "stripe-signature")]
    StripeSignature,
    /// `x-shopify-hmac-sha256`.
    #[serde(rename = "x-shopify-hmac-sha256")]
    ShopifyHmacSha256,
    /// `x-slack-signature`.
    #[serde(rename = "x-slack-signature")]
    SlackSignature,
}

/// The result of verifying an event's signature, kept with the event: shown as
/// `{"scheme":"standard","headers":"svix-*","verified":true}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Signature {
    pub scheme: SignatureScheme,
    pub headers: SignatureHeaders,
    pub verified: bool,
}

/// What happened to an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Stored as a new event with this sequence number (received at this many microseconds
    /// since the Unix epoch, as stored), and one delivery per target.
    New { seq: u64, received_micros: i64 },
    /// The same `id` with the same body is already stored; nothing changed.
    Duplicate,
    /// The same `id` is stored with a different body; the first one stays.
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
    /// Evicted from the store since it was made, by whichever process.
    pub evicted: u64,
    /// Evicted by this process, where several share the store (PostgreSQL): what
    /// `hookrelay_store_evictions_total` counts, a counter being per instance.
    pub evicted_here: Option<u64>,
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
    /// The event's string id.
    pub event: String,
    /// The event's model `event_id`; `null` for events that have none.
    pub event_id: Option<i64>,
    pub target: String,
    pub status: DeliveryStatus,
    /// The `webhook-id` header, the same on every attempt.
    pub webhook_id: String,
    pub created_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub attempts: Vec<AttemptRecord>,
}

/// Whether deliveries to `target` are owed to a stored endpoint, kept under its id
/// (`ep_…`), rather than to an endpoint of the options, kept under its URL: they are owed
/// only as long as the store keeps that endpoint.
pub fn owed_to_stored_endpoint(target: &str) -> bool {
    target.starts_with("ep_")
}

/// The URLs of the options' endpoints (`--forward-to`, `--route`) the relay delivers to,
/// which a store cannot know otherwise ([`EventStore::serve_targets`]). Deliveries kept
/// under any other URL were owed to an option since removed: nobody will attempt them.
/// Until told (a store used without a relay), only stored endpoints' deliveries are judged.
#[derive(Debug, Default)]
pub struct Served(std::sync::RwLock<Option<Arc<[Arc<str>]>>>);

impl Served {
    pub fn set(&self, targets: Vec<Arc<str>>) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(targets.into());
    }

    /// The URLs served, when told.
    pub fn get(&self) -> Option<Arc<[Arc<str>]>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether deliveries to `target`, a URL, have nobody to take them.
    pub fn abandons(served: Option<&[Arc<str>]>, target: &str) -> bool {
        !owed_to_stored_endpoint(target)
            && served.is_some_and(|urls| !urls.iter().any(|url| &**url == target))
    }
}

/// The `webhook-id` of every delivery of the event `id`: stable across attempts and
/// replays, and the same in every store. The id itself when it can be one (so `evt_123`
/// for the model's event 123), else `msg_` and a digest of it.
pub fn webhook_id(id: &str) -> String {
    match crate::alert::signing::MessageId::new(id) {
        Ok(id) => id.into_string(),
        Err(_) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(id.as_bytes());
            let mut out = String::with_capacity(4 + 32);
            out.push_str("msg_");
            for b in &digest[..16] {
                out.push_str(&format!("{b:02x}"));
            }
            out
        }
    }
}

/// A delivery handed to a worker for one attempt; it is `in_flight` until recorded.
#[derive(Debug, Clone)]
pub struct DeliveryJob {
    pub id: u64,
    /// The event's string id.
    pub event: String,
    pub event_id: Option<i64>,
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
    /// Only deliveries to one of these targets (an endpoint's id, or a URL): those of one
    /// endpoint, or all those a URL names (see `relay_api`'s `target_keys`).
    pub targets: Option<Vec<String>>,
    /// Only deliveries of the event with this string id, or (also) of the model's event
    /// with [`DeliveryFilter::event_id`] when both are given.
    pub event: Option<String>,
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

/// What writing an endpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointWrite {
    Done,
    /// Another endpoint has this `name`; nothing changed.
    NameTaken,
    /// [`Put::Create`]: an endpoint has this id already; [`Put::Replace`]: none has it.
    /// Nothing changed.
    IdConflict,
}

/// How [`EventStore::put_endpoint`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// A new endpoint: its id must not be taken.
    Create,
    /// An existing endpoint, replaced whole.
    Replace,
}

/// Called with a target's URL when a delivery to it was queued by another process.
pub type WakeFn = Arc<dyn Fn(&str) + Send + Sync>;

/// Where events and their deliveries live. Implementations must never lose an
/// acknowledged write under concurrent callers.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Stores a new event with one pending delivery per target, atomically.
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError>;
    /// The event `key` names, if it is kept.
    async fn get(&self, key: EventKey<'_>) -> Result<Option<StoredEvent>, StoreError>;
    /// Up to `query.limit` events matching the query, oldest first (newest first with
    /// `query.newest_first`).
    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;
    async fn stats(&self) -> Result<StoreStats, StoreError>;
    /// What tells this store from another: sequence numbers are only comparable between
    /// two answers that give the same id. Random per process for a store in memory (its
    /// numbers start again at each start); kept in the store for a durable one.
    fn store_id(&self) -> &str;

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
    /// the targets that got work, one per delivery queued. A delivery to a stored endpoint
    /// that no longer exists ([`owed_to_stored_endpoint`] with no such endpoint), or to a
    /// URL the options no longer name ([`Served`]), is left as it is: nothing would ever
    /// attempt it.
    async fn replay(&self, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError>;
    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError>;

    /// Every endpoint, oldest first (by `created_at`, then id).
    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError>;
    /// The endpoint with this id or, when none has it, this name.
    async fn endpoint(&self, id_or_name: &str) -> Result<Option<Endpoint>, StoreError>;
    /// Writes `endpoint` whole; names are unique among endpoints.
    async fn put_endpoint(
        &self,
        endpoint: &Endpoint,
        put: Put,
    ) -> Result<EndpointWrite, StoreError>;
    /// Removes the endpoint with this id and drops its undelivered deliveries (pending
    /// or awaiting a retry: they become `dead`); how many were dropped, or `None` when
    /// there was no such endpoint.
    async fn delete_endpoint(&self, id: &str) -> Result<Option<usize>, StoreError>;
    /// Gives up on the waiting deliveries (pending or awaiting a retry) to stored endpoints
    /// that no longer exist, as [`EventStore::delete_endpoint`] does for the one it removes,
    /// and to URLs the options no longer name ([`EventStore::serve_targets`]): they become
    /// `dead`. Each such target with how many were dropped.
    async fn drop_orphaned(&self) -> Result<Vec<(String, usize)>, StoreError>;

    /// Tells the store which URLs the options' endpoints deliver to ([`Served`]), so that
    /// deliveries left for a URL since removed from them are given up
    /// ([`EventStore::drop_orphaned`]) and never replayed.
    fn serve_targets(&self, targets: Vec<Arc<str>>);

    /// Whether an insert, once asked for, is written whether or not its caller waits for
    /// the answer (a writer thread, a committer): the request's work after the insert
    /// (waking the relay, the streams, the counts) must then not be dropped with a request
    /// whose client went away, or the stored event would sit unannounced.
    fn inserts_apart(&self) -> bool {
        false
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_written_and_read_back_in_one_spelling() {
        for n in [0, 7, -12, i64::MAX, i64::MIN] {
            assert_eq!(ModelId::new(n).as_str(), model_id(n));
            assert_eq!(ModelId::new(n).digits(), n.to_string());
            assert_eq!(model_event_id(&model_id(n)), Some(n));
        }
        for other in [
            "evt_", "evt_007", "evt_+7", "evt_-0", "7", "evt_1x", "Evt_1",
        ] {
            assert_eq!(model_event_id(other), None, "{other}");
        }
    }

    #[test]
    fn a_webhook_id_is_the_event_id_when_it_can_be_one() {
        assert_eq!(webhook_id("evt_123"), "evt_123");
        assert_eq!(webhook_id("72d3162e-cc78-11e3"), "72d3162e-cc78-11e3");
        let derived = webhook_id("a.b c");
        assert!(
            derived.starts_with("msg_") && derived.len() == 36,
            "{derived}"
        );
        assert_eq!(derived, webhook_id("a.b c"));
        assert_ne!(derived, webhook_id("a.b d"));
    }
}
