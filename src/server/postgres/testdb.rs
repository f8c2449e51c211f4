//! A fresh database for each test on a real PostgreSQL server, dropped afterwards.
//!
//! The server is `HOOKRELAY_TEST_DATABASE_URL` when set, else the one on 127.0.0.1:5432 as
//! `postgres` or `root`. Without a server, a test prints why and skips, unless `CI=true`,
//! where a missing database is a failure.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio_postgres::NoTls;

/// A database made for one test; dropped with it.
pub struct TestDb {
    admin: String,
    name: String,
    pub url: String,
}

fn admin_urls() -> Vec<String> {
    match std::env::var("HOOKRELAY_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => vec![url],
        _ => ["postgres", "root"]
            .iter()
            .map(|user| format!("postgres://{user}@127.0.0.1:5432/test"))
            .collect(),
    }
}

/// `url` with its database replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("a postgres URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

impl TestDb {
    /// A new empty database, or `None` (after saying why) when no server can be reached.
    /// Panics instead of skipping under `CI=true`.
    pub async fn create() -> Option<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let mut why = String::new();
        for admin in admin_urls() {
            let (client, connection) = match tokio_postgres::connect(&admin, NoTls).await {
                Ok(connected) => connected,
                Err(e) => {
                    why = format!("{}: {e}", super::redacted(&admin));
                    continue;
                }
            };
            tokio::spawn(connection);
            let name = format!(
                "hookrelay_test_{}_{}_{:08x}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed),
                rand::random::<u32>()
            );
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .await
                .expect("creating a test database");
            let url = with_database(&admin, &name);
            return Some(Self { admin, name, url });
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("no PostgreSQL for the tests (CI=true): {why}");
        }
        eprintln!("skipped: no PostgreSQL reachable ({why}); set HOOKRELAY_TEST_DATABASE_URL");
        None
    }

    /// The database's name, for statements about it (`ALTER DATABASE …`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection to the server's database the test databases are made from, for
    /// statements a database cannot run about itself (`ALTER DATABASE … ALLOW_CONNECTIONS`).
    pub async fn admin_client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.admin, NoTls)
            .await
            .expect("connecting to the admin database");
        tokio::spawn(connection);
        client
    }

    /// A connection of the test's own to this database (to write or read rows directly),
    /// driven on the current runtime.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
            .await
            .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Dropped inside a test's runtime, which cannot be blocked on: a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let (client, connection) = tokio_postgres::connect(&admin, NoTls).await.ok()?;
                tokio::spawn(connection);
                client.batch_execute(&sql).await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
