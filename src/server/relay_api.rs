//! HTTP handlers of the relay: listing deliveries with their attempts, and replaying them.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use super::handlers::{DEFAULT_LIMIT, MAX_LIMIT, one_page, page_limit, parse_id};
use super::store::{DeliveryFilter, DeliveryStatus};
use super::stream::DeliveryUpdate;

#[derive(Deserialize)]
pub struct DeliveryParams {
    status: Option<DeliveryStatus>,
    target: Option<String>,
    event_id: Option<i64>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

/// The filter `params` ask for; `limit` defaults to `default_limit`, which may also be
/// larger than [`MAX_LIMIT`] (a replay takes every match).
fn filter(params: DeliveryParams, default_limit: usize) -> Result<DeliveryFilter, ApiError> {
    let limit = page_limit(params.limit, default_limit, MAX_LIMIT.max(default_limit))?;
    Ok(DeliveryFilter {
        status: params.status,
        target: params.target,
        event_id: params.event_id,
        after: params.cursor,
        limit,
    })
}

/// `GET /deliveries`: deliveries with their attempts, filtered by `status`, `target`,
/// `event_id`, paged by `cursor`.
pub async fn deliveries_index(
    State(state): State<AppState>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut filter = filter(params?.0, DEFAULT_LIMIT)?;
    let limit = filter.limit;
    filter.limit += 1;
    let mut deliveries = state.store.deliveries(&filter).await?;
    let next_cursor = one_page(&mut deliveries, limit, |d| d.id);
    Ok(Json(json!({"deliveries": deliveries, "next_cursor": next_cursor})).into_response())
}

/// `GET /events/{event_id}/deliveries`: every delivery of one event, every attempt.
pub async fn event_deliveries(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let event_id = parse_id(id)?;
    let filter = DeliveryFilter {
        event_id: Some(event_id),
        limit: usize::MAX,
        ..Default::default()
    };
    let deliveries = state.store.deliveries(&filter).await?;
    if deliveries.is_empty() && state.store.get(event_id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "no event with event_id {event_id}"
        )));
    }
    Ok(Json(json!({"event_id": event_id, "deliveries": deliveries})).into_response())
}

#[derive(Deserialize)]
pub struct TargetParam {
    target: Option<String>,
}

/// `POST /events/{event_id}/replay[?target=URL]`: a fresh round of attempts.
pub async fn event_replay(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<TargetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let event_id = parse_id(id)?;
    let Query(params) = params?;
    let filter = DeliveryFilter {
        event_id: Some(event_id),
        target: params.target,
        limit: usize::MAX,
        ..Default::default()
    };
    if state.store.deliveries(&filter).await?.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no deliveries of event {event_id} match"
        )));
    }
    replay(&state, &filter).await
}

/// `POST /deliveries/replay?status=dead[&target=URL]`: re-queue matching deliveries.
pub async fn deliveries_replay(
    State(state): State<AppState>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut filter = filter(params?.0, usize::MAX)?;
    if filter.status.is_none() && filter.event_id.is_none() && filter.target.is_none() {
        return Err(ApiError::BadRequest(
            "say which deliveries to replay: ?status=dead (or failed, delivered), ?target=, ?event_id=".into(),
        ));
    }
    filter.limit = usize::MAX;
    replay(&state, &filter).await
}

async fn replay(state: &AppState, filter: &DeliveryFilter) -> Result<Response, ApiError> {
    // What the replay moves back to pending, for the event streams: read before, as the
    // filter may name the state they leave.
    let moved = match state.stream.watched() {
        true => state.store.deliveries(filter).await?,
        false => Vec::new(),
    };
    let targets: Vec<Arc<str>> = state.store.replay(filter).await?;
    let moved = moved
        .into_iter()
        .filter(|d| d.status != DeliveryStatus::InFlight);
    for delivery in moved {
        state.stream.delivery(DeliveryUpdate {
            delivery_id: delivery.id,
            event_id: delivery.event_id,
            target: delivery.target,
            status: DeliveryStatus::Pending,
            attempts: delivery.attempts.len() as u32,
            attempt: None,
        });
    }
    if let Some(relay) = &state.relay {
        targets.iter().for_each(|t| relay.wake(t));
    }
    Ok(Json(json!({"status": "success", "replayed": targets.len()})).into_response())
}
