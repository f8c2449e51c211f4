//! `hookrelay listen` against a real `hookrelay serve` process: a line (or a JSON object)
//! per event, the exact body delivered to a local receiver, resuming from its state file
//! after a kill and after the server restarts, each event once, and the refusals that end
//! it (a wrong token, a URL that is not a hookrelay) with exit code 2.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::signing::{standard_signature, standard_signature_verifies};
use crate::support::{Customer, DEADLINE, Served, event, hookrelay};

mod failures;
mod paths;
mod places;
mod process;

const TOKEN: &str = "listen-token-0123456789";

/// A running `hookrelay listen`; killed on drop.
struct Listening {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Listening {
    /// Starts `hookrelay listen ARGS…` and waits until it is connected.
    fn start(args: &[impl AsRef<std::ffi::OsStr>]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("listen")
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting hookrelay listen");
        let (send, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let mut err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let listening = Self {
            child,
            lines,
            stderr,
        };
        listening.wait_for_stderr("hookrelay: listening to");
        listening
    }

    fn wait_for_stderr(&self, text: &str) {
        let started = Instant::now();
        while !self.stderr.lock().unwrap().contains(text) {
            assert!(
                started.elapsed() < DEADLINE,
                "listen never said {text:?}; stderr: {}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn line(&self) -> String {
        self.lines.recv_timeout(DEADLINE).unwrap_or_else(|_| {
            panic!(
                "no line from listen; stderr: {}",
                self.stderr.lock().unwrap()
            )
        })
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends a signal by name (`INT`, `TERM`).
    fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits for the process to exit; panics at the deadline.
    fn wait(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "listen still runs; stderr: {}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// The state file's JSON once it exists and `ready` holds of it; panics at the deadline.
fn state_when(
    path: &std::path::Path,
    ready: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let started = Instant::now();
    loop {
        let state = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok());
        if let Some(state) = state.filter(|s| ready(s)) {
            return state;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the state file {} never got there: {:?}",
            path.display(),
            std::fs::read_to_string(path)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `listen` following `served` with the token, forwarding to `customer`'s `/hook`.
fn forwarding(served: &Served, customer: &Customer) -> Listening {
    Listening::start(&forwarding_args(served, customer))
}

fn forwarding_args(served: &Served, customer: &Customer) -> Vec<String> {
    vec![
        "--from".into(),
        served.url(""),
        "--admin-token".into(),
        TOKEN.into(),
        "--forward-to".into(),
        customer.url("/hook"),
    ]
}

/// The arguments of [`forwarding`], with the place kept in the state file `state`.
fn keeping_place(served: &Served, customer: &Customer, state: &std::path::Path) -> Vec<String> {
    let mut args = forwarding_args(served, customer);
    args.extend(["--state-file".into(), state.display().to_string()]);
    args
}

fn serve_with_token(extra: &[&str]) -> Served {
    let mut args = vec!["--admin-token", TOKEN];
    args.extend_from_slice(extra);
    Served::start(&args)
}

async fn post(served: &Served, body: &str) {
    let status = reqwest::Client::new()
        .post(served.url("/webhook"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /webhook")
        .status();
    assert_eq!(status, 200, "posting {body}");
}

async fn get_json(served: &Served, path: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(served.url(path))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("GET");
    response.json().await.expect("a JSON answer")
}

/// The event_ids of the requests the customer received, in order.
fn received_ids(customer: &Customer) -> Vec<i64> {
    customer
        .requests()
        .iter()
        .map(|r| r.json()["event_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn listen_prints_one_line_per_event_and_json_gives_the_events_as_ndjson() {
    let served = serve_with_token(&[]);
    let from = served.url("");
    let listening = Listening::start(&["--from", &from, "--admin-token", TOKEN, "--json"]);
    let plain = Listening::start(&["--from", &from, "--admin-token", TOKEN]);

    for id in [7, 3] {
        post(&served, &event(id)).await;
    }

    for (seq, id) in [(1, 7), (2, 3)] {
        let line: serde_json::Value = serde_json::from_str(&listening.line()).unwrap();
        assert_eq!(line, get_json(&served, &format!("/events/{id}")).await);
        assert_eq!(line["seq"], seq);
        let text = plain.line();
        assert!(
            text.contains(&format!("#{seq}")) && text.contains("notification"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn forwarded_events_reach_the_receiver_byte_for_byte() {
    let served = serve_with_token(&[]);
    let customer = Customer::start();
    let _listening = forwarding(&served, &customer);
    // Laid out as senders lay them out: spaces, a CRLF, keys in their own order.
    let spaced = r#"{ "description" : "odd layout",  "event_type":"x", "event_id": 5, "timestamp":"2023-10-05T12:34:56" }"#;
    let crlf = "{\r\n  \"event_id\": 6,\r\n  \"timestamp\": \"2023-10-05T12:34:56\",\r\n  \"event_type\": \"x\",\r\n  \"description\": \"\\u00e9t\u{e9}\"\r\n}\r\n";
    post(&served, spaced).await;
    post(&served, crlf).await;

    let got = customer.wait_for(2);
    assert_eq!(got[0].body, spaced.as_bytes());
    assert_eq!(got[1].body, crlf.as_bytes());
    assert_eq!(got[0].header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn a_listen_killed_and_restarted_with_its_state_file_delivers_each_event_once() {
    let served = serve_with_token(&[]);
    let customer = Customer::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("listen.json");
    let args = keeping_place(&served, &customer, &state);
    let mut first = Listening::start(&args);
    for id in 1..=5 {
        post(&served, &event(id)).await;
    }
    customer.wait_for(5);
    // Killed once the fifth is recorded as handled (a kill between a delivery and that
    // write would deliver it again: the README says so).
    let started = Instant::now();
    while !std::fs::read_to_string(&state).is_ok_and(|s| s.contains(r#""last_seq":5"#)) {
        assert!(
            started.elapsed() < DEADLINE,
            "the state file never reached event 5"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    first.kill9();

    for id in 6..=10 {
        post(&served, &event(id)).await;
    }
    let _second = Listening::start(&args);
    post(&served, &event(11)).await;

    customer.wait_for(11);
    // A repeat would come right behind the last one.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(received_ids(&customer), (1..=11).collect::<Vec<_>>());
}

#[tokio::test]
async fn listen_resumes_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite:{}", dir.path().join("events.db").display());
    let port = crate::support::unused_port().to_string();
    let serve = |p: &str| {
        Served::spawn(
            &["--port", p, "--store", &store, "--admin-token", TOKEN],
            &[],
        )
    };
    let mut served = serve(&port);
    let listening =
        Listening::start(&["--from", &served.url(""), "--admin-token", TOKEN, "--json"]);
    post(&served, &event(1)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&listening.line()).unwrap()["event_id"],
        1
    );

    served.kill9();
    listening.wait_for_stderr("reconnect");
    let served = serve(&port);
    post(&served, &event(2)).await;
    post(&served, &event(3)).await;

    let next: Vec<i64> = (0..2)
        .map(|_| {
            serde_json::from_str::<serde_json::Value>(&listening.line()).unwrap()["event_id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(next, [2, 3]);
    assert!(
        listening
            .lines
            .recv_timeout(Duration::from_millis(300))
            .is_err(),
        "a repeat"
    );
}

#[tokio::test]
async fn a_wrong_token_or_a_url_that_is_not_a_hookrelay_ends_listen_with_exit_2() {
    let served = serve_with_token(&[]);
    let customer = Customer::start();

    hookrelay()
        .args([
            "listen",
            "--from",
            &served.url(""),
            "--admin-token",
            "not-the-token-0123456789",
        ])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("refused the admin token"))
        .stderr(predicates::str::contains("the admin token is not valid"));
    hookrelay()
        .args(["listen", "--from", &served.url("")])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("needs an admin token"));
    hookrelay()
        .args(["listen", "--from", &customer.url("")])
        .timeout(DEADLINE)
        .assert()
        .code(2)
        .stderr(predicates::str::contains(
            "is not the event stream of a hookrelay",
        ));
}

/// The secret of the relay's `--verify standard` and of the sender.
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The Standard Webhooks headers of `body`, signed with `secret` as a sender signs.
fn signed_headers(id: &str, body: &str, secret: &str) -> [(&'static str, String); 3] {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = format!(
        "v1,{}",
        standard_signature(secret, id, &ts, body.as_bytes())
    );
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", ts),
        ("webhook-signature", signature),
    ]
}

#[tokio::test]
async fn events_signed_for_a_verifying_relay_reach_the_receiver_with_signatures_that_still_verify()
{
    let served = serve_with_token(&["--verify", "standard", "--secret", WHSEC]);
    let customer = Customer::start();
    let _listening = forwarding(&served, &customer);

    // Signed here, over a body the stream cannot carry as it is (CRLFs, a blank before
    // it): listen reads it from /events/{id}/body.
    let crlf = " {\r\n  \"event_id\": 41,\r\n  \"timestamp\": \"2023-10-05T12:34:56\",\r\n  \"event_type\": \"x\",\r\n  \"description\": \"\\u00e9t\u{e9}\"\r\n}\r\n";
    // And one on a line, which the stream carries verbatim.
    let line = r#"{"event_id":43,"timestamp":"2023-10-05T12:34:56","event_type":"x","description":"one line"}"#;
    for (id, body) in [("msg_41", crlf), ("msg_43", line)] {
        let mut request = reqwest::Client::new()
            .post(served.url("/webhook"))
            .header("content-type", "application/json")
            .body(body);
        for (name, value) in signed_headers(id, body, WHSEC) {
            request = request.header(name, value);
        }
        let status = request.send().await.unwrap().status();
        assert_eq!(status, 200, "posting {id}");
        if id == "msg_41" {
            // Signed by hookrelay send in between.
            hookrelay()
                .args(["send", "--to", &served.url("/webhook"), "--event-id", "42"])
                .args(["--event-type", "x", "--secret", WHSEC])
                .timeout(DEADLINE)
                .assert()
                .success();
        }
    }
    // A request the relay refuses never reaches the receiver.
    let forged = signed_headers("msg_44", &event(44), "whsec_bm90IHRoZSBzZWNyZXQgYXQgYWxs");
    let mut request = reqwest::Client::new()
        .post(served.url("/webhook"))
        .header("content-type", "application/json")
        .body(event(44));
    for (name, value) in forged {
        request = request.header(name, value);
    }
    assert_eq!(request.send().await.unwrap().status(), 401);

    let got = customer.wait_for(3);
    assert_eq!(got[0].body, crlf.as_bytes());
    assert_eq!(got[0].header("webhook-id"), Some("msg_41"));
    assert_eq!(got[1].json()["event_id"], 42);
    assert_eq!(got[2].body, line.as_bytes());
    for request in &got {
        assert!(
            standard_signature_verifies(request, WHSEC),
            "the signature of {:?} does not verify with the original secret",
            request.body_text()
        );
        assert!(!standard_signature_verifies(
            request,
            "whsec_bm90IHRoZSBzZWNyZXQgYXQgYWxs"
        ));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(customer.count(), 3, "the refused event was forwarded");
}

#[tokio::test]
async fn events_whose_ids_need_encoding_or_are_called_stream_are_forwarded_byte_for_byte() {
    let served = serve_with_token(&["--source", "json", "--id-from", "/id"]);
    let customer = Customer::start();
    let _listening = forwarding(&served, &customer);
    // Bodies over several lines: listen reads each from /events/{id}/body.
    let ids = ["stream", "a/b", "100%", "with space"];
    let body = |id: &str| format!("{{\r\n  \"id\": {}\r\n}}\r\n", serde_json::json!(id));
    for id in ids {
        post(&served, &body(id)).await;
    }
    let got = customer.wait_for(ids.len());
    for (request, id) in got.iter().zip(ids) {
        assert_eq!(request.body_text(), body(id));
    }
}
