//! The id index: the kept events' sequence numbers by id, for dedup and lookups.
//!
//! Split over [`SHARDS`] hash tables by the hash's top bits, so that growing is one small
//! table's rehash at a time: a single table of a million entries copied all of them at
//! once when it doubled, with every request waiting on the store's lock
//! (`benches/README.md`, "The tail at every store size"). An entry is 8 bytes: the low 32
//! bits of the sequence number (the store holds fewer than 2^32 events, so they name one
//! kept event) and 32 bits of the id's hash, which a table's growth rehashes from without
//! reading the event. The ids themselves stay with the events; a lookup compares them
//! through the caller's `matches`.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

/// Tables, by the top bits of a key's hash.
const SHARD_BITS: u32 = 10;
const SHARDS: usize = 1 << SHARD_BITS;

/// An event's id as the index hashes it: the `<n>` of `evt_<n>`, or any other string.
#[derive(Clone, Copy)]
pub(super) enum Key<'a> {
    Number(i64),
    Text(&'a str),
}

#[derive(Clone, Copy)]
struct Slot {
    seq: u32,
    hash: u32,
}

/// The 64-bit hash a table uses for an entry with these 32 bits: the table takes its
/// buckets from the low bits and its 7-bit tags from the top ones.
fn table_hash(hash: u32) -> u64 {
    (u64::from(hash) << 32) | u64::from(hash)
}

pub(super) struct Index {
    shards: Box<[HashTable<Slot>]>,
    /// Seeded at random per process.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    pub(super) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| HashTable::new()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn locate(&self, key: Key<'_>) -> (usize, u32) {
        let h = match key {
            Key::Number(n) => self.hasher.hash_one(n),
            Key::Text(s) => self.hasher.hash_one(s),
        };
        ((h >> (64 - SHARD_BITS)) as usize, h as u32)
    }

    /// The sequence number (low 32 bits) of the event `key` names, if kept; `matches`
    /// says whether the event of a sequence number has that key.
    pub(super) fn get(&self, key: Key<'_>, matches: impl Fn(u32) -> bool) -> Option<u32> {
        let (shard, hash) = self.locate(key);
        self.shards[shard]
            .find(table_hash(hash), |e| e.hash == hash && matches(e.seq))
            .map(|e| e.seq)
    }

    /// The kept event's sequence number when `key` has one; otherwise `seq` is entered for
    /// it, unless `full`.
    pub(super) fn get_or_insert(
        &mut self,
        key: Key<'_>,
        seq: u32,
        full: bool,
        matches: impl Fn(u32) -> bool,
    ) -> Option<u32> {
        let (shard, hash) = self.locate(key);
        let table = &mut self.shards[shard];
        let eq = |e: &Slot| e.hash == hash && matches(e.seq);
        if full {
            return table.find(table_hash(hash), eq).map(|e| e.seq);
        }
        match table.entry(table_hash(hash), eq, |e| table_hash(e.hash)) {
            Entry::Occupied(stored) => Some(stored.get().seq),
            Entry::Vacant(new) => {
                new.insert(Slot { seq, hash });
                None
            }
        }
    }

    /// Forgets the entry of `key` for the event `seq`.
    pub(super) fn remove(&mut self, key: Key<'_>, seq: u32) {
        let (shard, hash) = self.locate(key);
        if let Ok(entry) = self.shards[shard].find_entry(table_hash(hash), |e| e.seq == seq) {
            entry.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_until_removed_and_text_and_numbers_stay_apart() {
        let mut index = Index::new();
        // Sequence number -> the id it was entered with.
        let mut ids: Vec<Option<Result<i64, String>>> = Vec::new();
        let same = |ids: &Vec<Option<Result<i64, String>>>, seq: u32, key: Key<'_>| match (
            &ids[seq as usize],
            key,
        ) {
            (Some(Ok(a)), Key::Number(b)) => *a == b,
            (Some(Err(a)), Key::Text(b)) => a == b,
            _ => false,
        };
        for n in 0..20_000i64 {
            let seq = ids.len() as u32;
            let (id, key) = if n % 5 == 0 {
                (Err(n.to_string()), None)
            } else {
                (Ok(n), Some(Key::Number(n)))
            };
            ids.push(Some(id.clone()));
            let text = n.to_string();
            let key = key.unwrap_or(Key::Text(&text));
            assert_eq!(
                index.get_or_insert(key, seq, false, |s| same(&ids, s, key)),
                None
            );
            // Entered once: the same key again finds it.
            assert_eq!(
                index.get_or_insert(key, seq + 1, false, |s| same(&ids, s, key)),
                Some(seq)
            );
        }
        // "5" as text and 5 as a number are two ids.
        assert_eq!(
            index.get(Key::Text("5"), |s| same(&ids, s, Key::Text("5"))),
            Some(5)
        );
        assert_eq!(
            index.get(Key::Number(5), |s| same(&ids, s, Key::Number(5))),
            None
        );
        assert_eq!(
            index.get(Key::Number(6), |s| same(&ids, s, Key::Number(6))),
            Some(6)
        );
        index.remove(Key::Number(6), 6);
        ids[6] = None;
        assert_eq!(
            index.get(Key::Number(6), |s| same(&ids, s, Key::Number(6))),
            None
        );
        // A full store enters nothing.
        ids.push(Some(Ok(-1)));
        let key = Key::Number(-1);
        assert_eq!(
            index.get_or_insert(key, 20_000, true, |s| same(&ids, s, key)),
            None
        );
        assert_eq!(index.get(key, |s| same(&ids, s, key)), None);
    }
}
