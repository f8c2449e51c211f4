//! The command line: one `Cli` parsed by clap, one file per subcommand, and the exit codes
//! every subcommand shares.

/// `eprintln!` that cannot panic: a line stderr cannot take (a closed pipe, a full disk)
/// is dropped, and the exit code still tells the outcome.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
pub(crate) use say;

pub mod completions;
pub mod config;
pub mod config_file;
pub mod endpoints;
pub mod input;
pub mod listen;
pub mod man;
pub mod samples;
pub mod schema;
pub mod secret;
pub mod secret_options;
pub mod send;
pub mod serve;
pub mod sign;
pub mod validate;
pub mod values;
pub mod verify;

use std::io::Write;
use std::process::ExitCode;

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Success: valid, delivered, or served until stopped.
pub const EXIT_OK: u8 = 0;
/// A negative answer: a payload is invalid (`validate`), not delivered after retries (`send`).
pub const EXIT_NEGATIVE: u8 = 1;
/// The job could not be done as asked: usage error, unreadable file, invalid payload given
/// to `send`, port in use.
pub const EXIT_TROUBLE: u8 = 2;

const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success: valid / delivered / served until stopped
  1  a negative answer: some payload invalid (validate), not delivered after retries (send,
     listen --forward-to), refused by the server (endpoints)
  2  the job could not be done as asked: usage error, unreadable file, invalid payload
     given to send, a server that cannot be reached or is not a hookrelay (endpoints,
     listen), no token or one the server refuses (listen), port in use";

/// Receive, validate, keep and relay webhook events.
#[derive(Debug, Parser)]
#[command(name = "hookrelay", version, about, after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Serve(Box<serve::ServeArgs>),
    Send(Box<send::SendArgs>),
    Listen(Box<listen::ListenArgs>),
    Validate(validate::ValidateArgs),
    Completions(completions::CompletionsArgs),
    Sign(sign::SignArgs),
    Verify(verify::VerifyArgs),
    Secret(secret::SecretArgs),
    Schema(schema::SchemaArgs),
    Samples(samples::SamplesArgs),
    Endpoints(endpoints::EndpointsArgs),
    Config(config::ConfigArgs),
    #[command(hide = true)]
    Man(man::ManArgs),
}

/// Why a command line was not parsed.
#[derive(Debug)]
pub enum ParseError {
    /// clap's own: usage errors, and `--help` and `--version`.
    Clap(clap::Error),
    /// The file of `serve --config` (or `HOOKRELAY_CONFIG`) is unreadable or invalid.
    Config(std::path::PathBuf, config_file::ConfigError),
}

/// Parses `argv`. For `serve --config FILE`, the file's values are given for every option
/// that neither `argv` nor an environment variable set, and its endpoints are kept in
/// [`serve::ServeArgs::file_endpoints`].
pub fn parse(argv: Vec<OsString>) -> Result<Cli, ParseError> {
    // A first look, which lets a file complete what the flags alone lack.
    let first = Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(argv.clone())
        .ok();
    let with_file = first.as_ref().and_then(|m| match m.subcommand() {
        Some(("serve", serve)) => config_file::path_in(serve).map(|path| (path, serve)),
        _ => None,
    });
    let Some((path, given)) = with_file else {
        let matches = Cli::command()
            .try_get_matches_from(argv)
            .map_err(ParseError::Clap)?;
        return Cli::from_arg_matches(&matches).map_err(ParseError::Clap);
    };
    let command = Cli::command();
    let Some(serve) = command.find_subcommand("serve") else {
        unreachable!("serve is a subcommand")
    };
    let file = config_file::load(&path, serve).map_err(|e| ParseError::Config(path.clone(), e))?;
    let merged = config_file::merged_args(argv, given, &file);
    let matches = Cli::command()
        .try_get_matches_from(merged)
        .map_err(ParseError::Clap)?;
    let mut cli = Cli::from_arg_matches(&matches).map_err(ParseError::Clap)?;
    if let Command::Serve(args) = &mut cli.command {
        args.file_endpoints = file.endpoints;
    }
    Ok(cli)
}

/// Runs a parsed command line. `Err` means exit code 2 with the error printed.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Send(args) => send::run(*args),
        Command::Listen(args) => listen::run(*args),
        Command::Validate(args) => validate::run(args),
        Command::Completions(args) => completions::run(args),
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Secret(args) => secret::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Samples(args) => samples::run(args),
        Command::Endpoints(args) => endpoints::run(args),
        Command::Config(args) => config::run(args),
        Command::Man(args) => man::run(args),
    }
}

/// Writes to stdout. Once its reader has gone (`hookrelay … | head`), output is dropped
/// quietly and the command goes on, so that its exit code still tells the outcome (a
/// `validate` of an invalid file still exits 1).
pub fn print_out(text: &str) -> std::io::Result<()> {
    print_bytes(text.as_bytes())
}

/// [`print_out`] for bytes that may not be text (a response body).
pub fn print_bytes(bytes: &[u8]) -> std::io::Result<()> {
    static CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }
        written => written,
    }
}

/// True when the error comes from writing to a closed stdout (`hookrelay … | head`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Listens for Ctrl-C (SIGINT) and SIGTERM from the call on, not from the first poll;
/// the future completes on either. Called inside a runtime.
#[cfg(unix)]
pub(crate) fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{Signal, SignalKind, signal};

    let listen = |kind: SignalKind, name: &str| match signal(kind) {
        Ok(listener) => Some(listener),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for {name}");
            None
        }
    };
    let interrupt = listen(SignalKind::interrupt(), "Ctrl-C");
    let terminate = listen(SignalKind::terminate(), "SIGTERM");
    async fn received(listener: Option<Signal>) {
        match listener {
            Some(mut listener) => {
                listener.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    async move {
        tokio::select! {
            () = received(interrupt) => {},
            () = received(terminate) => {},
        }
    }
}

/// Completes on Ctrl-C.
#[cfg(not(unix))]
pub(crate) fn stop_signal() -> impl Future<Output = ()> + Send + 'static {
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A single-threaded runtime for the client subcommands.
fn current_thread_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn exit(code: u8) -> ExitCode {
    ExitCode::from(code)
}
