//! `GET /events/stream`: the handler, the task that feeds one stream (the events it
//! missed from the store, then the live frames of the [`Hub`](super::Hub)), and the
//! Server-Sent Events frames themselves.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::{DeliveryUpdate, Item, PAGE, StreamRefused, Subscription, newest_seq};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::handlers::events;
use crate::server::store::{EventQuery, EventStore, StoredEvent};

/// Chunks a stream's buffer holds for a client that has not read them yet; when it is
/// full, the stream is cut off. With `CHUNK`, at most about 4 MiB per stream.
const BUFFER: usize = 32;
/// A chunk gathers the frames waiting at once, up to about this size.
const CHUNK: usize = 128 * 1024;
/// The shortest time between two chunks of a busy stream.
const LINGER: Duration = Duration::from_millis(10);
/// The longest time between two writes of a stream.
const HEARTBEAT: Duration = Duration::from_secs(15);

const HELLO: &[u8] = b": hookrelay event stream\nretry: 2000\n\n";
const BEAT: &[u8] = b": heartbeat\n\n";

/// Marks a response whose body goes on for as long as the client listens: the connection
/// is not closed as idle while it is written (a client that stops reading still is).
#[derive(Debug, Clone, Copy)]
pub struct Streaming;

#[derive(Deserialize)]
pub struct StreamParams {
    after: Option<String>,
    event_type: Option<String>,
}

/// `GET /events/stream`: Server-Sent Events, see the README's "Event stream".
pub async fn events_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Result<Query<StreamParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let after = resume_after(&headers, params.after.as_deref())?;
    let filter = match params.event_type.as_deref() {
        None | Some("") => None,
        Some(glob) => Some(glob::Pattern::new(glob).map_err(|e| {
            ApiError::BadRequest(format!("event_type must be a glob pattern: {e}"))
        })?),
    };
    let subscription = state.stream.open().await.map_err(|refused| match refused {
        StreamRefused::TooMany(max) => ApiError::TooManyStreams(max),
        StreamRefused::Store(e) => ApiError::from(e),
    })?;
    let (sender, receiver) = mpsc::channel(BUFFER);
    let heartbeat = HEARTBEAT
        .min(state.config.limits.idle_timeout / 2)
        .max(Duration::from_millis(100));
    let feed = Feed {
        subscription,
        out: sender,
        filter,
    };
    tokio::spawn(feed.run(after, heartbeat));
    let mut response = Response::new(Body::new(Frames(receiver)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx would otherwise hold frames back to fill its buffer.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response.extensions_mut().insert(Streaming);
    Ok(response)
}

/// Where to resume: `Last-Event-ID` (what a reconnecting client sends), else `?after=`.
fn resume_after(headers: &HeaderMap, after: Option<&str>) -> Result<Option<u64>, ApiError> {
    let last_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ApiError::BadRequest("Last-Event-ID must be text".into()))
        })
        .transpose()?;
    let (text, name) = match (last_id, after) {
        (Some(id), _) if !id.trim().is_empty() => (id.trim(), "Last-Event-ID"),
        (_, Some(after)) if !after.is_empty() => (after, "after"),
        _ => return Ok(None),
    };
    text.parse::<u64>().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name} must be an event's sequence number (the id of a stream frame), got {text:?}"
        ))
    })
}

/// One stream's feeder: what it sends to its client.
struct Feed {
    subscription: Subscription,
    out: mpsc::Sender<Bytes>,
    filter: Option<glob::Pattern>,
}

/// Why a stream ended.
enum End {
    /// The client went away, or the server is stopping.
    Closed,
    /// The client did not keep up: its buffer is full.
    Cut,
}

impl Feed {
    async fn run(mut self, after: Option<u64>, heartbeat: Duration) {
        let closing = self.subscription.closing().clone();
        let out = self.out.clone();
        let end = tokio::select! {
            end = self.feed(after, heartbeat) => end,
            () = closing.cancelled() => End::Closed,
            () = out.closed() => End::Closed,
        };
        if let End::Cut = end {
            crate::server::metrics::stream_cut();
        }
    }

    async fn feed(&mut self, after: Option<u64>, heartbeat: Duration) -> End {
        if self.out.send(Bytes::from_static(HELLO)).await.is_err() {
            return End::Closed;
        }
        let mut last = match after {
            Some(after) => match self.backlog(after).await {
                Some(last) if last == after && after > self.subscription.start => {
                    // Nothing after it, and beyond what this process knows of: perhaps the
                    // id of an earlier life of the store (an in-memory store restarted),
                    // whose new events would all be taken for seen. Resume from the
                    // newest stored instead.
                    let store = self.subscription.store();
                    match newest_seq(&**store, self.subscription.start).await {
                        Ok(newest) => after.min(newest),
                        Err(_) => return End::Closed,
                    }
                }
                Some(last) => last,
                None => return End::Closed,
            },
            None => self.subscription.start,
        };
        let start = tokio::time::Instant::now() + heartbeat;
        let mut beat = tokio::time::interval_at(start, heartbeat);
        let mut sent = Instant::now() - LINGER;
        loop {
            let first = tokio::select! {
                item = self.subscription.receiver.recv() => item,
                _ = beat.tick() => {
                    match self.offer(Bytes::from_static(BEAT)) {
                        Ok(()) => continue,
                        Err(end) => return end,
                    }
                }
            };
            let mut chunk = BytesMut::new();
            let mut lagged = false;
            match first {
                Ok(item) => self.add(&mut chunk, &item, &mut last),
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => return End::Closed,
            }
            // At most one write per `LINGER`: a busy stream sends what gathered meanwhile
            // in one chunk (one wake-up and one write for many frames), a quiet one at once.
            let until = sent + LINGER;
            while !lagged && chunk.len() < CHUNK {
                let item = match self.subscription.receiver.try_recv() {
                    Err(TryRecvError::Empty) if Instant::now() < until => {
                        match tokio::time::timeout_at(until, self.subscription.receiver.recv())
                            .await
                        {
                            Ok(item) => item.map_err(|e| match e {
                                RecvError::Lagged(n) => TryRecvError::Lagged(n),
                                RecvError::Closed => TryRecvError::Closed,
                            }),
                            Err(_) => break,
                        }
                    }
                    other => other,
                };
                match item {
                    Ok(item) => self.add(&mut chunk, &item, &mut last),
                    Err(TryRecvError::Lagged(_)) => lagged = true,
                    Err(_) => break,
                }
            }
            if !chunk.is_empty() {
                if let Err(end) = self.offer(chunk.freeze()) {
                    return end;
                }
                sent = Instant::now();
                beat.reset();
            }
            if lagged {
                // This task fell behind the broadcast (not the client its buffer): what it
                // missed is in the store.
                match self.backlog(last).await {
                    Some(now) => last = now,
                    None => return End::Closed,
                }
            }
        }
    }

    /// Appends `item` when it is news to this stream and passes its filter.
    fn add(&self, chunk: &mut BytesMut, item: &Item, last: &mut u64) {
        if let Some(seq) = item.seq {
            if seq <= *last {
                return;
            }
            *last = seq;
        }
        if self.wants(item.event_type.as_deref()) {
            chunk.extend_from_slice(&item.frame);
        }
    }

    fn wants(&self, event_type: Option<&str>) -> bool {
        match &self.filter {
            None => true,
            Some(pattern) => event_type.is_some_and(|t| pattern.matches(t)),
        }
    }

    /// Puts a live chunk in the client's buffer, never waiting: a full buffer cuts the
    /// stream off.
    fn offer(&self, chunk: Bytes) -> Result<(), End> {
        match self.out.try_send(chunk) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(End::Cut),
            Err(TrySendError::Closed(_)) => Err(End::Closed),
        }
    }

    /// Sends the stored events after `after`, at the client's pace; gives the sequence
    /// number of the last event read, or `None` when the stream must end.
    async fn backlog(&self, mut after: u64) -> Option<u64> {
        let store: &Arc<dyn EventStore> = self.subscription.store();
        loop {
            let query = EventQuery {
                after: Some(after),
                limit: PAGE,
                ..Default::default()
            };
            let events = match store.list(&query).await {
                Ok(events) => events,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read events for a stream");
                    return None;
                }
            };
            let mut chunk = BytesMut::new();
            for event in &events {
                if self.wants(Some(&event.event_type)) {
                    chunk.extend_from_slice(&event_frame(event));
                }
                after = event.seq;
            }
            if !chunk.is_empty() && self.out.send(chunk.freeze()).await.is_err() {
                return None;
            }
            if events.len() < PAGE {
                return Some(after);
            }
        }
    }
}

/// The `event` frame of a stored event: `id:` its sequence number, `data:` the JSON of
/// `GET /events/{event_id}`.
pub fn event_frame(event: &StoredEvent) -> Bytes {
    let json = events::event_json(event);
    let mut frame = BytesMut::with_capacity(json.len() + 48);
    frame.extend_from_slice(b"event: event\nid: ");
    frame.extend_from_slice(itoa::Buffer::new().format(event.seq).as_bytes());
    frame.extend_from_slice(b"\n");
    data_lines(&mut frame, &json);
    frame.extend_from_slice(b"\n");
    frame.freeze()
}

/// The `delivery` frame of a delivery update.
pub fn delivery_frame(update: &DeliveryUpdate) -> Bytes {
    let json = serde_json::to_vec(update).unwrap_or_else(|_| b"null".to_vec());
    let mut frame = BytesMut::with_capacity(json.len() + 32);
    frame.extend_from_slice(b"event: delivery\n");
    data_lines(&mut frame, &json);
    frame.extend_from_slice(b"\n");
    frame.freeze()
}

/// `data:` lines of `json`: one per line of it, as a line break cannot be part of a field.
/// Only a body kept verbatim has line breaks (JSON strings escape theirs); a client joins
/// the lines with `\n`, which JSON reads as the same whitespace.
fn data_lines(frame: &mut BytesMut, json: &[u8]) {
    let mut rest = json;
    loop {
        let end = rest.iter().position(|&b| b == b'\n' || b == b'\r');
        frame.extend_from_slice(b"data: ");
        match end {
            None => {
                frame.extend_from_slice(rest);
                frame.extend_from_slice(b"\n");
                return;
            }
            Some(at) => {
                frame.extend_from_slice(&rest[..at]);
                frame.extend_from_slice(b"\n");
                let skip = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[at + skip..];
            }
        }
    }
}

/// The body of a stream: the chunks its feeder puts in the buffer.
struct Frames(mpsc::Receiver<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(http_body::Frame::data(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(json: &str) -> String {
        let mut frame = BytesMut::new();
        data_lines(&mut frame, json.as_bytes());
        String::from_utf8(frame.to_vec()).unwrap()
    }

    #[test]
    fn every_line_of_a_body_is_a_data_line() {
        assert_eq!(lines(r#"{"a":1}"#), "data: {\"a\":1}\n");
        assert_eq!(
            lines("{\n \"a\": 1\r\n}"),
            "data: {\ndata:  \"a\": 1\ndata: }\n"
        );
        assert_eq!(lines("{}\n"), "data: {}\ndata: \n");
    }

    #[test]
    fn the_resume_point_is_last_event_id_then_after() {
        let mut headers = HeaderMap::new();
        assert_eq!(resume_after(&headers, None).unwrap(), None);
        assert_eq!(resume_after(&headers, Some("7")).unwrap(), Some(7));
        headers.insert("last-event-id", HeaderValue::from_static("12"));
        assert_eq!(resume_after(&headers, Some("7")).unwrap(), Some(12));
        headers.insert("last-event-id", HeaderValue::from_static("x"));
        assert!(resume_after(&headers, None).is_err());
        assert!(resume_after(&HeaderMap::new(), Some("-1")).is_err());
    }
}
