//! `GET /events/stream`: the handler, the task that feeds one stream (the events it
//! missed from the store, then the live frames of the [`Hub`](super::Hub)), and the
//! Server-Sent Events frames themselves.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use super::frame::{Clock, EventParts, data_lines, write_event_frame};
use super::{DeliveryUpdate, Item, PAGE, StreamRefused, Subscription, newest_seq};
use crate::server::AppState;
use crate::server::error::ApiError;
use crate::server::store::{EventQuery, EventStore};

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

/// The response header naming the store ([`EventStore::store_id`]).
pub const STORE_ID: &str = "hookrelay-store-id";
/// The response header giving the sequence number the stream's events follow.
pub const STARTS_AFTER: &str = "hookrelay-starts-after";
/// The response header giving, in milliseconds, the longest time between two writes of
/// the stream (its heartbeat): a client that hears nothing for several of them can take
/// the connection for dead.
pub const HEARTBEAT_MS: &str = "hookrelay-heartbeat-ms";

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
    let store = Arc::clone(subscription.store());
    let after = match after {
        // Beyond what this process knows of: perhaps a number of an earlier store (one in
        // memory, restarted), or past the newest of a store restored from a backup; its
        // new events would all be taken for seen. Resume from the newest stored instead;
        // the headers below say so, and which store this is.
        Some(asked) if asked > subscription.start => {
            Some(asked.min(newest_seq(&*store, subscription.start).await?))
        }
        other => other,
    };
    let starts_after = after.unwrap_or(subscription.start);
    let (sender, receiver) = mpsc::channel::<Chunk>(BUFFER);
    let heartbeat = HEARTBEAT
        .min(state.config.limits.idle_timeout / 2)
        .max(Duration::from_millis(100));
    let feed = Feed {
        subscription,
        out: sender,
        filter,
    };
    tokio::spawn(feed.run(after, heartbeat));
    let mut response = Response::new(Body::new(Frames {
        chunks: receiver,
        pieces: VecDeque::new(),
    }));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // For a client that resumes (hookrelay listen): whether its sequence numbers are this
    // store's, and where the stream really starts.
    if let Ok(id) = HeaderValue::from_str(store.store_id()) {
        headers.insert(STORE_ID, id);
    }
    headers.insert(STARTS_AFTER, HeaderValue::from(starts_after));
    headers.insert(
        HEARTBEAT_MS,
        HeaderValue::from(u64::try_from(heartbeat.as_millis()).unwrap_or(u64::MAX)),
    );
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
    out: mpsc::Sender<Chunk>,
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
        if self
            .out
            .send(Chunk::of(Bytes::from_static(HELLO)))
            .await
            .is_err()
        {
            return End::Closed;
        }
        let mut last = match after {
            Some(after) => match self.backlog(after).await {
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
                    match self.offer(Chunk::of(Bytes::from_static(BEAT))) {
                        Ok(()) => continue,
                        Err(end) => return end,
                    }
                }
            };
            let mut chunk = Chunk::default();
            let mut lagged = false;
            match first {
                Ok(item) => self.add(&mut chunk, &item, &mut last),
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => return End::Closed,
            }
            // At most one write per `LINGER`: a busy stream sends what gathered meanwhile
            // in one chunk (one wake-up and one write for many frames), a quiet one at once.
            let until = sent + LINGER;
            while !lagged && chunk.size < CHUNK {
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
            if chunk.size > 0 {
                if let Err(end) = self.offer(chunk) {
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

    /// Appends the frames of `item` that are news to this stream and pass its filter: as
    /// slices of the item, which every stream shares (the whole of it, usually).
    fn add(&self, chunk: &mut Chunk, item: &Item, last: &mut u64) {
        let mut start = 0;
        let mut run = None;
        for part in &item.parts {
            let news = match part.seq {
                Some(seq) if seq <= *last => false,
                Some(seq) => {
                    *last = seq;
                    true
                }
                None => true,
            };
            if news && self.wants(part.event_type.as_deref()) {
                run.get_or_insert(start);
            } else if let Some(from) = run.take() {
                chunk.push(item.frames.slice(from..start));
            }
            start = part.end;
        }
        if let Some(from) = run {
            chunk.push(item.frames.slice(from..start));
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
    fn offer(&self, chunk: Chunk) -> Result<(), End> {
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
        let mut clock = Clock::default();
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
            let mut chunk = Vec::new();
            for event in &events {
                if self.wants(Some(&event.event_type)) {
                    write_event_frame(&mut chunk, &EventParts::of(event), &mut clock);
                }
                after = event.seq;
            }
            if !chunk.is_empty() && self.out.send(Chunk::of(chunk.into())).await.is_err() {
                return None;
            }
            if events.len() < PAGE {
                return Some(after);
            }
        }
    }
}

/// Frames gathered for one write of a stream: shared slices of broadcast items, passed to
/// the connection as they are (not joined into one buffer: the connection writes them
/// together, with one `writev`, without a copy per stream).
#[derive(Default)]
struct Chunk {
    pieces: Vec<Bytes>,
    size: usize,
}

impl Chunk {
    fn of(piece: Bytes) -> Self {
        Self {
            size: piece.len(),
            pieces: vec![piece],
        }
    }

    fn push(&mut self, piece: Bytes) {
        self.size += piece.len();
        self.pieces.push(piece);
    }
}

/// The `delivery` frame of a delivery update.
pub fn delivery_frame(update: &DeliveryUpdate) -> Bytes {
    let json = serde_json::to_vec(update).unwrap_or_else(|_| b"null".to_vec());
    let mut frame = Vec::with_capacity(json.len() + 32);
    frame.extend_from_slice(b"event: delivery\ndata: ");
    data_lines(&mut frame, &json);
    frame.extend_from_slice(b"\n\n");
    frame.into()
}

/// The body of a stream: the chunks its feeder puts in the buffer, a piece at a time.
struct Frames {
    chunks: mpsc::Receiver<Chunk>,
    /// The rest of the chunk taken last.
    pieces: VecDeque<Bytes>,
}

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        loop {
            if let Some(piece) = this.pieces.pop_front() {
                return Poll::Ready(Some(Ok(http_body::Frame::data(piece))));
            }
            match this.chunks.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => this.pieces.extend(chunk.pieces),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
