//! The pool of connections to the database, and when a connection is let go. The pool
//! hands out an idle connection without a round trip (`RecyclingMethod::Fast` only checks
//! that it is open), so a connection the server keeps but will not write through would be
//! handed out for good: one opened while the database was read-only (its sessions take the
//! database's `default_transaction_read_only` at their start), or one to a primary since
//! demoted. When the database answers that it refuses writes or is going away (an error
//! with one of [`RESET_CODES`]), every connection open at that moment is retired at its
//! next checkout and replaced by a new one; connections opened later are kept, and retired
//! in turn if they fail the same way. So the store recovers by itself once the database
//! takes writes again, at no cost per checkout but a comparison of two instants.
//!
//! Each connection of the pool waits at most [`LOCK_WAIT`] for a lock (`lock_timeout`):
//! a table locked by another session (`LOCK TABLE`, maintenance) answers 503 in seconds
//! rather than holding the request until its client gives up. The connection that
//! migrates the schema at start is not of the pool, and waits for another instance's
//! migration as long as it takes.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_postgres::{Hook, HookError, Manager, ManagerConfig, Metrics, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;

use super::Tls;
use crate::server::quiet::Quieted;
use crate::server::store::StoreError;
use crate::sync::LockExt;

/// The longest a caller waits for a connection from the pool, or for a new one.
const POOL_WAIT: Duration = Duration::from_secs(5);

/// The longest a statement of the pool's connections waits for a lock, as SQLite's busy
/// timeout bounds sqlite's writes. The waits of inserts for each other's advisory locks
/// (their turns, `batch.rs`) take milliseconds, far below it.
pub const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Sets [`LOCK_WAIT`] on a new connection, unless the database, the role or the URL's
/// `options` set a `lock_timeout` already (it is then not `0`). Once per connection, at
/// its start: a setting sent as a startup parameter instead would be refused by poolers
/// such as PgBouncer.
fn lock_wait_sql() -> String {
    format!(
        "SELECT set_config('lock_timeout', '{}ms', false) WHERE current_setting('lock_timeout') = '0'",
        LOCK_WAIT.as_millis()
    )
}

/// The errors after which the connections open are of no use: the session refuses writes
/// (read-only, as on a standby or while the database is set so), or the server is shutting
/// down, restarting after a crash, or not yet accepting connections.
const RESET_CODES: [SqlState; 4] = [
    SqlState::READ_ONLY_SQL_TRANSACTION,
    SqlState::ADMIN_SHUTDOWN,
    SqlState::CRASH_SHUTDOWN,
    SqlState::CANNOT_CONNECT_NOW,
];

/// When the database last answered with one of [`RESET_CODES`]. One per process, as
/// `serve` has one store; where tests run several in one process, a reset seen by one
/// costs the others a new connection each, nothing more.
static RESET_AT: Mutex<Option<Instant>> = Mutex::new(None);

/// Notes `e` when it says that the connections open now are to be replaced.
pub fn note(e: &tokio_postgres::Error) {
    let Some(code) = e.code().filter(|code| RESET_CODES.contains(code)) else {
        return;
    };
    *RESET_AT.locked() = Some(Instant::now());
    static WARNING: Quieted = Quieted::every(Duration::from_secs(5));
    if let Some(also) = WARNING.due() {
        tracing::warn!(
            sqlstate = code.code(),
            reason = %super::describe(e),
            also_since = also,
            "the database refuses writes or is going away; replacing the connections open now"
        );
    }
}

/// Whether a connection was opened before the database last said to replace them.
fn stale(metrics: &Metrics) -> bool {
    RESET_AT.locked().is_some_and(|at| metrics.created <= at)
}

/// The pool: up to `size` connections as `config` says, with bounded waits (with the
/// database gone, a request answers 503 in seconds instead of waiting out the connect
/// timeout), retiring stale connections as they are checked out.
pub fn build(config: tokio_postgres::Config, tls: Tls, size: usize) -> anyhow::Result<Pool> {
    let manager = Manager::from_config(
        config,
        tls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let bound_lock_waits = Hook::async_fn(|client, _| {
        Box::pin(async move {
            // Not within the pool's create timeout: bounded here, or a connection that
            // stops answering now would hold its caller.
            match tokio::time::timeout(POOL_WAIT, client.simple_query(&lock_wait_sql())).await {
                Ok(set) => set.map(drop).map_err(HookError::Backend),
                Err(_) => Err(HookError::message("no answer to setting lock_timeout")),
            }
        })
    });
    let retire_stale = Hook::sync_fn(|_, metrics| match stale(metrics) {
        true => Err(HookError::message(
            "opened before the database's last reset",
        )),
        false => Ok(()),
    });
    Ok(Pool::builder(manager)
        .max_size(size.max(1))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .recycle_timeout(Some(POOL_WAIT))
        .post_create(bound_lock_waits)
        .pre_recycle(retire_stale)
        .build()?)
}

/// A connection from the pool, or why there is none.
pub async fn connection(pool: &Pool) -> Result<deadpool_postgres::Object, StoreError> {
    pool.get().await.map_err(|e| {
        use deadpool_postgres::PoolError;
        match &e {
            PoolError::Backend(e) | PoolError::PostCreateHook(HookError::Backend(e)) => note(e),
            _ => {}
        }
        StoreError(format!("connecting to the database: {e}"))
    })
}
