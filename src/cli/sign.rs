//! `hookrelay sign`: print the Standard Webhooks headers for a body, for scripts and curl.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::alert::signing::{self, MessageId, Signer};

use super::input::read_input;
use super::secret_options::{SecretKind, SecretSource, WHSEC_HELP};

const SIGN_EXAMPLES: &str = "\
Examples:
  hookrelay sign --secret-file secrets.txt event.json
  hookrelay sign --secret-file secrets.txt --id msg_1 --timestamp 1614265330 - < body.json
  hookrelay sign --secret-file secrets.txt event.json > headers.txt
  curl --fail -H @headers.txt -H 'content-type: application/json' --data-binary @event.json URL

Prints webhook-id, webhook-timestamp and webhook-signature, one 'name: value' per line.
Exit codes: 0 printed, 2 usage error, unreadable file or bad secret.";

/// Print Standard Webhooks signature headers for a body
// The field docs are clap's help text, written for a terminal, not for rustdoc.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Args)]
#[command(after_help = SIGN_EXAMPLES, mut_arg("secrets", |a| a.help(WHSEC_HELP)))]
pub struct SignArgs {
    #[command(flatten)]
    pub secrets: SecretSource,

    /// webhook-id [default: evt_<event_id> of the body]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// webhook-timestamp, unix seconds [default: now]
    #[arg(long, value_name = "SECONDS")]
    pub timestamp: Option<i64>,

    /// The body to sign, byte for byte (- for stdin)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

pub fn run(args: SignArgs) -> anyhow::Result<ExitCode> {
    let secrets = args.secrets.load_required(SecretKind::Whsec)?;
    let body = read_input(&args.file)?;
    let id = match args.id {
        Some(id) => MessageId::new(id)?,
        None => default_id(&body)?,
    };
    let timestamp = args.timestamp.unwrap_or_else(signing::now_unix);
    let signer = Signer::new(secrets).context("no secret")?;
    let headers = signer.headers_at(&id, timestamp, &body);
    let mut text = String::new();
    for name in [
        signing::HEADER_ID,
        signing::HEADER_TIMESTAMP,
        signing::HEADER_SIGNATURE,
    ] {
        let value = headers[name].to_str().unwrap_or_default();
        text.push_str(&format!("{name}: {value}\n"));
    }
    super::print_out(&text)?;
    Ok(super::exit(super::EXIT_OK))
}

/// `evt_<event_id>` when the body is an object with an integer `event_id`.
fn default_id(body: &[u8]) -> anyhow::Result<MessageId> {
    let event_id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("event_id")?.as_i64());
    match event_id {
        Some(event_id) => Ok(MessageId::for_event(event_id)),
        None => bail!("the body has no integer event_id to derive an id from: give --id"),
    }
}
