//! The one error type of the HTTP API. Every error answer has the same JSON shape:
//! `{"status":"error","error":"<code>","message":"<text>"}`, plus `details` for validation.
//! Details of server-side failures are logged, never sent.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::alert::signing::VerifyError;
use crate::model::{FieldError, Invalid};

use super::admin::Refusal;
use super::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    /// What came, and what was expected: `application/json`, or for a source that also
    /// takes forms both kinds.
    UnsupportedMediaType(String, &'static str),
    /// A body sent with this `Content-Encoding` (compressed): only `identity` is taken.
    UnsupportedEncoding(String),
    PayloadTooLarge {
        limit: u64,
    },
    MalformedJson {
        line: usize,
        column: usize,
        message: String,
    },
    Validation(Vec<FieldError>),
    /// An endpoint's fields (`POST`/`PATCH /endpoints`), every problem listed.
    InvalidEndpoint(Vec<FieldError>),
    /// A unique name is taken already.
    Taken(String),
    /// A change of an endpoint that `serve`'s options define (`--forward-to`, `--route`).
    DefinedByOptions {
        id: String,
        url: String,
    },
    /// A rotation of the secret of an endpoint whose secret `serve --config FILE` sets.
    SecretFromFile {
        id: String,
        file: String,
    },
    /// A change of an endpoint refused in its present state (too many secrets signing).
    EndpointConflict(String),
    InvalidSignature(VerifyError),
    /// An admin endpoint called without a valid `--admin-token`.
    Unauthorized(Refusal),
    Conflict(i64),
    /// A verified `webhook-id` already answered for another body.
    MessageConflict(String),
    /// A source's event id already kept with another body.
    IdConflict(String),
    BadRequest(String),
    /// The request body did not arrive within this time.
    RequestTimeout(std::time::Duration),
    NotFound(String),
    MethodNotAllowed,
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// `--max-streams` event streams are open already.
    TooManyStreams(usize),
    Internal(String),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::UnsupportedMediaType(..) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MalformedJson { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) | ApiError::InvalidEndpoint(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::InvalidSignature(_) | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Conflict(_)
            | ApiError::MessageConflict(_)
            | ApiError::IdConflict(_)
            | ApiError::Taken(_)
            | ApiError::DefinedByOptions { .. }
            | ApiError::SecretFromFile { .. }
            | ApiError::EndpointConflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable { .. } | ApiError::TooManyStreams(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::UnsupportedMediaType(..) | ApiError::UnsupportedEncoding(_) => {
                "unsupported_media_type"
            }
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::MalformedJson { .. } => "malformed_json",
            ApiError::Validation(_) | ApiError::InvalidEndpoint(_) => "validation_failed",
            ApiError::InvalidSignature(_) => "invalid_signature",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Conflict(_)
            | ApiError::MessageConflict(_)
            | ApiError::IdConflict(_)
            | ApiError::Taken(_)
            | ApiError::DefinedByOptions { .. }
            | ApiError::SecretFromFile { .. }
            | ApiError::EndpointConflict(_) => "conflict",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::TooManyStreams(_) => "too_many_streams",
            ApiError::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::UnsupportedMediaType(got, expected) => {
                format!("expected Content-Type {expected}, got {got}")
            }
            ApiError::UnsupportedEncoding(got) => format!(
                "Content-Encoding {got:?} is not accepted: only identity is (send the body \
                 uncompressed)"
            ),
            ApiError::PayloadTooLarge { limit } => {
                format!("the body is larger than the limit of {limit} bytes")
            }
            ApiError::MalformedJson {
                line,
                column,
                message,
            } => {
                format!("invalid JSON at line {line}, column {column}: {message}")
            }
            ApiError::Validation(errors) => {
                format!("the event is invalid ({})", problems(errors.len()))
            }
            ApiError::InvalidEndpoint(errors) => {
                format!("the endpoint is invalid ({})", problems(errors.len()))
            }
            ApiError::InvalidSignature(e) => e.to_string(),
            ApiError::Unauthorized(refusal) => refusal.message().into(),
            ApiError::Conflict(id) => {
                format!("event {id} already exists with a different body; the first one is kept")
            }
            ApiError::IdConflict(id) => {
                format!("event {id} already exists with a different body; the first one is kept")
            }
            ApiError::MessageConflict(id) => format!(
                "webhook-id {id} was already accepted with a different body; the first one is kept"
            ),
            ApiError::BadRequest(m)
            | ApiError::NotFound(m)
            | ApiError::Taken(m)
            | ApiError::EndpointConflict(m) => m.clone(),
            ApiError::SecretFromFile { id, file } => format!(
                "the secret of endpoint {id} is set by the config file {file} (its \
                 [[endpoints]] secret), which puts it back at every start: change the secret \
                 in the file and restart, or remove it from the file to rotate it here"
            ),
            ApiError::DefinedByOptions { id, url } => format!(
                "endpoint {id} ({url}) is defined by serve's --forward-to/--route options \
                 (forward_to/route in a config file), not kept in the store: change or remove \
                 the option and restart to change it"
            ),
            ApiError::RequestTimeout(limit) => {
                format!("the body did not arrive within {}s", limit.as_secs_f64())
            }
            ApiError::Unavailable { message, .. } => message.clone(),
            ApiError::TooManyStreams(max) => {
                format!("{max} event streams are open already (--max-streams); retry later")
            }
            ApiError::MethodNotAllowed => "this method is not allowed on this path".into(),
            ApiError::Internal(_) => "internal error; see the server log".into(),
        }
    }
}

impl From<Invalid> for ApiError {
    fn from(invalid: Invalid) -> Self {
        match invalid {
            Invalid::Malformed {
                line,
                column,
                message,
            } => ApiError::MalformedJson {
                line,
                column,
                message,
            },
            Invalid::Fields(errors) => ApiError::Validation(errors),
        }
    }
}

/// A store that cannot read or write now (disk full, I/O error) is a passing condition of
/// the server, not a bug: 503 with Retry-After, so senders retry. The store logs the cause.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::debug!(error = %e, "answering 503");
        ApiError::Unavailable {
            message: "the event store is unavailable; retry later".into(),
            retry_after_secs: 5,
        }
    }
}

/// A query string that does not parse into the handler's parameters: 400 with axum's
/// explanation, in the one error shape.
impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// A path segment that does not parse: 400, like a bad query.
impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let ApiError::Internal(detail) = &self {
            super::request_id::in_span(|| tracing::error!(%detail, "request failed"));
        }
        let mut body = json!({"status": "error", "error": self.code(), "message": self.message()});
        match &self {
            ApiError::Validation(details) | ApiError::InvalidEndpoint(details) => {
                body["details"] = json!(details)
            }
            ApiError::MalformedJson { line, column, .. } => {
                body["line"] = json!(line);
                body["column"] = json!(column);
            }
            ApiError::InvalidSignature(e) => body["reason"] = json!(e.reason()),
            ApiError::Unauthorized(refusal) => body["reason"] = json!(refusal.reason()),
            _ => {}
        }
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RequestTimeout(_) = self {
            // The rest of the body may still be on its way: the connection cannot be reused.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let ApiError::UnsupportedEncoding(_) = self {
            // RFC 9110 §15.5.16: the codings that are accepted.
            response.headers_mut().insert(
                header::ACCEPT_ENCODING,
                HeaderValue::from_static("identity"),
            );
        }
        if let ApiError::Unauthorized(refusal) = self {
            // RFC 6750 §3: the scheme to use, and for a token that was sent, why it failed.
            let challenge = match refusal {
                Refusal::Wrong => r#"Bearer realm="hookrelay admin", error="invalid_token""#,
                _ => r#"Bearer realm="hookrelay admin""#,
            };
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        let retry_after = match self {
            ApiError::Unavailable {
                retry_after_secs, ..
            } => Some(retry_after_secs),
            ApiError::TooManyStreams(_) => Some(5),
            _ => None,
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// "1 problem", "2 problems".
fn problems(n: usize) -> String {
    if n == 1 {
        "1 problem".to_string()
    } else {
        format!("{n} problems")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_store_answers_503_with_retry_after_and_no_detail() {
        let error = ApiError::from(StoreError("disk I/O error at /secret/path".into()));
        assert!(!error.message().contains("secret"), "{}", error.message());
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }
}
