//! The hub's task at work: the events since the last pass, in order, rendered once into
//! frames and broadcast in batches (one item for many events, which each stream takes
//! whole).
//!
//! Events stored by this process come handed over ([`Fresh`]), so the store is not read
//! again for them. An event that is not there when its turn comes (handed over a moment
//! later by a slower request, stored while no stream was open, or dropped when too many
//! waited) is waited for one pass; still missing then, the events from it on are read from
//! the store, which holds every event a request was answered for. With a store that other
//! processes write to, the store is read on every pass, as nothing is handed over.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use tokio::sync::broadcast;

use super::frame::{Clock, EventParts, write_event_frame};
use super::types::TypeCache;
use super::{Fresh, Hub, Item, PAGE, Part};
use crate::server::store::{EventQuery, ModelId};

/// Events in one broadcast item at most.
const ITEM_EVENTS: usize = PAGE;
/// Bytes of frames in one broadcast item, about at most.
const ITEM_BYTES: usize = 64 * 1024;

/// What the task keeps from one pass to the next.
pub(super) struct Publisher {
    sender: broadcast::Sender<Arc<Item>>,
    pub(super) types: TypeCache,
    clock: Clock,
    /// Handed-over events after one that has not come yet.
    pending: Vec<Fresh>,
    /// The sequence number missing at the end of the last pass: read from the store if it
    /// is still missing at the next.
    missing: Option<u64>,
    frames: Vec<u8>,
    parts: Vec<Part>,
}

impl Publisher {
    pub(super) fn new(sender: broadcast::Sender<Arc<Item>>) -> Self {
        Self {
            sender,
            types: TypeCache::default(),
            clock: Clock::default(),
            pending: Vec::new(),
            missing: None,
            frames: Vec::new(),
            parts: Vec::new(),
        }
    }

    /// Whether an event is awaited: the task then passes again soon even if nothing wakes it.
    pub(super) fn waiting(&self) -> bool {
        self.missing.is_some()
    }

    /// No stream is open: what waited is old news to the next stream.
    pub(super) fn forget(&mut self) {
        self.pending.clear();
        self.missing = None;
    }

    /// Renders the frame of `event` into the batch; with `remember`, its type is kept for
    /// the updates of its deliveries.
    fn add(&mut self, event: &EventParts<'_>, remember: bool) {
        let event_type = if remember {
            let model_id;
            let id = match (event.id, event.event_id) {
                (Some(id), _) => id,
                (None, n) => {
                    model_id = ModelId::new(n.unwrap_or(0));
                    model_id.as_str()
                }
            };
            self.types.remember(id, event.event_type)
        } else {
            self.types.intern(event.event_type)
        };
        write_event_frame(&mut self.frames, event, &mut self.clock);
        self.parts.push(Part {
            seq: Some(event.seq),
            event_type: Some(event_type),
            end: self.frames.len(),
        });
        if self.parts.len() >= ITEM_EVENTS || self.frames.len() >= ITEM_BYTES {
            self.flush();
        }
    }

    /// Broadcasts the batch.
    pub(super) fn flush(&mut self) {
        if self.parts.is_empty() {
            return;
        }
        let item = Item {
            frames: Bytes::from(std::mem::take(&mut self.frames)),
            parts: std::mem::take(&mut self.parts),
        };
        // An error only says that no stream is open now.
        let _ = self.sender.send(Arc::new(item));
    }
}

impl Hub {
    /// Publishes the events after the cursor, in order; see the module documentation. In a
    /// `hurry`, a missing event is read from the store at once.
    pub(super) async fn publish_events(&self, p: &mut Publisher, hurry: bool) {
        let (mut last, generation) = {
            let c = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
            (c.last, c.generation)
        };
        let mut fresh = std::mem::take(&mut *self.fresh.lock().unwrap_or_else(|e| e.into_inner()));
        fresh.append(&mut p.pending);
        if !fresh.is_sorted_by_key(|f| f.seq) {
            fresh.sort_unstable_by_key(|f| f.seq);
        }
        let relayed = self.relayed.load(Ordering::Relaxed);
        let mut next = 0;
        loop {
            while fresh.get(next).is_some_and(|f| f.seq <= last) {
                next += 1;
            }
            if let Some(f) = fresh.get(next)
                && f.seq == last + 1
            {
                p.add(&f.parts(), relayed && f.delivered);
                last = f.seq;
                next += 1;
                p.missing = None;
                continue;
            }
            // Every event up to `newest` was stored before this point.
            let newest = self
                .latest
                .load(Ordering::SeqCst)
                .max(fresh.last().map_or(0, |f| f.seq));
            if self.handover {
                if newest <= last {
                    break;
                }
                if !hurry && p.missing != Some(last + 1) {
                    p.missing = Some(last + 1);
                    break;
                }
            }
            p.missing = None;
            if !self.read_store(p, &mut last, relayed).await {
                break;
            }
            if !self.handover {
                break;
            }
            // The store was read to its end: what is not in it up to `newest` never will be.
            last = last.max(newest);
        }
        p.pending = fresh.split_off(next.min(fresh.len()));
        p.flush();
        let mut c = self.cursor.lock().unwrap_or_else(|e| e.into_inner());
        if c.generation == generation {
            c.last = c.last.max(last);
        }
    }

    /// Publishes the stored events after `last` to the store's end; `false` when the store
    /// could not be read.
    async fn read_store(&self, p: &mut Publisher, last: &mut u64, relayed: bool) -> bool {
        loop {
            let query = EventQuery {
                after: Some(*last),
                limit: PAGE,
                ..Default::default()
            };
            let events = match self.store.list(&query).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read events for the stream");
                    return false;
                }
            };
            for event in &events {
                p.add(&EventParts::of(event), relayed);
                *last = event.seq;
            }
            if events.len() < PAGE {
                return true;
            }
        }
    }
}
