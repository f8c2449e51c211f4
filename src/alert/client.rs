//! The one HTTP client of outbound delivery: HTTP/1.1 connections (plain TCP or rustls)
//! made with hyper and kept open between attempts, no redirects followed, a bound on the
//! whole attempt, and `User-Agent: hookrelay/<version>`. https trusts the public roots and
//! any private CA it is given, never "any certificate". Outbound proxies come from
//! `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their lower-case forms),
//! read as curl reads them by hyper-util's matcher: https goes through a `CONNECT`
//! tunnel, http is sent to the proxy in absolute form.
//!
//! Each connection runs on a task of its own, as hyper's client connections usually do;
//! the sender holds its `SendRequest` half. (Polling the connection in the sender's task
//! instead, from 1735619 on, cost 2–4 % more instructions per relayed event: see
//! benches/README.md.)

use crate::sync::LockExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, PROXY_AUTHORIZATION};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use rustls::pki_types::CertificateDer;

use super::outbound;
pub use super::outbound::{client_tls, read_certificates};
use tower::Service;

/// Timeouts, trust and proxies of the client.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole attempt, from connecting to the last byte read.
    pub timeout: Duration,
    pub connect_timeout: Option<Duration>,
    /// Certificates of private CAs that https trusts besides the public roots (see
    /// [`read_certificates`]).
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub proxies: Proxies,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: None,
            extra_roots: Vec::new(),
            proxies: Proxies::FromEnv,
        }
    }
}

/// Whether requests may go through a proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proxies {
    /// As `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` say, read when the client
    /// is built.
    FromEnv,
    /// Always straight to the target.
    Off,
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
    /// Straight to the target, over TLS for https.
    connector: HttpsConnector<HttpConnector>,
    /// TCP alone, to a proxy.
    http: HttpConnector,
    tls: Arc<rustls::ClientConfig>,
    /// `None` when no proxy is configured (or proxies are off).
    proxies: Option<Matcher>,
    idle: Mutex<Vec<Idle>>,
}

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
    /// A proxy from the environment that cannot be used.
    Proxy(String),
}

/// How a request reaches its origin.
enum Route {
    Direct,
    /// Through a `CONNECT` tunnel opened by the proxy (https).
    Tunnel(Intercept),
    /// To the proxy, which forwards it (http).
    Forward(Intercept),
}

/// A connection holding a request in flight; goes back to the idle list with
/// [`Client::release`] once the response body has been read to its end.
pub(super) struct Conn {
    origin: (Scheme, Authority),
    sender: SendRequest<Full<Bytes>>,
}

pub fn build_client(options: ClientOptions) -> anyhow::Result<Client> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(options.connect_timeout);
    let tls = outbound::client_tls(options.extra_roots)?;
    let connector = HttpsConnector::from((http.clone(), Arc::clone(&tls)));
    let proxies = match options.proxies {
        Proxies::FromEnv if outbound::proxy_configured() => Some(Matcher::from_env()),
        _ => None,
    };
    Ok(Client {
        inner: Arc::new(Inner {
            connector,
            http,
            tls,
            proxies,
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
        let route = self.route(parsed);
        if let Route::Forward(proxy) = &route {
            // A forwarding proxy takes the whole URL, and its credentials.
            *request.uri_mut() = parsed.uri.clone();
            if let Some(auth) = proxy.basic_auth() {
                request
                    .headers_mut()
                    .insert(PROXY_AUTHORIZATION, auth.clone());
            }
        } else {
            // A connection carries requests in origin form: the path and query only.
            *request.uri_mut() = parsed.target.clone();
        }

        // Released right after its response ended, a connection may not have caught up yet.
        while let Some(Idle { mut sender, .. }) = self.checkout(&origin) {
            if sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let conn = Conn { origin, sender };
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
        let mut sender = self.connect(parsed.uri.clone(), route).await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(SendError::Request)?;
        let conn = Conn { origin, sender };
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

    /// Whether a proxy takes requests to `parsed`, and how.
    fn route(&self, parsed: &Parsed) -> Route {
        let Some(proxy) = self
            .inner
            .proxies
            .as_ref()
            .and_then(|m| m.intercept(&parsed.uri))
        else {
            return Route::Direct;
        };
        if parsed.origin.0 == Scheme::HTTPS {
            Route::Tunnel(proxy)
        } else {
            Route::Forward(proxy)
        }
    }

    async fn connect(&self, uri: Uri, route: Route) -> Result<SendRequest<Full<Bytes>>, SendError> {
        let (proxy, connecting) = match route {
            Route::Direct => {
                let mut connector = self.inner.connector.clone();
                (None, connector.call(uri).await)
            }
            Route::Tunnel(proxy) => {
                let address = outbound::usable_proxy(&proxy).map_err(SendError::Proxy)?;
                let mut tunnel = Tunnel::new(address.clone(), self.inner.http.clone());
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                let mut connector = HttpsConnector::from((tunnel, Arc::clone(&self.inner.tls)));
                (Some(address), connector.call(uri).await)
            }
            Route::Forward(proxy) => {
                let address = outbound::usable_proxy(&proxy).map_err(SendError::Proxy)?;
                let mut connector = self.inner.http.clone();
                let connected = connector.call(address.clone()).await;
                let stream = connected.map(MaybeHttpsStream::Http).map_err(Into::into);
                (Some(address), stream)
            }
        };
        let io = connecting.map_err(|e| SendError::Connect(outbound::explain(e, proxy)))?;
        let (sender, connection) = http1::handshake(io).await.map_err(SendError::Request)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "outbound connection ended");
            }
        });
        Ok(sender)
    }

    /// Puts a connection whose response was read to the end back for the next request.
    pub(super) fn release(&self, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let idle = Idle {
            origin: conn.origin,
            since: Instant::now(),
            sender: conn.sender,
        };
        self.inner.idle.locked().push(idle);
    }
}
