//! The `[[endpoints]]` of `serve --config FILE`, upserted into the store at start: each
//! found by its `id`, else its `name`; created when none is found, changed when the file
//! says otherwise, and left alone (its `updated_at` too) when the file says the same.
//! The ids of those whose secret the file sets are kept: the API refuses to rotate them.

use anyhow::bail;
use chrono::Utc;

use crate::cli::config_file::FileEndpoint;
use crate::server::endpoints::Endpoint;
use crate::server::store::{EndpointWrite, EventStore, Put};

/// Counts of what the upsert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upserted {
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
    /// The ids of the endpoints whose secret the file sets.
    pub secret_set: Vec<String>,
}

impl Upserted {
    fn note_secret(&mut self, wanted: &FileEndpoint, endpoint: &Endpoint) {
        if wanted.changes.secret.is_some() {
            self.secret_set.push(endpoint.id.clone());
        }
    }
}

/// Writes the file's endpoints into `store`.
pub async fn upsert(store: &dyn EventStore, file: &[FileEndpoint]) -> anyhow::Result<Upserted> {
    let mut done = Upserted::default();
    for wanted in file {
        // Twice at most: another instance on the same database may create it meanwhile.
        for round in 0..2 {
            let now = Utc::now();
            let (endpoint, put) = match store.endpoint(&wanted.key).await? {
                Some(existing) => {
                    let mut endpoint = existing.clone();
                    wanted
                        .changes
                        .clone()
                        .apply(&mut endpoint, existing.updated_at);
                    if endpoint == existing {
                        done.unchanged += 1;
                        done.note_secret(wanted, &endpoint);
                        break;
                    }
                    if endpoint.secret != existing.secret {
                        // Set by the API (a rotation by an instance without this file, or
                        // before the file set it): the file's wins, without grace.
                        tracing::warn!(endpoint = %endpoint.id, name = endpoint.name,
                            previous_secrets_dropped = existing.previous_secrets.len(),
                            "the config file's secret replaces the endpoint's stored secret; \
                             deliveries are signed with the file's alone");
                    }
                    endpoint.updated_at = now;
                    (endpoint, Put::Replace)
                }
                None => (wanted.changes.clone().create(now)?, Put::Create),
            };
            match store.put_endpoint(&endpoint, put).await? {
                EndpointWrite::Done => {
                    tracing::info!(endpoint = %endpoint.id, name = endpoint.name, url = %endpoint.url,
                        created = put == Put::Create, "endpoint from the config file");
                    match put {
                        Put::Create => done.created += 1,
                        Put::Replace => done.changed += 1,
                    }
                    done.note_secret(wanted, &endpoint);
                    break;
                }
                EndpointWrite::NameTaken => bail!(
                    "endpoint {}: another endpoint is named {:?} already",
                    wanted.key,
                    endpoint.name.as_deref().unwrap_or_default()
                ),
                EndpointWrite::IdConflict if round == 0 => continue,
                EndpointWrite::IdConflict => {
                    bail!(
                        "endpoint {}: written by another instance meanwhile",
                        wanted.key
                    )
                }
            }
        }
    }
    Ok(done)
}
