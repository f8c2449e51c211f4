//! The accept loop and per-connection timeouts. Each connection (after its TLS handshake,
//! see `tls.rs`, when the server has a certificate) is served by hyper's HTTP/1 or, for a
//! client that asks for it (ALPN `h2` on TLS, the HTTP/2 preface on plain TCP), HTTP/2
//! machinery under a watchdog that closes it when the client holds it without
//! progress: request headers not complete within the header timeout, no next request
//! within the idle timeout of a kept-alive connection, or a response the client does not
//! read within the idle timeout (a slow reader). A request being handled is never cut by
//! the watchdog; its body has its own timeout in the handler. What a request is answered
//! with is the [`App`]'s business (`routes.rs`); this file only adds `Keep-Alive`.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::Version;
use http::header::{self, HeaderName, HeaderValue};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::limits::Limits;
use super::routes::App;
use super::tls::{self, Tls};
use super::wake::WakesInline;
use crate::sync::LockExt;

mod watch;

use watch::{Busy, Watch, Watched};

/// Accepts connections until `shutdown` completes, then stops accepting, lets every
/// connection finish the request it is handling, and returns when all are closed. With
/// `tls`, each connection is a TLS one.
pub async fn accept_loop<S>(
    listener: TcpListener,
    tls: Option<Tls>,
    app: App<S>,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    App<S>: Clone + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    let told = Told::new(limits);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let (app, limits, told, stop) = (app.clone(), limits.clone(), told, stop.clone());
                match &tls {
                    None => {
                        connections.spawn(async move {
                            let timeout = limits.header_timeout;
                            if let Some(protocol) = sniff(&stream, timeout, &stop).await {
                                serve_connection(stream, protocol, app, limits, told, stop).await;
                            }
                        });
                    }
                    Some(tls) => {
                        let acceptor = tls.acceptor();
                        connections.spawn(async move {
                            let timeout = limits.header_timeout;
                            if let Some(stream) =
                                tls::handshake(acceptor, stream, timeout, &stop).await
                            {
                                let protocol = negotiated(&stream);
                                serve_connection(stream, protocol, app, limits, told, stop).await;
                            }
                        });
                    }
                }
            }
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                // Most likely out of file descriptors: wait for some to be released
                // rather than spinning (as hyper and axum do).
                tracing::error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    drop(listener);
    stop.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// The protocol a connection speaks: told by ALPN on TLS, by the first bytes on plain TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

/// What an HTTP/2 client with prior knowledge sends first (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Which protocol a plain TCP connection speaks, from its first bytes, looked at without
/// taking them: HTTP/2's preface or anything else (HTTP/1). Bounded by `timeout` (the
/// header timeout); `None` when the client sends nothing in time, closes, or the server
/// stops.
async fn sniff(
    stream: &TcpStream,
    timeout: Duration,
    stop: &CancellationToken,
) -> Option<Protocol> {
    let looking = async {
        let mut first = [0u8; PREFACE.len()];
        loop {
            let n = stream.peek(&mut first).await.ok()?;
            if n == 0 {
                return None;
            }
            if first[..n] != PREFACE[..n] {
                return Some(Protocol::Http1);
            }
            if n == PREFACE.len() {
                return Some(Protocol::Http2);
            }
            // The start of the preface and no more yet (every HTTP/1 method differs from
            // it by its second byte): peeking again at once would see the same bytes.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        found = tokio::time::timeout(timeout, looking) => found.ok().flatten(),
        () = stop.cancelled() => None,
    }
}

/// The protocol a TLS connection agreed on through ALPN (HTTP/1.1 when none).
fn negotiated<S>(stream: &tokio_rustls::server::TlsStream<S>) -> Protocol {
    match stream.get_ref().1.alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        _ => Protocol::Http1,
    }
}

/// Serves one connection with hyper's HTTP/1 or HTTP/2 under the watchdog, until the
/// client closes it, the watchdog does, or the server stops (after the requests in
/// progress).
async fn serve_connection<S, T>(
    stream: T,
    protocol: Protocol,
    app: App<S>,
    limits: Limits,
    told: Told,
    stop: CancellationToken,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let watch = Arc::new(Watch::new());
    let service = requests(app, Arc::clone(&watch), told);
    match protocol {
        Protocol::Http1 => {
            let io = TokioIo::new(Watched::<T, true>::new(stream, Arc::clone(&watch)));
            // hyper's own header timeout is off: its clock also runs while a kept-alive
            // connection waits for its next request, which would make the idle timeout
            // unreachable.
            let connection = hyper::server::conn::http1::Builder::new()
                .header_read_timeout(None)
                .keep_alive(true)
                // A client may shut its side once it has sent (`nc -N`, socat): it still
                // gets its answer.
                .half_close(true)
                .serve_connection(io, service);
            let connection = WakesInline::new(connection);
            tokio::pin!(connection);
            watched(
                connection,
                |c| c.inner().graceful_shutdown(),
                &watch,
                &limits,
                &stop,
            )
            .await;
        }
        Protocol::Http2 => {
            // Bytes on a free HTTP/2 connection (pings, settings) do not start the header
            // clock; a stream's headers arrive in whole frames, and a connection without
            // requests is closed at the idle timeout like an HTTP/1 one.
            let io = TokioIo::new(Watched::<T, false>::new(stream, Arc::clone(&watch)));
            let connection = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .serve_connection(io, service);
            tokio::pin!(connection);
            watched(
                connection,
                |c| c.graceful_shutdown(),
                &watch,
                &limits,
                &stop,
            )
            .await;
        }
    }
}

/// Runs `connection` until it ends or the watchdog closes it; when the server stops,
/// `shutdown` lets it finish the requests in progress and close.
///
/// The connection is polled on every wake-up; the watchdog's timer and the server's stop
/// only when a wake-up came from one of them ([`SideWake`]). Polling both on every request
/// (as a `select!` does) re-registered a timer waker and took the stop signal's lock each
/// time, for events that come once in a connection's life.
async fn watched<C, E>(
    mut connection: Pin<&mut C>,
    shutdown: impl Fn(Pin<&mut C>),
    watch: &Watch,
    limits: &Limits,
    stop: &CancellationToken,
) where
    C: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let expired = watch.expired(limits.header_timeout, limits.idle_timeout);
    let stopped = stop.cancelled();
    tokio::pin!(expired, stopped);
    let side = Arc::new(SideWake::default());
    let side_waker = Waker::from(Arc::clone(&side));
    // The task's waker as last handed to `side`: replaced only when the task's changes.
    let mut task: Option<Waker> = None;
    let mut stopping = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = connection.as_mut().poll(cx) {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            return Poll::Ready(());
        }
        if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *side.task.locked() = Some(cx.waker().clone());
            task = Some(cx.waker().clone());
        }
        if side.woken.swap(false, Ordering::AcqRel) {
            let mut side_cx = Context::from_waker(&side_waker);
            if let Poll::Ready(why) = expired.as_mut().poll(&mut side_cx) {
                tracing::debug!(why, "closing a connection that made no progress");
                return Poll::Ready(());
            }
            if !stopping && stopped.as_mut().poll(&mut side_cx).is_ready() {
                stopping = true;
                watch.stopping();
                // Half a request head is no request in flight: waiting for the rest (up
                // to the header timeout) would hold up the stop.
                if watch.mid_head() {
                    tracing::debug!("closing a connection whose request had not begun");
                    return Poll::Ready(());
                }
                shutdown(connection.as_mut());
                // The connection is told to close: polled again to act on it.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Pending
    })
    .await
}

/// The waker of the watchdog's side of a connection: notes that the side asked to be
/// polled, and wakes the connection's task.
struct SideWake {
    /// Set until the side has been polled; set at first, so that it is polled once and
    /// registers this waker.
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Default for SideWake {
    fn default() -> Self {
        Self {
            woken: AtomicBool::new(true),
            task: Mutex::new(None),
        }
    }
}

impl std::task::Wake for SideWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.task.locked().as_ref() {
            task.wake_by_ref();
        }
    }
}

/// The requests of one connection, each handled by `app` while the watchdog counts the
/// connection busy, its answer telling the client how long the connection stays open.
fn requests<S>(
    app: App<S>,
    watch: Arc<Watch>,
    told: Told,
) -> impl hyper::service::Service<
    hyper::Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future = impl Future<Output = Result<Response, Infallible>> + Send + 'static,
>
where
    S: Service<Request, Response = Response, Error = Infallible> + 'static,
    S::Future: Send + 'static,
{
    // The connection's own app: calling it needs `&mut`, and a clone per request would
    // write to the reference counts of the copy every connection shares.
    let app = std::cell::RefCell::new(app);
    hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::start(Arc::clone(&watch));
        let told = wants_keep_alive(&request).then_some(told.0);
        let handling = app.borrow_mut().call(request.map(Body::new));
        async move {
            let mut response = handling.await;
            // Writing the answer is watched by `Watched` (a client that stops reading it).
            // A stream's answer keeps the connection from being idle while it is written.
            if response
                .extensions()
                .get::<crate::server::stream::sse::Streaming>()
                .is_some()
            {
                let streaming = busy.into_streaming();
                response = response.map(|body| {
                    Body::new(http_body_util::BodyExt::map_frame(body, move |frame| {
                        let _ = &streaming;
                        frame
                    }))
                });
            } else {
                drop(busy);
            }
            if let Some(told) = told
                && !response.headers().contains_key(header::CONNECTION)
            {
                response.headers_mut().insert(KEEP_ALIVE, told.clone());
            }
            Ok::<_, Infallible>(response)
        }
    })
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// The `Keep-Alive: timeout=N` answers carry: N whole seconds, below the idle timeout,
/// so that a client that honours it closes an unused connection before the server does.
/// A reference, so that every request's future holds a pointer rather than the value.
#[derive(Clone, Copy)]
struct Told(&'static HeaderValue);

impl Told {
    fn new(limits: &Limits) -> Self {
        let idle = limits.idle_timeout;
        let below = if idle.subsec_nanos() == 0 {
            idle.as_secs().saturating_sub(1)
        } else {
            idle.as_secs()
        };
        // Made once per server and kept for its lifetime: a static value is copied into
        // each answer without touching a reference count shared by every connection.
        let text: &'static str = Box::leak(format!("timeout={below}").into_boxed_str());
        Self(Box::leak(Box::new(HeaderValue::from_static(text))))
    }
}

/// Whether the connection stays open after this request's answer, as far as the client
/// asked: HTTP/1.1 unless it says `close`, HTTP/1.0 only when it says `keep-alive`.
fn wants_keep_alive<B>(request: &hyper::Request<B>) -> bool {
    let headers = request.headers();
    // Nearly every request: HTTP/1.1 without a `Connection` header, told with one lookup.
    if request.version() == Version::HTTP_11 && !headers.contains_key(header::CONNECTION) {
        return true;
    }
    let says = |token: &str| {
        headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match request.version() {
        Version::HTTP_11 => !says("close"),
        Version::HTTP_10 => says("keep-alive"),
        _ => false,
    }
}
