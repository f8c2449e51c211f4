//! `hookrelay validate`: check payload files against the event model, a JSON Schema
//! (`--schema`) or a provider's rules for its body (`--source`), for CI.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::model::{self, Invalid};
use crate::source::{Locator, Rules, Source};

use super::input::{problem_lines, problem_values, read_input};
use super::values::parse_locator;

const VALIDATE_EXAMPLES: &str = "\
Examples:
  hookrelay validate event.json
  hookrelay validate events/*.json --format json
  cat event.json | hookrelay validate -
  hookrelay validate --schema order.schema.json payloads/*.json
  hookrelay validate --source stripe stripe-events/*.json
  hookrelay validate --schema order.schema.json --id-from /order payloads/*.json
  hookrelay validate --source slack command.txt     # a slash command form

A file may hold one event or a JSON array of events. With --schema or --source a file is
one body, as it would arrive; --source checks what the body must hold (stripe: /id and
/type), not the headers a request would bring. With --source slack a file that does not
start with { is read as a form (application/x-www-form-urlencoded: a slash command's
command, or an interactivity payload=), as send --as slack sends it.
Exit codes: 0 all valid, 1 some payload invalid, 2 a file could not be read.";

/// Check payload files against the event model
#[derive(Debug, Args)]
#[command(after_help = VALIDATE_EXAMPLES)]
pub struct ValidateArgs {
    /// Files to check; - reads stdin
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// Check each file against this JSON Schema (draft 2020-12) instead of the event model
    #[arg(long, value_name = "FILE", conflicts_with = "source")]
    pub schema: Option<PathBuf>,

    /// Check each file as this source reads its body: event, github, stripe, standard,
    /// shopify, slack, json or schema:FILE
    #[arg(long, value_name = "NAME")]
    pub source: Option<String>,

    /// With --schema, --source json or schema:FILE: the JSON Pointer each body's id must be
    /// at, as serve's --id-from (a header:NAME one is not checked: a file has no headers)
    #[arg(long, value_name = "LOCATION", value_parser = parse_locator)]
    pub id_from: Option<Locator>,

    /// With --schema, --source json or schema:FILE: the JSON Pointer each body's type must
    /// be at, as serve's --type-from (header:NAME is not checked)
    #[arg(long, value_name = "LOCATION", value_parser = parse_locator)]
    pub type_from: Option<Locator>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    // A file is a body without its request: what a header would say is not checked.
    let in_body =
        |locator: &Option<Locator>| locator.clone().filter(|l| matches!(l, Locator::Pointer(_)));
    let rules = Rules {
        id_from: in_body(&args.id_from),
        type_from: in_body(&args.type_from),
    };
    let source = match (&args.schema, &args.source) {
        (Some(path), _) => Some(Source::parse(
            &format!("schema:{}", path.display()),
            &rules,
        )?),
        (None, Some(name)) => Some(Source::parse(name, &rules)?),
        (None, None) => None,
    };
    let located = matches!(source, Some(Source::Json(_) | Source::Schema(..)));
    if !located && (args.id_from.is_some() || args.type_from.is_some()) {
        anyhow::bail!(
            "--id-from and --type-from apply with --schema, --source json or schema:FILE"
        );
    }
    let mut unreadable = false;
    let mut invalid = false;
    let mut results = Vec::new();
    for path in &args.files {
        let name = if path.as_os_str() == "-" {
            "(stdin)".to_string()
        } else {
            path.display().to_string()
        };
        let result = match read_input(path) {
            Err(e) => {
                unreadable = true;
                if args.format == Format::Text {
                    crate::cli::say!("hookrelay: error: {e:#}");
                }
                let problem = json!({"field": "", "message": format!("{e:#}")});
                file_result(&name, 0, vec![problem])
            }
            Ok(bytes) => match check(source.as_ref(), &bytes) {
                Ok(n) => {
                    if args.format == Format::Text {
                        let count = if n == 1 {
                            String::new()
                        } else {
                            format!(" ({n} events)")
                        };
                        super::print_out(&format!("{name}: ok{count}\n"))?;
                    }
                    file_result(&name, n, Vec::new())
                }
                Err(problems) => {
                    invalid = true;
                    if args.format == Format::Text {
                        let lines: String = problem_lines(&problems)
                            .iter()
                            .map(|l| format!("\n  {l}"))
                            .collect();
                        super::print_out(&format!("{name}: invalid{lines}\n"))?;
                    }
                    file_result(&name, 0, problem_values(&problems))
                }
            },
        };
        results.push(result);
    }
    if args.format == Format::Json {
        let valid = !unreadable && !invalid;
        super::print_out(&format!("{}\n", json!({"valid": valid, "files": results})))?;
    }
    let code = if unreadable {
        super::EXIT_TROUBLE
    } else if invalid {
        super::EXIT_NEGATIVE
    } else {
        super::EXIT_OK
    };
    Ok(super::exit(code))
}

/// One file's entry of `--format json`, the same shape whether the file was valid, invalid
/// or unreadable: `events` counts the events of a valid file (0 otherwise), `errors` lists
/// the problems, a file that could not be read as one problem of the top level.
fn file_result(name: &str, events: usize, errors: Vec<Value>) -> Value {
    json!({"file": name, "valid": errors.is_empty(), "events": events, "errors": errors})
}

/// How many events one file holds: by the model (one event or an array of them), or as one body
/// of `source`, whose header problems are left out (a file has no headers); a Slack form
/// (see [`crate::source::is_form_text`]) as a form.
fn check(source: Option<&Source>, bytes: &[u8]) -> Result<usize, Invalid> {
    let Some(source) = source else {
        return model::validate_document(bytes).map(|events| events.len());
    };
    // A file has no headers; a Slack file that is not JSON is read as the form it would
    // arrive as (slash commands, interactivity), as `send --as slack` sends it.
    let mut headers = http::HeaderMap::new();
    if source.takes_forms() && crate::source::is_form_text(bytes) {
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
    }
    match source.read(&headers, bytes) {
        Ok(_) => Ok(1),
        Err(Invalid::Fields(problems)) => {
            let body: Vec<_> = problems
                .into_iter()
                .filter(|p| !p.field.starts_with("header:"))
                .collect();
            if body.is_empty() {
                Ok(1)
            } else {
                Err(Invalid::Fields(body))
            }
        }
        Err(malformed) => Err(malformed),
    }
}
