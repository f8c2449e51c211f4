//! The receiver's router started in-process on 127.0.0.1:0, on the test's own runtime, with
//! its store at hand for assertions; optionally with a relay forwarding what it accepts.

use std::net::SocketAddr;
use std::sync::Arc;

use hookrelay::server::memory::MemoryStore;
use hookrelay::server::relay::{Relay, RelayConfig};
use hookrelay::server::{AppState, Config, serve};
use tokio::sync::oneshot;

use super::DEADLINE;

/// A running in-process receiver; stops on drop.
pub struct App {
    pub addr: SocketAddr,
    pub store: Arc<MemoryStore>,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    /// Default settings.
    pub async fn start() -> Self {
        Self::with(Config::default(), 100_000).await
    }

    pub async fn with(config: Config, max_events: usize) -> Self {
        let store = Arc::new(MemoryStore::new(max_events, 100_000));
        let state = AppState::new(store.clone(), config);
        Self::serving(store, state).await
    }

    /// Default settings plus a relay with its workers running; at most `max_pending`
    /// deliveries may be open before `POST /webhook` answers 503.
    pub async fn with_relay(relay: RelayConfig, max_pending: usize) -> Self {
        let store = Arc::new(MemoryStore::new(1000, max_pending));
        let relay = Relay::new(relay, store.clone()).expect("building the relay");
        relay.start();
        let state = AppState::new(store.clone(), Config::default()).with_relay(relay);
        Self::serving(store, state).await
    }

    async fn serving(store: Arc<MemoryStore>, state: AppState) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the app");
        let addr = listener.local_addr().expect("app address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            serve(listener, state, shutdown).await.expect("serving");
        });
        Self {
            addr,
            store,
            client: reqwest::Client::new(),
            stop: Some(stop),
            served: Some(served),
        }
    }

    /// Stops accepting and waits until the server has closed every connection, as `serve`
    /// does before it returns; panics at the deadline.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let served = self.served.take().expect("served until now");
        tokio::time::timeout(DEADLINE, served)
            .await
            .expect("connections still open at the deadline")
            .expect("serving");
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to /webhook as `application/json`; the status and the JSON answer.
    pub async fn post(&self, body: impl Into<reqwest::Body>) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url("/webhook"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("POST /webhook");
        answer(response).await
    }

    /// POSTs to `path` with no body; the status and the JSON answer.
    pub async fn post_empty(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .post(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        answer(response).await
    }

    /// GETs `path`; the status and the JSON answer.
    /// The body of `GET path`, as text (`/metrics`, `/events/{id}/body`, …).
    pub async fn text(&self, path: &str) -> String {
        super::get_text(&self.client, &self.url(path)).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        answer(response).await
    }
}

impl Drop for App {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The status and the JSON body of a response; panics, showing the body, when it is not JSON.
pub async fn answer(response: reqwest::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("reading the answer");
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text:?}"));
    (status, json)
}
