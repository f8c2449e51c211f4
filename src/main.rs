//! The `hookrelay` binary: parse the command line, run it, turn the result into an exit code.

use std::process::ExitCode;

use clap::Parser;
use hookrelay::cli::{self, Cli};

/// mimalloc instead of the system allocator (see `hookrelay::alloc`).
#[global_allocator]
static ALLOCATOR: hookrelay::alloc::MiMalloc = hookrelay::alloc::MiMalloc;

fn main() -> ExitCode {
    hookrelay::alloc::no_transparent_huge_pages();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Bare `hookrelay` shows the help on stderr: a usage error, but not an "error:" line.
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::from(cli::EXIT_TROUBLE);
        }
        Err(e) if e.use_stderr() => {
            eprint!("hookrelay: {}", e.render());
            return ExitCode::from(cli::EXIT_TROUBLE);
        }
        Err(e) => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hookrelay: error: {e:#}");
            ExitCode::from(cli::EXIT_TROUBLE)
        }
    }
}
