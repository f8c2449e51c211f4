//! `hookrelay secret new`: print a fresh Standard Webhooks secret, or (`--admin`) a fresh
//! admin token for `serve --admin-token`.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::alert::signing::Secret;
use crate::server::admin::generate_token;

/// Make signing secrets and admin tokens
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  hookrelay secret new > secrets.txt\n  \
hookrelay secret new --admin >> admin-tokens.txt\n\n\
Exit codes: 0 printed, 2 the operating system's random number generator failed.")]
pub struct SecretArgs {
    #[command(subcommand)]
    pub action: SecretAction,
}

#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Print a new whsec_ secret of 32 random bytes from the operating system
    #[command(after_help = "Examples:\n  hookrelay secret new > secrets.txt\n  \
hookrelay secret new --admin >> admin-tokens.txt   # for serve --admin-token-file")]
    New {
        /// Print an admin token for `serve --admin-token` instead: hra_ and 32 random
        /// bytes as URL-safe base64
        #[arg(long)]
        admin: bool,
    },
}

pub fn run(args: SecretArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        SecretAction::New { admin: true } => {
            let token = generate_token().context("reading the operating system's RNG")?;
            super::print_out(&format!("{token}\n"))?;
        }
        SecretAction::New { admin: false } => {
            let secret = Secret::generate().context("reading the operating system's RNG")?;
            super::print_out(&format!("{}\n", secret.to_whsec()))?;
        }
    }
    Ok(super::exit(super::EXIT_OK))
}
