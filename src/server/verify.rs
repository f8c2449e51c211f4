//! Signature verification of `POST /webhook` (Standard Webhooks or GitHub), and `webhook-id`
//! as the idempotency key: a bounded memory of ids already answered, so that a retry of the
//! same message gets the duplicate answer even when its body was rebuilt.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::HeaderMap;

use crate::alert::signing::{self, HEADER_ID, Secret, Tolerance};

use super::error::ApiError;

/// How many `webhook-id`s are remembered; the oldest is forgotten beyond it.
pub const SEEN_IDS: usize = 100_000;

/// Which signature scheme incoming webhooks must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheme {
    /// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
    Standard,
    /// GitHub: X-Hub-Signature-256
    Github,
}

/// Verification settings of the receiver.
#[derive(Debug, Clone)]
pub struct Verification {
    pub scheme: Scheme,
    pub secrets: Vec<Secret>,
    /// Applies to Standard Webhooks timestamps; GitHub's scheme has none.
    pub tolerance: Tolerance,
}

impl Verification {
    /// `Err(ApiError::InvalidSignature)` (401) unless the request is signed as required.
    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        let verified = match self.scheme {
            Scheme::Standard => {
                signing::verify_standard(&self.secrets, headers, body, self.tolerance)
            }
            Scheme::Github => signing::verify_github(&self.secrets, headers, body),
        };
        verified.map_err(|e| {
            tracing::debug!(reason = e.reason(), "webhook signature refused");
            super::metrics::signature_refused(e.reason());
            ApiError::InvalidSignature(e)
        })
    }
}

/// The `webhook-id` of a request, when it has a usable one.
pub fn webhook_id(headers: &HeaderMap) -> Option<String> {
    // A ready-made name: looking a header up by `&str` parses the name on every request.
    static NAME: axum::http::HeaderName = axum::http::HeaderName::from_static(HEADER_ID);
    let id = headers.get(&NAME)?.to_str().ok()?.trim();
    (!id.is_empty() && id.len() <= 256).then(|| id.to_string())
}

/// `webhook-id`s already answered, with the `event_id` each one carried; bounded, oldest
/// forgotten first.
#[derive(Debug)]
pub struct SeenIds {
    capacity: usize,
    inner: Mutex<(HashMap<String, i64>, VecDeque<String>)>,
}

impl SeenIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Default::default()),
        }
    }

    /// The `event_id` answered for `id`, if it was seen.
    pub fn get(&self, id: &str) -> Option<i64> {
        self.lock().0.get(id).copied()
    }

    /// Remembers that `id` was answered with `event_id`.
    pub fn insert(&self, id: String, event_id: i64) {
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if map.insert(id.clone(), event_id).is_some() {
            return;
        }
        order.push_back(id);
        if order.len() > self.capacity
            && let Some(old) = order.pop_front()
        {
            map.remove(&old);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<String, i64>, VecDeque<String>)> {
        // Each update leaves map and queue consistent, so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for SeenIds {
    fn default() -> Self {
        Self::new(SEEN_IDS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_ids_forget_the_oldest_beyond_capacity() {
        let seen = SeenIds::new(2);
        seen.insert("a".into(), 1);
        seen.insert("b".into(), 2);
        seen.insert("a".into(), 1);
        seen.insert("c".into(), 3);
        assert_eq!(seen.get("a"), None);
        assert_eq!(seen.get("b"), Some(2));
        assert_eq!(seen.get("c"), Some(3));
    }
}
