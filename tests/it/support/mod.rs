//! Helpers shared by the integration tests: a programmable mock customer endpoint that
//! records what it receives, the real `hookrelay` binary started as a server (also on a
//! durable store), the router started in-process, raw sockets, and a few small HTTP
//! utilities. Every wait has a deadline.

// Each test module uses a different part of these helpers.
#![allow(dead_code, unused_imports)]

pub mod app;
pub mod browser;
pub mod customer;
pub mod durable;
pub mod http;
pub mod process;
pub mod proxy;
pub mod signing;
pub mod sse;
pub mod table;
pub mod tcp;
pub mod tls;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use app::App;
pub use customer::{Answer, Customer, Recorded};
pub use http::{fetch_json, send_json, wait_until};
pub use process::{Served, hookrelay};
pub use tcp::{connect, read_to_close};

/// The longest any helper waits for something that should happen.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The sample event of the original system, with a chosen id.
pub fn event(id: i64) -> String {
    event_of_type(id, "notification")
}

/// A valid event with a chosen id and type.
pub fn event_of_type(id: i64, event_type: &str) -> String {
    format!(
        r#"{{"event_id":{id},"timestamp":"2023-10-05T12:34:56","event_type":"{event_type}","description":"Event description"}}"#
    )
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released). Another test may
/// take it afterwards: for a port that must stay refused, or that becomes a listener
/// later, use [`HeldPort`].
pub fn unused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a probe port");
    listener.local_addr().expect("probe address").port()
}

/// A port on 127.0.0.1 held by a socket that is bound but does not listen: connections to
/// it are refused, and no other socket can bind it while this lives (no `SO_REUSEADDR`).
/// [`HeldPort::listen`] turns it into a listener on the same port.
pub struct HeldPort {
    socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl HeldPort {
    /// Needs no runtime; only [`HeldPort::listen`] does.
    pub fn bind() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().unwrap())
            .expect("binding a held port");
        let port = socket.local_addr().expect("held address").port();
        Self { socket, port }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Starts listening on the held port; from now on connections are accepted.
    pub fn listen(self) -> tokio::net::TcpListener {
        self.socket
            .listen(1024)
            .expect("listening on the held port")
    }
}

/// An answer read off the wire by [`raw_http`].
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// Writes `request` as-is on a fresh connection to `addr` and reads the answer until the
/// server closes the connection (send `Connection: close`). For requests reqwest cannot
/// make: chunked bodies, a `Content-Length` with no body behind it.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> RawResponse {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(request).await?;
        let mut answer = Vec::new();
        // The server may answer and close before reading all we sent; a reset after the
        // answer arrived is fine.
        let _ = stream.read_to_end(&mut answer).await;
        std::io::Result::Ok(answer)
    };
    let answer = tokio::time::timeout(DEADLINE, exchange)
        .await
        .expect("no answer before the deadline")
        .expect("raw HTTP exchange");
    let text = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    RawResponse {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// GETs `url`; the status and the JSON answer.
pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    app::answer(response).await
}

/// POSTs `body` to `url` as `application/json`; the status and the JSON answer.
pub async fn post_json(url: &str, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    app::answer(response).await
}

/// GETs `url` with `http`; the body as text.
pub async fn get_text(http: &reqwest::Client, url: &str) -> String {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .expect("reading the answer")
}

/// The value of one sample line of Prometheus metrics text, e.g. `name{label="x"}`.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        line.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}
