//! `hookrelay verify`: check a Standard Webhooks signature of a body; with `--explain`, show
//! what was signed, what was expected and received, and which check failed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::alert::signing::{self, Secret, Tolerance, VerifyError};

use super::input::read_input;
use super::secret_options::{SecretKind, SecretSource, WHSEC_HELP};
use super::values::parse_duration;

const VERIFY_EXAMPLES: &str = "\
Examples, with the specification's test vector (body.json holds {\"test\": 2432232314}
without a final newline, secrets.txt the secret):
  hookrelay verify --secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw \\
      --id msg_p5jXN8AQM9LWM0D4loKWxJek --timestamp 1614265330 --tolerance off \\
      --signature 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' body.json
  hookrelay verify --secret-file secrets.txt \\
      --id msg_p5jXN8AQM9LWM0D4loKWxJek --timestamp 1614265330 --tolerance off \\
      --signature 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' --explain - < body.json

Checks the timestamp against the tolerance, then whether any v1 signature matches any
secret over '<id>.<timestamp>.<body>' (the exact body bytes).
Exit codes: 0 valid, 1 invalid, 2 usage error, unreadable file or bad secret.";

/// Verify a Standard Webhooks signature of a body
// The field docs are clap's help text, written for a terminal, not for rustdoc.
#[allow(rustdoc::invalid_html_tags)]
#[derive(Debug, Args)]
#[command(after_help = VERIFY_EXAMPLES, mut_arg("secrets", |a| a.help(WHSEC_HELP)))]
pub struct VerifyArgs {
    #[command(flatten)]
    pub secrets: SecretSource,

    /// The webhook-id header
    #[arg(long, value_name = "ID")]
    pub id: String,

    /// The webhook-timestamp header (unix seconds)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub timestamp: String,

    /// The webhook-signature header (space-separated v1,<base64> entries)
    #[arg(long, value_name = "SIGNATURES", allow_hyphen_values = true)]
    pub signature: String,

    /// Largest distance of the timestamp from now, or 'off'
    #[arg(long, default_value = "5m", value_name = "DURATION|off", value_parser = parse_tolerance)]
    pub tolerance: Tolerance,

    /// Show the signed content's length, the expected and received signatures, and the check
    #[arg(long)]
    pub explain: bool,

    /// The body as received, byte for byte (- for stdin)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

/// `off`, or a duration such as `5m`.
pub fn parse_tolerance(text: &str) -> Result<Tolerance, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Tolerance::Off);
    }
    parse_duration(text)
        .map(Tolerance::Within)
        .map_err(|e| format!("{e}, or off"))
}

pub fn run(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let secrets = args.secrets.load_required(SecretKind::Whsec)?;
    let body = read_input(&args.file)?;
    let now = signing::now_unix();
    let result = signing::verify_standard_parts(
        &secrets,
        &args.id,
        &args.timestamp,
        &args.signature,
        &body,
        args.tolerance,
        now,
    );
    let mut text = String::new();
    if args.explain {
        text = explain(&args, &secrets, &body, now);
    }
    match &result {
        Ok(()) => text.push_str("valid\n"),
        Err(e) => text.push_str(&format!("invalid: {}: {e}\n", e.reason())),
    }
    super::print_out(&text)?;
    Ok(super::exit(match result {
        Ok(()) => super::EXIT_OK,
        Err(_) => super::EXIT_NEGATIVE,
    }))
}

fn explain(args: &VerifyArgs, secrets: &[Secret], body: &[u8], now: i64) -> String {
    let mut out = String::new();
    let mut line = |label: &str, value: String| out.push_str(&format!("{label:<15} {value}\n"));
    let timestamp = signing::parse_timestamp(args.timestamp.trim());
    let content = match &timestamp {
        Ok(ts) => {
            let ts_len = ts.to_string().len();
            format!(
                "{} bytes = id ({}) + '.' + timestamp ({ts_len}) + '.' + body ({})",
                args.id.len() + ts_len + body.len() + 2,
                args.id.len(),
                body.len()
            )
        }
        Err(_) => "none: the timestamp is not unix seconds".into(),
    };
    line("signed content:", content);
    let ts_check = match timestamp {
        Ok(ts) => {
            let when = chrono::DateTime::from_timestamp(ts, 0)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "out of range".into());
            line("timestamp:", format!("{ts} ({when}), now is {now}"));
            let within = signing::check_timestamp(ts, now, args.tolerance);
            line("tolerance:", tolerance_text(args.tolerance, &within));
            for (i, secret) in secrets.iter().enumerate() {
                let expected = signing::sign(std::slice::from_ref(secret), &args.id, ts, body);
                line("expected:", format!("{expected} (secret {})", i + 1));
            }
            within
        }
        Err(e) => {
            line("timestamp:", format!("{e}; nothing to sign with"));
            Err(e)
        }
    };
    for entry in args.signature.split_whitespace() {
        line("received:", entry.to_string());
    }
    if args.signature.split_whitespace().next().is_none() {
        line("received:", "(none)".into());
    }
    let failed = match ts_check {
        Err(e) => format!("timestamp: {}", e.reason()),
        Ok(()) => match signing::verify_standard_parts(
            secrets,
            &args.id,
            &args.timestamp,
            &args.signature,
            body,
            Tolerance::Off,
            now,
        ) {
            Ok(()) => "none: a signature matches".into(),
            Err(e) => format!("signature: {}", e.reason()),
        },
    };
    line("failed check:", failed);
    if body.ends_with(b"\n") {
        line(
            "note:",
            "the body ends with a newline, which is signed too".into(),
        );
    }
    out
}

fn tolerance_text(tolerance: Tolerance, within: &Result<(), VerifyError>) -> String {
    let limit = match tolerance {
        Tolerance::Off => return "off".into(),
        Tolerance::Within(d) => format!("{}s", d.as_secs()),
    };
    match within {
        Ok(()) => format!("{limit}: within"),
        Err(e) => format!("{limit}: {e}"),
    }
}
