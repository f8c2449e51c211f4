//! Endpoints as data through the admin API: create, list, show (by id or name), change,
//! delete, the secret and its rotation, stats, validation with every problem at once, and
//! endpoints kept across a restart of a SQLite store.

use serde_json::{Value, json};

use crate::support::app::{App, answer};
use crate::support::durable;

async fn send(app: &App, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    answer(request.send().await.expect("request")).await
}

/// A deleted endpoint's waiting delivery is dead, and a replay leaves it so: it would never
/// be attempted. A process of its own: the counters of `/metrics` are per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_endpoints_deliveries_stay_dead_on_replay() {
    use crate::support::{get_json, post_json};
    let served = crate::support::process::Served::start(&[]);
    let http = reqwest::Client::new();
    let call = async |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut request = http.request(method, served.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request")).await
    };
    let endpoint = json!({"url": "http://127.0.0.1:9/in", "name": "acme"});
    let (status, created) = call(reqwest::Method::POST, "/endpoints", Some(endpoint)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let disable = Some(json!({"disabled": true}));
    assert_eq!(
        call(reqwest::Method::PATCH, "/endpoints/acme", disable)
            .await
            .0,
        200
    );
    let event = crate::support::event_of_type(13, "t");
    assert_eq!(post_json(&served.url("/webhook"), event).await.0, 200);
    let (_, deleted) = call(reqwest::Method::DELETE, &format!("/endpoints/{id}"), None).await;
    assert_eq!(deleted["dropped"], 1, "{deleted}");

    for replay in ["/events/13/replay", "/deliveries/replay?status=dead"] {
        let (status, replayed) = call(reqwest::Method::POST, replay, None).await;
        assert_eq!(
            (status, &replayed["replayed"]),
            (200, &json!(0)),
            "{replay}: {replayed}"
        );
    }

    let (_, pending) = get_json(&served.url("/deliveries?status=pending")).await;
    assert_eq!(pending["deliveries"], json!([]), "{pending}");
    let (_, shown) = get_json(&served.url("/events/13/deliveries")).await;
    assert_eq!(shown["deliveries"][0]["status"], "dead", "{shown}");
    let metrics = crate::support::get_text(&http, &served.url("/metrics")).await;
    assert_eq!(
        crate::support::metric(&metrics, "hookrelay_delivery_queue_depth"),
        Some(0.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_endpoint_is_created_listed_changed_and_deleted() {
    let app = App::start().await;
    let (status, created) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({
            "url": "http://127.0.0.1:9/hooks",
            "name": "acme",
            "filter_types": ["invoice.*", "user.created"],
            "headers": {"X-Customer": "acme"},
            "rate_limit": 20,
            "description": "Acme's receiver"
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("ep_"), "{id}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(created["headers"], json!({"x-customer": "acme"}));
    assert_eq!(created["disabled"], false);
    assert_eq!(created["created_at"], created["updated_at"]);

    let (status, list) = send(&app, "GET", "/endpoints", None).await;
    assert_eq!(status, 200);
    let listed = &list["endpoints"][0];
    assert_eq!(listed["id"], id.as_str());
    assert!(
        listed.get("secret").is_none(),
        "a list shows no secret: {listed}"
    );

    let (status, by_name) = send(&app, "GET", "/endpoints/acme", None).await;
    assert_eq!((status, &by_name["id"]), (200, &json!(id)));
    let (status, shown) = send(&app, "GET", &format!("/endpoints/{id}/secret"), None).await;
    assert_eq!((status, &shown["secret"]), (200, &json!(secret)));
    assert_eq!(shown["previous_secret"], Value::Null);

    let (status, changed) = send(
        &app,
        "PATCH",
        &format!("/endpoints/{id}"),
        Some(json!({"disabled": true, "rate_limit": null, "description": null})),
    )
    .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["disabled"], true);
    assert_eq!(changed["rate_limit"], Value::Null);
    assert_eq!(
        changed["filter_types"],
        json!(["invoice.*", "user.created"]),
        "kept"
    );
    let (_, again) = send(&app, "GET", &format!("/endpoints/{id}"), None).await;
    assert_eq!(again, changed);

    let (status, stats) = send(&app, "GET", "/endpoints/acme/stats", None).await;
    assert_eq!(status, 200, "{stats}");
    assert_eq!(
        (&stats["delivered"], &stats["dead"], &stats["last_error"]),
        (&json!(0), &json!(0), &Value::Null)
    );

    let (status, deleted) = send(&app, "DELETE", &format!("/endpoints/{id}"), None).await;
    assert_eq!((status, &deleted["id"]), (200, &json!(id)));
    let (status, gone) = send(&app, "GET", &format!("/endpoints/{id}"), None).await;
    assert_eq!((status, gone["error"].as_str()), (404, Some("not_found")));
    let (status, _) = send(&app, "DELETE", &format!("/endpoints/{id}"), None).await;
    assert_eq!(status, 404);
    let (_, list) = send(&app, "GET", "/endpoints", None).await;
    assert_eq!(list["endpoints"], json!([]));
}

#[tokio::test]
async fn invalid_fields_are_refused_all_at_once() {
    let app = App::start().await;
    let (status, refused) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({
            "url": "ftp://127.0.0.1/x",
            "filter_types": ["ok.*", 7],
            "rate_limit": -1,
            "headers": {"webhook-signature": "forged", "svix-signature": "forged"},
            "secret": "not base64!",
            "colour": "red"
        })),
    )
    .await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["status"], "error");
    assert_eq!(refused["error"], "validation_failed");
    let mut fields: Vec<&str> = refused["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "colour",
            "filter_types[1]",
            "headers.svix-signature",
            "headers.webhook-signature",
            "rate_limit",
            "secret",
            "url"
        ]
    );
    assert!(
        !refused.to_string().contains("not base64!"),
        "a secret is never repeated: {refused}"
    );

    let (status, missing) = send(&app, "POST", "/endpoints", Some(json!({}))).await;
    assert_eq!(
        (status, &missing["details"][0]["field"]),
        (422, &json!("url"))
    );

    let response =
        crate::support::send_json(&app.client, &app.url("/endpoints"), "{\"url\": ").await;
    let (status, malformed) = answer(response).await;
    assert_eq!(
        (status, malformed["error"].as_str()),
        (400, Some("malformed_json"))
    );
    let response = app
        .client
        .post(app.url("/endpoints"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(answer(response).await.0, 415);

    let (status, _) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/", "name": "one"})),
    )
    .await;
    assert_eq!(status, 201);
    let (status, taken) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/", "name": "one"})),
    )
    .await;
    assert_eq!((status, taken["error"].as_str()), (409, Some("conflict")));
    let (status, read_only) = send(
        &app,
        "PATCH",
        "/endpoints/one",
        Some(json!({"secret": "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "created_at": "x", "url": null})),
    )
    .await;
    assert_eq!(status, 422, "{read_only}");
    assert_eq!(
        read_only["details"].as_array().unwrap().len(),
        3,
        "{read_only}"
    );
}

#[tokio::test]
async fn a_rotation_keeps_the_old_secret_for_the_grace_period() {
    let app = App::start().await;
    let given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, created) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/", "secret": given})),
    )
    .await;
    assert_eq!((status, &created["secret"]), (201, &json!(given)));
    let id = created["id"].as_str().unwrap();

    let (status, rotated) = send(
        &app,
        "POST",
        &format!("/endpoints/{id}/secret/rotate?grace_seconds=1"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], json!(given));
    assert_eq!(rotated["previous_secret"], json!(given));
    let (_, shown) = send(&app, "GET", &format!("/endpoints/{id}/secret"), None).await;
    assert_eq!(shown["previous_secret"], json!(given));
    let (_, view) = send(&app, "GET", &format!("/endpoints/{id}"), None).await;
    assert!(view["previous_secret_expires_at"].is_string(), "{view}");

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (_, shown) = send(&app, "GET", &format!("/endpoints/{id}/secret"), None).await;
    assert_eq!(shown["secret"], rotated["secret"]);
    assert_eq!(
        shown["previous_secret"],
        Value::Null,
        "the grace period is over"
    );

    let (status, refused) = send(
        &app,
        "POST",
        &format!("/endpoints/{id}/secret/rotate?grace_seconds=99999999"),
        None,
    )
    .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (400, Some("bad_request"))
    );
}

#[tokio::test]
async fn endpoints_survive_a_restart_of_a_sqlite_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let http = durable::client();
    let mut first = durable::Served::start(&db, &[]);
    let response = crate::support::send_json(
        &http,
        &format!("{}/endpoints", first.base),
        json!({"url": "http://127.0.0.1:9/x", "name": "kept", "filter_types": ["a"]}).to_string(),
    )
    .await;
    let (status, created) = answer(response).await;
    assert_eq!(status, 201, "{created}");
    first.kill9();

    let second = durable::Served::start(&db, &[]);
    let listed = durable::get_json(&second.base, "/endpoints").await;
    let kept = &listed["endpoints"][0];
    assert_eq!(kept["id"], created["id"]);
    assert_eq!(kept["name"], "kept");
    assert_eq!(kept["filter_types"], json!(["a"]));
    let secret = durable::get_json(&second.base, "/endpoints/kept/secret").await;
    assert_eq!(secret["secret"], created["secret"]);
}

/// Each rotation with a grace period keeps one more secret signing; past
/// `MAX_PREVIOUS_SECRETS` (4) a rotation would revoke one before its grace ends, and is
/// refused with 409 saying when there is room again. Without a grace period it is not.
#[tokio::test]
async fn rotations_beyond_the_bound_of_previous_secrets_are_refused() {
    let app = App::start().await;
    let (status, created) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/", "name": "acme"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let mut current = created["secret"].clone();
    for n in 1..=4 {
        let (status, rotated) = send(
            &app,
            "POST",
            "/endpoints/acme/secret/rotate?grace_seconds=600",
            None,
        )
        .await;
        assert_eq!(status, 200, "rotation {n}: {rotated}");
        assert_eq!(rotated["previous_secrets"][0]["secret"], current);
        assert_eq!(rotated["previous_secrets"].as_array().unwrap().len(), n);
        current = rotated["secret"].clone();
    }

    let (status, refused) = send(&app, "POST", "/endpoints/acme/secret/rotate", None).await;
    assert_eq!(
        (status, &refused["error"]),
        (409, &json!("conflict")),
        "{refused}"
    );
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("4 previous secrets signing already") && message.contains("rotate after"),
        "{message}"
    );
    let (_, shown) = send(&app, "GET", "/endpoints/acme/secret", None).await;
    assert_eq!(
        shown["secret"], current,
        "a refused rotation changes nothing"
    );
    assert_eq!(shown["previous_secrets"].as_array().unwrap().len(), 4);

    let (status, rotated) = send(
        &app,
        "POST",
        "/endpoints/acme/secret/rotate?grace_seconds=0",
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["previous_secrets"].as_array().unwrap().len(), 4);
    assert!(
        !rotated["previous_secrets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["secret"] == current),
        "without grace the replaced secret stops at once: {rotated}"
    );
}

/// A typo in the query (`grace` for `grace_seconds`) is refused rather than ignored, on
/// every `/endpoints` path; a rotation's body may give the new secret, checked as a
/// creation checks one, and anything else in it is refused.
#[tokio::test]
async fn rotate_refuses_unknown_input_and_takes_a_secret_from_its_body() {
    let app = App::start().await;
    let given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let new = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y";
    let (status, created) = send(
        &app,
        "POST",
        "/endpoints",
        Some(json!({"url": "http://127.0.0.1:9/", "name": "acme", "secret": given})),
    )
    .await;
    assert_eq!(status, 201, "{created}");

    let (status, refused) = send(&app, "POST", "/endpoints/acme/secret/rotate?grace=5", None).await;
    assert_eq!(
        (status, &refused["error"]),
        (400, &json!("bad_request")),
        "{refused}"
    );
    assert_eq!(
        refused["message"],
        "unknown query parameter \"grace\"; this path takes grace_seconds"
    );
    let (_, shown) = send(&app, "GET", "/endpoints/acme/secret", None).await;
    assert_eq!(shown["secret"], given, "nothing rotated: {shown}");

    for (body, field) in [
        (json!({"secret": "whsec_c2hvcnQ="}), "secret"),
        (json!({"secret": 7}), "secret"),
        (json!({"secret": new, "grace": 5}), "grace"),
    ] {
        let (status, refused) = send(
            &app,
            "POST",
            "/endpoints/acme/secret/rotate",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {refused}");
        assert_eq!(refused["details"][0]["field"], field, "{body}: {refused}");
    }
    let (status, refused) = send(
        &app,
        "POST",
        "/endpoints/acme/secret/rotate",
        Some(json!(["x"])),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    let same = Some(json!({"secret": given}));
    let (status, refused) = send(&app, "POST", "/endpoints/acme/secret/rotate", same).await;
    assert_eq!(
        (status, &refused["error"]),
        (409, &json!("conflict")),
        "{refused}"
    );
    let (_, shown) = send(&app, "GET", "/endpoints/acme/secret", None).await;
    assert_eq!(shown["secret"], given, "nothing rotated: {shown}");

    let (status, rotated) = send(
        &app,
        "POST",
        "/endpoints/acme/secret/rotate?grace_seconds=60",
        Some(json!({"secret": new})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(
        (&rotated["secret"], &rotated["previous_secret"]),
        (&json!(new), &json!(given))
    );

    for (method, path) in [
        ("GET", "/endpoints?limit=5"),
        ("GET", "/endpoints/acme?verbose=1"),
        ("GET", "/endpoints/acme/secret?reveal=all"),
        ("GET", "/endpoints/acme/stats?since=1h"),
        ("DELETE", "/endpoints/acme?force=true"),
    ] {
        let (status, refused) = send(&app, method, path, None).await;
        assert_eq!(status, 400, "{method} {path}: {refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .ends_with("this path takes no query parameters"),
            "{refused}"
        );
    }
    let (status, _) = send(&app, "GET", "/endpoints/acme", None).await;
    assert_eq!(status, 200, "the refused DELETE deleted nothing");
}

/// An endpoint written by a hookrelay that kept one `previous_secret` (no
/// `previous_secrets`) still loads: both secrets sign, and a rotation keeps both beside
/// the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_stored_in_the_older_shape_keeps_its_previous_secret_signing() {
    use crate::support::Customer;
    use crate::support::signing::{signature_count, standard_signature_verifies};
    let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let current = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldCB5b3UgYXJlIGxvb2tpbmcgZm9y";
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let http = durable::client();
    let mut first = durable::Served::start(&db, &[]);
    let document = json!({"url": customer.url("/in"), "name": "acme", "secret": current});
    let response = crate::support::send_json(
        &http,
        &format!("{}/endpoints", first.base),
        document.to_string(),
    )
    .await;
    assert_eq!(answer(response).await.0, 201);
    first.kill9();

    // The document as the older version wrote it.
    let conn = rusqlite::Connection::open(&db).unwrap();
    let doc: String = conn
        .query_row("SELECT doc FROM endpoints WHERE name = 'acme'", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut doc: Value = serde_json::from_str(&doc).unwrap();
    doc.as_object_mut().unwrap().remove("previous_secrets");
    let expires_at = chrono::Utc::now() + chrono::Duration::hours(1);
    doc["previous_secret"] = json!({"secret": old, "expires_at": expires_at});
    conn.execute(
        "UPDATE endpoints SET doc = ?1 WHERE name = 'acme'",
        [doc.to_string()],
    )
    .unwrap();
    drop(conn);

    let second = durable::Served::start(&db, &[]);
    let shown = durable::get_json(&second.base, "/endpoints/acme/secret").await;
    assert_eq!(
        (&shown["secret"], &shown["previous_secret"]),
        (&json!(current), &json!(old)),
        "{shown}"
    );
    assert_eq!(shown["previous_secrets"][0]["secret"], old, "{shown}");
    assert_eq!(
        durable::post(&http, &second.base, durable::event(1))
            .await
            .unwrap(),
        200
    );
    let got = customer.wait_for_async(1).await;
    assert_eq!(signature_count(&got[0]), 2, "{:?}", got[0].headers);
    assert!(standard_signature_verifies(&got[0], current));
    assert!(standard_signature_verifies(&got[0], old));

    let response = http
        .post(format!("{}/endpoints/acme/secret/rotate", second.base))
        .send()
        .await
        .unwrap();
    let (status, rotated) = answer(response).await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(
        (
            &rotated["previous_secrets"][0]["secret"],
            &rotated["previous_secrets"][1]["secret"]
        ),
        (&json!(current), &json!(old)),
        "{rotated}"
    );
    assert_eq!(
        durable::post(&http, &second.base, durable::event(2))
            .await
            .unwrap(),
        200
    );
    let got = customer.wait_for_async(2).await;
    let last = got
        .iter()
        .find(|r| r.header("webhook-id") == Some("evt_2"))
        .unwrap();
    assert_eq!(signature_count(last), 3);
    let new = rotated["secret"].as_str().unwrap();
    for secret in [new, current, old] {
        assert!(standard_signature_verifies(last, secret), "{secret}");
    }
}

mod relayed {
    //! The relay delivering to stored endpoints: each with its own filter, headers and
    //! secret (two signatures during a rotation's grace period); a disabled one's
    //! deliveries wait and flow when it is enabled; a deleted one gets nothing more.

    use std::time::Duration;

    use hookrelay::alert::RetryPolicy;
    use hookrelay::server::relay::{CircuitConfig, RelayConfig};
    use http::HeaderMap;
    use serde_json::{Value, json};

    use super::send;
    use crate::support::app::App;
    use crate::support::customer::{Answer, Customer, Recorded};
    use crate::support::event_of_type;

    async fn relay_app() -> App {
        relay_app_with(Default::default()).await
    }

    async fn relay_app_with(circuit: CircuitConfig) -> App {
        let config = RelayConfig {
            targets: Vec::new(),
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

    async fn create(app: &App, document: Value) -> Value {
        let (status, created) = send(app, "POST", "/endpoints", Some(document)).await;
        assert_eq!(status, 201, "{created}");
        created
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_endpoint_gets_its_types_signed_with_its_own_secret() {
        let (orders, users) = (Customer::start(), Customer::start());
        let app = relay_app().await;
        let a = create(
            &app,
            json!({"url": orders.url("/in"), "filter_types": ["order.*"], "headers": {"x-tenant": "a"}}),
        )
        .await;
        let b = create(
            &app,
            json!({"url": users.url("/in"), "filter_types": ["user.created", "order.paid"]}),
        )
        .await;

        assert_eq!(app.post(event_of_type(1, "order.created")).await.0, 200);
        assert_eq!(app.post(event_of_type(2, "user.created")).await.0, 200);
        assert_eq!(app.post(event_of_type(3, "order.paid")).await.0, 200);
        assert_eq!(app.post(event_of_type(4, "other")).await.0, 200);

        let got_a = orders.wait_for_async(2).await;
        let got_b = users.wait_for_async(2).await;
        let ids = |got: &[Recorded]| {
            let mut ids: Vec<String> = got
                .iter()
                .map(|r| r.header("webhook-id").unwrap().to_owned())
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(&got_a), ["evt_1", "evt_3"]);
        assert_eq!(ids(&got_b), ["evt_2", "evt_3"]);
        let secret_a = a["secret"].as_str().unwrap();
        let secret_b = b["secret"].as_str().unwrap();
        assert!(
            got_a
                .iter()
                .all(|r| r.signed_by(secret_a) && !r.signed_by(secret_b))
        );
        assert!(
            got_b
                .iter()
                .all(|r| r.signed_by(secret_b) && !r.signed_by(secret_a))
        );
        assert!(got_a.iter().all(|r| r.header("x-tenant") == Some("a")));
        assert!(got_b.iter().all(|r| r.header("x-tenant").is_none()));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            (orders.count(), users.count()),
            (2, 2),
            "event 4 went nowhere"
        );

        let (_, stats) = send(
            &app,
            "GET",
            &format!("/endpoints/{}/stats", a["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(stats["delivered"], 2, "{stats}");
        assert!(stats["last_success_at"].is_string(), "{stats}");

        // A changed filter applies to types already seen.
        let (status, _) = send(
            &app,
            "PATCH",
            &format!("/endpoints/{}", a["id"].as_str().unwrap()),
            Some(json!({"filter_types": ["other"]})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(app.post(event_of_type(5, "other")).await.0, 200);
        assert_eq!(app.post(event_of_type(6, "order.created")).await.0, 200);
        let got_a = orders.wait_for_async(3).await;
        assert_eq!(got_a[2].header("webhook-id"), Some("evt_5"));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(orders.count(), 3, "order.created no longer goes to a");
    }

    /// `GET /deliveries?target=` finds an endpoint's deliveries by its name as by its id,
    /// as every `/endpoints/{id}` path does.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deliveries_are_found_by_the_endpoint_s_name_as_by_its_id() {
        let customer = Customer::start();
        let app = relay_app().await;
        let created = create(&app, json!({"url": customer.url("/in"), "name": "acme"})).await;
        assert_eq!(app.post(event_of_type(1, "order.created")).await.0, 200);
        customer.wait_for_async(1).await;

        let id = created["id"].as_str().unwrap();
        let (_, by_id) = send(&app, "GET", &format!("/deliveries?target={id}"), None).await;
        let (_, by_name) = send(&app, "GET", "/deliveries?target=acme", None).await;
        let (_, nobody) = send(&app, "GET", "/deliveries?target=nobody", None).await;

        // The same deliveries (their state may move on between the two reads).
        let ids = |listed: &Value| -> Vec<Value> {
            listed["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].clone())
                .collect()
        };
        assert_eq!(ids(&by_id).len(), 1, "{by_id}");
        assert_eq!(ids(&by_name), ids(&by_id), "{by_name}");
        assert_eq!(by_name["deliveries"][0]["target"], id, "{by_name}");
        assert_eq!(nobody["deliveries"], json!([]), "{nobody}");
    }

    /// A second rotation keeps the first one's secret signing until the end of the grace
    /// it was given, beside the second one's: three signatures, each a receiver verifies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_two_rotations_every_secret_in_its_grace_period_signs() {
        use crate::support::signing::{signature_count, standard_signature_verifies};
        let customer = Customer::start();
        let app = relay_app().await;
        let created = create(&app, json!({"url": customer.url("/in"), "name": "acme"})).await;
        let a = created["secret"].as_str().unwrap().to_owned();
        let rotate = async |path: &str| {
            let (status, rotated) = send(&app, "POST", path, None).await;
            assert_eq!(status, 200, "{rotated}");
            rotated
        };
        let first = rotate("/endpoints/acme/secret/rotate?grace_seconds=60").await;
        let second = rotate("/endpoints/acme/secret/rotate").await;
        let (b, c) = (
            first["secret"].as_str().unwrap(),
            second["secret"].as_str().unwrap(),
        );
        let previous = second["previous_secrets"].as_array().unwrap();
        assert_eq!(
            (&previous[0]["secret"], &previous[1]["secret"]),
            (&json!(b), &json!(a)),
            "{second}"
        );
        assert_eq!(
            previous[1]["expires_at"], first["previous_secrets"][0]["expires_at"],
            "a keeps the expiry of its own rotation"
        );
        assert_eq!(second["previous_secret"], b, "the newest previous secret");
        let (_, view) = send(&app, "GET", "/endpoints/acme", None).await;
        assert_eq!(
            view["previous_secrets_expire_at"],
            json!([previous[0]["expires_at"], previous[1]["expires_at"]]),
            "{view}"
        );
        assert_eq!(
            view["previous_secret_expires_at"],
            previous[0]["expires_at"]
        );

        app.post(event_of_type(1, "t")).await;
        let got = customer.wait_for_async(1).await;
        assert_eq!(signature_count(&got[0]), 3, "{:?}", got[0].headers);
        for secret in [c, b, a.as_str()] {
            assert!(standard_signature_verifies(&got[0], secret), "{secret}");
        }
    }

    /// `?target=` takes a URL, an endpoint's id or its name on each of `GET /deliveries`,
    /// `POST /events/{id}/replay` and `POST /deliveries/replay`; an endpoint of the options
    /// is found by its id as by its URL.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn target_takes_a_url_an_id_or_a_name_on_every_route() {
        use hookrelay::server::relay::Target;
        let (customer, flagged) = (Customer::start(), Customer::start());
        let config = RelayConfig {
            targets: vec![Target {
                url: flagged.url("/flag").parse().unwrap(),
                route: None,
            }],
            headers: HeaderMap::new(),
            policy: RetryPolicy::schedule(vec![Duration::from_millis(50)]),
            timeout: Duration::from_secs(5),
            concurrency: 2,
            signer: None,
            original_headers: false,
            circuit: Default::default(),
        };
        let app = App::with_relay(config, 1000).await;
        let created = create(&app, json!({"url": customer.url("/in"), "name": "acme"})).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(app.post(event_of_type(1, "t")).await.0, 200);
        customer.wait_for_async(1).await;
        flagged.wait_for_async(1).await;

        // Waits until the n-th attempt at acme is recorded as delivered.
        let delivered = async |n: usize| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            loop {
                let (_, listed) =
                    send(&app, "GET", &format!("/deliveries?target={id}"), None).await;
                let d = &listed["deliveries"][0];
                if d["status"] == "delivered" && d["attempts"].as_array().unwrap().len() == n {
                    return;
                }
                assert!(std::time::Instant::now() < deadline, "{listed}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        delivered(1).await;
        let url = customer.url("/in");
        let mut attempts = 1;
        for target in [id.as_str(), "acme", url.as_str()] {
            let query = url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
            let (status, listed) =
                send(&app, "GET", &format!("/deliveries?target={query}"), None).await;
            assert_eq!(status, 200);
            let found = listed["deliveries"].as_array().unwrap();
            assert_eq!(found.len(), 1, "{target}: {listed}");
            assert_eq!(found[0]["target"], id.as_str(), "{target}: {listed}");

            for replay in [
                format!("/events/1/replay?target={query}"),
                format!("/deliveries/replay?target={query}"),
            ] {
                let (status, replayed) = send(&app, "POST", &replay, None).await;
                assert_eq!(
                    (status, &replayed["replayed"]),
                    (200, &json!(1)),
                    "{replay}: {replayed}"
                );
                attempts += 1;
                customer.wait_for_async(attempts).await;
                delivered(attempts).await;
            }
        }

        let (_, listed) = send(&app, "GET", "/endpoints", None).await;
        let flag_id = listed["endpoints"][0]["id"].as_str().unwrap().to_owned();
        let flag_url = flagged.url("/flag");
        for target in [flag_id.as_str(), flag_url.as_str()] {
            let query = url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
            let (_, listed) = send(&app, "GET", &format!("/deliveries?target={query}"), None).await;
            let found = listed["deliveries"].as_array().unwrap();
            assert_eq!(found.len(), 1, "{target}: {listed}");
            assert_eq!(found[0]["target"], flag_url.as_str(), "{target}: {listed}");
        }

        let (status, _) = send(&app, "POST", "/events/1/replay?target=nobody", None).await;
        assert_eq!(status, 404, "no endpoint of that name");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn after_a_rotation_both_secrets_sign_until_the_grace_period_ends() {
        let customer = Customer::start();
        let app = relay_app().await;
        let created = create(&app, json!({"url": customer.url("/in")})).await;
        let id = created["id"].as_str().unwrap();
        let old = created["secret"].as_str().unwrap().to_owned();
        let (status, rotated) = send(
            &app,
            "POST",
            &format!("/endpoints/{id}/secret/rotate?grace_seconds=2"),
            None,
        )
        .await;
        assert_eq!(status, 200);
        let new = rotated["secret"].as_str().unwrap().to_owned();

        app.post(event_of_type(1, "t")).await;
        let during = customer.wait_for_async(1).await;
        assert_eq!(
            during[0]
                .header("webhook-signature")
                .unwrap()
                .split(' ')
                .count(),
            2
        );
        assert!(during[0].signed_by(&new) && during[0].signed_by(&old));

        tokio::time::sleep(Duration::from_millis(2100)).await;
        app.post(event_of_type(2, "t")).await;
        let after = customer.wait_for_async(2).await;
        let last = after
            .iter()
            .find(|r| r.header("webhook-id") == Some("evt_2"))
            .unwrap();
        assert_eq!(
            last.header("webhook-signature").unwrap().split(' ').count(),
            1
        );
        assert!(last.signed_by(&new) && !last.signed_by(&old));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_disabled_endpoints_deliveries_wait_and_flow_when_it_is_enabled() {
        let customer = Customer::start();
        let app = relay_app().await;
        let created = create(&app, json!({"url": customer.url("/in"), "disabled": true})).await;
        let id = created["id"].as_str().unwrap();
        for n in 1..=3 {
            assert_eq!(app.post(event_of_type(n, "t")).await.0, 200);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(customer.count(), 0, "a disabled endpoint gets nothing");
        let (_, stats) = send(&app, "GET", &format!("/endpoints/{id}/stats"), None).await;
        assert_eq!(stats["pending"], 3, "{stats}");

        let (status, _) = send(
            &app,
            "PATCH",
            &format!("/endpoints/{id}"),
            Some(json!({"disabled": false})),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(customer.wait_for_async(3).await.len(), 3);

        let (status, _) = send(
            &app,
            "PATCH",
            &format!("/endpoints/{id}"),
            Some(json!({"disabled": true})),
        )
        .await;
        assert_eq!(status, 200);
        app.post(event_of_type(4, "t")).await;
        app.post(event_of_type(5, "t")).await;
        let (status, deleted) = send(&app, "DELETE", &format!("/endpoints/{id}"), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            deleted["dropped"], 2,
            "the two waiting deliveries: {deleted}"
        );
        let (_, dead) = send(
            &app,
            "GET",
            &format!("/deliveries?target={id}&status=dead"),
            None,
        )
        .await;
        assert_eq!(dead["deliveries"].as_array().unwrap().len(), 2, "{dead}");
        let (_, metrics) = (0, app.text("/metrics").await);
        assert_eq!(
            crate::support::metric(&metrics, "hookrelay_deliveries_dropped_total"),
            Some(2.0),
            "{metrics}"
        );
        app.post(event_of_type(6, "t")).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(customer.count(), 3, "a deleted endpoint gets nothing more");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rate_limited_endpoint_is_paced_and_slows_no_other() {
        let (limited, free) = (Customer::start(), Customer::start());
        let app = relay_app().await;
        create(&app, json!({"url": limited.url("/in"), "rate_limit": 20})).await;
        create(&app, json!({"url": free.url("/in")})).await;

        let started = std::time::Instant::now();
        for n in 1..=100 {
            assert_eq!(app.post(event_of_type(n, "t")).await.0, 200);
        }
        assert_eq!(free.wait_for_async(100).await.len(), 100);
        let free_took = started.elapsed();
        let got = limited.wait_for_async(100).await;
        let limited_took = started.elapsed();
        assert!(
            free_took < Duration::from_secs(3),
            "the unlimited endpoint took {free_took:?}"
        );
        // One at a time, 20 a second: 99 gaps of 50 ms after the first.
        let first = got.iter().map(|r| r.at).min().unwrap();
        let last = got.iter().map(|r| r.at).max().unwrap();
        assert!(
            last - first >= Duration::from_millis(4900),
            "100 deliveries at 20/s spread over {:?}",
            last - first
        );
        assert!(
            limited_took >= Duration::from_millis(4900),
            "{limited_took:?}"
        );
    }

    async fn stats(app: &App, id: &str) -> Value {
        send(app, "GET", &format!("/endpoints/{id}/stats"), None)
            .await
            .1
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_endpoints_circuit_opens_probes_and_closes_when_it_recovers() {
        let customer = Customer::always(Answer::status(500));
        let app = relay_app_with(CircuitConfig {
            failures: 3,
            first_probe: Duration::from_millis(300),
            max_probe: Duration::from_secs(1),
            disable_after: Duration::from_secs(600),
        })
        .await;
        let created = create(&app, json!({"url": customer.url("/in")})).await;
        let id = created["id"].as_str().unwrap();
        for n in 1..=10 {
            app.post(event_of_type(n, "t")).await;
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let attempts = customer.count();
        // Without the circuit: 20 attempts (each event tried twice) in the first 100 ms.
        assert!(
            (3..=8).contains(&attempts),
            "3 failures (and those in flight beside them), then probes only: {attempts}"
        );
        assert_eq!(
            stats(&app, id).await["dead"],
            0,
            "nothing dies while the circuit is open"
        );

        customer.program(0, Answer::ok());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = stats(&app, id).await;
            if now["delivered"] == 10 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "not healed: {now}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_endpoint_failing_for_too_long_is_disabled() {
        let customer = Customer::always(Answer::status(503));
        let app = relay_app_with(CircuitConfig {
            failures: 1,
            first_probe: Duration::from_millis(100),
            max_probe: Duration::from_millis(200),
            disable_after: Duration::from_millis(800),
        })
        .await;
        let created = create(&app, json!({"url": customer.url("/in")})).await;
        let id = created["id"].as_str().unwrap();
        app.post(event_of_type(1, "t")).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (_, shown) = send(&app, "GET", &format!("/endpoints/{id}"), None).await;
            if shown["disabled"] == true {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still enabled: {shown}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let metrics = app.text("/metrics").await;
        assert!(
            crate::support::metric(&metrics, "hookrelay_endpoints_auto_disabled_total")
                >= Some(1.0),
            "{metrics}"
        );
        let tried = customer.count();
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            customer.count(),
            tried,
            "a disabled endpoint gets no more attempts"
        );
        assert_eq!(stats(&app, id).await["dead"], 0, "its delivery waits");
    }
}

mod cli {
    //! `hookrelay endpoints …` against a real `hookrelay serve` with an admin token.

    use crate::support::{DEADLINE, Served, hookrelay};

    fn run(server: &Served, token: &str, args: &[&str]) -> std::process::Output {
        hookrelay()
            .arg("endpoints")
            .args(args)
            .args(["--server", &server.url(""), "--admin-token", token])
            .timeout(DEADLINE)
            .output()
            .unwrap()
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn scripts_manage_endpoints_without_curl() {
        let token = "t0ken-for-the-endpoints-cli-test-1234567890";
        let server = Served::start(&["--admin-token", token]);

        let added = run(
            &server,
            token,
            &[
                "add",
                "--url",
                "http://127.0.0.1:9/in",
                "--name",
                "acme",
                "--filter-type",
                "invoice.*",
                "--header",
                "X-Tenant: acme",
                "--rate-limit",
                "5",
                "--json",
            ],
        );
        assert!(added.status.success(), "{added:?}");
        let created: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();
        assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(created["headers"]["x-tenant"], "acme");

        let listed = run(&server, token, &["list"]);
        assert!(listed.status.success(), "{listed:?}");
        let out = text(&listed.stdout);
        assert!(
            out.contains("acme\thttp://127.0.0.1:9/in\tinvoice.*\tenabled"),
            "{out}"
        );

        let updated = run(&server, token, &["update", "acme", "--disable"]);
        assert!(text(&updated.stdout).ends_with("disabled\n"), "{updated:?}");
        let enabled = run(&server, token, &["update", "acme", "--enable", "--json"]);
        let shown: serde_json::Value = serde_json::from_slice(&enabled.stdout).unwrap();
        assert_eq!(shown["disabled"], false);

        let rotated = run(
            &server,
            token,
            &["rotate-secret", "acme", "--grace", "1h", "--json"],
        );
        let secret: serde_json::Value = serde_json::from_slice(&rotated.stdout).unwrap();
        assert_eq!(secret["previous_secret"], created["secret"]);

        let invalid = run(
            &server,
            token,
            &["add", "--url", "ftp://x", "--rate-limit", "0"],
        );
        assert_eq!(invalid.status.code(), Some(1), "{invalid:?}");
        let err = text(&invalid.stderr);
        assert!(
            err.contains("422") && err.contains("url:") && err.contains("rate_limit:"),
            "{err}"
        );

        let refused = run(&server, "wrong", &["list"]);
        assert_eq!(refused.status.code(), Some(1), "{refused:?}");
        assert!(text(&refused.stderr).contains("401"), "{refused:?}");

        let removed = run(&server, token, &["rm", "acme"]);
        assert!(
            text(&removed.stdout).starts_with("deleted ep_"),
            "{removed:?}"
        );
        let listed = run(&server, token, &["list", "--json"]);
        let all: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
        assert_eq!(all["endpoints"], serde_json::json!([]));
    }

    /// `rotate-secret` twice: the first secret keeps signing for the grace it was given,
    /// and the text answer has a line for each previous secret still signing.
    #[test]
    fn rotating_twice_from_the_cli_keeps_both_previous_secrets() {
        let token = "t0ken-for-the-endpoints-cli-test-1234567890";
        let server = Served::start(&["--admin-token", token]);
        let added = run(
            &server,
            token,
            &[
                "add",
                "--url",
                "http://127.0.0.1:9/in",
                "--name",
                "acme",
                "--json",
            ],
        );
        assert!(added.status.success(), "{added:?}");
        let created: serde_json::Value = serde_json::from_slice(&added.stdout).unwrap();

        let first = run(
            &server,
            token,
            &["rotate-secret", "acme", "--grace", "1h", "--json"],
        );
        assert!(first.status.success(), "{first:?}");
        let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
        let second = run(&server, token, &["rotate-secret", "acme", "--grace", "1h"]);
        assert!(second.status.success(), "{second:?}");
        let out = text(&second.stdout);
        assert_eq!(
            out.matches("previous secret signs until\t20").count(),
            2,
            "{out}"
        );

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let secret: serde_json::Value = runtime.block_on(async {
            reqwest::Client::new()
                .get(server.url("/endpoints/acme/secret"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let previous: Vec<&serde_json::Value> = secret["previous_secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| &p["secret"])
            .collect();
        assert_eq!(previous, [&first["secret"], &created["secret"]], "{secret}");
    }

    #[test]
    fn an_unreachable_server_exits_2() {
        let port = crate::support::unused_port();
        let out = hookrelay()
            .args([
                "endpoints",
                "list",
                "--server",
                &format!("http://127.0.0.1:{port}"),
            ])
            .timeout(DEADLINE)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(text(&out.stderr).contains("cannot reach"), "{out:?}");
    }

    /// `--server` pointing at some other web server: exit 2 with a message that says so, not
    /// exit 1 with its HTML error page dumped as "the server refused".
    #[test]
    fn a_server_that_is_not_a_hookrelay_exits_2_without_its_page() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let page = "<html><body><h1>404 Not Found</h1></body></html>";
                let _ = write!(
                    conn,
                    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
            }
        });
        let out = hookrelay()
            .args(["endpoints", "list", "--server", &format!("http://{addr}")])
            .timeout(DEADLINE)
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("not a hookrelay"), "{stderr}");
        assert!(!stderr.contains("<html>"), "{stderr}");
    }
}

#[tokio::test]
async fn a_url_with_whitespace_or_control_characters_is_refused() {
    let app = App::start().await;
    for url in [
        "http://127.0.0.1:9/ho\r\nok",
        "http://127.0.0.1:9/ho\tok",
        " http://127.0.0.1:9/hook",
        "http://127.0.0.1:9/a b",
    ] {
        let (status, refused) = send(&app, "POST", "/endpoints", Some(json!({"url": url}))).await;
        assert_eq!(status, 422, "{url:?}: {refused}");
        assert_eq!(refused["details"][0]["field"], "url", "{refused}");
        assert!(
            refused["details"][0]["message"]
                .as_str()
                .unwrap()
                .contains("percent-encode"),
            "{refused}"
        );
    }
    let (listed_status, listed) = send(&app, "GET", "/endpoints", None).await;
    assert_eq!(listed_status, 200);
    assert_eq!(listed["endpoints"], json!([]), "nothing stored: {listed}");
}
