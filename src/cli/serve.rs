//! `hookrelay serve`: bind, print the address, serve until Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::alert::RetryPolicy;
use crate::alert::signing::{Signer, Tolerance};
use crate::server::limits::Limits;
use crate::server::memory::MemoryStore;
use crate::server::relay::{Relay, RelayConfig, Target};
use crate::server::sqlite::{self, SqliteOptions, SqliteStore};
use crate::server::store::EventStore;
use crate::server::verify::{Scheme, Verification};
use crate::server::{self, AppState, Config};

use super::secrets::{SecretKind, SecretSource, SecretText, secret_text};
use super::values::{
    DurationList, StoreSpec, parse_duration, parse_durations, parse_header, parse_http_url,
    parse_route, parse_size, parse_store,
};
use super::verify::parse_tolerance;

const SERVE_EXAMPLES: &str = "\
Examples:
  hookrelay serve
  hookrelay serve --port 0 --max-events 1000000
  HOOKRELAY_PORT=8080 hookrelay serve --host 0.0.0.0
  hookrelay serve --verify standard --secret whsec_...   # 401 unless signed
  hookrelay serve --verify github --secret-file github-secret.txt
  hookrelay serve --store sqlite:/var/lib/hookrelay/events.db --retention 7d

Endpoints:
  POST /webhook                       receive an event (200, 400, 401, 408, 409, 413, 415, 422, 503)
  GET  /events                        stored events, oldest first
                                      (?event_type= &since= &limit= &cursor=)
  GET  /events/{event_id}             one event (404 when absent)
  GET  /events/{event_id}/body        its original body, byte for byte
  GET  /events/{event_id}/deliveries  its deliveries, every attempt
  POST /events/{event_id}/replay      deliver it again (?target=URL)
  GET  /deliveries                    deliveries (?status= &target= &event_id= &limit= &cursor=)
  POST /deliveries/replay             deliver matching ones again (?status=dead &target=)
  GET  /metrics                       Prometheus metrics
  GET  /healthz                       200 while serving

Relay:
  hookrelay serve --forward-to http://127.0.0.1:9000/hook
  hookrelay serve --route 'order.*=http://orders.internal/hook' --retry-schedule 1s,10s,1m";

/// Receive webhooks on POST /webhook, validate and keep them
#[derive(Debug, Args)]
#[command(after_help = SERVE_EXAMPLES)]
pub struct ServeArgs {
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
    pub verify: Option<Scheme>,

    #[command(flatten)]
    pub secrets: SecretSource,

    /// How far webhook-timestamp may be from now, or 'off'
    #[arg(long, env = "HOOKRELAY_VERIFY_TOLERANCE", default_value = "5m",
          value_name = "DURATION|off", value_parser = parse_tolerance)]
    pub verify_tolerance: Tolerance,
    /// Where events and deliveries live: memory (lost on exit) or sqlite:PATH (durable)
    #[arg(long, env = "HOOKRELAY_STORE", default_value = "memory", value_name = "STORE",
          value_parser = parse_store, help_heading = "Store")]
    pub store: StoreSpec,

    /// With sqlite: full survives a power loss, normal survives a crash of the process
    #[arg(long, env = "HOOKRELAY_SYNC", value_enum, default_value_t = SyncMode::Full,
          help_heading = "Store")]
    pub sync: SyncMode,

    /// With sqlite: drop events older than this, e.g. 7d
    #[arg(long, env = "HOOKRELAY_RETENTION", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Store")]
    pub retention: Option<Duration>,

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
    pub forward_to: Vec<reqwest::Url>,

    /// Relay events whose event_type matches GLOB to URL, e.g. 'order.*=http://host/hook'
    #[arg(long, env = "HOOKRELAY_ROUTE", value_name = "GLOB=URL", value_delimiter = ',',
          value_parser = parse_route, help_heading = "Relay")]
    pub route: Vec<(glob::Pattern, reqwest::Url)>,

    /// Extra header on every forwarded request, 'Name: value' (repeatable)
    #[arg(long, value_name = "'NAME: VALUE'", value_parser = parse_header, help_heading = "Relay")]
    pub forward_header: Vec<(HeaderName, HeaderValue)>,

    /// Sign forwarded deliveries with this whsec_ secret (Standard Webhooks; repeatable)
    #[arg(long, env = "HOOKRELAY_FORWARD_SECRET", value_name = "SECRET", hide_env_values = true,
          value_parser = secret_text, help_heading = "Relay")]
    pub forward_secret: Vec<SecretText>,

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

    /// On SIGTERM, time given to attempts in flight before exiting
    #[arg(long, env = "HOOKRELAY_SHUTDOWN_GRACE", default_value = "10s", value_name = "DURATION",
          value_parser = parse_duration, help_heading = "Relay")]
    pub shutdown_grace: Duration,
}

/// How hard the sqlite store pushes each commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SyncMode {
    /// fsync every commit: survives a power loss
    Full,
    /// fsync at checkpoints: survives a crash of the process
    Normal,
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let verify = verification(&args)?;
    let relay_config = relay_config(&args)?;
    // Before the runtime: opening a durable store is blocking work.
    let store = build_store(&args)?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        runtime.worker_threads(usize::from(n));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, store, verify, relay_config))?;
    Ok(super::exit(super::EXIT_OK))
}

/// The store named by `--store`, opened (and for sqlite checked, migrated, recovered).
fn build_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    let max_events = usize::try_from(args.max_events).unwrap_or(usize::MAX);
    Ok(match &args.store {
        StoreSpec::Memory => {
            if args.retention.is_some() {
                anyhow::bail!("--retention needs a durable store: --store sqlite:PATH");
            }
            Arc::new(MemoryStore::new(max_events, args.max_pending))
        }
        StoreSpec::Sqlite(path) => Arc::new(SqliteStore::open(SqliteOptions {
            path: path.clone(),
            sync: match args.sync {
                SyncMode::Full => sqlite::Sync::Full,
                SyncMode::Normal => sqlite::Sync::Normal,
            },
            max_events,
            max_pending: args.max_pending,
            retention: args.retention,
        })?),
    })
}

async fn serve(
    args: ServeArgs,
    store: Arc<dyn EventStore>,
    verify: Option<Verification>,
    relay_config: Option<RelayConfig>,
) -> anyhow::Result<()> {
    let address = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr().context("reading the bound address")?;
    super::print_out(&format!("listening on http://{local}\n"))?;
    tracing::info!(%local, max_events = args.max_events, store = %args.store, "serving");

    let config = Config {
        max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
        verify,
        limits: Limits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
            max_inflight: args.max_inflight as usize,
        },
    };
    let mut state = AppState::new(store.clone(), config);
    let relay = relay_config
        .map(|config| Relay::new(config, store.clone()))
        .transpose()?;
    if let Some(relay) = &relay {
        relay.start();
        state = state.with_relay(Arc::clone(relay));
    }
    server::serve(listener, state, shutdown_signal())
        .await
        .context("serving")?;
    if let Some(relay) = relay {
        let grace = args.shutdown_grace;
        if !relay.drain(grace).await {
            tracing::warn!(
                ?grace,
                "attempts still in flight after the grace period were cut off"
            );
        }
        let left = store.delivery_counts().await.map(|c| c.open).unwrap_or(0);
        if left > 0 && args.store.is_durable() {
            tracing::info!(
                left,
                "deliveries left pending; they resume at the next start"
            );
        } else if left > 0 {
            tracing::warn!(
                left,
                "deliveries left undelivered; the in-memory store loses them on exit"
            );
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// The relay's settings, or `None` when no target is given.
fn relay_config(args: &ServeArgs) -> anyhow::Result<Option<RelayConfig>> {
    let all = args.forward_to.iter().map(|url| Target {
        url: url.clone(),
        route: None,
    });
    let routed = args.route.iter().map(|(pattern, url)| Target {
        url: url.clone(),
        route: Some(pattern.clone()),
    });
    let targets: Vec<Target> = all.chain(routed).collect();
    if targets.is_empty() {
        if !args.forward_secret.is_empty() {
            anyhow::bail!("--forward-secret needs a target: --forward-to or --route");
        }
        return Ok(None);
    }
    let secrets = SecretText::parse_all(&args.forward_secret, SecretKind::Whsec)
        .context("--forward-secret")?;
    let headers: HeaderMap = args.forward_header.iter().cloned().collect();
    Ok(Some(RelayConfig {
        targets,
        headers,
        policy: RetryPolicy::schedule(args.retry_schedule.0.clone()),
        timeout: args.forward_timeout,
        concurrency: usize::from(args.forward_concurrency),
        signer: Signer::new(secrets),
    }))
}

/// The verification `--verify` asks for, with its secrets.
fn verification(args: &ServeArgs) -> anyhow::Result<Option<Verification>> {
    let Some(scheme) = args.verify else {
        if !args.secrets.load(SecretKind::Raw)?.is_empty() {
            anyhow::bail!("a secret was given without --verify standard|github");
        }
        return Ok(None);
    };
    let kind = match scheme {
        Scheme::Standard => SecretKind::Whsec,
        Scheme::Github => SecretKind::Raw,
    };
    Ok(Some(Verification {
        scheme,
        secrets: args.secrets.load_required(kind)?,
        tolerance: args.verify_tolerance,
    }))
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new connections, finishing requests in flight");
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs go to stderr; `HOOKRELAY_LOG` (or `RUST_LOG`) sets the filter, `info` by default.
fn init_logging(format: LogFormat) {
    let filter = std::env::var("HOOKRELAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter));
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
