//! The one way this crate takes a lock: [`LockExt::locked`].

use std::sync::{Mutex, MutexGuard};

/// Locking that goes on past a poisoned lock.
///
/// Every lock in this crate guards state that each update leaves consistent (a queue and
/// its index, a list of idle connections, a waker), so a panic in another holder does not
/// make the data unusable, and refusing it would turn one failed request into all of them.
pub(crate) trait LockExt<T> {
    /// The guard, whether or not another holder panicked.
    fn locked(&self) -> MutexGuard<'_, T>;
}

impl<T> LockExt<T> for Mutex<T> {
    fn locked(&self) -> MutexGuard<'_, T> {
        self.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
