//! Where signing secrets come from on the command line: `--secret` (repeatable),
//! `--secret-file PATH` (one per line), `HOOKRELAY_SECRET` or `HOOKRELAY_SECRET_FILE`.
//! Secrets are kept in a wrapper whose `Debug` hides them, and no error message ever
//! repeats one.

use std::fmt;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

use crate::alert::signing::Secret;

/// How the text of a secret is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// Standard Webhooks: `whsec_<base64>`, the prefix optional.
    Whsec,
    /// GitHub: the text itself is the key.
    Raw,
}

/// The text of a secret as given; parsed by [`SecretSource::load`], never by clap, so that a
/// refused value is not echoed in clap's error message.
#[derive(Clone)]
pub struct SecretText(String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

pub fn secret_text(text: &str) -> Result<SecretText, std::convert::Infallible> {
    Ok(SecretText(text.to_string()))
}

impl SecretText {
    /// The secrets of a file, one a line (blank lines skipped).
    pub fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<SecretText>> {
        let content =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Ok(content
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(|l| SecretText(l.to_string()))
            .collect())
    }

    /// The `KEY` of a `KEY=SECRET` text (`--source-secret`), when it has one.
    pub fn key(&self) -> Option<&str> {
        self.0
            .split_once('=')
            .map(|(key, _)| key)
            .filter(|key| !key.is_empty())
    }

    /// Splits `KEY=SECRET` texts (`--source-secret`); an error names the text by position.
    pub fn split_keyed(texts: &[SecretText]) -> anyhow::Result<Vec<(String, SecretText)>> {
        texts
            .iter()
            .enumerate()
            .map(|(i, text)| match text.0.split_once('=') {
                Some((key, secret)) if !key.is_empty() => {
                    Ok((key.to_string(), SecretText(secret.to_string())))
                }
                _ => Err(anyhow::anyhow!(
                    "secret {} of {}: expected KEY=SECRET, with KEY a source's name or path",
                    i + 1,
                    texts.len()
                )),
            })
            .collect()
    }

    /// Parses every secret; an error names the secret by position, never by value.
    pub fn parse_all(texts: &[SecretText], kind: SecretKind) -> anyhow::Result<Vec<Secret>> {
        let texts: Vec<String> = texts.iter().map(|s| s.0.clone()).collect();
        parse_texts(&texts, kind)
    }
}

fn parse_texts(texts: &[String], kind: SecretKind) -> anyhow::Result<Vec<Secret>> {
    texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let parsed = match kind {
                SecretKind::Whsec => Secret::parse(text),
                SecretKind::Raw => Secret::raw(text),
            };
            parsed.with_context(|| format!("secret {} of {}", i + 1, texts.len()))
        })
        .collect()
}

// The field docs are clap's help text, written for a terminal, not for rustdoc.
/// `--secret`'s help for the commands that take Standard Webhooks secrets only (`sign`,
/// `verify`, `send`): `serve --verify github` alone reads a secret as written.
pub const WHSEC_HELP: &str =
    "Signing secret: whsec_ followed by base64 (repeatable, for key rotation)";

// `<base64>` is help text for clap, not HTML for rustdoc.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Clone, Args)]
pub struct SecretSource {
    /// Signing secret: whsec_<base64>, or GitHub's as written (repeatable, for key rotation)
    #[arg(long = "secret", value_name = "SECRET", env = "HOOKRELAY_SECRET",
          hide_env_values = true, value_parser = secret_text)]
    pub secrets: Vec<SecretText>,

    /// Read secrets from a file, one per line
    #[arg(long, value_name = "PATH", env = "HOOKRELAY_SECRET_FILE")]
    pub secret_file: Option<PathBuf>,
}

impl SecretSource {
    /// Every secret given, in order: `--secret`s (or the environment), then the file's.
    pub fn load(&self, kind: SecretKind) -> anyhow::Result<Vec<Secret>> {
        let mut texts: Vec<String> = self.secrets.iter().map(|s| s.0.clone()).collect();
        if let Some(path) = &self.secret_file {
            let content = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            texts.extend(
                content
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_string),
            );
        }
        parse_texts(&texts, kind)
    }

    /// Like [`SecretSource::load`], but at least one secret is required.
    pub fn load_required(&self, kind: SecretKind) -> anyhow::Result<Vec<Secret>> {
        let secrets = self.load(kind)?;
        if secrets.is_empty() {
            bail!("give a secret with --secret, --secret-file or HOOKRELAY_SECRET");
        }
        Ok(secrets)
    }
}
