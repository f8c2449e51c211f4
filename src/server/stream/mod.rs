//! The live feed behind `GET /events/stream` ([`sse`] serves it): one [`Hub`] per server
//! renders each stored event and each delivery update once, as a Server-Sent Events frame
//! ([`frame`]), and broadcasts them to the open streams.
//!
//! While a stream is open, `POST /webhook` hands the event it stored to the hub ([`Fresh`])
//! and wakes the hub's task, which publishes the new events in order (`publish.rs`):
//! rendered there with exactly the JSON `GET /events/{event_id}` answers, and ingest never
//! waits on a stream. The broadcast never blocks its sender: each stream takes frames into
//! a bounded buffer of its own, and is cut off when that fills. With a store shared by
//! several processes the task reads the new events from the store instead, and also polls
//! it, so that events another process stored reach these streams too.

pub mod frame;
mod publish;
pub mod sse;
mod types;

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::store::{
    AttemptRecord, DeliveryStatus, EventKey, EventQuery, EventStore, Headers, Signature, StoreError,
};
use frame::EventParts;
use publish::Publisher;
use types::TypeCache;

/// Items the broadcast keeps for streams that have not taken them yet (an item holds the
/// frames of up to [`PAGE`] events); a stream further behind reads the events it missed
/// from the store again.
const RING: usize = 1024;
/// Events read from the store at a time.
pub(crate) const PAGE: usize = 256;
/// Delivery updates waiting for the hub's task; beyond, an update is not streamed.
const UPDATES: usize = 4096;
/// The shortest time between two passes of the hub's task.
const LINGER: Duration = Duration::from_millis(5);
/// Handed-over events waiting for the hub's task; beyond, an event is read from the store.
const FRESH_KEPT: usize = 8192;

/// Frames of the stream, rendered once for every stream: one or more, one after another.
#[derive(Debug)]
pub struct Item {
    pub frames: Bytes,
    /// What each frame is, in order.
    pub parts: Vec<Part>,
}

/// One frame of an [`Item`].
#[derive(Debug)]
pub struct Part {
    /// The event's sequence number; `None` for a delivery update.
    pub seq: Option<u64>,
    /// The type of the event (or of the delivery's event) when known, for `?event_type=`.
    pub event_type: Option<Arc<str>>,
    /// Where the frame ends in [`Item::frames`]; it starts where the one before ends.
    pub end: usize,
}

/// An event this process just stored, as the store keeps it, handed to the hub so that it
/// is not read back from the store.
pub struct Fresh {
    pub seq: u64,
    /// `None`: the model's `evt_<event_id>`.
    pub id: Option<Box<str>>,
    pub event_id: Option<i64>,
    pub event_type: Box<str>,
    /// As the store answered ([`Inserted::New`](super::store::Inserted::New)).
    pub received_micros: i64,
    pub body: Bytes,
    pub headers: Headers,
    pub signature: Option<Signature>,
    /// Where the model's `timestamp` and `description` are in `body`, when the request
    /// found them in one pass ([`Fresh::plain_at`]).
    pub plain: Option<[Range<usize>; 2]>,
    /// Whether the event has deliveries, whose updates are filtered by its type.
    pub delivered: bool,
}

impl Fresh {
    /// The places in `body` of the strings [`model::Received::plain`](crate::model::Received::plain) borrowed from it.
    pub fn plain_at(body: &[u8], plain: Option<(&str, &str)>) -> Option<[Range<usize>; 2]> {
        let at = |text: &str| {
            let start = (text.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
            (start + text.len() <= body.len()).then_some(start..start + text.len())
        };
        let (timestamp, description) = plain?;
        Some([at(timestamp)?, at(description)?])
    }

    fn parts(&self) -> EventParts<'_> {
        let text = |at: &Range<usize>| std::str::from_utf8(self.body.get(at.clone())?).ok();
        let plain = self
            .plain
            .as_ref()
            .and_then(|[t, d]| Some((text(t)?, text(d)?)));
        EventParts {
            seq: self.seq,
            id: self.id.as_deref(),
            event_id: self.event_id,
            event_type: &self.event_type,
            received_micros: self.received_micros,
            body: &self.body,
            headers: &self.headers,
            signature: self.signature,
            plain,
        }
    }
}

/// A change of a delivery, as streamed in a `delivery` frame.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryUpdate {
    pub delivery_id: u64,
    /// The event's string id.
    pub event: String,
    /// The model's `event_id`, when the event has one.
    pub event_id: Option<i64>,
    pub target: String,
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The attempt just recorded; `None` for a replay.
    pub attempt: Option<AttemptRecord>,
}

/// Where the hub's task has read the store up to.
struct Cursor {
    last: u64,
    /// Bumped when the first stream of a quiet spell resets `last`.
    generation: u64,
}

/// The streams' shared feed; see the module documentation.
pub struct Hub {
    store: Arc<dyn EventStore>,
    /// Streams open: nothing is woken or rendered while there are none.
    open: AtomicUsize,
    max_streams: usize,
    /// The largest sequence number stored through this process.
    latest: AtomicU64,
    /// Events handed over by the requests that stored them, for the task.
    fresh: Mutex<Vec<Fresh>>,
    /// Whether events are handed over: the store has no other writers, whose events would
    /// only be found by reading it.
    handover: bool,
    wake: Notify,
    sender: broadcast::Sender<Arc<Item>>,
    cursor: Mutex<Cursor>,
    updates: mpsc::Sender<DeliveryUpdate>,
    pending_updates: Mutex<Option<mpsc::Receiver<DeliveryUpdate>>>,
    started: AtomicBool,
    /// A relay reports delivery updates: remember each event's type to filter them by.
    relayed: AtomicBool,
    /// `latest` has been raised to the newest event the store held when the first stream
    /// opened: events stored before this process started (a durable store) are old news.
    synced: AtomicBool,
    closing: CancellationToken,
}

/// Why a stream was not opened.
#[derive(Debug)]
pub enum StreamRefused {
    /// `--max-streams` are open already.
    TooMany(usize),
    Store(StoreError),
}

impl From<StoreError> for StreamRefused {
    fn from(e: StoreError) -> Self {
        StreamRefused::Store(e)
    }
}

/// The sequence number of the newest event stored, reading forward from `from` (a number
/// known to be stored, or 0). The store lists oldest first only: from a recent `from` this
/// is one short read; from 0, on the first stream after a durable store was opened, it
/// pages once through what is kept.
pub async fn newest_seq(store: &dyn EventStore, mut from: u64) -> Result<u64, StoreError> {
    loop {
        let query = EventQuery {
            after: Some(from),
            limit: 1000,
            ..Default::default()
        };
        let events = store.list(&query).await?;
        if let Some(last) = events.last() {
            from = last.seq;
        }
        if events.len() < 1000 {
            return Ok(from);
        }
    }
}

impl Hub {
    pub fn new(store: Arc<dyn EventStore>, max_streams: usize) -> Arc<Self> {
        let (sender, _) = broadcast::channel(RING);
        let (updates, receiver) = mpsc::channel(UPDATES);
        let handover = store.poll_every().is_none();
        Arc::new(Self {
            store,
            fresh: Mutex::new(Vec::new()),
            handover,
            open: AtomicUsize::new(0),
            max_streams,
            latest: AtomicU64::new(0),
            wake: Notify::new(),
            sender,
            cursor: Mutex::new(Cursor {
                last: 0,
                generation: 0,
            }),
            updates,
            pending_updates: Mutex::new(Some(receiver)),
            started: AtomicBool::new(false),
            relayed: AtomicBool::new(false),
            synced: AtomicBool::new(false),
            closing: CancellationToken::new(),
        })
    }

    /// Whether the requests that store events hand them over ([`Hub::stored_event`]): a
    /// stream is open, and the task does not read them from the store.
    pub fn takes_events(&self) -> bool {
        self.handover && self.open.load(Ordering::Relaxed) > 0
    }

    /// Called by `POST /webhook` (and the sources' paths) with an event it stored, when
    /// [`Hub::takes_events`] said so.
    pub fn stored_event(&self, fresh: Fresh) {
        let seq = fresh.seq;
        // The last stream may have closed since the request asked: then nothing would
        // take the event from the queue until a stream opens again.
        let refused = if self.open.load(Ordering::SeqCst) == 0 {
            Some(fresh)
        } else {
            let mut queue = self.fresh.lock().unwrap_or_else(|p| p.into_inner());
            if queue.len() < FRESH_KEPT {
                queue.push(fresh);
                None
            } else {
                Some(fresh)
            }
        };
        // Dropped outside the lock; the task reads it from the store.
        drop(refused);
        // After the push: an event at or below `latest` has been handed over or stored.
        self.stored(seq);
    }

    /// Called by `POST /webhook` (and the sources' paths) with the sequence number of an
    /// event it stored and did not hand over.
    pub fn stored(&self, seq: u64) {
        // Both sequentially consistent, against `open` and its read of `latest`: either
        // the stream opening sees this event in `latest` (and reads it from the store), or
        // this sees the stream and wakes the task.
        self.latest.fetch_max(seq, Ordering::SeqCst);
        if self.open.load(Ordering::SeqCst) > 0 {
            self.wake.notify_one();
        }
    }

    /// Called by the relay when a delivery changed.
    pub fn delivery(&self, update: DeliveryUpdate) {
        if self.open.load(Ordering::Relaxed) > 0 && self.updates.try_send(update).is_err() {
            super::metrics::stream_update_dropped();
        }
    }

    /// A relay will report delivery updates from now on.
    pub fn relayed(&self) {
        self.relayed.store(true, Ordering::Relaxed);
    }

    /// Whether any stream is open (worth building a [`DeliveryUpdate`] for).
    pub fn watched(&self) -> bool {
        self.open.load(Ordering::Relaxed) > 0
    }

    /// Ends every stream: the server is stopping.
    pub fn close(&self) {
        self.closing.cancel();
    }

    /// Opens a stream: its receiver of live frames, subscribed before the caller reads
    /// anything from the store, and the sequence number live frames start after (older
    /// ones are in the store).
    pub async fn open(self: &Arc<Self>) -> Result<Subscription, StreamRefused> {
        if !self.synced.load(Ordering::Acquire) {
            let newest = newest_seq(&*self.store, self.latest.load(Ordering::SeqCst)).await?;
            self.latest.fetch_max(newest, Ordering::SeqCst);
            self.synced.store(true, Ordering::Release);
        }
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        if self.open.load(Ordering::SeqCst) >= self.max_streams {
            return Err(StreamRefused::TooMany(self.max_streams));
        }
        let first = self.open.fetch_add(1, Ordering::SeqCst) == 0;
        let latest = self.latest.load(Ordering::SeqCst);
        if first {
            // Nothing was read while no stream was open: start from what is stored now.
            cursor.last = latest;
            cursor.generation += 1;
        }
        let receiver = self.sender.subscribe();
        drop(cursor);
        if !self.started.swap(true, Ordering::AcqRel) {
            let updates = self
                .pending_updates
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(updates) = updates {
                tokio::spawn(Arc::clone(self).run(updates));
            }
        }
        super::metrics::streams_open(self.open.load(Ordering::Relaxed));
        Ok(Subscription {
            hub: Arc::clone(self),
            receiver,
            start: latest,
        })
    }

    /// The task that publishes new events and delivery updates.
    async fn run(self: Arc<Self>, mut updates: mpsc::Receiver<DeliveryUpdate>) {
        // A store other processes write to is read again now and then: their events
        // wake nothing here.
        let poll = self
            .store
            .poll_every()
            .map(|p| p.min(Duration::from_secs(1)));
        let mut publisher = Publisher::new(self.sender.clone());
        let mut read_at = tokio::time::Instant::now();
        loop {
            let retry = publisher.waiting().then_some(LINGER);
            let update = tokio::select! {
                () = self.wake.notified() => None,
                update = updates.recv() => update,
                () = sleep_or_never(poll) => None,
                () = sleep_or_never(retry) => None,
                () = self.closing.cancelled() => return,
            };
            if self.open.load(Ordering::SeqCst) == 0 {
                publisher.forget();
                self.fresh.lock().unwrap_or_else(|p| p.into_inner()).clear();
                continue;
            }
            // At most one pass per `LINGER` under a stream of events: each pass then
            // publishes many, in one broadcast item.
            tokio::time::sleep_until(read_at + LINGER).await;
            read_at = tokio::time::Instant::now();
            // Events first: an event's frame goes out before the updates of its delivery.
            // A delivery update waits for no missing event: its event is in the store.
            self.publish_events(&mut publisher, update.is_some()).await;
            let Some(update) = update else { continue };
            self.publish_update(update, &mut publisher.types).await;
            while let Ok(update) = updates.try_recv() {
                self.publish_update(update, &mut publisher.types).await;
            }
        }
    }

    async fn publish_update(&self, update: DeliveryUpdate, types: &mut TypeCache) {
        let event_type = match types.get(&update.event) {
            Some(t) => Some(t),
            None => match self.store.get(EventKey::Id(&update.event)).await {
                Ok(Some(event)) => Some(types.remember(&event.id, &event.event_type)),
                _ => None,
            },
        };
        let frames = sse::delivery_frame(&update);
        let item = Item {
            parts: vec![Part {
                seq: None,
                event_type,
                end: frames.len(),
            }],
            frames,
        };
        let _ = self.sender.send(Arc::new(item));
    }
}

async fn sleep_or_never(every: Option<Duration>) {
    match every {
        Some(every) => tokio::time::sleep(every).await,
        None => std::future::pending().await,
    }
}

/// An open stream's place in the hub: live frames, and the count of open streams until
/// dropped.
pub struct Subscription {
    hub: Arc<Hub>,
    pub receiver: broadcast::Receiver<Arc<Item>>,
    /// Live frames cover the events after this sequence number.
    pub start: u64,
}

impl Subscription {
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.hub.store
    }

    pub fn closing(&self) -> &CancellationToken {
        &self.hub.closing
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let open = self.hub.open.fetch_sub(1, Ordering::SeqCst) - 1;
        super::metrics::streams_open(open);
    }
}
