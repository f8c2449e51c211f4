//! `serve --config FILE` and `hookrelay config check FILE`: a file's value is used, a flag
//! or an environment variable overrides it; `[[endpoints]]` are upserted at start and kept
//! across a restart (SQLite), changed when the file changes; every problem of a file is
//! reported with its line (exit 1; 2 from serve; 2 for a file that cannot be read); the
//! example file in the repository passes.

use std::path::Path;

use serde_json::Value;

use crate::support::process::{Served, hookrelay};
use crate::support::{Customer, event_of_type, metric};

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn metrics(served: &Served) -> String {
    reqwest::get(served.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn get(served: &Served, path: &str) -> Value {
    reqwest::get(served.url(path))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_value_of_the_file_is_used_and_a_flag_or_a_variable_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    // The port too comes from the file: no --port is given.
    let file = write(dir.path(), "h.toml", "port = 0\nmax_events = 123\n");
    let capacity = |text: &str| metric(text, "hookrelay_store_capacity");

    let from_file = Served::spawn(&["--config", &file], &[]);
    assert_eq!(capacity(&metrics(&from_file).await), Some(123.0));

    let flag = Served::spawn(&["--config", &file, "--max-events", "456"], &[]);
    assert_eq!(capacity(&metrics(&flag).await), Some(456.0));

    let variable = Served::spawn(
        &[],
        &[
            ("HOOKRELAY_CONFIG", file.as_str()),
            ("HOOKRELAY_MAX_EVENTS", "789"),
        ],
    );
    assert_eq!(capacity(&metrics(&variable).await), Some(789.0));
}

#[tokio::test]
async fn an_endpoint_of_the_file_receives_the_events_of_its_filter() {
    let dir = tempfile::tempdir().unwrap();
    let customer = Customer::start();
    let file = write(
        dir.path(),
        "h.toml",
        &format!(
            "[[endpoints]]\nname = \"orders\"\nurl = \"{}\"\nfilter_types = [\"order.*\"]\n\
             headers = {{ \"X-Customer\" = \"acme\" }}\n",
            customer.url("/in")
        ),
    );
    let served = Served::start(&["--config", &file]);
    let http = reqwest::Client::new();
    for (id, kind) in [(1, "user.created"), (2, "order.created")] {
        let status = http
            .post(served.url("/webhook"))
            .header("content-type", "application/json")
            .body(event_of_type(id, kind))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let got = customer.wait_for_async(1).await;
    assert_eq!(got[0].json()["event_type"], "order.created");
    assert_eq!(got[0].header("x-customer"), Some("acme"));
    assert!(got[0].header("webhook-signature").is_some());
    assert_eq!(customer.count(), 1, "user.created is not in the filter");
}

#[tokio::test]
async fn endpoints_of_the_file_are_upserted_and_kept_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let store = format!("sqlite:{}", db.display());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let first_text = format!(
        "store = \"{store}\"\n\n[[endpoints]]\nname = \"billing\"\nurl = \"http://127.0.0.1:9/billing\"\n\
         filter_types = [\"invoice.*\"]\ndescription = \"invoices\"\nsecret = \"{secret}\"\n\n\
         [[endpoints]]\nid = \"ep_audit\"\nurl = \"http://127.0.0.1:9/audit\"\n"
    );
    let file = write(dir.path(), "h.toml", &first_text);

    let mut first = Served::start(&["--config", &file]);
    let listed = get(&first, "/endpoints").await;
    let endpoints = listed["endpoints"].as_array().unwrap().clone();
    assert_eq!(endpoints.len(), 2, "{listed}");
    let billing = get(&first, "/endpoints/billing").await;
    assert_eq!(billing["url"], "http://127.0.0.1:9/billing");
    assert_eq!(billing["filter_types"], serde_json::json!(["invoice.*"]));
    assert_eq!(
        get(&first, "/endpoints/billing/secret").await["secret"],
        secret
    );
    let audit = get(&first, "/endpoints/ep_audit").await;
    assert_eq!(audit["url"], "http://127.0.0.1:9/audit");
    let audit_secret = get(&first, "/endpoints/ep_audit/secret").await["secret"].clone();
    first.kill9();

    // The same file: nothing changes, not even updated_at; the generated secret is kept.
    let mut second = Served::start(&["--config", &file]);
    assert_eq!(
        get(&second, "/endpoints").await["endpoints"],
        Value::Array(endpoints.clone())
    );
    assert_eq!(
        get(&second, "/endpoints/ep_audit/secret").await["secret"],
        audit_secret
    );
    second.kill9();

    // An edited file: billing moves and loses its description; audit is untouched.
    let edited = first_text
        .replace("127.0.0.1:9/billing", "127.0.0.1:9/billing-v2")
        .replace("description = \"invoices\"\n", "");
    std::fs::write(&file, edited).unwrap();
    let third = Served::start(&["--config", &file]);
    let billing_now = get(&third, "/endpoints/billing").await;
    assert_eq!(billing_now["id"], billing["id"]);
    assert_eq!(billing_now["url"], "http://127.0.0.1:9/billing-v2");
    assert_eq!(billing_now["description"], Value::Null);
    assert_ne!(billing_now["updated_at"], billing["updated_at"]);
    assert_eq!(get(&third, "/endpoints/ep_audit").await, audit);
    assert_eq!(
        get(&third, "/endpoints").await["endpoints"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// A secret the file sets is the file's: a rotation through the API (or `hookrelay
/// endpoints rotate-secret`) would be undone at the next start, so it is refused with 409
/// naming the file. An endpoint of the file without `secret` rotates, and keeps its
/// rotated secret across a restart.
#[tokio::test]
async fn a_secret_the_file_sets_is_not_rotated_by_the_api_and_one_it_leaves_out_is() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("events.db");
    let store = format!("sqlite:{}", db.display());
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let file = write(
        dir.path(),
        "h.toml",
        &format!(
            "store = \"{store}\"\n\n[[endpoints]]\nname = \"billing\"\n\
             url = \"http://127.0.0.1:9/billing\"\nsecret = \"{secret}\"\n\n\
             [[endpoints]]\nname = \"audit\"\nurl = \"http://127.0.0.1:9/audit\"\n"
        ),
    );
    let http = reqwest::Client::new();
    let rotate = async |served: &Served, name: &str| {
        let response = http
            .post(served.url(&format!("/endpoints/{name}/secret/rotate")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().await.unwrap())
    };

    let mut first = Served::start(&["--config", &file]);
    let (status, refused) = rotate(&first, "billing").await;
    assert_eq!(
        (status, &refused["error"]),
        (409, &Value::from("conflict")),
        "{refused}"
    );
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("set by the config file {file}")),
        "{message}"
    );
    let cli = hookrelay()
        .args([
            "endpoints",
            "rotate-secret",
            "billing",
            "--server",
            &first.url(""),
        ])
        .timeout(crate::support::DEADLINE)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&cli.stderr);
    assert_eq!(cli.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("(409)") && stderr.contains(&file),
        "{stderr}"
    );
    let shown = get(&first, "/endpoints/billing/secret").await;
    assert_eq!(
        (&shown["secret"], &shown["previous_secret"]),
        (&Value::from(secret), &Value::Null)
    );

    let (status, rotated) = rotate(&first, "audit").await;
    assert_eq!(status, 200, "{rotated}");
    first.kill9();

    let second = Served::start(&["--config", &file]);
    let audit = get(&second, "/endpoints/audit/secret").await;
    assert_eq!(
        audit["secret"], rotated["secret"],
        "kept across the restart"
    );
    assert_eq!(
        get(&second, "/endpoints/billing/secret").await["secret"],
        secret
    );
    assert_eq!(rotate(&second, "billing").await.0, 409);
}

const BAD: &str = r#"# one problem on each line from line 2
port = "abc"
forwad_to = "http://127.0.0.1:9/x"
keep_secret_headers = "yes"
retry_schedule = "1s,soon"

[[endpoints]]
name = "a"
url = "ftp://127.0.0.1/x"

[[endpoints]]
name = "a"
url = "http://127.0.0.1:9/x"
filter_types = ["[z"]
"#;

#[test]
fn config_check_prints_every_problem_with_its_line_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD);
    let output = config_check(&file);
    assert_eq!(output.status.code(), Some(1));
    let (text, lines) = problems(&file, &output);
    assert_eq!(
        lines,
        [
            r#"2: port: invalid value "abc": invalid digit found in string"#,
            r#"3: unknown option "forwad_to""#,
            "4: keep_secret_headers: expected true or false, got a string",
            r#"5: retry_schedule: invalid value "1s,soon": expected a duration like 500ms, 2s, 5m or 1h, got "soon""#,
            r#"9: endpoints[0].url: expected an http:// or https:// URL, got scheme "ftp""#,
            r#"12: endpoints[1].name: duplicate endpoint name "a" (first on line 8)"#,
            "14: endpoints[1].filter_types[0]: invalid glob: Pattern syntax error near position 0: invalid range pattern",
        ],
        "{text}"
    );
}

const BAD_SECRETS: &str = r#"# serve refuses each of these secrets and tokens (exit 2)
verify = "standard"
secret = "whsec_not*base64"
forward_secret = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2hvcnQ="]
admin_token = "short"
source_secret = "no-key-here"

[[endpoints]]
name = "a"
url = "http://127.0.0.1:9/x"
secret = "whsec_"
"#;

/// Options taken together are judged in the same run as each alone (among the valid
/// ones), and a variable that overrides a key is judged instead of it, and named.
#[test]
fn config_check_judges_options_together_beside_invalid_ones_and_the_variables_over_keys() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "both.toml",
        "max_events = \"lots\"\ntls_cert = \"cert.pem\"\n",
    );
    let output = config_check(&file);
    assert_eq!(output.status.code(), Some(1));
    let (text, lines) = problems(&file, &output);
    assert_eq!(
        lines,
        [
            r#"1: max_events: invalid value "lots": invalid digit found in string"#,
            "2: tls_cert: needs tls_key as well",
        ],
        "{text}"
    );

    let file = write(dir.path(), "ok.toml", "max_events = 10\n");
    let output = hookrelay()
        .args(["config", "check", &file])
        .env("HOOKRELAY_MAX_EVENTS", "lots")
        .output()
        .unwrap();
    let (text, _) = problems(&file, &output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("HOOKRELAY_MAX_EVENTS (which overrides the file): invalid value 'lots'"),
        "{text}"
    );
    let output = hookrelay()
        .args(["config", "check", &file])
        .env("HOOKRELAY_MAX_EVENTS", "50")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn config_check_refuses_the_secrets_and_tokens_serve_refuses_without_printing_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "secrets.toml", BAD_SECRETS);
    let output = config_check(&file);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let (text, lines) = problems(&file, &output);
    assert_eq!(
        lines,
        [
            "3: secret: the secret is not valid base64 (expected whsec_ followed by base64)",
            "4: forward_secret: the secret decodes to 5 bytes; expected whsec_ followed by the base64 of 24 to 64 bytes",
            "5: admin_token: an admin token must be at least 16 characters (make one with `hookrelay secret new --admin`)",
            "6: source_secret: expected KEY=SECRET, with KEY a source's name or path",
            "11: endpoints[0].secret: the secret is empty",
        ],
        "{text}"
    );
    for secret in ["not*base64", "c2hvcnQ=", "short"] {
        assert!(!text.contains(secret), "a secret is never printed: {text}");
    }

    // serve refuses the same file, exit 2, with the same lines.
    let served = hookrelay()
        .args(["serve", "--port", "0", "--config", &file])
        .output()
        .unwrap();
    assert_eq!(served.status.code(), Some(2));
    let err = String::from_utf8(served.stderr).unwrap();
    assert!(err.contains(&format!("{file}:4: forward_secret:")), "{err}");

    // The same keys with texts serve takes (and what they need: a target to sign for, a
    // source to hold the secret) pass.
    let good = write(
        dir.path(),
        "good.toml",
        "verify = \"standard\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         forward_secret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\n\
         forward_to = \"http://127.0.0.1:9/x\"\n\
         admin_token = \"hra_a-token-long-enough-for-serve\"\n\
         source = \"github=/webhook/github\"\n\
         source_secret = \"github=any text\"\n",
    );
    let output = config_check(&good);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
}

#[test]
fn config_check_refuses_what_serve_refuses_before_binding_in_the_files_terms() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem").display().to_string();
    let cases = [
        (
            "exposed.toml",
            "port = 5000\nhost = \"0.0.0.0\"\n".to_string(),
            "2: host: refusing to serve the admin endpoints (events, deliveries, replays, metrics) \
             without a token on 0.0.0.0:5000 (the main listener), which is not a loopback address; \
             give admin_token = \"TOKEN\" (or admin_token_file = \"PATH\") to require a token, \
             admin_listen = \"127.0.0.1:PORT\" to serve them apart on loopback, \
             or admin_open = true to serve them open anyway"
                .to_string(),
        ),
        (
            "no_cert.toml",
            format!("port = 0\ntls_cert = \"{missing}\"\ntls_key = \"{missing}\"\n"),
            format!("2: tls_cert: reading {missing}: No such file or directory (os error 2)"),
        ),
        (
            "open.toml",
            "admin_token = \"hra_a-token-long-enough-for-serve\"\nport = 0\nadmin_open = true\n"
                .to_string(),
            "3: admin_open: cannot be used with admin_token".to_string(),
        ),
        (
            "half_tls.toml",
            format!("port = 0\ntls_cert = \"{missing}\"\n"),
            "2: tls_cert: needs tls_key as well".to_string(),
        ),
    ];
    for (name, text, expected) in cases {
        let file = write(dir.path(), name, &text);
        let output = config_check(&file);
        let (shown, lines) = problems(&file, &output);
        assert_eq!(output.status.code(), Some(1), "{name}: {shown}");
        assert_eq!(lines, [expected], "{name}");
        if name == "exposed.toml" {
            // serve would bind 0.0.0.0 before refusing: not started here.
            continue;
        }
        let served = hookrelay()
            .args(["serve", "--config", &file])
            .output()
            .unwrap();
        assert_eq!(
            served.status.code(),
            Some(2),
            "{name}: serve refuses it too"
        );
        assert!(served.stdout.is_empty(), "{name}: nothing is served");
    }

    // With a token, the same host passes.
    let token = "host = \"0.0.0.0\"\nadmin_token = \"hra_a-token-long-enough-for-serve\"\n";
    let file = write(dir.path(), "token.toml", token);
    assert_eq!(config_check(&file).status.code(), Some(0));
}

#[test]
fn a_toml_syntax_error_is_invalid_with_its_line_and_a_missing_file_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "syntax.toml", "port = 0\n\nmax_events = = 3\n");
    let output = config_check(&file);
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(&format!("{file}:3: not valid TOML")),
        "{text}"
    );

    let missing = dir.path().join("missing.toml").display().to_string();
    let output = config_check(&missing);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains(&format!("reading {missing}")), "{err}");
}

#[test]
fn serve_with_an_invalid_file_exits_2_with_the_same_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "bad.toml", BAD);
    let output = hookrelay()
        .args(["serve", "--port", "0", "--config", &file])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(
        err.contains(&format!("{file}:3: unknown option \"forwad_to\"")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{file}:12: endpoints[1].name: duplicate")),
        "{err}"
    );
    assert!(output.stdout.is_empty(), "nothing is served");
}

#[test]
fn the_example_file_of_the_repository_passes_config_check() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/hookrelay.toml");
    hookrelay()
        .args(["config", "check", example])
        .assert()
        .code(0)
        .stdout(format!("{example}: ok\n"));
}

#[test]
fn the_readme_shows_the_example_file_as_it_is() {
    let root = env!("CARGO_MANIFEST_DIR");
    let example = std::fs::read_to_string(format!("{root}/examples/hookrelay.toml")).unwrap();
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    assert!(
        readme.contains(&format!("```toml\n{example}```\n")),
        "README.md's config file section no longer shows examples/hookrelay.toml"
    );
}

/// What `config check` printed, whole and as its lines without the leading `FILE:`.
fn problems(file: &str, output: &std::process::Output) -> (String, Vec<String>) {
    let text = String::from_utf8(output.stdout.clone()).unwrap();
    let lines = text
        .lines()
        .map(|l| l.strip_prefix(&format!("{file}:")).unwrap_or(l).to_owned())
        .collect();
    (text, lines)
}

/// `hookrelay config check FILE`, run to its end.
fn config_check(file: &str) -> std::process::Output {
    hookrelay()
        .args(["config", "check", file])
        .output()
        .unwrap()
}
