//! A lane's workers: claim a due delivery, pass the endpoint's gate (disabled, rate limit,
//! circuit), attempt it, and move the circuit on from the result.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::alert;

use crate::server::endpoints::DefinedBy;
use crate::server::store::Claim;
use crate::sync::LockExt;

use super::Relay;
use super::lanes::{Circuit, Gate, Lane};

impl Relay {
    pub(super) async fn work(self: Arc<Self>, lane: Arc<Lane>, client: alert::Client) {
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
    pub(super) fn gate(&self, lane: &Lane) -> Gate {
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
    pub(super) async fn after_attempt(
        &self,
        lane: &Lane,
        succeeded: bool,
        probe: bool,
    ) -> Option<Instant> {
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
    pub(super) async fn disable(&self, lane: &Lane) {
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
                    .put_endpoint(&endpoint, crate::server::store::Put::Replace)
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
        crate::server::metrics::endpoint_disabled();
        lane.replace(endpoint);
        *lane.circuit.locked() = Circuit::default();
    }
}
