//! `/endpoints…`: the admin API of endpoints: create, list, show, change, delete, read
//! and rotate the secret, and the delivery counts of one endpoint. The endpoints of
//! `serve`'s options (`--forward-to`, `--route`) are listed, shown and counted beside the
//! stored ones; changing, deleting or rotating one is refused with 409, as is rotating a
//! secret that the config file sets. A query parameter none of them takes is refused.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::options::OptionsEndpoint;
use super::{
    DEFAULT_GRACE_SECS, DefinedBy, Endpoint, MAX_GRACE_SECS, MAX_PREVIOUS_SECRETS, Purpose,
    RotateError,
};
use crate::alert::signing::Secret;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::handlers::webhook::check_json_content_type;
use crate::server::handlers::{known_params, path_id};
use crate::server::store::{DeliveryFilter, DeliveryStatus, EndpointWrite, Put};

/// The largest request body of this API.
const MAX_BODY: usize = 64 * 1024;

/// The JSON document of a request body: 415 without a JSON content type, 400 for bytes
/// that are not JSON (with the line and column), 413 beyond [`MAX_BODY`].
fn document(headers: &HeaderMap, body: &Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    check_json_content_type(headers)?;
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY as u64,
            });
        }
        Err(rejection) => return Err(ApiError::BadRequest(rejection.body_text())),
    };
    if body.len() > MAX_BODY {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY as u64,
        });
    }
    serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

fn invalid(errors: Vec<crate::model::FieldError>) -> ApiError {
    ApiError::InvalidEndpoint(errors)
}

fn name_taken(endpoint: &Endpoint) -> ApiError {
    ApiError::Taken(format!(
        "an endpoint named {:?} exists already",
        endpoint.name.as_deref().unwrap_or_default()
    ))
}

fn unavailable_rng(e: rand::rngs::SysError) -> ApiError {
    ApiError::Internal(format!("the operating system's random source failed: {e}"))
}

/// Has the relay read the endpoints again, so that a change applies to the next delivery.
async fn relay_again(state: &AppState) {
    if let Some(relay) = &state.relay
        && let Err(e) = relay.reload_endpoints().await
    {
        // The change is stored; the relay reads it at its next reload or start.
        tracing::warn!(error = %e, "the relay could not read the endpoints again");
    }
}

/// The endpoints of the options, none without a relay.
fn options_endpoints(state: &AppState) -> Vec<OptionsEndpoint> {
    state
        .relay
        .as_ref()
        .map(|r| r.options_endpoints())
        .unwrap_or_default()
}

fn options_endpoint(state: &AppState, id: &str) -> Option<OptionsEndpoint> {
    options_endpoints(state)
        .into_iter()
        .find(|e| e.endpoint.id == id)
}

/// An endpoint found by id or name: stored, or of the options.
enum Found {
    Stored(Endpoint),
    Options(OptionsEndpoint),
}

async fn find_any(state: &AppState, id: &str) -> Result<Found, ApiError> {
    if let Some(endpoint) = options_endpoint(state, id) {
        return Ok(Found::Options(endpoint));
    }
    find(state, id).await.map(Found::Stored)
}

/// The stored endpoint `id` names; an endpoint of the options is refused with 409, as
/// only its options change it.
async fn find(state: &AppState, id: &str) -> Result<Endpoint, ApiError> {
    if let Some(endpoint) = options_endpoint(state, id) {
        return Err(ApiError::DefinedByOptions {
            id: endpoint.endpoint.id,
            url: endpoint.endpoint.url,
        });
    }
    state
        .store
        .endpoint(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no endpoint with id or name {id:?}")))
}

/// The view of an endpoint of the options.
fn options_view(endpoint: &OptionsEndpoint, now: DateTime<Utc>) -> Value {
    let mut view = endpoint.endpoint.view(now);
    view.defined_by = DefinedBy::Options;
    json!(view)
}

/// The endpoint with its secret: the answer of a creation.
fn with_secret(endpoint: &Endpoint, now: DateTime<Utc>) -> Value {
    let mut view = json!(endpoint.view(now));
    view["secret"] = json!(endpoint.secret);
    view
}

/// `POST /endpoints`: 201 with the endpoint and its secret.
pub async fn endpoints_create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    known_params(query.as_deref(), &[])?;
    let document = document(&headers, &body)?;
    let changes = super::read(&document, Purpose::Create, "").map_err(invalid)?;
    let now = Utc::now();
    let endpoint = changes.create(now).map_err(unavailable_rng)?;
    match state.store.put_endpoint(&endpoint, Put::Create).await? {
        EndpointWrite::Done => {}
        EndpointWrite::NameTaken => return Err(name_taken(&endpoint)),
        EndpointWrite::IdConflict => {
            return Err(ApiError::Internal(format!(
                "a fresh endpoint id {} was taken",
                endpoint.id
            )));
        }
    }
    tracing::info!(endpoint = %endpoint.id, url = %endpoint.url, "endpoint created");
    relay_again(&state).await;
    Ok((StatusCode::CREATED, Json(with_secret(&endpoint, now))).into_response())
}

/// `GET /endpoints`: every endpoint without secrets: those of the options in their
/// order, then the stored ones, oldest first.
pub async fn endpoints_index(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    known_params(query.as_deref(), &[])?;
    let endpoints = state.store.endpoints().await?;
    let now = Utc::now();
    let views: Vec<Value> = options_endpoints(&state)
        .iter()
        .map(|e| options_view(e, now))
        .chain(endpoints.iter().map(|e| json!(e.view(now))))
        .collect();
    Ok(Json(json!({"endpoints": views})).into_response())
}

/// `GET /endpoints/{id}`: one endpoint by its id or name, without its secret.
pub async fn endpoints_show(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    known_params(query.as_deref(), &[])?;
    let now = Utc::now();
    Ok(match find_any(&state, &path_id(id)?).await? {
        Found::Stored(endpoint) => Json(endpoint.view(now)).into_response(),
        Found::Options(endpoint) => Json(options_view(&endpoint, now)).into_response(),
    })
}

/// `PATCH /endpoints/{id}`: changes the fields given; `null` clears an optional one.
pub async fn endpoints_update(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    known_params(query.as_deref(), &[])?;
    if let Some(endpoint) = options_endpoint(&state, &id) {
        return Err(ApiError::DefinedByOptions {
            id: endpoint.endpoint.id,
            url: endpoint.endpoint.url,
        });
    }
    let document = document(&headers, &body)?;
    let changes = super::read(&document, Purpose::Update, "").map_err(invalid)?;
    let mut endpoint = find(&state, &id).await?;
    let now = Utc::now();
    changes.apply(&mut endpoint, now);
    match state.store.put_endpoint(&endpoint, Put::Replace).await? {
        EndpointWrite::Done => {}
        EndpointWrite::NameTaken => return Err(name_taken(&endpoint)),
        EndpointWrite::IdConflict => {
            return Err(ApiError::NotFound(format!("no endpoint with id {id:?}")));
        }
    }
    tracing::info!(endpoint = %endpoint.id, disabled = endpoint.disabled, "endpoint changed");
    relay_again(&state).await;
    Ok(Json(endpoint.view(now)).into_response())
}

/// `DELETE /endpoints/{id}`: removes the endpoint.
pub async fn endpoints_delete(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    known_params(query.as_deref(), &[])?;
    let endpoint = find(&state, &id).await?;
    let Some(dropped) = state.store.delete_endpoint(&endpoint.id).await? else {
        return Err(ApiError::NotFound(format!(
            "no endpoint with id {:?}",
            endpoint.id
        )));
    };
    crate::server::metrics::deliveries_dropped(dropped);
    tracing::info!(endpoint = %endpoint.id, dropped, "endpoint deleted; its undelivered deliveries dropped");
    relay_again(&state).await;
    Ok(Json(json!({"status": "success", "id": endpoint.id, "dropped": dropped})).into_response())
}

/// `GET /endpoints/{id}/secret`: the signing secret, and the previous one while it still
/// signs. An endpoint of the options answers `--forward-secret`'s (`null` when unsigned).
pub async fn endpoints_secret(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    known_params(query.as_deref(), &[])?;
    Ok(match find_any(&state, &path_id(id)?).await? {
        Found::Stored(endpoint) => Json(secret_view(&endpoint, Utc::now())).into_response(),
        Found::Options(endpoint) => Json(endpoint.secret_view()).into_response(),
    })
}

fn secret_view(endpoint: &Endpoint, now: DateTime<Utc>) -> Value {
    let previous: Vec<Value> = endpoint
        .live_previous_secrets(now)
        .map(|p| json!({"secret": p.secret, "expires_at": p.expires_at}))
        .collect();
    let newest = previous.first();
    json!({
        "id": endpoint.id,
        "secret": endpoint.secret,
        "previous_secret": newest.map(|p| &p["secret"]),
        "previous_secret_expires_at": newest.map(|p| &p["expires_at"]),
        "previous_secrets": previous,
    })
}

#[derive(Deserialize)]
pub struct RotateParams {
    /// Seconds the old secret keeps signing; 24 h when not given.
    grace_seconds: Option<u64>,
}

/// The new secret a rotation's body gives (`{"secret": "whsec_…"}`), checked as
/// `POST /endpoints` checks one; `None` for an empty body (or `{}`): one is generated.
fn given_secret(
    headers: &HeaderMap,
    body: &Result<Bytes, BytesRejection>,
) -> Result<Option<String>, ApiError> {
    if matches!(body, Ok(bytes) if bytes.is_empty()) {
        return Ok(None);
    }
    let document = document(headers, body)?;
    let Some(object) = document.as_object() else {
        return Err(ApiError::BadRequest(
            "expected no body, or an object such as {\"secret\": \"whsec_…\"}".into(),
        ));
    };
    let mut problems = Vec::new();
    let mut secret = None;
    for (name, value) in object {
        match (name.as_str(), value.as_str()) {
            ("secret", Some(text)) => match Secret::parse(text) {
                Ok(parsed) => secret = Some(parsed.to_whsec()),
                Err(e) => problems.push(field_error(name, e.to_string())),
            },
            ("secret", None) => problems.push(field_error(name, "expected a whsec_ secret")),
            _ => problems.push(field_error(
                name,
                "is not a field of a rotation, which takes secret alone",
            )),
        }
    }
    match problems.is_empty() {
        true => Ok(secret),
        false => Err(invalid(problems)),
    }
}

fn field_error(field: &str, message: impl Into<String>) -> crate::model::FieldError {
    crate::model::FieldError {
        field: field.to_owned(),
        message: message.into(),
    }
}

/// `POST /endpoints/{id}/secret/rotate[?grace_seconds=N]`: a new secret, generated or the
/// body's `secret`; the old one signs beside it for the grace period, as do the previous
/// ones whose grace periods last.
pub async fn endpoints_rotate(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    params: Result<Query<RotateParams>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(id)?;
    known_params(query.as_deref(), &["grace_seconds"])?;
    let Query(params) = params?;
    let grace = params.grace_seconds.unwrap_or(DEFAULT_GRACE_SECS);
    if grace > MAX_GRACE_SECS {
        return Err(ApiError::BadRequest(format!(
            "grace_seconds must be at most {MAX_GRACE_SECS} (30 days), got {grace}"
        )));
    }
    let given = given_secret(&headers, &body)?;
    let mut endpoint = find(&state, &id).await?;
    if state.config.file_secrets.sets(&endpoint.id) {
        return Err(ApiError::SecretFromFile {
            id: endpoint.id,
            file: state.config.file_secrets.file.clone(),
        });
    }
    let now = Utc::now();
    let new = match given {
        Some(secret) => secret,
        None => Secret::generate().map_err(unavailable_rng)?.to_whsec(),
    };
    let grace_period = chrono::Duration::seconds(grace as i64);
    match super::rotate(&mut endpoint, new, grace_period, now) {
        Ok(()) => {}
        Err(RotateError::SameSecret) => {
            return Err(ApiError::EndpointConflict(format!(
                "the secret given is the current secret of endpoint {} already; give a new one",
                endpoint.id
            )));
        }
        Err(RotateError::TooManyPrevious { earliest_expiry }) => {
            return Err(ApiError::EndpointConflict(format!(
                "endpoint {} has {MAX_PREVIOUS_SECRETS} previous secrets signing already, \
                 the most it keeps: a rotation with a grace period would revoke one before \
                 its grace ends; rotate after {} (when the first one's grace ends), or with \
                 grace_seconds=0 (the current secret then stops signing at once)",
                endpoint.id,
                earliest_expiry.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
    }
    match state.store.put_endpoint(&endpoint, Put::Replace).await? {
        EndpointWrite::Done => {}
        _ => return Err(ApiError::NotFound(format!("no endpoint with id {id:?}"))),
    }
    tracing::info!(endpoint = %endpoint.id, grace_seconds = grace,
        previous_secrets = endpoint.previous_secrets.len(), "endpoint secret rotated");
    relay_again(&state).await;
    Ok(Json(secret_view(&endpoint, now)).into_response())
}

/// `GET /endpoints/{id}/stats`: the endpoint's deliveries by state, its last success and
/// its last error.
pub async fn endpoints_stats(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    known_params(query.as_deref(), &[])?;
    let (id, target) = match find_any(&state, &path_id(id)?).await? {
        Found::Stored(endpoint) => (endpoint.id.clone(), endpoint.id),
        // Its deliveries are kept under its URL.
        Found::Options(endpoint) => (endpoint.endpoint.id, endpoint.target.to_string()),
    };
    let target_key = target.clone();
    let filter = DeliveryFilter {
        targets: Some(vec![target]),
        limit: usize::MAX,
        ..Default::default()
    };
    let deliveries = state.store.deliveries(&filter).await?;
    let count = |status: DeliveryStatus| deliveries.iter().filter(|d| d.status == status).count();
    let attempts = deliveries.iter().flat_map(|d| d.attempts.iter());
    let last_success = attempts
        .clone()
        .filter(|a| a.error.is_none() && a.status_code.is_some_and(|c| (200..300).contains(&c)))
        .map(|a| a.at)
        .max();
    let last_error = attempts
        .filter(|a| a.error.is_some() || a.status_code.is_none_or(|c| !(200..300).contains(&c)))
        .max_by_key(|a| a.at)
        .map(|a| json!({"at": a.at, "status_code": a.status_code, "error": a.error}));
    // Its circuit as this instance's relay holds it (`null` where it delivers nothing).
    let circuit = state
        .relay
        .as_ref()
        .and_then(|relay| relay.circuit(&target_key))
        .map(|(open, failures, next_probe)| {
            let next_probe_at = next_probe.and_then(|wait| {
                chrono::Duration::from_std(wait).ok().map(|wait| {
                    (Utc::now() + wait).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                })
            });
            json!({
                "state": if open { "open" } else { "closed" },
                "failures_in_a_row": failures,
                "next_probe_at": next_probe_at,
            })
        });
    Ok(Json(json!({
        "id": id,
        "circuit": circuit,
        "delivered": count(DeliveryStatus::Delivered),
        "failed": count(DeliveryStatus::Failed),
        "dead": count(DeliveryStatus::Dead),
        "pending": count(DeliveryStatus::Pending) + count(DeliveryStatus::InFlight),
        "last_success_at": last_success,
        "last_error": last_error,
    }))
    .into_response())
}
