//! The config file of `serve --config FILE` (and `hookrelay config check FILE`): TOML whose
//! top-level keys are `serve`'s options in snake_case (`forward_to`, `max_events`), each
//! checked by the same parser as its flag, and `[[endpoints]]` tables with the fields of
//! the endpoints API, checked as `POST /endpoints` checks them. Every problem is found at
//! once and named by its line. Flags and environment variables override the file: its
//! values are given to clap only for the options neither of them set.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::ArgAction;
use clap::parser::ValueSource;
use serde_json::Value;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::model::FieldError;
use crate::server::endpoints::{self, Changes, Purpose};

/// The key of the list of endpoints.
const ENDPOINTS: &str = "endpoints";
/// Options that a file cannot set.
const NOT_IN_FILE: &[&str] = &["config", "help", "version"];

/// A file read and checked: the options it sets, as clap arguments, and its endpoints.
#[derive(Debug, Default, Clone)]
pub struct ConfigFile {
    /// `(option id, --long=value arguments)` for every option the file sets.
    pub options: Vec<(String, Vec<OsString>)>,
    pub endpoints: Vec<FileEndpoint>,
    /// `(option id, key, line)` of every option the file sets, valid or not.
    pub keys: Vec<(String, String, usize)>,
}

impl ConfigFile {
    /// The key and line of the option with this id, when the file sets it.
    pub fn key_of(&self, id: &str) -> Option<(&str, usize)> {
        self.keys
            .iter()
            .find(|(i, _, _)| i == id)
            .map(|(_, key, line)| (key.as_str(), *line))
    }
}

/// One `[[endpoints]]` table, read. The file describes the endpoint whole: a field left
/// out is cleared (`filter_types`, `headers`, `rate_limit`, `description`, `name`), except
/// `secret` (generated once, then kept) and `disabled` (the relay may disable a failing
/// endpoint; a restart does not enable it again unless the file says `disabled = false`).
#[derive(Clone)]
pub struct FileEndpoint {
    /// What finds it again at the next start: its `id`, else its `name`.
    pub key: String,
    pub changes: Changes,
}

impl std::fmt::Debug for FileEndpoint {
    // Without the changes, which may hold the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileEndpoint")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Why a file cannot be used.
#[derive(Debug)]
pub enum ConfigError {
    /// The file cannot be read (missing, a directory, no permission).
    Unreadable(anyhow::Error),
    /// Its problems, each `FILE:LINE: message`, by line.
    Invalid(Vec<String>),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Unreadable(e) => write!(f, "{e:#}"),
            ConfigError::Invalid(problems) => f.write_str(&problems.join("\n")),
        }
    }
}

/// The error line(s) of `serve --config` for `error`.
pub fn describe(path: &Path, error: &ConfigError) -> String {
    match error {
        ConfigError::Unreadable(e) => format!("--config: {e:#}"),
        ConfigError::Invalid(problems) => format!(
            "invalid config file {}:\n{}",
            path.display(),
            problems.join("\n")
        ),
    }
}

/// Reads and checks `path` against `serve`, the command whose options it holds.
pub fn load(path: &Path, serve: &clap::Command) -> Result<ConfigFile, ConfigError> {
    match load_valid_part(path, serve)? {
        (file, problems) if problems.is_empty() => Ok(file),
        (_, problems) => Err(ConfigError::Invalid(
            problems.into_iter().map(|(_, problem)| problem).collect(),
        )),
    }
}

/// [`load`], keeping the options that are valid on their own beside the problems (each
/// with its line) of the others, for `config check` to judge those together as well. A
/// file that is not text or not TOML is [`ConfigError::Invalid`], nothing in it kept.
pub fn load_valid_part(
    path: &Path,
    serve: &clap::Command,
) -> Result<(ConfigFile, Vec<(usize, String)>), ConfigError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::Unreadable(
            anyhow::Error::new(e).context(format!("reading {}", path.display())),
        )
    })?;
    let shown = path.display().to_string();
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = line_of(&bytes, e.valid_up_to());
            return Err(ConfigError::Invalid(vec![format!(
                "{shown}:{line}: not UTF-8 text"
            )]));
        }
    };
    let mut problems = Problems {
        file: shown,
        text: text.as_bytes(),
        list: Vec::new(),
    };
    let (document, syntax) = DeTable::parse_recoverable(text);
    for error in &syntax {
        let at = error.span().map_or(0, |s| s.start);
        let message = error.message().trim_end().replace('\n', " ");
        problems.at(at, format!("not valid TOML: {message}"));
    }
    if !syntax.is_empty() {
        return Err(problems.into_error());
    }
    let mut file = ConfigFile::default();
    // How `secret` is read depends on `verify`, wherever the file sets it.
    let verify = document
        .get_ref()
        .iter()
        .find(|(k, _)| k.get_ref() == "verify")
        .and_then(|(_, v)| match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => None,
        });
    for (key, value) in document.get_ref() {
        let name = key.get_ref().as_ref();
        let at = key.span().start;
        if name == ENDPOINTS {
            file.endpoints = read_endpoints(value, &mut problems);
            continue;
        }
        match option(serve, name) {
            Some(arg) => {
                let line = line_of(problems.text, at);
                file.keys
                    .push((arg.get_id().to_string(), name.to_string(), line));
                if let Some(args) = option_args(serve, arg, value, verify.as_deref(), &mut problems)
                {
                    file.options.push((arg.get_id().to_string(), args));
                }
            }
            None => {
                let hint = match option(serve, &name.replace('-', "_")) {
                    Some(_) => format!(" (write it {})", name.replace('-', "_")),
                    None => String::new(),
                };
                problems.at(at, format!("unknown option {name:?}{hint}"));
            }
        }
    }
    Ok((file, problems.into_lines()))
}

/// The problems found so far, each with the byte offset it is at.
struct Problems<'a> {
    file: String,
    text: &'a [u8],
    list: Vec<(usize, String)>,
}

impl Problems<'_> {
    fn at(&mut self, offset: usize, message: String) {
        self.list.push((line_of(self.text, offset), message));
    }

    fn into_error(self) -> ConfigError {
        ConfigError::Invalid(
            self.into_lines()
                .into_iter()
                .map(|(_, problem)| problem)
                .collect(),
        )
    }

    /// Each problem as `FILE:LINE: message` with its line, by line.
    fn into_lines(mut self) -> Vec<(usize, String)> {
        self.list.sort_by_key(|(line, _)| *line);
        let file = self.file;
        self.list
            .into_iter()
            .map(|(line, message)| (line, format!("{file}:{line}: {message}")))
            .collect()
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &[u8], offset: usize) -> usize {
    1 + text[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// `serve`'s option named `name` in a file: its long name in snake_case (`--secret` is
/// `secret`, though its id is `secrets`).
fn option<'c>(serve: &'c clap::Command, name: &str) -> Option<&'c clap::Arg> {
    if NOT_IN_FILE.contains(&name) {
        return None;
    }
    serve
        .get_arguments()
        .find(|a| a.get_long().is_some_and(|long| key_of(long) == name))
}

/// The key of the option `--long` in a file.
fn key_of(long: &str) -> String {
    long.replace('-', "_")
}

/// `message` with every `--long` flag of `serve` written as the file's key (`long`).
pub fn in_file_terms(serve: &clap::Command, message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("--") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(after.len());
        let key = key_of(&after[..end]);
        match option(serve, &key) {
            Some(_) if end > 0 => out.push_str(&key),
            _ => out.push_str(&rest[at..at + 2 + end]),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// The file's key for clap's name of an argument (`--tls-key <PEM>`).
pub fn key_of_shown(shown: &str) -> String {
    let flag = shown.split_whitespace().next().unwrap_or(shown);
    key_of(flag.trim_start_matches('-'))
}

/// The command-line arguments that give `arg` the file's `value`, each value checked by
/// the option's own parser; `None` after a problem.
fn option_args(
    serve: &clap::Command,
    arg: &clap::Arg,
    value: &Spanned<DeValue<'_>>,
    verify: Option<&str>,
    problems: &mut Problems<'_>,
) -> Option<Vec<OsString>> {
    let long = arg.get_long()?;
    let name = key_of(long);
    let name = name.as_str();
    let at = value.span().start;
    let flag = matches!(arg.get_action(), ArgAction::SetTrue);
    let many = matches!(arg.get_action(), ArgAction::Append);
    if flag {
        return match value.get_ref() {
            DeValue::Boolean(true) => Some(vec![format!("--{long}").into()]),
            DeValue::Boolean(false) => Some(Vec::new()),
            other => {
                problems.at(
                    at,
                    format!("{name}: expected true or false, got {}", type_of(other)),
                );
                None
            }
        };
    }
    let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
        DeValue::Array(items) if many => items.iter().collect(),
        DeValue::Array(_) => {
            problems.at(at, format!("{name}: expected one value, got an array"));
            return None;
        }
        _ => vec![value],
    };
    let mut args = Vec::with_capacity(items.len());
    let mut failed = false;
    for item in items {
        let at = item.span().start;
        let text = match item.get_ref() {
            DeValue::String(s) => s.to_string(),
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => n.to_string(),
                Err(_) => i.as_str().to_string(),
            },
            DeValue::Float(f) => f.as_str().to_string(),
            other => {
                problems.at(
                    at,
                    format!(
                        "{name}: expected a string or a number, got {}",
                        type_of(other)
                    ),
                );
                failed = true;
                continue;
            }
        };
        // As on the command line: a delimited option takes several values in one string.
        let parts: Vec<&str> = match arg.get_value_delimiter() {
            Some(d) => text.split(d).collect(),
            None => vec![text.as_str()],
        };
        for part in parts {
            let problem =
                value_problem(serve, long, part).or_else(|| secret_problem(name, part, verify));
            if let Some(reason) = problem {
                problems.at(at, format!("{name}: {reason}"));
                failed = true;
            }
        }
        args.push(format!("--{long}={text}").into());
    }
    (!failed).then_some(args)
}

/// What the option's own parser says of `value`, through clap (whose value parsers are
/// not callable apart): `serve --LONG=VALUE` alone, keeping only an error about the value.
fn value_problem(serve: &clap::Command, long: &str, value: &str) -> Option<String> {
    use clap::error::{ContextKind, ErrorKind};
    let args = [format!("--{long}={value}")];
    let error = serve
        .clone()
        .no_binary_name(true)
        .try_get_matches_from(args)
        .err()?;
    let about_value = matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue | ErrorKind::InvalidUtf8
    );
    let about_this = error
        .get(ContextKind::InvalidArg)
        .is_none_or(|a| a.to_string().starts_with(&format!("--{long}")));
    (about_value && about_this).then(|| clap_reason(&error, value))
}

/// What `serve` would refuse of a secret or a token the file gives option `name`: their
/// parsers take any text, so that clap never repeats one in a message, and `serve` checks
/// them after. Never repeats the text either. `verify` is the file's `verify`, which says
/// how `secret` is read (not at all here without one: a source or a flag decides).
fn secret_problem(name: &str, text: &str, verify: Option<&str>) -> Option<String> {
    use crate::alert::signing::Secret;
    use crate::server::admin::AdminToken;
    let refused = match name {
        "forward_secret" => Secret::parse(text).err()?.to_string(),
        "admin_token" => AdminToken::parse(text).err()?.to_string(),
        "secret" => match verify {
            Some("standard") => Secret::parse(text).err()?.to_string(),
            Some("github") => Secret::raw(text).err()?.to_string(),
            _ => return None,
        },
        "source_secret" => match text.split_once('=') {
            Some((key, secret)) if !key.is_empty() => {
                // The kind of secret is the source's; an empty one no source takes.
                Secret::raw(secret).err()?.to_string()
            }
            _ => "expected KEY=SECRET, with KEY a source's name or path".into(),
        },
        _ => return None,
    };
    Some(refused)
}

/// The reason a value parser gave, without clap's framing.
fn clap_reason(error: &clap::Error, value: &str) -> String {
    use clap::error::{ContextKind, ContextValue};
    if let Some(source) = std::error::Error::source(error) {
        return format!("invalid value {value:?}: {source}");
    }
    if let Some(ContextValue::Strings(valid)) = error.get(ContextKind::ValidValue) {
        return format!(
            "invalid value {value:?}: expected one of {}",
            valid.join(", ")
        );
    }
    clap_message(error)
}

/// clap's message for `error` on one line, without its "error: " and its usage lines.
pub fn clap_message(error: &clap::Error) -> String {
    let rendered = error.to_string();
    let message: Vec<&str> = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_string()
}

fn type_of(value: &DeValue<'_>) -> &'static str {
    match value {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// The `[[endpoints]]` tables, each read as the endpoints API reads a body; names and ids
/// unique in the file, and each endpoint with a name or an id to be found again by.
fn read_endpoints(value: &Spanned<DeValue<'_>>, problems: &mut Problems<'_>) -> Vec<FileEndpoint> {
    let DeValue::Array(tables) = value.get_ref() else {
        problems.at(
            value.span().start,
            format!(
                "endpoints: expected [[endpoints]] tables, got {}",
                type_of(value.get_ref())
            ),
        );
        return Vec::new();
    };
    let mut read = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for (i, table) in tables.iter().enumerate() {
        let at = table.span().start;
        let DeValue::Table(fields) = table.get_ref() else {
            problems.at(
                at,
                format!(
                    "endpoints[{i}]: expected a table, got {}",
                    type_of(table.get_ref())
                ),
            );
            continue;
        };
        for field in ["id", "name"] {
            let Some((key, DeValue::String(value))) = fields
                .iter()
                .find(|(k, _)| k.get_ref() == field)
                .map(|(k, v)| (k, v.get_ref()))
            else {
                continue;
            };
            let offset = key.span().start;
            let line = line_of(problems.text, offset);
            let seen_key = format!("{field}={value}");
            match seen.iter().find(|(k, _)| *k == seen_key) {
                Some((_, first)) => problems.at(
                    offset,
                    format!("endpoints[{i}].{field}: duplicate endpoint {field} {value:?} (first on line {first})"),
                ),
                None => seen.push((seen_key, line)),
            }
        }
        let document = json_of(table.get_ref());
        let mut changes = match endpoints::read(&document, Purpose::File, "") {
            Ok(changes) => changes,
            Err(errors) => {
                for FieldError { field, message } in errors {
                    let offset = field_offset(fields, &field).unwrap_or(at);
                    problems.at(offset, format!("endpoints[{i}].{field}: {message}"));
                }
                continue;
            }
        };
        let name = changes.name.clone().flatten();
        let Some(key) = changes.id.clone().or(name) else {
            problems.at(
                at,
                format!(
                    "endpoints[{i}]: needs a name or an id, by which the next start finds it again"
                ),
            );
            continue;
        };
        changes.name.get_or_insert(None);
        changes.filter_types.get_or_insert_with(Vec::new);
        changes.headers.get_or_insert_with(Default::default);
        changes.rate_limit.get_or_insert(None);
        changes.description.get_or_insert(None);
        read.push(FileEndpoint { key, changes });
    }
    read
}

/// Where the field at `path` (`url`, `filter_types[1]`, `headers.X-Y`) is in `table`.
fn field_offset(table: &DeTable<'_>, path: &str) -> Option<usize> {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    let (key, value) = table.iter().find(|(k, _)| k.get_ref() == &path[..end])?;
    let rest = &path[end..];
    if let (Some(index), DeValue::Array(items)) = (
        rest.strip_prefix('[')
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<usize>().ok()),
        value.get_ref(),
    ) {
        return items.get(index).map(|item| item.span().start);
    }
    if let (Some(name), DeValue::Table(inner)) = (rest.strip_prefix('.'), value.get_ref()) {
        return inner
            .iter()
            .find(|(k, _)| k.get_ref() == name)
            .map(|(k, _)| k.span().start);
    }
    Some(key.span().start)
}

/// A TOML value as the JSON the endpoints API reads (a date-time as its text).
fn json_of(value: &DeValue<'_>) -> Value {
    match value {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(i.as_str().to_string())),
        DeValue::Float(f) => f
            .as_str()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| json_of(i.get_ref())).collect()),
        DeValue::Table(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.get_ref().to_string(), json_of(v.get_ref())))
                .collect(),
        ),
    }
}

/// The command line `argv` of `serve --config FILE` with the file's values for every
/// option that neither the command line nor an environment variable set, after them.
pub fn merged_args(
    argv: Vec<OsString>,
    matches: &clap::ArgMatches,
    file: &ConfigFile,
) -> Vec<OsString> {
    let mut all = argv;
    for (id, args) in &file.options {
        let given = matches!(
            matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        );
        if !given {
            all.extend(args.iter().cloned());
        }
    }
    all
}

/// The path of `--config` (or `HOOKRELAY_CONFIG`) in `matches`.
pub fn path_in(matches: &clap::ArgMatches) -> Option<PathBuf> {
    matches.get_one::<PathBuf>("config").cloned()
}
