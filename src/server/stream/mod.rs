//! The live feed behind `GET /events/stream` ([`sse`] serves it): one [`Hub`] per server
//! renders each stored event and each delivery update once, as a Server-Sent Events frame,
//! and broadcasts it to the open streams.
//!
//! `POST /webhook` only notes the sequence number it stored and wakes the hub's task, which
//! reads the new events from the store in order and renders them there: an event reaches
//! the streams with exactly the JSON `GET /events/{event_id}` answers, and ingest never
//! waits on a stream. The broadcast never blocks its sender: each stream takes frames into
//! a bounded buffer of its own, and is cut off when that fills. With a store shared by
//! several processes the task also polls the store, so that events another process
//! stored reach these streams too.

pub mod sse;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{Notify, broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::store::{AttemptRecord, DeliveryStatus, EventKey, EventQuery, EventStore, StoreError};

/// Frames the broadcast keeps for streams that have not taken them yet; a stream further
/// behind reads the events it missed from the store again.
const RING: usize = 4096;
/// Events read from the store at a time.
pub(crate) const PAGE: usize = 256;
/// Delivery updates waiting for the hub's task; beyond, an update is not streamed.
const UPDATES: usize = 4096;
/// The shortest time between two reads of the store by the hub's task.
const LINGER: Duration = Duration::from_millis(5);
/// Event types remembered for filtering delivery updates without a store read.
const TYPES_KEPT: usize = 16384;

/// One frame of the stream, rendered once for every stream.
#[derive(Debug)]
pub struct Item {
    /// The event's sequence number; `None` for a delivery update.
    pub seq: Option<u64>,
    /// The type of the event (or of the delivery's event) when known, for `?event_type=`.
    pub event_type: Option<Arc<str>>,
    pub frame: Bytes,
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
        Arc::new(Self {
            store,
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

    /// Called by `POST /webhook` (and the sources' paths) with the sequence number of an
    /// event it stored.
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

    /// The task that reads new events, renders frames and broadcasts them.
    async fn run(self: Arc<Self>, mut updates: mpsc::Receiver<DeliveryUpdate>) {
        // A store other processes write to is read again now and then: their events
        // wake nothing here.
        let poll = self
            .store
            .poll_every()
            .map(|p| p.min(Duration::from_secs(1)));
        let mut types = TypeCache::default();
        let mut read_at = tokio::time::Instant::now();
        loop {
            let update = tokio::select! {
                () = self.wake.notified() => None,
                update = updates.recv() => update,
                () = sleep_or_never(poll) => None,
                () = self.closing.cancelled() => return,
            };
            if self.open.load(Ordering::SeqCst) == 0 {
                continue;
            }
            // At most one read per `LINGER` under a stream of events: each read then takes
            // many, instead of one store read per event.
            tokio::time::sleep_until(read_at + LINGER).await;
            read_at = tokio::time::Instant::now();
            // Events first: an event's frame goes out before the updates of its delivery.
            self.publish_events(&mut types).await;
            let Some(update) = update else { continue };
            self.publish_update(update, &mut types).await;
            while let Ok(update) = updates.try_recv() {
                self.publish_update(update, &mut types).await;
            }
        }
    }

    async fn publish_events(&self, types: &mut TypeCache) {
        let (mut last, generation) = {
            let c = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
            (c.last, c.generation)
        };
        loop {
            let query = EventQuery {
                after: Some(last),
                limit: PAGE,
                ..Default::default()
            };
            let events = match self.store.list(&query).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read events for the stream");
                    break;
                }
            };
            for event in &events {
                let event_type = match self.relayed.load(Ordering::Relaxed) {
                    true => types.remember(&event.id, &event.event_type),
                    false => types.intern(&event.event_type),
                };
                let item = Item {
                    seq: Some(event.seq),
                    event_type: Some(event_type),
                    frame: sse::event_frame(event),
                };
                // An error only says that no stream is open now.
                let _ = self.sender.send(Arc::new(item));
                last = event.seq;
            }
            if events.len() < PAGE {
                break;
            }
        }
        let mut c = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        if c.generation == generation {
            c.last = c.last.max(last);
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
        let item = Item {
            seq: None,
            event_type,
            frame: sse::delivery_frame(&update),
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

/// The types of recently streamed events, so that a delivery update can be filtered by
/// its event's type without reading the event again; and each type's name shared by
/// every item of that type rather than copied for each.
#[derive(Default)]
struct TypeCache {
    by_event: HashMap<Box<str>, Arc<str>>,
    order: VecDeque<Box<str>>,
    names: HashMap<Box<str>, Arc<str>>,
}

/// Type names shared at most; beyond, each item gets a copy of its own.
const NAMES_KEPT: usize = 1024;

impl TypeCache {
    fn intern(&mut self, event_type: &str) -> Arc<str> {
        if let Some(name) = self.names.get(event_type) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(event_type);
        if self.names.len() < NAMES_KEPT {
            self.names.insert(event_type.into(), Arc::clone(&name));
        }
        name
    }

    fn get(&self, event: &str) -> Option<Arc<str>> {
        self.by_event.get(event).cloned()
    }

    fn remember(&mut self, event: &str, event_type: &str) -> Arc<str> {
        if let Some(known) = self.by_event.get(event)
            && **known == *event_type
        {
            return Arc::clone(known);
        }
        let event_type = self.intern(event_type);
        if self
            .by_event
            .insert(event.into(), Arc::clone(&event_type))
            .is_none()
        {
            self.order.push_back(event.into());
            if self.order.len() > TYPES_KEPT
                && let Some(oldest) = self.order.pop_front()
            {
                self.by_event.remove(&oldest);
            }
        }
        event_type
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
