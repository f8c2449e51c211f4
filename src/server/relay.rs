//! The relay: background workers that deliver every accepted event to its endpoints
//! through `alert`'s attempt and retry policy, recording each attempt in the store. The
//! endpoints are those of the options (`--forward-to`, `--route`) and those kept in the
//! store, each with its filter, rate limit and circuit breaker. Workers per endpoint are
//! bounded (`--forward-concurrency`), so a slow endpoint cannot stall the others.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::signing::{self, MessageId, Signer};
use crate::alert::{self, Decision, RetryPolicy, Verdict};

use super::endpoints::options::{self, OptionsEndpoint};
use super::endpoints::{DefinedBy, Endpoint, signature_header};
use super::headers::REDACTED;
use super::store::{
    AttemptRecord, Claim, DeliveryJob, DeliveryStatus, EventKey, EventStore, NextState,
    owed_to_stored_endpoint,
};
use super::stream::{DeliveryUpdate, Hub};
use super::wake::WakesInline;
use crate::alert::signing::Secret;
use crate::sync::LockExt;

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
    /// Forward the headers the event arrived with (`--forward-headers original`), less the
    /// connection's own and those the relay sets; `headers` are added over them.
    pub original_headers: bool,
    /// When an endpoint's circuit opens, and when a failing one is disabled.
    pub circuit: CircuitConfig,
}

/// The circuit breaker of every endpoint.
#[derive(Debug, Clone, Copy)]
pub struct CircuitConfig {
    /// Consecutive failed attempts that open the circuit.
    pub failures: u32,
    /// The wait before the first probe; each failed probe doubles it, up to `max_probe`.
    pub first_probe: Duration,
    pub max_probe: Duration,
    /// An endpoint failing this long (no success since its first failure) is disabled.
    pub disable_after: Duration,
}

impl Default for CircuitConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            first_probe: Duration::from_secs(5),
            max_probe: Duration::from_secs(3600),
            disable_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

/// An endpoint's circuit: closed while attempts succeed; open after
/// [`CircuitConfig::failures`] failures in a row, when only one probe is made at a time,
/// at a growing interval, until one succeeds.
#[derive(Debug, Default)]
struct Circuit {
    consecutive: u32,
    failing_since: Option<Instant>,
    /// While open: when the next probe may start.
    probe_at: Option<Instant>,
    probe_wait: Duration,
    probing: bool,
}

/// What a worker may do now, by the circuit.
enum Gate {
    /// Closed: attempt.
    Go,
    /// Open, and this worker makes the probe.
    Probe,
    /// Open: wait this long before asking again.
    Wait(Duration),
}

/// One endpoint's deliveries and the workers that make them.
struct Lane {
    url: url::Url,
    endpoint: alert::Endpoint,
    /// What its deliveries are kept under: a stored endpoint's id, an options endpoint's
    /// URL.
    key: Arc<str>,
    defined_by: DefinedBy,
    wake: Notify,
    /// Its record: a stored endpoint's as last read, an options endpoint's as made at start.
    record: std::sync::RwLock<Record>,
    /// Ends this lane's workers (its endpoint was deleted or moved to another URL).
    stop: CancellationToken,
    circuit: std::sync::Mutex<Circuit>,
}

/// What a lane needs of its endpoint's record, read once per change.
struct Record {
    endpoint: Endpoint,
    /// `filter_types`, compiled; empty takes every type.
    filters: Vec<glob::Pattern>,
    headers: HeaderMap,
    /// `rate_limit`'s token bucket, one request at a time (no burst).
    limiter: Option<Arc<governor::DefaultDirectRateLimiter>>,
}

impl Record {
    /// The record `endpoint`, keeping the bucket of `previous` when the rate is the same.
    fn new(endpoint: Endpoint, previous: Option<&Record>) -> Self {
        let limiter = match previous {
            Some(p) if p.endpoint.rate_limit == endpoint.rate_limit => p.limiter.clone(),
            _ => endpoint.rate_limit.and_then(limiter),
        };
        let filters = endpoint
            .filter_types
            .iter()
            .filter_map(|f| glob::Pattern::new(f).ok())
            .collect();
        let headers = endpoint
            .headers
            .iter()
            .filter_map(|(name, value)| {
                Some((
                    HeaderName::from_bytes(name.as_bytes()).ok()?,
                    HeaderValue::from_str(value).ok()?,
                ))
            })
            .collect();
        Self {
            endpoint,
            filters,
            headers,
            limiter,
        }
    }
}

/// A bucket that lets `per_second` requests through each second, evenly spaced.
fn limiter(per_second: u64) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
    let rate = std::num::NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX))?;
    let quota = governor::Quota::per_second(rate).allow_burst(std::num::NonZeroU32::MIN);
    Some(Arc::new(governor::RateLimiter::direct(quota)))
}

impl Lane {
    /// The lane of an endpoint of the options, keyed by its URL.
    fn of_options(target: Target, endpoint: Endpoint, stop: CancellationToken) -> Arc<Self> {
        let key = target.key();
        Self::new(target.url, key, DefinedBy::Options, endpoint, stop)
    }

    /// The lane of a stored endpoint, keyed by its id.
    fn of_store(url: url::Url, endpoint: Endpoint, stop: CancellationToken) -> Arc<Self> {
        let key = Arc::from(endpoint.id.as_str());
        Self::new(url, key, DefinedBy::Store, endpoint, stop)
    }

    fn new(
        url: url::Url,
        key: Arc<str>,
        defined_by: DefinedBy,
        endpoint: Endpoint,
        stop: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Lane {
            key,
            endpoint: url.clone().into(),
            url,
            defined_by,
            wake: Notify::new(),
            record: std::sync::RwLock::new(Record::new(endpoint, None)),
            stop,
            circuit: std::sync::Mutex::new(Circuit::default()),
        })
    }

    fn record(&self) -> std::sync::RwLockReadGuard<'_, Record> {
        self.record.read().unwrap_or_else(|p| p.into_inner())
    }

    fn stored(&self) -> bool {
        self.defined_by == DefinedBy::Store
    }

    fn takes(&self, event_type: &str) -> bool {
        let record = self.record();
        record.filters.is_empty() || record.filters.iter().any(|p| p.matches(event_type))
    }

    fn limiter(&self) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
        self.record().limiter.clone()
    }

    fn disabled(&self) -> bool {
        self.record().endpoint.disabled
    }

    /// Replaces the record, keeping the rate limiter's bucket when the rate is the same.
    fn replace(&self, endpoint: Endpoint) {
        let mut record = self.record.write().unwrap_or_else(|p| p.into_inner());
        *record = Record::new(endpoint, Some(&record));
    }
}

/// The lanes of the moment: those of the options' endpoints, then one per stored endpoint.
/// Replaced whole when the endpoints change.
#[derive(Default)]
struct Lanes {
    list: Vec<Arc<Lane>>,
    by_key: HashMap<Arc<str>, Arc<Lane>>,
    /// The targets of each event type seen, worked out once per type: every filter (exact
    /// or glob) is checked on a type's first event only, so that choosing an event's
    /// endpoints costs one lookup however many endpoints do not want it.
    by_type: std::sync::RwLock<TypeTargets>,
}

/// The targets of each event type, by type.
type TypeTargets = HashMap<Box<str>, Arc<[Arc<str>]>>;

/// Event types whose targets are remembered; senders choose types, so the memory is
/// bounded: beyond this many, a new type's targets are worked out on each of its events.
const TYPES_REMEMBERED: usize = 10_000;

impl Lanes {
    fn new(list: Vec<Arc<Lane>>) -> Self {
        let by_key = list
            .iter()
            .map(|l| (Arc::clone(&l.key), Arc::clone(l)))
            .collect();
        Self {
            list,
            by_key,
            by_type: Default::default(),
        }
    }

    fn targets_for(&self, event_type: &str) -> Vec<Arc<str>> {
        if self.list.is_empty() {
            // No target and no endpoint: what every serve without them pays per event.
            return Vec::new();
        }
        if let Some(known) = self
            .by_type
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(event_type)
        {
            return known.to_vec();
        }
        let targets: Vec<Arc<str>> = self
            .list
            .iter()
            .filter(|l| l.takes(event_type))
            .map(|l| Arc::clone(&l.key))
            .collect();
        let mut by_type = self.by_type.write().unwrap_or_else(|p| p.into_inner());
        if by_type.len() < TYPES_REMEMBERED {
            by_type.insert(event_type.into(), targets.as_slice().into());
        }
        targets
    }
}

pub struct Relay {
    lanes: std::sync::RwLock<Arc<Lanes>>,
    /// Where new lanes' workers go: the runtimes the relay was started on.
    runtimes: std::sync::Mutex<Vec<(tokio::runtime::Handle, alert::Client)>>,
    /// One reload of the stored endpoints at a time.
    reloading: tokio::sync::Mutex<()>,
    headers: HeaderMap,
    policy: RetryPolicy,
    concurrency: usize,
    signer: Option<Signer>,
    original_headers: bool,
    circuit: CircuitConfig,
    /// The outbound connections of workers on the first (or only) runtime.
    client: alert::Client,
    client_options: alert::ClientOptions,
    store: Arc<dyn EventStore>,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// The event streams, told of every attempt recorded.
    stream: OnceLock<Arc<Hub>>,
    /// Asks for the deliveries left waiting for stored endpoints that no longer exist to be
    /// given up ([`Relay::drop_orphaned`]): no lane would ever take them.
    orphans: Arc<Notify>,
    /// Whether the stored endpoints were read yet.
    read_once: std::sync::atomic::AtomicBool,
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
        let stop = CancellationToken::new();
        let now = Utc::now();
        let lanes: Vec<Arc<Lane>> = config
            .targets
            .into_iter()
            .map(|target| {
                let endpoint = options::endpoint(
                    &target.url,
                    target.route.as_ref(),
                    &config.headers,
                    config.signer.as_ref(),
                    now,
                );
                Lane::of_options(target, endpoint, stop.child_token())
            })
            .collect();
        // Deliveries left for a URL the options no longer name are given up at start.
        store.serve_targets(lanes.iter().map(|lane| Arc::clone(&lane.key)).collect());
        Ok(Arc::new(Self {
            lanes: std::sync::RwLock::new(Arc::new(Lanes::new(lanes))),
            runtimes: std::sync::Mutex::new(Vec::new()),
            reloading: tokio::sync::Mutex::new(()),
            headers: config.headers,
            policy: config.policy,
            concurrency: config.concurrency.max(1),
            signer: config.signer,
            original_headers: config.original_headers,
            circuit: config.circuit,
            client,
            client_options,
            store,
            stop,
            tasks: TaskTracker::new(),
            stream: OnceLock::new(),
            orphans: Arc::new(Notify::new()),
            read_once: Default::default(),
        }))
    }

    fn lanes(&self) -> Arc<Lanes> {
        Arc::clone(&self.lanes.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Tells the event streams of `hub` of every attempt recorded from now on.
    pub fn report_to(&self, hub: Arc<Hub>) {
        hub.relayed();
        let _ = self.stream.set(hub);
    }

    /// The targets that take an event of this type: the URLs of the options' endpoints,
    /// the ids of the stored endpoints (a disabled one too: its deliveries wait).
    pub fn targets_for(&self, event_type: &str) -> Vec<Arc<str>> {
        self.lanes().targets_for(event_type)
    }

    /// The endpoints of this instance (of the options and of the store) whose circuit is
    /// open now, and those disabled (a stored one as last read from the store).
    pub fn endpoint_health(&self) -> (usize, usize) {
        let lanes = self.lanes();
        let open = lanes
            .list
            .iter()
            .filter(|l| l.circuit.locked().probe_at.is_some())
            .count();
        let disabled = lanes.list.iter().filter(|l| l.disabled()).count();
        (open, disabled)
    }

    /// The endpoints of the options (`--forward-to`, `--route`), in their order, each as
    /// it is now (disabled, when its circuit disabled it).
    pub fn options_endpoints(&self) -> Vec<OptionsEndpoint> {
        let secrets: Vec<String> = self
            .signer
            .iter()
            .flat_map(|s| s.secrets())
            .map(|s| s.to_whsec())
            .collect();
        self.lanes()
            .list
            .iter()
            .filter(|l| !l.stored())
            .map(|l| OptionsEndpoint {
                endpoint: l.record().endpoint.clone(),
                target: Arc::clone(&l.key),
                secrets: secrets.clone(),
            })
            .collect()
    }

    /// Tells a target's workers that a delivery is waiting.
    pub fn wake(&self, target: &str) {
        let lanes = self.lanes();
        // `target` is usually one of the keys handed out by `targets_for`: compare the
        // pointers before hashing the URL.
        let lane = lanes
            .list
            .iter()
            .find(|l| std::ptr::eq(l.key.as_ptr(), target.as_ptr()) && l.key.len() == target.len())
            .or_else(|| lanes.by_key.get(target));
        match lane {
            Some(lane) => lane.wake.notify_one(),
            // Work for a stored endpoint this instance has no lane for: once the endpoints
            // are read again, nobody would take it if the endpoint is gone.
            None if owed_to_stored_endpoint(target) => self.orphans.notify_one(),
            None => {}
        }
    }

    /// Reads the stored endpoints again and brings the lanes in line: a new endpoint gets
    /// a lane and its workers, a changed one its new record (an enabled one's workers are
    /// woken, a new URL makes a new lane), a deleted one's workers stop.
    pub async fn reload_endpoints(self: &Arc<Self>) -> Result<(), super::store::StoreError> {
        let _one = self.reloading.lock().await;
        let endpoints = self.store.endpoints().await?;
        let old = self.lanes();
        let mut list: Vec<Arc<Lane>> = old.list.iter().filter(|l| !l.stored()).cloned().collect();
        let mut started = Vec::new();
        for endpoint in endpoints {
            let existing = old
                .by_key
                .get(endpoint.id.as_str())
                .filter(|l| l.stored() && l.url.as_str() == endpoint.url);
            match existing {
                Some(lane) => {
                    lane.replace(endpoint);
                    lane.wake.notify_waiters();
                    list.push(Arc::clone(lane));
                }
                None => {
                    let Ok(url) = url::Url::parse(&endpoint.url) else {
                        tracing::error!(endpoint = %endpoint.id, "stored endpoint has no valid URL");
                        continue;
                    };
                    let lane = Lane::of_store(url, endpoint, self.stop.child_token());
                    started.push(Arc::clone(&lane));
                    list.push(lane);
                }
            }
        }
        let new = Lanes::new(list);
        let mut removed = false;
        for lane in old.list.iter().filter(|l| l.stored()) {
            let kept = new
                .by_key
                .get(&lane.key)
                .is_some_and(|l| Arc::ptr_eq(l, lane));
            if !kept {
                lane.stop.cancel();
                removed |= !new.by_key.contains_key(&lane.key);
            }
        }
        // The first reading (at start) and every endpoint gone: deliveries still waiting for
        // an endpoint that no longer exists are given up.
        let first = !self
            .read_once
            .swap(true, std::sync::atomic::Ordering::Relaxed);
        if first || removed {
            self.orphans.notify_one();
        }
        *self.lanes.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
        let runtimes = self.runtimes.locked().clone();
        if !runtimes.is_empty() {
            self.spawn_lanes(&started, &runtimes);
        }
        Ok(())
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
        *self.runtimes.locked() = runtimes.to_vec();
        let lanes = self.lanes();
        self.spawn_lanes(&lanes.list, runtimes);
        if let Some((runtime, _)) = runtimes.first() {
            let relay = Arc::downgrade(self);
            let (stop, orphans) = (self.stop.clone(), Arc::clone(&self.orphans));
            self.tasks.spawn_on(
                async move {
                    loop {
                        tokio::select! {
                            () = orphans.notified() => {}
                            () = stop.cancelled() => return,
                        }
                        let Some(relay) = relay.upgrade() else { return };
                        relay.drop_orphaned().await;
                        drop(relay);
                        // At most once a second, however many wakes ask for it.
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = stop.cancelled() => return,
                        }
                    }
                },
                runtime,
            );
        }
        // Endpoints changed by other instances on a shared store are read again at the
        // store's poll interval.
        if let (Some(every), Some((runtime, _))) = (self.store.poll_every(), runtimes.first()) {
            let relay = Arc::downgrade(self);
            let stop = self.stop.clone();
            self.tasks.spawn_on(
                async move {
                    loop {
                        tokio::select! {
                            () = tokio::time::sleep(every) => {}
                            () = stop.cancelled() => return,
                        }
                        let Some(relay) = relay.upgrade() else { return };
                        if let Err(e) = relay.reload_endpoints().await {
                            tracing::warn!(error = %e, "cannot read the endpoints again");
                        }
                    }
                },
                runtime,
            );
        }
        self.tasks.close();
    }

    fn spawn_lanes(
        self: &Arc<Self>,
        lanes: &[Arc<Lane>],
        runtimes: &[(tokio::runtime::Handle, alert::Client)],
    ) {
        let mut turn = runtimes.iter().cycle();
        for lane in lanes {
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
    }

    /// Gives up on the deliveries waiting for stored endpoints that no longer exist (left
    /// by a replay that raced the endpoint's deletion, or by an older version): they
    /// become dead, and each such endpoint is logged as an error.
    async fn drop_orphaned(&self) {
        match self.store.drop_orphaned().await {
            Ok(dropped) => {
                for (endpoint, n) in dropped {
                    if owed_to_stored_endpoint(&endpoint) {
                        tracing::error!(
                            endpoint = %endpoint, dropped = n,
                            "deliveries to an endpoint that no longer exists are dead: it was deleted"
                        );
                    } else {
                        tracing::error!(
                            target = %endpoint, dropped = n,
                            "deliveries to a URL that --forward-to/--route no longer name are dead: \
                             nothing delivers to it now (give it again and replay them to deliver them)"
                        );
                    }
                    super::metrics::deliveries_dropped(n);
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot give up deliveries of deleted endpoints"),
        }
    }

    /// Stops taking new work and waits up to `grace` for attempts in flight. Returns
    /// whether every worker finished in time.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.stop.cancel();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }

    async fn work(self: Arc<Self>, lane: Arc<Lane>, client: alert::Client) {
        'work: loop {
            if lane.stop.is_cancelled() {
                return;
            }
            if lane.disabled() {
                // A disabled endpoint's deliveries wait; a change of it wakes every worker.
                tokio::select! {
                    () = lane.wake.notified() => {}
                    () = tokio::time::sleep(Duration::from_secs(5)) => {}
                    () = lane.stop.cancelled() => return,
                }
                continue 'work;
            }
            let probe = match self.gate(&lane) {
                Gate::Go => false,
                Gate::Probe => true,
                Gate::Wait(wait) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = lane.stop.cancelled() => return,
                    }
                    continue 'work;
                }
            };
            if probe {
                // The probe: one delivery, whatever its due time, as soon as there is one.
                let now = Utc::now();
                match self
                    .store
                    .claim(&lane.key, now + chrono::Duration::days(3650))
                    .await
                {
                    Ok(Claim::Job(job)) => self.attempt(&client, &lane, job, now, true).await,
                    _ => {
                        lane.circuit.locked().probing = false;
                        tokio::select! {
                            () = lane.wake.notified() => {}
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                            () = lane.stop.cancelled() => return,
                        }
                    }
                }
                continue 'work;
            }
            if let Some(limiter) = lane.limiter() {
                // Beyond its rate, an endpoint's deliveries wait here, before they are
                // claimed; other endpoints' workers do not share the bucket.
                tokio::select! {
                    () = limiter.until_ready() => {}
                    () = lane.stop.cancelled() => return,
                }
            }
            let now = Utc::now();
            if let Ok(Claim::Job(job)) = self.store.claim(&lane.key, now).await {
                self.attempt(&client, &lane, job, now, false).await;
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
                    () = lane.stop.cancelled() => return,
                }
                continue 'work;
            };
            self.attempt(&client, &lane, job, now, false).await;
        }
    }

    /// What the circuit of `lane` lets a worker do now.
    fn gate(&self, lane: &Lane) -> Gate {
        let mut circuit = lane.circuit.locked();
        let Some(at) = circuit.probe_at else {
            return Gate::Go;
        };
        let now = Instant::now();
        if circuit.probing || now < at {
            return Gate::Wait(
                at.saturating_duration_since(now)
                    .max(Duration::from_millis(50)),
            );
        }
        circuit.probing = true;
        Gate::Probe
    }

    /// Counts an attempt's outcome in the circuit of `lane`: opens it after `failures` in
    /// a row, closes it on a success, and disables the endpoint once it has failed for
    /// `disable_after`. Only a failed `probe` doubles the wait for the next one: attempts
    /// that began before the circuit opened, ending in failure one after another, leave
    /// it as it is. While open: when the next probe is due.
    async fn after_attempt(&self, lane: &Lane, succeeded: bool, probe: bool) -> Option<Instant> {
        let now = Instant::now();
        let (open_until, disable) = {
            let mut c = lane.circuit.locked();
            if probe {
                c.probing = false;
            }
            if succeeded {
                if c.probe_at.is_some() {
                    tracing::info!(endpoint = %lane.key, "endpoint answered again; circuit closed");
                }
                *c = Circuit::default();
                return None;
            }
            c.consecutive += 1;
            let since = *c.failing_since.get_or_insert(now);
            if c.consecutive >= self.circuit.failures {
                match c.probe_at {
                    None => {
                        tracing::warn!(endpoint = %lane.key, failures = c.consecutive, "circuit opened");
                        c.probe_wait = self.circuit.first_probe;
                        c.probe_at = Some(now + c.probe_wait);
                    }
                    Some(_) if probe => {
                        c.probe_wait = (c.probe_wait * 2).min(self.circuit.max_probe);
                        c.probe_at = Some(now + c.probe_wait);
                    }
                    Some(_) => {}
                }
            }
            (c.probe_at, now - since >= self.circuit.disable_after)
        };
        if disable && !lane.disabled() {
            self.disable(lane).await;
        }
        open_until
    }

    /// Disables the endpoint of `lane`, failing for too long: a stored one in the store
    /// and here, one of the options here only (until the next start).
    async fn disable(&self, lane: &Lane) {
        let mut endpoint = match lane.defined_by {
            DefinedBy::Store => match self.store.endpoint(&lane.key).await {
                Ok(Some(endpoint)) => endpoint,
                _ => return,
            },
            DefinedBy::Options => lane.record().endpoint.clone(),
        };
        endpoint.disabled = true;
        endpoint.updated_at = Utc::now();
        match lane.defined_by {
            DefinedBy::Store => {
                let written = self
                    .store
                    .put_endpoint(&endpoint, super::store::Put::Replace)
                    .await;
                tracing::warn!(
                    endpoint = %lane.key,
                    failing_for_secs = self.circuit.disable_after.as_secs(),
                    stored = written.is_ok(),
                    "endpoint disabled after failing for too long"
                );
            }
            DefinedBy::Options => tracing::warn!(
                endpoint = %endpoint.id,
                url = %lane.key,
                failing_for_secs = self.circuit.disable_after.as_secs(),
                "endpoint of --forward-to/--route disabled after failing for too long; \
                 its deliveries wait for the next start"
            ),
        }
        super::metrics::endpoint_disabled();
        lane.replace(endpoint);
        *lane.circuit.locked() = Circuit::default();
    }

    /// One attempt of a delivery claimed `at`; `probe` when it is the open circuit's probe.
    async fn attempt(
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
    async fn with_content_type(&self, job: &DeliveryJob, mut extra: HeaderMap) -> HeaderMap {
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
    async fn with_original_headers(&self, job: &DeliveryJob, extra: HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        match self.store.get(EventKey::Id(&job.event)).await {
            Ok(Some(event)) => {
                for (name, value) in event.headers.iter() {
                    let (Ok(name), Ok(value)) = (
                        HeaderName::from_bytes(name.as_bytes()),
                        HeaderValue::from_bytes(value),
                    ) else {
                        continue;
                    };
                    if forwardable(&name) && value.as_bytes() != REDACTED.as_bytes() {
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
