//! The one HTTP client of outbound delivery: HTTP/1.1 connections (plain TCP or rustls)
//! made with hyper and kept open between attempts, no redirects followed, a bound on the
//! whole attempt, and `User-Agent: hookrelay/<version>`.
//!
//! A connection has no task of its own: whoever sends on it polls it while waiting for the
//! answer ([`drive`]). A request then goes out and its answer comes back within the
//! sender's task, instead of crossing to a connection task and back (two task wakes, often
//! on the other worker thread, per request).

use crate::sync::LockExt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower::Service;

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

/// Idle connections older than this are closed instead of reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Keeps connections to each target open between attempts; cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Whole attempt, from connecting to the last byte read.
    pub(super) timeout: Duration,
}

struct Inner {
    connector: HttpsConnector<HttpConnector>,
    idle: Mutex<Vec<Idle>>,
}

/// hyper's side of one connection: reads and writes the socket when polled.
type Connection = http1::Connection<MaybeHttpsStream<TokioIo<TcpStream>>, Full<Bytes>>;

/// `None` once the connection has ended.
type Link = Option<Pin<Box<Connection>>>;

/// Where requests go, read once from its URL rather than on every request: the origin a
/// connection is kept for, and the request target and `Host` header each request carries.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoint(Arc<EndpointInner>);

#[derive(Debug)]
struct EndpointInner {
    url: url::Url,
    parsed: Result<Parsed, &'static str>,
}

#[derive(Debug)]
struct Parsed {
    /// Absolute, for the connector.
    uri: Uri,
    origin: (Scheme, Authority),
    /// Origin form (path and query): what a connection carries.
    target: Uri,
    host: HeaderValue,
}

impl From<url::Url> for Endpoint {
    fn from(url: url::Url) -> Self {
        let parsed = Parsed::new(url.as_str());
        Self(Arc::new(EndpointInner { url, parsed }))
    }
}

impl Endpoint {
    pub fn url(&self) -> &url::Url {
        &self.0.url
    }
}

impl Parsed {
    fn new(url: &str) -> Result<Self, &'static str> {
        let uri: Uri = url
            .parse()
            .map_err(|_| "the URL is not a valid request target")?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err("the URL has no scheme or host");
        };
        let default_port = if *scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port == default_port => HeaderValue::from_str(authority.host()),
            _ if authority.as_str().contains('@') => match authority.port_u16() {
                Some(port) => HeaderValue::from_str(&format!("{}:{port}", authority.host())),
                None => HeaderValue::from_str(authority.host()),
            },
            _ => HeaderValue::from_str(authority.as_str()),
        }
        .map_err(|_| "the URL's host is not a valid header")?;
        let target = Uri::from(
            uri.path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        Ok(Self {
            origin: (scheme.clone(), authority.clone()),
            target,
            host,
            uri,
        })
    }
}

struct Idle {
    origin: (Scheme, Authority),
    since: Instant,
    sender: SendRequest<Full<Bytes>>,
    connection: Link,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why a request got no response.
#[derive(Debug)]
pub(super) enum SendError {
    Connect(Box<dyn std::error::Error + Send + Sync>),
    Request(hyper::Error),
    Invalid(&'static str),
}

/// A connection holding a request in flight; goes back to the idle list with
/// [`Conn::release`] once the response body has been read to its end.
pub(super) struct Conn {
    origin: (Scheme, Authority),
    sender: SendRequest<Full<Bytes>>,
    connection: Link,
}

impl Conn {
    /// Runs `future` (reading the response body) while the connection does its part.
    pub(super) async fn drive<F: Future>(&mut self, future: F) -> F::Output {
        drive(&mut self.connection, future).await
    }
}

/// Polls `connection` along with `future` until `future` is done. The connection goes first,
/// so what it reads is there when the future looks; once it has ended, the future sees the
/// ending (a request or body cut short) through hyper's channels.
async fn drive<F: Future>(connection: &mut Link, future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        if let Some(running) = connection.as_mut()
            && let Poll::Ready(ended) = running.as_mut().poll(cx)
        {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "outbound connection ended");
            }
            *connection = None;
        }
        future.as_mut().poll(cx)
    })
    .await
}

pub fn build_client(options: ClientOptions) -> anyhow::Result<Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(options.connect_timeout);
    let connector = HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client {
        inner: Arc::new(Inner {
            connector,
            idle: Mutex::new(Vec::new()),
        }),
        timeout: options.timeout,
    })
}

impl Client {
    /// Sends `request` (its method, headers and body; the URI is ignored) to `endpoint`, on
    /// an idle connection to its origin or a new one.
    pub(super) async fn send(
        &self,
        endpoint: &Endpoint,
        mut request: Request<Full<Bytes>>,
    ) -> Result<(Response<Incoming>, Conn), SendError> {
        let parsed = endpoint
            .0
            .parsed
            .as_ref()
            .map_err(|why| SendError::Invalid(why))?;
        let origin = parsed.origin.clone();
        if !request.headers().contains_key(HOST) {
            request.headers_mut().insert(HOST, parsed.host.clone());
        }
        // A connection carries requests in origin form: the path and query only.
        *request.uri_mut() = parsed.target.clone();

        // Released right after its response ended, a connection may not have caught up yet.
        while let Some(Idle {
            mut sender,
            mut connection,
            ..
        }) = self.checkout(&origin)
        {
            if drive(&mut connection, sender.ready()).await.is_err() {
                continue;
            }
            match drive(&mut connection, sender.try_send_request(request)).await {
                Ok(response) => {
                    let conn = Conn {
                        origin,
                        sender,
                        connection,
                    };
                    return Ok((response, conn));
                }
                // The connection closed while idle before taking the request: it was
                // never sent, so it goes out on a new connection.
                Err(mut e) => match e.take_message() {
                    Some(back) => request = back,
                    None => return Err(SendError::Request(e.into_error())),
                },
            }
        }
        let (mut sender, mut connection) = self.connect(parsed.uri.clone()).await?;
        let response = drive(&mut connection, sender.send_request(request))
            .await
            .map_err(SendError::Request)?;
        let conn = Conn {
            origin,
            sender,
            connection,
        };
        Ok((response, conn))
    }

    /// The most recently released connection to `origin` that has not been idle too long.
    fn checkout(&self, origin: &(Scheme, Authority)) -> Option<Idle> {
        let mut idle = self.inner.idle.locked();
        // The list is in the order of release: when its first has not been idle too long,
        // none has.
        let now = Instant::now();
        let fresh = |c: &Idle| now.duration_since(c.since) < IDLE_TIMEOUT;
        if idle.first().is_some_and(|c| !fresh(c)) {
            idle.retain(fresh);
        }
        let at = idle.iter().rposition(|c| c.origin == *origin)?;
        Some(idle.remove(at))
    }

    async fn connect(&self, uri: Uri) -> Result<(SendRequest<Full<Bytes>>, Link), SendError> {
        let mut connector = self.inner.connector.clone();
        let io = connector.call(uri).await.map_err(SendError::Connect)?;
        let (sender, connection) = http1::handshake(io).await.map_err(SendError::Request)?;
        Ok((sender, Some(Box::pin(connection))))
    }

    /// Puts a connection whose response was read to the end back for the next request.
    pub(super) fn release(&self, conn: Conn) {
        if conn.connection.is_none() {
            return;
        }
        let idle = Idle {
            origin: conn.origin,
            since: Instant::now(),
            sender: conn.sender,
            connection: conn.connection,
        };
        self.inner.idle.locked().push(idle);
    }
}
