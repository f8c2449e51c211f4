//! The event types of the kept events, interned: a slot holds a small index, each type
//! name is stored once with the count of kept events that have it.

use foldhash::HashMap;

/// An interned event type: an index into [`TypeNames`].
pub(super) type TypeId = u32;

/// The event types of the kept events, each stored once and counted.
///
/// A slot holds an index rather than an `Arc<str>`: with several workers, the shared
/// reference count of a common type was written by every insert and every eviction,
/// and its cache line moved between CPUs on each request. The counts here are plain
/// numbers, changed only under the store's lock.
#[derive(Default)]
pub(super) struct TypeNames {
    /// By index; `None` once no kept event has the type, until the index is reused.
    names: Vec<Option<(Box<str>, u64)>>,
    ids: HashMap<Box<str>, TypeId>,
    free: Vec<TypeId>,
}

impl TypeNames {
    /// The type's index, counting one more event of that type.
    pub(super) fn intern(&mut self, name: &str) -> TypeId {
        if let Some(&id) = self.ids.get(name) {
            if let Some((_, count)) = &mut self.names[id as usize] {
                *count += 1;
            }
            return id;
        }
        let entry = Some((Box::from(name), 1));
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = entry;
                id
            }
            None => {
                // More than four billion types alive at once would need as many events,
                // far beyond what a store can hold.
                let id = TypeId::try_from(self.names.len()).expect("fewer than 2^32 types");
                self.names.push(entry);
                id
            }
        };
        self.ids.insert(Box::from(name), id);
        id
    }

    /// One event of type `id` is gone; the type is forgotten with its last event.
    pub(super) fn release(&mut self, id: TypeId) {
        let Some(entry) = self.names.get_mut(id as usize) else {
            return;
        };
        if let Some((name, count)) = entry {
            *count -= 1;
            if *count == 0 {
                self.ids.remove(&**name);
                *entry = None;
                self.free.push(id);
            }
        }
    }

    pub(super) fn name(&self, id: TypeId) -> &str {
        match self.names.get(id as usize) {
            Some(Some((name, _))) => name,
            _ => "",
        }
    }

    pub(super) fn find(&self, name: &str) -> Option<TypeId> {
        self.ids.get(name).copied()
    }
}
