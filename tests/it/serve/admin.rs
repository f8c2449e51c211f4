//! The admin endpoints protected: `--admin-token` (and its file, its variables, rotation),
//! `--metrics-public`, `--admin-listen`, the refusal to start unprotected on an address that
//! is not loopback, and `secret new --admin`. Every endpoint of the routing table is tried,
//! so an endpoint added later is covered without editing these tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::mpsc;

use hookrelay::server::routes::{self, Access};
use http::Method;

use crate::support::tls::{Ca, write};
use crate::support::{DEADLINE, Served, event, hookrelay, metric, post_json, table};

/// A fresh token from `hookrelay secret new --admin`.
fn new_token() -> String {
    let out = hookrelay()
        .args(["secret", "new", "--admin"])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end()
        .to_string()
}

/// The request an endpoint of the table is tried with ([`table::request`]), with `token`.
fn request(
    client: &reqwest::Client,
    base: &str,
    method: &Method,
    path: &str,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let builder = table::request(client, base, method, path);
    match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    }
}

/// Endpoint `1`, which the routes are tried with.
async fn hold_endpoint(base: &str, token: Option<&str>) {
    let mut request = reqwest::Client::new()
        .post(format!("{base}/endpoints"))
        .header("content-type", "application/json")
        .body(table::ENDPOINT_ONE);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    assert_eq!(request.send().await.unwrap().status(), 201);
}

/// The status of one try of an endpoint.
async fn status(base: &str, method: &Method, path: &str, token: Option<&str>) -> reqwest::Response {
    request(&reqwest::Client::new(), base, method, path, token)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// Asserts a 401 of the token guard: the challenge header and the one error shape.
async fn assert_refused(response: reqwest::Response, what: &str, reason: &str) {
    assert_eq!(response.status(), 401, "{what}");
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    assert_eq!(body["status"], "error", "{what}");
    assert_eq!(body["error"], "unauthorized", "{what}");
    assert_eq!(body["reason"], reason, "{what}");
}

#[tokio::test]
async fn every_admin_endpoint_needs_one_of_the_tokens_and_public_ones_never_do() {
    let (first, second) = (new_token(), new_token());
    let server = Served::start(&["--admin-token", &first, "--admin-token", &second]);
    let base = server.url("");
    let (posted, _) = post_json(&server.url("/webhook"), event(1)).await;
    assert_eq!(posted, 200, "POST /webhook needs no token");
    hold_endpoint(&base, Some(&first)).await;

    let mut admin = 0;
    for (method, path, access) in routes::endpoints() {
        let what = format!("{method} {path}");
        // The inspector page holds no data: it asks for the token itself.
        if access == Access::Public || path == "/" || path == "/ui/{file}" {
            let answer = status(&base, method, path, None).await.status();
            assert!(
                table::served(method, path, answer),
                "{what} without a token: {answer}"
            );
            continue;
        }
        admin += 1;
        assert_refused(
            status(&base, method, path, None).await,
            &what,
            "missing_token",
        )
        .await;
        let wrong = format!("{first}x");
        let answer = status(&base, method, path, Some(&wrong)).await;
        assert_refused(answer, &what, "wrong_token").await;
        for token in [&first, &second] {
            let answer = status(&base, method, path, Some(token)).await.status();
            assert!(
                table::served(method, path, answer),
                "{what} with a token: {answer}"
            );
        }
    }

    let metrics = status(&base, &Method::GET, "/metrics", Some(&second))
        .await
        .text()
        .await
        .unwrap();
    let missing = r#"hookrelay_admin_refused_total{reason="missing_token"}"#;
    let wrong = r#"hookrelay_admin_refused_total{reason="wrong_token"}"#;
    assert_eq!(
        metric(&metrics, missing),
        Some(f64::from(admin)),
        "{metrics}"
    );
    assert_eq!(metric(&metrics, wrong), Some(f64::from(admin)), "{metrics}");
}

/// Another method on an admin path tells a caller without the token nothing but 401; with
/// the token it is the 405 it always was.
#[tokio::test]
async fn another_method_on_an_admin_path_needs_the_token_before_its_405() {
    let token = new_token();
    let server = Served::start(&["--admin-token", &token]);
    let base = server.url("");
    for path in ["/events", "/deliveries", "/metrics"] {
        let what = format!("DELETE {path}");
        assert_refused(
            status(&base, &Method::DELETE, path, None).await,
            &what,
            "missing_token",
        )
        .await;
        let answer = status(&base, &Method::DELETE, path, Some(&token))
            .await
            .status();
        assert_eq!(answer, 405, "{what} with the token");
    }
    let public = status(&base, &Method::PUT, "/webhook", None).await.status();
    assert_eq!(public, 405, "PUT /webhook needs no token to be told 405");
}

#[tokio::test]
async fn tokens_come_from_a_file_one_a_line_and_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new, from_env) = (new_token(), new_token(), new_token());
    let file = write(dir.path(), "tokens.txt", &format!("{old}\n\n{new}\n"));
    let server = Served::start_with_env(
        &[],
        &[
            ("HOOKRELAY_ADMIN_TOKEN_FILE", file.to_str().unwrap()),
            ("HOOKRELAY_ADMIN_TOKEN", &from_env),
        ],
    );
    let base = server.url("");

    for token in [&old, &new, &from_env] {
        let answer = status(&base, &Method::GET, "/events", Some(token)).await;
        assert_eq!(answer.status(), 200);
    }
    let answer = status(&base, &Method::GET, "/events", None).await;
    assert_refused(answer, "no token", "missing_token").await;
    let basic = reqwest::Client::new()
        .get(server.url("/events"))
        .basic_auth("admin", Some(&new))
        .send()
        .await
        .unwrap();
    assert_refused(basic, "Basic", "not_bearer").await;
}

#[tokio::test]
async fn metrics_public_opens_metrics_only() {
    let token = new_token();
    let server = Served::start(&["--admin-token", &token, "--metrics-public"]);
    let base = server.url("");

    let metrics = status(&base, &Method::GET, "/metrics", None).await;
    let events = status(&base, &Method::GET, "/events", None).await;

    assert_eq!(metrics.status(), 200);
    assert!(metrics.text().await.unwrap().contains("# TYPE "));
    assert_refused(events, "GET /events", "missing_token").await;
}

#[test]
fn a_short_token_is_refused_at_start_without_being_repeated() {
    let out = hookrelay()
        .args(["serve", "--port", "0", "--admin-token", "hunter2"])
        .timeout(DEADLINE)
        .assert()
        .code(2);

    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("at least 16 characters"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(out.get_output().stdout.is_empty());
}

#[test]
fn secret_new_admin_prints_a_fresh_url_safe_token() {
    let (a, b) = (new_token(), new_token());

    // Never starting with '-', which `--admin-token TOKEN` would take for an option.
    assert!(a.starts_with("hra_"), "{a}");
    assert_eq!(a.len(), 47, "{a}");
    assert!(
        a.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{a}"
    );
    assert_ne!(a, b);
}

/// `hookrelay serve ARGS…` whose stdout lines are all kept; killed on drop.
struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Lines {
    fn spawn(args: &[&str]) -> Self {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
            .arg("serve")
            .args(args)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (send, lines) = mpsc::channel();
        let out = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Self { child, lines }
    }

    fn next(&self) -> String {
        self.lines.recv_timeout(DEADLINE).expect("a line on stdout")
    }

    fn wait(&mut self) -> std::process::ExitStatus {
        let started = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < DEADLINE, "serve did not stop");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address of a `listening on SCHEME://ADDR[ suffix]` line.
fn address(line: &str, scheme: &str, suffix: &str) -> SocketAddr {
    line.strip_prefix(&format!("listening on {scheme}://"))
        .and_then(|rest| rest.strip_suffix(suffix))
        .unwrap_or_else(|| panic!("not an address line: {line:?}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn admin_listen_serves_admin_endpoints_there_and_only_public_ones_on_the_main_listener() {
    let mut server = Lines::spawn(&["--port", "0", "--admin-listen", "127.0.0.1:0"]);
    let main = format!("http://{}", address(&server.next(), "http", ""));
    let admin = format!("http://{}", address(&server.next(), "http", " (admin)"));
    let (posted, _) = post_json(&format!("{main}/webhook"), event(1)).await;
    assert_eq!(posted, 200);
    hold_endpoint(&admin, None).await;

    for (method, path, access) in routes::endpoints() {
        let on_main = status(&main, method, path, None).await.status();
        let on_admin = status(&admin, method, path, None).await.status();
        match access {
            Access::Public if path == routes::WEBHOOK => {
                assert_eq!(on_admin, 404, "{method} {path} on the admin listener");
            }
            Access::Public => {
                assert!(
                    table::served(method, path, on_main),
                    "{method} {path}: {on_main}"
                );
                // The health check answers on both: the inspector page served on the admin
                // listener reads its header's counts from it.
                if path == routes::HEALTH {
                    assert_eq!(on_admin, 200, "{method} {path} on the admin listener");
                }
            }
            Access::Admin => {
                assert_eq!(on_main, 404, "{method} {path} on the main listener");
                assert!(
                    table::served(method, path, on_admin),
                    "{method} {path}: {on_admin}"
                );
            }
        }
    }

    // One signal stops both.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(server.wait().code(), Some(0));
}

#[tokio::test]
async fn the_admin_listener_uses_the_same_certificate_and_the_token_when_given() {
    let ca = Ca::new("admin test CA");
    let leaf = ca.issue();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "cert.pem", &leaf.cert_pem);
    let key = write(dir.path(), "key.pem", &leaf.key_pem);
    let token = new_token();
    let server = Lines::spawn(&[
        "--port",
        "0",
        "--admin-listen",
        "127.0.0.1:0",
        "--admin-token",
        &token,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    address(&server.next(), "https", "");
    let admin = address(&server.next(), "https", " (admin)");
    let client = ca.reqwest();

    let without = client
        .get(format!("https://{admin}/events"))
        .send()
        .await
        .unwrap();
    let with = client
        .get(format!("https://{admin}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_refused(
        without,
        "GET /events on the admin listener",
        "missing_token",
    )
    .await;
    assert_eq!(with.status(), 200);
}

/// `serve ARGS…` run to its exit: its code and stderr.
fn refused(args: &[&str]) -> String {
    let out = hookrelay()
        .arg("serve")
        .args(args)
        .timeout(DEADLINE)
        .assert()
        .code(2);
    assert!(
        out.get_output().stdout.is_empty(),
        "no address line when refusing"
    );
    String::from_utf8_lossy(&out.get_output().stderr).into_owned()
}

#[test]
fn a_host_that_is_not_loopback_without_protection_exits_2_naming_the_three_ways_out() {
    // Binding 0.0.0.0 sends nothing anywhere; nothing connects to it.
    let stderr = refused(&["--host", "0.0.0.0", "--port", "0"]);

    assert!(stderr.starts_with("hookrelay: error: "), "{stderr}");
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    for way in ["--admin-token", "--admin-listen", "--admin-open"] {
        assert!(stderr.contains(way), "{way} missing: {stderr}");
    }
}

#[test]
fn an_admin_listener_that_is_not_loopback_needs_a_token_or_admin_open() {
    let stderr = refused(&["--port", "0", "--admin-listen", "0.0.0.0:0"]);

    assert!(stderr.contains("(--admin-listen)"), "{stderr}");
    assert!(stderr.contains("--admin-open"), "{stderr}");
}

#[tokio::test]
async fn a_host_that_is_not_loopback_starts_with_any_of_the_three() {
    let token = new_token();
    let ways: [&[&str]; 3] = [
        &["--admin-token", &token],
        &["--admin-listen", "127.0.0.1:0"],
        &["--admin-open"],
    ];
    for way in ways {
        let mut args = vec!["--host", "0.0.0.0", "--port", "0"];
        args.extend_from_slice(way);
        let server = Lines::spawn(&args);
        let main = address(&server.next(), "http", "");
        assert!(main.ip().is_unspecified(), "{way:?}: {main}");

        // Only ever over loopback: the wildcard address includes it.
        let health = format!("http://127.0.0.1:{}/healthz", main.port());
        let answer = reqwest::get(&health).await.unwrap();
        assert_eq!(answer.status(), 200, "{way:?}");
    }
}

#[test]
fn admin_open_with_a_token_is_a_usage_error() {
    let token = new_token();
    let stderr = refused(&["--port", "0", "--admin-open", "--admin-token", &token]);

    assert!(stderr.contains("cannot be used with"), "{stderr}");
    assert!(!stderr.contains(&token), "{stderr}");
}

#[test]
fn admin_open_is_logged_as_a_warning() {
    let mut server = Served::spawn(&["--host", "0.0.0.0", "--port", "0", "--admin-open"], &[]);
    server.signal_term();
    server.wait();

    assert!(server.stderr().contains("WARN"), "{}", server.stderr());
    assert!(
        server.stderr().contains("--admin-open"),
        "{}",
        server.stderr()
    );
}

/// `--admin-listen` takes a host name as `--host` does.
#[tokio::test]
async fn admin_listen_takes_a_host_name() {
    let server = Lines::spawn(&["--port", "0", "--admin-listen", "localhost:0"]);
    let _main = server.next();
    let admin = address(&server.next(), "http", " (admin)");
    assert!(admin.ip().is_loopback(), "{admin}");
    let health = reqwest::get(format!("http://{admin}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
