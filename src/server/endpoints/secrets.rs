//! An endpoint's secrets over time: the rotated-out ones that keep signing beside the
//! current one until their own grace periods end (at most [`MAX_PREVIOUS_SECRETS`]), the
//! rotation that keeps them, the stored document that reads the older single
//! `previous_secret`, and the endpoints whose secret a config file sets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Endpoint, MAX_PREVIOUS_SECRETS};

/// An endpoint as the stores write it. `previous_secret` is the only previous secret of
/// documents written before several could sign at once; it is still written (the newest
/// of `previous_secrets`) so that an older hookrelay on the same store keeps signing
/// with it.
#[derive(Serialize, Deserialize)]
pub(super) struct StoredEndpoint {
    id: String,
    name: Option<String>,
    url: String,
    filter_types: Vec<String>,
    secret: String,
    previous_secret: Option<PreviousSecret>,
    #[serde(default)]
    previous_secrets: Vec<PreviousSecret>,
    headers: BTreeMap<String, String>,
    rate_limit: Option<u64>,
    description: Option<String>,
    disabled: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<StoredEndpoint> for Endpoint {
    fn from(doc: StoredEndpoint) -> Self {
        // An older hookrelay writes `previous_secret` alone (and drops `previous_secrets`).
        let previous_secrets = match doc.previous_secrets.is_empty() {
            true => doc.previous_secret.into_iter().collect(),
            false => doc.previous_secrets,
        };
        Endpoint {
            id: doc.id,
            name: doc.name,
            url: doc.url,
            filter_types: doc.filter_types,
            secret: doc.secret,
            previous_secrets,
            headers: doc.headers,
            rate_limit: doc.rate_limit,
            description: doc.description,
            disabled: doc.disabled,
            created_at: doc.created_at,
            updated_at: doc.updated_at,
        }
    }
}

impl From<Endpoint> for StoredEndpoint {
    fn from(e: Endpoint) -> Self {
        StoredEndpoint {
            id: e.id,
            name: e.name,
            url: e.url,
            filter_types: e.filter_types,
            secret: e.secret,
            previous_secret: e.previous_secrets.first().cloned(),
            previous_secrets: e.previous_secrets,
            headers: e.headers,
            rate_limit: e.rate_limit,
            description: e.description,
            disabled: e.disabled,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// A rotated-out secret and when it stops signing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

impl Endpoint {
    /// The secrets that sign a delivery made at `now`: the current one, then each previous
    /// one whose grace period lasts, newest first.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(self.live_previous_secrets(now).map(|p| p.secret.as_str()))
            .collect()
    }

    /// The previous secrets still signing at `now`, newest first.
    pub fn live_previous_secrets(
        &self,
        now: DateTime<Utc>,
    ) -> impl Iterator<Item = &PreviousSecret> {
        self.previous_secrets
            .iter()
            .filter(move |p| p.expires_at > now)
    }
}

/// The stored endpoints whose `secret` a config file (`serve --config FILE`) sets. The
/// file is their secret's authority: it puts its secret back at every start, so a
/// rotation through the API, which would last until the next start only, is refused.
#[derive(Debug, Clone, Default)]
pub struct FileSecrets {
    /// The file, as `--config` named it.
    pub file: String,
    /// The ids of those endpoints.
    pub ids: Vec<String>,
}

impl FileSecrets {
    /// Whether the file sets the secret of the endpoint `id`.
    pub fn sets(&self, id: &str) -> bool {
        self.ids.iter().any(|i| i == id)
    }
}

/// Why a rotation is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateError {
    /// [`MAX_PREVIOUS_SECRETS`] previous secrets sign already; the earliest expiry is when
    /// one stops.
    TooManyPrevious { earliest_expiry: DateTime<Utc> },
    /// The new secret given is the current one.
    SameSecret,
}

/// Replaces the secret of `endpoint` with `new`, keeping the old one signing until
/// `now + grace` (not at all when `grace` is zero) beside the previous ones still in
/// their own grace periods; those that ended are dropped. Refused when
/// [`MAX_PREVIOUS_SECRETS`] would be exceeded: rotating then would revoke a secret before
/// the end of the grace it was promised.
pub fn rotate(
    endpoint: &mut Endpoint,
    new: String,
    grace: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<(), RotateError> {
    if new == endpoint.secret {
        return Err(RotateError::SameSecret);
    }
    let mut kept: Vec<PreviousSecret> = endpoint
        .live_previous_secrets(now)
        // A previous secret given again becomes the current one.
        .filter(|p| p.secret != new)
        .cloned()
        .collect();
    if grace > chrono::Duration::zero() {
        if kept.len() >= MAX_PREVIOUS_SECRETS {
            let earliest_expiry = kept.iter().map(|p| p.expires_at).min().unwrap_or(now);
            return Err(RotateError::TooManyPrevious { earliest_expiry });
        }
        kept.insert(
            0,
            PreviousSecret {
                secret: endpoint.secret.clone(),
                expires_at: now + grace,
            },
        );
    }
    endpoint.secret = new;
    endpoint.previous_secrets = kept;
    endpoint.updated_at = now;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Purpose, read};
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends() {
        let now = Utc::now();
        let mut endpoint = read(&json!({"url": "http://127.0.0.1:9/"}), Purpose::Create, "")
            .unwrap()
            .create(now)
            .unwrap();
        let old = endpoint.secret.clone();
        rotate(
            &mut endpoint,
            "whsec_new".into(),
            chrono::Duration::seconds(60),
            now,
        )
        .unwrap();
        assert_eq!(endpoint.signing_secrets(now), ["whsec_new", old.as_str()]);
        let later = now + chrono::Duration::seconds(61);
        assert_eq!(endpoint.signing_secrets(later), ["whsec_new"]);
    }

    #[test]
    fn each_previous_secret_signs_until_its_own_grace_ends_and_their_number_is_bounded() {
        let now = Utc::now();
        let mut endpoint = read(&json!({"url": "http://127.0.0.1:9/"}), Purpose::Create, "")
            .unwrap()
            .create(now)
            .unwrap();
        let a = endpoint.secret.clone();
        let secs = chrono::Duration::seconds;
        rotate(&mut endpoint, "whsec_b".into(), secs(60), now).unwrap();
        rotate(&mut endpoint, "whsec_c".into(), secs(10), now + secs(1)).unwrap();
        assert_eq!(
            endpoint.signing_secrets(now + secs(2)),
            ["whsec_c", "whsec_b", a.as_str()]
        );
        assert_eq!(
            endpoint.signing_secrets(now + secs(30)),
            ["whsec_c", a.as_str()],
            "b's grace of 10 s ended; a's of 60 s lasts"
        );
        for (i, new) in ["whsec_d", "whsec_e"].into_iter().enumerate() {
            rotate(
                &mut endpoint,
                new.into(),
                secs(60),
                now + secs(2 + i as i64),
            )
            .unwrap();
        }
        assert_eq!(endpoint.previous_secrets.len(), MAX_PREVIOUS_SECRETS);
        let before = endpoint.clone();
        assert_eq!(
            rotate(&mut endpoint, "whsec_f".into(), secs(60), now + secs(5)),
            Err(RotateError::TooManyPrevious {
                earliest_expiry: now + secs(11)
            })
        );
        assert_eq!(endpoint, before, "a refused rotation changes nothing");
        // Once b's grace ended there is room again; a rotation without grace needs none.
        rotate(&mut endpoint, "whsec_f".into(), secs(60), now + secs(12)).unwrap();
        rotate(&mut endpoint, "whsec_g".into(), secs(0), now + secs(13)).unwrap();
        assert_eq!(
            endpoint.signing_secrets(now + secs(13)),
            ["whsec_g", "whsec_e", "whsec_d", "whsec_c", a.as_str()]
        );
    }

    #[test]
    fn a_document_of_an_older_version_with_one_previous_secret_still_loads() {
        let expires_at = Utc::now() + chrono::Duration::hours(1);
        let old = json!({
            "id": "ep_1", "name": "acme", "url": "http://127.0.0.1:9/",
            "filter_types": [], "secret": "whsec_new",
            "previous_secret": {"secret": "whsec_old", "expires_at": expires_at},
            "headers": {}, "rate_limit": null, "description": null, "disabled": false,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"
        });
        let endpoint: Endpoint = serde_json::from_value(old).unwrap();
        assert_eq!(
            endpoint.signing_secrets(Utc::now()),
            ["whsec_new", "whsec_old"]
        );
        // Written back, an older version still finds the newest previous secret.
        let written = serde_json::to_value(&endpoint).unwrap();
        assert_eq!(written["previous_secret"]["secret"], "whsec_old");
        assert_eq!(written["previous_secrets"][0]["secret"], "whsec_old");
        let again: Endpoint = serde_json::from_value(written).unwrap();
        assert_eq!(again, endpoint);
    }
}
