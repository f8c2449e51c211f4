//! The types of recently streamed events, so that a delivery update can be filtered by
//! its event's type without reading the event again; and each type's name shared by
//! every frame of that type rather than copied for each.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Event types remembered for filtering delivery updates without a store read.
const TYPES_KEPT: usize = 16384;
/// Type names shared at most; beyond, each frame gets a copy of its own.
const NAMES_KEPT: usize = 1024;

#[derive(Default)]
pub(super) struct TypeCache {
    by_event: HashMap<Box<str>, Arc<str>>,
    order: VecDeque<Box<str>>,
    names: HashMap<Box<str>, Arc<str>>,
}

impl TypeCache {
    pub(super) fn intern(&mut self, event_type: &str) -> Arc<str> {
        if let Some(name) = self.names.get(event_type) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(event_type);
        if self.names.len() < NAMES_KEPT {
            self.names.insert(event_type.into(), Arc::clone(&name));
        }
        name
    }

    pub(super) fn get(&self, event: &str) -> Option<Arc<str>> {
        self.by_event.get(event).cloned()
    }

    pub(super) fn remember(&mut self, event: &str, event_type: &str) -> Arc<str> {
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
