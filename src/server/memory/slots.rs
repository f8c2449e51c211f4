//! A queue of small fixed-size items in chunks: pushed at the back, popped at the front,
//! read by position. Unlike a `VecDeque`, it never moves what it holds: growing is
//! allocating one more chunk, where a `VecDeque` doubling copied every kept item at once
//! (`benches/README.md`, "The tail at every store size").

use std::collections::VecDeque;

/// Items per chunk.
const CHUNK: usize = 4096;

pub(super) struct Chunked<T> {
    /// Every chunk but the last is full (`CHUNK` items); the first `head` items of the
    /// first one are gone.
    chunks: VecDeque<Vec<T>>,
    head: usize,
    len: usize,
    /// A freed chunk, reused for the next one.
    spare: Option<Vec<T>>,
}

impl<T: Copy> Chunked<T> {
    pub(super) fn new() -> Self {
        Self {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
            spare: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn get(&self, pos: usize) -> Option<&T> {
        if pos >= self.len {
            return None;
        }
        let at = self.head + pos;
        Some(&self.chunks[at / CHUNK][at % CHUNK])
    }

    pub(super) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    pub(super) fn push_back(&mut self, item: T) {
        if self.chunks.back().is_none_or(|c| c.len() == CHUNK) {
            let mut chunk = self
                .spare
                .take()
                .unwrap_or_else(|| Vec::with_capacity(CHUNK));
            chunk.clear();
            self.chunks.push_back(chunk);
        }
        self.chunks.back_mut().expect("a chunk").push(item);
        self.len += 1;
    }

    pub(super) fn pop_front(&mut self) -> Option<T> {
        let item = *self.front()?;
        self.head += 1;
        self.len -= 1;
        if self.head == CHUNK {
            self.spare = self.chunks.pop_front();
            self.head = 0;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_come_back_by_position_and_in_order() {
        let mut q = Chunked::new();
        let mut model = VecDeque::new();
        for i in 0..3 * CHUNK as u64 + 5 {
            q.push_back(i);
            model.push_back(i);
            // Holds about 1.5 chunks once it starts popping, so chunks are freed and reused.
            if i % 3 == 0 && model.len() > CHUNK * 3 / 2 {
                assert_eq!(q.pop_front(), model.pop_front());
                assert_eq!(q.pop_front(), model.pop_front());
            }
            assert_eq!(q.len(), model.len());
        }
        for (pos, want) in model.iter().enumerate() {
            assert_eq!(q.get(pos), Some(want));
        }
        assert_eq!(q.get(model.len()), None);
        while let Some(want) = model.pop_front() {
            assert_eq!(q.pop_front(), Some(want));
        }
        assert_eq!((q.pop_front(), q.len()), (None, 0));
    }
}
