//! `hookrelay completions SHELL`: print a shell completion script.

use std::process::ExitCode;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Print shell completions (bash, zsh, fish, powershell, elvish)
#[derive(Debug, Args)]
#[command(
    after_help = "Example:\n  hookrelay completions bash > ~/.local/share/bash-completion/completions/hookrelay"
)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut script = Vec::new();
    clap_complete::generate(
        args.shell,
        &mut super::Cli::command(),
        "hookrelay",
        &mut script,
    );
    super::print_out(&String::from_utf8_lossy(&script))?;
    Ok(super::exit(super::EXIT_OK))
}
