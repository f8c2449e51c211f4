//! `GET /healthz` and `GET /metrics`: the server's own state.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::quiet::Quieted;
use crate::server::store::{DeliveryCounts, EventStore, StoreError, StoreStats};
use crate::sync::LockExt;

/// The longest a scrape of `/metrics` waits for the store's counts.
const STORE_WAIT: Duration = Duration::from_secs(2);

/// `GET /metrics`: Prometheus text format. Always this process's own counters (among them
/// the refusals that show a store outage); the gauges read from the store only when it
/// answers within `STORE_WAIT` (2 s).
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(relay) = &state.relay {
        let (open, disabled) = relay.endpoint_health();
        crate::server::metrics::endpoints_now(open, disabled);
    }
    let read = tokio::time::timeout(STORE_WAIT, state.gauges.read(&*state.store, true)).await;
    let text = match read {
        Ok(Ok((stats, deliveries))) => {
            let deliveries = deliveries.unwrap_or_default();
            crate::server::metrics::render(&state.metrics, stats, &deliveries)
        }
        failed => {
            static WARNING: Quieted = Quieted::every(Duration::from_secs(60));
            if let Some(also) = WARNING.due() {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {}s", STORE_WAIT.as_secs()),
                };
                tracing::warn!(error = %why, also_since = also, "/metrics without the store's gauges");
            }
            crate::server::metrics::render_without_store(&state.metrics)
        }
    };
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// `GET /healthz`.
pub async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (stats, _) = state.gauges.read(&*state.store, false).await?;
    Ok(
        Json(json!({"status": "ok", "events": stats.events, "evicted": stats.evicted}))
            .into_response(),
    )
}

/// The store's counts as last read, reused for [`EventStore::gauges_max_age`].
#[derive(Default)]
pub struct Gauges(Mutex<Option<Read>>);

struct Read {
    at: Instant,
    stats: StoreStats,
    deliveries: Option<DeliveryCounts>,
}

impl Gauges {
    /// The store's stats, and its delivery counts when `deliveries`: read now, or as read
    /// less than the store's `gauges_max_age` ago.
    pub async fn read(
        &self,
        store: &dyn EventStore,
        deliveries: bool,
    ) -> Result<(StoreStats, Option<DeliveryCounts>), StoreError> {
        let max_age = store.gauges_max_age();
        if !max_age.is_zero()
            && let Some(last) = self.0.locked().as_ref()
            && last.at.elapsed() < max_age
            && (last.deliveries.is_some() || !deliveries)
        {
            return Ok((last.stats, last.deliveries.clone()));
        }
        let stats = store.stats().await?;
        let counts = match deliveries {
            true => Some(store.delivery_counts().await?),
            false => None,
        };
        if !max_age.is_zero() {
            *self.0.locked() = Some(Read {
                at: Instant::now(),
                stats,
                deliveries: counts.clone(),
            });
        }
        Ok((stats, counts))
    }
}
