//! `hookrelay secret new`: print a fresh Standard Webhooks secret.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::alert::signing::Secret;

/// Make signing secrets
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  hookrelay secret new > secrets.txt\n\n\
Exit codes: 0 printed, 2 the operating system's random number generator failed.")]
pub struct SecretArgs {
    #[command(subcommand)]
    pub action: SecretAction,
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Print a new whsec_ secret of 32 random bytes from the operating system
    #[command(after_help = "Example:\n  hookrelay secret new > secrets.txt")]
    New,
}

pub fn run(args: SecretArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        SecretAction::New => {
            let secret = Secret::generate().context("reading the operating system's RNG")?;
            super::print_out(&format!("{}\n", secret.to_whsec()))?;
        }
    }
    Ok(super::exit(super::EXIT_OK))
}
