//! Where every request goes: the one table of endpoints (method, path, public or admin),
//! the axum router built from it, the direct way to `POST /webhook` declared beside it,
//! and what stands in front of every route (request ids, admission control), and of every
//! admin route (the token guard of `--admin-token`, see [`admin`]).
//!
//! A connection runs an [`App`]: `App::call` gives each request its id, takes its place in
//! admission control, and hands it to [`Routes`], which sends `POST /webhook` straight to
//! its handler and everything else through the router. A tower layer wrapped around
//! `Routes` therefore sees every request, the webhook included.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, patch, post};
use http::Method;
use tower::Service;

use super::AppState;
use super::endpoints::api;
use super::handlers::{self, events, sources, status, webhook};
use super::limits::Admission;
use super::request_id::RequestScope;
use super::{admin, openapi, relay_api, stream, ui};

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Senders on the open network: receiving events and the health check.
    Public,
    /// Operators: reading what was received and delivered, replays, metrics.
    Admin,
}

/// Which endpoints a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Public,
    Admin,
    /// Every endpoint on one listener (today's only arrangement).
    Both,
}

impl Side {
    /// Whether endpoints of `access` are served on this side.
    pub fn serves(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Side::Both, _) | (Side::Public, Access::Public) | (Side::Admin, Access::Admin)
        )
    }
}

/// One endpoint of the HTTP API.
pub struct Endpoint {
    pub method: Method,
    /// In axum's syntax: `/events/{id}`.
    pub path: &'static str,
    pub access: Access,
    handler: fn() -> MethodRouter<AppState>,
}

/// The path events are posted to.
pub const WEBHOOK: &str = "/webhook";

/// The health check, public, and also answered on the admin listener.
pub const HEALTH: &str = "/healthz";

/// Prometheus metrics: admin, but open without a token under `--metrics-public`.
pub const METRICS: &str = "/metrics";

/// Every endpoint, in the order the README lists them.
pub static ENDPOINTS: &[Endpoint] = &[
    // Also taken directly, without the router: see `Routes`.
    endpoint(Method::POST, WEBHOOK, Access::Public, || {
        post(webhook::events_create)
    }),
    // The sources of `serve --source NAME=/webhook/NAME`; 404 for a name none is on.
    endpoint(Method::POST, "/webhook/{source}", Access::Public, || {
        post(sources::sources_create)
    }),
    endpoint(Method::GET, "/events", Access::Admin, || {
        get(events::events_index)
    }),
    endpoint(Method::GET, "/events/stream", Access::Admin, || {
        get(stream::sse::events_stream)
    }),
    endpoint(Method::GET, "/events/{id}", Access::Admin, || {
        get(events::events_show)
    }),
    endpoint(Method::GET, "/events/{id}/body", Access::Admin, || {
        get(events::events_body)
    }),
    endpoint(
        Method::GET,
        "/events/{id}/deliveries",
        Access::Admin,
        || get(relay_api::event_deliveries),
    ),
    endpoint(Method::POST, "/events/{id}/replay", Access::Admin, || {
        post(relay_api::event_replay)
    }),
    endpoint(Method::GET, "/deliveries", Access::Admin, || {
        get(relay_api::deliveries_index)
    }),
    endpoint(Method::POST, "/deliveries/replay", Access::Admin, || {
        post(relay_api::deliveries_replay)
    }),
    endpoint(Method::POST, "/endpoints", Access::Admin, || {
        post(api::endpoints_create)
    }),
    endpoint(Method::GET, "/endpoints", Access::Admin, || {
        get(api::endpoints_index)
    }),
    endpoint(Method::GET, "/endpoints/{id}", Access::Admin, || {
        get(api::endpoints_show)
    }),
    endpoint(Method::PATCH, "/endpoints/{id}", Access::Admin, || {
        patch(api::endpoints_update)
    }),
    endpoint(Method::GET, "/endpoints/{id}/secret", Access::Admin, || {
        get(api::endpoints_secret)
    }),
    endpoint(
        Method::POST,
        "/endpoints/{id}/secret/rotate",
        Access::Admin,
        || post(api::endpoints_rotate),
    ),
    endpoint(Method::GET, "/endpoints/{id}/stats", Access::Admin, || {
        get(api::endpoints_stats)
    }),
    endpoint(Method::DELETE, "/endpoints/{id}", Access::Admin, || {
        delete(api::endpoints_delete)
    }),
    // The inspector page: admin side, but without the token guard (`AdminAuth::guards`).
    endpoint(Method::GET, ui::PAGE, Access::Admin, || get(ui::page)),
    endpoint(Method::GET, ui::ASSETS, Access::Admin, || get(ui::asset)),
    endpoint(Method::GET, METRICS, Access::Admin, || get(status::metrics)),
    endpoint(Method::GET, "/openapi.json", Access::Admin, || {
        get(openapi::document)
    }),
    endpoint(Method::GET, HEALTH, Access::Public, || get(status::health)),
];

const fn endpoint(
    method: Method,
    path: &'static str,
    access: Access,
    handler: fn() -> MethodRouter<AppState>,
) -> Endpoint {
    Endpoint {
        method,
        path,
        access,
        handler,
    }
}

/// Every (method, path, access) of the API, for comparing with a description of it.
pub fn endpoints() -> impl Iterator<Item = (&'static Method, &'static str, Access)> {
    ENDPOINTS.iter().map(|e| (&e.method, e.path, e.access))
}

/// The axum router of the endpoints served on `side`: 404 for any other path, 405 for
/// another method on a known one (these tell nothing the endpoint table does not). Every
/// admin route that `state.config.admin` guards has the token guard in front, of its 405
/// as well. Layers meant
/// for every request go around [`Routes`] (which holds this router), not on it:
/// `POST /webhook` does not pass through it.
pub fn router(state: AppState, side: Side) -> Router {
    let auth = Arc::new(state.config.admin.clone());
    // One method router per path, of every method the table lists for it.
    let mut paths: Vec<(&'static str, Access, MethodRouter<AppState>)> = Vec::new();
    // The health check answers on the admin listener too: the inspector page served there
    // reads the counts of its header from it, and an operator's probe may look there.
    let served = |e: &&Endpoint| side.serves(e.access) || (side == Side::Admin && e.path == HEALTH);
    for e in ENDPOINTS.iter().filter(served) {
        match paths.iter_mut().find(|(path, _, _)| *path == e.path) {
            Some((_, _, methods)) => *methods = std::mem::take(methods).merge((e.handler)()),
            None => paths.push((e.path, e.access, (e.handler)())),
        }
    }
    paths
        .into_iter()
        .fold(Router::new(), |router, (path, access, handler)| {
            let handler = if access == Access::Admin && auth.guards(path) {
                // The 405 for another method goes behind the guard too: a caller without
                // the token learns nothing of the admin paths but 401.
                handler.fallback(handlers::method_not_allowed).layer(
                    axum::middleware::from_fn_with_state(Arc::clone(&auth), admin::require_token),
                )
            } else {
                handler
            };
            router.route(path, handler)
        })
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}

/// The routes of one side as a tower service: `POST /webhook` (when the side serves it)
/// straight to its handler, every other request through [`router`]. Matching the webhook
/// through the router would be the largest single cost of a request; what the handler
/// does and answers is the same either way.
///
/// Always ready: [`App`] calls it without `poll_ready`, and so must any layer put around
/// it (map and inspect layers are; a concurrency limit is not).
#[derive(Clone)]
pub struct Routes {
    /// Present when the side serves `POST /webhook`.
    webhook: Option<PerConnection<AppState>>,
    router: Router,
}

impl Routes {
    pub fn new(state: AppState, side: Side) -> Self {
        Self {
            webhook: side
                .serves(Access::Public)
                .then(|| PerConnection::new(state.clone())),
            router: router(state, side),
        }
    }
}

/// What [`Routes`] answers with. Boxed on every route: the future a connection keeps for
/// each request is then a pointer, not the router's whole future, and moving it (which
/// hyper does several times per request) copies a few bytes, not a kilobyte.
pub type Routed = std::pin::Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl Service<Request> for Routes {
    type Response = Response;
    type Error = Infallible;
    type Future = Routed;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Routed {
        if let Some(state) = &self.webhook
            && request.method() == Method::POST
            && request.uri().path() == WEBHOOK
        {
            let state = state.share();
            return Box::pin(
                async move { Ok(webhook::webhook(&state, request).await.into_response()) },
            );
        }
        Box::pin(self.router.call(request))
    }
}

/// What a connection runs for each request: the request's id (echoed in the answer, the
/// field of its log lines) and its place in admission control (503 at once beyond
/// `--max-inflight`), in front of `S`, the [`Routes`] with whatever layers wrap them.
#[derive(Clone)]
pub struct App<S = Routes> {
    admission: PerConnection<Admission>,
    routes: S,
}

/// Every endpoint of `side` with request ids and admission control in front.
pub fn app(state: AppState, side: Side) -> App {
    let admission = Admission::new(state.config.limits.max_inflight);
    App::new(Routes::new(state, side), admission)
}

impl<S> App<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + 'static,
    S::Future: Send + 'static,
{
    /// `routes` (the [`Routes`], with any layers around them) behind request ids and
    /// `admission`.
    pub fn new(routes: S, admission: Admission) -> Self {
        Self {
            admission: PerConnection::new(admission),
            routes,
        }
    }

    /// Handles one request. `S` is called without `poll_ready`: it must always be ready.
    pub fn call(&mut self, request: Request) -> impl Future<Output = Response> + Send + use<S> {
        let scope = RequestScope::of(&request);
        let place = self
            .admission
            .get()
            .enter()
            .then(|| Place(self.admission.share()));
        let handling = match &place {
            Some(_) => Ok(answer(self.routes.call(request))),
            None => Err(Admission::refused as fn() -> Response),
        };
        async move {
            let response = scope.run(handling).await;
            drop(place);
            response
        }
    }
}

/// The response of a service that never fails.
async fn answer(routed: impl Future<Output = Result<Response, Infallible>>) -> Response {
    match routed.await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// A request's place in admission control, given back when it is answered or dropped.
struct Place(Arc<Admission>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.leave();
    }
}

/// A value each connection holds in an `Arc` of its own: cloning this (once per connection)
/// makes a new `Arc`, so the clone made for each request writes a count only that
/// connection uses, not one every worker thread writes.
pub(super) struct PerConnection<T>(Arc<T>);

impl<T: Clone> PerConnection<T> {
    fn new(value: T) -> Self {
        Self(Arc::new(value))
    }

    fn get(&self) -> &T {
        &self.0
    }

    fn share(&self) -> Arc<T> {
        Arc::clone(&self.0)
    }
}

impl<T: Clone> Clone for PerConnection<T> {
    fn clone(&self) -> Self {
        Self(Arc::new(T::clone(&self.0)))
    }
}
