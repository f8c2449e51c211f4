//! Prometheus metrics: counters fed where things happen, gauges read from the store when
//! `/metrics` is scraped.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::alert::Verdict;

use super::store::{DeliveryCounts, NextState, StoreStats};

const EVENTS_RECEIVED: &str = "hookrelay_events_received_total";
const SIGNATURE_FAILURES: &str = "hookrelay_signature_failures_total";
const DELIVERY_ATTEMPTS: &str = "hookrelay_delivery_attempts_total";
const DELIVERIES_FINISHED: &str = "hookrelay_deliveries_total";
const ATTEMPT_DURATION: &str = "hookrelay_delivery_attempt_duration_seconds";
const STORE_EVENTS: &str = "hookrelay_store_events";
const STORE_CAPACITY: &str = "hookrelay_store_capacity";
const STORE_EVICTIONS: &str = "hookrelay_store_evictions_total";
const QUEUE_DEPTH: &str = "hookrelay_delivery_queue_depth";
/// A gauge: named apart from the counter `hookrelay_deliveries_total`, which Prometheus
/// client libraries would otherwise read as the same family.
const DELIVERIES_IN_STATE: &str = "hookrelay_deliveries_in_state";
/// Counted by `limits.rs`.
pub const REQUESTS_REJECTED: &str = "hookrelay_requests_rejected_total";

/// Counted by `admin.rs`.
const ADMIN_REFUSED: &str = "hookrelay_admin_refused_total";
const DELIVERIES_DROPPED: &str = "hookrelay_deliveries_dropped_total";
const ENDPOINTS_DISABLED: &str = "hookrelay_endpoints_auto_disabled_total";
const ENDPOINTS_CIRCUIT_OPEN: &str = "hookrelay_endpoints_circuit_open";
const ENDPOINTS_DISABLED_NOW: &str = "hookrelay_endpoints_disabled";
const STREAMS_OPEN: &str = "hookrelay_streams_open";
const STREAMS_CUT: &str = "hookrelay_streams_cut_total";
const STREAM_UPDATES_DROPPED: &str = "hookrelay_stream_updates_dropped_total";

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Installs the process-wide recorder once and returns its handle.
pub fn install() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(ATTEMPT_DURATION.into()), &buckets)
                .expect("bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist when the library is embedded; ours then stays unused.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            zero_series();
            ATTEMPT_SERIES.get_or_init(AttemptSeries::register);
            // Histogram samples pile up until upkeep drains them; without it memory grows
            // with every delivery attempt between two scrapes (found by scripts/soak.sh).
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// The series of the refusals, cut-offs and drops at zero from the start, as the attempt
/// and event series are: a rule over `rate()` or `absent()` of a family that first shows
/// up at its first event sees nothing until then.
fn zero_series() {
    for reason in [
        "missing_header",
        "bad_timestamp",
        "timestamp_too_old",
        "timestamp_too_new",
        "no_matching_signature",
    ] {
        metrics::counter!(SIGNATURE_FAILURES, "reason" => reason).increment(0);
    }
    for reason in ["missing_token", "not_bearer", "wrong_token"] {
        metrics::counter!(ADMIN_REFUSED, "reason" => reason).increment(0);
    }
    metrics::counter!(REQUESTS_REJECTED, "reason" => "overload").increment(0);
    for counter in [
        DELIVERIES_DROPPED,
        ENDPOINTS_DISABLED,
        STREAMS_CUT,
        STREAM_UPDATES_DROPPED,
    ] {
        metrics::counter!(counter).increment(0);
    }
    metrics::gauge!(STREAMS_OPEN).set(0.0);
}

/// The HELP text of every family, so that `promtool check metrics` finds none without.
fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(EVENTS_RECEIVED, "POST /webhook answers, by result");
    describe_counter!(
        ENDPOINTS_DISABLED,
        "Endpoints disabled by the relay after failing for --circuit-disable-after"
    );
    describe_gauge!(
        ENDPOINTS_CIRCUIT_OPEN,
        "Endpoints whose circuit is open now (deliveries wait, one probe at a time)"
    );
    describe_gauge!(
        ENDPOINTS_DISABLED_NOW,
        "Endpoints disabled now, by the API, the config file or the relay"
    );
    describe_counter!(
        DELIVERIES_DROPPED,
        "Undelivered deliveries given up on because their endpoint was deleted or their URL is no longer a target"
    );
    describe_counter!(
        SIGNATURE_FAILURES,
        "Requests refused by --verify, by reason"
    );
    describe_counter!(
        REQUESTS_REJECTED,
        "Requests refused at once, by reason (overload: over --max-inflight)"
    );
    describe_counter!(
        ADMIN_REFUSED,
        "Admin requests refused for want of a valid --admin-token, by reason"
    );
    describe_gauge!(STORE_EVENTS, "Events kept in the store");
    describe_gauge!(
        STORE_CAPACITY,
        "Events the store keeps at most (--max-events)"
    );
    describe_counter!(STORE_EVICTIONS, "Events evicted by --max-events");
    describe_counter!(DELIVERY_ATTEMPTS, "Delivery attempts finished, by result");
    describe_counter!(
        DELIVERIES_FINISHED,
        "Deliveries finished for good, by outcome (delivered, dead)"
    );
    describe_histogram!(
        ATTEMPT_DURATION,
        Unit::Seconds,
        "Duration of delivery attempts"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Open deliveries: pending, in flight or awaiting a retry"
    );
    describe_gauge!(DELIVERIES_IN_STATE, "Deliveries in each state now");
    describe_gauge!(STREAMS_OPEN, "Event streams (GET /events/stream) open now");
    describe_counter!(
        STREAMS_CUT,
        "Event streams cut off because the client did not keep up"
    );
    describe_counter!(
        STREAM_UPDATES_DROPPED,
        "Delivery updates not streamed because the streams' queue was full"
    );
}

/// One `POST /webhook` answered, by result: `accepted`, `duplicate`, `validation_failed`, …
pub fn event_received(result: &'static str) {
    // The two results of nearly every request keep their handles: looking a counter up
    // by name and label costs more than the rest of the bookkeeping of a request.
    static COMMON: OnceLock<[Counter; 2]> = OnceLock::new();
    let [accepted, duplicate] = COMMON.get_or_init(|| {
        [
            metrics::counter!(EVENTS_RECEIVED, "result" => "accepted"),
            metrics::counter!(EVENTS_RECEIVED, "result" => "duplicate"),
        ]
    });
    match result {
        "accepted" => accepted.increment(1),
        "duplicate" => duplicate.increment(1),
        other => metrics::counter!(EVENTS_RECEIVED, "result" => other).increment(1),
    }
}

/// A request refused by `--verify`, by reason (`no_matching_signature`, …).
pub fn signature_refused(reason: &'static str) {
    metrics::counter!(SIGNATURE_FAILURES, "reason" => reason).increment(1);
}

/// An admin request refused by the token guard, by reason (`missing_token`, …).
pub fn admin_refused(reason: &'static str) {
    metrics::counter!(ADMIN_REFUSED, "reason" => reason).increment(1);
}

/// The number of event streams open now.
pub fn streams_open(open: usize) {
    metrics::gauge!(STREAMS_OPEN).set(open as f64);
}

/// An event stream cut off: its client did not keep up.
pub fn stream_cut() {
    metrics::counter!(STREAMS_CUT).increment(1);
}

/// A delivery update not streamed: the hub's queue of updates was full.
pub fn stream_update_dropped() {
    metrics::counter!(STREAM_UPDATES_DROPPED).increment(1);
}

/// Handles of the per-attempt series, looked up once: a `counter!` with labels searches the
/// registry on every call.
struct AttemptSeries {
    /// By verdict: success, retryable_failure, refused, gone.
    attempts: [Counter; 4],
    delivered: Counter,
    dead: Counter,
    duration: Histogram,
}

static ATTEMPT_SERIES: OnceLock<AttemptSeries> = OnceLock::new();

impl AttemptSeries {
    fn register() -> Self {
        let attempts = ["success", "retryable_failure", "refused", "gone"]
            .map(|result| metrics::counter!(DELIVERY_ATTEMPTS, "result" => result));
        Self {
            attempts,
            delivered: metrics::counter!(DELIVERIES_FINISHED, "outcome" => "delivered"),
            dead: metrics::counter!(DELIVERIES_FINISHED, "outcome" => "dead"),
            duration: metrics::histogram!(ATTEMPT_DURATION),
        }
    }
}

/// One delivery attempt finished.
pub fn attempt_finished(verdict: Verdict, next: NextState, elapsed: Duration) {
    // Registered by `install`, right after the recorder; here only if it never ran.
    let series = ATTEMPT_SERIES.get_or_init(AttemptSeries::register);
    let result = match verdict {
        Verdict::Delivered => 0,
        Verdict::Retry => 1,
        Verdict::Fail => 2,
        Verdict::Gone => 3,
    };
    series.attempts[result].increment(1);
    series.duration.record(elapsed.as_secs_f64());
    match next {
        NextState::Delivered => series.delivered.increment(1),
        NextState::Dead => series.dead.increment(1),
        NextState::RetryAt(_) => {}
    }
}

/// The text of `/metrics`, with store gauges read now.
pub fn render(handle: &PrometheusHandle, stats: StoreStats, deliveries: &DeliveryCounts) -> String {
    metrics::gauge!(STORE_EVENTS).set(stats.events as f64);
    metrics::gauge!(STORE_CAPACITY).set(stats.capacity as f64);
    metrics::counter!(STORE_EVICTIONS).absolute(stats.evicted_here.unwrap_or(stats.evicted));
    metrics::gauge!(QUEUE_DEPTH).set(deliveries.open as f64);
    for (status, n) in &deliveries.by_status {
        metrics::gauge!(DELIVERIES_IN_STATE, "status" => status.as_str()).set(*n as f64);
    }
    handle.render()
}

/// The families [`render`] reads from the store.
const FROM_THE_STORE: [&str; 5] = [
    STORE_EVENTS,
    STORE_CAPACITY,
    STORE_EVICTIONS,
    QUEUE_DEPTH,
    DELIVERIES_IN_STATE,
];

/// The text of `/metrics` when the store cannot be read: this process's own counters,
/// without the families read from the store, whose values would be those of a while ago.
/// Left out, they are stale to Prometheus at once (and `absent()` says so), rather than
/// showing an old count as the current one.
pub fn render_without_store(handle: &PrometheusHandle) -> String {
    let text = handle.render();
    let mut kept = String::with_capacity(text.len());
    // Families are separated by an empty line, which goes with the family left out.
    let mut dropping = false;
    for line in text.split_inclusive('\n') {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line)
            .split(['{', ' ', '\n'])
            .next()
            .unwrap_or_default();
        if name.is_empty() {
            if !dropping {
                kept.push_str(line);
            }
            continue;
        }
        dropping = FROM_THE_STORE.contains(&name);
        if !dropping {
            kept.push_str(line);
        }
    }
    kept
}

/// The endpoints whose circuit is open and those disabled, now.
pub fn endpoints_now(circuit_open: usize, disabled: usize) {
    metrics::gauge!(ENDPOINTS_CIRCUIT_OPEN).set(circuit_open as f64);
    metrics::gauge!(ENDPOINTS_DISABLED_NOW).set(disabled as f64);
}

/// `n` undelivered deliveries were given up on with their deleted endpoint.
pub fn deliveries_dropped(n: usize) {
    metrics::counter!(DELIVERIES_DROPPED).increment(n as u64);
}

/// The relay disabled an endpoint that failed for too long.
pub fn endpoint_disabled() {
    metrics::counter!(ENDPOINTS_DISABLED).increment(1);
}
