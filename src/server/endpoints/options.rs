//! Endpoints defined by `serve`'s options: each `--forward-to URL` and `--route GLOB=URL`
//! (or a config file's `forward_to` and `route`) is an endpoint like a stored one, listed
//! by the API with `defined_by: "options"`, but kept by no store: the options make it
//! again at every start, and only they change or remove it. Its id is worked out from its
//! URL and route, so it is the same across restarts and on every instance with the same
//! options.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Endpoint;
use crate::alert::signing::{Signer, hex};

/// An endpoint of the options, as the API shows it.
#[derive(Debug, Clone)]
pub struct OptionsEndpoint {
    pub endpoint: Endpoint,
    /// The key its deliveries are kept under: its URL, as before endpoints were data, so
    /// that deliveries owed from before an upgrade are still made.
    pub target: Arc<str>,
    /// `--forward-secret`'s secrets (`whsec_…`), every one signing each delivery; none
    /// when unsigned.
    pub secrets: Vec<String>,
}

impl OptionsEndpoint {
    /// `GET /endpoints/{id}/secret` of this endpoint: `secret` is the first
    /// `--forward-secret` (`null` when deliveries go unsigned), `secrets` every one.
    pub fn secret_view(&self) -> Value {
        json!({
            "id": self.endpoint.id,
            "secret": self.secrets.first(),
            "previous_secret": null,
            "previous_secret_expires_at": null,
            "previous_secrets": [],
            "secrets": self.secrets,
            "defined_by": super::DefinedBy::Options,
        })
    }
}

/// The id of the endpoint of `--forward-to URL` (no `route`) or `--route GLOB=URL`: `ep_`
/// and 32 hex digits of a SHA-256 of both, in the shape of a generated id.
pub fn id(url: &str, route: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"hookrelay options endpoint\0");
    hash.update(url.as_bytes());
    if let Some(route) = route {
        hash.update(b"\0route\0");
        hash.update(route.as_bytes());
    }
    format!("ep_{}", hex(&hash.finalize()[..16]))
}

/// The endpoint record of one target of the options: its filter the route's glob, its
/// headers `--forward-header`'s, its secret the first of `signer`'s (empty when none).
pub fn endpoint(
    url: &url::Url,
    route: Option<&glob::Pattern>,
    headers: &HeaderMap,
    signer: Option<&Signer>,
    now: DateTime<Utc>,
) -> Endpoint {
    let route = route.map(|p| p.as_str().to_owned());
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        shown
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    Endpoint {
        id: id(url.as_str(), route.as_deref()),
        name: None,
        url: url.as_str().to_owned(),
        filter_types: route.into_iter().collect(),
        secret: signer
            .and_then(|s| s.secrets().first())
            .map(|s| s.to_whsec())
            .unwrap_or_default(),
        previous_secrets: Vec::new(),
        headers: shown,
        rate_limit: None,
        description: None,
        disabled: false,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_depends_on_the_url_and_the_route_alone() {
        let plain = id("http://a/hook", None);
        assert_eq!(plain, id("http://a/hook", None));
        assert!(super::super::is_endpoint_id(&plain), "{plain}");
        assert_eq!(plain.len(), 3 + 32);
        assert_ne!(plain, id("http://b/hook", None));
        assert_ne!(plain, id("http://a/hook", Some("*")));
        assert_ne!(
            id("http://a/hook", Some("a.*")),
            id("http://a/hook", Some("b.*"))
        );
    }

    #[test]
    fn a_target_becomes_an_endpoint_with_its_route_headers_and_first_secret() {
        let url: url::Url = "http://127.0.0.1:9/in".parse().unwrap();
        let route = glob::Pattern::new("order.*").unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-a", "1".parse().unwrap());
        headers.append("x-a", "2".parse().unwrap());
        let secret =
            crate::alert::signing::Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signer = Signer::new(vec![secret.clone()]);
        let now = Utc::now();
        let e = endpoint(&url, Some(&route), &headers, signer.as_ref(), now);
        assert_eq!(e.id, id("http://127.0.0.1:9/in", Some("order.*")));
        assert_eq!(e.filter_types, ["order.*"]);
        assert_eq!(e.headers["x-a"], "1, 2");
        assert_eq!(e.secret, secret.to_whsec());
        let unsigned = endpoint(&url, None, &HeaderMap::new(), None, now);
        assert!(unsigned.filter_types.is_empty());
        assert_eq!(unsigned.secret, "");
    }
}
