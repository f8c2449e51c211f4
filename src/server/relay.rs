//! The relay: background workers that deliver every accepted event to its targets through
//! `alert`'s attempt and retry policy, recording each attempt in the store. Workers per
//! target are bounded (`--forward-concurrency`), so a slow target cannot stall the others.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::signing::{self, MessageId, Signer};
use crate::alert::{self, Decision, RetryPolicy, Verdict};

use super::store::{AttemptRecord, Claim, DeliveryJob, EventStore, NextState};
use super::wake::WakesInline;

// Parsed once: inserting by `&str` checks and lowercases the name on every call.
const WEBHOOK_ID: HeaderName = HeaderName::from_static(signing::HEADER_ID);
const WEBHOOK_TIMESTAMP: HeaderName = HeaderName::from_static(signing::HEADER_TIMESTAMP);

/// A forward target: every event, or those whose `event_type` matches `route`.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: url::Url,
    pub route: Option<glob::Pattern>,
}

impl Target {
    fn key(&self) -> Arc<str> {
        Arc::from(self.url.as_str())
    }
}

/// How the relay delivers.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    pub targets: Vec<Target>,
    /// Extra headers on every forwarded request.
    pub headers: HeaderMap,
    pub policy: RetryPolicy,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts in flight per target.
    pub concurrency: usize,
    /// Signs every attempt (Standard Webhooks) when forward secrets are given.
    pub signer: Option<Signer>,
}

struct Lane {
    target: Target,
    endpoint: alert::Endpoint,
    key: Arc<str>,
    wake: Notify,
}

pub struct Relay {
    lanes: Vec<Arc<Lane>>,
    by_key: HashMap<Arc<str>, Arc<Lane>>,
    headers: HeaderMap,
    policy: RetryPolicy,
    concurrency: usize,
    signer: Option<Signer>,
    /// The outbound connections of workers on the first (or only) runtime.
    client: alert::Client,
    client_options: alert::ClientOptions,
    store: Arc<dyn EventStore>,
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Relay {
    pub fn new(config: RelayConfig, store: Arc<dyn EventStore>) -> anyhow::Result<Arc<Self>> {
        Self::with_client_options(config, store, alert::ClientOptions::default())
    }

    /// [`Relay::new`] with the trusted CAs and proxies of `outbound`; the timeout of each
    /// attempt is still `config.timeout`.
    pub fn with_client_options(
        config: RelayConfig,
        store: Arc<dyn EventStore>,
        outbound: alert::ClientOptions,
    ) -> anyhow::Result<Arc<Self>> {
        let client_options = alert::ClientOptions {
            timeout: config.timeout,
            connect_timeout: None,
            ..outbound
        };
        let client = alert::build_client(client_options.clone())?;
        let lanes: Vec<Arc<Lane>> = config
            .targets
            .into_iter()
            .map(|target| {
                Arc::new(Lane {
                    key: target.key(),
                    endpoint: target.url.clone().into(),
                    target,
                    wake: Notify::new(),
                })
            })
            .collect();
        let by_key = lanes
            .iter()
            .map(|l| (Arc::clone(&l.key), Arc::clone(l)))
            .collect();
        Ok(Arc::new(Self {
            lanes,
            by_key,
            headers: config.headers,
            policy: config.policy,
            concurrency: config.concurrency.max(1),
            signer: config.signer,
            client,
            client_options,
            store,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        }))
    }

    /// The targets (by URL) that take an event of this type.
    pub fn targets_for(&self, event_type: &str) -> Vec<Arc<str>> {
        let takes = |l: &&Arc<Lane>| {
            l.target
                .route
                .as_ref()
                .is_none_or(|p| p.matches(event_type))
        };
        self.lanes
            .iter()
            .filter(takes)
            .map(|l| Arc::clone(&l.key))
            .collect()
    }

    /// Tells a target's workers that a delivery is waiting.
    pub fn wake(&self, target: &str) {
        // `target` is usually one of the keys handed out by `targets_for`: compare the
        // pointers before hashing the URL.
        let lane = self
            .lanes
            .iter()
            .find(|l| std::ptr::eq(l.key.as_ptr(), target.as_ptr()) && l.key.len() == target.len())
            .or_else(|| self.by_key.get(target));
        if let Some(lane) = lane {
            lane.wake.notify_one();
        }
    }

    /// Starts the workers, `concurrency` per target, on the current runtime.
    pub fn start(self: &Arc<Self>) {
        self.spawn_workers(&[(tokio::runtime::Handle::current(), self.client.clone())]);
    }

    /// Starts the workers spread in turn over `runtimes`, each runtime with its own
    /// outbound connections (a connection's I/O is registered with the runtime that opened
    /// it, and stays on that runtime's thread).
    pub fn start_on(self: &Arc<Self>, runtimes: &[tokio::runtime::Handle]) -> anyhow::Result<()> {
        let mut placed = Vec::with_capacity(runtimes.len());
        for (i, runtime) in runtimes.iter().enumerate() {
            let client = match i {
                0 => self.client.clone(),
                _ => alert::build_client(self.client_options.clone())?,
            };
            placed.push((runtime.clone(), client));
        }
        self.spawn_workers(&placed);
        Ok(())
    }

    fn spawn_workers(self: &Arc<Self>, runtimes: &[(tokio::runtime::Handle, alert::Client)]) {
        // Deliveries queued by other instances on a shared store wake a worker here too.
        let relay = Arc::downgrade(self);
        self.store.on_work_elsewhere(Arc::new(move |target: &str| {
            if let Some(relay) = relay.upgrade() {
                relay.wake(target);
            }
        }));
        let mut turn = runtimes.iter().cycle();
        for lane in &self.lanes {
            for _ in 0..self.concurrency {
                let Some((runtime, client)) = turn.next() else {
                    break;
                };
                // A worker's outbound connection is polled in the worker's own task
                // (`alert::client`), and hyper's channels wake it during its polls.
                let worker = Arc::clone(self).work(Arc::clone(lane), client.clone());
                self.tasks.spawn_on(WakesInline::new(worker), runtime);
            }
        }
        self.tasks.close();
    }

    /// Stops taking new work and waits up to `grace` for attempts in flight. Returns
    /// whether every worker finished in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.stop.cancel();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }

    async fn work(self: Arc<Self>, lane: Arc<Lane>, client: alert::Client) {
        'work: loop {
            if self.stop.is_cancelled() {
                return;
            }
            let now = Utc::now();
            if let Ok(Claim::Job(job)) = self.store.claim(&lane.key, now).await {
                self.attempt(&client, &lane, job, now).await;
                continue;
            }
            // Nothing to do: register for a wake, then look once more, so a wake between
            // the two is not lost. Busy workers never touch the `Notify`'s waiter list.
            let now = Utc::now();
            let job = 'registered: {
                let woken = lane.wake.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                let idle_for = match self.store.claim(&lane.key, now).await {
                    // The registration ends with this block, before the attempt: a wake
                    // it took meanwhile goes on to an idle worker instead of waiting for
                    // this attempt to end (a hanging target held it for the whole
                    // timeout, and that delivery waited with it).
                    Ok(Claim::Job(job)) => break 'registered job,
                    Ok(Claim::Idle { next_due }) => next_due
                        .map(|due| (due - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                        .unwrap_or(Duration::from_secs(3600))
                        .min(self.store.poll_every().unwrap_or(Duration::MAX)),
                    Err(e) => {
                        tracing::error!(error = %e, target = %lane.key, "cannot read deliveries");
                        Duration::from_secs(1)
                    }
                };
                tokio::select! {
                    () = &mut woken => {}
                    () = tokio::time::sleep(idle_for) => {}
                    () = self.stop.cancelled() => return,
                }
                continue 'work;
            };
            self.attempt(&client, &lane, job, now).await;
        }
    }

    /// One attempt of a delivery claimed `at`.
    async fn attempt(
        &self,
        client: &alert::Client,
        lane: &Lane,
        mut job: DeliveryJob,
        at: DateTime<Utc>,
    ) {
        let started = Instant::now();
        let number = job.attempts + 1;
        let delivery = alert::Delivery {
            endpoint: lane.endpoint.clone(),
            body: Bytes::from_owner(Arc::clone(&job.body)),
            headers: self.headers.clone(),
        };
        let headers = self.attempt_headers(&mut job, at);
        let attempt = alert::attempt(client, &delivery, headers, number).await;
        let verdict = attempt.verdict();
        let next = match self.policy.decide(verdict, job.round, attempt.retry_after) {
            Decision::Delivered => NextState::Delivered,
            Decision::RetryIn(wait) => NextState::RetryAt(Utc::now() + wait),
            Decision::GiveUp => NextState::Dead,
        };
        let elapsed = started.elapsed();
        super::metrics::attempt_finished(verdict, next, elapsed);
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
        if let Err(e) = self.store.record_attempt(job.id, record, next).await {
            tracing::error!(error = %e, delivery = job.id, "cannot record a delivery attempt");
        }
    }

    /// `webhook-id` (stable) and `webhook-timestamp` (this attempt), and with forward
    /// secrets a fresh `webhook-signature` over them.
    /// The job's `webhook_id` moves into the header.
    fn attempt_headers(&self, job: &mut DeliveryJob, at: DateTime<Utc>) -> HeaderMap {
        if let (Some(signer), Ok(id)) = (&self.signer, MessageId::new(job.webhook_id.as_str())) {
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
}
