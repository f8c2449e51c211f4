//! `serve --source`: which source reads `POST /webhook` and each `/webhook/{name}`, and
//! the secrets each is verified with (`--secret` for the first, `--source-secret` and
//! `--source-secret-file` for the others).

use std::sync::Arc;

use anyhow::Context;

use crate::alert::signing::Secret;
use crate::cli::secret_options::{SecretKind, SecretText};
use crate::server::mounts::{Mount, Mounts};
use crate::server::routes::WEBHOOK;
use crate::source::{Rules, Source};

use super::{ServeArgs, SourceArg};

/// The `--source` of `POST /webhook` when it is not the event model.
pub(super) fn main_source(args: &ServeArgs) -> Option<&SourceArg> {
    args.source
        .iter()
        .find(|s| s.path.is_none())
        .filter(|s| s.name != "event")
}

/// The source of `POST /webhook` and those mounted on their own paths, with their secrets:
/// `--secret` for the first, `--source-secret KEY=SECRET` for the others.
pub(super) fn mounts(args: &ServeArgs) -> anyhow::Result<Mounts> {
    let rules = Rules {
        id_from: args.id_from.clone(),
        type_from: args.type_from.clone(),
    };
    let mut keyed = SecretText::split_keyed(&args.source_secret)?;
    for text in &args.source_secret_file {
        let Some((key, path)) = text.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            anyhow::bail!("--source-secret-file expects KEY=PATH, got {text:?}");
        };
        for secret in SecretText::read_file(std::path::Path::new(path))? {
            keyed.push((key.to_string(), secret));
        }
    }
    let mut mounts = Mounts::default();
    let mut main_given = false;
    let mut located = false;
    for arg in &args.source {
        let source = Source::parse(&arg.name, &rules)?;
        located |= matches!(source, Source::Json(_) | Source::Schema(..));
        let mount = |path: &str, secrets| Mount {
            path: path.to_string(),
            source: source.clone(),
            secrets,
            tolerance: args.verify_tolerance,
        };
        match &arg.path {
            None => {
                if std::mem::replace(&mut main_given, true) {
                    anyhow::bail!(
                        "POST /webhook takes one source; mount the others with NAME=/webhook/PATH"
                    );
                }
                if matches!(source, Source::Event) {
                    continue;
                }
                let secrets = secrets_of(&source, &args.secrets.load(SecretKind::Raw)?, || {
                    args.secrets.load(SecretKind::Whsec)
                })?;
                mounts.main = Some(Arc::new(mount(WEBHOOK, secrets)));
            }
            Some(path) => {
                if mounts.others.iter().any(|m| &m.path == path) {
                    anyhow::bail!("two sources are mounted on {path}");
                }
                let mount_name = path.rsplit('/').next().unwrap_or(path);
                let texts = take_keyed(&mut keyed, &[path, mount_name, &arg.name]);
                let secrets = SecretText::parse_all(&texts, SecretKind::Raw)?;
                let secrets = secrets_of(&source, &secrets, || {
                    SecretText::parse_all(&texts, SecretKind::Whsec)
                })
                .with_context(|| format!("--source-secret for {path}"))?;
                mounts.others.push(Arc::new(mount(path, secrets)));
            }
        }
    }
    if !located && (rules.id_from.is_some() || rules.type_from.is_some()) {
        anyhow::bail!(
            "--id-from and --type-from say where the json and schema:FILE sources find an \
             event's id and type; give --source json or --source schema:FILE"
        );
    }
    if let Some((key, _)) = keyed.first() {
        anyhow::bail!(
            "--source-secret(-file) {key}=…: no source is mounted with that name or path"
        );
    }
    Ok(mounts)
}

/// The secrets of `source`: `raw` as given, or as `whsec_` secrets for Standard Webhooks;
/// an error for a source without a signature scheme.
fn secrets_of(
    source: &Source,
    raw: &[Secret],
    whsec: impl FnOnce() -> anyhow::Result<Vec<Secret>>,
) -> anyhow::Result<Vec<Secret>> {
    match source.scheme() {
        _ if raw.is_empty() => Ok(Vec::new()),
        None => anyhow::bail!(
            "the {} source has no signature scheme: a secret does not apply to it",
            source.name()
        ),
        Some(scheme) if scheme.whsec() => whsec(),
        Some(_) => Ok(raw.to_vec()),
    }
}

/// Takes out of `keyed` the secrets whose key is any of `keys`.
fn take_keyed(keyed: &mut Vec<(String, SecretText)>, keys: &[&str]) -> Vec<SecretText> {
    let (taken, kept): (Vec<_>, Vec<_>) = std::mem::take(keyed)
        .into_iter()
        .partition(|(key, _)| keys.contains(&key.as_str()));
    *keyed = kept;
    taken.into_iter().map(|(_, text)| text).collect()
}
