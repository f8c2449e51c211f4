//! What the client subcommands share about their input and its problems: reading a file or
//! stdin, and showing a payload's problems as lines (text) or objects (`--format json`,
//! `send --json`), so that `send` and `validate` report an invalid payload alike.

use std::io::Read;
use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::model::Invalid;

/// Reads a file, or stdin for `-`.
pub fn read_input(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading stdin")?;
        return Ok(bytes);
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Problems as lines: `event_id: expected an integer, got string "12"`.
pub fn problem_lines(invalid: &Invalid) -> Vec<String> {
    match invalid {
        Invalid::Malformed { .. } => vec![invalid.to_string()],
        Invalid::Fields(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

/// Problems as JSON objects `{"field": …, "message": …}`; malformed JSON adds its `line`
/// and `column`.
pub fn problem_values(invalid: &Invalid) -> Vec<Value> {
    match invalid {
        Invalid::Malformed { line, column, .. } => {
            vec![
                json!({"field": "", "message": invalid.to_string(), "line": line, "column": column}),
            ]
        }
        Invalid::Fields(errors) => errors.iter().map(|e| json!(e)).collect(),
    }
}
