//! `hookrelay completions SHELL`: the committed scripts in `completions/` must match what
//! the binary prints, so they never go stale.

use crate::support;

use std::process::Stdio;

use support::hookrelay;

/// The committed scripts: (shell, file under completions/).
const COMMITTED: &[(&str, &str)] = &[
    ("bash", "hookrelay.bash"),
    ("zsh", "_hookrelay"),
    ("fish", "hookrelay.fish"),
];

fn generate(shell: &str) -> String {
    let output = hookrelay()
        .args(["completions", shell])
        .timeout(support::DEADLINE)
        .output()
        .expect("running hookrelay completions");
    assert_eq!(output.status.code(), Some(0), "completions {shell}");
    String::from_utf8(output.stdout).expect("UTF-8 completions")
}

#[test]
fn committed_completions_match_the_binary() {
    let mut stale = Vec::new();
    for (shell, file) in COMMITTED {
        let path = format!("{}/completions/{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generate(shell) {
            stale.push(format!(
                "completions/{file} is stale; regenerate it with:\n  \
                 cargo run -q -- completions {shell} > completions/{file}"
            ));
        }
    }
    assert!(stale.is_empty(), "\n{}\n", stale.join("\n"));
}

#[test]
fn every_shell_gets_a_script_naming_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = generate(shell);
        for word in [
            "serve",
            "send",
            "validate",
            "completions",
            "event-id",
            "max-events",
        ] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    let out = hookrelay().args(["completions", "tcsh"]).assert().code(2);

    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("invalid value 'tcsh'"), "{stderr}");
}

#[test]
fn a_closed_stdout_exits_0_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hookrelay"))
        .args(["completions", "bash"])
        .env_clear()
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();

    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
