//! HTTP handlers, one file per resource: [`webhook`] receives events ([`sources`] those of
//! `serve --source`), [`events`] reads
//! them back, [`status`] answers health and metrics; the relay's deliveries are in
//! `relay_api`. What they share is here: paging, path ids, the fallbacks.

pub mod events;
pub mod sources;
pub mod status;
pub mod webhook;

use axum::extract::Path;
use axum::extract::rejection::PathRejection;

use super::error::ApiError;

/// Default and maximum page sizes of the listings (`GET /events`, `GET /deliveries`).
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// The page size asked for with `?limit=`, or `default`; 400 outside 1 to `max`.
pub fn page_limit(asked: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = asked.unwrap_or(default);
    if (1..=max).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {max}, got {limit}"
        )))
    }
}

/// Cuts `items`, read with one more than `limit` asked of the store, to one page, and
/// gives the cursor of the next page (`cursor` of the page's last item) when there is one.
pub fn one_page<T, C>(items: &mut Vec<T>, limit: usize, cursor: impl Fn(&T) -> C) -> Option<C> {
    if items.len() > limit {
        items.truncate(limit);
        items.last().map(cursor)
    } else {
        None
    }
}

/// The `{id}` of a path: an event's string id or its `event_id`.
pub fn path_id(id: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    let Path(id) = id?;
    Ok(id)
}

/// Refuses a query string with a parameter other than `known`: 400 naming it, rather than
/// a request done as if it were absent (`?grace=5` taken for no grace given).
pub fn known_params(query: Option<&str>, known: &[&str]) -> Result<(), ApiError> {
    let query = query.unwrap_or_default();
    let Some((unknown, _)) =
        url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| !known.contains(&&**name))
    else {
        return Ok(());
    };
    let takes = match known {
        [] => "no query parameters".to_owned(),
        _ => known.join(", "),
    };
    Err(ApiError::BadRequest(format!(
        "unknown query parameter {unknown:?}; this path takes {takes}"
    )))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
