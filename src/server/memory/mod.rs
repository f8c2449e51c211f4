//! The in-memory store: a bounded arrival-ordered queue of events with an id index for
//! dedup, and the relay's deliveries (`deliveries.rs`), all under one lock so an event and
//! its deliveries are stored together. When full, the oldest event is evicted (and
//! counted). Event types are interned (`types.rs`); each event's headers (and a string id
//! that is not the model's `evt_<event_id>`) are appended to one ring of bytes
//! (`extras.rs`), freed in the same order as the events. Everything is lost on exit.

mod deliveries;
mod extras;
mod types;

use crate::sync::LockExt;
use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use foldhash::{HashMap, HashMapExt};

use super::store::{
    AttemptRecord, Claim, DeliveryCounts, DeliveryFilter, DeliveryRecord, Endpoint, EndpointWrite,
    EventKey, EventQuery, EventStore, Inserted, NewEvent, NextState, Put, Signature, StoreError,
    StoreStats, StoredEvent, model_event_id,
};
use deliveries::Deliveries;
use extras::Extras;
use types::{TypeId, TypeNames};

/// One kept event, packed small: a store of a million events is sized by their bodies.
struct Slot {
    /// The `<n>` of an id `evt_<n>` (the model's `event_id` when [`HAS_EVENT_ID`]); unused
    /// when the id is kept in [`Inner::extras`] ([`TEXT_ID`]).
    number: i64,
    /// Interned in [`Inner::types`]: most events share a handful of types.
    event_type: TypeId,
    flags: u8,
    signature: Option<Signature>,
    received_micros: i64,
    /// Shared with the event's deliveries, which may outlive the event's eviction.
    body: Arc<[u8]>,
    /// Where the event's bytes start in [`Inner::extras`]; they end where the next
    /// event's start.
    extras_at: u64,
}

/// [`Slot::flags`]: the event has the model's `event_id` ([`Slot::number`]).
const HAS_EVENT_ID: u8 = 1;
/// [`Slot::flags`]: the id is not `evt_<number>` and is kept in the extras.
const TEXT_ID: u8 = 2;

struct Inner {
    slots: VecDeque<Slot>,
    /// Sequence number of `slots[0]`; sequence numbers are contiguous.
    first_seq: u64,
    /// Ids `evt_<n>` by `n` (every model event's), hashed with a per-process random seed
    /// (foldhash: a fraction of SipHash's cost on every insert, eviction and lookup).
    index: HashMap<i64, u64>,
    /// Every other id.
    names: HashMap<Box<str>, u64>,
    /// Headers and text ids, in arrival order.
    extras: Extras,
    types: TypeNames,
    evicted: u64,
    deliveries: Deliveries,
}

/// Microseconds since the Unix epoch (negative before it, as a clock set wrong can be).
fn unix_micros_now() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(since) => since.as_micros() as i64,
        Err(before) => -(before.duration().as_micros() as i64),
    }
}

/// Hints the CPU to bring the cache line at `at` in; it never faults, whatever `at` is.
#[inline]
fn prefetch(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that does not access memory architecturally.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(at.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}

/// Events the queue and index have room for from the start (see [`MemoryStore::new`]).
const PREALLOCATED_EVENTS: usize = 1 << 20;

pub struct MemoryStore {
    capacity: usize,
    max_pending: usize,
    inner: Mutex<Inner>,
    /// Few and rarely written: apart from the events, under a lock of their own.
    endpoints: Mutex<Vec<Endpoint>>,
}

impl MemoryStore {
    /// A store holding at most `capacity` events (at least one), and at most `max_pending`
    /// open deliveries.
    pub fn new(capacity: usize, max_pending: usize) -> Self {
        let capacity = capacity.max(1);
        // Room for the whole store up front, up to a million events: growing the queue and
        // the index one doubling at a time copies all of them at each step, with every
        // request waiting on the lock meanwhile (the tail latency while filling a store is
        // in `benches/README.md`).
        // Pages are resident only once used, so the idle server does not grow by this.
        let room = capacity.min(PREALLOCATED_EVENTS);
        Self {
            capacity,
            max_pending,
            inner: Mutex::new(Inner {
                slots: VecDeque::with_capacity(room),
                first_seq: 1,
                index: HashMap::with_capacity(room),
                names: HashMap::new(),
                extras: Extras::with_capacity(room * extras::ROOM_PER_EVENT),
                types: TypeNames::default(),
                evicted: 0,
                deliveries: Deliveries::default(),
            }),
            endpoints: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // loses acknowledged events, so a poisoned lock is still usable.
        self.inner.locked()
    }
}

impl Inner {
    fn slot(&self, seq: u64) -> Option<&Slot> {
        let pos = seq.checked_sub(self.first_seq)?;
        self.slots.get(usize::try_from(pos).ok()?)
    }

    /// Takes the oldest event out, for the caller to drop once the lock is released.
    fn evict_oldest(&mut self) -> Option<Slot> {
        let old = self.slots.pop_front()?;
        // The next event to go was stored long ago and is no longer in the CPU's caches;
        // fetching the head of its body now saves a miss when it is freed (by then, the
        // reference count's cache miss was the largest single cost of a full store's insert).
        if let Some(next) = self.slots.front() {
            // The two counts of an `Arc` sit just before its data. Were that to change,
            // the hint would only fetch the wrong line.
            prefetch(Arc::as_ptr(&next.body).cast::<u8>().wrapping_sub(16));
        }
        let end = self.slots.front().map(|s| s.extras_at);
        let text_id = self.extras.pop_front(end, old.flags & TEXT_ID != 0);
        match text_id {
            Some(id) => self.names.remove(&*id),
            None => self.index.remove(&old.number),
        };
        self.types.release(old.event_type);
        self.deliveries.forget_event(self.first_seq);
        self.first_seq += 1;
        self.evicted += 1;
        Some(old)
    }

    fn export(&self, seq: u64, slot: &Slot) -> StoredEvent {
        let end = self.slot(seq + 1).map(|s| s.extras_at);
        let (text_id, headers) = self
            .extras
            .read(slot.extras_at, end, slot.flags & TEXT_ID != 0);
        StoredEvent {
            seq,
            id: text_id.unwrap_or_else(|| super::store::model_id(slot.number)),
            event_id: (slot.flags & HAS_EVENT_ID != 0).then_some(slot.number),
            event_type: self.types.name(slot.event_type).to_owned(),
            received_at: DateTime::from_timestamp_micros(slot.received_micros).unwrap_or_default(),
            body: slot.body.to_vec(),
            headers,
            signature: slot.signature,
        }
    }

    /// The sequence number of the event `key` names.
    fn find(&self, key: EventKey<'_>) -> Option<u64> {
        match key {
            EventKey::Id(id) => match model_event_id(id) {
                Some(n) => self.index.get(&n).copied(),
                None => self.names.get(id).copied(),
            },
            EventKey::EventId(n) => {
                let seq = *self.index.get(&n)?;
                (self.slot(seq)?.flags & HAS_EVENT_ID != 0).then_some(seq)
            }
        }
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError> {
        // The copy of the body, the clock and the freeing of an evicted event happen
        // outside the lock: with several workers, the less time it is held, the less often
        // a worker waits for another one that the OS has paused while holding it.
        let body: Arc<[u8]> = event.body.into();
        // The system clock read directly: `Utc::now()` costs several times more, and the
        // date-time is only needed when the event has deliveries.
        let received_micros = unix_micros_now();
        let number = model_event_id(event.id);
        let evicted;
        let seq;
        {
            let mut guard = self.lock();
            let inner = &mut *guard;
            let full = inner.deliveries.open() + event.targets.len() > self.max_pending;
            // The same before and after an eviction, which moves both terms by one.
            let next = inner.first_seq + inner.slots.len() as u64;
            // One probe of the index both finds a stored event and makes the new entry.
            let stored = match number {
                Some(n) => match inner.index.entry(n) {
                    Entry::Occupied(stored) => Some(*stored.get()),
                    Entry::Vacant(_) if full => None,
                    Entry::Vacant(new) => {
                        new.insert(next);
                        None
                    }
                },
                None => match inner.names.get(event.id) {
                    Some(&stored) => Some(stored),
                    None if full => None,
                    None => {
                        inner.names.insert(Box::from(event.id), next);
                        None
                    }
                },
            };
            if let Some(stored) = stored {
                let same = inner.slot(stored).is_some_and(|s| *s.body == *event.body);
                return Ok(if same {
                    Inserted::Duplicate
                } else {
                    Inserted::Conflict
                });
            }
            if full {
                return Ok(Inserted::QueueFull);
            }
            seq = next;
            evicted = if inner.slots.len() >= self.capacity {
                inner.evict_oldest()
            } else {
                None
            };
            let event_type = inner.types.intern(event.event_type);
            if !event.targets.is_empty() {
                let now = DateTime::from_timestamp_micros(received_micros).unwrap_or_else(Utc::now);
                for target in event.targets {
                    inner
                        .deliveries
                        .create(event.id, event.event_id, seq, target, &body, now);
                }
            }
            let text_id = number.is_none().then_some(event.id);
            let extras_at = inner.extras.push_back(text_id, event.headers.as_bytes());
            let mut flags = 0;
            if event.event_id.is_some() {
                flags |= HAS_EVENT_ID;
            }
            if text_id.is_some() {
                flags |= TEXT_ID;
            }
            inner.slots.push_back(Slot {
                number: number.or(event.event_id).unwrap_or(0),
                event_type,
                flags,
                signature: event.signature,
                received_micros,
                body,
                extras_at,
            });
        }
        drop(evicted);
        Ok(Inserted::New { seq })
    }

    async fn get(&self, key: EventKey<'_>) -> Result<Option<StoredEvent>, StoreError> {
        let inner = self.lock();
        let found = inner
            .find(key)
            .and_then(|seq| Some((seq, inner.slot(seq)?)));
        Ok(found.map(|(seq, slot)| inner.export(seq, slot)))
    }

    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let inner = self.lock();
        // Positions in `slots` of the sequence numbers `after` and `before` bound.
        let position =
            |seq: u64| usize::try_from(seq.saturating_sub(inner.first_seq)).unwrap_or(usize::MAX);
        let start = query
            .after
            .map_or(0, |after| position(after.saturating_add(1)));
        let end = query
            .before
            .map_or(inner.slots.len(), position)
            .min(inner.slots.len());
        let since = query.since.map(|t| t.timestamp_micros());
        // A type no kept event has matches nothing.
        let wanted = match query.event_type.as_deref() {
            Some(t) => match inner.types.find(t) {
                Some(id) => Some(id),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        if start >= end {
            return Ok(Vec::new());
        }
        let range = inner.slots.range(start..end).enumerate();
        let matches = |(_, s): &(usize, &Slot)| {
            since.is_none_or(|t| s.received_micros >= t) && wanted.is_none_or(|t| s.event_type == t)
        };
        let export =
            |(pos, s): (usize, &Slot)| inner.export(inner.first_seq + (start + pos) as u64, s);
        let found = if query.newest_first {
            range
                .rev()
                .filter(matches)
                .take(query.limit)
                .map(export)
                .collect()
        } else {
            range
                .filter(matches)
                .take(query.limit)
                .map(export)
                .collect()
        };
        Ok(found)
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let inner = self.lock();
        Ok(StoreStats {
            events: inner.slots.len(),
            capacity: self.capacity,
            evicted: inner.evicted,
        })
    }

    async fn claim(&self, target: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        Ok(self.lock().deliveries.claim(target, now))
    }

    async fn record_attempt(
        &self,
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let (first, kept) = (inner.first_seq, inner.slots.len() as u64);
        let event_kept = |seq: u64| seq >= first && seq - first < kept;
        inner.deliveries.record(id, attempt, next, event_kept);
        Ok(())
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        Ok(self.lock().deliveries.list(filter))
    }

    async fn replay(&self, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError> {
        Ok(self.lock().deliveries.replay(filter))
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        Ok(self.lock().deliveries.counts())
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let mut endpoints = self.endpoints.locked().clone();
        // As the databases order them: by the microsecond of creation, then id.
        endpoints.sort_by(|a, b| {
            (a.created_at.timestamp_micros(), &a.id).cmp(&(b.created_at.timestamp_micros(), &b.id))
        });
        Ok(endpoints)
    }

    async fn endpoint(&self, id_or_name: &str) -> Result<Option<Endpoint>, StoreError> {
        let endpoints = self.endpoints.locked();
        Ok(endpoints
            .iter()
            .find(|e| e.id == id_or_name)
            .or_else(|| {
                endpoints
                    .iter()
                    .find(|e| e.name.as_deref() == Some(id_or_name))
            })
            .cloned())
    }

    async fn put_endpoint(
        &self,
        endpoint: &Endpoint,
        put: Put,
    ) -> Result<EndpointWrite, StoreError> {
        let mut endpoints = self.endpoints.locked();
        let at = endpoints.iter().position(|e| e.id == endpoint.id);
        if matches!((put, at), (Put::Create, Some(_)) | (Put::Replace, None)) {
            return Ok(EndpointWrite::IdConflict);
        }
        if endpoint.name.is_some()
            && endpoints
                .iter()
                .any(|e| e.id != endpoint.id && e.name == endpoint.name)
        {
            return Ok(EndpointWrite::NameTaken);
        }
        match at {
            Some(at) => endpoints[at] = endpoint.clone(),
            None => endpoints.push(endpoint.clone()),
        }
        Ok(EndpointWrite::Done)
    }

    async fn delete_endpoint(&self, id: &str) -> Result<Option<usize>, StoreError> {
        let mut endpoints = self.endpoints.locked();
        let before = endpoints.len();
        endpoints.retain(|e| e.id != id);
        if endpoints.len() == before {
            return Ok(None);
        }
        Ok(Some(self.lock().deliveries.drop_target(id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-event cost the memory target is measured against (`benches/README.md`).
    #[test]
    fn a_slot_stays_48_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 48);
    }
}
