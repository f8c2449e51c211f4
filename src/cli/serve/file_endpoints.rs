//! The `[[endpoints]]` of `serve --config FILE`, upserted into the store at start: each
//! found by its `id`, else its `name`; created when none is found, changed when the file
//! says otherwise, and left alone (its `updated_at` too) when the file says the same.

use anyhow::bail;
use chrono::Utc;

use crate::cli::config_file::FileEndpoint;
use crate::server::store::{EndpointWrite, EventStore, Put};

/// Counts of what the upsert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upserted {
    pub created: usize,
    pub changed: usize,
    pub unchanged: usize,
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
                        break;
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
