//! One attempt of a delivery: its request (body, signature, the endpoint's and the
//! sender's headers), sent through `alert`, and its result recorded in the store and
//! told to the streams.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::alert::signing::{self, MessageId, Signer};
use crate::alert::{self, Decision, Verdict};

use crate::alert::signing::Secret;
use crate::server::endpoints::{DefinedBy, signature_header};
use crate::server::headers::REDACTED;
use crate::server::store::{AttemptRecord, DeliveryJob, DeliveryStatus, EventKey, NextState};
use crate::server::stream::DeliveryUpdate;

use super::Relay;
use super::lanes::Lane;

// Parsed once: inserting by `&str` checks and lowercases the name on every call.
const WEBHOOK_ID: HeaderName = HeaderName::from_static(signing::HEADER_ID);
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static(signing::HEADER_TIMESTAMP);

impl Relay {
    /// One attempt of a delivery claimed `at`; `probe` when it is the open circuit's probe.
    pub(super) async fn attempt(
        &self,
        client: &alert::Client,
        lane: &Lane,
        mut job: DeliveryJob,
        at: DateTime<Utc>,
        probe: bool,
    ) {
        let started = Instant::now();
        let number = job.attempts + 1;
        let (extra, signer) = match lane.defined_by {
            DefinedBy::Store => {
                let record = lane.record();
                let mut headers = self.headers.clone();
                headers.extend(record.headers.clone());
                let secrets = record
                    .endpoint
                    .signing_secrets(at)
                    .into_iter()
                    .filter_map(|s| Secret::parse(s).ok())
                    .collect();
                (headers, Signer::new(secrets))
            }
            // Its record's headers and secret are these, shown.
            DefinedBy::Options => (self.headers.clone(), self.signer.clone()),
        };
        let delivery = alert::Delivery {
            endpoint: lane.endpoint.clone(),
            body: Bytes::from_owner(Arc::clone(&job.body)),
            headers: if self.original_headers {
                self.with_original_headers(&job, extra).await
            } else if object_or_array(&job.body) {
                extra
            } else {
                self.with_content_type(&job, extra).await
            },
        };
        let headers = attempt_headers(signer.as_ref(), &mut job, at);
        let attempt = alert::attempt(client, &delivery, headers, number).await;
        let verdict = attempt.verdict();
        let mut next = match self.policy.decide(verdict, job.round, attempt.retry_after) {
            Decision::Delivered => NextState::Delivered,
            Decision::RetryIn(wait) => NextState::RetryAt(Utc::now() + wait),
            Decision::GiveUp => NextState::Dead,
        };
        let open_until = self
            .after_attempt(lane, verdict == Verdict::Delivered, probe)
            .await;
        // While the circuit is open, a delivery that was worth retrying waits for it to
        // close instead of dying.
        if let (Some(until), NextState::Dead, Verdict::Retry) = (open_until, next, verdict) {
            let wait = until.saturating_duration_since(Instant::now());
            next = NextState::RetryAt(
                Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default(),
            );
        }
        let elapsed = started.elapsed();
        crate::server::metrics::attempt_finished(verdict, next, elapsed);
        match next {
            NextState::Dead => tracing::warn!(
                target_url = %lane.key, event = %job.event, event_id = job.event_id, attempt = number,
                result = %attempt.summary(), "delivery dead"
            ),
            _ => tracing::debug!(
                target_url = %lane.key, event = %job.event, event_id = job.event_id, attempt = number,
                result = %attempt.summary(), "delivery attempt"
            ),
        }
        let record = AttemptRecord {
            at,
            status_code: attempt.status.map(|s| s.as_u16()),
            error: (verdict != Verdict::Delivered).then(|| attempt.outcome()),
            duration_ms: elapsed.as_millis() as u64,
            next_attempt_at: match next {
                NextState::RetryAt(due) => Some(due),
                _ => None,
            },
        };
        let hub = self.stream.get().filter(|hub| hub.watched());
        let streamed = hub.map(|_| record.clone());
        if let Err(e) = self.store.record_attempt(job.id, record, next).await {
            tracing::error!(error = %e, delivery = job.id, "cannot record a delivery attempt");
            return;
        }
        if let (Some(hub), Some(attempt)) = (hub, streamed) {
            hub.delivery(DeliveryUpdate {
                delivery_id: job.id,
                event: job.event.clone(),
                event_id: job.event_id,
                target: job.target.to_string(),
                status: match next {
                    NextState::Delivered => DeliveryStatus::Delivered,
                    NextState::RetryAt(_) => DeliveryStatus::Failed,
                    NextState::Dead => DeliveryStatus::Dead,
                },
                attempts: number,
                attempt: Some(attempt),
            });
        }
    }

    /// `extra` with the `Content-Type` the job's event arrived with, unless `extra` has one:
    /// for a body that is not a JSON object or array (a Slack form, a `json` source's
    /// bare value), which `application/json`, the default, would misname.
    pub(super) async fn with_content_type(
        &self,
        job: &DeliveryJob,
        mut extra: HeaderMap,
    ) -> HeaderMap {
        if extra.contains_key(http::header::CONTENT_TYPE) {
            return extra;
        }
        match self.store.get(EventKey::Id(&job.event)).await {
            Ok(Some(event)) => {
                let kept = event
                    .headers
                    .iter()
                    .find(|(name, _)| *name == "content-type");
                if let Some(value) = kept.and_then(|(_, v)| HeaderValue::from_bytes(v).ok()) {
                    extra.insert(http::header::CONTENT_TYPE, value);
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, delivery = job.id, "cannot read the event's headers")
            }
        }
        extra
    }

    /// The headers the job's event arrived with, less those [`forwardable`] refuses, with
    /// `extra` (`--forward-header`'s and the endpoint's) over them. An event no longer kept
    /// goes with `extra` alone.
    pub(super) async fn with_original_headers(
        &self,
        job: &DeliveryJob,
        extra: HeaderMap,
    ) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self.store.get(EventKey::Id(&job.event)).await {
            Ok(Some(event)) => {
                // Headers the sender's `Connection` named were for that hop alone.
                let hop = crate::server::headers::named_by_connection(event.headers.iter());
                for (name, value) in event.headers.iter() {
                    let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_bytes(value),
                    ) else {
                        continue;
                    };
                    if forwardable(&name)
                        && !hop.iter().any(|h| h == name.as_str())
                        && value.as_bytes() != REDACTED.as_bytes()
                    {
                        headers.append(name, value);
                    }
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, delivery = job.id, "cannot read the event's headers")
            }
        }
        for name in extra.keys() {
            headers.remove(name);
        }
        for (name, value) in &extra {
            headers.append(name.clone(), value.clone());
        }
        headers
    }
}

/// Whether `body` starts as a JSON object or array does, the body of nearly every event.
fn object_or_array(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// `webhook-id` (stable) and `webhook-timestamp` (this attempt), and with secrets a fresh
/// `webhook-signature` over them. The job's `webhook_id` moves into the header.
fn attempt_headers(signer: Option<&Signer>, job: &mut DeliveryJob, at: DateTime<Utc>) -> HeaderMap {
    if let (Some(signer), Ok(id)) = (signer, MessageId::new(job.webhook_id.as_str())) {
        return signer.headers(&id, &job.body);
    }
    let mut headers = HeaderMap::with_capacity(2 + alert::ADDED_HEADERS);
    let id = Bytes::from(std::mem::take(&mut job.webhook_id));
    if let Ok(id) = HeaderValue::from_maybe_shared(id) {
        headers.insert(WEBHOOK_ID, id);
    }
    headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(at.timestamp()));
    headers
}

/// Whether an arrived header goes on with `--forward-headers original`: not those of the
/// connection (`Host`, `Content-Length`, hop-by-hop ones, `Expect`), nor the sender's
/// Standard Webhooks headers under either name (`webhook-*`, Svix's `svix-*`): the relay
/// sets its own for each attempt, and a receiver reading the sender's would check the
/// relay's signature against them.
fn forwardable(name: &HeaderName) -> bool {
    const NOT: &[&str] = &[
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
        "expect",
    ];
    !NOT.contains(&name.as_str()) && !signature_header(name.as_str())
}
