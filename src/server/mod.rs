//! The receiver: the HTTP API over an event store. The caller binds the listener and hands
//! it to [`serve`], so tests can use port 0.

mod conn;
pub mod error;
pub mod handlers;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod relay;
pub mod relay_api;
pub mod request_id;
pub mod sqlite;
pub mod store;
#[cfg(test)]
mod store_tests;
pub mod threads;
pub mod tls;
pub mod verify;
mod wake;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;

use limits::{Admission, Limits};
use relay::Relay;
use store::EventStore;

/// Settings of the receiver that handlers read.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_body_bytes: usize,
    /// Signatures `POST /webhook` must carry; `None` accepts unsigned requests.
    pub verify: Option<verify::Verification>,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            verify: None,
            limits: Limits::default(),
        }
    }
}

/// Shared by every handler: one reference count per request, however many parts it has.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<dyn EventStore>,
    pub config: Arc<Config>,
    /// Present when `--forward-to` or `--route` gave targets.
    pub relay: Option<Arc<Relay>>,
    pub metrics: PrometheusHandle,
    /// `webhook-id`s already answered: the idempotency key when present.
    pub seen_ids: Arc<verify::SeenIds>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, config: Config) -> Self {
        Self(Arc::new(Shared {
            store,
            config: Arc::new(config),
            relay: None,
            metrics: metrics::install(),
            seen_ids: Arc::default(),
        }))
    }

    pub fn with_relay(self, relay: Arc<Relay>) -> Self {
        let shared = Arc::unwrap_or_clone(self.0);
        Self(Arc::new(Shared {
            relay: Some(relay),
            ..shared
        }))
    }
}

/// Every route of the API. [`serve`] puts [`request_id::front`] (request ids and
/// admission control) in front of it.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(handlers::WEBHOOK, post(handlers::events_create))
        .route("/events", get(handlers::events_index))
        .route("/events/{event_id}", get(handlers::events_show))
        .route("/events/{event_id}/body", get(handlers::events_body))
        .route(
            "/events/{event_id}/deliveries",
            get(relay_api::event_deliveries),
        )
        .route("/events/{event_id}/replay", post(relay_api::event_replay))
        .route("/deliveries", get(relay_api::deliveries_index))
        .route("/deliveries/replay", post(relay_api::deliveries_replay))
        .route("/metrics", get(handlers::metrics))
        .route("/healthz", get(handlers::health))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}

/// Serves until `shutdown` completes, then stops accepting and finishes in-flight requests.
/// Connections that stall are closed under the header and idle timeouts of `state`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_tls(listener, None, state, shutdown).await
}

/// [`serve`], with every connection over TLS when `tls` is given.
pub async fn serve_tls(
    listener: TcpListener,
    tls: Option<tls::Tls>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.config.limits.clone();
    let admission = Admission::new(limits.max_inflight);
    let app = router(state.clone());
    conn::accept_loop(listener, tls, app, state, admission, limits, shutdown).await
}
