//! Signature verification of `POST /webhook` (Standard Webhooks or GitHub), and a verified
//! `webhook-id` as an idempotency key: ids already answered, each with a digest of the body
//! it carried, kept by the store when it can (SQLite, PostgreSQL) and otherwise in a
//! bounded memory of this process. A repeat of the same id and the same bytes is a
//! duplicate; the same id with other bytes is a conflict. An id that no signature covers
//! (no `--verify`, or GitHub's scheme, which does not sign it) is not a key at all: anyone
//! could otherwise silence an event by reusing an id.

use crate::sync::LockExt;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::alert::signing::{self, HEADER_ID, Secret, Tolerance};

use super::error::ApiError;
use super::store::{EventStore, Signature, SignatureHeaders, SignatureScheme, StoreError};

/// How many `webhook-id`s are remembered; the oldest is forgotten beyond it.
pub const SEEN_IDS: usize = 100_000;

/// Which signature scheme incoming webhooks must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// The digest kept per `webhook-id` to tell a repeat of the same message from another
/// body under a reused id.
pub type BodyDigest = [u8; 32];

/// SHA-256 of a request body.
pub fn body_digest(body: &[u8]) -> BodyDigest {
    Sha256::digest(body).into()
}

impl Verification {
    /// The `webhook-id` this verification vouches for: only Standard Webhooks signs it.
    pub fn verified_id(&self, headers: &HeaderMap) -> Option<String> {
        match self.scheme {
            // `webhook-id`, or `svix-id` when the request came with Svix's header names.
            Scheme::Standard => webhook_id(headers).or_else(|| {
                let id = signing::message_id(headers)?;
                (id.len() <= 256).then(|| id.to_string())
            }),
            Scheme::Github => None,
        }
    }

    /// How a request that passed [`Verification::check`] was signed, as the event keeps it.
    pub fn signature(&self, headers: &HeaderMap) -> Signature {
        let (scheme, names) = match self.scheme {
            Scheme::Standard => {
                let names = if signing::header_names(headers)[0] == signing::SVIX_HEADERS[0] {
                    SignatureHeaders::Svix
                } else {
                    SignatureHeaders::Webhook
                };
                (SignatureScheme::Standard, names)
            }
            Scheme::Github => (SignatureScheme::Github, SignatureHeaders::HubSignature256),
        };
        Signature {
            scheme,
            headers: names,
            verified: true,
        }
    }

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

/// What `id` was answered with: from the store when it keeps webhook-ids (shared by every
/// process on it, kept across restarts), otherwise from this process's `memory`.
pub async fn seen(
    store: &dyn EventStore,
    memory: &SeenIds,
    id: &str,
) -> Result<Option<Seen>, StoreError> {
    if store.keeps_webhook_ids() {
        store.seen_webhook_id(id).await
    } else {
        Ok(memory.get(id))
    }
}

/// Remembers what `id` was answered with, where [`seen`] looks for it.
pub async fn remember(
    store: &dyn EventStore,
    memory: &SeenIds,
    id: String,
    answer: Seen,
) -> Result<(), StoreError> {
    if store.keeps_webhook_ids() {
        store.remember_webhook_id(&id, answer).await
    } else {
        memory.insert(id, answer);
        Ok(())
    }
}

/// What a `webhook-id` was answered with: the event's string id (`evt_<event_id>` for the
/// model, the provider's otherwise), the model's integer `event_id` when there is one, and
/// the digest of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub id: String,
    pub event_id: Option<i64>,
    pub digest: BodyDigest,
}

impl Seen {
    /// What a model event answered: `evt_<event_id>` and its number.
    pub fn model(event_id: i64, digest: BodyDigest) -> Self {
        Self {
            id: crate::alert::signing::MessageId::for_event(event_id).into_string(),
            event_id: Some(event_id),
            digest,
        }
    }
}

type SeenMap = (HashMap<String, Seen>, VecDeque<String>);

/// Verified `webhook-id`s already answered, with what each one carried; bounded, oldest
/// forgotten first.
#[derive(Debug)]
pub struct SeenIds {
    capacity: usize,
    inner: Mutex<SeenMap>,
}

impl SeenIds {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Default::default()),
        }
    }

    /// What `id` was answered with, if it was seen.
    pub fn get(&self, id: &str) -> Option<Seen> {
        self.lock().0.get(id).cloned()
    }

    /// Remembers that `id` was answered with `seen`. The first answer stays.
    pub fn insert(&self, id: String, seen: Seen) {
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if map.contains_key(&id) {
            return;
        }
        map.insert(id.clone(), seen);
        order.push_back(id);
        if order.len() > self.capacity
            && let Some(old) = order.pop_front()
        {
            map.remove(&old);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SeenMap> {
        // Each update leaves map and queue consistent, so a poisoned lock is still usable.
        self.inner.locked()
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
        let of = |event_id: i64| Seen::model(event_id, body_digest(&event_id.to_le_bytes()));
        let seen = SeenIds::new(2);
        seen.insert("a".into(), of(1));
        seen.insert("b".into(), of(2));
        seen.insert("a".into(), of(1));
        seen.insert("c".into(), of(3));
        assert_eq!(seen.get("a"), None);
        assert_eq!(seen.get("b"), Some(of(2)));
        assert_eq!(seen.get("c"), Some(of(3)));
    }

    #[test]
    fn the_first_answer_for_an_id_stays() {
        let seen = SeenIds::new(4);
        let first = Seen::model(1, body_digest(b"one"));
        seen.insert("a".into(), first.clone());
        seen.insert(
            "a".into(),
            Seen {
                id: "msg_2".into(),
                event_id: None,
                digest: body_digest(b"two"),
            },
        );
        assert_eq!(seen.get("a"), Some(first));
    }
}
