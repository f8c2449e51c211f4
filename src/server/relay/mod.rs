//! The relay: background workers that deliver every accepted event to its endpoints
//! through `alert`'s attempt and retry policy, recording each attempt in the store. The
//! endpoints are those of the options (`--forward-to`, `--route`) and those kept in the
//! store, each with its filter, rate limit and circuit breaker. Workers per endpoint are
//! bounded (`--forward-concurrency`), so a slow endpoint cannot stall the others.
//!
//! `lanes.rs` holds each endpoint's lane (its record, limiter and circuit), `worker.rs` the
//! loop of a lane's workers and the circuit's decisions, `attempt.rs` one attempt and the
//! headers it carries.

mod attempt;
mod lanes;
mod worker;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Utc;
use http::header::HeaderMap;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alert::signing::Signer;
use crate::alert::{self, RetryPolicy};

use super::endpoints::options::{self, OptionsEndpoint};
use super::store::{EventStore, owed_to_stored_endpoint};
use super::stream::Hub;
use super::wake::WakesInline;
use crate::sync::LockExt;

use lanes::{Lane, Lanes};

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

    /// The circuit of the endpoint whose deliveries are kept under `key` (a stored
    /// endpoint's id, an options endpoint's URL), as this instance holds it: whether it is
    /// open, the failed attempts in a row, and in how long the next probe may start (while
    /// open). `None` when this instance delivers nothing to it.
    pub fn circuit(&self, key: &str) -> Option<(bool, u32, Option<std::time::Duration>)> {
        let lanes = self.lanes();
        let lane = lanes.by_key.get(key)?;
        let circuit = lane.circuit.locked();
        let next_probe = circuit
            .probe_at
            .map(|at| at.saturating_duration_since(std::time::Instant::now()));
        Some((circuit.probe_at.is_some(), circuit.consecutive, next_probe))
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
}
