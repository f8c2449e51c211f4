//! Who may call the admin endpoints: the bearer tokens of `serve --admin-token` and the
//! guard that [`routes::router`](super::routes::router) puts in front of every admin
//! route. A request without `Authorization: Bearer <token>`, or with a token that is not
//! one of those given, gets `401` with `WWW-Authenticate: Bearer`, counted by reason.
//! Tokens are compared in constant time, over their SHA-256 digests, so that neither the
//! bytes nor the length of a token can be learnt from how long a refusal takes.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::AUTHORIZATION;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::metrics;

/// Shortest token accepted: a guessable token is no protection.
pub const MIN_TOKEN_LEN: usize = 16;

/// One admin token. Only its digest is kept; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// Why a token text is refused. The message never repeats the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(
        "an admin token must be at least {MIN_TOKEN_LEN} characters (make one with `hookrelay secret new --admin`)"
    )]
    TooShort,
    #[error("an admin token must be visible ASCII characters, without spaces")]
    NotVisibleAscii,
}

impl AdminToken {
    /// A token as written on the command line, in a variable or a file.
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotVisibleAscii);
        }
        if text.len() < MIN_TOKEN_LEN {
            return Err(TokenError::TooShort);
        }
        Ok(Self(digest(text.as_bytes())))
    }
}

/// What every generated token starts with: it tells a reader (or a secret scanner) what
/// the token is, and keeps it from starting with `-`, which a command line would take for
/// an option.
pub const TOKEN_PREFIX: &str = "hra_";

/// A fresh token to hand to a person: `hra_` and 32 random bytes from the operating system
/// as unpadded URL-safe base64 (47 characters, safe in a header, a URL or a shell).
pub fn generate_token() -> Result<String, rand::rngs::SysError> {
    use base64::Engine as _;
    use rand::TryRng as _;
    let mut bytes = [0u8; 32];
    rand::rngs::SysRng.try_fill_bytes(&mut bytes)?;
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    Ok(format!("{TOKEN_PREFIX}{random}"))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What the guard of the admin routes checks.
#[derive(Debug, Clone, Default)]
pub struct AdminAuth {
    /// Any one of them is accepted (several while rotating). None: admin routes are open.
    pub tokens: Vec<AdminToken>,
    /// `--metrics-public`: `GET /metrics` needs no token.
    pub metrics_public: bool,
}

impl AdminAuth {
    /// Whether a token is required on the admin route at `path`. The inspector page and
    /// its assets never need one: they hold no data, and the page asks for the token.
    pub fn guards(&self, path: &str) -> bool {
        let open_metrics = self.metrics_public && path == super::routes::METRICS;
        let page = path == super::ui::PAGE || path == super::ui::ASSETS;
        !self.tokens.is_empty() && !open_metrics && !page
    }

    /// Whether `presented` is one of the tokens. Every token is compared, in constant time.
    fn accepts(&self, presented: &[u8]) -> bool {
        let presented = digest(presented);
        self.tokens
            .iter()
            .fold(subtle::Choice::from(0), |found, token| {
                found | token.0.ct_eq(&presented)
            })
            .into()
    }

    /// Why `request` may not pass, or `None` when it may.
    fn refusal(&self, request: &Request) -> Option<Refusal> {
        let Some(value) = request.headers().get(AUTHORIZATION) else {
            return Some(Refusal::Missing);
        };
        let value = value.as_bytes();
        // The scheme is case-insensitive (RFC 9110 §11.1); one space, then the token.
        let token = match value.split_at_checked(7) {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case(b"bearer ") => token,
            _ => return Some(Refusal::NotBearer),
        };
        (!self.accepts(token)).then_some(Refusal::Wrong)
    }
}

/// Why an admin request was refused: the `reason` label of
/// `hookrelay_admin_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header of another scheme than `Bearer`.
    NotBearer,
    /// A bearer token that is none of those given.
    Wrong,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Missing => "missing_token",
            Refusal::NotBearer => "not_bearer",
            Refusal::Wrong => "wrong_token",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => {
                "this endpoint needs an admin token: send Authorization: Bearer <token>"
            }
            Refusal::NotBearer => "the Authorization header must be Bearer <token>",
            Refusal::Wrong => "the admin token is not valid",
        }
    }
}

/// The guard in front of an admin route (an axum `from_fn_with_state` middleware).
pub async fn require_token(
    State(auth): State<Arc<AdminAuth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.refusal(&request) {
        None => next.run(request).await,
        Some(refusal) => {
            metrics::admin_refused(refusal.reason());
            ApiError::Unauthorized(refusal).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> Request {
        let mut builder = Request::builder().uri("/events");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(axum::body::Body::empty()).unwrap()
    }

    fn auth(tokens: &[&str]) -> AdminAuth {
        AdminAuth {
            tokens: tokens
                .iter()
                .map(|t| AdminToken::parse(t).unwrap())
                .collect(),
            metrics_public: false,
        }
    }

    #[test]
    fn any_of_the_tokens_passes_and_nothing_else() {
        let auth = auth(&["first-token-0123456789", "second-token-0123456789"]);

        assert_eq!(
            auth.refusal(&request(Some("Bearer first-token-0123456789"))),
            None
        );
        assert_eq!(
            auth.refusal(&request(Some("bearer second-token-0123456789"))),
            None
        );
        assert_eq!(auth.refusal(&request(None)), Some(Refusal::Missing));
        assert_eq!(
            auth.refusal(&request(Some("Basic Zmlyc3QtdG9rZW4="))),
            Some(Refusal::NotBearer)
        );
        assert_eq!(
            auth.refusal(&request(Some("Bearer first-token-012345678"))),
            Some(Refusal::Wrong)
        );
        assert_eq!(
            auth.refusal(&request(Some("Bearer  first-token-0123456789"))),
            Some(Refusal::Wrong)
        );
    }

    #[test]
    fn short_or_unprintable_tokens_are_refused_without_repeating_them() {
        assert_eq!(
            AdminToken::parse("short").unwrap_err(),
            TokenError::TooShort
        );
        let spaced = AdminToken::parse("a token with spaces in it").unwrap_err();
        assert_eq!(spaced, TokenError::NotVisibleAscii);
        assert!(!spaced.to_string().contains("spaces in it"));
        let token = AdminToken::parse("a-long-enough-token").unwrap();
        assert!(!format!("{token:?}").contains("long"));
    }

    #[test]
    fn generated_tokens_are_url_safe_distinct_and_accepted() {
        let (a, b) = (generate_token().unwrap(), generate_token().unwrap());
        assert_eq!(a.len(), 47);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
        assert!(AdminToken::parse(&a).is_ok());
    }

    #[test]
    fn metrics_public_opens_only_metrics_and_no_token_opens_everything() {
        let mut auth = auth(&["first-token-0123456789"]);
        assert!(auth.guards("/metrics") && auth.guards("/events"));
        auth.metrics_public = true;
        assert!(!auth.guards("/metrics") && auth.guards("/events"));
        assert!(!AdminAuth::default().guards("/events"));
        assert!(
            !auth.guards("/") && !auth.guards("/ui/{file}"),
            "the page asks for it"
        );
    }
}
