//! The command line as a whole: help, version, and usage errors with exit code 2.

mod support;

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
