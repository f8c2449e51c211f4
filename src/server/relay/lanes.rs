//! An endpoint's lane: what its workers read of it (its record: the endpoint, its signer and
//! headers), its rate limiter and its circuit breaker; and the lanes of every endpoint by
//! key, with the event types each one takes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::alert;

use crate::server::endpoints::{DefinedBy, Endpoint};

use super::Target;

/// An endpoint's circuit: closed while attempts succeed; open after
/// [`CircuitConfig::failures`](super::CircuitConfig::failures) failures in a row, when only one probe is made at a time,
/// at a growing interval, until one succeeds.
#[derive(Debug, Default)]
pub(super) struct Circuit {
    pub(super) consecutive: u32,
    pub(super) failing_since: Option<Instant>,
    /// While open: when the next probe may start.
    pub(super) probe_at: Option<Instant>,
    pub(super) probe_wait: Duration,
    pub(super) probing: bool,
}

/// What a worker may do now, by the circuit.
pub(super) enum Gate {
    /// Closed: attempt.
    Go,
    /// Open, and this worker makes the probe.
    Probe,
    /// Open: wait this long before asking again.
    Wait(Duration),
}

/// One endpoint's deliveries and the workers that make them.
pub(super) struct Lane {
    pub(super) url: url::Url,
    pub(super) endpoint: alert::Endpoint,
    /// What its deliveries are kept under: a stored endpoint's id, an options endpoint's
    /// URL.
    pub(super) key: Arc<str>,
    pub(super) defined_by: DefinedBy,
    pub(super) wake: Notify,
    /// Its record: a stored endpoint's as last read, an options endpoint's as made at start.
    pub(super) record: std::sync::RwLock<Record>,
    /// Ends this lane's workers (its endpoint was deleted or moved to another URL).
    pub(super) stop: CancellationToken,
    pub(super) circuit: std::sync::Mutex<Circuit>,
}

/// What a lane needs of its endpoint's record, read once per change.
pub(super) struct Record {
    pub(super) endpoint: Endpoint,
    /// `filter_types`, compiled; empty takes every type.
    pub(super) filters: Vec<glob::Pattern>,
    pub(super) headers: HeaderMap,
    /// `rate_limit`'s token bucket, one request at a time (no burst).
    pub(super) limiter: Option<Arc<governor::DefaultDirectRateLimiter>>,
}

impl Record {
    /// The record `endpoint`, keeping the bucket of `previous` when the rate is the same.
    pub(super) fn new(endpoint: Endpoint, previous: Option<&Record>) -> Self {
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
pub(super) fn limiter(per_second: u64) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
    let rate = std::num::NonZeroU32::new(u32::try_from(per_second).unwrap_or(u32::MAX))?;
    let quota = governor::Quota::per_second(rate).allow_burst(std::num::NonZeroU32::MIN);
    Some(Arc::new(governor::RateLimiter::direct(quota)))
}

impl Lane {
    /// The lane of an endpoint of the options, keyed by its URL.
    pub(super) fn of_options(
        target: Target,
        endpoint: Endpoint,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let key = target.key();
        Self::new(target.url, key, DefinedBy::Options, endpoint, stop)
    }

    /// The lane of a stored endpoint, keyed by its id.
    pub(super) fn of_store(
        url: url::Url,
        endpoint: Endpoint,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let key = Arc::from(endpoint.id.as_str());
        Self::new(url, key, DefinedBy::Store, endpoint, stop)
    }

    pub(super) fn new(
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

    pub(super) fn record(&self) -> std::sync::RwLockReadGuard<'_, Record> {
        self.record.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn stored(&self) -> bool {
        self.defined_by == DefinedBy::Store
    }

    pub(super) fn takes(&self, event_type: &str) -> bool {
        let record = self.record();
        record.filters.is_empty() || record.filters.iter().any(|p| p.matches(event_type))
    }

    pub(super) fn limiter(&self) -> Option<Arc<governor::DefaultDirectRateLimiter>> {
        self.record().limiter.clone()
    }

    pub(super) fn disabled(&self) -> bool {
        self.record().endpoint.disabled
    }

    /// Replaces the record, keeping the rate limiter's bucket when the rate is the same.
    pub(super) fn replace(&self, endpoint: Endpoint) {
        let mut record = self.record.write().unwrap_or_else(|p| p.into_inner());
        *record = Record::new(endpoint, Some(&record));
    }
}

/// The lanes of the moment: those of the options' endpoints, then one per stored endpoint.
/// Replaced whole when the endpoints change.
#[derive(Default)]
pub(super) struct Lanes {
    pub(super) list: Vec<Arc<Lane>>,
    pub(super) by_key: HashMap<Arc<str>, Arc<Lane>>,
    /// The targets of each event type seen, worked out once per type: every filter (exact
    /// or glob) is checked on a type's first event only, so that choosing an event's
    /// endpoints costs one lookup however many endpoints do not want it.
    pub(super) by_type: std::sync::RwLock<TypeTargets>,
}

/// The targets of each event type, by type.
type TypeTargets = HashMap<Box<str>, Arc<[Arc<str>]>>;

/// Event types whose targets are remembered; senders choose types, so the memory is
/// bounded: beyond this many, a new type's targets are worked out on each of its events.
pub(super) const TYPES_REMEMBERED: usize = 10_000;

impl Lanes {
    pub(super) fn new(list: Vec<Arc<Lane>>) -> Self {
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

    pub(super) fn targets_for(&self, event_type: &str) -> Vec<Arc<str>> {
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
