//! `hookrelay man DIR` (hidden): write the manual pages of `hookrelay` and every
//! subcommand, generated from the same `Cli` as `--help`. The pages in `man/` are its
//! output, committed; a test fails when they are stale.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, CommandFactory};

/// Write man pages (hookrelay.1, hookrelay-serve.1, …) into DIR
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hookrelay man man/\n  man -l man/hookrelay-serve.1")]
pub struct ManArgs {
    /// Directory to write the pages into (created when missing)
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

pub fn run(args: ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    clap_mangen::generate_to(super::Cli::command(), &args.dir)
        .with_context(|| format!("writing man pages into {}", args.dir.display()))?;
    Ok(super::exit(super::EXIT_OK))
}
