//! `hookrelay config check FILE`: the checks `serve --config FILE` makes, without serving.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory, Subcommand};

use super::config_file::{self, ConfigError};
use super::{Cli, EXIT_NEGATIVE, EXIT_OK, print_out};

const CONFIG_EXAMPLES: &str = "\
Examples:
  hookrelay config check hookrelay.toml
  hookrelay serve --config hookrelay.toml
  HOOKRELAY_CONFIG=hookrelay.toml hookrelay serve --port 8080   # flags override the file

The file's keys are serve's options in snake_case (forward_to, max_events), and
[[endpoints]] tables with the fields of the endpoints API (name or id, url, filter_types,
secret, headers, rate_limit, description, disabled).
Exit codes: 0 valid, 1 invalid (every problem printed with its line), 2 unreadable.";

/// Check a config file of serve --config
#[derive(Debug, Args)]
#[command(after_help = CONFIG_EXAMPLES)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a config file: every problem, each with its line
    #[command(after_help = CONFIG_EXAMPLES)]
    Check {
        /// The TOML file serve --config would read
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let ConfigCommand::Check { file } = args.command;
    let cli = Cli::command();
    let serve = cli
        .find_subcommand("serve")
        .context("the serve command is missing")?;
    let problems = match config_file::load(&file, serve) {
        Ok(read) => together(&file, &read),
        Err(ConfigError::Unreadable(e)) => return Err(e),
        Err(ConfigError::Invalid(problems)) => problems,
    };
    if problems.is_empty() {
        print_out(&format!("{}: ok\n", file.display()))?;
        return Ok(super::exit(EXIT_OK));
    }
    for problem in problems {
        print_out(&format!("{problem}\n"))?;
    }
    Ok(super::exit(EXIT_NEGATIVE))
}

/// What clap says of the file's options taken together (one that requires another, two
/// that exclude each other), as `serve --config FILE` alone would be told.
fn together(file: &std::path::Path, read: &config_file::ConfigFile) -> Vec<String> {
    let mut argv: Vec<std::ffi::OsString> = vec!["hookrelay".into(), "serve".into()];
    for (_, args) in &read.options {
        argv.extend(args.iter().cloned());
    }
    match Cli::command().try_get_matches_from(argv) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!(
            "{}: {}",
            file.display(),
            config_file::clap_message(&e)
        )],
    }
}
