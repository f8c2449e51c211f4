//! `--forward-to` and `--route` as endpoints: listed by the API and by `hookrelay endpoints
//! list` with `defined_by: options` and an id that the next start gives again, counted by
//! `/stats`, refused (409) by every change; their circuit opens and closes as a stored
//! endpoint's does; and they are not written to the store.

use std::time::Duration;

use hookrelay::alert::RetryPolicy;
use hookrelay::server::relay::{CircuitConfig, RelayConfig, Target};
use http::HeaderMap;
use serde_json::{Value, json};

use crate::support::app::{App, answer};
use crate::support::{
    Customer, DEADLINE, Served, durable, event_of_type, hookrelay, metric, wait_until,
};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

async fn call(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = durable::client().request(method, format!("{base}{path}"));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    answer(request.send().await.expect("request")).await
}

/// `hookrelay serve` relaying everything to `all` and `order.*` to `orders`, signed, with
/// one extra header.
fn serve_with_flags(all: &Customer, orders: &Customer) -> Served {
    let route = format!("order.*={}", orders.url("/orders"));
    Served::start(&[
        "--forward-to",
        &all.url("/all"),
        "--route",
        &route,
        "--forward-header",
        "X-Env: test",
        "--forward-secret",
        SECRET,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_targets_are_endpoints_listed_counted_and_changed_only_by_their_flags() {
    let (all, orders) = (Customer::start(), Customer::start());
    let served = serve_with_flags(&all, &orders);
    let base = served.url("");

    let (status, list) = call(&base, "GET", "/endpoints", None).await;
    assert_eq!(status, 200, "{list}");
    let listed = list["endpoints"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{list}");
    let (everything, routed) = (&listed[0], &listed[1]);
    assert_eq!(everything["url"], all.url("/all"));
    assert_eq!(everything["filter_types"], json!([]));
    assert_eq!(routed["url"], orders.url("/orders"));
    assert_eq!(routed["filter_types"], json!(["order.*"]));
    for endpoint in [everything, routed] {
        assert_eq!(endpoint["defined_by"], "options", "{endpoint}");
        assert_eq!(endpoint["headers"], json!({"x-env": "test"}));
        assert_eq!(endpoint["disabled"], false);
        assert!(endpoint["id"].as_str().unwrap().starts_with("ep_"));
        assert!(endpoint.get("secret").is_none(), "no secret in a list");
    }
    assert_ne!(everything["id"], routed["id"]);
    let id = everything["id"].as_str().unwrap().to_owned();
    let (status, shown) = call(&base, "GET", &format!("/endpoints/{id}"), None).await;
    assert_eq!((status, &shown), (200, everything));
    let (status, secret) = call(&base, "GET", &format!("/endpoints/{id}/secret"), None).await;
    assert_eq!(status, 200, "{secret}");
    assert_eq!(
        (&secret["secret"], &secret["secrets"]),
        (&json!(SECRET), &json!([SECRET]))
    );

    // The CLI lists them too, each marked as defined by the options.
    let cli = hookrelay()
        .args(["endpoints", "list", "--json", "--server", &base])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert!(cli.status.success(), "{cli:?}");
    let from_cli: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(from_cli["endpoints"], json!(listed));
    let text = hookrelay()
        .args(["endpoints", "list", "--server", &base])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains(&format!(
            "{id}\t-\t{}\t*\tenabled\toptions\n",
            all.url("/all")
        )),
        "{text}"
    );

    // An order event goes to both, signed with --forward-secret; stats count it.
    let body = event_of_type(1, "order.created");
    let (status, _) = crate::support::post_json(&served.url("/webhook"), body).await;
    assert_eq!(status, 200);
    let got = all.wait_for_async(1).await;
    assert!(got[0].signed_by(SECRET), "{:?}", got[0].headers);
    assert_eq!(got[0].header("x-env"), Some("test"));
    orders.wait_for_async(1).await;
    let stats_path = format!("/endpoints/{id}/stats");
    let stats = wait_until(
        "the delivery counted",
        Duration::from_millis(50),
        || call(&base, "GET", &stats_path, None),
        |(_, s)| s["delivered"] == 1,
    )
    .await
    .1;
    assert_eq!((&stats["id"], &stats["dead"]), (&json!(id), &json!(0)));
    assert!(stats["last_success_at"].is_string(), "{stats}");

    // Only the flags change them.
    let changes = [
        (
            "PATCH",
            format!("/endpoints/{id}"),
            Some(json!({"disabled": true})),
        ),
        ("DELETE", format!("/endpoints/{id}"), None),
        ("POST", format!("/endpoints/{id}/secret/rotate"), None),
    ];
    for (method, path, body) in changes {
        let (status, refused) = call(&base, method, &path, body).await;
        assert_eq!(status, 409, "{method} {path}: {refused}");
        assert_eq!(
            (&refused["status"], &refused["error"]),
            (&json!("error"), &json!("conflict"))
        );
        let message = refused["message"].as_str().unwrap();
        assert!(
            message.contains("--forward-to/--route") && message.contains(&id),
            "{message}"
        );
    }
    let rm = hookrelay()
        .args(["endpoints", "rm", &id, "--server", &base])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert_eq!(rm.status.code(), Some(1), "{rm:?}");
    assert!(
        String::from_utf8_lossy(&rm.stderr).contains("409"),
        "{rm:?}"
    );
    let (_, still) = call(&base, "GET", "/endpoints", None).await;
    assert_eq!(still["endpoints"], json!(listed), "nothing changed");

    // Another start with the same flags gives the same ids.
    drop(served);
    let again = serve_with_flags(&all, &orders);
    let (_, relisted) = call(&again.url(""), "GET", "/endpoints", None).await;
    let ids = |list: &Value| -> Vec<Value> {
        list["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].clone())
            .collect()
    };
    assert_eq!(ids(&relisted), ids(&list));
}

#[tokio::test]
async fn an_unsigned_flag_endpoint_says_it_has_no_secret() {
    let customer = Customer::start();
    let served = Served::start(&["--forward-to", &customer.url("/in")]);
    let base = served.url("");
    let (_, list) = call(&base, "GET", "/endpoints", None).await;
    let id = list["endpoints"][0]["id"].as_str().unwrap().to_owned();
    let (status, secret) = call(&base, "GET", &format!("/endpoints/{id}/secret"), None).await;
    assert_eq!(status, 200, "{secret}");
    assert_eq!(
        (&secret["secret"], &secret["secrets"]),
        (&Value::Null, &json!([]))
    );
}

#[tokio::test]
async fn a_flag_endpoint_is_not_written_to_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let target = "http://127.0.0.1:9/flag";
    let mut first = durable::Served::start(&db, &["--forward-to", target]);
    let listed = durable::get_json(&first.base, "/endpoints").await;
    assert_eq!(listed["endpoints"][0]["url"], target, "{listed}");
    first.kill9();

    // Without the flag, the same database has no endpoint: none was stored.
    let second = durable::Served::start(&db, &[]);
    let listed = durable::get_json(&second.base, "/endpoints").await;
    assert_eq!(listed["endpoints"], json!([]));
}

/// An in-process relay to `customer` as `--forward-to` gives it, with `circuit`, one retry
/// 50 ms after a first failure: without the circuit, a delivery is dead after two attempts.
async fn relay_to(customer: &Customer, circuit: CircuitConfig) -> App {
    let config = RelayConfig {
        targets: vec![Target {
            url: customer.url("/in").parse().unwrap(),
            route: None,
        }],
        headers: HeaderMap::new(),
        policy: RetryPolicy::schedule(vec![Duration::from_millis(50)]),
        timeout: Duration::from_secs(5),
        concurrency: 2,
        signer: None,
        original_headers: false,
        circuit,
    };
    App::with_relay(config, 1000).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_flag_target_opens_its_circuit_and_heals_when_it_recovers() {
    let customer = Customer::always(crate::support::Answer::status(500));
    let circuit = CircuitConfig {
        failures: 3,
        first_probe: Duration::from_millis(300),
        max_probe: Duration::from_secs(1),
        disable_after: Duration::from_secs(600),
    };
    let app = relay_to(&customer, circuit).await;
    let (_, list) = app.get("/endpoints").await;
    let id = list["endpoints"][0]["id"].as_str().unwrap().to_owned();
    let stats = async || app.get(&format!("/endpoints/{id}/stats")).await.1;
    let before = stats().await;
    assert_eq!(
        before["circuit"],
        json!({"state": "closed", "failures_in_a_row": 0, "next_probe_at": null}),
        "{before}"
    );
    for n in 1..=10 {
        app.post(event_of_type(n, "t")).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Why the endpoint receives nothing, endpoint by endpoint: its circuit, open.
    let open = stats().await;
    assert_eq!(open["circuit"]["state"], "open", "{open}");
    assert!(
        open["circuit"]["failures_in_a_row"].as_u64() >= Some(3),
        "{open}"
    );
    let probe = open["circuit"]["next_probe_at"]
        .as_str()
        .unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(probe).is_ok(),
        "{open}"
    );
    let attempts = customer.count();
    assert!(
        (3..=8).contains(&attempts),
        "3 failures (and those in flight beside them), then probes only: {attempts}"
    );
    assert_eq!(
        stats().await["dead"],
        0,
        "nothing dies while the circuit is open"
    );
    let metrics = app.text("/metrics").await;
    assert_eq!(
        metric(&metrics, "hookrelay_endpoints_circuit_open"),
        Some(1.0),
        "{metrics}"
    );

    customer.program(0, crate::support::Answer::ok());
    let healed = wait_until(
        "every delivery made after the target recovered",
        Duration::from_millis(100),
        stats,
        |s| s["delivered"] == 10,
    )
    .await;
    assert_eq!(healed["dead"], 0);
    assert_eq!(healed["circuit"]["state"], "closed", "{healed}");
    let metrics = app.text("/metrics").await;
    assert_eq!(
        metric(&metrics, "hookrelay_endpoints_circuit_open"),
        Some(0.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flag_target_failing_for_too_long_is_disabled_and_its_delivery_waits() {
    let customer = Customer::always(crate::support::Answer::status(503));
    let circuit = CircuitConfig {
        failures: 1,
        first_probe: Duration::from_millis(100),
        max_probe: Duration::from_millis(200),
        disable_after: Duration::from_millis(800),
    };
    let app = relay_to(&customer, circuit).await;
    let (_, list) = app.get("/endpoints").await;
    let id = list["endpoints"][0]["id"].as_str().unwrap().to_owned();
    app.post(event_of_type(1, "t")).await;
    let path = format!("/endpoints/{id}");
    let shown = wait_until(
        "the endpoint disabled",
        Duration::from_millis(100),
        || app.get(&path),
        |(_, shown)| shown["disabled"] == true,
    )
    .await
    .1;
    assert_eq!(shown["defined_by"], "options");
    let metrics = app.text("/metrics").await;
    assert_eq!(
        metric(&metrics, "hookrelay_endpoints_disabled"),
        Some(1.0),
        "{metrics}"
    );
    let tried = customer.count();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        customer.count(),
        tried,
        "a disabled endpoint gets no more attempts"
    );
    let (_, stats) = app.get(&format!("/endpoints/{id}/stats")).await;
    assert_eq!(
        (&stats["dead"], &stats["failed"]),
        (&json!(0), &json!(1)),
        "it waits: {stats}"
    );
}
