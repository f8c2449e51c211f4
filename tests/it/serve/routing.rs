//! Where requests go: the one table of endpoints, its public and admin sides, a layer put
//! around the routes reaching `POST /webhook`, and `Keep-Alive` on kept-alive answers.

use std::sync::Arc;
use std::time::Duration;

use hookrelay::server::limits::{Admission, Limits};
use hookrelay::server::memory::MemoryStore;
use hookrelay::server::routes::{self, Access, App, Routes, Side};
use hookrelay::server::{AppState, Config, serve_app};
use http::HeaderValue;
use tokio::sync::oneshot;

use crate::support::{event, table};

/// Serves `app` on 127.0.0.1:0 until the returned sender is dropped; its base URL.
async fn serving<S>(app: App<S>) -> (String, oneshot::Sender<()>)
where
    App<S>: Clone + Send + 'static,
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async {
            let _ = stopped.await;
        };
        serve_app(listener, None, app, &Limits::default(), shutdown)
            .await
            .unwrap();
    });
    (base, stop)
}

fn state() -> AppState {
    AppState::new(Arc::new(MemoryStore::new(100, 100)), Config::default())
}

fn request(
    client: &reqwest::Client,
    base: &str,
    method: &http::Method,
    path: &str,
) -> reqwest::RequestBuilder {
    table::request(client, base, method, path)
}

/// Event 1 (posted to `base`) and endpoint `1` (made on `admin`), which every route is
/// tried with.
async fn hold_event_and_endpoint(client: &reqwest::Client, base: &str, admin: &str) {
    let posted = request(client, base, &http::Method::POST, routes::WEBHOOK)
        .body(event(1))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let created =
        crate::support::send_json(client, &format!("{admin}/endpoints"), table::ENDPOINT_ONE).await;
    assert_eq!(created.status(), 201);
}

#[tokio::test]
async fn a_layer_around_the_routes_reaches_post_webhook_and_every_other_route() {
    let layer = tower::util::MapResponseLayer::new(|mut response: axum::response::Response| {
        let headers = response.headers_mut();
        headers.insert("x-layered", HeaderValue::from_static("yes"));
        response
    });
    let state = state();
    let store = state.store.clone();
    let routes = tower::Layer::layer(&layer, Routes::new(state, Side::Both));
    let (base, _stop) = serving(App::new(routes, Admission::new(16))).await;
    let client = reqwest::Client::new();

    let webhook = request(&client, &base, &http::Method::POST, routes::WEBHOOK)
        .send()
        .await
        .unwrap();
    let health = client.get(format!("{base}/healthz")).send().await.unwrap();

    assert_eq!(webhook.status(), 200);
    assert_eq!(webhook.headers()["x-layered"], "yes");
    assert!(webhook.headers().contains_key("x-request-id"));
    assert_eq!(
        store
            .get(hookrelay::server::store::EventKey::EventId(2))
            .await
            .unwrap()
            .map(|e| e.event_id),
        Some(Some(2))
    );
    assert_eq!(health.headers()["x-layered"], "yes");
}

#[tokio::test]
async fn every_endpoint_of_the_table_is_served_on_its_method() {
    let state = state();
    let (base, _stop) = serving(routes::app(state, Side::Both)).await;
    let client = reqwest::Client::new();
    hold_event_and_endpoint(&client, &base, &base).await;

    for (method, path, _) in routes::endpoints() {
        let status = request(&client, &base, method, path)
            .send()
            .await
            .unwrap()
            .status();
        assert!(
            table::served(method, path, status),
            "{method} {path}: {status}"
        );
        let other = table::other_method(path);
        let status = request(&client, &base, &other, path)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 405, "{other} {path}");
    }
}

#[tokio::test]
async fn the_public_side_serves_only_public_endpoints_and_the_admin_side_the_rest() {
    let state = state();
    let (public, _stop_public) = serving(routes::app(state.clone(), Side::Public)).await;
    let (admin, _stop_admin) = serving(routes::app(state, Side::Admin)).await;
    let client = reqwest::Client::new();
    hold_event_and_endpoint(&client, &public, &admin).await;

    let publics: Vec<_> = routes::endpoints()
        .filter(|e| e.2 == Access::Public)
        .collect();
    let publics: Vec<_> = publics.iter().map(|(m, p, _)| (m.as_str(), *p)).collect();
    assert_eq!(
        publics,
        [
            ("POST", "/webhook"),
            ("POST", "/webhook/{source}"),
            ("GET", "/healthz")
        ]
    );
    for (method, path, access) in routes::endpoints() {
        let on_public = request(&client, &public, method, path)
            .send()
            .await
            .unwrap()
            .status();
        let on_admin = request(&client, &admin, method, path)
            .send()
            .await
            .unwrap()
            .status();
        match access {
            Access::Public => {
                assert!(
                    table::served(method, path, on_public),
                    "{method} {path}: {on_public}"
                );
                // The health check answers on both sides; every other public path only on
                // the public one.
                let on_both = path == routes::HEALTH;
                assert_eq!(
                    on_admin == 404,
                    !on_both,
                    "{method} {path} on the admin side: {on_admin}"
                );
            }
            Access::Admin => {
                assert_eq!(on_public, 404, "{method} {path} on the public side");
                assert!(
                    table::served(method, path, on_admin),
                    "{method} {path}: {on_admin}"
                );
            }
        }
    }
}

#[tokio::test]
async fn kept_alive_answers_say_how_long_the_connection_stays_open() {
    let limits = Limits {
        idle_timeout: Duration::from_secs(5),
        ..Limits::default()
    };
    let config = Config {
        limits,
        ..Config::default()
    };
    let app = crate::support::App::with(config, 100).await;
    let client = reqwest::Client::new();

    let kept = crate::support::send_json(&client, &app.url("/webhook"), event(1)).await;
    let closing = client
        .get(app.url("/healthz"))
        .header("connection", "close")
        .send()
        .await
        .unwrap();

    // Below the 5 s idle timeout, in whole seconds.
    assert_eq!(kept.headers()["keep-alive"], "timeout=4");
    assert!(
        !closing.headers().contains_key("keep-alive"),
        "{:?}",
        closing.headers()
    );
}
