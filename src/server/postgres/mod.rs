//! The shared store: events, deliveries and attempts in PostgreSQL, so that several
//! `hookrelay serve` instances on one database behave as one. Inserts commit the event and
//! its deliveries in one transaction before answering; dedup is the database's unique
//! `event_id`, whichever instance saw it first. Workers of every instance take deliveries
//! from one queue (`queue.rs`) with `FOR UPDATE SKIP LOCKED` and a lease. The schema is
//! versioned and migrated at start (`schema.rs`); eviction and expiry are in `trim.rs`.

mod batch;
mod notify;
mod pool;
mod queue;
mod schema;
mod tls;
mod trim;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;
use tokio_postgres::Row;

use super::store::{
    AttemptRecord, Claim, DeliveryCounts, DeliveryFilter, DeliveryRecord, DeliveryStatus, Endpoint,
    EndpointWrite, EventKey, EventQuery, EventStore, Headers, Inserted, NewEvent, NextState, Put,
    StoreError, StoreStats, StoredEvent, model_id,
};
use super::verify::Seen;
use pool::connection;

pub use pool::LOCK_WAIT;
pub use schema::SCHEMA_VERSION;

/// The locks every insert takes, for tests that hold an insert open by hand.
#[cfg(test)]
pub(crate) use batch::{INSERT_LOCK, SEQUENCE_LOCK};

/// How long the counts of events and deliveries shown by `/metrics` and `/healthz` are
/// reused: `count(*)` over shared tables is not for every scrape of every instance.
pub const GAUGES_MAX_AGE: Duration = Duration::from_secs(2);

/// How the connections to the database are secured (`sslmode` in the URL).
type Tls = tls::Rustls;

/// How to reach the database and what to keep there.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB` (or `postgresql://…`).
    pub url: String,
    /// Events kept; the oldest are dropped beyond it.
    pub max_events: usize,
    /// Open deliveries allowed; beyond it inserts answer `QueueFull`.
    pub max_pending: usize,
    /// Events older than this are dropped.
    pub retention: Option<Duration>,
    /// Connections to the database, shared by requests and delivery workers.
    pub pool_size: usize,
    /// How long a claimed delivery stays another instance's before it may be taken over.
    pub lease: Duration,
    /// How long to wait for the database at start.
    pub connect_timeout: Duration,
    /// How often an idle worker looks for deliveries that no notification announced
    /// (one lost while this instance's listening connection was down, a retry come due).
    pub poll: Duration,
}

impl PostgresOptions {
    /// Options with the defaults for everything but the URL and the limits.
    pub fn new(url: &str, max_events: usize, max_pending: usize) -> Self {
        Self {
            url: url.to_owned(),
            max_events,
            max_pending,
            retention: None,
            pool_size: 16,
            lease: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// `url` with its password hidden, for messages and logs: the one before the `@` and one
/// given as a parameter (`?password=…`, and `sslpassword`, the client key's).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            let secret = |key: &str| key == "password" || key == "sslpassword";
            if parsed.query_pairs().any(|(key, _)| secret(&key)) {
                let pairs: Vec<(String, String)> = parsed
                    .query_pairs()
                    .map(|(key, value)| {
                        let value = if secret(&key) { "***".into() } else { value };
                        (key.into_owned(), value.into_owned())
                    })
                    .collect();
                parsed.query_pairs_mut().clear().extend_pairs(pairs);
            }
            parsed.to_string()
        }
        // Without a user part there is no password to hide.
        Err(_) if !url.contains('@') => url.to_owned(),
        Err(_) => "(a URL that does not parse)".to_owned(),
    }
}

pub struct PostgresStore {
    pool: Pool,
    /// Inserts on their way to a committer (group commit).
    inserts: tokio::sync::mpsc::UnboundedSender<batch::Pending>,
    /// Claims of this instance's workers, made together.
    claims: Arc<queue::Claims>,
    capacity: usize,
    poll: Duration,
    /// The `store_id` row of `counters`, drawn when the database was first prepared.
    id: String,
    /// For the connection that listens for work queued by other instances.
    config: tokio_postgres::Config,
    tls: Tls,
    stop: tokio_util::sync::CancellationToken,
    served: crate::server::store::Served,
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// A database error as the store reports it: what failed, and the server's reason.
fn endpoint_from_doc(doc: &str) -> Result<Endpoint, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError(format!("reading an endpoint: {e}")))
}

fn failed(what: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |e| {
        pool::note(&e);
        let why = e
            .as_db_error()
            .map(|db| db.message().to_owned())
            .unwrap_or_else(|| e.to_string());
        StoreError(format!("{what}: {why}"))
    }
}

/// Whether `text` can be in a `TEXT` column. PostgreSQL's text cannot hold U+0000, so a key
/// holding one names nothing stored, and sent as a parameter it would fail the statement
/// (a 503 for what is a question with no answer): lookups by such a key find nothing.
fn storable(text: &str) -> bool {
    !text.contains('\0')
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn id_sql(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn limit_sql(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn status_from_sql(text: &str) -> Result<DeliveryStatus, StoreError> {
    DeliveryStatus::ALL
        .into_iter()
        .find(|s| s.as_str() == text)
        .ok_or_else(|| StoreError(format!("unknown delivery status {text:?} in the database")))
}

/// The columns [`event_row`] reads.
const EVENT_COLUMNS: &str = "seq, id, event_id, event_type, received_at, body, headers, signature";

fn event_row(row: &Row) -> StoredEvent {
    StoredEvent {
        seq: row.get::<_, i64>(0) as u64,
        id: row.get(1),
        event_id: row.get(2),
        event_type: row.get(3),
        received_at: DateTime::from_timestamp_micros(row.get(4)).unwrap_or_default(),
        body: row.get(5),
        headers: Headers::from_bytes(row.get::<_, Vec<u8>>(6)).unwrap_or_default(),
        signature: row
            .get::<_, Option<&str>>(7)
            .and_then(|s| serde_json::from_str(s).ok()),
    }
}

impl PostgresStore {
    /// Connects, migrates the schema and starts the expiry of old events.
    pub async fn open(options: PostgresOptions) -> anyhow::Result<Self> {
        let shown = redacted(&options.url);
        let mut config = tokio_postgres::Config::from_str(&options.url)
            .with_context(|| format!("{shown} is not a usable PostgreSQL URL"))?;
        config.connect_timeout(options.connect_timeout);
        config.application_name("hookrelay");
        let tls = Tls::new().context("setting up TLS to the database")?;
        let (mut client, connection) =
            connect_waiting(&config, &tls, options.connect_timeout, &shown).await?;
        let driver = tokio::spawn(connection);
        schema::migrate(&mut client)
            .await
            .with_context(|| format!("cannot prepare the database {shown}"))?;
        trim::recount(&mut client)
            .await
            .with_context(|| format!("cannot count the events in {shown}"))?;
        let id = schema::store_id(&client)
            .await
            .with_context(|| format!("cannot read the store id of {shown}"))?;
        drop(client);
        let _ = driver.await;

        let pool = pool::build(config.clone(), tls.clone(), options.pool_size)
            .context("building the connection pool")?;
        let limits = batch::Limits {
            capacity: options.max_events.max(1),
            max_pending: options.max_pending,
        };
        // Half the pool commits inserts; the rest serves reads and the delivery workers.
        let inserts = batch::start(pool.clone(), limits, options.pool_size / 2);
        let store = Self {
            inserts,
            pool: pool.clone(),
            claims: queue::Claims::new(
                pool.clone(),
                i64::try_from(options.lease.as_micros()).unwrap_or(i64::MAX),
            ),
            capacity: options.max_events.max(1),
            poll: options.poll.max(Duration::from_millis(10)),
            id,
            config,
            tls,
            stop: tokio_util::sync::CancellationToken::new(),
            served: Default::default(),
        };
        if let Some(keep) = options.retention {
            trim::expire_every(store.pool.clone(), keep, store.stop.clone());
        }
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        connection(&self.pool).await
    }
}

/// Writes an attempt's result, in one statement.
async fn record(
    pool: &Pool,
    id: u64,
    attempt: &AttemptRecord,
    next: NextState,
) -> Result<(), StoreError> {
    let mut client = connection(pool).await?;
    queue::record(&mut client, id_sql(id), attempt, next).await
}

/// The server's own words when it sent an error, else the driver's with its cause.
/// The first connection, waiting up to `timeout` for a database that is not up yet (the
/// connection refused, or the server still starting); any other failure (a wrong password,
/// a missing database, an unknown host) ends the wait at once.
async fn connect_waiting(
    config: &tokio_postgres::Config,
    tls: &Tls,
    timeout: Duration,
    shown: &str,
) -> anyhow::Result<(
    tokio_postgres::Client,
    tokio_postgres::Connection<
        tokio_postgres::Socket,
        <Tls as tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket>>::Stream,
    >,
)> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(100);
    let mut told = false;
    loop {
        let failure = match config.connect(tls.clone()).await {
            Ok(connected) => return Ok(connected),
            Err(e) => e,
        };
        let now = tokio::time::Instant::now();
        if !not_up_yet(&failure) || now + pause >= deadline {
            return Err(anyhow::anyhow!("{}", describe(&failure)))
                .with_context(|| format!("cannot connect to {shown}"));
        }
        if !told {
            told = true;
            tracing::warn!(
                database = %shown,
                reason = %describe(&failure),
                "waiting for the database (--store-connect-timeout {}s)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Whether a failed connection is one to a database that is not up yet: nothing listens,
/// or the server answers that it is starting.
fn not_up_yet(e: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind;
    if let Some(db) = e.as_db_error() {
        return *db.code() == tokio_postgres::error::SqlState::CANNOT_CONNECT_NOW;
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotFound
                    | ErrorKind::TimedOut
            );
        }
        cause = c.source();
    }
    false
}

fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return db.message().to_owned();
    }
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn insert(&self, event: NewEvent<'_>) -> Result<Inserted, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let pending = batch::Pending {
            id: event.id.to_owned(),
            event_id: event.event_id,
            event_type: event.event_type.to_owned(),
            body: event.body.to_vec(),
            headers: event.headers,
            signature: event.signature,
            targets: event.targets.to_vec(),
            reply,
        };
        let gone = || StoreError("the store's committers have stopped".into());
        self.inserts.send(pending).map_err(|_| gone())?;
        let mut answer = batch::Answer(Some(answer));
        let Some(unread) = answer.0.as_mut() else {
            return Err(gone());
        };
        let read = unread.await;
        answer.0 = None;
        read.map_err(|_| gone())?
    }

    async fn get(&self, key: EventKey<'_>) -> Result<Option<StoredEvent>, StoreError> {
        if let EventKey::Id(id) = key
            && !storable(id)
        {
            return Ok(None);
        }
        let client = self.client().await?;
        let row = match key {
            EventKey::Id(id) => {
                let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1");
                client.query_opt(&sql, &[&id]).await
            }
            // Through the string id's index: a model event's id is `evt_<event_id>`, and
            // a provider's event that happens to be named so has no `event_id`.
            EventKey::EventId(n) => {
                let sql =
                    format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND event_id = $2");
                client.query_opt(&sql, &[&model_id(n), &n]).await
            }
        }
        .map_err(failed("reading an event"))?;
        Ok(row.as_ref().map(event_row))
    }

    async fn list(&self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        if query.event_type.as_deref().is_some_and(|t| !storable(t)) {
            return Ok(Vec::new());
        }
        let client = self.client().await?;
        let after = query.after.map(id_sql).unwrap_or(0);
        let before = query.before.map(id_sql).unwrap_or(i64::MAX);
        let since = query.since.map(micros);
        // In the text, not a bound parameter: the order is part of the plan.
        let order = if query.newest_first { "DESC" } else { "ASC" };
        let rows = client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM events
                     WHERE seq > $1 AND seq < $2
                       AND ($3::BIGINT IS NULL OR received_at >= $3)
                       AND ($4::TEXT IS NULL OR event_type = $4)
                     ORDER BY seq {order} LIMIT $5"
                ),
                &[
                    &after,
                    &before,
                    &since,
                    &query.event_type,
                    &limit_sql(query.limit),
                ],
            )
            .await
            .map_err(failed("listing events"))?;
        Ok(rows.iter().map(event_row).collect())
    }

    async fn stats(&self) -> Result<StoreStats, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT (SELECT value FROM counters WHERE key = 'kept'),
                        (SELECT value FROM counters WHERE key = 'evicted')",
                &[],
            )
            .await
            .map_err(failed("counting events"))?;
        Ok(StoreStats {
            events: row.get::<_, Option<i64>>(0).unwrap_or(0).max(0) as usize,
            capacity: self.capacity,
            evicted: row.get::<_, Option<i64>>(1).unwrap_or(0) as u64,
            evicted_here: Some(trim::evicted_here()),
        })
    }

    fn store_id(&self) -> &str {
        &self.id
    }

    async fn claim(&self, target: &str, now: DateTime<Utc>) -> Result<Claim, StoreError> {
        self.claims.claim(target, now).await
    }

    async fn record_attempt(
        &self,
        id: u64,
        attempt: AttemptRecord,
        next: NextState,
    ) -> Result<(), StoreError> {
        let Err(e) = record(&self.pool, id, &attempt, next).await else {
            return Ok(());
        };
        // The delivery stays claimed meanwhile; should this instance stop first, its lease
        // runs out and the attempt is made again (at least once).
        tracing::warn!(error = %e, delivery = id, "an attempt's result will be written later");
        let (pool, stop) = (self.pool.clone(), self.stop.clone());
        tokio::spawn(async move {
            let mut pause = Duration::from_millis(200);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(pause) => {}
                }
                match record(&pool, id, &attempt, next).await {
                    Ok(()) => {
                        tracing::info!(delivery = id, "an attempt's result written late");
                        return;
                    }
                    Err(e) => tracing::debug!(error = %e, delivery = id, "still not written"),
                }
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        });
        Ok(())
    }

    async fn deliveries(&self, filter: &DeliveryFilter) -> Result<Vec<DeliveryRecord>, StoreError> {
        let client = self.client().await?;
        queue::list(&client, filter).await
    }

    async fn replay(&self, filter: &DeliveryFilter) -> Result<Vec<Arc<str>>, StoreError> {
        let client = self.client().await?;
        queue::replay(&client, filter, self.served.get().as_deref()).await
    }

    fn inserts_apart(&self) -> bool {
        true
    }

    fn keeps_webhook_ids(&self) -> bool {
        true
    }

    async fn seen_webhook_id(&self, id: &str) -> Result<Option<Seen>, StoreError> {
        if !storable(id) {
            return Ok(None);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT event, event_id, digest FROM webhook_ids WHERE webhook_id = $1",
                &[&id],
            )
            .await
            .map_err(failed("reading a webhook-id"))?;
        Ok(row.and_then(|row| {
            Some(Seen {
                id: row.get(0),
                event_id: row.get(1),
                digest: row.get::<_, &[u8]>(2).try_into().ok()?,
            })
        }))
    }

    async fn remember_webhook_id(&self, id: &str, seen: Seen) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO webhook_ids (webhook_id, event, event_id, digest, seen_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (webhook_id) DO NOTHING",
                &[
                    &id,
                    &seen.id,
                    &seen.event_id,
                    &&seen.digest[..],
                    &micros(Utc::now()),
                ],
            )
            .await
            .map_err(failed("remembering a webhook-id"))?;
        Ok(())
    }

    fn on_work_elsewhere(&self, wake: super::store::WakeFn) {
        notify::listen(
            self.config.clone(),
            self.tls.clone(),
            wake,
            self.stop.clone(),
        );
    }

    fn poll_every(&self) -> Option<Duration> {
        // Notifications can be lost while the listening connection is down.
        Some(self.poll)
    }

    fn gauges_max_age(&self) -> Duration {
        GAUGES_MAX_AGE
    }

    async fn delivery_counts(&self) -> Result<DeliveryCounts, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT status, count(*) FROM deliveries GROUP BY status",
                &[],
            )
            .await
            .map_err(failed("counting deliveries"))?;
        let mut counts = DeliveryCounts {
            by_status: DeliveryStatus::ALL.iter().map(|s| (*s, 0)).collect(),
            open: 0,
        };
        for row in rows {
            let status = status_from_sql(row.get(0))?;
            let n = row.get::<_, i64>(1) as usize;
            if let Some(slot) = counts.by_status.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = n;
            }
            if status.is_open() {
                counts.open += n;
            }
        }
        Ok(counts)
    }

    async fn endpoints(&self) -> Result<Vec<Endpoint>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query("SELECT doc FROM endpoints ORDER BY created_at, id", &[])
            .await
            .map_err(failed("reading endpoints"))?;
        rows.iter()
            .map(|row| endpoint_from_doc(row.get(0)))
            .collect()
    }

    async fn endpoint(&self, id_or_name: &str) -> Result<Option<Endpoint>, StoreError> {
        if !storable(id_or_name) {
            return Ok(None);
        }
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT doc FROM endpoints WHERE id = $1 OR name = $1
                 ORDER BY id = $1 DESC LIMIT 1",
                &[&id_or_name],
            )
            .await
            .map_err(failed("reading an endpoint"))?;
        row.map(|row| endpoint_from_doc(row.get(0))).transpose()
    }

    async fn put_endpoint(
        &self,
        endpoint: &Endpoint,
        put: Put,
    ) -> Result<EndpointWrite, StoreError> {
        let doc = serde_json::to_string(endpoint)
            .map_err(|e| StoreError(format!("writing an endpoint: {e}")))?;
        let client = self.client().await?;
        let written =
            match put {
                Put::Create => client
                    .execute(
                        "INSERT INTO endpoints (id, name, created_at, doc) VALUES ($1, $2, $3, $4)",
                        &[
                            &endpoint.id,
                            &endpoint.name,
                            &endpoint.created_at.timestamp_micros(),
                            &doc,
                        ],
                    )
                    .await,
                Put::Replace => {
                    client
                        .execute(
                            "UPDATE endpoints SET name = $2, doc = $3 WHERE id = $1",
                            &[&endpoint.id, &endpoint.name, &doc],
                        )
                        .await
                }
            };
        match written {
            Ok(0) => Ok(EndpointWrite::IdConflict),
            Ok(_) => Ok(EndpointWrite::Done),
            Err(e) => match e.as_db_error() {
                Some(db) if *db.code() == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                    Ok(if db.constraint() == Some("endpoints_name_key") {
                        EndpointWrite::NameTaken
                    } else {
                        EndpointWrite::IdConflict
                    })
                }
                _ => Err(failed("writing an endpoint")(e)),
            },
        }
    }

    async fn delete_endpoint(&self, id: &str) -> Result<Option<usize>, StoreError> {
        if !storable(id) {
            return Ok(None);
        }
        let client = self.client().await?;
        // One statement: the endpoint goes and its waiting deliveries with it, or neither.
        let row = client
            .query_one(
                "WITH gone AS (DELETE FROM endpoints WHERE id = $1 RETURNING id),
                      dropped AS (
                          UPDATE deliveries SET status = 'dead', due = NULL
                          WHERE target = $1 AND status IN ('pending', 'failed')
                            AND EXISTS (SELECT 1 FROM gone)
                          RETURNING 1)
                 SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM dropped)",
                &[&id],
            )
            .await
            .map_err(failed("deleting an endpoint"))?;
        let (gone, dropped): (i64, i64) = (row.get(0), row.get(1));
        Ok((gone > 0).then_some(dropped as usize))
    }

    async fn drop_orphaned(&self) -> Result<Vec<(String, usize)>, StoreError> {
        let client = self.client().await?;
        queue::drop_orphaned(&client, self.served.get().as_deref()).await
    }

    fn serve_targets(&self, targets: Vec<Arc<str>>) {
        self.served.set(targets);
    }
}

/// For tests of this crate and of its binary: a fresh database per test.
#[doc(hidden)]
pub mod testdb;
