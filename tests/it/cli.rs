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
    for subcommand in ["serve", "send", "validate", "completions"] {
        assert!(text.contains(&format!("\n  {subcommand} ")), "{text}");
    }
    assert!(text.contains("Exit codes:\n  0  success"), "{text}");
    assert!(text.contains("\n  1  a negative answer"), "{text}");
    assert!(
        text.contains("\n  2  the job could not be done as asked"),
        "{text}"
    );
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
