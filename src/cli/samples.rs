//! `hookrelay samples`: the sample payloads shipped in the binary, listed or printed.

use std::process::ExitCode;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use crate::source::samples::{self, SAMPLES};

/// List or print the sample payloads of each provider
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  hookrelay samples list\n  \
hookrelay samples show github.push > push.json\n  \
hookrelay send --as github --sample github.push --to http://127.0.0.1:5000/webhook --secret s3cret\n\n\
Exit codes: 0 printed, 2 no sample of that name.")]
pub struct SamplesArgs {
    #[command(subcommand)]
    pub action: SamplesAction,
}

#[derive(Debug, Subcommand)]
pub enum SamplesAction {
    /// One line per sample: its name, the source it is written for, what it is
    #[command(after_help = "Example:\n  hookrelay samples list")]
    List,
    /// Print a sample's body exactly as `send --sample` sends it
    #[command(after_help = "Examples:\n  hookrelay samples show github.push\n  \
hookrelay samples show stripe.invoice.paid > invoice.json")]
    Show {
        /// The sample's name, as `samples list` prints it (github.push)
        #[arg(value_name = "NAME")]
        name: String,
    },
}

pub fn run(args: SamplesArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        SamplesAction::List => {
            let width = SAMPLES.iter().map(|s| s.name.len()).max().unwrap_or(0);
            let mut text = String::new();
            for sample in SAMPLES {
                let name = sample.name;
                let source = sample.source;
                let summary = sample.summary;
                text.push_str(&format!("{name:width$}  {source:8}  {summary}\n"));
            }
            super::print_out(&text)?;
        }
        SamplesAction::Show { name } => {
            super::print_out(find(&name)?.body)?;
        }
    }
    Ok(super::exit(super::EXIT_OK))
}

/// The sample named `name`, or an error that says where the names are.
pub fn find(name: &str) -> anyhow::Result<&'static samples::Sample> {
    samples::find(name)
        .ok_or_else(|| anyhow!("no sample named {name:?}; `hookrelay samples list` shows them"))
}
