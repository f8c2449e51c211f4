//! `serve --tls-cert/--tls-key`: https with a certificate from a private CA made in the test,
//! the same limits as plain HTTP, reloading the pair on SIGHUP,
//! a bad file at start, and the relay trusting a private CA with `--forward-cacert`.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::support::tls::{self, Ca};
use crate::support::{DEADLINE, Served, event, hookrelay};

#[tokio::test]
async fn send_with_cacert_delivers_over_https_and_without_it_names_the_certificate() {
    let ca = Ca::new("test CA");
    let (server, dir) = tls::https_server(&ca, &[]);
    let ca_file = tls::write(dir.path(), "ca.pem", &ca.pem());
    assert_eq!(server.scheme, "https");
    let url = server.url("/webhook");

    let untrusted = hookrelay()
        .args(["send", "--to", &url, "--event-id", "1", "--retries", "0"])
        .timeout(DEADLINE)
        .assert()
        .code(1);
    let trusted = hookrelay()
        .args(["send", "--to", &url, "--event-id", "2", "--cacert"])
        .arg(&ca_file)
        .timeout(DEADLINE)
        .assert()
        .code(0);

    let said = String::from_utf8_lossy(&untrusted.get_output().stderr).into_owned();
    assert!(
        said.contains("certificate is not trusted") && said.contains("--cacert"),
        "{said}"
    );
    let answer = String::from_utf8_lossy(&trusted.get_output().stdout).into_owned();
    assert_eq!(answer, "{\"status\":\"success\",\"event_id\":2}\n");
    let events: Value = crate::support::fetch_json(&ca.reqwest(), &server.url("/events")).await;
    let ids: Vec<i64> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2], "only the trusted send arrived");
}

#[tokio::test]
async fn limits_and_request_ids_apply_over_tls() {
    let ca = Ca::new("test CA");
    let (server, _dir) = tls::https_server(&ca, &["--max-body-bytes", "1KiB"]);
    let client = ca.reqwest();

    let accepted = crate::support::send_json(&client, &server.url("/webhook"), event(7)).await;
    let too_big = client
        .post(server.url("/webhook"))
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();

    assert_eq!(accepted.status(), 200);
    assert!(accepted.headers().contains_key("x-request-id"));
    let body: Value = accepted.json().await.unwrap();
    assert_eq!(body["event_id"], 7);
    assert_eq!(too_big.status(), 413);
}

/// An HTTP/1.1 connection over TLS that sends requests one after another.
struct Http1 {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Http1 {
    async fn open(stream: tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Self {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("an HTTP/1.1 handshake");
        tokio::spawn(connection);
        Self { sender }
    }

    async fn post_event(&mut self, id: i64) -> u16 {
        let request = http::Request::post("/webhook")
            .header("host", "127.0.0.1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event(id))))
            .unwrap();
        let response = self.sender.send_request(request).await.expect("an answer");
        let status = response.status().as_u16();
        response.into_body().collect().await.expect("the body");
        status
    }
}

fn hangup(server: &Served) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -HUP failed");
}

/// Waits until `check` holds, polling; panics at the deadline.
async fn eventually<F: Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn sighup_serves_the_new_certificate_to_new_connections_while_old_ones_go_on() {
    let (old_ca, new_ca) = (Ca::new("old CA"), Ca::new("new CA"));
    let dir = tempfile::tempdir().unwrap();
    let old = old_ca.issue();
    let cert = tls::write(dir.path(), "cert.pem", &old.cert_pem);
    let key = tls::write(dir.path(), "key.pem", &old.key_pem);
    let server = Served::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let both = [&old_ca, &new_ca];
    let first = tls::connect(server.addr, &both).await;
    assert_eq!(tls::presented(&first), old.der);
    let mut kept = Http1::open(first).await;
    assert_eq!(kept.post_event(1).await, 200);

    let new = new_ca.issue();
    tls::write(dir.path(), "cert.pem", &new.cert_pem);
    tls::write(dir.path(), "key.pem", &new.key_pem);
    hangup(&server);
    eventually("a new connection gets the new certificate", || async {
        tls::presented(&tls::connect(server.addr, &both).await) == new.der
    })
    .await;

    assert_eq!(
        kept.post_event(2).await,
        200,
        "the old connection still serves"
    );
    let mut fresh = Http1::open(tls::connect(server.addr, &[&new_ca]).await).await;
    assert_eq!(fresh.post_event(3).await, 200);

    // A broken file on reload is logged, and the pair in use stays.
    tls::write(dir.path(), "cert.pem", "not a certificate\n");
    hangup(&server);
    eventually("the failed reload is logged", || async {
        server.stderr().contains("not reloaded")
    })
    .await;
    assert!(server.stderr().contains("no certificate found"));
    let after = tls::connect(server.addr, &both).await;
    assert_eq!(tls::presented(&after), new.der);
    assert_eq!(Http1::open(after).await.post_event(4).await, 200);
}

#[test]
fn a_missing_or_mismatched_certificate_stops_serve_at_start() {
    let ca = Ca::new("test CA");
    let dir = tempfile::tempdir().unwrap();
    let (one, other) = (ca.issue(), ca.issue());
    let cert = tls::write(dir.path(), "cert.pem", &one.cert_pem);
    let wrong_key = tls::write(dir.path(), "other-key.pem", &other.key_pem);
    let missing = dir.path().join("missing.pem");
    let serve = |cert: &std::path::Path, key: &std::path::Path| {
        let done = hookrelay()
            .args(["serve", "--port", "0", "--tls-cert"])
            .arg(cert)
            .arg("--tls-key")
            .arg(key)
            .timeout(DEADLINE)
            .assert()
            .code(2);
        String::from_utf8_lossy(&done.get_output().stderr).into_owned()
    };

    let no_file = serve(&missing, &wrong_key);
    let mismatched = serve(&cert, &wrong_key);
    let key_as_cert = serve(&wrong_key, &wrong_key);

    assert!(
        no_file.contains("hookrelay: error:") && no_file.contains("missing.pem"),
        "{no_file}"
    );
    assert!(mismatched.contains("does not fit"), "{mismatched}");
    assert!(
        key_as_cert.contains("no certificate found"),
        "{key_as_cert}"
    );
}

#[tokio::test]
async fn the_relay_delivers_to_an_https_target_trusting_forward_cacert() {
    let ca = Ca::new("target CA");
    let (target, dir) = tls::https_server(&ca, &[]);
    let ca_file = tls::write(dir.path(), "ca.pem", &ca.pem());
    let relay = Served::start(&[
        "--forward-to",
        &target.url("/webhook"),
        "--forward-cacert",
        ca_file.to_str().unwrap(),
        "--retry-schedule",
        "50ms",
    ]);
    let https = ca.reqwest();

    let (status, _) = crate::support::post_json(&relay.url("/webhook"), event(5)).await;

    assert_eq!(status, 200);
    eventually("the event reaches the https target", || async {
        let got = https.get(target.url("/events/5")).send().await.unwrap();
        got.status() == 200
    })
    .await;
}
