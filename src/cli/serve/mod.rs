//! `hookrelay serve`: bind, print the address (and the admin one), serve until Ctrl-C or
//! SIGTERM.

mod admin;
mod args;
mod file_endpoints;
mod relay_options;
mod sources;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use http::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use crate::alert::client::read_certificates;
use crate::alert::signing::Signer;
use crate::alert::{ClientOptions, RetryPolicy};
use crate::server::admin::AdminAuth;
use crate::server::endpoints::FileSecrets;
use crate::server::limits::Limits;
use crate::server::memory::MemoryStore;
use crate::server::mounts::Mounts;
use crate::server::postgres::{PostgresOptions, PostgresStore};
use crate::server::relay::{CircuitConfig, Relay, RelayConfig, Target};
use crate::server::sqlite::{self, SqliteOptions, SqliteStore};
use crate::server::store::EventStore;
use crate::server::threads::RuntimeThreads;
use crate::server::tls::Tls;
use crate::server::verify::{Scheme, Verification};

use crate::server::{AppState, Config};

pub use admin::Terms;
pub use args::{ForwardHeaders, LogFormat, ServeArgs, SourceArg, SyncMode, VerifyScheme};

use super::secret_options::{SecretKind, SecretText};
use super::values::StoreSpec;

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_logging(args.log_format);
    let verify = verification(&args)?;
    let mounts = sources::mounts(&args).context("--source")?;
    let admin_auth = admin::auth(&args)?;
    let relay_config = relay_config(&args)?;
    relay_options::lease(&args)?;
    relay_options::max_pending(&args)?;
    let outbound = outbound(&args)?;
    // Read before binding: a bad file is an error at start, not at the first connection.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key).context("--tls-cert/--tls-key")?),
        _ => None,
    };
    // Before the runtime: opening a SQLite store is blocking work. A PostgreSQL store is
    // opened on the runtime, whose tasks drive its connections.
    let store = match &args.store {
        StoreSpec::Postgres(url) => Err(url.clone()),
        _ => Ok(build_store(&args)?),
    };
    let workers = match args.workers {
        Some(n) => usize::from(n),
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    runtime.worker_threads(workers).enable_all();
    if workers > 1 {
        // A worker that polls the kernel takes one ready connection, not every one: the
        // rest stay for the next poll, by whichever worker is free. Taking them all queues
        // them on that worker, where they wait out any turn the kernel gives another
        // thread on its CPU (the tail latency at 2 workers; see benches/README.md). With
        // one worker, nothing else could take them.
        runtime.max_io_events_per_tick(1);
    }
    let runtime = runtime.build().context("starting the runtime")?;
    runtime.block_on(async {
        let store = match store {
            Ok(store) => store,
            Err(url) => open_postgres(&args, &url).await?,
        };
        let mut file_secrets = FileSecrets::default();
        if !args.file_endpoints.is_empty() {
            let done = file_endpoints::upsert(&*store, &args.file_endpoints)
                .await
                .context("--config: writing the file's endpoints")?;
            tracing::info!(
                created = done.created,
                changed = done.changed,
                unchanged = done.unchanged,
                "endpoints of the config file"
            );
            file_secrets = FileSecrets {
                file: args
                    .config
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ids: done.secret_set,
            };
        }
        let config = Config {
            mounts,
            file_secrets,
            ..config(&args, verify, admin_auth)
        };
        serve(args, store, config, tls, relay_config, outbound).await
    })?;
    Ok(super::exit(super::EXIT_OK))
}

/// The PostgreSQL store of `--store postgres://…`, connected and migrated.
async fn open_postgres(args: &ServeArgs, url: &str) -> anyhow::Result<Arc<dyn EventStore>> {
    let max_events = usize::try_from(args.max_events).unwrap_or(usize::MAX);
    let mut options = PostgresOptions::new(url, max_events, args.max_pending);
    options.retention = args.retention;
    options.poll = args.store_poll;
    options.lease = args.store_lease;
    options.connect_timeout = args.store_connect_timeout;
    options.pool_size = usize::from(args.store_pool_size);
    Ok(Arc::new(PostgresStore::open(options).await?))
}

/// A problem `serve` refuses to start with, found before binding, and the options it is
/// about (their ids, the likeliest first).
pub struct Refusal {
    pub options: Vec<&'static str>,
    pub error: anyhow::Error,
}

/// Every check `serve` makes of its options before it binds (the exposure of the admin
/// endpoints judged by the address `--host` names) and opens the store, each problem
/// found: `serve` stops at the first, `config check` reports them all. Reads the files
/// the options name (certificates, keys, token files), as `serve` does.
pub fn refusals(args: &ServeArgs, terms: Terms) -> Vec<Refusal> {
    let mut found = Vec::new();
    let mut check = |options: Vec<&'static str>, result: anyhow::Result<()>| {
        if let Err(error) = result {
            found.push(Refusal { options, error });
        }
    };
    check(
        vec!["verify", "secrets", "source"],
        verification(args).map(drop),
    );
    // A key naming two sources is about the secret's option; what else `mounts` refuses,
    // about the sources.
    let keys = sources::check_keys(args);
    let keys_named = keys.is_ok();
    check(vec!["source_secret", "source_secret_file", "source"], keys);
    if keys_named {
        check(
            vec!["source", "source_secret"],
            sources::mounts(args).map(drop),
        );
    }
    let auth = admin::auth(args);
    let auth_error = auth.as_ref().err().map(|e| anyhow::anyhow!("{e:#}"));
    check(
        vec!["admin_token_file", "admin_token"],
        auth_error.map_or(Ok(()), Err),
    );
    check(vec!["forward_secret"], relay_config(args).map(drop));
    check(
        vec!["store_lease", "forward_timeout", "store"],
        relay_options::lease(args),
    );
    check(
        vec!["max_pending", "forward_to", "route"],
        relay_options::max_pending(args),
    );
    check(vec!["forward_cacert"], outbound(args).map(drop));
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key)
        && let Err(e) = Tls::load(cert, key)
    {
        let blamed = match read_certificates(cert) {
            Err(_) => "tls_cert",
            Ok(_) => "tls_key",
        };
        check(vec![blamed], Err(e));
    }
    check(vec!["retention", "store"], store_options(args));
    if let Ok(auth) = &auth {
        let admin_listen = args
            .admin_listen
            .as_deref()
            .and_then(admin::resolve_address);
        let (option, main) = match admin_listen {
            Some(admin) => ("admin_listen", Some(admin)),
            None => ("host", admin::resolve(&args.host, args.port)),
        };
        if let Some(main) = main {
            let result = admin::check_exposure(main, admin_listen, auth, args.admin_open, terms);
            check(vec![option, "admin_open"], result);
        }
    }
    found
}

/// What `serve` refuses of the store's options, before opening it.
fn store_options(args: &ServeArgs) -> anyhow::Result<()> {
    if matches!(args.store, StoreSpec::Memory) && args.retention.is_some() {
        anyhow::bail!("--retention needs a durable store: --store sqlite:PATH or postgres://…");
    }
    Ok(())
}

/// The store named by `--store`, opened (and for sqlite checked, migrated, recovered).
fn build_store(args: &ServeArgs) -> anyhow::Result<Arc<dyn EventStore>> {
    let max_events = usize::try_from(args.max_events).unwrap_or(usize::MAX);
    store_options(args)?;
    Ok(match &args.store {
        StoreSpec::Memory => Arc::new(MemoryStore::new(max_events, args.max_pending)),
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
        StoreSpec::Postgres(_) => anyhow::bail!("a PostgreSQL store is opened on the runtime"),
    })
}

async fn serve(
    args: ServeArgs,
    store: Arc<dyn EventStore>,
    config: Config,
    tls: Option<Tls>,
    relay_config: Option<RelayConfig>,
    outbound: ClientOptions,
) -> anyhow::Result<()> {
    let address = format!("{}:{}", args.host, args.port);
    let listeners = admin::Listeners::bind(&address, args.admin_listen.as_deref()).await?;
    let (local, admin_local) = listeners.addrs()?;
    // After binding, so that a host name is judged by the address it names.
    admin::check_exposure(
        local,
        admin_local,
        &config.admin,
        args.admin_open,
        Terms::Flags,
    )?;
    // Whoever reads the address line may signal at once: the handlers must be in place
    // by then, or the default action kills the process.
    let shutdown = shutdown_signal();
    let reloading = CancellationToken::new();
    match &tls {
        Some(tls) => tls.reload_on_sighup(reloading.clone()),
        None => hangups_change_nothing(reloading.clone()),
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    super::print_out(&format!("listening on {scheme}://{local}\n"))?;
    if let Some(admin_local) = admin_local {
        super::print_out(&format!("listening on {scheme}://{admin_local} (admin)\n"))?;
    }
    let admin = admin_local.map(|a| a.to_string());
    tracing::info!(%local, admin, max_events = args.max_events, store = %args.store, "serving");
    sources::warn_unchecked(&args, &config.mounts);

    let mut state = AppState::new(store.clone(), config);
    let relay = match relay_config {
        Some(config) => Some(start_relay(&args, config, store.clone(), outbound).await?),
        None => None,
    };
    if let Some((relay, _)) = &relay {
        state = state.with_relay(Arc::clone(relay));
    }
    listeners.serve(tls, state, shutdown).await?;
    reloading.cancel();
    if let Some((relay, threads)) = relay {
        stop_relay(&args, relay, threads, &*store).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// The receiver's settings from the command line.
fn config(args: &ServeArgs, verify: Option<Verification>, admin: AdminAuth) -> Config {
    Config {
        max_body_bytes: usize::try_from(args.max_body_bytes).unwrap_or(usize::MAX),
        verify,
        limits: Limits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
            max_inflight: args.max_inflight as usize,
            max_streams: args.max_streams as usize,
        },
        admin,
        mounts: Mounts::default(),
        keep_secret_headers: args.keep_secret_headers,
        file_secrets: FileSecrets::default(),
    }
}

/// The relay with its delivery workers running on threads of their own
/// (`server::threads`), apart from the runtime that serves requests.
async fn start_relay(
    args: &ServeArgs,
    config: RelayConfig,
    store: Arc<dyn EventStore>,
    outbound: ClientOptions,
) -> anyhow::Result<(Arc<Relay>, RuntimeThreads)> {
    let relay = Relay::with_client_options(config, store, outbound)?;
    for shown in relay.options_endpoints() {
        let endpoint = shown.endpoint;
        tracing::info!(endpoint = %endpoint.id, url = %endpoint.url,
            filter_types = ?endpoint.filter_types, "endpoint of --forward-to/--route");
    }
    let threads = RuntimeThreads::start("relay", usize::from(args.forward_threads))
        .context("starting the relay's threads")?;
    relay.start_on(threads.handles())?;
    // Stored endpoints (`POST /endpoints`) are delivered to as well.
    relay
        .reload_endpoints()
        .await
        .context("reading the stored endpoints")?;
    Ok((relay, threads))
}

/// After the last request: gives attempts in flight `--shutdown-grace`, stops the relay's
/// threads, and says what is left undelivered.
async fn stop_relay(
    args: &ServeArgs,
    relay: Arc<Relay>,
    threads: RuntimeThreads,
    store: &dyn EventStore,
) {
    let grace = args.shutdown_grace;
    if !relay.drain(grace).await {
        tracing::warn!(
            grace_secs = grace.as_secs_f64(),
            "attempts still in flight after the grace period were cut off"
        );
    }
    // Blocking: the threads end at once, their workers having stopped or been given up on.
    tokio::task::block_in_place(|| threads.stop());
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
    if targets.is_empty() && !args.forward_secret.is_empty() {
        anyhow::bail!("--forward-secret needs a target: --forward-to or --route");
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
        original_headers: args.forward_headers == ForwardHeaders::Original,
        circuit: CircuitConfig {
            failures: args.circuit_failures,
            disable_after: args.circuit_disable_after,
            ..CircuitConfig::default()
        },
    }))
}

/// The trust (`--forward-cacert`) and proxies of the relay's deliveries.
fn outbound(args: &ServeArgs) -> anyhow::Result<ClientOptions> {
    let extra_roots = match &args.forward_cacert {
        Some(path) => read_certificates(path).context("--forward-cacert")?,
        None => Vec::new(),
    };
    Ok(ClientOptions {
        extra_roots,
        ..ClientOptions::default()
    })
}

/// The verification `--verify` asks for, with its secrets.
fn verification(args: &ServeArgs) -> anyhow::Result<Option<Verification>> {
    if let Some(main) = sources::main_source(args) {
        if let Some(scheme) = args.verify {
            let scheme = format!("{scheme:?}").to_lowercase();
            anyhow::bail!(
                "--verify {scheme} is for the event model; --source {} checks its own signature whenever --secret is given",
                main.name
            );
        }
        return Ok(None);
    }
    let Some(scheme) = args.verify else {
        if !args.secrets.load(SecretKind::Raw)?.is_empty() {
            anyhow::bail!("a secret was given without --verify standard|github");
        }
        return Ok(None);
    };
    let (scheme, kind) = match scheme {
        VerifyScheme::Standard => (Scheme::Standard, SecretKind::Whsec),
        VerifyScheme::Github => (Scheme::Github, SecretKind::Raw),
    };
    Ok(Some(Verification {
        scheme,
        secrets: args.secrets.load_required(kind)?,
        tolerance: args.verify_tolerance,
    }))
}

/// [`super::stop_signal`], logged.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let stop = super::stop_signal();
    async move {
        stop.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
    }
}

/// Without a certificate to reload, `SIGHUP` (a closed terminal, a supervisor's reload)
/// changes nothing and is logged: its default action would end the process, and a memory
/// store with it.
fn hangups_change_nothing(stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    received = hangups.recv() => if received.is_none() { return },
                    () = stop.cancelled() => return,
                }
                tracing::info!("SIGHUP: nothing to reload (no --tls-cert); still serving");
            }
        });
    }
    #[cfg(not(unix))]
    let _ = stop;
}

/// Logs go to stderr; `HOOKRELAY_LOG` (or `RUST_LOG`) sets the filter, `info` by default.
/// A log line that cannot be written (stderr a closed pipe or a full disk) is dropped: the
/// subscriber's own report of it would be an `eprintln!`, which panics on that same stderr,
/// in whichever task was logging (a request's, or the one waiting for SIGTERM).
fn init_logging(format: LogFormat) {
    let filter = std::env::var("HOOKRELAY_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .log_internal_errors(false)
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter));
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}
