//! The `hookrelay` binary: parse the command line, run it, turn the result into an exit code.

use std::process::ExitCode;

use hookrelay::cli::{self, ParseError};

/// mimalloc instead of the system allocator (see `hookrelay::alloc`).
#[global_allocator]
static ALLOCATOR: hookrelay::alloc::MiMalloc = hookrelay::alloc::MiMalloc;

fn main() -> ExitCode {
    hookrelay::alloc::no_transparent_huge_pages();
    let cli = match cli::parse(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(ParseError::Config(path, e)) => {
            say(&format!(
                "hookrelay: error: {}",
                cli::config_file::describe(&path, &e)
            ));
            return ExitCode::from(cli::EXIT_TROUBLE);
        }
        Err(ParseError::Clap(e)) => return clap_error(e),
    };
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            say(&format!("hookrelay: error: {e:#}"));
            ExitCode::from(cli::EXIT_TROUBLE)
        }
    }
}

/// Usage errors exit 2; `--help` and `--version` print and exit 0.
fn clap_error(e: clap::Error) -> ExitCode {
    match e {
        // Bare `hookrelay` shows the help on stderr: a usage error, but not an "error:" line.
        e if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(cli::EXIT_TROUBLE)
        }
        e if e.use_stderr() => {
            say(format!("hookrelay: {}", e.render()).trim_end());
            ExitCode::from(cli::EXIT_TROUBLE)
        }
        e => {
            // --help and --version
            let _ = e.print();
            ExitCode::SUCCESS
        }
    }
}

/// One line on stderr; when stderr cannot take it (a closed pipe, a full disk) the exit code
/// still says what happened, where `eprintln!` would panic and exit 101.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
