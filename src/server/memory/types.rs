//! Byte strings many kept events share, interned: an event holds a small index, each
//! string is stored once with the count of kept events that refer to it. The event types
//! ([`TypeNames`]) and the request headers whose values repeat (`headers.rs`) use it.

use foldhash::HashMap;

/// An interned string: an index into an [`Interner`].
pub(super) type TypeId = u32;

/// Strings, each stored once and counted.
///
/// An event holds an index rather than an `Arc`: with several workers, the shared
/// reference count of a common type was written by every insert and every eviction,
/// and its cache line moved between CPUs on each request. The counts here are plain
/// numbers, changed only under the store's lock.
#[derive(Default)]
pub(super) struct Interner {
    /// By index; `None` once no kept event refers to it, until the index is reused.
    strings: Vec<Option<(Box<[u8]>, u64)>>,
    ids: HashMap<Box<[u8]>, TypeId>,
    free: Vec<TypeId>,
}

impl Interner {
    /// The string's index, counting one more reference.
    pub(super) fn intern(&mut self, bytes: &[u8]) -> TypeId {
        if let Some(&id) = self.ids.get(bytes) {
            if let Some((_, count)) = &mut self.strings[id as usize] {
                *count += 1;
            }
            return id;
        }
        let entry = Some((Box::from(bytes), 1));
        let id = match self.free.pop() {
            Some(id) => {
                self.strings[id as usize] = entry;
                id
            }
            None => {
                // More than four billion strings alive at once would need as many events,
                // beyond what a store can hold (its capacity is below 2^32).
                let id = TypeId::try_from(self.strings.len()).expect("fewer than 2^32 strings");
                self.strings.push(entry);
                id
            }
        };
        self.ids.insert(Box::from(bytes), id);
        id
    }

    /// As [`Interner::intern`], trying `hint` first (the index this caller got last time):
    /// a sender's requests repeat the same headers in the same order, and comparing a few
    /// bytes costs less than hashing them.
    pub(super) fn intern_hinted(&mut self, bytes: &[u8], hint: &mut TypeId) -> TypeId {
        if let Some(Some((kept, count))) = self.strings.get_mut(*hint as usize)
            && **kept == *bytes
        {
            *count += 1;
            return *hint;
        }
        *hint = self.intern(bytes);
        *hint
    }

    /// One reference to `id` is gone; the string is forgotten with its last one.
    pub(super) fn release(&mut self, id: TypeId) {
        let Some(entry) = self.strings.get_mut(id as usize) else {
            return;
        };
        if let Some((bytes, count)) = entry {
            *count -= 1;
            if *count == 0 {
                self.ids.remove(&**bytes);
                *entry = None;
                self.free.push(id);
            }
        }
    }

    pub(super) fn get(&self, id: TypeId) -> &[u8] {
        match self.strings.get(id as usize) {
            Some(Some((bytes, _))) => bytes,
            _ => &[],
        }
    }

    pub(super) fn find(&self, bytes: &[u8]) -> Option<TypeId> {
        self.ids.get(bytes).copied()
    }
}

/// The event types of the kept events, and the last one interned: a sender's events
/// mostly come in runs of one type.
#[derive(Default)]
pub(super) struct TypeNames(Interner, TypeId);

impl TypeNames {
    /// The type's index, counting one more event of that type.
    pub(super) fn intern(&mut self, name: &str) -> TypeId {
        self.0.intern_hinted(name.as_bytes(), &mut self.1)
    }

    /// One event of type `id` is gone; the type is forgotten with its last event.
    pub(super) fn release(&mut self, id: TypeId) {
        self.0.release(id);
    }

    pub(super) fn name(&self, id: TypeId) -> &str {
        // Only ever interned from a `&str`.
        std::str::from_utf8(self.0.get(id)).unwrap_or_default()
    }

    pub(super) fn find(&self, name: &str) -> Option<TypeId> {
        self.0.find(name.as_bytes())
    }
}
