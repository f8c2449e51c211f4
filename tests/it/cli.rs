//! The command line as a whole: help, version, usage errors with exit code 2, and exit codes
//! that still tell the outcome when stdout is closed.

use crate::support;

use assert_cmd::assert::Assert;
use support::hookrelay;

fn stdout(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

#[test]
fn help_lists_the_subcommands_and_documents_the_exit_codes() {
    let help = hookrelay().arg("--help").assert().code(0);

    let text = stdout(&help);
    let listed: Vec<&str> = subcommands(&text)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for subcommand in [
        "serve",
        "send",
        "validate",
        "sign",
        "verify",
        "secret",
        "completions",
    ] {
        assert!(
            listed.contains(&subcommand),
            "{subcommand} not in {listed:?}\n{text}"
        );
    }
    assert!(text.contains("Exit codes:\n  0  success"), "{text}");
    assert!(text.contains("\n  1  a negative answer"), "{text}");
    assert!(
        text.contains("\n  2  the job could not be done as asked"),
        "{text}"
    );
}

/// The `Commands:` section of a help text: each subcommand's name and one-line description,
/// without clap's own `help`.
fn subcommands(help: &str) -> Vec<(&str, &str)> {
    let Some((_, section)) = help.split_once("\nCommands:\n") else {
        return Vec::new();
    };
    section
        .lines()
        .take_while(|line| !line.is_empty())
        // A description that wraps continues on a line indented further.
        .filter_map(|line| line.strip_prefix("  ").filter(|l| !l.starts_with(' ')))
        .map(|line| {
            let (name, about) = line.split_once(' ').unwrap_or((line, ""));
            (name, about.trim())
        })
        .filter(|(name, _)| *name != "help")
        .collect()
}

/// Every subcommand the binary lists, and theirs in turn, answers `--help` with its own
/// usage, starts with the description its parent lists, and shows an example of its use
/// (its own, or its parent's for a subcommand of a subcommand). The list comes from the
/// binary, so a new subcommand is checked without editing this test.
#[test]
fn every_subcommand_has_help_with_its_usage_and_an_example() {
    let top = stdout(&hookrelay().arg("--help").assert().code(0));
    let mut pending: Vec<(Vec<String>, String, String)> = subcommands(&top)
        .into_iter()
        .map(|(name, about)| (vec![name.to_string()], about.to_string(), top.clone()))
        .collect();
    let mut checked = Vec::new();
    while let Some((path, about, parent_help)) = pending.pop() {
        let command = path.join(" ");
        let answer = hookrelay().args(&path).arg("--help").assert().code(0);
        let help = stdout(&answer);
        assert_eq!(stderr(&answer), "", "hookrelay {command} --help");
        assert!(
            help.starts_with(&format!("{about}\n")),
            "hookrelay {command} --help does not start with {about:?}:\n{help}"
        );
        assert!(
            help.contains(&format!("\nUsage: hookrelay {command}")),
            "hookrelay {command} --help:\n{help}"
        );
        let example = format!("\n  hookrelay {command}");
        let has_example = |text: &str| {
            text.split_once("\nExample")
                .is_some_and(|(_, examples)| examples.contains(&example))
        };
        assert!(
            has_example(&help) || has_example(&parent_help),
            "no example of hookrelay {command} in its help or its parent's:\n{help}"
        );
        for (name, about) in subcommands(&help) {
            let mut sub = path.clone();
            sub.push(name.to_string());
            pending.push((sub, about.to_string(), help.clone()));
        }
        checked.push(command);
    }
    assert!(checked.contains(&"secret new".to_string()), "{checked:?}");
}

#[test]
fn version_prints_the_package_version() {
    let version = hookrelay().arg("--version").assert().code(0);

    assert_eq!(
        stdout(&version),
        format!("hookrelay {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn no_subcommand_shows_the_usage_and_exits_2() {
    let usage = hookrelay().assert().code(2);

    let text = stderr(&usage);
    assert!(
        text.starts_with("Receive, validate, keep and relay webhook events\n"),
        "{text}"
    );
    assert!(text.contains("Usage: hookrelay <COMMAND>"), "{text}");
}

#[test]
fn an_unknown_subcommand_is_an_error_and_exits_2() {
    let refused = hookrelay().arg("nope").assert().code(2);

    assert!(
        stderr(&refused).starts_with("hookrelay: error: unrecognized subcommand 'nope'"),
        "{}",
        stderr(&refused)
    );
    assert_eq!(stdout(&refused), "");
}

/// `hookrelay ARGS…` (cleared environment) with stdout a pipe whose reader has already
/// gone, as in `hookrelay … | head` once head has exited. Returns the exit code and stderr.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(args)
        .env_clear()
        .stdout(writer)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn with_stdout_closed_validate_still_exits_1_for_an_invalid_file() {
    let dir = "tests/fixtures";
    let valid = format!("{dir}/valid.json");
    let invalid = format!("{dir}/id_string.json");
    let (code, stderr) = with_stdout_closed(&["validate", &valid, &invalid]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr, "", "a closed stdout is not an error to report");
    let (code, stderr) = with_stdout_closed(&["validate", "--format", "json", &invalid]);
    assert_eq!(code, Some(1), "{stderr}");
    let (code, stderr) = with_stdout_closed(&["validate", &valid, &valid]);
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn with_stdout_closed_send_still_exits_1_when_not_delivered() {
    // A line of answer, which stdout writes out at once (and finds the pipe closed).
    let refusing = support::Customer::always(support::Answer::status(400).body("no thanks\n"));
    let url = refusing.url("/hook");
    let (code, stderr) = with_stdout_closed(&["send", "--to", &url, "--event-id", "1"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not delivered"), "{stderr}");
    let (code, stderr) = with_stdout_closed(&["send", "--to", &url, "--event-id", "1", "--json"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(refusing.count(), 2);

    let accepting = support::Customer::start();
    let url = accepting.url("/hook");
    let (code, stderr) = with_stdout_closed(&["send", "--to", &url, "--event-id", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(accepting.count(), 1);
}

/// The lines under `Example:` or `Examples…:` in `hookrelay SUBCOMMAND --help`, with
/// continuation lines (`\` at the end) joined.
fn help_examples(subcommand: &str) -> Vec<String> {
    let help = stdout(&hookrelay().args([subcommand, "--help"]).assert().code(0));
    let mut examples = Vec::new();
    // The heading starts with "Example" and may run over lines; its last one ends with ':'.
    let mut lines = help
        .lines()
        .skip_while(|l| !l.starts_with("Example"))
        .skip_while(|l| !l.ends_with(':'));
    lines.next();
    let mut joined = String::new();
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(start) => joined.push_str(start),
            None => {
                joined.push_str(line);
                examples.push(std::mem::take(&mut joined));
            }
        }
    }
    examples
}

/// Runs one example with `sh` in `dir`, `hookrelay` on the PATH and `URL` (or the default
/// address) standing for a receiver of our own on 127.0.0.1, the https one of the examples
/// for `https_url`, a receiver of ours whose certificate `ca.pem` in `dir` signed.
fn run_example(
    example: &str,
    dir: &std::path::Path,
    url: &str,
    https_url: &str,
) -> std::process::Output {
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_hookrelay"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let command = example
        .replace("https://127.0.0.1:5443/webhook", https_url)
        .replace("http://127.0.0.1:5000/webhook", url)
        .replace(" URL", &format!(" {url}"));
    std::process::Command::new("sh")
        .args(["-c", &command])
        .current_dir(dir)
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir)
        .output()
        .expect("running sh")
}

#[test]
fn every_example_in_the_client_subcommands_help_runs_as_written() {
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let has_curl = std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_ok();
    if !has_curl && std::env::var("CI").as_deref() == Ok("true") {
        panic!("curl is needed to run the sign example");
    }
    for subcommand in [
        "send",
        "sign",
        "verify",
        "validate",
        "secret",
        "completions",
    ] {
        let examples = help_examples(subcommand);
        assert!(!examples.is_empty(), "{subcommand} --help shows no example");
        // An https receiver whose certificate a CA of the test's own signed (`ca.pem`).
        let ca = support::tls::Ca::new("examples CA");
        let leaf = ca.issue();
        let tls_dir = tempfile::tempdir().unwrap();
        let cert = support::tls::write(tls_dir.path(), "cert.pem", &leaf.cert_pem);
        let key = support::tls::write(tls_dir.path(), "key.pem", &leaf.key_pem);
        let https = support::Served::start(&[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ]);
        let https_url = https.url("/webhook");
        // A receiver that checks signatures made with the same secret as secrets.txt.
        let receiver = support::Served::start(&["--verify", "standard", "--secret", SECRET]);
        let open = support::Served::start(&[]);
        // For `send --as PROVIDER`: a receiver that takes any JSON and checks no signature.
        let any_json = support::Served::start(&["--source", "json"]);
        let url = match subcommand {
            "sign" => format!("http://{}/webhook", receiver.addr),
            _ => format!("http://{}/webhook", open.addr),
        };
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("event.json", &support::event(42));
        write("body.json", r#"{"test": 2432232314}"#);
        // A Slack slash command, as a form, for `send --as slack`.
        write(
            "command.txt",
            "command=%2Fdeploy&text=api&trigger_id=1.2.abc",
        );
        write("secrets.txt", &format!("{SECRET}\n"));
        write("ca.pem", &ca.pem());
        std::fs::create_dir(dir.path().join("events")).unwrap();
        write("events/a.json", &support::event(1));
        write("events/b.json", &format!("[{}]", support::event(2)));
        // For `validate --schema` and `--source`: a schema, a payload it takes, a Stripe event.
        write(
            "order.schema.json",
            r#"{"type":"object","required":["order"],"properties":{"order":{"type":"string"}}}"#,
        );
        std::fs::create_dir(dir.path().join("payloads")).unwrap();
        write("payloads/o1.json", r#"{"order":"o-1"}"#);
        // For `send --as json`: any JSON.
        write("order.json", r#"{"order":"o-2","total":12.5}"#);
        std::fs::create_dir(dir.path().join("stripe-events")).unwrap();
        write(
            "stripe-events/paid.json",
            r#"{"id":"evt_1","object":"event","type":"invoice.paid"}"#,
        );
        std::fs::create_dir_all(dir.path().join(".local/share/bash-completion/completions"))
            .unwrap();
        for example in examples {
            if example.starts_with("curl ") && !has_curl {
                println!("skipped, curl is not installed: {example}");
                continue;
            }
            let url = if example.contains(" --as ") {
                format!("http://{}/webhook", any_json.addr)
            } else {
                url.clone()
            };
            let ran = run_example(&example, dir.path(), &url, &https_url);
            assert!(
                ran.status.success(),
                "{subcommand}: {example}\n{}{}",
                String::from_utf8_lossy(&ran.stdout),
                String::from_utf8_lossy(&ran.stderr)
            );
            let out = String::from_utf8_lossy(&ran.stdout);
            if subcommand == "verify" {
                assert!(
                    out.ends_with("valid\n") && !out.contains("invalid"),
                    "{out}"
                );
            }
            if example.starts_with("curl ") {
                assert!(out.contains(r#""status":"success""#), "{out}");
            }
        }
    }
}
