//! The relay's deliveries in memory: one record per (event, target), a ready queue and a
//! retry timetable per target, and counts by state kept as they change.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
// Keyed by sequence numbers and target URLs, not by what clients choose freely; foldhash
// costs a fraction of SipHash on every create and claim (its seed is still random).
use foldhash::HashMap;

use crate::server::store::{
    AttemptRecord, Claim, DeliveryCounts, DeliveryFilter, DeliveryJob, DeliveryRecord,
    DeliveryStatus, NextState, webhook_id,
};

struct Delivery {
    /// The event's string id.
    event: Box<str>,
    event_id: Option<i64>,
    event_seq: u64,
    target: Arc<str>,
    status: DeliveryStatus,
    body: Arc<[u8]>,
    created_at: DateTime<Utc>,
    next_due: Option<DateTime<Utc>>,
    round: u32,
    attempts: Vec<AttemptRecord>,
}

#[derive(Default)]
struct TargetQueue {
    ready: VecDeque<u64>,
    retries: BTreeSet<(DateTime<Utc>, u64)>,
}

#[derive(Default)]
pub(super) struct Deliveries {
    all: BTreeMap<u64, Delivery>,
    by_event: HashMap<u64, Vec<u64>>,
    queues: HashMap<Arc<str>, TargetQueue>,
    counts: Counts,
    next_id: u64,
}

/// Deliveries in each state, indexed by `DeliveryStatus as usize`.
#[derive(Default)]
struct Counts([usize; DeliveryStatus::ALL.len()]);

impl Counts {
    fn get(&self, status: DeliveryStatus) -> usize {
        self.0[status as usize]
    }

    fn add(&mut self, status: DeliveryStatus) {
        self.0[status as usize] += 1;
    }

    fn remove(&mut self, status: DeliveryStatus) {
        let n = &mut self.0[status as usize];
        *n = n.saturating_sub(1);
    }
}

impl Deliveries {
    /// Deliveries still owed to their targets.
    pub fn open(&self) -> usize {
        DeliveryStatus::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| self.count(*s))
            .sum()
    }

    fn count(&self, status: DeliveryStatus) -> usize {
        self.counts.get(status)
    }

    fn set_status(counts: &mut Counts, d: &mut Delivery, to: DeliveryStatus) {
        counts.remove(d.status);
        counts.add(to);
        d.status = to;
    }

    pub fn create(
        &mut self,
        event: &str,
        event_id: Option<i64>,
        event_seq: u64,
        target: &Arc<str>,
        body: &Arc<[u8]>,
        now: DateTime<Utc>,
    ) {
        self.next_id += 1;
        let id = self.next_id;
        self.all.insert(
            id,
            Delivery {
                event: Box::from(event),
                event_id,
                event_seq,
                target: Arc::clone(target),
                status: DeliveryStatus::Pending,
                body: Arc::clone(body),
                created_at: now,
                next_due: None,
                round: 0,
                attempts: Vec::new(),
            },
        );
        self.counts.add(DeliveryStatus::Pending);
        self.by_event.entry(event_seq).or_default().push(id);
        self.queues
            .entry(Arc::clone(target))
            .or_default()
            .ready
            .push_back(id);
    }

    /// The event left the store: its finished (delivered or dead) deliveries go with it,
    /// so memory stays bounded by `--max-events` and `--max-pending`. Deliveries still owed
    /// stay (they hold the body) until they finish.
    pub fn forget_event(&mut self, event_seq: u64) {
        // Without a relay there is nothing to look up (and nothing to hash) per eviction.
        if self.by_event.is_empty() {
            return;
        }
        let Some(ids) = self.by_event.remove(&event_seq) else {
            return;
        };
        for id in ids {
            if self.all.get(&id).is_some_and(|d| !d.status.is_open()) {
                self.drop_delivery(id);
            }
        }
    }

    fn drop_delivery(&mut self, id: u64) {
        if let Some(d) = self.all.remove(&id) {
            self.counts.remove(d.status);
        }
    }

    pub fn claim(&mut self, target: &str, now: DateTime<Utc>) -> Claim {
        let Some(queue) = self.queues.get_mut(target) else {
            return Claim::Idle { next_due: None };
        };
        let due_retry = queue
            .retries
            .first()
            .filter(|(due, _)| *due <= now)
            .copied();
        let id = match due_retry {
            Some(entry) => {
                queue.retries.remove(&entry);
                entry.1
            }
            None => match queue.ready.pop_front() {
                Some(id) => id,
                None => {
                    return Claim::Idle {
                        next_due: queue.retries.first().map(|(due, _)| *due),
                    };
                }
            },
        };
        let Some(d) = self.all.get_mut(&id) else {
            return Claim::Idle { next_due: None };
        };
        Self::set_status(&mut self.counts, d, DeliveryStatus::InFlight);
        d.next_due = None;
        Claim::Job(DeliveryJob {
            id,
            event: d.event.to_string(),
            event_id: d.event_id,
            target: Arc::clone(&d.target),
            webhook_id: webhook_id(&d.event),
            body: Arc::clone(&d.body),
            round: d.round,
            attempts: d.attempts.len() as u32,
        })
    }

    /// `event_kept(seq)` tells whether the event is still stored.
    pub fn record(
        &mut self,
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
        event_kept: impl Fn(u64) -> bool,
    ) {
        let Some(d) = self.all.get_mut(&id) else {
            return;
        };
        d.attempts.push(attempt);
        d.round += 1;
        match next {
            NextState::Delivered => {
                Self::set_status(&mut self.counts, d, DeliveryStatus::Delivered);
            }
            NextState::RetryAt(due) => {
                Self::set_status(&mut self.counts, d, DeliveryStatus::Failed);
                d.next_due = Some(due);
                self.queues
                    .entry(Arc::clone(&d.target))
                    .or_default()
                    .retries
                    .insert((due, id));
            }
            NextState::Dead => Self::set_status(&mut self.counts, d, DeliveryStatus::Dead),
        }
        // Finished after its event was evicted: nothing is left to show it with.
        if !d.status.is_open() && !event_kept(d.event_seq) {
            self.drop_delivery(id);
        }
    }

    fn matches(filter: &DeliveryFilter, d: &Delivery) -> bool {
        filter.status.is_none_or(|s| s == d.status)
            && filter
                .targets
                .as_ref()
                .is_none_or(|ts| ts.iter().any(|t| *d.target == **t))
            && match (&filter.event, filter.event_id) {
                (None, None) => true,
                (event, event_id) => {
                    event.as_deref().is_some_and(|e| *d.event == *e)
                        || event_id.is_some_and(|n| d.event_id == Some(n))
                }
            }
    }

    pub fn list(&self, filter: &DeliveryFilter) -> Vec<DeliveryRecord> {
        let start = filter.after.map_or(0, |a| a.saturating_add(1));
        self.all
            .range(start..)
            .filter(|(_, d)| Self::matches(filter, d))
            .take(filter.limit)
            .map(|(&id, d)| DeliveryRecord {
                id,
                event: d.event.to_string(),
                event_id: d.event_id,
                target: d.target.to_string(),
                status: d.status,
                webhook_id: webhook_id(&d.event),
                created_at: d.created_at,
                next_attempt_at: d.next_due,
                attempts: d.attempts.clone(),
            })
            .collect()
    }

    /// `exists(target)` tells whether a delivery's target is still there to be attempted.
    pub fn replay(
        &mut self,
        filter: &DeliveryFilter,
        exists: impl Fn(&str) -> bool,
    ) -> Vec<Arc<str>> {
        let mut targets = Vec::new();
        for (&id, d) in self.all.iter_mut() {
            let replayable = matches!(
                d.status,
                DeliveryStatus::Failed | DeliveryStatus::Delivered | DeliveryStatus::Dead
            );
            if !replayable || !Self::matches(filter, d) || !exists(&d.target) {
                continue;
            }
            let queue = self.queues.entry(Arc::clone(&d.target)).or_default();
            if let Some(due) = d.next_due.take() {
                queue.retries.remove(&(due, id));
            }
            queue.ready.push_back(id);
            d.round = 0;
            Self::set_status(&mut self.counts, d, DeliveryStatus::Pending);
            targets.push(Arc::clone(&d.target));
        }
        targets
    }

    /// Gives up on every delivery to `target` that waits (pending or awaiting a retry):
    /// they become dead. How many.
    pub fn drop_target(&mut self, target: &str) -> usize {
        let Some(queue) = self.queues.remove(target) else {
            return 0;
        };
        let waiting = queue
            .ready
            .into_iter()
            .chain(queue.retries.into_iter().map(|(_, id)| id));
        let mut dropped = 0;
        for id in waiting {
            if let Some(d) = self.all.get_mut(&id)
                && matches!(d.status, DeliveryStatus::Pending | DeliveryStatus::Failed)
            {
                d.next_due = None;
                Self::set_status(&mut self.counts, d, DeliveryStatus::Dead);
                dropped += 1;
            }
        }
        dropped
    }

    /// The targets with deliveries queued for which `exists` says no.
    pub fn queued_targets_without(&self, exists: impl Fn(&str) -> bool) -> Vec<Arc<str>> {
        self.queues.keys().filter(|t| !exists(t)).cloned().collect()
    }

    pub fn counts(&self) -> DeliveryCounts {
        DeliveryCounts {
            by_status: DeliveryStatus::ALL
                .iter()
                .map(|&s| (s, self.count(s)))
                .collect(),
            open: self.open(),
        }
    }
}
