//! The one HTTP client of outbound delivery: no redirects followed, bounded timeouts, and
//! `User-Agent: hookrelay/<version>`.

use std::time::Duration;

use reqwest::Client;

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

pub fn build_client(options: ClientOptions) -> anyhow::Result<Client> {
    let mut builder = Client::builder()
        .user_agent(USER_AGENT)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(options.timeout);
    if let Some(connect) = options.connect_timeout {
        builder = builder.connect_timeout(connect);
    }
    Ok(builder.build()?)
}
