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
    check_keys(args)?;
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
                let texts = take_keyed(&mut keyed, &[path, last_part(path), &arg.name]);
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

/// A source a `--source-secret` key names, and how it names it.
struct Named<'a> {
    /// Its path; `None` for `POST /webhook`, whose secret is `--secret`.
    path: Option<&'a str>,
    how: &'static str,
}

/// The sources `key` names: a mounted one by its path, its path's last part or its
/// source's name; `POST /webhook`'s (not the model) by its source's name.
fn named_by<'a>(args: &'a ServeArgs, key: &str) -> Vec<Named<'a>> {
    args.source
        .iter()
        .filter_map(|arg| {
            let how = match arg.path.as_deref() {
                Some(path) if key == path => "by its path",
                Some(path) if key == last_part(path) => "by its path's last part",
                Some(_) if key == arg.name => "by its source's name",
                None if key == arg.name && arg.name != "event" => "by its source's name",
                _ => return None,
            };
            Some(Named {
                path: arg.path.as_deref(),
                how,
            })
        })
        .collect()
}

/// Refuses a key of `--source-secret` or `--source-secret-file` that names more than one
/// source, which would give the secret to one and leave the other unchecked, or only
/// `POST /webhook`'s, which takes `--secret`. A key naming none is refused once every
/// mount has taken its own, a text without a key when it is read ([`mounts`]).
pub(super) fn check_keys(args: &ServeArgs) -> anyhow::Result<()> {
    let secrets = args.source_secret.iter().filter_map(SecretText::key);
    let files = args.source_secret_file.iter().filter_map(|text| {
        text.split_once('=')
            .map(|(key, _)| key)
            .filter(|key| !key.is_empty())
    });
    let keys = (secrets.map(|key| ("--source-secret", key)))
        .chain(files.map(|key| ("--source-secret-file", key)));
    for (flag, key) in keys {
        let named = named_by(args, key);
        let shown = |n: &Named| n.path.unwrap_or(WEBHOOK).to_string();
        match &named[..] {
            [] => {}
            [Named { path: None, .. }] => anyhow::bail!(
                "{flag} {key}=…: {key} names the source of POST {WEBHOOK}, whose secret is \
                 given with --secret; {flag} is for the sources mounted on {WEBHOOK}/NAME"
            ),
            [_] => {}
            several => {
                let mut listed: Vec<String> = several
                    .iter()
                    .map(|n| format!("{} ({})", shown(n), n.how))
                    .collect();
                let last = listed.pop().unwrap_or_default();
                let exact: Vec<String> = several
                    .iter()
                    .filter_map(|n| n.path.map(|path| format!("{flag} {path}=…")))
                    .collect();
                let main = if several.iter().any(|n| n.path.is_none()) {
                    format!("; POST {WEBHOOK}'s source takes its secret from --secret")
                } else {
                    String::new()
                };
                anyhow::bail!(
                    "{flag} {key}=…: {key} names {} sources, {} and {last}; give the whole \
                     path as KEY to be exact: {}{main}",
                    several.len(),
                    listed.join(", "),
                    exact.join(" or ")
                );
            }
        }
    }
    Ok(())
}

/// Logs a warning for each provider's source that checks no signature, no secret being
/// given for it: anyone who can reach the port can post it events.
pub(super) fn warn_unchecked(args: &ServeArgs, mounts: &Mounts) {
    let all = mounts.main.iter().chain(&mounts.others);
    for mount in all.filter(|m| m.source.scheme().is_some() && m.secrets.is_empty()) {
        let give = if mount.path == WEBHOOK {
            "--secret SECRET (or --secret-file PATH)".to_string()
        } else {
            // The shortest key that names this source alone.
            let name = last_part(&mount.path);
            let key = if named_by(args, name).len() == 1 {
                name
            } else {
                &mount.path
            };
            format!("--source-secret {key}=SECRET (or --source-secret-file {key}=PATH)")
        };
        tracing::warn!(
            path = %mount.path,
            source = mount.source.name(),
            "POST {} takes {} events without checking their signature: no secret was given \
             for it, so anyone who can reach the port can post one; give it with {give}",
            mount.path,
            mount.source.name()
        );
    }
}

/// `gh` of the mount path `/webhook/gh`.
fn last_part(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
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
