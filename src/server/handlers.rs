//! HTTP handlers: receiving webhooks, reading stored events, health.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use crate::model;

use super::AppState;
use super::error::ApiError;
use super::store::{EventQuery, Inserted, NewEvent, StoredEvent};
use super::verify;

/// Default and maximum page sizes of `GET /events`.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

/// The path events are posted to.
pub const WEBHOOK: &str = "/webhook";

/// `POST /webhook`: validate, store, queue deliveries, answer. The connection calls it
/// directly for that method and path (`conn.rs`); the router has it for the rest (405 for
/// other methods).
pub async fn events_create(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    webhook(&state, request).await
}

/// `POST /webhook` for a caller that holds the state itself: the connection, which keeps
/// its own handle so that no reference count shared by every connection is written per
/// request.
pub async fn webhook(state: &AppState, request: Request) -> Result<Response, ApiError> {
    // The whole request rather than a `HeaderMap` extractor, which would clone every header
    // on this hottest path.
    let (parts, body) = request.into_parts();
    let result = receive(state, &parts.headers, body).await;
    super::metrics::event_received(match &result {
        Ok((_, Inserted::Duplicate)) => "duplicate",
        Ok(_) => "accepted",
        Err(e) => e.code(),
    });
    let (event_id, inserted) = result?;
    Ok(accepted(event_id, inserted == Inserted::Duplicate))
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(i64, Inserted), ApiError> {
    check_json_content_type(headers)?;
    let reading = read_body(headers, body, state.config.max_body_bytes);
    let body = super::limits::within(state.config.limits.body_timeout, reading).await?;
    // A `webhook-id` is an idempotency key only once a signature covers it.
    let mut message = None;
    if let Some(verification) = &state.config.verify {
        verification.check(headers, &body)?;
        if let Some(id) = verification.verified_id(headers) {
            let digest = verify::body_digest(&body);
            match state.seen_ids.get(&id) {
                Some(seen) if seen.digest == digest => {
                    return Ok((seen.event_id, Inserted::Duplicate));
                }
                Some(_) => return Err(ApiError::MessageConflict(id)),
                None => message = Some((id, digest)),
            }
        }
    }
    let event = model::receive_event(&body)?;
    let targets = state
        .relay
        .as_ref()
        .map(|r| r.targets_for(&event.event_type))
        .unwrap_or_default();
    let new = NewEvent {
        event_id: event.event_id,
        event_type: &event.event_type,
        body: &body,
        targets: &targets,
    };
    let inserted = state.store.insert(new).await?;
    tracing::debug!(event_id = event.event_id, ?inserted, "webhook received");
    if let (Some((id, digest)), Inserted::New { .. } | Inserted::Duplicate) = (message, inserted) {
        let seen = verify::Seen {
            event_id: event.event_id,
            digest,
        };
        state.seen_ids.insert(id, seen);
    }
    match inserted {
        Inserted::New { .. } => {
            if let Some(relay) = &state.relay {
                targets.iter().for_each(|t| relay.wake(t));
            }
            Ok((event.event_id, inserted))
        }
        Inserted::Duplicate => Ok((event.event_id, inserted)),
        Inserted::Conflict => Err(ApiError::Conflict(event.event_id)),
        Inserted::QueueFull => Err(ApiError::Unavailable {
            message: "the delivery queue is full; retry later".into(),
            retry_after_secs: 5,
        }),
    }
}

/// The answer to an accepted event, `{"status":"success","event_id":123}` plus
/// `"duplicate":true` for a repeat, written directly: it goes out for every event, and
/// building it through `json!` or `Json` cost more than storing the event.
fn accepted(event_id: i64, duplicate: bool) -> Response {
    const HEAD: &[u8] = br#"{"status":"success","event_id":"#;
    let mut id = itoa::Buffer::new();
    let id = id.format(event_id).as_bytes();
    let tail: &[u8] = if duplicate {
        br#","duplicate":true}"#
    } else {
        b"}"
    };
    // Exactly sized: turning a Vec with spare capacity into a body reallocates it.
    let mut body = Vec::with_capacity(HEAD.len() + id.len() + tail.len());
    body.extend_from_slice(HEAD);
    body.extend_from_slice(id);
    body.extend_from_slice(tail);
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType("no Content-Type".into()));
    };
    // The form nearly every sender uses, recognised without parsing.
    if value.as_bytes() == b"application/json" {
        return Ok(());
    }
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim().as_bytes();
    let ends_with = |suffix: &str| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
    };
    let starts_with = |prefix: &str| {
        essence.len() >= prefix.len()
            && essence[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
    };
    if essence.eq_ignore_ascii_case(b"application/json")
        || (starts_with("application/") && ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!("{text:?}")))
    }
}

/// Reads the body, refusing it as soon as it is known to pass `limit`: from
/// `Content-Length` before reading, or while streaming when there is none.
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge {
        limit: limit as u64,
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<u8> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| ApiError::BadRequest(format!("reading the body failed: {e}")))?;
        let Ok(chunk) = frame.into_data() else {
            continue;
        };
        total += chunk.len();
        if total > limit {
            return Err(too_large());
        }
        match &first {
            None => first = Some(chunk),
            Some(head) => {
                if rest.is_empty() {
                    rest.extend_from_slice(head);
                }
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(if rest.is_empty() {
        first.unwrap_or_default()
    } else {
        Bytes::from(rest)
    })
}

/// An event as the API shows it: parsed fields, arrival, and the original body verbatim.
#[derive(Serialize)]
struct EventView<'a> {
    seq: u64,
    event_id: i64,
    event_type: &'a str,
    timestamp: Option<String>,
    description: Option<String>,
    received_at: String,
    body: Option<&'a RawValue>,
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
        body,
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
}

/// `GET /events`: stored events, oldest first, filtered and paged.
pub async fn events_index(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = params.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let since = params.since.as_deref().map(parse_since).transpose()?;
    let after = match params.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(c.parse::<u64>().map_err(|_| {
            ApiError::BadRequest(format!(
                "cursor must be a value from next_cursor, got {c:?}"
            ))
        })?),
    };
    let query = EventQuery {
        event_type: params.event_type,
        since,
        after,
        limit: limit + 1,
    };
    let mut events = state.store.list(&query).await?;
    let next_cursor = if events.len() > limit {
        events.truncate(limit);
        events.last().map(|e| e.seq.to_string())
    } else {
        None
    };
    let events: Vec<EventView> = events.iter().map(view).collect();
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

pub(super) fn parse_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(id) = id.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    id.parse::<i64>()
        .map_err(|_| ApiError::BadRequest(format!("event_id must be an integer, got {id:?}")))
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

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let stats = state.store.stats().await?;
    let deliveries = state.store.delivery_counts().await?;
    let text = super::metrics::render(&state.metrics, stats, &deliveries);
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

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
