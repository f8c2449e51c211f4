//! The in-memory store: a bounded arrival-ordered queue of events with an id index for
//! dedup, and the relay's deliveries (`deliveries.rs`), all under one lock so an event and
//! its deliveries are stored together. When full, the oldest event is evicted (and
//! counted). Everything is lost on exit.
//!
//! An event is a 32-byte `Slot` in a chunked queue (`slots.rs`), an 8-byte entry in the
//! id index (`index.rs`), and its bytes (text id, body, headers in the form of
//! `headers.rs`) in a log of chunks freed in the same order as the events (`log.rs`).
//! Event types and the header values that repeat are interned (`types.rs`). Nothing grows
//! by copying what it holds, so filling a large store has no pause proportional to its
//! size; and nothing is allocated per event.

mod deliveries;
mod headers;
mod index;
mod log;
mod slots;
mod types;

use crate::sync::LockExt;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::store::{
    AttemptRecord, Claim, DeliveryCounts, DeliveryFilter, DeliveryRecord, Endpoint, EndpointWrite,
    EventKey, EventQuery, EventStore, Inserted, NewEvent, NextState, Put, Served, Signature,
    StoreError, StoreStats, StoredEvent, model_event_id, owed_to_stored_endpoint,
};
use deliveries::Deliveries;
use index::{Index, Key};
use log::{At, Log};
use slots::Chunked;
use types::{Interner, TypeId, TypeNames};

/// One kept event, packed small: a store of a million events is sized by their bodies.
#[derive(Clone, Copy)]
struct Slot {
    /// The `<n>` of an id `evt_<n>` (the model's `event_id` when [`HAS_EVENT_ID`]); unused
    /// when the id is a text id kept in the log ([`TEXT_ID`]).
    number: i64,
    received_micros: i64,
    /// Where the event's bytes are in [`Inner::log`]: its text id (empty unless
    /// [`TEXT_ID`]), its body and its headers.
    at: At,
    /// Interned in [`Inner::types`]: most events share a handful of types.
    event_type: TypeId,
    flags: u8,
    signature: Option<Signature>,
}

/// [`Slot::flags`]: the event has the model's `event_id` ([`Slot::number`]).
const HAS_EVENT_ID: u8 = 1;
/// [`Slot::flags`]: the id is not `evt_<number>` and is kept in the log.
const TEXT_ID: u8 = 2;

struct Inner {
    slots: Chunked<Slot>,
    /// Sequence number of `slots[0]`; sequence numbers are contiguous.
    first_seq: u64,
    /// Every kept event's id.
    index: Index,
    log: Log,
    types: TypeNames,
    /// Header values that repeat ([`headers`]).
    pairs: Interner,
    /// The interned index of each of the last event's first headers (`headers.rs`).
    hints: headers::Hints,
    /// Where an event's headers are put in the log's form before they are appended.
    scratch: Vec<u8>,
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

/// The most events a store holds: the index keeps the low 32 bits of sequence numbers.
const MAX_CAPACITY: usize = u32::MAX as usize;

pub struct MemoryStore {
    capacity: usize,
    max_pending: usize,
    inner: Mutex<Inner>,
    /// Few and rarely written: apart from the events, under a lock of their own.
    endpoints: Mutex<Vec<Endpoint>>,
    /// Drawn at each start: the numbers of another start's events are not these.
    id: String,
    served: Served,
}

impl MemoryStore {
    /// A store holding at most `capacity` events (at least one, at most 2^32 - 1), and at
    /// most `max_pending` open deliveries. Nothing is reserved up front: the store grows a
    /// chunk at a time as it fills.
    pub fn new(capacity: usize, max_pending: usize) -> Self {
        Self {
            capacity: capacity.clamp(1, MAX_CAPACITY),
            max_pending,
            inner: Mutex::new(Inner {
                slots: Chunked::new(),
                first_seq: 1,
                index: Index::new(),
                log: Log::new(),
                types: TypeNames::default(),
                pairs: Interner::default(),
                hints: headers::Hints::default(),
                scratch: Vec::new(),
                evicted: 0,
                deliveries: Deliveries::default(),
            }),
            endpoints: Mutex::new(Vec::new()),
            id: format!("{:016x}", rand::random::<u64>()),
            served: Served::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // loses acknowledged events, so a poisoned lock is still usable.
        self.inner.locked()
    }
}

/// The index's key of an id.
fn key_of(id: &str) -> Key<'_> {
    match model_event_id(id) {
        Some(n) => Key::Number(n),
        None => Key::Text(id),
    }
}

/// Whether the kept event whose sequence number has the low bits `low` has the id `key`.
fn has_key(slots: &Chunked<Slot>, log: &Log, first_seq: u64, low: u32, key: Key<'_>) -> bool {
    let pos = low.wrapping_sub(first_seq as u32) as usize;
    let Some(slot) = slots.get(pos) else {
        return false;
    };
    match key {
        Key::Number(n) => slot.flags & TEXT_ID == 0 && slot.number == n,
        Key::Text(id) => slot.flags & TEXT_ID != 0 && log.read::<1>(slot.at)[0] == id.as_bytes(),
    }
}

impl Inner {
    fn slot(&self, seq: u64) -> Option<&Slot> {
        let pos = seq.checked_sub(self.first_seq)?;
        self.slots.get(usize::try_from(pos).ok()?)
    }

    /// The sequence number of a kept event from its low 32 bits.
    fn widen(&self, low: u32) -> u64 {
        self.first_seq + u64::from(low.wrapping_sub(self.first_seq as u32))
    }

    /// Takes the oldest event out.
    fn evict_oldest(&mut self) {
        let Some(old) = self.slots.pop_front() else {
            return;
        };
        let [text_id, _, form] = self.log.read::<3>(old.at);
        let key = if old.flags & TEXT_ID != 0 {
            Key::Text(std::str::from_utf8(text_id).unwrap_or_default())
        } else {
            Key::Number(old.number)
        };
        self.index.remove(key, self.first_seq as u32);
        headers::release(form, &mut self.pairs);
        self.log.free_before(self.slots.front().map(|s| s.at));
        self.types.release(old.event_type);
        self.deliveries.forget_event(self.first_seq);
        self.first_seq += 1;
        self.evicted += 1;
    }

    fn export(&self, seq: u64, slot: &Slot) -> StoredEvent {
        let [text_id, body, form] = self.log.read::<3>(slot.at);
        let text_id =
            (slot.flags & TEXT_ID != 0).then(|| String::from_utf8_lossy(text_id).into_owned());
        StoredEvent {
            seq,
            id: text_id.unwrap_or_else(|| super::store::model_id(slot.number)),
            event_id: (slot.flags & HAS_EVENT_ID != 0).then_some(slot.number),
            event_type: self.types.name(slot.event_type).to_owned(),
            received_at: DateTime::from_timestamp_micros(slot.received_micros).unwrap_or_default(),
            body: body.to_vec(),
            headers: headers::expand(form, body.len(), &self.pairs),
            signature: slot.signature,
        }
    }

    /// The sequence number of the event `key` names.
    fn find(&self, key: EventKey<'_>) -> Option<u64> {
        let key_wanted = match key {
            EventKey::Id(id) => key_of(id),
            EventKey::EventId(n) => Key::Number(n),
        };
        let low = self.index.get(key_wanted, |low| {
            has_key(&self.slots, &self.log, self.first_seq, low, key_wanted)
        })?;
        let seq = self.widen(low);
        match key {
            EventKey::Id(_) => Some(seq),
            EventKey::EventId(_) => (self.slot(seq)?.flags & HAS_EVENT_ID != 0).then_some(seq),
        }
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError> {
        // The relay's copy of the body and the clock are taken outside the lock: with
        // several workers, the less time it is held, the less often a worker waits for
        // another one that the OS has paused while holding it.
        let shared_body: Option<Arc<[u8]>> = (!event.targets.is_empty()).then(|| event.body.into());
        // The system clock read directly: `Utc::now()` costs several times more, and the
        // date-time is only needed when the event has deliveries.
        let received_micros = unix_micros_now();
        // The model's events bring their number: `id` is `evt_<event_id>`, not read again.
        debug_assert!(
            event
                .event_id
                .is_none_or(|n| model_event_id(event.id) == Some(n))
        );
        let number = event.event_id.or_else(|| model_event_id(event.id));
        let key = match number {
            Some(n) => Key::Number(n),
            None => Key::Text(event.id),
        };
        let mut guard = self.lock();
        let inner = &mut *guard;
        let full = inner.deliveries.open() + event.targets.len() > self.max_pending;
        // The same before and after an eviction, which moves both terms by one.
        let seq = inner.first_seq + inner.slots.len() as u64;
        // One probe of the index both finds a stored event and makes the new entry.
        let (slots, log, first_seq) = (&inner.slots, &inner.log, inner.first_seq);
        let stored = inner.index.get_or_insert(key, seq as u32, full, |low| {
            has_key(slots, log, first_seq, low, key)
        });
        if let Some(low) = stored {
            let stored = inner.widen(low);
            let same = inner
                .slot(stored)
                .is_some_and(|s| inner.log.read::<2>(s.at)[1] == event.body);
            return Ok(if same {
                Inserted::Duplicate
            } else {
                Inserted::Conflict
            });
        }
        if full {
            return Ok(Inserted::QueueFull);
        }
        if inner.slots.len() >= self.capacity {
            inner.evict_oldest();
        }
        let event_type = inner.types.intern(event.event_type);
        if let Some(body) = &shared_body {
            let now = DateTime::from_timestamp_micros(received_micros).unwrap_or_else(Utc::now);
            for target in event.targets {
                inner
                    .deliveries
                    .create(event.id, event.event_id, seq, target, body, now);
            }
        }
        headers::compact(
            &event.headers,
            event.body.len(),
            &mut inner.pairs,
            &mut inner.hints,
            &mut inner.scratch,
        );
        let text_id = if number.is_none() {
            event.id.as_bytes()
        } else {
            b""
        };
        let at = inner.log.push(&[text_id, event.body, &inner.scratch]);
        let mut flags = 0;
        if event.event_id.is_some() {
            flags |= HAS_EVENT_ID;
        }
        if number.is_none() {
            flags |= TEXT_ID;
        }
        inner.slots.push_back(Slot {
            number: number.or(event.event_id).unwrap_or(0),
            received_micros,
            at,
            event_type,
            flags,
            signature: event.signature,
        });
        drop(guard);
        Ok(Inserted::New {
            seq,
            received_micros,
        })
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
        let range = (start..end).filter_map(|pos| Some((pos, inner.slots.get(pos)?)));
        let matches = |(_, s): &(usize, &Slot)| {
            since.is_none_or(|t| s.received_micros >= t) && wanted.is_none_or(|t| s.event_type == t)
        };
        let export = |(pos, s): (usize, &Slot)| inner.export(inner.first_seq + pos as u64, s);
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
            evicted_here: None,
        })
    }

    fn store_id(&self) -> &str {
        &self.id
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
        // In the order of `delete_endpoint`: the endpoints, then the deliveries.
        let endpoints = self.endpoints.locked();
        let served = self.served.get();
        let exists = |target: &str| endpoint_exists(&endpoints, served.as_deref(), target);
        Ok(self.lock().deliveries.replay(filter, exists))
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

    async fn drop_orphaned(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let endpoints = self.endpoints.locked();
        let served = self.served.get();
        let mut inner = self.lock();
        let deliveries = &mut inner.deliveries;
        let gone = deliveries
            .queued_targets_without(|t| endpoint_exists(&endpoints, served.as_deref(), t));
        Ok(gone
            .into_iter()
            .map(|t| (t.to_string(), deliveries.drop_target(&t)))
            .filter(|(_, n)| *n > 0)
            .collect())
    }

    fn serve_targets(&self, targets: Vec<Arc<str>>) {
        self.served.set(targets);
    }
}

/// Whether deliveries to `target` have somewhere to go: an endpoint of the options (kept
/// under its URL, one of `served` when told) or a stored endpoint still in `endpoints`.
fn endpoint_exists(endpoints: &[Endpoint], served: Option<&[Arc<str>]>, target: &str) -> bool {
    if owed_to_stored_endpoint(target) {
        endpoints.iter().any(|e| e.id == target)
    } else {
        !Served::abandons(served, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-event cost the memory target is measured against (`benches/README.md`).
    #[test]
    fn a_slot_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }
}
