//! `hookrelay send`: build an event from flags or a file, validate it, deliver it with
//! retries, and report each attempt.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};

use crate::alert::signing::{MessageId, Signer};
use crate::alert::{self, ClientOptions, Delivery, Outcome, Proxies, RetryPolicy};
use crate::model::{self, Invalid};

use super::input::{problem_lines, problem_values, read_input};
mod provider;

pub use provider::SendAs;

use super::secret_options::{SecretKind, SecretSource};
use super::values::{parse_duration, parse_http_url, parse_send_header, parse_time_allowed};

const SEND_EXAMPLES: &str = "\
Examples:
  hookrelay send --to http://127.0.0.1:5000/webhook --event-id 123
  hookrelay send --to URL --event-id 7 --event-type order.paid --description 'paid in full'
  hookrelay send --to URL --event-id 500 --timestamp 2023-10-05T12:34:56Z   # repeatable
  hookrelay send --to URL --file event.json --event-id 8   # flags override the file's fields
  cat event.json | hookrelay send --to URL --file - --json
  hookrelay send --to URL --event-id 1 --dry-run
  hookrelay send --to URL --event-id 9 --secret-file secrets.txt --id msg_9   # signed
  hookrelay send --to https://127.0.0.1:5443/webhook --event-id 1 --cacert ca.pem
  hookrelay send --as github --sample github.push --to http://127.0.0.1:5000/webhook --secret s3cret
  hookrelay send --as stripe --sample stripe.invoice.paid --to URL --secret whsec_...
  hookrelay send --as shopify --sample shopify.orders.create --event orders/paid --to URL --secret s3cret
  hookrelay send --as stripe --sample stripe.invoice.paid --to URL --secret whsec_new --secret whsec_old
  hookrelay send --as slack --file command.txt --to URL --secret s3cret --dry-run   # a slash command form
  hookrelay send --as json --file order.json --to URL -H 'X-Kind: order.paid'   # any JSON, as it is

--as PROVIDER sends the body (--file or --sample) as that provider does: its headers, a
fresh delivery id per send (the same on every retry, or --id), and with --secret its
signature over the exact bytes, made again with a fresh timestamp for each attempt.
Several --secret sign with each where the scheme carries several signatures (standard:
a space-separated v1 list; stripe: one v1= per secret); github, shopify and slack carry
one, and refuse a second secret. --as slack sends a body that is not JSON as a form
(application/x-www-form-urlencoded), as Slack posts slash commands and interactivity;
-H 'Content-Type: ...' sends it with another type. Without --as, --sample NAME is sent
as the provider it is written for (github for github.push).

Proxies: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY (or lower-case) are honoured as
curl does (https through CONNECT, http forwarded); --no-proxy ignores them.

Without --timestamp the event is stamped with the current time, so sending the same
--event-id twice sends two different bodies, and hookrelay serve answers the second with
409 conflict; give --timestamp to send the same event again (answered as a duplicate).
Retries on connection errors, timeouts, 408, 429 and 5xx with exponential backoff and
jitter, honouring Retry-After; never on other 4xx; redirects are not followed.
Exit codes: 0 delivered, 1 not delivered after retries, 2 invalid payload or usage.";

/// Deliver one event to a URL, with retries
// The field docs are clap's help text, written for a terminal, not for rustdoc.
#[allow(rustdoc::broken_intra_doc_links)]
#[derive(Debug, Args)]
#[command(
    after_help = SEND_EXAMPLES,
    mut_arg("secrets", |a| a.help(SEND_SECRET_HELP)),
    override_usage = "hookrelay send [OPTIONS] --to <URL> (--event-id <ID> | --file <PATH> | --sample <NAME>)"
)]
pub struct SendArgs {
    /// Where to POST the event: an http:// or https:// URL
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub to: url::Url,

    /// event_id of the event (required unless --file gives one)
    #[arg(long, value_name = "ID", allow_negative_numbers = true)]
    pub event_id: Option<i64>,

    /// event_type of the event [default: alert]
    #[arg(long, value_name = "TYPE")]
    pub event_type: Option<String>,

    /// description of the event [default: empty]
    #[arg(long, value_name = "TEXT")]
    pub description: Option<String>,

    /// timestamp of the event, ISO 8601 [default: now, in UTC; give one to repeat a send]
    #[arg(long, value_name = "TIME")]
    pub timestamp: Option<String>,

    /// Read the payload from a file (- for stdin); the flags above override its fields
    #[arg(short = 'f', long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Send a sample payload shipped with hookrelay (`hookrelay samples list`)
    #[arg(long, value_name = "NAME", conflicts_with = "file")]
    pub sample: Option<String>,

    /// Send as this provider does: its headers, and its signature with --secret
    /// [default: the provider --sample is written for, else event]
    #[arg(long = "as", value_enum, value_name = "PROVIDER")]
    pub provider: Option<SendAs>,

    /// The type header of --as github (X-GitHub-Event) or shopify (X-Shopify-Topic)
    /// [default: the sample's]
    #[arg(long, value_name = "TYPE")]
    pub event: Option<String>,

    /// Extra request header, repeatable
    #[arg(short = 'H', long = "header", value_name = "'NAME: VALUE'", value_parser = parse_send_header)]
    pub headers: Vec<(HeaderName, HeaderValue)>,

    /// Time allowed for each attempt
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_time_allowed)]
    pub timeout: Duration,

    /// Time allowed for connecting, within --timeout
    #[arg(long, value_name = "DURATION", value_parser = parse_time_allowed)]
    pub connect_timeout: Option<Duration>,

    /// Retries after the first attempt
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,

    /// Wait before the first retry; doubled for each next one
    #[arg(long, default_value = "500ms", value_name = "DURATION", value_parser = parse_duration)]
    pub retry_backoff: Duration,

    /// Print one JSON result object on stdout instead of the response body
    #[arg(long)]
    pub json: bool,

    /// Print the request that would be sent, and send nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub secrets: SecretSource,

    /// Delivery id, the same on every attempt: webhook-id [default with a secret:
    /// evt_<event_id>], or with --as the provider's [default: a fresh one per send]
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Also trust the CA certificates in this PEM file for https (the public roots stay)
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,

    /// Connect straight to --to, ignoring HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY
    #[arg(long)]
    pub no_proxy: bool,
}

// The field docs are clap's help text, written for a terminal, not for rustdoc.
/// `--secret`'s help: which form each provider's secret takes.
const SEND_SECRET_HELP: &str = "Signing secret (repeatable): whsec_ followed by base64 for the \
event model and --as standard; as written for github, stripe, shopify and slack";

impl SendArgs {
    /// `--as`, or without it the provider `--sample` is written for (`github` for
    /// `github.push`), or the model.
    pub fn provider(&self) -> SendAs {
        use clap::ValueEnum as _;
        self.provider
            .or_else(|| {
                let sample = crate::source::samples::find(self.sample.as_deref()?)?;
                SendAs::from_str(sample.source, false).ok()
            })
            .unwrap_or(SendAs::Event)
    }
}

pub fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    if args.provider() != SendAs::Event {
        return provider::run_as(&args);
    }
    if args.event.is_some() {
        bail!(
            "--event sets the type header of --as github or shopify; the model's is --event-type"
        );
    }
    let headers: HeaderMap = args.headers.iter().cloned().collect();
    let body = payload(&args)?;
    let event = match model::validate_event(&body) {
        Ok(event) => event,
        Err(invalid) => return refuse_invalid(&args, &invalid),
    };
    let signing = AttemptHeaders::new(&args, event.event_id)?;
    let delivery = Delivery {
        endpoint: args.to.clone().into(),
        body: body.into(),
        headers,
    };
    let headers_for = |_attempt: u32| signing.for_attempt(&delivery.body);
    deliver(&args, &delivery, headers_for)
}

/// Sends `delivery` (or prints it with `--dry-run`) and reports the outcome.
pub(super) fn deliver(
    args: &SendArgs,
    delivery: &Delivery,
    headers_for: impl Fn(u32) -> HeaderMap,
) -> anyhow::Result<ExitCode> {
    if args.dry_run {
        let text = if args.json {
            format!("{}\n", dry_run_json(delivery, headers_for(1)))
        } else {
            dry_run_text(delivery, headers_for(1))
        };
        super::print_out(&text)?;
        return Ok(super::exit(super::EXIT_OK));
    }
    let extra_roots = match &args.cacert {
        Some(path) => alert::client::read_certificates(path).context("--cacert")?,
        None => Vec::new(),
    };
    let options = ClientOptions {
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        extra_roots,
        proxies: if args.no_proxy {
            Proxies::Off
        } else {
            Proxies::FromEnv
        },
    };
    let policy = RetryPolicy::exponential(args.retries, args.retry_backoff);
    let total = args.retries + 1;
    let outcome = super::current_thread_runtime()?.block_on(async {
        let client = alert::build_client(options)?;
        let report = |a: &alert::Attempt, wait: Option<Duration>| report_attempt(a, total, wait);
        anyhow::Ok(alert::deliver(&client, delivery, &policy, headers_for, report).await)
    })?;
    print_outcome(args, &outcome)?;
    if outcome.delivered {
        return Ok(super::exit(super::EXIT_OK));
    }
    let n = outcome.attempts.len();
    crate::cli::say!(
        "hookrelay: error: not delivered after {n} attempt(s): {}",
        outcome.last().summary()
    );
    Ok(super::exit(super::EXIT_NEGATIVE))
}

/// An invalid payload: its problems on stderr (and as JSON with `--json`), nothing sent.
pub(super) fn refuse_invalid(args: &SendArgs, invalid: &Invalid) -> anyhow::Result<ExitCode> {
    crate::cli::say!("hookrelay: error: the payload is not a valid event, nothing was sent");
    for line in problem_lines(invalid) {
        crate::cli::say!("  {line}");
    }
    if args.json {
        let result = json!({
            "delivered": false,
            "status": null,
            "attempts": 0,
            "elapsed_ms": 0,
            "error": "invalid payload, nothing was sent",
            "problems": problem_values(invalid),
        });
        super::print_out(&format!("{result}\n"))?;
    }
    Ok(super::exit(super::EXIT_TROUBLE))
}

/// `hookrelay: attempt 2/4: 503 Service Unavailable in 3ms, retrying in 1000ms` on stderr.
fn report_attempt(attempt: &alert::Attempt, total: u32, wait: Option<Duration>) {
    let then = wait
        .map(|w| format!(", retrying in {}ms", w.as_millis()))
        .unwrap_or_default();
    crate::cli::say!(
        "hookrelay: attempt {}/{total}: {}{then}",
        attempt.number,
        attempt.summary()
    );
}

/// The last response's body on stdout, or with `--json` one result object.
fn print_outcome(args: &SendArgs, outcome: &Outcome) -> anyhow::Result<()> {
    let last = outcome.last();
    if args.json {
        let result = json!({
            "delivered": outcome.delivered,
            "status": last.status.map(|s| s.as_u16()),
            "attempts": outcome.attempts.len(),
            "elapsed_ms": outcome.elapsed.as_millis() as u64,
            "error": (!outcome.delivered).then(|| last.summary()),
            "response": String::from_utf8_lossy(&last.body),
        });
        super::print_out(&format!("{result}\n"))?;
    } else {
        super::print_bytes(&last.body)?;
        // A body without a final newline would leave the shell's prompt on its last line.
        if !last.body.is_empty() && !last.body.ends_with(b"\n") {
            super::print_bytes(b"\n")?;
        }
    }
    Ok(())
}

/// The Standard Webhooks headers of each attempt.
struct AttemptHeaders {
    signer: Option<Signer>,
    id: Option<MessageId>,
}

impl AttemptHeaders {
    fn new(args: &SendArgs, event_id: i64) -> anyhow::Result<Self> {
        let signer = Signer::new(args.secrets.load(SecretKind::Whsec)?);
        let id = match &args.id {
            Some(id) => Some(MessageId::new(id.clone())?),
            None => signer.as_ref().map(|_| MessageId::for_event(event_id)),
        };
        Ok(Self { signer, id })
    }

    /// With secrets, a fresh timestamp and signature under the same webhook-id; with only
    /// `--id`, the id alone.
    fn for_attempt(&self, body: &[u8]) -> HeaderMap {
        match (&self.signer, &self.id) {
            (Some(signer), Some(id)) => signer.headers(id, body),
            (None, Some(id)) => HeaderMap::from_iter([(
                HeaderName::from_static(alert::signing::HEADER_ID),
                HeaderValue::from_str(id.as_str()).expect("message ids are visible ASCII"),
            )]),
            _ => HeaderMap::new(),
        }
    }
}

/// The body to send: the file as it is, or rebuilt when flags override its fields, or built
/// from the flags alone.
fn payload(args: &SendArgs) -> anyhow::Result<Vec<u8>> {
    let overrides = args.event_id.is_some()
        || args.event_type.is_some()
        || args.description.is_some()
        || args.timestamp.is_some();
    let sample = match &args.sample {
        Some(name) => {
            let sample = super::samples::find(name)?;
            if sample.source != SendAs::Event.name() {
                bail!(
                    "sample {} is written for --as {}, not --as event",
                    sample.name,
                    sample.source
                );
            }
            Some(sample.body.as_bytes().to_vec())
        }
        None => None,
    };
    let bytes = match (&args.file, sample) {
        (Some(path), _) => Some(read_input(path)?),
        (None, sample) => sample,
    };
    let Some(bytes) = bytes else {
        let Some(event_id) = args.event_id else {
            bail!(
                "give --event-id, --file PATH with a payload, or --sample NAME (hookrelay samples list)"
            );
        };
        let timestamp = args.timestamp.clone().unwrap_or_else(|| {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        });
        let event = json!({
            "event_id": event_id,
            "timestamp": timestamp,
            "event_type": args.event_type.as_deref().unwrap_or("alert"),
            "description": args.description.as_deref().unwrap_or(""),
        });
        return Ok(serde_json::to_vec(&event)?);
    };
    if !overrides {
        return Ok(bytes);
    }
    // Only an object can take overrides; anything else goes on to validation as it is.
    let Ok(Members(mut members)) = serde_json::from_slice::<Members>(&bytes) else {
        return Ok(bytes);
    };
    let overridden = [
        ("event_id", args.event_id.map(Value::from)),
        ("timestamp", args.timestamp.clone().map(Value::from)),
        ("event_type", args.event_type.clone().map(Value::from)),
        ("description", args.description.clone().map(Value::from)),
    ];
    for (key, value) in overridden {
        let Some(value) = value else { continue };
        let raw = serde_json::value::to_raw_value(&value)?;
        match members.iter_mut().find(|(k, _)| k == key) {
            Some((_, old)) => *old = raw,
            None => members.push((key.to_string(), raw)),
        }
    }
    // Every other member exactly as the file wrote it (a number beyond f64, `1.50`).
    let mut out = b"{".to_vec();
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, key)?;
        out.push(b':');
        out.extend_from_slice(value.get().as_bytes());
    }
    out.push(b'}');
    Ok(out)
}

/// A JSON object's members in the file's order, each value as its own text.
struct Members(Vec<(String, Box<serde_json::value::RawValue>)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Visit)
    }
}

/// `--dry-run --json`: the request as one object, as `--json` gives the outcome as one.
fn dry_run_json(delivery: &Delivery, extra: HeaderMap) -> Value {
    let headers: Vec<Value> = dry_run_headers(delivery, extra)
        .into_iter()
        .map(|(name, value)| json!([name, value]))
        .collect();
    json!({
        "dry_run": true,
        "method": "POST",
        "url": delivery.endpoint.url().to_string(),
        "headers": headers,
        "body": String::from_utf8_lossy(&delivery.body),
    })
}

fn dry_run_text(delivery: &Delivery, extra: HeaderMap) -> String {
    let mut text = format!("POST {}\n", delivery.endpoint.url());
    for (name, value) in dry_run_headers(delivery, extra) {
        text.push_str(&format!("{name}: {value}\n"));
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&delivery.body));
    text.push('\n');
    text
}

/// The headers the first attempt sends (Host and Content-Length aside), each once, as
/// the request is made ([`alert::request_headers`]): Content-Type, User-Agent and Accept
/// first, then the others in their order.
fn dry_run_headers(delivery: &Delivery, extra: HeaderMap) -> Vec<(String, String)> {
    use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
    let sent = alert::request_headers(delivery, extra);
    let first = [CONTENT_TYPE, USER_AGENT, ACCEPT];
    let leading = first
        .iter()
        .flat_map(|name| sent.get_all(name).iter().map(move |value| (name, value)));
    let rest = sent.iter().filter(|(name, _)| !first.contains(*name));
    leading
        .chain(rest)
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            (name.to_string(), value)
        })
        .collect()
}
