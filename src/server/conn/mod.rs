//! The accept loop and per-connection timeouts. Each connection (after its TLS handshake,
//! see `tls.rs`, when the server has a certificate) is served by hyper's HTTP/1 machinery under a watchdog that closes it when the client holds it without
//! progress: request headers not complete within the header timeout, no next request
//! within the idle timeout of a kept-alive connection, or a response the client does not
//! read within the idle timeout (a slow reader). A request being handled is never cut by
//! the watchdog; its body has its own timeout in the handler. What a request is answered
//! with is the [`App`]'s business (`routes.rs`); this file only adds `Keep-Alive`.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::Version;
use http::header::{self, HeaderName, HeaderValue};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Service;

use super::limits::Limits;
use super::routes::App;
use super::tls::{self, Tls};
use super::wake::WakesInline;

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
                let (app, limits, told, stop) =
                    (app.clone(), limits.clone(), told.clone(), stop.clone());
                match &tls {
                    None => {
                        connections.spawn(serve_connection(stream, app, limits, told, stop));
                    }
                    Some(tls) => {
                        let acceptor = tls.acceptor();
                        connections.spawn(async move {
                            let timeout = limits.header_timeout;
                            if let Some(stream) =
                                tls::handshake(acceptor, stream, timeout, &stop).await
                            {
                                serve_connection(stream, app, limits, told, stop).await;
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

/// Serves one connection with hyper's HTTP/1 under the watchdog, until the client closes
/// it, the watchdog does, or the server stops (after the request in progress).
async fn serve_connection<S, T>(
    stream: T,
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
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: Arc::clone(&watch),
    });
    let service = requests(app, Arc::clone(&watch), told);
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
        let kept_alive = wants_keep_alive(&request);
        let handling = app.borrow_mut().call(request.map(Body::new));
        let told = told.clone();
        async move {
            let mut response = handling.await;
            // Writing the answer is watched by `Watched` (a client that stops reading it).
            drop(busy);
            if kept_alive && !response.headers().contains_key(header::CONNECTION) {
                response.headers_mut().insert(KEEP_ALIVE, told.0);
            }
            Ok::<_, Infallible>(response)
        }
    })
}

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");

/// The `Keep-Alive: timeout=N` answers carry: N whole seconds, below the idle timeout,
/// so that a client that honours it closes an unused connection before the server does.
#[derive(Clone)]
struct Told(HeaderValue);

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
        Self(HeaderValue::from_static(text))
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
