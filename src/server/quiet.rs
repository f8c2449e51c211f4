//! Warnings that can come thousands of times a second (a database that is down fails every
//! request): written at most once every few seconds, each with the count of those left
//! out since, so the log says why without repeating it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::sync::LockExt;

/// One kind of warning and when it was last written.
pub struct Quieted {
    every: Duration,
    last: Mutex<Option<Instant>>,
    left_out: AtomicU64,
}

impl Quieted {
    /// A warning written at most once every `every`.
    pub const fn every(every: Duration) -> Self {
        Self {
            every,
            last: Mutex::new(None),
            left_out: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when the warning is to be written now, `n` the times it was left out
    /// since it last was; `None` (and counted) when it was written less than `every` ago.
    pub fn due(&self) -> Option<u64> {
        let mut last = self.last.locked();
        if last.is_some_and(|at| at.elapsed() < self.every) {
            self.left_out.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *last = Some(Instant::now());
        Some(self.left_out.swap(0, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_is_written_once_per_period_with_the_count_left_out() {
        let warning = Quieted::every(Duration::from_millis(200));
        assert_eq!(warning.due(), Some(0));
        assert_eq!(warning.due(), None);
        assert_eq!(warning.due(), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(warning.due(), Some(2));
    }
}
