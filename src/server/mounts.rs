//! Which source reads the requests of each webhook path: `POST /webhook` (the model unless
//! `serve --source NAME` says otherwise) and the sources mounted on `/webhook/{name}` by
//! `--source NAME=PATH`, each with the secrets it is verified with.

use std::sync::Arc;

use axum::http::HeaderMap;

use crate::alert::signing::{self, Secret, Tolerance};
use crate::source::{Scheme, Source};

use super::error::ApiError;
use super::routes::WEBHOOK;
use super::store::{Signature, SignatureHeaders, SignatureScheme};

/// One source on one path.
#[derive(Debug, Clone)]
pub struct Mount {
    /// `/webhook` or `/webhook/{name}`.
    pub path: String,
    pub source: Source,
    /// Its provider's secrets; with none, signatures are not checked.
    pub secrets: Vec<Secret>,
    /// How far a signed timestamp (Standard, Stripe, Slack) may be from now.
    pub tolerance: Tolerance,
}

impl Mount {
    /// `Err(ApiError::InvalidSignature)` (401) unless the request carries the provider's
    /// signature, when the mount has secrets; counted as `--verify`'s refusals are.
    pub fn check(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
        let Some(scheme) = self.source.scheme() else {
            return Ok(());
        };
        if self.secrets.is_empty() {
            return Ok(());
        }
        scheme
            .verify(&self.secrets, headers, body, self.tolerance)
            .map_err(|e| {
                tracing::debug!(
                    reason = e.reason(),
                    source = self.source.name(),
                    "webhook signature refused"
                );
                super::metrics::signature_refused(e.reason());
                ApiError::InvalidSignature(e)
            })
    }

    /// The `webhook-id` a checked signature vouches for: Standard Webhooks' (or Svix's)
    /// when the mount has secrets; no other scheme signs an id.
    pub fn verified_id(&self, headers: &HeaderMap) -> Option<String> {
        if self.secrets.is_empty() || self.source.scheme() != Some(Scheme::Standard) {
            return None;
        }
        let id = signing::message_id(headers)?.trim();
        (!id.is_empty() && id.len() <= crate::source::MAX_ID_BYTES).then(|| id.to_string())
    }

    /// How a request that passed [`Mount::check`] was signed, as the event keeps it;
    /// `None` when no signature is checked.
    pub fn signature(&self, headers: &HeaderMap) -> Option<Signature> {
        if self.secrets.is_empty() {
            return None;
        }
        let (scheme, names) = match self.source.scheme()? {
            Scheme::Standard => {
                let svix = signing::header_names(headers)[0] == signing::SVIX_HEADERS[0];
                let names = if svix {
                    SignatureHeaders::Svix
                } else {
                    SignatureHeaders::Webhook
                };
                (SignatureScheme::Standard, names)
            }
            Scheme::Github => (SignatureScheme::Github, SignatureHeaders::HubSignature256),
            Scheme::Stripe => (SignatureScheme::Stripe, SignatureHeaders::StripeSignature),
            Scheme::Shopify => (
                SignatureScheme::Shopify,
                SignatureHeaders::ShopifyHmacSha256,
            ),
            Scheme::Slack => (SignatureScheme::Slack, SignatureHeaders::SlackSignature),
        };
        Some(Signature {
            scheme,
            headers: names,
            verified: true,
        })
    }
}

/// The sources of every webhook path.
#[derive(Debug, Clone, Default)]
pub struct Mounts {
    /// The source of `POST /webhook`; `None` is the model, read as it always was (with
    /// `--verify`).
    pub main: Option<Arc<Mount>>,
    /// Sources on `/webhook/{name}`.
    pub others: Vec<Arc<Mount>>,
}

impl Mounts {
    /// The source mounted on `/webhook/{name}`.
    pub fn find(&self, name: &str) -> Option<&Arc<Mount>> {
        self.others.iter().find(|m| {
            m.path
                .strip_prefix(WEBHOOK)
                .and_then(|rest| rest.strip_prefix('/'))
                == Some(name)
        })
    }
}

/// Checks a mount path: `/webhook/NAME`, NAME of letters, digits, `-`, `_` and `.`.
pub fn check_path(path: &str) -> Result<(), String> {
    let name = path
        .strip_prefix(WEBHOOK)
        .and_then(|rest| rest.strip_prefix('/'))
        .unwrap_or("");
    let fine = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "a source is mounted on /webhook/NAME (NAME of letters, digits, '-', '_', '.'), got {path:?}"
        ))
    }
}
