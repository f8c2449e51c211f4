//! `hookrelay config check FILE`: the checks `serve --config FILE` makes, without serving.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory, FromArgMatches, Subcommand};

use super::config_file::{self, ConfigError, ConfigFile};
use super::{Cli, Command, EXIT_NEGATIVE, EXIT_OK, print_out, serve};

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
    // Every problem at once: those of single options, and what `serve` would refuse of
    // the valid ones taken together.
    let problems = match config_file::load_valid_part(&file, serve) {
        Ok((read, mut problems)) => {
            // The keys the file sets that are invalid alone: a problem of the options taken
            // together that names one (a `verify` "without" the secret that is there but
            // invalid) follows from it, and is left out.
            let invalid: Vec<&str> = read
                .keys
                .iter()
                .filter(|(id, _, _)| !read.options.iter().any(|(valid, _)| valid == id))
                .map(|(_, key, _)| key.as_str())
                .collect();
            let follows = |problem: &str| {
                problem
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .any(|word| invalid.contains(&word))
            };
            let together = as_serve_would(&file, &read, serve);
            problems.extend(together.into_iter().filter(|(_, p)| !follows(p)));
            problems.sort_by_key(|(line, _)| *line);
            problems.into_iter().map(|(_, problem)| problem).collect()
        }
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

/// What `serve --config FILE` alone would refuse of the file's options taken together:
/// what clap says (one that requires another, two that exclude each other), then every
/// check `serve` makes before binding ([`serve::refusals`]), in the file's terms.
fn as_serve_would(file: &Path, read: &ConfigFile, serve: &clap::Command) -> Vec<(usize, String)> {
    let mut argv: Vec<OsString> = vec!["hookrelay".into(), "serve".into()];
    for (id, args) in &read.options {
        // A `HOOKRELAY_*` variable overrides the file's value, as `serve` takes it: left
        // to clap, which reads (and judges) the variable instead.
        let from_env = serve
            .get_arguments()
            .find(|arg| arg.get_id() == id.as_str())
            .and_then(variable_set)
            .is_some();
        if !from_env {
            argv.extend(args.iter().cloned());
        }
    }
    let parsed = Cli::command()
        .try_get_matches_from(argv)
        .and_then(|matches| Cli::from_arg_matches(&matches));
    let mut args = match parsed {
        Ok(Cli {
            command: Command::Serve(args),
            ..
        }) => args,
        Ok(_) => return Vec::new(),
        Err(e) => {
            let problem = clap_problem(file, read, serve, &e);
            // Its line, where it names one (`FILE:LINE: …`), to be sorted with the others.
            let line = problem
                .strip_prefix(&format!("{}:", file.display()))
                .and_then(|rest| rest.split(':').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            return vec![(line, problem)];
        }
    };
    // As `serve --config` has them: its refusals judge the file's endpoints too.
    args.file_endpoints = read.endpoints.clone();
    let mut found: Vec<(usize, String)> = serve::refusals(&args, serve::Terms::File)
        .into_iter()
        .map(|refusal| {
            let message = config_file::in_file_terms(serve, &format!("{:#}", refusal.error));
            let at = refusal.options.iter().find_map(|id| read.key_of(id));
            match at {
                Some((key, line))
                    if message.starts_with(&format!("{key}:"))
                        || message.starts_with(&format!("{key} ")) =>
                {
                    (line, format!("{}:{line}: {message}", file.display()))
                }
                Some((key, line)) => (line, format!("{}:{line}: {key}: {message}", file.display())),
                None => (0, format!("{}: {message}", file.display())),
            }
        })
        .collect();
    found.sort_by_key(|(line, _)| *line);
    found
}

/// clap's refusal of the file's options taken together, in the file's terms and at the
/// line of the key it is about.
fn clap_problem(file: &Path, read: &ConfigFile, serve: &clap::Command, e: &clap::Error) -> String {
    let shown = |key: &str| match read.keys.iter().find(|(_, k, _)| k == key) {
        Some((_, _, line)) => format!("{}:{line}: ", file.display()),
        None => format!("{}: ", file.display()),
    };
    let strings = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => vec![config_file::key_of_shown(s)],
        Some(ContextValue::Strings(list)) => {
            list.iter().map(|s| config_file::key_of_shown(s)).collect()
        }
        _ => Vec::new(),
    };
    match e.kind() {
        ErrorKind::ArgumentConflict => {
            let (used, prior) = (
                strings(ContextKind::InvalidArg),
                strings(ContextKind::PriorArg),
            );
            if let Some(used) = used.first() {
                return format!(
                    "{}{used}: cannot be used with {}",
                    shown(used),
                    prior.join(", ")
                );
            }
        }
        ErrorKind::MissingRequiredArgument => {
            let missing = strings(ContextKind::InvalidArg);
            // The option that requires them: the one that alone is refused for it.
            let requirer = read.options.iter().find(|(_, args)| {
                serve
                    .clone()
                    .no_binary_name(true)
                    .try_get_matches_from(args.clone())
                    .is_err_and(|e| e.kind() == ErrorKind::MissingRequiredArgument)
            });
            let key = requirer
                .and_then(|(id, _)| read.key_of(id))
                .map(|(key, _)| key);
            if let Some(key) = key {
                return format!(
                    "{}{key}: needs {} as well",
                    shown(key),
                    missing.join(" and ")
                );
            }
            return format!("{}: {} is required", file.display(), missing.join(" and "));
        }
        _ => {}
    }
    let message = config_file::in_file_terms(serve, &config_file::clap_message(e));
    // A value clap read from a variable: named, as the file does not hold it.
    let variable = (e.kind() == ErrorKind::ValueValidation)
        .then(|| strings(ContextKind::InvalidArg))
        .and_then(|keys| keys.into_iter().next())
        .and_then(|key| {
            serve.get_arguments().find(|arg| {
                arg.get_long()
                    .is_some_and(|long| long.replace('-', "_") == key)
            })
        })
        .and_then(variable_set);
    match variable {
        Some(name) => format!(
            "{}: {} (which overrides the file): {message}",
            file.display(),
            name.to_string_lossy()
        ),
        None => format!("{}: {message}", file.display()),
    }
}

/// The `HOOKRELAY_*` variable of `arg` when it is set (and not empty), as clap takes it.
fn variable_set(arg: &clap::Arg) -> Option<&std::ffi::OsStr> {
    arg.get_env()
        .filter(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}
