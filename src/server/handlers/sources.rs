//! `POST /webhook` under `serve --source NAME`, and `POST /webhook/{name}` for the sources
//! mounted there: the provider's signature (when its secret is given), the media type,
//! the provider's id and type, then the event is kept under the provider's id. Slack's
//! `url_verification` is answered with its challenge, its `ssl_check` with 200, and
//! nothing is kept of either. A signed
//! `webhook-id` (Standard Webhooks, Svix) is an idempotency key as under `--verify`: the
//! same id with the same bytes is a duplicate, with other bytes a conflict (409).

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::mounts::Mount;
use crate::server::store::{Headers, Inserted, NewEvent};
use crate::server::stream::Fresh;
use crate::server::stream::frame::json_string;
use crate::server::verify;
use crate::source::{Identified, Reading};

use super::webhook::{body_of, check_identity_encoding, check_json_content_type};

/// `POST /webhook/{name}`: the source mounted there, 404 when none is.
pub async fn sources_create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(mount) = state.config.mounts.find(&name).cloned() else {
        return Err(ApiError::NotFound(format!(
            "no source is mounted on /webhook/{name}"
        )));
    };
    let (parts, body) = request.into_parts();
    if state.inserts_apart {
        let headers = parts.headers;
        return super::webhook::to_the_end(async move {
            from_source(&state, &mount, &headers, body).await
        })
        .await;
    }
    from_source(&state, &mount, &parts.headers, body).await
}

/// One request read by `mount`'s source, answered and counted.
pub async fn from_source(
    state: &AppState,
    mount: &Mount,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let result = receive(state, mount, headers, body).await;
    crate::server::metrics::event_received(match &result {
        Ok(Answer::Kept {
            duplicate: true, ..
        }) => "duplicate",
        Ok(_) => "accepted",
        Err(e) => e.code(),
    });
    result.map(Answer::into_response)
}

/// What a provider's request is answered with.
enum Answer {
    Kept { event: Identified, duplicate: bool },
    Challenge(String),
    SslCheck,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        // Written directly, as the model's answer is: it goes out for every event. Sized
        // exactly when nothing needs escaping, as nearly always: turning a `Vec` with spare
        // capacity into a body allocates again.
        const KEPT: &[u8] = br#"{"status":"success","id":"#;
        const TYPE: &[u8] = br#","event_type":"#;
        const DUPLICATE: &[u8] = br#","duplicate":true"#;
        const SSL_CHECKED: &[u8] = br#"{"ssl_check":"ok"}"#;
        let size = match &self {
            Answer::Kept { event, duplicate } => {
                KEPT.len()
                    + TYPE.len()
                    + event.id.len()
                    + event.event_type.len()
                    + 2 * 2
                    + if *duplicate { DUPLICATE.len() } else { 0 }
                    + 1
            }
            Answer::Challenge(challenge) => br#"{"challenge":"#.len() + challenge.len() + 2 + 1,
            Answer::SslCheck => SSL_CHECKED.len(),
        };
        let mut body = Vec::with_capacity(size);
        match self {
            Answer::Kept { event, duplicate } => {
                body.extend_from_slice(KEPT);
                json_string(&mut body, &event.id);
                body.extend_from_slice(TYPE);
                json_string(&mut body, &event.event_type);
                if duplicate {
                    body.extend_from_slice(DUPLICATE);
                }
                body.push(b'}');
            }
            // Slack takes the challenge back in a JSON object, a form or plain text.
            Answer::Challenge(challenge) => {
                body.extend_from_slice(br#"{"challenge":"#);
                json_string(&mut body, &challenge);
                body.push(b'}');
            }
            // Slack wants a 200; what it says is not read.
            Answer::SslCheck => body.extend_from_slice(SSL_CHECKED),
        }
        let mut response = Response::new(Body::from(body));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

async fn receive(
    state: &AppState,
    mount: &Mount,
    headers: &HeaderMap,
    body: Body,
) -> Result<Answer, ApiError> {
    // As with `--verify`: who sent it is settled before anything about what was sent.
    let body = body_of(state, body).await?;
    mount.check(headers, &body)?;
    if mount.source.takes_forms() {
        if !crate::source::is_form(headers) {
            check_json_content_type(headers).map_err(|e| match e {
                ApiError::UnsupportedMediaType(got, _) => ApiError::UnsupportedMediaType(
                    got,
                    "application/json or application/x-www-form-urlencoded",
                ),
                other => other,
            })?;
        }
    } else {
        check_json_content_type(headers)?;
    }
    check_identity_encoding(headers)?;
    let event = match mount.source.read(headers, &body)? {
        Reading::Challenge(challenge) => return Ok(Answer::Challenge(challenge)),
        Reading::SslCheck => return Ok(Answer::SslCheck),
        Reading::Event(event) => event,
    };
    // A `webhook-id` that the provider's signature covers (Standard Webhooks, Svix) is an
    // idempotency key, remembered beyond the event itself in the memory store.
    let message = mount
        .verified_id(headers)
        .map(|id| (id, verify::body_digest(&body)));
    if let Some((id, digest)) = &message {
        match verify::seen(&*state.store, &state.seen_ids, id).await? {
            Some(seen) if seen.digest == *digest => {
                return Ok(Answer::Kept {
                    event: Identified {
                        id: seen.id,
                        ..event
                    },
                    duplicate: true,
                });
            }
            Some(_) => return Err(ApiError::MessageConflict(id.clone())),
            None => {}
        }
    }
    let inserted = keep(state, mount, headers, &body, &event).await?;
    if let (Some((id, digest)), Inserted::New { .. } | Inserted::Duplicate) = (message, inserted) {
        let seen = verify::Seen {
            id: event.id.clone(),
            event_id: event.event_id,
            digest,
        };
        verify::remember(&*state.store, &state.seen_ids, id, seen).await?;
    }
    tracing::debug!(id = %event.id, source = mount.source.name(), "webhook received");
    match inserted {
        Inserted::New { .. } => Ok(Answer::Kept {
            event,
            duplicate: false,
        }),
        Inserted::Duplicate => Ok(Answer::Kept {
            event,
            duplicate: true,
        }),
        Inserted::Conflict => Err(ApiError::IdConflict(event.id)),
        Inserted::QueueFull => Err(ApiError::Unavailable {
            message: "the delivery queue is full; retry later".into(),
            retry_after_secs: 5,
        }),
    }
}

/// Stores the event under its id, with a delivery per relay target its type routes to.
async fn keep(
    state: &AppState,
    mount: &Mount,
    headers: &HeaderMap,
    body: &Bytes,
    event: &Identified,
) -> Result<Inserted, ApiError> {
    let targets = state
        .relay
        .as_ref()
        .map(|r| r.targets_for(&event.event_type))
        .unwrap_or_default();
    let headers_kept = Headers::capture(headers, state.config.keep_secret_headers);
    // Handed to an open stream as POST /webhook's are (`webhook.rs`).
    let streamed = state.stream.takes_events().then(|| headers_kept.clone());
    let signature = mount.signature(headers);
    let new = NewEvent {
        id: &event.id,
        event_id: event.event_id,
        event_type: &event.event_type,
        body,
        headers: headers_kept,
        signature,
        targets: &targets,
    };
    let inserted = state.store.insert(new).await?;
    if let Inserted::New {
        seq,
        received_micros,
    } = inserted
    {
        // Announced to the event stream (and so to the page and listen) as POST /webhook's are.
        match streamed {
            Some(headers) => state.stream.stored_event(Fresh {
                seq,
                id: Some(event.id.as_str().into()),
                event_id: event.event_id,
                event_type: event.event_type.as_str().into(),
                received_micros,
                body: body.clone(),
                headers,
                signature,
                plain: None,
                delivered: !targets.is_empty(),
            }),
            None => state.stream.stored(seq),
        }
        if let Some(relay) = &state.relay {
            targets.iter().for_each(|t| relay.wake(t));
        }
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn ids_and_types_are_written_as_json_strings() {
        for text in [
            "msg_1",
            "pull_request.opened",
            "a\"b",
            "back\\slash",
            "tab\there",
            "é✓",
            "",
        ] {
            let mut out = Vec::new();
            json_string(&mut out, text);
            let back: String = serde_json::from_slice(&out).unwrap();
            assert_eq!(back, text, "{}", String::from_utf8_lossy(&out));
        }
    }
}
