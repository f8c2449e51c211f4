//! The one HTTP client of outbound delivery: hyper's pooled client over plain TCP or rustls
//! (HTTP/1.1, or HTTP/2 when a TLS server offers it), no redirects followed, a bound on the
//! whole attempt, and `User-Agent: hookrelay/<version>`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// Timeouts of the client.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions {
    /// Whole attempt, from connecting to the last byte read.
    pub timeout: Duration,
    pub connect_timeout: Option<Duration>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: None,
        }
    }
}

/// The `User-Agent` every outbound request carries.
pub const USER_AGENT: &str = concat!("hookrelay/", env!("CARGO_PKG_VERSION"));

/// Keeps connections to each target open between attempts; cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    pub(super) pool: Pool<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Whole attempt, from connecting to the last byte read.
    pub(super) timeout: Duration,
}

pub fn build_client(options: ClientOptions) -> anyhow::Result<Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(options.connect_timeout);
    let https = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .wrap_connector(http);
    // Idle connections are closed after 90 s.
    let pool = Pool::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .build(https);
    Ok(Client {
        pool,
        timeout: options.timeout,
    })
}
