//! A relay's settings as a user mistypes them, through the real binary: a route without a
//! type (which no event would ever take) and an empty retry schedule (which would quietly
//! mean no retry) are refused by `serve` and `config check`; a URL with a space gets no
//! suggestion that is no URL either; the endpoints CLI says plainly when its token is
//! empty or missing, and a rotation that keeps no previous secret prints no line for one.

use crate::support::{DEADLINE, Served, hookrelay};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `hookrelay serve ARGS…` that must not start: its exit code and stderr.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let output = hookrelay()
        .args(["serve", "--port", "0"])
        .args(args)
        .timeout(DEADLINE)
        .output()
        .unwrap();
    (output.status.code(), text(&output.stderr))
}

#[test]
fn a_route_without_a_type_and_an_empty_retry_schedule_are_refused() {
    let (code, err) = refused(&["--route", "=http://127.0.0.1:9/x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no type or glob before '='"), "{err}");

    let (code, err) = refused(&[
        "--retry-schedule",
        "",
        "--forward-to",
        "http://127.0.0.1:9/x",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("at least one duration"), "{err}");

    let (code, err) = refused(&["--forward-to", "not a url"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("http://not a url"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("relay.toml");
    std::fs::write(
        &file,
        "route = [\"=http://127.0.0.1:9/x\"]\nretry_schedule = \"\"\n",
    )
    .unwrap();
    let checked = hookrelay()
        .args(["config", "check", file.to_str().unwrap()])
        .timeout(DEADLINE)
        .output()
        .unwrap();
    let out = text(&checked.stdout) + &text(&checked.stderr);
    assert_eq!(checked.status.code(), Some(1), "{out}");
    assert!(out.contains("no type or glob before '='"), "{out}");
    assert!(out.contains("at least one duration"), "{out}");
}

#[test]
fn the_endpoints_cli_says_when_its_token_is_empty_or_missing() {
    let token = "t0ken-for-the-relay-mistakes-test-1234567890";
    let server = Served::start(&["--admin-token", token]);
    let endpoints = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = hookrelay();
        command
            .arg("endpoints")
            .args(args)
            .args(["--server", &server.url("")])
            .env_remove("HOOKRELAY_ADMIN_TOKEN");
        for (name, value) in env {
            command.env(name, value);
        }
        command.timeout(DEADLINE).output().unwrap()
    };

    let empty = endpoints(&["list"], &[("HOOKRELAY_ADMIN_TOKEN", " ")]);
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
    assert!(
        text(&empty.stderr).contains("HOOKRELAY_ADMIN_TOKEN) is empty"),
        "{empty:?}"
    );

    let missing = endpoints(&["list"], &[]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        text(&missing.stderr).contains("needs an admin token: give it with --admin-token"),
        "{missing:?}"
    );

    let with_token = |args: &[&str]| endpoints(args, &[("HOOKRELAY_ADMIN_TOKEN", token)]);
    let added = with_token(&["add", "--url", "http://127.0.0.1:9/in", "--name", "acme"]);
    assert!(added.status.success(), "{added:?}");
    let now = with_token(&["rotate-secret", "acme", "--grace", "0s"]);
    assert!(now.status.success(), "{now:?}");
    let out = text(&now.stdout);
    assert!(out.starts_with("secret\twhsec_"), "{out}");
    assert!(!out.contains("previous secret"), "{out}");
    let later = with_token(&["rotate-secret", "acme", "--grace", "1h"]);
    assert!(
        text(&later.stdout).contains("previous secret signs until\t20"),
        "{later:?}"
    );
}
