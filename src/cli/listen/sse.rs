//! The client side of `GET /events/stream` for `hookrelay listen`: connecting with the
//! admin token and `Last-Event-ID`, telling a refusal (wrong token, not a hookrelay) from
//! a passing failure, and cutting the body into frames.

use std::time::Duration;

use anyhow::anyhow;
use bytes::{Bytes, BytesMut};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::server::stream::sse::{HEARTBEAT_MS, STARTS_AFTER, STORE_ID};

/// What the stream of a hookrelay starts with; anything else is not one.
const HELLO: &str = ": hookrelay event stream";

/// An HTTP client for the stream and for reading event bodies.
#[derive(Clone)]
pub struct StreamClient {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    token: Option<HeaderValue>,
    connect_timeout: Duration,
}

/// Why connecting failed.
#[derive(Debug)]
pub enum Failure {
    /// Trying again cannot help: a wrong token, or not a hookrelay at that URL.
    Refused(anyhow::Error),
    /// It may work later: the server is down or restarting.
    Passing(anyhow::Error),
    /// The server is there but cannot take the stream now (503: too many streams).
    Busy(anyhow::Error),
}

impl StreamClient {
    pub fn new(
        tls: std::sync::Arc<rustls::ClientConfig>,
        token: Option<&str>,
        connect_timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        // The builder sets the ALPN protocols itself.
        let mut tls = (*tls).clone();
        tls.alpn_protocols.clear();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let token = token
            .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
            .transpose()
            .map_err(|_| anyhow!("the admin token must be visible ASCII characters"))?;
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            token,
            connect_timeout,
        })
    }

    async fn get(
        &self,
        url: &str,
        last_event_id: Option<u64>,
    ) -> Result<http::Response<Incoming>, anyhow::Error> {
        let mut request = Request::get(url)
            .header(USER_AGENT, crate::alert::client::USER_AGENT)
            .header(ACCEPT, "text/event-stream");
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, token.clone());
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let request = request.body(Empty::new())?;
        // The whole answer head, not only the connection, within the connect timeout.
        match tokio::time::timeout(self.connect_timeout * 2, self.client.request(request)).await {
            Ok(answer) => Ok(answer.map_err(|e| anyhow!("{}", root_cause(&e)))?),
            Err(_) => Err(anyhow!("no answer within {:?}", self.connect_timeout * 2)),
        }
    }

    /// Opens the stream at `url`, resuming after `last_event_id`.
    pub async fn open(
        &self,
        url: &url::Url,
        last_event_id: Option<u64>,
    ) -> Result<Frames, Failure> {
        let response = self
            .get(url.as_str(), last_event_id)
            .await
            .map_err(|e| Failure::Passing(e.context(format!("connecting to {url}"))))?;
        let status = response.status();
        let is_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if status == StatusCode::OK && is_stream {
            let header = |name: &str| {
                let value = response.headers().get(name)?.to_str().ok()?;
                Some(value.trim().to_string())
            };
            let store_id = header(STORE_ID).filter(|id| !id.is_empty());
            let starts_after = header(STARTS_AFTER).and_then(|n| n.parse().ok());
            let heartbeat = header(HEARTBEAT_MS)
                .and_then(|n| n.parse().ok())
                .map(Duration::from_millis);
            let mut frames = Frames::new(response.into_body(), store_id, starts_after);
            frames.silence = silence_after(heartbeat);
            return match frames.hello().await {
                Ok(()) => Ok(frames),
                Err(e) => Err(Failure::Refused(e.context(not_a_hookrelay(url)))),
            };
        }
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let said = error_message(&body);
        Err(match status {
            StatusCode::UNAUTHORIZED if said.is_some() && self.token.is_none() => {
                Failure::Refused(anyhow!(
                    "{url} needs an admin token, and none was given; give the token of its \
                     --admin-token with --admin-token TOKEN (or HOOKRELAY_ADMIN_TOKEN) or \
                     --admin-token-file PATH (or HOOKRELAY_ADMIN_TOKEN_FILE)"
                ))
            }
            StatusCode::UNAUTHORIZED if said.is_some() => Failure::Refused(anyhow!(
                "{url} refused the admin token (401: {}); give the token of its --admin-token with --admin-token or --admin-token-file",
                said.unwrap_or_default()
            )),
            StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::BAD_GATEWAY
            | StatusCode::GATEWAY_TIMEOUT => Failure::Busy(anyhow!(
                "{url} answered {status}{}",
                said.map(|s| format!(": {s}")).unwrap_or_default()
            )),
            _ => Failure::Refused(anyhow!(
                "{} (it answered {status}){}",
                not_a_hookrelay(url),
                root_hint(url)
            )),
        })
    }

    /// The stored body of an event, byte for byte: `GET /events/{id}/body` of the event
    /// named `id` (its string id or its `event_id`), under `base` (which ends with `/`).
    pub async fn body(&self, base: &url::Url, id: &str) -> anyhow::Result<Bytes> {
        // Written out, not built with `url::Url`: that drops a `.` or `..` segment and
        // resolves `%2E%2E` as `..`, so the request would name another path.
        let url = format!("{base}events/{}/body", path_segment(id));
        let response = self.get(&url, None).await?;
        if response.status() != StatusCode::OK {
            anyhow::bail!("GET {url} answered {}", response.status());
        }
        // Bounded, as the answer's head is: a server that stalls mid-body fails the read.
        let body = tokio::time::timeout(self.connect_timeout * 6, response.into_body().collect())
            .await
            .map_err(|_| {
                anyhow!(
                    "GET {url}: the body did not arrive within {:?}",
                    self.connect_timeout * 6
                )
            })??;
        Ok(body.to_bytes())
    }
}

/// `text` as one path segment: every byte but the unreserved ones (RFC 3986 2.3: letters,
/// digits, `-`, `.`, `_`, `~`) percent-encoded, and `.` and `..`, which would be read as
/// steps in the path, as `%2E` and `%2E%2E`.
pub fn path_segment(text: &str) -> String {
    if crate::source::is_dot_segment(text) {
        return "%2E".repeat(text.len());
    }
    let mut segment = String::with_capacity(text.len());
    for &byte in text.as_bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    segment
}

/// For a stream URL under a path: how to name a hookrelay served at the root, since a
/// path in `--from` is read as the one a proxy serves a hookrelay under.
fn root_hint(url: &url::Url) -> String {
    if url.path() == "/events/stream" {
        return String::new();
    }
    let mut root = url.clone();
    root.set_path("");
    root.set_query(None);
    format!(
        "; --from is a hookrelay's address, with a path only when a proxy serves it under \
         one: for a hookrelay at the root, give --from {}",
        root.as_str().trim_end_matches('/')
    )
}

fn not_a_hookrelay(url: &url::Url) -> String {
    format!("{url} is not the event stream of a hookrelay (GET /events/stream of hookrelay serve)")
}

/// The `message` of hookrelay's error shape, when the body is one.
fn error_message(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    (value.get("status")? == "error").then(|| value.get("message")?.as_str().map(String::from))?
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut root = e;
    while let Some(next) = root.source() {
        root = next;
    }
    root.to_string()
}

/// One frame of the stream.
#[derive(Debug, Default)]
pub struct Frame {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

/// The frames of an open stream.
pub struct Frames {
    body: Incoming,
    buffer: BytesMut,
    /// The server's store (`Hookrelay-Store-Id`); `None` from a hookrelay before it.
    pub store_id: Option<String>,
    /// The sequence number the stream's events follow (`Hookrelay-Starts-After`).
    pub starts_after: Option<u64>,
    /// How long the stream may say nothing before it is taken for dead.
    silence: Duration,
}

/// How long a stream may say nothing before its connection is taken for dead: three of
/// the heartbeats the server announces (`Hookrelay-Heartbeat-Ms`), at least a second; 45
/// seconds, three of a hookrelay's usual heartbeats, from a server that announces none.
fn silence_after(heartbeat: Option<Duration>) -> Duration {
    heartbeat.map_or(Duration::from_secs(45), |beat| {
        (beat * 3).clamp(Duration::from_secs(1), Duration::from_secs(300))
    })
}

impl Frames {
    fn new(body: Incoming, store_id: Option<String>, starts_after: Option<u64>) -> Self {
        Self {
            body,
            buffer: BytesMut::new(),
            store_id,
            starts_after,
            silence: silence_after(None),
        }
    }

    /// Reads the comment a hookrelay opens its stream with.
    async fn hello(&mut self) -> anyhow::Result<()> {
        while self.buffer.len() < HELLO.len() {
            if !self.fill().await? {
                anyhow::bail!("the stream ended at once");
            }
        }
        if !self.buffer.starts_with(HELLO.as_bytes()) {
            anyhow::bail!("the stream does not start as a hookrelay's does");
        }
        Ok(())
    }

    /// Reads more of the body; `false` at its end.
    async fn fill(&mut self) -> anyhow::Result<bool> {
        loop {
            let frame = tokio::time::timeout(self.silence, self.body.frame())
                .await
                .map_err(|_| {
                    anyhow!(
                        "the stream said nothing for {:?}, not even a heartbeat: the \
                         connection is taken for dead",
                        self.silence
                    )
                })?;
            match frame {
                None => return Ok(false),
                Some(Err(e)) => return Err(anyhow!("reading the stream: {}", root_cause(&e))),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// The next frame with fields (comments skipped); `None` when the stream ended.
    pub async fn next(&mut self) -> anyhow::Result<Option<Frame>> {
        loop {
            if let Some(end) = block_end(&self.buffer) {
                let block = self.buffer.split_to(end);
                if let Some(frame) = parse(&block) {
                    return Ok(Some(frame));
                }
                continue;
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}

/// Where the first block (ended by an empty line) ends, its blank line included.
fn block_end(buffer: &[u8]) -> Option<usize> {
    buffer
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| at + 2)
}

fn parse(block: &[u8]) -> Option<Frame> {
    let text = String::from_utf8_lossy(block);
    let mut frame = Frame {
        event: "message".into(),
        ..Frame::default()
    };
    let mut data: Vec<&str> = Vec::new();
    let mut any = false;
    for line in text.lines() {
        if line.is_empty() || line.starts_with(':') {
            continue;
        }
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match name {
            "event" => frame.event = value.to_string(),
            "id" => frame.id = Some(value.to_string()),
            "data" => data.push(value),
            _ => continue,
        }
        any = true;
    }
    frame.data = data.join("\n");
    any.then_some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_at_blank_lines_and_their_data_lines_joined() {
        let block = b"event: event\nid: 4\ndata: {\ndata: }\n\n";
        assert_eq!(block_end(block), Some(block.len()));
        let frame = parse(block).unwrap();
        assert_eq!(
            (
                frame.event.as_str(),
                frame.id.as_deref(),
                frame.data.as_str()
            ),
            ("event", Some("4"), "{\n}")
        );
        assert!(parse(b": heartbeat\n\n").is_none());
    }

    #[test]
    fn only_hookrelay_error_bodies_give_a_message() {
        let body = br#"{"status":"error","error":"unauthorized","message":"the admin token is not valid"}"#;
        assert_eq!(
            error_message(body).as_deref(),
            Some("the admin token is not valid")
        );
        assert_eq!(error_message(b"<html>nope</html>"), None);
    }

    #[test]
    fn an_id_is_one_path_segment_whatever_it_holds() {
        assert_eq!(path_segment("evt_1.a-b~"), "evt_1.a-b~");
        assert_eq!(path_segment("."), "%2E");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("..."), "...");
        assert_eq!(path_segment("a/b?c#d%e f+g"), "a%2Fb%3Fc%23d%25e%20f%2Bg");
        assert_eq!(path_segment("é"), "%C3%A9");
    }
}
