//! The options of `hookrelay serve`: every one also settable by a `HOOKRELAY_*` variable.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use http::header::{HeaderName, HeaderValue};

use crate::alert::signing::Tolerance;

use crate::cli::secret_options::{SecretSource, SecretText, secret_text};
use crate::cli::values::{
    DurationList, StoreSpec, parse_duration, parse_durations, parse_forward_header, parse_http_url,
    parse_locator, parse_route, parse_size, parse_store,
};
use crate::cli::verify::parse_tolerance;
use crate::source::Locator;

const SERVE_EXAMPLES: &str = "\
Examples:
  hookrelay serve
  hookrelay serve --config hookrelay.toml   # options and [[endpoints]]; flags override it
  hookrelay serve --port 0 --max-events 1000000
  HOOKRELAY_PORT=8080 hookrelay serve --host 0.0.0.0 --admin-token-file admin-tokens.txt
  hookrelay serve --verify standard --secret whsec_...   # 401 unless signed
  hookrelay serve --verify github --secret-file github-secret.txt
  hookrelay serve --store sqlite:/var/lib/hookrelay/events.db --retention 7d
  hookrelay serve --store postgres://hookrelay@db.internal:5432/hookrelay   # several instances
  hookrelay serve --tls-cert cert.pem --tls-key key.pem   # https; SIGHUP re-reads both
  hookrelay serve --host 0.0.0.0 --admin-listen 127.0.0.1:5001   # admin endpoints apart

Sources (what POST /webhook takes; the event model by default):
  hookrelay serve --source github --secret-file github-secret.txt   # GitHub's deliveries
  hookrelay serve --source stripe=/webhook/stripe --source shopify=/webhook/shopify \
    --source-secret stripe=whsec_... --source-secret shopify=...    # several, each on its path
  hookrelay serve --source schema:order.schema.json --id-from /order/id --type-from header:X-Kind

Endpoints (public: POST /webhook and GET /healthz; every other one is admin):
  POST /webhook                       receive an event (200, 400, 401, 408, 409, 413, 415, 422, 503)
  POST /webhook/{name}                the same, read by the source mounted there (404 if none)
  GET  /events                        stored events, oldest first
                                      (?event_type= &since= &limit= &cursor=
                                       &order=desc &summary=true)
  GET  /events/{id}                   one event, by id (evt_123) or event_id (123),
                                      with its headers (404 when absent)
  GET  /events/{id}/body              its original body, byte for byte
  GET  /events/{id}/deliveries        its deliveries, every attempt
  POST /events/{id}/replay            deliver it again (?target=URL)
  GET  /deliveries                    deliveries (?status= &target= &event_id= &limit= &cursor=)
  POST /deliveries/replay             deliver matching ones again (?status=dead &target=)
  GET  /                             the inspector page, in a browser (no token needed)
  GET  /metrics                       Prometheus metrics
  GET  /openapi.json                  this API as an OpenAPI 3.1 description
  GET  /healthz                       200 while serving
  On a host that is not loopback, serve refuses to start unless the admin endpoints are
  protected: --admin-token, --admin-listen on a loopback address, or --admin-open.

Relay:
  hookrelay serve --forward-to http://127.0.0.1:9000/hook
  hookrelay serve --route 'order.*=http://orders.internal/hook' --retry-schedule 1s,10s,1m
  hookrelay serve --forward-to https://hooks.internal/in --forward-cacert internal-ca.pem
  Deliveries honour HTTPS_PROXY, HTTP_PROXY, ALL_PROXY and NO_PROXY as curl does.";

/// Receive webhooks on POST /webhook, validate and keep them
#[derive(Debug, Args)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct ServeArgs {
    /// Read options and endpoints from this TOML file (keys in snake_case: forward_to,
    /// max_events); flags and environment variables override it. Check one with
    /// `hookrelay config check FILE`
    #[arg(long, env = "HOOKRELAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The `[[endpoints]]` of `--config`'s file, upserted at start.
    #[arg(skip)]
    pub file_endpoints: Vec<crate::cli::config_file::FileEndpoint>,

    /// Address to listen on
    #[arg(
        long,
        env = "HOOKRELAY_HOST",
        default_value = "127.0.0.1",
        value_name = "HOST"
    )]
    pub host: String,

    /// Port to listen on; 0 picks a free one (the first line printed tells which)
    #[arg(
        long,
        env = "HOOKRELAY_PORT",
        default_value_t = 5000,
        value_name = "PORT"
    )]
    pub port: u16,

    /// Worker threads of the runtime [default: the number of CPUs]
    #[arg(long, env = "HOOKRELAY_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: Option<u16>,

    /// Largest accepted body (413 beyond it), e.g. 1048576, 64KiB, 1MiB
    #[arg(long, env = "HOOKRELAY_MAX_BODY_BYTES", default_value = "1MiB", value_name = "SIZE",
          value_parser = parse_size)]
    pub max_body_bytes: u64,

    /// Events kept; the oldest is evicted beyond it
    #[arg(long, env = "HOOKRELAY_MAX_EVENTS", default_value_t = 100_000, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: u64,

    /// Require signed webhooks (401 otherwise): standard or github
    #[arg(long, env = "HOOKRELAY_VERIFY", value_enum, value_name = "SCHEME")]
    pub verify: Option<VerifyScheme>,

    #[command(flatten)]
    pub secrets: SecretSource,

    /// How far a signed timestamp (webhook-timestamp, Stripe's t=, Slack's) may be from
    /// now, or 'off'
    #[arg(long, env = "HOOKRELAY_VERIFY_TOLERANCE", default_value = "5m",
          value_name = "DURATION|off", value_parser = parse_tolerance)]
    pub verify_tolerance: Tolerance,

    /// What POST /webhook takes: event, github, stripe, standard, shopify, slack, json or
    /// schema:FILE; NAME=/webhook/PATH mounts one more on its own path (repeatable)
    #[arg(long, env = "HOOKRELAY_SOURCE", value_name = "NAME[=PATH]", value_delimiter = ',',
          value_parser = parse_source_arg, help_heading = "Sources")]
    pub source: Vec<SourceArg>,

    /// The secret of a mounted source, KEY=SECRET with KEY its path (/webhook/gh), the
    /// path's last part (gh) or the source's name (github); a KEY naming two sources is
    /// refused. Repeatable, one a line in the env var. POST /webhook's source takes --secret
    #[arg(long, env = "HOOKRELAY_SOURCE_SECRET", value_name = "KEY=SECRET", hide_env_values = true,
          value_delimiter = '\n', value_parser = secret_text, help_heading = "Sources")]
    pub source_secret: Vec<SecretText>,

    /// Read a mounted source's secrets from a file, one a line: KEY=PATH, KEY as for
    /// --source-secret (repeatable)
    #[arg(
        long,
        env = "HOOKRELAY_SOURCE_SECRET_FILE",
        value_name = "KEY=PATH",
        value_delimiter = ',',
        help_heading = "Sources"
    )]
    pub source_secret_file: Vec<String>,

    /// With json or schema:FILE: where each event's id is, header:NAME or a JSON Pointer
    /// such as /data/id [default: a generated id]
    #[arg(long, env = "HOOKRELAY_ID_FROM", value_name = "LOCATION",
          value_parser = parse_locator, help_heading = "Sources")]
    pub id_from: Option<Locator>,

    /// With json or schema:FILE: where each event's type is, header:NAME or a JSON Pointer
    /// [default: the type json]
    #[arg(long, env = "HOOKRELAY_TYPE_FROM", value_name = "LOCATION",
          value_parser = parse_locator, help_heading = "Sources")]
    pub type_from: Option<Locator>,
    /// Keep the values of Authorization, Cookie and Proxy-Authorization in the stored
    /// headers (redacted by default)
    #[arg(long, env = "HOOKRELAY_KEEP_SECRET_HEADERS",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub keep_secret_headers: bool,
    /// Where events and deliveries live: memory (lost on exit), sqlite:PATH (durable) or
    /// postgres://USER@HOST:PORT/DB (durable, shared by several instances)
    #[arg(long, env = "HOOKRELAY_STORE", default_value = "memory", value_name = "STORE",
          value_parser = parse_store, help_heading = "Store")]
    pub store: StoreSpec,

    /// With sqlite: full survives a power loss, normal survives a crash of the process
    #[arg(long, env = "HOOKRELAY_SYNC", value_enum, default_value_t = SyncMode::Full,
          help_heading = "Store")]
    pub sync: SyncMode,

    /// With sqlite or postgres: drop events older than this, e.g. 7d
    #[arg(long, env = "HOOKRELAY_RETENTION", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Store")]
    pub retention: Option<Duration>,

    /// With postgres: how often idle workers look for due deliveries that no notification
    /// announced (retries come due, or work queued while the listening connection was down)
    #[arg(long, env = "HOOKRELAY_STORE_POLL", default_value = "1s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Store")]
    pub store_poll: Duration,

    /// With postgres: how long a claimed delivery is its instance's; past it (the instance
    /// died mid-attempt) any instance makes the attempt again. Must be longer than
    /// --forward-timeout
    #[arg(long, env = "HOOKRELAY_STORE_LEASE", default_value = "5m", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Store")]
    pub store_lease: Duration,

    /// With postgres: how long to wait at start for a database that is not up yet (nothing
    /// listening, or still starting); a wrong password or a missing database exits at once
    #[arg(long, env = "HOOKRELAY_STORE_CONNECT_TIMEOUT", default_value = "30s",
          value_name = "DURATION", value_parser = parse_duration, help_heading = "Store")]
    pub store_connect_timeout: Duration,

    /// With postgres: connections to the database, shared by requests (half of them commit
    /// inserts) and delivery workers
    #[arg(long, env = "HOOKRELAY_STORE_POOL_SIZE", default_value_t = 16,
          value_name = "N", value_parser = clap::value_parser!(u16).range(2..=1000),
          help_heading = "Store")]
    pub store_pool_size: u16,

    /// Time a client has to send a request's headers (from connecting, or its first byte)
    #[arg(long, env = "HOOKRELAY_HEADER_TIMEOUT", default_value = "10s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Limits")]
    pub header_timeout: Duration,

    /// Time a client has to send a request's whole body (408 beyond it)
    #[arg(long, env = "HOOKRELAY_BODY_TIMEOUT", default_value = "30s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Limits")]
    pub body_timeout: Duration,

    /// Time a kept-alive connection may wait for its next request before it is closed
    #[arg(long, env = "HOOKRELAY_IDLE_TIMEOUT", default_value = "60s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Limits")]
    pub idle_timeout: Duration,

    /// Requests handled at once; beyond it the answer is 503 with Retry-After at once
    #[arg(long, env = "HOOKRELAY_MAX_INFLIGHT", default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub max_inflight: u32,

    /// Event streams (GET /events/stream) open at once; beyond it the answer is 503
    #[arg(long, env = "HOOKRELAY_MAX_STREAMS", default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Limits")]
    pub max_streams: u32,

    /// Serve https with this PEM certificate chain (with --tls-key); SIGHUP reloads it
    #[arg(
        long,
        env = "HOOKRELAY_TLS_CERT",
        value_name = "PEM",
        requires = "tls_key",
        help_heading = "TLS"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert
    #[arg(
        long,
        env = "HOOKRELAY_TLS_KEY",
        value_name = "PEM",
        requires = "tls_cert",
        help_heading = "TLS"
    )]
    pub tls_key: Option<PathBuf>,

    /// Require Authorization: Bearer TOKEN on every admin endpoint (repeatable, for
    /// rotation; make one with `hookrelay secret new --admin`)
    #[arg(long, env = "HOOKRELAY_ADMIN_TOKEN", value_name = "TOKEN", hide_env_values = true,
          value_parser = token_text, help_heading = "Admin")]
    pub admin_token: Vec<TokenText>,

    /// Read admin tokens from a file, one a line
    #[arg(
        long,
        env = "HOOKRELAY_ADMIN_TOKEN_FILE",
        value_name = "PATH",
        help_heading = "Admin"
    )]
    pub admin_token_file: Option<PathBuf>,

    /// Serve the admin endpoints on this address only; the main one keeps POST /webhook
    /// and GET /healthz
    #[arg(
        long,
        env = "HOOKRELAY_ADMIN_LISTEN",
        value_name = "HOST:PORT",
        value_parser = parse_listen_address,
        help_heading = "Admin"
    )]
    pub admin_listen: Option<String>,

    /// Serve the admin endpoints without a token on an address that is not loopback
    #[arg(long, env = "HOOKRELAY_ADMIN_OPEN", help_heading = "Admin",
          value_parser = clap::builder::BoolishValueParser::new(),
          conflicts_with_all = ["admin_token", "admin_token_file"])]
    pub admin_open: bool,

    /// Leave GET /metrics open without the admin token, for scrapers
    #[arg(long, env = "HOOKRELAY_METRICS_PUBLIC", help_heading = "Admin",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub metrics_public: bool,

    /// Log lines on stderr as text or as one JSON object per line
    #[arg(
        long,
        env = "HOOKRELAY_LOG_FORMAT",
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,

    /// Relay every accepted event to URL (repeatable; comma-separated in the env var)
    #[arg(long, env = "HOOKRELAY_FORWARD_TO", value_name = "URL", value_delimiter = ',',
          value_parser = parse_http_url, help_heading = "Relay")]
    pub forward_to: Vec<url::Url>,

    /// Relay events whose event_type matches GLOB to URL, e.g. 'order.*=http://host/hook'
    #[arg(long, env = "HOOKRELAY_ROUTE", value_name = "GLOB=URL", value_delimiter = ',',
          value_parser = parse_route, help_heading = "Relay")]
    pub route: Vec<(glob::Pattern, url::Url)>,

    /// Extra header on forwarded requests, 'Name: value' (repeatable; one a line in the env var)
    #[arg(long, env = "HOOKRELAY_FORWARD_HEADER", value_name = "'NAME: VALUE'",
          value_delimiter = '\n', value_parser = parse_forward_header, help_heading = "Relay")]
    pub forward_header: Vec<(HeaderName, HeaderValue)>,

    /// Which headers of the received request go on with each delivery: none, or original
    /// (the sender's, e.g. X-GitHub-Event and X-Hub-Signature-256, less Host, hop-by-hop
    /// ones, webhook-* and svix-*; --forward-header's are added over them)
    #[arg(long, env = "HOOKRELAY_FORWARD_HEADERS", value_enum, default_value_t = ForwardHeaders::None,
          value_name = "WHICH", help_heading = "Relay")]
    pub forward_headers: ForwardHeaders,

    /// Sign forwarded deliveries with this whsec_ secret (Standard Webhooks; repeatable)
    #[arg(long, env = "HOOKRELAY_FORWARD_SECRET", value_name = "SECRET", hide_env_values = true,
          value_parser = secret_text, help_heading = "Relay")]
    pub forward_secret: Vec<SecretText>,

    /// Also trust the CA certificates in this PEM file for https targets
    #[arg(
        long,
        env = "HOOKRELAY_FORWARD_CACERT",
        value_name = "PEM",
        help_heading = "Relay"
    )]
    pub forward_cacert: Option<PathBuf>,

    /// Waits between attempts of a delivery; after the last, it is dead
    #[arg(long, env = "HOOKRELAY_RETRY_SCHEDULE", default_value = "1s,5s,30s,2m,10m,30m",
          value_name = "DURATIONS", value_parser = parse_durations, help_heading = "Relay")]
    pub retry_schedule: DurationList,

    /// Time allowed for each forwarded attempt
    #[arg(long, env = "HOOKRELAY_FORWARD_TIMEOUT", default_value = "15s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Relay")]
    pub forward_timeout: Duration,

    /// Open deliveries allowed; beyond it POST /webhook answers 503 with Retry-After
    #[arg(
        long,
        env = "HOOKRELAY_MAX_PENDING",
        default_value_t = 100_000,
        value_name = "N",
        help_heading = "Relay"
    )]
    pub max_pending: usize,

    /// Attempts in flight per target
    #[arg(long, env = "HOOKRELAY_FORWARD_CONCURRENCY", default_value_t = 16, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..), help_heading = "Relay")]
    pub forward_concurrency: u16,

    /// Threads that deliver, apart from the --workers that serve requests
    #[arg(long, env = "HOOKRELAY_FORWARD_THREADS", default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..), help_heading = "Relay")]
    pub forward_threads: u16,

    /// Failed attempts in a row that open an endpoint's circuit (then one probe at a time)
    #[arg(long, env = "HOOKRELAY_CIRCUIT_FAILURES", default_value_t = 5, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Relay")]
    pub circuit_failures: u32,

    /// An endpoint failing this long, without a success, is disabled
    #[arg(long, env = "HOOKRELAY_CIRCUIT_DISABLE_AFTER", default_value = "5d", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Relay")]
    pub circuit_disable_after: Duration,

    /// On SIGTERM, time given to attempts in flight before exiting
    #[arg(long, env = "HOOKRELAY_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Relay")]
    pub shutdown_grace: Duration,
}

/// The text of an admin token as given; checked by `serve`, never by clap, so that a
/// refused value is not echoed in clap's error message.
#[derive(Clone)]
pub struct TokenText(pub String);

impl fmt::Debug for TokenText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

fn token_text(text: &str) -> Result<TokenText, std::convert::Infallible> {
    Ok(TokenText(text.to_string()))
}

/// Which signature scheme `--verify` requires (mapped to the server's `verify::Scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum VerifyScheme {
    /// Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature
    Standard,
    /// GitHub: X-Hub-Signature-256
    Github,
}

/// Which received headers a delivery carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardHeaders {
    /// Only hookrelay's own and --forward-header's
    None,
    /// The sender's, as they arrived
    Original,
}

/// How hard the sqlite store pushes each commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fsync every commit: survives a power loss
    Full,
    /// fsync at checkpoints: survives a crash of the process
    Normal,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// One `--source`: a source's name (`github`, `schema:FILE`) and the path it is mounted on,
/// or `None` for `POST /webhook`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceArg {
    pub name: String,
    pub path: Option<String>,
}

fn parse_source_arg(text: &str) -> Result<SourceArg, String> {
    // The last '=' before a path: a schema file's name may hold one too.
    match text.rfind("=/") {
        Some(at) => {
            let path = &text[at + 1..];
            crate::server::mounts::check_path(path)?;
            Ok(SourceArg {
                name: text[..at].to_string(),
                path: Some(path.to_string()),
            })
        }
        None => Ok(SourceArg {
            name: text.to_string(),
            path: None,
        }),
    }
}

/// `--admin-listen`'s `HOST:PORT`: an address (`127.0.0.1:5001`, `[::1]:5001`) or a host
/// name (`localhost:5001`), resolved when binding as `--host` is.
fn parse_listen_address(text: &str) -> Result<String, String> {
    let text = text.trim();
    let port = text
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(text.to_string()),
        _ => Err(format!(
            "expected HOST:PORT, such as 127.0.0.1:5001 or localhost:5001, got {text:?}"
        )),
    }
}
