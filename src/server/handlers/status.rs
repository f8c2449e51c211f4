//! `GET /healthz` and `GET /metrics`: the server's own state.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::server::AppState;
use crate::server::error::ApiError;

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.store.stats().await?;
    let deliveries = state.store.delivery_counts().await?;
    let text = crate::server::metrics::render(&state.metrics, stats, &deliveries);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// `GET /healthz`.
pub async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.store.stats().await?;
    Ok(
        Json(json!({"status": "ok", "events": stats.events, "evicted": stats.evicted}))
            .into_response(),
    )
}
