//! `hookrelay send`: the original flow against a real `hookrelay serve`, and delivery to a
//! mock customer that records exactly what arrived: body bytes, headers, retries, timeouts.

use crate::support;

mod delivery;
mod proxy;
mod retries;

use assert_cmd::assert::Assert;
use support::hookrelay;

pub const USER_AGENT: &str = concat!("hookrelay/", env!("CARGO_PKG_VERSION"));

pub fn stdout(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stdout).into_owned()
}

pub fn stderr(assert: &Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// `hookrelay send --to URL ARGS…`, with quick retries unless ARGS say otherwise.
pub fn send(to: &str, args: &[&str]) -> assert_cmd::Command {
    let mut command = hookrelay();
    command
        .args(["send", "--to", to])
        .args(args)
        .timeout(support::DEADLINE);
    if !args.contains(&"--retry-backoff") {
        command.args(["--retry-backoff", "10ms"]);
    }
    command
}
