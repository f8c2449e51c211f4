//! The kept events' bytes (text id, body, headers) appended in arrival order to a queue of
//! fixed-size chunks, freed a whole chunk at a time as the oldest events are evicted.
//!
//! No allocation per event, so no size-class rounding and no allocator bookkeeping; and
//! the log never moves what it holds: growing it is allocating one more chunk, where a
//! single buffer doubling copied every kept byte at once with every request waiting on the
//! store's lock (`benches/README.md`, "The tail at every store size"). A freed chunk is
//! kept for the next one, so a full store that evicts allocates nothing.

pub(super) use crate::server::headers::{read_varint, varint_size, write_varint};
use std::collections::VecDeque;

/// Bytes per chunk. An event larger than that gets a chunk of its own size.
const CHUNK: usize = 64 * 1024;

/// Where an event's bytes are: the number of its chunk (counted since the store started)
/// in the high 32 bits, the offset in the chunk in the low 32.
pub(super) type At = u64;

fn chunk_of(at: At) -> u64 {
    at >> 32
}

pub(super) struct Log {
    chunks: VecDeque<Vec<u8>>,
    /// The number of `chunks[0]`.
    first: u64,
    /// A freed chunk, reused for the next one.
    spare: Option<Vec<u8>>,
}

impl Log {
    pub(super) fn new() -> Self {
        Self {
            chunks: VecDeque::new(),
            first: 0,
            spare: None,
        }
    }

    /// Appends one record made of `parts`, each written as its length (LEB128) and its
    /// bytes; returns where it starts.
    pub(super) fn push(&mut self, parts: &[&[u8]]) -> At {
        let size: usize = parts.iter().map(|p| varint_size(p.len()) + p.len()).sum();
        let fits = self
            .chunks
            .back()
            .is_some_and(|c| c.capacity() - c.len() >= size);
        if !fits {
            let chunk = match self.spare.take() {
                Some(mut chunk) if size <= CHUNK => {
                    chunk.clear();
                    chunk
                }
                _ => Vec::with_capacity(size.max(CHUNK)),
            };
            self.chunks.push_back(chunk);
        }
        let number = self.first + self.chunks.len() as u64 - 1;
        let chunk = self.chunks.back_mut().expect("a chunk was just made");
        let offset = chunk.len() as u64;
        for part in parts {
            write_varint(chunk, part.len());
            chunk.extend_from_slice(part);
        }
        (number << 32) | offset
    }

    /// The record at `at`: its parts in order, as many as asked.
    pub(super) fn read<const N: usize>(&self, at: At) -> [&[u8]; N] {
        let chunk = chunk_of(at)
            .checked_sub(self.first)
            .and_then(|i| self.chunks.get(usize::try_from(i).ok()?));
        let mut rest = chunk.map_or(&[][..], |c| &c[(at as u32 as usize).min(c.len())..]);
        std::array::from_fn(|_| {
            let len = read_varint(&mut rest).unwrap_or(0).min(rest.len());
            let (part, tail) = rest.split_at(len);
            rest = tail;
            part
        })
    }

    /// Frees the chunks before the one holding `oldest`, the oldest record still kept (or,
    /// with `None`, every chunk but the last).
    pub(super) fn free_before(&mut self, oldest: Option<At>) {
        let keep_from = match oldest {
            Some(at) => chunk_of(at),
            None => self.first + (self.chunks.len() as u64).saturating_sub(1),
        };
        while self.first < keep_from {
            let Some(chunk) = self.chunks.pop_front() else {
                break;
            };
            self.first += 1;
            if chunk.capacity() == CHUNK && self.spare.is_none() {
                self.spare = Some(chunk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_across_chunks_and_chunks_are_freed_in_order() {
        let mut log = Log::new();
        let mut kept = VecDeque::new();
        let big = vec![7u8; CHUNK + 10];
        for i in 0..5000u32 {
            let body = format!("body-{i}-{}", "x".repeat(i as usize % 300));
            let body = if i == 1234 {
                big.clone()
            } else {
                body.into_bytes()
            };
            let at = log.push(&[b"id", &body, b""]);
            kept.push_back((at, body));
            if kept.len() > 700 {
                kept.pop_front();
                log.free_before(kept.front().map(|k| k.0));
            }
            for (at, body) in kept.iter().step_by(97) {
                let [id, b, h] = log.read::<3>(*at);
                assert_eq!((id, b, h), (&b"id"[..], &body[..], &b""[..]));
            }
        }
        // 700 records of at most ~320 bytes span a few chunks, not all that were written.
        assert!(log.chunks.len() <= 5, "{} chunks kept", log.chunks.len());
        log.free_before(None);
        assert_eq!(log.chunks.len(), 1);
    }
}
