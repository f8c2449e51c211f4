//! `hookrelay serve`: bind, print the address, serve until Ctrl-C or SIGTERM.

mod args;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use http::header::HeaderMap;

use crate::alert::RetryPolicy;
use crate::alert::signing::Signer;
use crate::server::limits::Limits;
use crate::server::memory::MemoryStore;
use crate::server::relay::{Relay, RelayConfig, Target};
use crate::server::sqlite::{self, SqliteOptions, SqliteStore};
use crate::server::store::EventStore;
use crate::server::threads::Threads;
use crate::server::verify::{Scheme, Verification};
use crate::server::{self, AppState, Config};

pub use args::{LogFormat, ServeArgs, SyncMode};

use super::secret_options::{SecretKind, SecretText};
use super::values::StoreSpec;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let verify = verification(&args)?;
    let relay_config = relay_config(&args)?;
    // Before the runtime: opening a durable store is blocking work.
    let store = build_store(&args)?;
    let workers = match args.workers {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.worker_threads(workers).enable_all();
    if workers > 1 {
        // A worker that polls the kernel takes one ready connection, not every one: the
        // rest stay for the next poll, by whichever worker is free. Taking them all queues
        // them on that worker, and when the kernel switches it out for a turn of another
        // thread on the same CPU, they wait out its turn (4 ms at 250 Hz): that was the
        // 99th percentile at 2 workers. With one worker, nothing else could take them.
        runtime.max_io_events_per_tick(1);
    }
    let runtime = runtime.build().context("starting the runtime")?;
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
    // Whoever reads the address line may signal at once: the handlers must be in place
    // by then, or the default action kills the process.
    let shutdown = shutdown_signal();
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
    // The delivery workers run on threads of their own (`server::threads`).
    let mut relay_threads = None;
    if let Some(relay) = &relay {
        let threads = Threads::start("relay", usize::from(args.forward_threads))
            .context("starting the relay's threads")?;
        relay.start_on(threads.handles())?;
        relay_threads = Some(threads);
        state = state.with_relay(Arc::clone(relay));
    }
    server::serve(listener, state, shutdown)
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
        if let Some(threads) = relay_threads {
            // Blocking: the threads end at once, their workers having stopped or been
            // given up on.
            tokio::task::block_in_place(|| threads.stop());
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

/// Listens for Ctrl-C (SIGINT) and SIGTERM from the call on, not from the first poll;
/// the future completes on either.
#[cfg(unix)]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    let listen = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    };
    let interrupt = listen(SignalKind::interrupt(), "Ctrl-C");
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    async fn received(listener: Option<Signal>) {
        match listener {
            Some(mut listener) => {
                listener.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            () = received(interrupt) => {},
            () = received(terminate) => {},
        }
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    }
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
