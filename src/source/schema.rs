//! `schema:FILE`: a JSON Schema (draft 2020-12) read once at start, compiled by the
//! `jsonschema` crate, and every violation of a body reported at once as the model's
//! `details` are: `{"field": "<JSON Pointer>", "message": "<text>"}`. Only the schema's own
//! document is used: a `$ref` to another file or URL is not fetched. A body is validated
//! on its tape (`tape.rs`) when it has one, otherwise as the `serde_json::Value` it parses
//! into: the schema is compiled once for each. A message quotes at most 40 characters of
//! the value it is about, as the model's do (`shown.rs`): a large body failing a rule at its
//! top level is described (`an object of 1000 properties`), not repeated.

use std::path::{Path, PathBuf};

use serde_json::Value;

use jsonschema::ValidationError;

use super::problem;
use super::shown::{cut_field, message, shown};
use super::tape::{TapeJson, TapeNode};
use crate::model::FieldError;

/// The most violations listed for one body; one more entry says how many were left out.
pub const MAX_VIOLATIONS: usize = 100;

/// A compiled schema.
pub struct Schema {
    path: PathBuf,
    validator: jsonschema::Validator,
    on_tape: jsonschema::Validator<TapeJson>,
}

/// Why a schema file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{path} is not JSON: {error}")]
    NotJson {
        path: PathBuf,
        error: serde_json::Error,
    },
    #[error("{path} is not a usable JSON Schema (draft 2020-12): {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Schema {
    /// Reads and compiles the schema in `path`.
    pub fn load(path: &Path) -> Result<Self, SchemaError> {
        let text = std::fs::read(path).map_err(|error| SchemaError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        let document: Value =
            serde_json::from_slice(&text).map_err(|error| SchemaError::NotJson {
                path: path.to_path_buf(),
                error,
            })?;
        Self::compile(path, &document)
    }

    /// Compiles a schema document; `path` names it in messages.
    pub fn compile(path: &Path, document: &Value) -> Result<Self, SchemaError> {
        let invalid = |e: jsonschema::ValidationError<'_>| SchemaError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let validator = jsonschema::draft202012::new(document).map_err(invalid)?;
        let on_tape = jsonschema::options_for::<TapeJson>()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(document)
            .map_err(invalid)?;
        Ok(Self {
            path: path.to_path_buf(),
            validator,
            on_tape,
        })
    }

    /// The file the schema came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every violation of the schema by `value`, each at its JSON Pointer.
    pub fn problems(&self, value: &Value) -> Vec<FieldError> {
        // The usual case, a valid body, without the work of locating errors.
        if self.validator.is_valid(value) {
            return Vec::new();
        }
        listed(self.validator.iter_errors(value))
    }

    /// [`Schema::problems`] of a body read into a tape: the same violations, in the same
    /// words.
    pub fn problems_on_tape(&self, node: TapeNode<'_>) -> Vec<FieldError> {
        if self.on_tape.is_valid(node) {
            return Vec::new();
        }
        listed(self.on_tape.iter_errors(node))
    }
}

/// The violations as the model's problems, at most [`MAX_VIOLATIONS`] and a count of the
/// rest, each message showing the value it is about in a few words ([`shown`]).
fn listed<'e>(errors: impl Iterator<Item = ValidationError<'e>>) -> Vec<FieldError> {
    let mut problems = Vec::new();
    let mut more = 0usize;
    for error in errors {
        if problems.len() < MAX_VIOLATIONS {
            let field = cut_field(error.instance_path().as_str());
            problems.push(problem(field, message(&error, &shown(error.instance()))));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        problems.push(problem("", format!("{more} more violation(s) not listed")));
    }
    problems
}
