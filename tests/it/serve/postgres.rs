//! Several `hookrelay serve` processes on one PostgreSQL database behave as one: an event
//! accepted by one is read, deduplicated and delivered by another. Each test works in a
//! database of its own (see `hookrelay::server::postgres::testdb`), and skips with a
//! printed reason where no PostgreSQL can be reached, unless `CI=true`.

use std::time::{Duration, Instant};

use hookrelay::server::postgres::testdb::TestDb;
use serde_json::Value;

use crate::store_sqlite::post_signed;
use crate::support::durable::{client, event, get_json, post};
use crate::support::{Answer, Customer, DEADLINE, Served, hookrelay};

fn serve(db: &TestDb, args: &[&str]) -> Served {
    let mut all = vec!["--store", db.url.as_str()];
    all.extend_from_slice(args);
    Served::start(&all)
}

/// Polls `path` on `base` until `done` holds for the JSON answer; panics at the deadline.
async fn poll_until(base: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let answer = get_json(base, path).await;
        if done(&answer) {
            return answer;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{path} never got there: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_accepted_by_one_instance_is_read_and_deduplicated_by_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = serve(&db, &[]);
    let b = serve(&db, &[]);
    // The second start finds the schema made: nothing for its log to warn about.
    assert!(!b.stderr().contains("NOTICE"), "{}", b.stderr());
    let (a, b) = (a.url(""), b.url(""));
    let http = client();

    assert_eq!(post(&http, &a, event(41)).await.unwrap(), 200);
    let answer = http
        .post(format!("{b}/webhook"))
        .header("content-type", "application/json")
        .body(event(41))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["duplicate"], true, "{answer}");
    let changed = event(41).replace("event number", "another event number");
    assert_eq!(post(&http, &b, changed).await.unwrap(), 409);

    let shown = get_json(&b, "/events/41").await;
    assert_eq!(shown["event_id"], 41, "{shown}");
    let listed = get_json(&b, "/events").await;
    assert_eq!(
        listed["events"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_owed_by_an_instance_that_died_is_delivered_by_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // The first attempt fails; the retry is due 3 s later, by when its instance is gone.
    let sink = Customer::failing_first(1, Answer::status(503));
    let hook = sink.url("/hook");
    let relay = ["--forward-to", hook.as_str(), "--retry-schedule", "3s"];
    let mut a = serve(&db, &relay);
    let b = serve(&db, &relay);
    let http = client();

    assert_eq!(post(&http, &a.url(""), event(7)).await.unwrap(), 200);
    let failed = |d: &Value| d["deliveries"][0]["status"] == "failed";
    poll_until(&b.url(""), "/events/7/deliveries", failed).await;
    a.kill9();

    let requests = sink.wait_for_async(2).await;
    let ids: Vec<_> = requests.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids, [Some("evt_7"), Some("evt_7")]);
    let delivered = |d: &Value| d["deliveries"][0]["status"] == "delivered";
    let shown = poll_until(&b.url(""), "/events/7/deliveries", delivered).await;
    assert_eq!(
        shown["deliveries"][0]["attempts"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_webhook_id_accepted_by_one_instance_is_a_key_on_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let secret = hookrelay::alert::signing::Secret::generate()
        .unwrap()
        .to_whsec();
    let args = ["--verify", "standard", "--secret", secret.as_str()];
    let (a, b) = (serve(&db, &args), serve(&db, &args));
    let (a, b) = (a.url(""), b.url(""));

    let (first, _) = post_signed(&a, &secret, "msg_1", event(1)).await;
    let (repeat, repeat_answer) = post_signed(&b, &secret, "msg_1", event(1)).await;
    // Another event under the same id: only the stored key tells B that the id is taken.
    let (reused, reused_answer) = post_signed(&b, &secret, "msg_1", event(2)).await;

    assert_eq!(first, 200);
    assert_eq!(repeat, 200, "{repeat_answer}");
    assert_eq!(repeat_answer["duplicate"], true, "{repeat_answer}");
    assert_eq!(reused, 409, "{reused_answer}");
    assert_eq!(reused_answer["error"], "conflict", "{reused_answer}");
    let listed = get_json(&a, "/events").await;
    assert_eq!(
        listed["events"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_woken_by_a_delivery_queued_on_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // The first delivery hangs, keeping A's only worker busy; after it, answers are quick.
    let sink = Customer::failing_first(1, Answer::ok().delay(Duration::from_secs(30)));
    let hook = sink.url("/hook");
    let relay = [
        "--forward-to",
        hook.as_str(),
        "--forward-concurrency",
        "1",
        "--forward-timeout",
        "60s",
        // Far beyond the test's deadline: only a notification can wake B in time.
        "--store-poll",
        "10m",
    ];
    let a = serve(&db, &relay);
    let http = client();
    assert_eq!(post(&http, &a.url(""), event(1)).await.unwrap(), 200);
    sink.wait_for_async(1).await;
    let b = serve(&db, &relay);

    assert_eq!(post(&http, &a.url(""), event(2)).await.unwrap(), 200);

    let requests = sink.wait_for_async(2).await;
    assert_eq!(requests[1].header("webhook-id"), Some("evt_2"));
    let delivered = |d: &Value| d["deliveries"][0]["status"] == "delivered";
    poll_until(&b.url(""), "/events/2/deliveries", delivered).await;
}

/// Three instances, posts spread over all of them, one SIGKILLed mid-stream and started
/// again: every acknowledged event is stored once and delivered at least once, the dead
/// one's deliveries taken over when their lease runs out, repeats with the same webhook-id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_of_three_instances_loses_no_acknowledged_event() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    // Slow enough answers that deliveries are in flight when the instance dies.
    let sink = Customer::always(Answer::ok().delay(Duration::from_millis(100)));
    let hook = sink.url("/hook");
    let concurrency = 4;
    let relay = [
        "--forward-to",
        hook.as_str(),
        "--forward-concurrency",
        "4",
        "--forward-timeout",
        "1s",
        "--store-lease",
        "3s",
    ];
    let mut instances: Vec<Served> = (0..3).map(|_| serve(&db, &relay)).collect();
    let urls: Vec<String> = instances.iter().map(|i| i.url("")).collect();
    let total: i64 = 150;

    let posts: Vec<_> = (1..=total)
        .map(|id| {
            let base = urls[id as usize % 3].clone();
            tokio::spawn(async move {
                let http = client();
                // Acknowledged or not; a refused connection (the dead instance) is not.
                let ok = matches!(post(&http, &base, event(id)).await, Ok(200));
                (id, ok)
            })
        })
        .collect();
    sink.wait_for_async(20).await;
    instances[2].kill9();
    instances[2] = serve(&db, &relay);
    let mut acknowledged = Vec::new();
    for post in posts {
        if let (id, true) = post.await.unwrap() {
            acknowledged.push(id);
        }
    }

    let listed = get_json(&instances[0].url(""), "/events?limit=1000").await;
    let mut stored: Vec<i64> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    stored.sort_unstable();
    let unique: std::collections::BTreeSet<i64> = stored.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "an event stored twice: {stored:?}"
    );
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
    assert!(acknowledged.len() as i64 > total / 2, "{acknowledged:?}");

    let started = Instant::now();
    let (delivered, repeats) = loop {
        let requests = sink.requests();
        let mut seen = std::collections::BTreeMap::<String, usize>::new();
        for r in &requests {
            *seen
                .entry(r.header("webhook-id").unwrap().to_owned())
                .or_default() += 1;
        }
        let missing: Vec<_> = acknowledged
            .iter()
            .filter(|id| !seen.contains_key(&format!("evt_{id}")))
            .collect();
        if missing.is_empty() {
            break (seen.len(), seen.values().filter(|n| **n > 1).count());
        }
        assert!(
            started.elapsed() < DEADLINE,
            "acknowledged but never delivered: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "{} acknowledged, {} stored, {delivered} delivered, {repeats} delivered more than once",
        acknowledged.len(),
        stored.len()
    );
    assert!(
        repeats <= concurrency,
        "{repeats} repeats, at most {concurrency} in flight"
    );
}

/// `sslmode=require` talks TLS to a server that offers it, and refuses, with exit 2 and a
/// reason, one that does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_is_tls_or_a_clear_refusal() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let admin = db.client().await;
    let offers_tls = admin
        .query_one("SHOW ssl", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        == "on";
    let url = format!("{}?sslmode=require", db.url);

    if offers_tls {
        let served = Served::start(&["--store", url.as_str()]);
        assert_eq!(
            post(&client(), &served.url(""), event(5)).await.unwrap(),
            200
        );
        let row = admin
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE s.ssl)
                 FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
                 WHERE a.datname = current_database() AND a.application_name = 'hookrelay'",
                &[],
            )
            .await
            .unwrap();
        let (connections, encrypted): (i64, i64) = (row.get(0), row.get(1));
        assert!(connections > 0);
        assert_eq!(
            encrypted, connections,
            "every connection of hookrelay is TLS"
        );
    } else {
        let output = hookrelay()
            .args(["serve", "--port", "0", "--store", url.as_str()])
            .timeout(DEADLINE)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("cannot connect to"), "{stderr}");
        assert!(stderr.contains("TLS"), "{stderr}");
    }
}

#[test]
fn a_database_that_cannot_be_reached_is_named_without_its_password() {
    // Port 1 on the loopback: nothing listens there.
    let url = "postgres://hookrelay:hunter2@127.0.0.1:1/hooks";
    let output = hookrelay()
        .args(["serve", "--port", "0", "--store", url])
        .args(["--store-connect-timeout", "1s"])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect to postgres://hookrelay:***@127.0.0.1:1/hooks"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// libpq's URLs may carry the password as a parameter instead: hidden just the same, in the
/// start-up log and in the error.
#[test]
fn a_password_given_as_a_url_parameter_is_hidden_too() {
    let url = "postgres://hookrelay@127.0.0.1:1/hooks?password=hunter2&sslmode=disable";
    let output = hookrelay()
        .args(["serve", "--port", "0", "--store", url])
        .args(["--store-connect-timeout", "1s"])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("postgres://hookrelay@127.0.0.1:1/hooks?password=***&sslmode=disable"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

/// A TCP forwarder on `port` to `target`, started on its own thread: a database that comes
/// up late.
fn forward(port: u16, target: std::net::SocketAddr) {
    use std::net::{TcpListener, TcpStream};
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the reserved port");
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = TcpStream::connect(target) else {
                return;
            };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// `--store-connect-timeout`: serve started before its database waits for it, says so in
/// the log, and serves once it is up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_a_database_that_comes_up_late() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let real = url::Url::parse(&db.url).unwrap();
    let target = (
        real.host_str().unwrap().to_owned(),
        real.port().unwrap_or(5432),
    );
    let target = std::net::ToSocketAddrs::to_socket_addrs(&target)
        .unwrap()
        .next()
        .unwrap();
    // A port nothing listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut late = real.clone();
    late.set_host(Some("127.0.0.1")).unwrap();
    late.set_port(Some(port)).unwrap();
    let late = late.to_string();

    let opener = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        forward(port, target);
    });
    let started = Instant::now();
    let served = Served::start(&["--store", &late, "--store-connect-timeout", "30s"]);
    opener.join().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "served before the database was up"
    );
    assert!(
        served.stderr().contains("waiting for the database"),
        "{}",
        served.stderr()
    );
    let http = client();
    assert_eq!(post(&http, &served.url(""), event(1)).await.unwrap(), 200);
}

/// A wrong database name is not a database still starting: exit 2 at once, however long
/// `--store-connect-timeout` is.
#[tokio::test]
async fn a_missing_database_exits_at_once_despite_a_long_connect_timeout() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let mut missing = url::Url::parse(&db.url).unwrap();
    missing.set_path("/hookrelay_no_such_database");
    let started = Instant::now();
    let output = hookrelay()
        .args(["serve", "--port", "0", "--store", missing.as_str()])
        .args(["--store-connect-timeout", "60s"])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(started.elapsed() < Duration::from_secs(10));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("hookrelay_no_such_database"), "{stderr}");
}

/// The database drops every connection of the instance while clients post: they see 200
/// or 503, never a 500, every acknowledged event is kept, and the instance recovers by
/// itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_terminated_under_load_give_503s_not_500s_and_lose_nothing() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &[]);
    let base = served.url("");
    let admin = db.client().await;

    let total: i64 = 400;
    let posting = {
        let base = base.clone();
        tokio::spawn(async move {
            let http = client();
            let mut answers = Vec::new();
            for id in 1..=total {
                let status = post(&http, &base, event(id)).await.unwrap();
                answers.push((id, status));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            answers
        })
    };
    let mut terminated = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let row = admin
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = current_database() AND application_name = 'hookrelay'",
                &[],
            )
            .await
            .unwrap();
        terminated += row.get::<_, i64>(0);
    }
    assert!(
        terminated > 0,
        "no connection of the instance was terminated"
    );
    let answers = posting.await.unwrap();
    let refused: Vec<_> = answers.iter().filter(|(_, s)| *s != 200).collect();
    assert!(
        refused.iter().all(|(_, s)| *s == 503),
        "only 503s besides 200s: {refused:?}"
    );
    let acknowledged: Vec<i64> = answers
        .iter()
        .filter(|(_, s)| *s == 200)
        .map(|(id, _)| *id)
        .collect();
    // Recovered: a new event is taken after the last termination.
    let http = client();
    let mut recovered = false;
    for _ in 0..100 {
        if post(&http, &base, event(total + 1)).await.unwrap() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the instance did not recover: {}",
        served.stderr()
    );
    for id in acknowledged {
        let answer = get_json(&base, &format!("/events/{id}")).await;
        assert_eq!(answer["event_id"], id, "acknowledged event {id} lost");
    }
    println!(
        "{} of {total} posts refused with 503 while {terminated} connections were terminated",
        refused.len()
    );
}

/// With a shared database, `/metrics` counts rows at most every `GAUGES_MAX_AGE`: a scrape
/// right after another reuses its counts, one after that reads them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_gauges_of_the_shared_state_are_cached_for_a_moment() {
    use hookrelay::server::postgres::GAUGES_MAX_AGE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &[]);
    let base = served.url("");
    let http = client();
    let events = |text: String| crate::support::metric(&text, "hookrelay_store_events");
    let scrape = || async {
        let text = crate::support::get_text(&http, &format!("{base}/metrics")).await;
        events(text)
    };
    assert_eq!(post(&http, &base, event(1)).await.unwrap(), 200);
    let first_at = Instant::now();
    assert_eq!(scrape().await, Some(1.0));
    assert_eq!(post(&http, &base, event(2)).await.unwrap(), 200);
    let again = scrape().await;
    if first_at.elapsed() < GAUGES_MAX_AGE {
        assert_eq!(again, Some(1.0), "read again within {GAUGES_MAX_AGE:?}");
    }
    tokio::time::sleep(GAUGES_MAX_AGE).await;
    assert_eq!(
        scrape().await,
        Some(2.0),
        "read again after {GAUGES_MAX_AGE:?}"
    );
}

/// An endpoint created through one instance is delivered to by another on the same
/// database: endpoints are kept in it and each relay reads them again as it polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_made_on_one_instance_is_delivered_to_by_another() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let customer = Customer::start();
    let first = serve(&db, &[]);
    let second = serve(&db, &[]);
    let created = client()
        .post(first.url("/endpoints"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"url": "{}", "name": "shared"}}"#,
            customer.url("/in")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    // The second instance reads it at its next poll (1 s).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listed = get_json(&second.url(""), "/endpoints").await;
    assert_eq!(listed["endpoints"][0]["id"], created["id"]);

    assert_eq!(
        post(&client(), &second.url(""), event(7)).await.unwrap(),
        200
    );
    let got = customer.wait_for_async(1).await;
    assert_eq!(got[0].header("webhook-id"), Some("evt_7"));
    let secret =
        hookrelay::alert::signing::Secret::parse(created["secret"].as_str().unwrap()).unwrap();
    let timestamp: i64 = got[0].header("webhook-timestamp").unwrap().parse().unwrap();
    let expected = hookrelay::alert::signing::sign(&[secret], "evt_7", timestamp, &got[0].body);
    assert_eq!(got[0].header("webhook-signature"), Some(expected.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_one_instance_carries_the_events_another_accepted() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = serve(&db, &[]);
    let b = serve(&db, &[]);
    let mut stream = crate::support::sse::Sse::open(&a.url("/events/stream"), &[]).await;

    let http = client();
    assert_eq!(post(&http, &b.url(""), event(1)).await.unwrap(), 200);
    assert_eq!(post(&http, &a.url(""), event(2)).await.unwrap(), 200);
    assert_eq!(post(&http, &b.url(""), event(3)).await.unwrap(), 200);

    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(
            stream.next_of("event").await.json()["event_id"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(got, [1, 2, 3]);
}

/// Two instances take posts at once while a reader follows `GET /events?cursor=` on one
/// of them all along: in the end the reader has seen every acknowledged event exactly once.
/// Sequence numbers handed out by transactions that commit out of order would let the
/// cursor pass an event that was not yet visible.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_following_the_cursor_misses_no_event_of_concurrent_instances() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = serve(&db, &[]);
    let b = serve(&db, &[]);
    let bases = [a.url(""), b.url("")];
    let total: i64 = 600;
    let posting: Vec<_> = (0..8)
        .map(|lane| {
            let bases = bases.clone();
            tokio::spawn(async move {
                let http = client();
                let mut acknowledged = Vec::new();
                let mut id = lane + 1;
                while id <= total {
                    let base = &bases[id as usize % 2];
                    if post(&http, base, event(id)).await.unwrap() == 200 {
                        acknowledged.push(id);
                    }
                    id += 8;
                }
                acknowledged
            })
        })
        .collect();

    let http = client();
    let reader = a.url("");
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor = String::new();
    let read_page = |cursor: String| {
        let http = http.clone();
        let reader = reader.clone();
        async move {
            let path = match cursor.as_str() {
                "" => "/events?limit=50".to_owned(),
                c => format!("/events?limit=50&cursor={c}"),
            };
            let page: Value = crate::support::fetch_json(&http, &format!("{reader}{path}")).await;
            page
        }
    };
    let mut done = false;
    let mut acknowledged: Vec<i64> = Vec::new();
    let mut quiet_rounds = 0;
    loop {
        let page = read_page(cursor.clone()).await;
        let events = page["events"].as_array().unwrap();
        for e in events {
            seen.push(e["event_id"].as_i64().unwrap());
        }
        if let Some(last) = events.last() {
            cursor = last["seq"].to_string();
        }
        if !done && posting.iter().all(|p| p.is_finished()) {
            done = true;
        }
        if done && events.is_empty() {
            quiet_rounds += 1;
            if quiet_rounds > 3 {
                break;
            }
        }
        if events.is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    for p in posting {
        acknowledged.extend(p.await.unwrap());
    }
    acknowledged.sort_unstable();
    let mut sorted = seen.clone();
    sorted.sort_unstable();
    let before = sorted.len();
    sorted.dedup();
    assert_eq!(before, sorted.len(), "an event was read twice");
    let missed: Vec<i64> = acknowledged
        .iter()
        .filter(|id| sorted.binary_search(id).is_err())
        .copied()
        .collect();
    assert!(missed.is_empty(), "the cursor passed {missed:?} for good");
    assert_eq!(sorted, acknowledged);
}

/// PostgreSQL's text cannot hold U+0000. An event type holding it is the sender's mistake,
/// answered 422 with the problem (as by every store), never a 503 that a sender retries
/// for ever and that counts as an outage; a key holding it finds nothing (404, an empty
/// list) instead of failing its statement.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nul_character_from_a_client_is_a_4xx_never_a_503() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &["--source", "github=/webhook/github"]);
    let base = served.url("");
    let http = client();
    let nul_type = event(1).replace("order.created", r"order\u0000created");

    let answer = http
        .post(format!("{base}/webhook"))
        .header("content-type", "application/json")
        .body(nul_type)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(
        answer["details"],
        serde_json::json!([{
            "field": "event_type",
            "message": "must not contain the NUL character (U+0000)"
        }])
    );
    let github = http
        .post(format!("{base}/webhook/github"))
        .header("content-type", "application/json")
        .header("x-github-delivery", "d-1")
        .header("x-github-event", "issues")
        .body(r#"{"action":"opened\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(github.status(), 422);

    let statuses = [
        ("GET", "/events/a%00b", 404),
        ("GET", "/events/a%00b/deliveries", 404),
        ("GET", "/events?event_type=a%00b", 200),
        ("GET", "/deliveries?target=a%00b", 200),
        ("GET", "/deliveries?event=a%00b", 200),
        ("GET", "/endpoints/a%00b", 404),
        ("DELETE", "/endpoints/a%00b", 404),
    ];
    for (method, path, status) in statuses {
        let answer = http
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status, "{method} {path}");
    }
    assert_eq!(post(&http, &base, event(2)).await.unwrap(), 200);
    let listed = get_json(&base, "/events").await;
    assert_eq!(
        listed["events"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
}

/// The database is set read-only while the instance's connections are made again (as an
/// operator may for a while, or as when the primary is demoted and comes back): posts are
/// refused with 503 meanwhile, and taken again within seconds once it takes writes, though
/// every connection the pool opened in between belongs to a read-only session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_opened_while_the_database_was_read_only_are_replaced_when_it_is_not() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &[]);
    let base = served.url("");
    let admin = db.client().await;
    let http = client();
    assert_eq!(post(&http, &base, event(1)).await.unwrap(), 200);
    let read_only = |on: &str| {
        format!(
            "ALTER DATABASE {} SET default_transaction_read_only = {on}",
            db.name()
        )
    };

    admin.batch_execute(&read_only("on")).await.unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    let mut id = 2;
    let mut answers = Vec::new();
    let window = Instant::now();
    while window.elapsed() < Duration::from_secs(3) {
        answers.push(post(&http, &base, event(id)).await.unwrap());
        id += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(answers.contains(&503), "never read-only: {answers:?}");
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 503),
        "{answers:?}"
    );

    admin.batch_execute(&read_only("off")).await.unwrap();
    let writable = Instant::now();
    let mut since = Vec::new();
    loop {
        let status = post(&http, &base, event(id)).await.unwrap();
        id += 1;
        since.push(status);
        if status == 200 {
            break;
        }
        assert!(
            writable.elapsed() < Duration::from_secs(10),
            "still refused 10 s after the database took writes again: {since:?}\n{}",
            served.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for _ in 0..10 {
        assert_eq!(post(&http, &base, event(id)).await.unwrap(), 200);
        id += 1;
    }
    assert!(
        served
            .stderr()
            .contains("replacing the connections open now"),
        "{}",
        served.stderr()
    );
    println!(
        "taken again {:?} after the database took writes ({} refused since)",
        writable.elapsed(),
        since.len() - 1
    );
}

/// Another session holds `events` locked (`LOCK TABLE … IN ACCESS EXCLUSIVE MODE`, as
/// maintenance may): posts made meanwhile wait for the lock a bounded time (`lock_timeout`,
/// `LOCK_WAIT`), then answer 503 with `Retry-After`, all of them (an insert of a shared
/// batch is not tried again alone, which would wait again, as long), instead of hanging
/// until their client gives up. Once the lock is gone posts are taken again, and what was
/// acknowledged before is all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_table_answers_503_after_a_bounded_wait() {
    use hookrelay::server::postgres::LOCK_WAIT;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &[]);
    let base = served.url("");
    let patient = reqwest::Client::builder()
        .timeout(LOCK_WAIT * 6)
        .build()
        .unwrap();
    assert_eq!(post(&patient, &base, event(1)).await.unwrap(), 200);

    let admin = db.client().await;
    admin
        .batch_execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let started = Instant::now();
    let posts: Vec<_> = (2..=13)
        .map(|id| {
            let (http, base) = (patient.clone(), base.clone());
            tokio::spawn(async move {
                let answer = http
                    .post(format!("{base}/webhook"))
                    .header("content-type", "application/json")
                    .body(event(id))
                    .send()
                    .await
                    .expect("an answer before the client gives up");
                let retry_after = answer.headers().get("retry-after").cloned();
                (answer.status().as_u16(), retry_after, started.elapsed())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for p in posts {
        answers.push(p.await.unwrap());
    }
    admin.batch_execute("ROLLBACK").await.unwrap();

    for (status, retry_after, _) in &answers {
        assert_eq!(*status, 503, "{answers:?}");
        assert!(retry_after.is_some(), "{answers:?}");
    }
    let slowest = answers.iter().map(|(_, _, at)| *at).max().unwrap();
    assert!(
        slowest >= LOCK_WAIT,
        "answered before the lock wait ended: {answers:?}"
    );
    assert!(slowest < LOCK_WAIT * 3, "waited {slowest:?}: {answers:?}");
    assert!(
        served.stderr().contains("lock timeout"),
        "{}",
        served.stderr()
    );

    assert_eq!(post(&patient, &base, event(14)).await.unwrap(), 200);
    let listed = get_json(&base, "/events").await;
    let ids: Vec<i64> = listed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [1, 14], "{listed}");
    println!("12 posts under a table lock answered 503 within {slowest:?}");
}

/// While the database cannot be reached, `/metrics` still answers 200 at once with the
/// process's own counters, among them the refusals that show the outage; the gauges read
/// from the store are left out (not shown at their last value), and come back with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_answer_without_the_store_s_gauges_while_it_cannot_be_reached() {
    use crate::support::{get_text, metric};
    use hookrelay::server::postgres::GAUGES_MAX_AGE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let served = serve(&db, &[]);
    let base = served.url("");
    let http = client();
    assert_eq!(post(&http, &base, event(1)).await.unwrap(), 200);
    let text = get_text(&http, &format!("{base}/metrics")).await;
    assert_eq!(metric(&text, "hookrelay_store_events"), Some(1.0), "{text}");

    let admin = db.admin_client().await;
    let connections = |allowed: bool| {
        format!(
            "ALTER DATABASE {} WITH ALLOW_CONNECTIONS {allowed}",
            db.name()
        )
    };
    admin.batch_execute(&connections(false)).await.unwrap();
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            &[&db.name()],
        )
        .await
        .unwrap();
    tokio::time::sleep(GAUGES_MAX_AGE).await;
    assert_eq!(post(&http, &base, event(2)).await.unwrap(), 503);

    let asked = Instant::now();
    let answer = http.get(format!("{base}/metrics")).send().await.unwrap();
    let waited = asked.elapsed();
    assert_eq!(answer.status(), 200);
    let text = answer.text().await.unwrap();
    assert!(waited < Duration::from_secs(3), "waited {waited:?}");
    let unavailable = r#"hookrelay_events_received_total{result="unavailable"}"#;
    assert!(
        metric(&text, unavailable).is_some_and(|n| n >= 1.0),
        "{text}"
    );
    let accepted = r#"hookrelay_events_received_total{result="accepted"}"#;
    assert_eq!(metric(&text, accepted), Some(1.0), "{text}");
    for family in [
        "hookrelay_store_events",
        "hookrelay_delivery_queue_depth",
        "hookrelay_deliveries_in_state",
    ] {
        assert!(!text.contains(family), "{family} shown: {text}");
    }
    assert!(!text.contains("\n\n\n"), "{text}");
    assert!(
        served
            .stderr()
            .contains("/metrics without the store's gauges"),
        "{}",
        served.stderr()
    );

    admin.batch_execute(&connections(true)).await.unwrap();
    let url = format!("{base}/metrics");
    let back = crate::support::wait_until(
        "the store's gauges shown again",
        Duration::from_millis(100),
        || get_text(&http, &url),
        |text| metric(text, "hookrelay_store_events") == Some(1.0),
    )
    .await;
    assert!(back.contains("hookrelay_deliveries_in_state"), "{back}");
}

/// Counters are per instance: the evictions one instance made are its own count, while
/// `GET /healthz` tells what the shared store evicted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_instance_counts_the_evictions_it_made() {
    use hookrelay::server::postgres::GAUGES_MAX_AGE;
    let Some(db) = TestDb::create().await else {
        return;
    };
    let a = serve(&db, &["--max-events", "2"]);
    let b = serve(&db, &["--max-events", "2"]);
    let http = client();
    for id in 1..=5 {
        assert_eq!(post(&http, &a.url(""), event(id)).await.unwrap(), 200);
    }
    tokio::time::sleep(GAUGES_MAX_AGE).await;
    let evictions = |base: String| {
        let http = http.clone();
        async move {
            let text = crate::support::get_text(&http, &format!("{base}/metrics")).await;
            crate::support::metric(&text, "hookrelay_store_evictions_total")
        }
    };
    assert_eq!(evictions(a.url("")).await, Some(3.0), "A evicted three");
    assert_eq!(evictions(b.url("")).await, Some(0.0), "B evicted none");
    for base in [a.url(""), b.url("")] {
        let health = get_json(&base, "/healthz").await;
        assert_eq!(health["evicted"], 3, "the store evicted three: {health}");
    }
}
