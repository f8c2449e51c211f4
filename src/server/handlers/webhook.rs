//! `POST /webhook`: check the signature (with `--verify`), the media type and the event,
//! store it, queue its deliveries, answer. Under `serve --source NAME` the request goes to
//! that source instead (`sources.rs`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use http_body_util::BodyExt;

use crate::model;
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::store::{Headers, Inserted, ModelId, NewEvent, Signature};
use crate::server::stream::Fresh;
use crate::server::verify;

/// `POST /webhook` through the router, which has it for the methods it does not allow
/// (405); the request itself normally comes straight from [`Routes`](crate::server::routes::Routes) to [`webhook`].
pub async fn events_create(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    webhook(&state, request).await
}

/// `POST /webhook` for a caller that holds the state itself: the routes of a connection,
/// which keep their own handle so that no reference count shared by every connection is
/// written per request.
pub async fn webhook(state: &AppState, request: Request) -> Result<Response, ApiError> {
    // The whole request rather than a `HeaderMap` extractor, which would clone every header
    // on this hottest path.
    let (parts, body) = request.into_parts();
    if let Some(mount) = &state.config.mounts.main {
        if state.inserts_apart {
            let (state, mount, headers) = (state.clone(), Arc::clone(mount), parts.headers);
            return to_the_end(async move {
                super::sources::from_source(&state, &mount, &headers, body).await
            })
            .await;
        }
        return super::sources::from_source(state, mount, &parts.headers, body).await;
    }
    if state.inserts_apart {
        let (state, headers) = (state.clone(), parts.headers);
        return to_the_end(async move { model_event(&state, &headers, body).await }).await;
    }
    model_event(state, &parts.headers, body).await
}

/// Runs a request's work on a task of its own, so that it goes on to the end when the
/// request is dropped (its client went away): with a store whose inserts are written
/// apart from the request ([`EventStore::inserts_apart`]), an event stored is then always
/// announced to the relay and the streams, and counted.
///
/// [`EventStore::inserts_apart`]: crate::server::store::EventStore::inserts_apart
pub(super) async fn to_the_end(
    work: impl Future<Output = Result<Response, ApiError>> + Send + 'static,
) -> Result<Response, ApiError> {
    tokio::spawn(work)
        .await
        .unwrap_or_else(|e| Err(ApiError::Internal(format!("receiving an event: {e}"))))
}

/// A model event: read, stored, answered and counted.
async fn model_event(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = receive(state, headers, body).await;
    crate::server::metrics::event_received(match &result {
        Ok((_, Inserted::Duplicate)) => "duplicate",
        Ok(_) => "accepted",
        Err(e) => e.code(),
    });
    let (id, inserted) = result?;
    Ok(accepted(&id, inserted == Inserted::Duplicate))
}

/// The body, read under the size limit and the body timeout (413, 408).
pub(super) async fn body_of(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    let reading = read_body(body, state.config.max_body_bytes);
    crate::server::limits::within(state.config.limits.body_timeout, reading).await
}

async fn receive(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(ModelId, Inserted), ApiError> {
    // With `--verify`, who sent it is settled before anything about what was sent: an
    // unsigned caller learns 401 (or 413 from the size limit) and nothing else.
    let (body, message, signature) = match &state.config.verify {
        Some(verification) => {
            let body = body_of(state, body).await?;
            verification.check(headers, &body)?;
            check_json_content_type(headers)?;
            check_identity_encoding(headers)?;
            // A `webhook-id` is an idempotency key only once a signature covers it.
            let message = verification.verified_id(headers).map(|id| {
                let digest = verify::body_digest(&body);
                (id, digest)
            });
            (body, message, Some(verification.signature(headers)))
        }
        None => {
            check_json_content_type(headers)?;
            check_identity_encoding(headers)?;
            (body_of(state, body).await?, None, None)
        }
    };
    if let Some((id, digest)) = &message {
        match verify::seen(&*state.store, &state.seen_ids, id).await? {
            Some(seen) if seen.digest == *digest => {
                // Answered by a source's mount on a shared store when it has no number:
                // the same bytes, so the same event.
                let event_id = match seen.event_id {
                    Some(event_id) => event_id,
                    None => model::receive_event(&body)?.event_id,
                };
                return Ok((ModelId::new(event_id), Inserted::Duplicate));
            }
            Some(_) => return Err(ApiError::MessageConflict(id.clone())),
            None => {}
        }
    }
    let event = model::receive_event(&body)?;
    let targets = state
        .relay
        .as_ref()
        .map(|r| r.targets_for(&event.event_type))
        .unwrap_or_default();
    let id = ModelId::new(event.event_id);
    let new = NewEvent {
        id: id.as_str(),
        event_id: Some(event.event_id),
        event_type: &event.event_type,
        body: &body,
        headers: Headers::capture(headers, state.config.keep_secret_headers),
        signature,
        targets: &targets,
    };
    let inserted = state.store.insert(new).await?;
    log_received(event.event_id, inserted);
    if let (Some((id, digest)), Inserted::New { .. } | Inserted::Duplicate) = (message, inserted) {
        let seen = verify::Seen::model(event.event_id, digest);
        verify::remember(&*state.store, &state.seen_ids, id, seen).await?;
    }
    match inserted {
        Inserted::New {
            seq,
            received_micros,
        } => {
            if state.stream.takes_events() {
                hand_over(
                    state,
                    Stored {
                        seq,
                        received_micros,
                        event: &event,
                        body: &body,
                        headers,
                        signature,
                        delivered: !targets.is_empty(),
                    },
                );
            } else {
                state.stream.stored(seq);
            }
            if let Some(relay) = &state.relay {
                targets.iter().for_each(|t| relay.wake(t));
            }
            Ok((id, inserted))
        }
        Inserted::Duplicate => Ok((id, inserted)),
        Inserted::Conflict => Err(ApiError::Conflict(event.event_id)),
        Inserted::QueueFull => Err(ApiError::Unavailable {
            message: "the delivery queue is full; retry later".into(),
            retry_after_secs: 5,
        }),
    }
}

/// An event just stored, as the streams are handed it.
struct Stored<'a> {
    seq: u64,
    received_micros: i64,
    event: &'a model::Received<'a>,
    body: &'a Bytes,
    headers: &'a HeaderMap,
    signature: Option<Signature>,
    delivered: bool,
}

/// With a stream open, the event goes to it as well as to the store, which it is then not
/// read back from. The headers, which the store took, are captured again from the request:
/// only streams pay for that. Kept out of the handler so that the request without a
/// stream, nearly every one, carries none of it.
#[inline(never)]
fn hand_over(state: &AppState, stored: Stored<'_>) {
    let Stored {
        seq,
        received_micros,
        event,
        body,
        headers,
        signature,
        delivered,
    } = stored;
    state.stream.stored_event(Fresh {
        seq,
        id: None,
        event_id: Some(event.event_id),
        event_type: (*event.event_type).into(),
        received_micros,
        body: body.clone(),
        headers: Headers::capture(headers, state.config.keep_secret_headers),
        signature,
        plain: Fresh::plain_at(body, event.plain),
        delivered,
    });
}

/// The debug line of a received event, in words and numbers:
/// `event_id=7 outcome="new" seq=12`.
fn log_received(event_id: i64, inserted: Inserted) {
    let (outcome, seq) = match inserted {
        Inserted::New { seq, .. } => ("new", Some(seq)),
        Inserted::Duplicate => ("duplicate", None),
        Inserted::Conflict => ("conflict", None),
        Inserted::QueueFull => ("queue_full", None),
    };
    tracing::debug!(event_id, outcome, seq, "webhook received");
}

/// The answer to an accepted event, `{"status":"success","event_id":123}` plus
/// `"duplicate":true` for a repeat, written directly: it goes out for every event, and
/// building it through `json!` or `Json` cost more than storing the event.
fn accepted(id: &ModelId, duplicate: bool) -> Response {
    const HEAD: &[u8] = br#"{"status":"success","event_id":"#;
    // The digits already written for the stored id, not formatted again.
    let id = id.digits().as_bytes();
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

/// What [`check_json_content_type`] takes, as its refusal says.
pub(crate) const JSON_EXPECTED: &str = "application/json";

pub(crate) fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "no Content-Type".into(),
            JSON_EXPECTED,
        ));
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
        Err(ApiError::UnsupportedMediaType(
            format!("{text:?}"),
            JSON_EXPECTED,
        ))
    }
}

/// Refuses a body sent with a `Content-Encoding` other than `identity` (gzip, br, …):
/// an event is kept and relayed as the bytes received, which must be the JSON itself, and
/// read compressed it would be refused as malformed JSON, naming bytes the sender never
/// wrote.
pub(crate) fn check_identity_encoding(headers: &HeaderMap) -> Result<(), ApiError> {
    for value in headers.get_all(header::CONTENT_ENCODING) {
        let identity = value.to_str().is_ok_and(|text| {
            text.split(',')
                .map(str::trim)
                .all(|coding| coding.is_empty() || coding.eq_ignore_ascii_case("identity"))
        });
        if !identity {
            return Err(ApiError::UnsupportedEncoding(
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            ));
        }
    }
    Ok(())
}

/// Reads the body, refusing it as soon as it is known to pass `limit`: from
/// `Content-Length` before reading, or while streaming when there is none.
async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::PayloadTooLarge {
        limit: limit as u64,
    };
    // The declared `Content-Length` as hyper has read it (the body's exact size), rather
    // than looked up and parsed again.
    if http_body::Body::size_hint(&body).lower() > limit as u64 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log_lines::LogLines;

    #[test]
    fn the_debug_line_of_a_received_event_is_words_and_numbers() {
        let lines = LogLines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .json()
            .with_writer(move || writer.clone())
            .finish();

        tracing::subscriber::with_default(subscriber, || {
            log_received(
                7,
                Inserted::New {
                    seq: 12,
                    received_micros: 0,
                },
            );
            log_received(8, Inserted::Duplicate);
        });

        let text = lines.text();
        let fields: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fields"].clone())
            .collect();
        assert_eq!(fields[0]["outcome"], "new", "{text}");
        assert_eq!(fields[0]["seq"], 12, "{text}");
        assert_eq!(fields[0]["event_id"], 7, "{text}");
        assert_eq!(fields[1]["outcome"], "duplicate", "{text}");
        assert!(fields[1].get("seq").is_none(), "{text}");
    }
}
