//! The admin side of `serve`: the tokens of `--admin-token`/`--admin-token-file`, the
//! refusal to expose the admin endpoints unprotected on an address that is not loopback,
//! and serving the main and the `--admin-listen` listener until the same signal.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::server::admin::{AdminAuth, AdminToken};
use crate::server::routes::{self, Side};
use crate::server::tls::Tls;
use crate::server::{self, AppState};

use super::ServeArgs;

/// What the admin endpoints require, from `--admin-token`s (or the environment), then the
/// lines of `--admin-token-file`. An error names a token by position, never by value.
pub fn auth(args: &ServeArgs) -> anyhow::Result<AdminAuth> {
    let mut texts: Vec<(String, String)> = args
        .admin_token
        .iter()
        .enumerate()
        .map(|(i, t)| {
            (
                format!("--admin-token {} of {}", i + 1, args.admin_token.len()),
                t.0.clone(),
            )
        })
        .collect();
    if let Some(path) = &args.admin_token_file {
        texts.extend(file_tokens(path)?);
    }
    let tokens = texts
        .iter()
        .map(|(name, text)| AdminToken::parse(text).with_context(|| name.clone()))
        .collect::<anyhow::Result<_>>()?;
    Ok(AdminAuth {
        tokens,
        metrics_public: args.metrics_public,
    })
}

/// The tokens of a file, one a line (blank lines skipped), each named by its line.
fn file_tokens(path: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("--admin-token-file: reading {}", path.display()))?;
    let tokens: Vec<(String, String)> = content
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            (
                format!("{} line {}", path.display(), i + 1),
                line.trim().to_string(),
            )
        })
        .collect();
    if tokens.is_empty() {
        bail!("--admin-token-file: {} holds no token", path.display());
    }
    Ok(tokens)
}

/// How a refusal names the options: as flags (`--admin-token TOKEN`) or as a config
/// file's keys (`admin_token = "TOKEN"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Terms {
    Flags,
    File,
}

/// Refuses to serve admin endpoints without a token on an address that is not loopback,
/// unless `--admin-open` says so. With `--admin-listen`, the main listener serves none.
pub fn check_exposure(
    main: SocketAddr,
    admin: Option<SocketAddr>,
    auth: &AdminAuth,
    open: bool,
    terms: Terms,
) -> anyhow::Result<()> {
    let exposed = admin.unwrap_or(main);
    if !auth.tokens.is_empty() || is_loopback(exposed) {
        return Ok(());
    }
    if open {
        tracing::warn!(%exposed, "--admin-open: the admin endpoints need no token");
        return Ok(());
    }
    let which = match (admin, terms) {
        (Some(_), Terms::Flags) => "--admin-listen",
        (Some(_), Terms::File) => "admin_listen",
        (None, _) => "the main listener",
    };
    let [token, token_file, listen, open] = match terms {
        Terms::Flags => [
            "--admin-token TOKEN",
            "--admin-token-file PATH",
            "--admin-listen 127.0.0.1:PORT",
            "--admin-open",
        ],
        Terms::File => [
            "admin_token = \"TOKEN\"",
            "admin_token_file = \"PATH\"",
            "admin_listen = \"127.0.0.1:PORT\"",
            "admin_open = true",
        ],
    };
    bail!(
        "refusing to serve the admin endpoints (events, deliveries, replays, metrics) \
         without a token on {exposed} ({which}), which is not a loopback address; \
         give {token} (or {token_file}) to require a token, \
         {listen} to serve them apart on loopback, \
         or {open} to serve them open anyway"
    )
}

/// The address `serve` would bind for `host` and `port`, without binding: the first the
/// name resolves to, as binding tries them in order. `None` when it resolves to none (the
/// bind would fail then, and say so).
pub fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    (host, port).to_socket_addrs().ok()?.next()
}

/// The first address `HOST:PORT` (`--admin-listen`) resolves to, as binding would take.
pub fn resolve_address(text: &str) -> Option<SocketAddr> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs().ok()?.next()
}

fn is_loopback(addr: SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// The bound listeners of `serve`: the main one, and the admin one of `--admin-listen`.
pub struct Listeners {
    pub main: TcpListener,
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds the main listener at `main`, then the admin one at `admin` when given.
    pub async fn bind(main: &str, admin: Option<&str>) -> anyhow::Result<Self> {
        let main = TcpListener::bind(main)
            .await
            .with_context(|| format!("cannot listen on {main}"))?;
        let admin = match admin {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--admin-listen: cannot listen on {addr}"))?,
            ),
            None => None,
        };
        Ok(Self { main, admin })
    }

    /// The bound addresses: the main one and the admin one.
    pub fn addrs(&self) -> anyhow::Result<(SocketAddr, Option<SocketAddr>)> {
        let main = self
            .main
            .local_addr()
            .context("reading the bound address")?;
        let admin = match &self.admin {
            Some(l) => Some(l.local_addr().context("reading the bound admin address")?),
            None => None,
        };
        Ok((main, admin))
    }

    /// Serves until `shutdown` completes: every endpoint on the main listener, or the
    /// public ones there and the admin ones on the admin listener, with the same limits,
    /// request ids and TLS. When either stops (signal or error), both stop.
    pub async fn serve(
        self,
        tls: Option<Tls>,
        state: AppState,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let limits = state.config.limits.clone();
        let stop = CancellationToken::new();
        let signalled = stop.clone();
        let hub = Arc::clone(&state.stream);
        let signal = tokio::spawn(async move {
            tokio::select! {
                () = shutdown => signalled.cancel(),
                () = signalled.cancelled() => {},
            }
            // Streams go on as long as their clients listen: end them, or the graceful
            // shutdown would wait for them.
            hub.close();
        });
        let side = if self.admin.is_some() {
            Side::Public
        } else {
            Side::Both
        };
        let main = server::serve_app(
            self.main,
            tls.clone(),
            routes::app(state.clone(), side),
            &limits,
            stop.clone().cancelled_owned(),
        );
        let main = async {
            let served = main.await.context("serving");
            stop.cancel();
            served
        };
        let admin = async {
            let Some(listener) = self.admin else {
                return Ok(());
            };
            let app = routes::app(state, Side::Admin);
            let served =
                server::serve_app(listener, tls, app, &limits, stop.clone().cancelled_owned())
                    .await
                    .context("serving the admin listener");
            stop.cancel();
            served
        };
        let (main, admin) = tokio::join!(main, admin);
        signal.abort();
        main.and(admin)
    }
}
