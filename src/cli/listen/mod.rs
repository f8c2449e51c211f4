//! `hookrelay listen`: follows the event stream of a hookrelay (`GET /events/stream`),
//! prints each event, and with `--forward-to` delivers it again, body byte for byte with
//! its original headers, to a local service. It resumes after the last event handled,
//! remembered in `--state-file` across restarts.

mod forward;
mod sse;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::alert;

use super::values::{parse_duration, parse_http_url, parse_time_allowed};
use forward::Forwarder;
use sse::{Failure, StreamClient};
use state::{Opened, State};

const LISTEN_EXAMPLES: &str = "\
Examples:
  hookrelay listen --from https://hooks.example.com --admin-token-file token.txt
  hookrelay listen --from http://127.0.0.1:5000 --json | jq .event_type
  hookrelay listen --from https://hooks.example.com --admin-token \"$TOKEN\" \\
      --forward-to http://localhost:3000/hook --state-file .hookrelay-listen.json
  hookrelay listen --from URL --event-type 'order.*'
  hookrelay listen --from 'http://127.0.0.1:5000/events/stream?after=0'   # every kept event first

Each event is delivered to --forward-to with the body it arrived with, byte for byte,
and its original headers (webhook-signature and the rest; Host, Content-Length and other
hop-by-hop headers excepted), so a signature made by the sender still verifies. Retries
as send does: connection errors, timeouts, 408, 429 and 5xx, with backoff.
After a disconnection it reconnects and resumes after the last event handled; with
--state-file that survives a restart too (the file is written when the stream opens, so a
first event that fails is delivered again). Without one, a new listen starts with the
next event received, or after event N with ?after=N in --from (a state file that holds
a place wins). When the server's store is a new one (a server keeping events in memory
restarted), it says so and starts from that store's first event.
Ctrl-C or SIGTERM stops it with exit code 0: a delivery in flight is dropped, and its
event delivered again at the next start with the state file.
Exit codes: 0 stopped; 1 an event not delivered to --forward-to after retries, or whose
body could not be read from the server (the state file still points before it); 2 no
token or a wrong one, not a hookrelay, unreachable at start, usage.";

/// Follow a hookrelay's events live, and deliver them to a local service
#[derive(Debug, Args)]
#[command(after_help = LISTEN_EXAMPLES)]
pub struct ListenArgs {
    /// The hookrelay to follow: its address (http(s)://HOST:PORT), or its /events/stream (or
    /// /events) URL; ?after=N there starts after event N when there is no state to resume
    /// from
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub from: url::Url,

    /// Its admin token (see serve --admin-token)
    #[arg(
        long,
        env = "HOOKRELAY_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,

    /// Read the admin token from the first line of a file
    #[arg(
        long,
        env = "HOOKRELAY_ADMIN_TOKEN_FILE",
        value_name = "PATH",
        conflicts_with = "admin_token"
    )]
    pub admin_token_file: Option<PathBuf>,

    /// Deliver each event to this URL: the original body and headers, with retries
    #[arg(long, value_name = "URL", value_parser = parse_http_url)]
    pub forward_to: Option<url::Url>,

    /// Only events whose event_type matches this glob (*, ?, […]); also ?event_type= in
    /// --from
    #[arg(long, value_name = "GLOB", value_parser = parse_glob)]
    pub event_type: Option<glob::Pattern>,

    /// Remember the last event handled in this file, and resume after it at the next start
    /// (over --from's ?after=)
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Print each event as one JSON object per line (NDJSON)
    #[arg(long)]
    pub json: bool,

    /// Time allowed for each attempt of a delivery to --forward-to
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_time_allowed)]
    pub timeout: Duration,

    /// Retries of a delivery to --forward-to after the first attempt
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub retries: u32,

    /// Wait before the first retry; doubled for each next one
    #[arg(long, default_value = "500ms", value_name = "DURATION", value_parser = parse_duration)]
    pub retry_backoff: Duration,

    /// Also trust the CA certificates in this PEM file for https (the public roots stay)
    #[arg(long, value_name = "PEM")]
    pub cacert: Option<PathBuf>,
}

fn parse_glob(text: &str) -> Result<glob::Pattern, String> {
    glob::Pattern::new(text).map_err(|e| format!("not a glob pattern: {e}"))
}

/// Waits between reconnections: doubled each time, up to the last.
const RECONNECT: [Duration; 5] = [
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(5),
    Duration::from_secs(10),
];

pub fn run(mut args: ListenArgs) -> anyhow::Result<ExitCode> {
    args.event_type = event_type_of(&args)?;
    let token = token(&args)?;
    let (base, stream) = urls(&args.from, args.event_type.as_ref())?;
    // The place is in the server's sequence, whatever the filter.
    let place = base.join("events/stream")?;
    let mut state = State::load(args.state_file.as_deref(), place.as_str())?;
    if let Some(after) = asked_after(&args.from)? {
        match (state.last, &args.state_file) {
            (None, _) => state.start_after(after),
            (Some(last), Some(path)) => crate::cli::say!(
                "hookrelay: resuming after #{last} as {} says; --from's ?after={after} is for \
                 a start without a state",
                path.display()
            ),
            (Some(_), None) => {}
        }
    }
    let extra_roots = match &args.cacert {
        Some(path) => alert::client::read_certificates(path).context("--cacert")?,
        None => Vec::new(),
    };
    let tls = alert::client::client_tls(extra_roots.clone())?;
    super::current_thread_runtime()?.block_on(async {
        // From now on: a signal before the first connection also ends listen cleanly.
        let stop = super::stop_signal();
        let client = StreamClient::new(tls, token.as_deref(), Duration::from_secs(10))?;
        let forwarder = match &args.forward_to {
            Some(url) => Some(Forwarder::new(&args, url, extra_roots)?),
            None => None,
        };
        let listener = Listener {
            args: &args,
            client,
            base,
            forwarder,
        };
        let ended = tokio::select! {
            code = listener.listen(&stream, &mut state) => Some(code),
            () = stop => None,
        };
        match ended {
            Some(code) => code,
            // A delivery in flight is dropped unfinished: the state file still points
            // before its event, which the next start delivers again.
            None => {
                state.save()?;
                crate::cli::say!("hookrelay: stopped");
                Ok(super::exit(super::EXIT_OK))
            }
        }
    })
}

/// The type filter: `--event-type`, or `?event_type=GLOB` in `--from` as the stream takes
/// it. Any other parameter there would be ignored, so it is refused.
fn event_type_of(args: &ListenArgs) -> anyhow::Result<Option<glob::Pattern>> {
    let mut asked = None;
    for (name, value) in args.from.query_pairs() {
        match &*name {
            "after" => {}
            "event_type" => {
                asked = Some(glob::Pattern::new(&value).map_err(|e| {
                    anyhow!("--from: ?event_type={value} is not a glob pattern: {e}")
                })?)
            }
            other => bail!(
                "--from: ?{other}= is not something listen reads; it takes ?after=N and \
                 ?event_type=GLOB"
            ),
        }
    }
    match (&args.event_type, asked) {
        (Some(flag), Some(asked)) if *flag != asked => {
            bail!("--event-type {flag} and --from's ?event_type={asked} disagree; give one")
        }
        (Some(flag), _) => Ok(Some(flag.clone())),
        (None, asked) => Ok(asked),
    }
}

/// `?after=N` in `--from`: where to start when there is no state to resume from.
fn asked_after(from: &url::Url) -> anyhow::Result<Option<u64>> {
    let Some((_, after)) = from.query_pairs().find(|(name, _)| name == "after") else {
        return Ok(None);
    };
    match after.parse() {
        Ok(after) => Ok(Some(after)),
        Err(_) => bail!(
            "--from: ?after= must be an event's sequence number (the id of a stream frame), \
             got {after:?}"
        ),
    }
}

/// The token from `--admin-token` (or its variable), or the first line of the file.
fn token(args: &ListenArgs) -> anyhow::Result<Option<String>> {
    if let Some(path) = &args.admin_token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--admin-token-file: reading {}", path.display()))?;
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        return match line {
            Some(token) => Ok(Some(token.to_string())),
            None => bail!("--admin-token-file: {} holds no token", path.display()),
        };
    }
    Ok(args.admin_token.clone().filter(|t| !t.is_empty()))
}

/// The hookrelay's base URL and its stream's URL (with the type filter).
fn urls(
    from: &url::Url,
    event_type: Option<&glob::Pattern>,
) -> anyhow::Result<(url::Url, url::Url)> {
    let mut base = from.clone();
    base.set_query(None);
    base.set_fragment(None);
    // `…/events/stream` and `…/events` name the hookrelay whose paths they are.
    let path = base.path().trim_end_matches('/').to_string();
    let path = path
        .strip_suffix("/events/stream")
        .or_else(|| path.strip_suffix("/events"))
        .unwrap_or(&path);
    base.set_path(&format!("{path}/"));
    let mut stream = base.join("events/stream")?;
    if let Some(glob) = event_type {
        stream
            .query_pairs_mut()
            .append_pair("event_type", glob.as_str());
    }
    Ok((base, stream))
}

/// An `event` frame's data: the fields `listen` uses of the JSON of `GET /events/{id}`.
#[derive(Deserialize)]
struct Shown<'a> {
    seq: u64,
    /// The string id, where the server has one.
    id: Option<String>,
    event_id: Option<i64>,
    event_type: String,
    received_at: String,
    /// Bytes of the body as received.
    size: Option<usize>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
    headers: Option<serde_json::Value>,
}

struct Listener<'a> {
    args: &'a ListenArgs,
    client: StreamClient,
    base: url::Url,
    forwarder: Option<Forwarder>,
}

impl Listener<'_> {
    async fn listen(&self, stream: &url::Url, state: &mut State) -> anyhow::Result<ExitCode> {
        let mut connected_once = false;
        let mut failures = 0usize;
        loop {
            let mut frames = match self.client.open(stream, state.last).await {
                Ok(frames) => frames,
                Err(Failure::Refused(e)) => return Err(e),
                Err(Failure::Passing(e)) if !connected_once => return Err(e),
                Err(Failure::Passing(e) | Failure::Busy(e)) => {
                    let wait = RECONNECT[failures.min(RECONNECT.len() - 1)];
                    failures += 1;
                    crate::cli::say!("hookrelay: {e:#}; reconnecting in {}ms", wait.as_millis());
                    tokio::time::sleep(wait).await;
                    continue;
                }
            };
            if !connected_once {
                crate::cli::say!("hookrelay: listening to {stream}");
            }
            connected_once = true;
            failures = 0;
            let store = frames.store_id.as_deref();
            if state.opened(stream.as_str(), store, frames.starts_after)? == Opened::Reopen {
                continue;
            }
            loop {
                match frames.next().await {
                    Ok(Some(frame)) if frame.event == "event" => {
                        if let Some(code) = self.handle(&frame.data, state).await? {
                            return Ok(code);
                        }
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        crate::cli::say!("hookrelay: the stream ended; reconnecting");
                        break;
                    }
                    Err(e) => {
                        crate::cli::say!("hookrelay: {e:#}; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    /// Prints and forwards one event, then remembers it. `Some(code)` ends `listen`.
    async fn handle(&self, data: &str, state: &mut State) -> anyhow::Result<Option<ExitCode>> {
        let shown: Shown = serde_json::from_str(data)
            .map_err(|e| anyhow!("an event frame that is not an event ({e}): {data:.200}"))?;
        if state.last.is_some_and(|last| shown.seq <= last) {
            return Ok(None);
        }
        if state.last.is_none() {
            // A server that did not say where the stream starts: the place is before this
            // event, written before it is handled, so that a failure delivers it again.
            state.handled(shown.seq.saturating_sub(1))?;
        }
        let wanted = self
            .args
            .event_type
            .as_ref()
            .is_none_or(|glob| glob.matches(&shown.event_type));
        if wanted {
            self.print(&shown, data)?;
            if let Some(forwarder) = &self.forwarder {
                // A body that cannot be read is an event not delivered, as the README
                // says of one the receiver refuses: exit 1, the place left before it.
                let delivered = match self.body(&shown).await {
                    Ok(body) => forwarder.deliver(&shown, body).await,
                    Err(e) => {
                        forwarder.unread(shown.seq, &e);
                        false
                    }
                };
                if !delivered {
                    return Ok(Some(super::exit(super::EXIT_NEGATIVE)));
                }
            }
        }
        state.handled(shown.seq)?;
        Ok(None)
    }

    fn print(&self, shown: &Shown, data: &str) -> anyhow::Result<()> {
        let line = if self.args.json {
            // One line whatever the body's layout: parsed, then written compactly.
            let value: serde_json::Value = serde_json::from_str(data)?;
            format!("{value}\n")
        } else {
            let id = match (&shown.id, shown.event_id) {
                (Some(id), _) => id.clone(),
                (None, Some(event_id)) => event_id.to_string(),
                (None, None) => "-".into(),
            };
            // The body's own size: the frame's JSON value leaves out blanks around it
            // (a final newline).
            let size = shown
                .size
                .unwrap_or_else(|| shown.body.map_or(0, |b| b.get().len()));
            format!(
                "{}  #{}  {}  {id}  {size} bytes\n",
                shown.received_at, shown.seq, shown.event_type
            )
        };
        super::print_out(&line)?;
        Ok(())
    }

    /// The body as it arrived. The frame has it verbatim when it is JSON on one line with
    /// nothing around it; otherwise (a body that spans lines, where a stream cannot tell
    /// `\r\n` from `\n`, or with blanks before or after the value) it is read from
    /// `GET /events/{id}/body`, by the string id (which `/events/stream` cannot clash
    /// with there, percent-encoded) or else the `event_id`.
    async fn body(&self, shown: &Shown<'_>) -> anyhow::Result<bytes::Bytes> {
        if let Some(body) = shown.body
            && !body.get().contains(['\n', '\r'])
            && shown.size.is_none_or(|size| size == body.get().len())
        {
            return Ok(bytes::Bytes::copy_from_slice(body.get().as_bytes()));
        }
        let id = match (&shown.id, shown.event_id) {
            (Some(id), _) => id.clone(),
            (None, Some(event_id)) => event_id.to_string(),
            (None, None) => bail!(
                "event #{} has no body in the stream and no id to read it by",
                shown.seq
            ),
        };
        self.client
            .body(&self.base, &id)
            .await
            .with_context(|| format!("reading the body of event {id}"))
    }
}
