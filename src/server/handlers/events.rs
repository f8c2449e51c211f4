//! `GET /events…`: stored events, listed, one by one, and their original bodies.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::model;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::store::{
    EventKey, EventQuery, EventStore, Headers, Signature, StoreError, StoredEvent,
};

use super::{DEFAULT_LIMIT, MAX_LIMIT, one_page, page_limit, path_id};

/// An event as the API shows it (`GET /events/{id}`, each item of `GET /events`): ids,
/// parsed fields, arrival, the original body verbatim, the request's headers as
/// `[name, value]` pairs and the signature's verification.
#[derive(Serialize)]
pub struct EventView<'a> {
    pub seq: u64,
    pub id: &'a str,
    pub event_id: Option<i64>,
    pub event_type: &'a str,
    pub timestamp: Option<String>,
    pub description: Option<String>,
    pub received_at: String,
    /// Bytes of the body as received.
    pub size: usize,
    /// `None` when left out (`GET /events?summary=true`); `Some(None)`, shown as `null`,
    /// for a body that is not JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Option<&'a RawValue>>,
    /// `None` when left out (`GET /events?summary=true`).
    #[serde(
        serialize_with = "header_pairs",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<&'a Headers>,
    pub headers_truncated: bool,
    pub signature: Option<Signature>,
}

/// `[["name","value"], …]`; a value that is not UTF-8 is shown with U+FFFD in its place.
fn header_pairs<S: Serializer>(
    headers: &Option<&Headers>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(None)?;
    for (name, value) in headers.iter().flat_map(|h| h.iter()) {
        seq.serialize_element(&(name, String::from_utf8_lossy(value)))?;
    }
    seq.end()
}

/// `stored` as the API shows it.
pub fn event_view(stored: &StoredEvent) -> EventView<'_> {
    let parsed = model::validate_event(&stored.body).ok();
    let body = std::str::from_utf8(&stored.body)
        .ok()
        .and_then(|s| serde_json::from_str(s).ok());
    EventView {
        seq: stored.seq,
        id: &stored.id,
        event_id: stored.event_id,
        event_type: &stored.event_type,
        timestamp: parsed.as_ref().map(|e| e.timestamp.clone()),
        description: parsed.map(|e| e.description),
        received_at: stored
            .received_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        size: stored.body.len(),
        body: Some(body),
        headers: Some(&stored.headers),
        headers_truncated: stored.headers.truncated(),
        signature: stored.signature,
    }
}

/// `stored` as the JSON document `GET /events/{id}` answers with.
pub fn event_json(stored: &StoredEvent) -> Vec<u8> {
    // A view of strings, numbers and raw JSON cannot fail to serialize.
    serde_json::to_vec(&event_view(stored)).unwrap_or_default()
}

/// The event a path or a query names with `text`: the one with that string id, else,
/// when `text` is an integer, the model's event with that `event_id`.
pub async fn find_event(
    store: &dyn EventStore,
    text: &str,
) -> Result<Option<StoredEvent>, StoreError> {
    if let Some(found) = store.get(EventKey::Id(text)).await? {
        return Ok(Some(found));
    }
    match integer(text) {
        Some(n) => store.get(EventKey::EventId(n)).await,
        None => Ok(None),
    }
}

/// `text` as an `event_id` when it is written as one: digits, perhaps after a `-`.
pub fn integer(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[derive(Serialize)]
struct Page<'a> {
    events: Vec<EventView<'a>>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct ListParams {
    /// Only the event this names, as `GET /events/{id}` reads it: the way to read an
    /// event whose id is `stream` (`GET /events/stream` is the event stream).
    id: Option<String>,
    event_type: Option<String>,
    since: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
    order: Option<Order>,
    /// `true` leaves each event's body and headers out: a list of what arrived stays small
    /// however large the bodies are.
    summary: Option<bool>,
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
    let mut events = match params.id.as_deref() {
        // One event or none: the other filters still apply, paging has nothing to do.
        Some(id) => find_event(&*state.store, id)
            .await?
            .filter(|e| {
                params
                    .event_type
                    .as_ref()
                    .is_none_or(|t| *t == e.event_type)
            })
            .filter(|e| since.is_none_or(|s| e.received_at >= s))
            .into_iter()
            .collect(),
        None => {
            let query = EventQuery {
                event_type: params.event_type,
                since,
                after: cursor.filter(|_| !newest_first),
                before: cursor.filter(|_| newest_first),
                newest_first,
                limit: limit + 1,
            };
            state.store.list(&query).await?
        }
    };
    let next_cursor = one_page(&mut events, limit, |e| e.seq.to_string());
    let summary = params.summary.unwrap_or(false);
    let events: Vec<EventView> = events
        .iter()
        .map(|e| {
            let mut shown = event_view(e);
            if summary {
                shown.body = None;
                shown.headers = None;
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

async fn find(state: &AppState, id: &str) -> Result<StoredEvent, ApiError> {
    find_event(&*state.store, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event with id {id:?}")))
}

/// `GET /events/{id}`: one event, by its id or its `event_id`.
pub async fn events_show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let stored = find(&state, &path_id(id)?).await?;
    Ok(Json(event_view(&stored)).into_response())
}

/// `GET /events/{id}/body`: the original body, byte for byte.
pub async fn events_body(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let stored = find(&state, &path_id(id)?).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], stored.body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::store::{SignatureHeaders, SignatureScheme};

    /// The document a stream reuses for each event: the one `GET /events/{id}` answers.
    #[test]
    fn an_event_renders_with_its_ids_headers_and_signature() {
        let stored = StoredEvent {
            seq: 9,
            id: "72d3162e-cc78".into(),
            event_id: None,
            event_type: "push".into(),
            received_at: chrono::DateTime::from_timestamp_micros(1_700_000_000_000_001).unwrap(),
            body: br#"{"zen":"x"}"#.to_vec(),
            headers: Headers::from_pairs([("X-GitHub-Event", &b"push"[..]), ("x-b", b"\xff")]),
            signature: Some(Signature {
                scheme: SignatureScheme::Github,
                headers: SignatureHeaders::HubSignature256,
                verified: true,
            }),
        };

        let json: serde_json::Value = serde_json::from_slice(&event_json(&stored)).unwrap();

        assert_eq!(
            json,
            serde_json::json!({
                "seq": 9, "id": "72d3162e-cc78", "event_id": null, "event_type": "push",
                "timestamp": null, "description": null,
                "received_at": "2023-11-14T22:13:20.000001Z", "size": 11,
                "body": {"zen": "x"},
                "headers": [["x-github-event", "push"], ["x-b", "\u{fffd}"]],
                "headers_truncated": false,
                "signature": {"scheme": "github", "headers": "x-hub-signature-256", "verified": true}
            })
        );
    }
}
