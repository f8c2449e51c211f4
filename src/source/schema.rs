//! `schema:FILE`: a JSON Schema (draft 2020-12) read once at start, compiled by the
//! `jsonschema` crate, and every violation of a body reported at once as the model's
//! `details` are: `{"field": "<JSON Pointer>", "message": "<text>"}`. Only the schema's own
//! document is used: a `$ref` to another file or URL is not fetched. A body is validated
//! on its tape (`tape.rs`) when it has one, otherwise as the `serde_json::Value` it parses
//! into: the schema is compiled once for each. A message quotes at most 40 characters of
//! the value it is about, as the model's do (`shown.rs`): a large body failing a rule at its
//! top level is described (`an object of 1000 properties`), not repeated.

use std::path::{Path, PathBuf};

use jsonschema::ValidationError;
use serde_json::Value;

use super::problem;
use super::shown::{cut, cut_field, message, shown, shown_node, sized_or_shown};
use super::tape::{Tape, TapeJson};
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
        listed(Vec::new(), self.validator.iter_errors(value), &|error| {
            shown(error.instance())
        })
    }

    /// [`Schema::problems`] of a body that `serde_json` could read only with its numbers
    /// beyond a float's range (`beyond`: each one's pointer and text) replaced by `null`: the
    /// validator cannot be trusted with what it did not see, so each such number is a
    /// problem, standing for the violations that may have judged its `null`.
    pub fn problems_without(&self, value: &Value, beyond: &[(String, String)]) -> Vec<FieldError> {
        let first = beyond
            .iter()
            .map(|(pointer, text)| problem(pointer.as_str(), unread(text)))
            .collect();
        let errors = self
            .validator
            .iter_errors(value)
            .filter(|e| judged(e, beyond));
        listed(first, errors, &|error| {
            if holds_any(error.instance_path().as_str(), beyond) {
                sized_or_shown(error.instance())
            } else {
                shown(error.instance())
            }
        })
    }

    /// [`Schema::problems`] of a body read into a tape: the same violations, in the same
    /// words. A number beyond a float's range whose value the validator read (it saw a
    /// stand-in) is a problem at its place, standing for the violations that may have
    /// judged the stand-in.
    pub fn problems_on_tape(&self, tape: &Tape<'_>) -> Vec<FieldError> {
        let root = tape.root();
        // Validated first: reading a number beyond a float's range marks it.
        let valid = self.on_tape.is_valid(root);
        if valid && !tape.any_touched() {
            return Vec::new();
        }
        let errors: Vec<_> = self.on_tape.iter_errors(root).collect();
        let touched: Vec<(String, String)> = tape
            .touched()
            .into_iter()
            .map(|(pointer, text)| (pointer, text.to_string()))
            .collect();
        let first = touched
            .iter()
            .map(|(pointer, text)| problem(pointer.as_str(), unjudged(text)))
            .collect();
        let errors = errors.into_iter().filter(|e| judged(e, &touched));
        listed(first, errors, &|error| {
            // A value holding a number beyond a float's range is not quoted: its stand-in
            // would be.
            match tape
                .has_beyond()
                .then(|| root.pointer(error.instance_path().as_str()))
            {
                Some(Some(node)) if node.holds_beyond() => shown_node(node),
                _ => shown(error.instance()),
            }
        })
    }
}

/// Why a number beyond the range of a 64-bit float fails a schema that reads its value.
fn unjudged(text: &str) -> String {
    format!(
        "number {} is beyond the range of a 64-bit float (about ±1.8e308): the schema checks \
         this value and cannot judge it",
        cut(text)
    )
}

/// Why a number beyond the range of a 64-bit float fails a schema in a body the validator
/// reads without it.
fn unread(text: &str) -> String {
    format!(
        "number {} is beyond the range of a 64-bit float (about ±1.8e308): in a body with a \
         key written twice or nested more than 100 levels deep, the schema cannot be checked \
         against it",
        cut(text)
    )
}

/// Whether a violation stands on its own beside the numbers of `unjudged` (pointer, text),
/// which the validator saw stand-ins of: it is not at one of them, and, at a value holding
/// one, it is of a rule that does not look inside (a type, required members, sizes, names).
fn judged(error: &ValidationError<'_>, unjudged: &[(String, String)]) -> bool {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = error.instance_path().as_str();
    if !holds_any(at, unjudged) {
        return true;
    }
    let is_number = unjudged.iter().any(|(pointer, _)| pointer == at);
    !is_number
        && matches!(
            error.kind(),
            Kind::Type { .. }
                | Kind::Required { .. }
                | Kind::MinProperties { .. }
                | Kind::MaxProperties { .. }
                | Kind::MinItems { .. }
                | Kind::MaxItems { .. }
                | Kind::AdditionalItems { .. }
                | Kind::AdditionalProperties { .. }
                | Kind::PropertyNames { .. }
                | Kind::FalseSchema
        )
}

/// Whether the value at `pointer` is or holds one of `numbers` (pointer, text).
fn holds_any(pointer: &str, numbers: &[(String, String)]) -> bool {
    numbers.iter().any(|(number, _)| {
        number
            .strip_prefix(pointer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The violations as the model's problems, after `first`: at most [`MAX_VIOLATIONS`] and a
/// count of the rest. Each message shows the value it is about as `show` words it.
fn listed<'e>(
    mut problems: Vec<FieldError>,
    errors: impl Iterator<Item = ValidationError<'e>>,
    show: &dyn Fn(&ValidationError<'e>) -> String,
) -> Vec<FieldError> {
    let mut more = 0usize;
    for error in errors {
        if problems.len() < MAX_VIOLATIONS {
            let field = cut_field(error.instance_path().as_str());
            problems.push(problem(field, message(&error, &show(&error))));
        } else {
            more += 1;
        }
    }
    if more > 0 {
        problems.push(problem("", format!("{more} more violation(s) not listed")));
    }
    problems
}
