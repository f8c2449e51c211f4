//! Waking the workers of every instance: a transaction that queues deliveries sends
//! `NOTIFY hookrelay_work` with each target's URL (delivered at commit), and each instance
//! keeps one connection of its own, outside the pool, that `LISTEN`s and wakes a worker of
//! that target. A lost connection is made again; meanwhile the periodic poll finds the work.

use std::future::poll_fn;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, GenericClient};
use tokio_util::sync::CancellationToken;

use super::{Tls, failed};
use crate::server::store::{StoreError, WakeFn};

const CHANNEL: &str = "hookrelay_work";

/// How long to wait before listening again after the connection was lost.
const AGAIN: Duration = Duration::from_secs(1);

/// Tells every listening instance that deliveries to `targets` are due (at commit).
pub async fn work_queued(client: &impl GenericClient, targets: &[&str]) -> Result<(), StoreError> {
    client
        .execute(
            "SELECT pg_notify('hookrelay_work', t) FROM (SELECT DISTINCT unnest($1::TEXT[]) AS t) q",
            &[&targets],
        )
        .await
        .map_err(failed("announcing queued deliveries"))?;
    Ok(())
}

/// Listens until `stop`, calling `wake` with the target of every notification.
pub fn listen(config: tokio_postgres::Config, tls: Tls, wake: WakeFn, stop: CancellationToken) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        loop {
            let session = session(&config, tls.clone(), &wake, &stop);
            match tokio::select! {
                result = session => result,
                () = stop.cancelled() => return,
            } {
                Ok(()) => tracing::warn!("the database closed the connection that listens for work"),
                Err(e) => {
                    // The server's own words where it sent some: "db error" alone says nothing.
                    let why = e
                        .as_db_error()
                        .map(|db| db.message().to_owned())
                        .unwrap_or_else(|| e.to_string());
                    tracing::warn!(error = %why, "cannot listen for work queued by other instances; polling meanwhile")
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(AGAIN) => {}
            }
        }
    });
}

/// One connection's worth of listening: returns when the connection ends.
async fn session(
    config: &tokio_postgres::Config,
    tls: Tls,
    wake: &WakeFn,
    stop: &CancellationToken,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls).await?;
    let (sender, mut received) = mpsc::unbounded_channel::<String>();
    // The connection hands notifications only to whoever polls it for messages.
    let driver = tokio::spawn(async move {
        while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
            match message? {
                AsyncMessage::Notification(n) if sender.send(n.payload().to_owned()).is_err() => {
                    break;
                }
                _ => {}
            }
        }
        Ok::<(), tokio_postgres::Error>(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    tracing::debug!("listening for work queued by other instances");
    // What was queued before this connection listened was announced to no one here.
    let now = chrono::Utc::now().timestamp_micros();
    let due = client
        .query(
            "SELECT DISTINCT target FROM deliveries
             WHERE status IN ('pending', 'failed') AND due <= $1",
            &[&now],
        )
        .await?;
    for row in &due {
        wake(row.get::<_, &str>(0));
    }
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            target = received.recv() => match target {
                Some(target) => wake(&target),
                None => break,
            },
        }
    }
    drop(client);
    driver.await.unwrap_or(Ok(()))
}
