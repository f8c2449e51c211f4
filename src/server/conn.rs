//! The accept loop and per-connection timeouts. Each connection (after its TLS handshake,
//! see `tls.rs`) is served by hyper's HTTP/1 machinery under a watchdog that closes it when the client holds it without
//! progress: request headers not complete within the header timeout, no next request
//! within the idle timeout of a kept-alive connection, or a response the client does not
//! read within the idle timeout (a slow reader). A request being handled is never cut by
//! the watchdog; its body has its own timeout in the handler.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::IntoResponse;
use http::Method;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::AppState;
use super::handlers::{self, WEBHOOK};
use super::limits::{Admission, Limits};
use super::request_id;
use super::tls::{self, Tls};
use super::wake::WakesInline;

/// Accepts connections until `shutdown` completes, then stops accepting, lets every
/// connection finish the request it is handling, and returns when all are closed. With
/// `tls`, each connection is a TLS one.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<Tls>,
    app: Router,
    state: AppState,
    admission: Admission,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let stop = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                let (app, state, admission) = (app.clone(), state.clone(), admission.clone());
                let (limits, stop) = (limits.clone(), stop.clone());
                match &tls {
                    None => {
                        connections.spawn(serve_connection(
                            stream, app, state, admission, limits, stop,
                        ));
                    }
                    Some(tls) => {
                        let acceptor = tls.acceptor();
                        connections.spawn(async move {
                            let timeout = limits.header_timeout;
                            if let Some(stream) =
                                tls::handshake(acceptor, stream, timeout, &stop).await
                            {
                                serve_connection(stream, app, state, admission, limits, stop).await;
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

async fn serve_connection<S>(
    stream: S,
    app: Router,
    state: AppState,
    admission: Admission,
    limits: Limits,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let watch = Arc::new(Watch::new(admission));
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: Arc::clone(&watch),
    });
    let for_requests = Arc::clone(&watch);
    // The connection's own router: calling it needs `&mut`, and a clone per request would
    // write to a reference count shared by every connection.
    let app = std::cell::RefCell::new(app);
    // Likewise the state: `AppState` is one `Arc` shared by every connection, and cloning it
    // for each request wrote its count from every worker; this one is the connection's own.
    let state = Arc::new(state);
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::start(Arc::clone(&for_requests));
        let request = request.map(Body::new);
        let front = request_id::Front::of(&request);
        let handling = if !busy.admitted {
            Err(Admission::refused())
        } else if request.method() == Method::POST && request.uri().path() == WEBHOOK {
            // The route nearly every request takes goes straight to its handler: matching
            // it through the router costs more than a tenth of the whole request. The
            // handler and what it answers are the same either way.
            // Boxed, as the router boxes its handlers: hyper moves the future it is given,
            // and this one is large.
            let state = Arc::clone(&state);
            Ok(Either::Left(Box::pin(async move {
                handlers::webhook(&state, request).await.into_response()
            })))
        } else {
            // A Router is always ready: it is called directly rather than through `oneshot`.
            let routed = app.borrow_mut().call(request);
            Ok(Either::Right(async move {
                match routed.await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }))
        };
        async move {
            let response = front.run(handling).await;
            // Writing the answer is watched by `Watched` (a client that stops reading it).
            drop(busy);
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    // hyper's own header timeout is off: its clock also runs while a kept-alive connection
    // waits for its next request, which would make the idle timeout unreachable.
    let connection = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(io, service);
    let connection = WakesInline::new(connection);
    tokio::pin!(connection);
    let expired = watch.expired(limits.header_timeout, limits.idle_timeout);
    tokio::pin!(expired);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            why = &mut expired => {
                tracing::debug!(why, "closing a connection that made no progress");
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().inner().graceful_shutdown();
            }
        }
    }
}

/// What the watchdog knows of one connection. Times are milliseconds since `start`.
/// The request path only stores times; nothing wakes the watchdog, which looks again at
/// least every `min(header, idle)` (see [`Watch::expired`]), so it never adds a wake-up or
/// a timer reset to a request.
struct Watch {
    start: Instant,
    /// The server's admission control, which every request of the connection passes.
    admission: Admission,
    /// Requests being handled (at most one on HTTP/1): from the head being read to the
    /// handler's answer.
    busy: AtomicUsize,
    /// Requests answered so far.
    served: AtomicU64,
    /// When the connection last became free or made progress: accepted, a handler
    /// answered, or an answer's write went through after being blocked.
    free_since: AtomicU64,
    /// When the first byte of the next request arrived, or `NONE`.
    head_since: AtomicU64,
    /// Since when writing an answer has been blocked on a client that does not read it,
    /// or `NONE`.
    blocked_since: AtomicU64,
}

const NONE: u64 = u64::MAX;

impl Watch {
    fn new(admission: Admission) -> Self {
        Self {
            start: Instant::now(),
            admission,
            busy: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            free_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            blocked_since: AtomicU64::new(NONE),
        }
    }

    fn now(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn at(&self, ms: u64) -> Instant {
        self.start + Duration::from_millis(ms)
    }

    fn writing(&self, result: &Poll<io::Result<usize>>) {
        match result {
            Poll::Pending => self.write_blocked(),
            Poll::Ready(Ok(n)) if *n > 0 => self.wrote(),
            Poll::Ready(_) => {}
        }
    }

    /// Bytes arrived while no request is being handled: a request head has begun.
    fn bytes_read(&self) {
        if self.busy.load(Ordering::Acquire) == 0 && self.head_since.load(Ordering::Acquire) == NONE
        {
            self.head_since.store(self.now(), Ordering::Release);
        }
    }

    /// A write of an answer could not proceed: the client is not reading.
    fn write_blocked(&self) {
        if self.blocked_since.load(Ordering::Acquire) == NONE {
            self.blocked_since.store(self.now(), Ordering::Release);
        }
    }

    /// Bytes of an answer were written. After a block, that is progress: the client reads,
    /// however slowly, and the idle clock starts again.
    fn wrote(&self) {
        if self.blocked_since.load(Ordering::Acquire) != NONE {
            self.blocked_since.store(NONE, Ordering::Release);
            self.free_since.store(self.now(), Ordering::Release);
        }
    }

    /// When the connection is due to be closed, and why; `None` while a request is handled.
    fn deadline(&self, header: Duration, idle: Duration) -> Option<(Instant, &'static str)> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let blocked = self.blocked_since.load(Ordering::Acquire);
        if blocked != NONE {
            return Some((self.at(blocked) + idle, "response not read"));
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != NONE {
            return Some((self.at(head) + header, "request headers too slow"));
        }
        let free = self.at(self.free_since.load(Ordering::Acquire));
        if self.served.load(Ordering::Acquire) == 0 {
            Some((free + header, "no request headers"))
        } else {
            Some((free + idle, "idle"))
        }
    }

    /// Completes when the connection has made no progress for too long.
    ///
    /// Every deadline is the time of some change plus `header` or `idle`, so one set by a
    /// change made while this sleeps is at least `min(header, idle)` after the sleep
    /// began: sleeping never longer than that wakes it in time for any deadline.
    async fn expired(&self, header: Duration, idle: Duration) -> &'static str {
        let look_again = header.min(idle);
        loop {
            let now = Instant::now();
            let wake = match self.deadline(header, idle) {
                Some((when, why)) if when <= now => return why,
                Some((when, _)) => when.min(now + look_again),
                None => now + look_again,
            };
            tokio::time::sleep_until(wake).await;
        }
    }
}

/// Marks its connection busy from the start of a request until its handler answers, and
/// holds the request's place in admission control when it got one.
struct Busy {
    watch: Arc<Watch>,
    admitted: bool,
}

impl Busy {
    fn start(watch: Arc<Watch>) -> Self {
        watch.busy.fetch_add(1, Ordering::AcqRel);
        watch.head_since.store(NONE, Ordering::Release);
        let admitted = watch.admission.enter();
        Self { watch, admitted }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let watch = &self.watch;
        if self.admitted {
            watch.admission.leave();
        }
        watch.free_since.store(watch.now(), Ordering::Release);
        watch.served.fetch_add(1, Ordering::AcqRel);
        watch.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A stream (TCP, or TLS over it) that tells its [`Watch`] when bytes arrive.
struct Watched<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.bytes_read();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.watch.writing(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.watch.writing(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
