//! The receiver: the HTTP API over an event store. [`routes`] says where each request
//! goes; `conn` accepts connections and keeps their timeouts. The caller binds the
//! listener and hands it to [`serve`], so tests can use port 0.

pub mod admin;
mod conn;
pub mod endpoints;
pub mod error;
pub mod handlers;
pub mod headers;
pub mod limits;
#[cfg(test)]
mod log_lines;
pub mod memory;
pub mod metrics;
pub mod mounts;
pub mod openapi;
pub mod postgres;
mod quiet;
pub mod relay;
pub mod relay_api;
pub mod request_id;
pub mod routes;
pub mod sqlite;
pub mod store;
#[cfg(test)]
mod store_tests;
pub mod stream;
pub mod threads;
pub mod tls;
pub mod ui;
pub mod verify;
mod wake;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tower::Service;

use limits::Limits;
use relay::Relay;
use routes::{App, Side};
use store::EventStore;

/// Settings of the receiver that handlers read.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_body_bytes: usize,
    /// Signatures `POST /webhook` must carry; `None` accepts unsigned requests.
    pub verify: Option<verify::Verification>,
    pub limits: Limits,
    /// The tokens the admin endpoints require (`--admin-token`); none by default.
    pub admin: admin::AdminAuth,
    /// The sources of `POST /webhook` and `POST /webhook/{name}` (`--source`).
    pub mounts: mounts::Mounts,
    /// Keep the values of `Authorization`, `Cookie` and `Proxy-Authorization` with the
    /// event instead of redacting them (`--keep-secret-headers`).
    pub keep_secret_headers: bool,
    /// The stored endpoints whose secret `serve --config FILE` sets, which the API does
    /// not rotate.
    pub file_secrets: endpoints::FileSecrets,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            verify: None,
            limits: Limits::default(),
            admin: admin::AdminAuth::default(),
            mounts: mounts::Mounts::default(),
            keep_secret_headers: false,
            file_secrets: endpoints::FileSecrets::default(),
        }
    }
}

/// What every handler reads: one `Arc`, cloned per connection, never wrapped again.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
pub struct Shared {
    pub store: Arc<dyn EventStore>,
    pub config: Config,
    /// Present when `--forward-to` or `--route` gave targets.
    pub relay: Option<Arc<Relay>>,
    pub metrics: PrometheusHandle,
    /// Verified `webhook-id`s already answered: the idempotency key when present.
    pub seen_ids: verify::SeenIds,
    /// The live feed of `GET /events/stream`.
    pub stream: Arc<stream::Hub>,
    /// The store's counts as `/metrics` and `/healthz` last read them.
    pub gauges: handlers::status::Gauges,
    /// [`EventStore::inserts_apart`], asked once.
    pub inserts_apart: bool,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Arc<dyn EventStore>, config: Config) -> Self {
        let hub = stream::Hub::new(Arc::clone(&store), config.limits.max_streams);
        let inserts_apart = store.inserts_apart();
        Self(Arc::new(Shared {
            store,
            config,
            relay: None,
            metrics: metrics::install(),
            seen_ids: verify::SeenIds::default(),
            stream: hub,
            gauges: handlers::status::Gauges::default(),
            inserts_apart,
        }))
    }

    /// Adds the relay that accepted events are queued for.
    ///
    /// # Panics
    /// When the state was cloned before: the relay is part of building it.
    pub fn with_relay(mut self, relay: Arc<Relay>) -> Self {
        relay.report_to(Arc::clone(&self.stream));
        Arc::get_mut(&mut self.0)
            .expect("with_relay is called before the state is shared")
            .relay = Some(relay);
        self
    }
}

/// Serves every endpoint until `shutdown` completes, then stops accepting and finishes
/// in-flight requests. Connections that stall are closed under the limits of `state`.
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
    let hub = Arc::clone(&state.stream);
    let shutdown = async move {
        shutdown.await;
        hub.close();
    };
    serve_app(
        listener,
        tls,
        routes::app(state, Side::Both),
        &limits,
        shutdown,
    )
    .await
}

/// Serves `app` (see [`routes`]) until `shutdown` completes, with the connection timeouts
/// of `limits`, over TLS when `tls` is given.
pub async fn serve_app<S>(
    listener: TcpListener,
    tls: Option<tls::Tls>,
    app: App<S>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    App<S>: Clone + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    conn::accept_loop(listener, tls, app, limits, shutdown).await
}
