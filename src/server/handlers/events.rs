//! `GET /events…`: stored events, listed, one by one, and their original bodies.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::model;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::store::{EventQuery, StoredEvent};

use super::{DEFAULT_LIMIT, MAX_LIMIT, one_page, page_limit, parse_id};

/// An event as the API shows it: parsed fields, arrival, and the original body verbatim.
#[derive(Serialize)]
struct EventView<'a> {
    seq: u64,
    event_id: i64,
    event_type: &'a str,
    timestamp: Option<String>,
    description: Option<String>,
    received_at: String,
    /// Bytes of the body as received.
    size: usize,
    /// `None` when left out (`GET /events?body=false`); `Some(None)`, shown as `null`, for
    /// a body that is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<Option<&'a RawValue>>,
}

fn view(stored: &StoredEvent) -> EventView<'_> {
    let parsed = model::validate_event(&stored.body).ok();
    let body = std::str::from_utf8(&stored.body)
        .ok()
        .and_then(|s| serde_json::from_str(s).ok());
    EventView {
        seq: stored.seq,
        event_id: stored.event_id,
        event_type: &stored.event_type,
        timestamp: parsed.as_ref().map(|e| e.timestamp.clone()),
        description: parsed.map(|e| e.description),
        received_at: stored
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        size: stored.body.len(),
        body: Some(body),
    }
}

#[derive(Serialize)]
struct Page<'a> {
    events: Vec<EventView<'a>>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct ListParams {
    event_type: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    order: Option<Order>,
    /// `false` leaves the bodies out (a list of what arrived stays small however large
    /// the bodies are).
    body: Option<bool>,
}

/// The order of `GET /events`: by arrival, oldest (`asc`, the default) or newest first.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

/// `GET /events`: stored events, oldest first (newest with `?order=desc`), filtered and
/// paged: the cursor is the last event's `seq`, and the next page starts after it in the
/// order asked for.
pub async fn events_index(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let limit = page_limit(params.limit, DEFAULT_LIMIT, MAX_LIMIT)?;
    let since = params.since.as_deref().map(parse_since).transpose()?;
    let cursor = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "cursor must be a value from next_cursor, got {c:?}"
            ))
        })?),
    };
    let newest_first = params.order == Some(Order::Desc);
    let query = EventQuery {
        event_type: params.event_type,
        since,
        after: cursor.filter(|_| !newest_first),
        before: cursor.filter(|_| newest_first),
        newest_first,
        limit: limit + 1,
    };
    let mut events = state.store.list(&query).await?;
    let next_cursor = one_page(&mut events, limit, |e| e.seq.to_string());
    let with_body = params.body.unwrap_or(true);
    let events: Vec<EventView> = events
        .iter()
        .map(|e| {
            let mut shown = view(e);
            if !with_body {
                shown.body = None;
            }
            shown
        })
        .collect();
    // Serialized from the struct, not through `json!`, so bodies stay byte for byte.
    Ok(Json(Page {
        events,
        next_cursor,
    })
    .into_response())
}

/// `since` takes the model's timestamp forms, or a date alone (midnight); a time without an
/// offset is read as UTC.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    let with_time = if text.len() == 10 {
        format!("{text}T00:00:00")
    } else {
        text.to_string()
    };
    let ts = model::parse_timestamp(&with_time)
        .map_err(|m| ApiError::BadRequest(format!("since: {m}")))?;
    let offset = ts
        .offset
        .unwrap_or(chrono::FixedOffset::east_opt(0).expect("zero offset"));
    let local = ts
        .local
        .and_local_timezone(offset)
        .single()
        .expect("fixed offsets are unambiguous");
    Ok(local.with_timezone(&chrono::Utc))
}

async fn find(state: &AppState, id: i64) -> Result<StoredEvent, ApiError> {
    state
        .store
        .get(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event with event_id {id}")))
}

/// `GET /events/{event_id}`: one event.
pub async fn events_show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let stored = find(&state, parse_id(id)?).await?;
    Ok(Json(view(&stored)).into_response())
}

/// `GET /events/{event_id}/body`: the original body, byte for byte.
pub async fn events_body(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let stored = find(&state, parse_id(id)?).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], stored.body).into_response())
}
