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
use super::handlers::events::{find_event, integer};
use super::handlers::{DEFAULT_LIMIT, MAX_LIMIT, one_page, page_limit, path_id};
use super::store::{DeliveryFilter, DeliveryStatus};
use super::stream::DeliveryUpdate;

#[derive(Deserialize)]
pub struct DeliveryParams {
    status: Option<DeliveryStatus>,
    target: Option<String>,
    /// An event's string id or its `event_id`.
    event_id: Option<String>,
    limit: Option<usize>,
    cursor: Option<u64>,
}

/// The filter `params` ask for; `limit` defaults to `default_limit`, which may also be
/// larger than [`MAX_LIMIT`] (a replay takes every match).
async fn filter(
    state: &AppState,
    params: DeliveryParams,
    default_limit: usize,
) -> Result<DeliveryFilter, ApiError> {
    let limit = page_limit(params.limit, default_limit, MAX_LIMIT.max(default_limit))?;
    let mut filter = DeliveryFilter {
        status: params.status,
        targets: target_keys(state, params.target.as_deref()).await?,
        after: params.cursor,
        limit,
        ..Default::default()
    };
    if let Some(text) = params.event_id.as_deref() {
        (filter.event, filter.event_id) = event_filter(state, text).await?;
    }
    Ok(filter)
}

/// The targets the deliveries `?target=TEXT` asks for are kept under, the same for every
/// route that takes it. A stored endpoint's deliveries are kept under its id and one of
/// the options' under its URL, so: an endpoint's id or name gives its key; a URL gives
/// itself (deliveries of the options, or made before endpoints were data) and the ids of
/// the stored endpoints with that URL; anything else is taken as it is (the id of a
/// deleted endpoint, whose dead deliveries are still kept).
async fn target_keys(
    state: &AppState,
    text: Option<&str>,
) -> Result<Option<Vec<String>>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let options = state
        .relay
        .as_ref()
        .map(|r| r.options_endpoints())
        .unwrap_or_default();
    if let Some(endpoint) = options.iter().find(|e| e.endpoint.id == text) {
        return Ok(Some(vec![endpoint.target.to_string()]));
    }
    if !text.contains("://") {
        let key = match state.store.endpoint(text).await? {
            Some(endpoint) => endpoint.id,
            None => text.to_owned(),
        };
        return Ok(Some(vec![key]));
    }
    // Compared as URLs, so that `http://host` finds `http://host/`.
    let same = |url: &str| match (url::Url::parse(url), url::Url::parse(text)) {
        (Ok(a), Ok(b)) => a == b,
        _ => url == text,
    };
    let mut keys = vec![text.to_owned()];
    keys.extend(
        options
            .iter()
            .filter(|e| same(&e.target))
            .map(|e| e.target.to_string()),
    );
    let stored = state.store.endpoints().await?;
    keys.extend(stored.into_iter().filter(|e| same(&e.url)).map(|e| e.id));
    keys.sort();
    keys.dedup();
    Ok(Some(keys))
}

/// Which deliveries belong to the event `text` names: those of the kept event it names
/// (by string id first, by `event_id` next), or, when none is kept any more, those whose
/// event had that string id or (an integer) that `event_id`.
async fn event_filter(
    state: &AppState,
    text: &str,
) -> Result<(Option<String>, Option<i64>), ApiError> {
    Ok(match find_event(&*state.store, text).await? {
        Some(event) => (Some(event.id), None),
        None => (Some(text.to_owned()), integer(text)),
    })
}

/// `GET /deliveries`: deliveries with their attempts, filtered by `status`, `target`,
/// `event_id`, paged by `cursor`.
pub async fn deliveries_index(
    State(state): State<AppState>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut filter = filter(&state, params?.0, DEFAULT_LIMIT).await?;
    let limit = filter.limit;
    filter.limit += 1;
    let mut deliveries = state.store.deliveries(&filter).await?;
    let next_cursor = one_page(&mut deliveries, limit, |d| d.id);
    Ok(Json(json!({"deliveries": deliveries, "next_cursor": next_cursor})).into_response())
}

/// `GET /events/{id}/deliveries`: every delivery of one event, every attempt.
pub async fn event_deliveries(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let text = path_id(id)?;
    let kept = find_event(&*state.store, &text).await?;
    let (event, event_id) = match &kept {
        Some(e) => (Some(e.id.clone()), None),
        None => (Some(text.clone()), integer(&text)),
    };
    let filter = DeliveryFilter {
        event,
        event_id,
        limit: usize::MAX,
        ..Default::default()
    };
    let deliveries = state.store.deliveries(&filter).await?;
    let (id, event_id) = match (&kept, deliveries.first()) {
        (Some(e), _) => (e.id.clone(), e.event_id),
        (None, Some(d)) => (d.event.clone(), d.event_id),
        (None, None) => return Err(ApiError::NotFound(format!("no event with id {text:?}"))),
    };
    Ok(Json(json!({"id": id, "event_id": event_id, "deliveries": deliveries})).into_response())
}

#[derive(Deserialize)]
pub struct TargetParam {
    target: Option<String>,
}

/// `POST /events/{id}/replay[?target=URL|ID|NAME]`: a fresh round of attempts.
pub async fn event_replay(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<TargetParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let text = path_id(id)?;
    let Query(params) = params?;
    let (event, event_id) = event_filter(&state, &text).await?;
    let filter = DeliveryFilter {
        event,
        event_id,
        targets: target_keys(&state, params.target.as_deref()).await?,
        limit: usize::MAX,
        ..Default::default()
    };
    if state.store.deliveries(&filter).await?.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no deliveries of event {text:?} match"
        )));
    }
    replay(&state, &filter).await
}

/// `POST /deliveries/replay?status=dead[&target=URL|ID|NAME]`: re-queue matching deliveries.
pub async fn deliveries_replay(
    State(state): State<AppState>,
    params: Result<Query<DeliveryParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let mut filter = filter(&state, params?.0, usize::MAX).await?;
    if filter.status.is_none() && filter.event.is_none() && filter.targets.is_none() {
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
            event: delivery.event,
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
