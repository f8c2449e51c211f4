//! `hookrelay schema`: print the JSON Schema (draft 2020-12) of one event, for editors and
//! other languages' validators. It says what JSON Schema can say of `model`'s rules; what
//! only `validate` checks is listed in the README ("What only validate checks").

use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

const SCHEMA_EXAMPLES: &str = "\
Examples:
  hookrelay schema > event.schema.json
  hookrelay schema | python3 -m json.tool

The schema describes one event; a file that holds an array of events is an array of
these. Only validate checks: the spelling of event_id (123.0 and 1e2 are not integers
to validate, though they are to JSON Schema) and model keys given twice.";

/// Print the JSON Schema (2020-12) of an event
#[derive(Debug, Args)]
#[command(after_help = SCHEMA_EXAMPLES)]
pub struct SchemaArgs {}

/// A `pattern` for the `timestamp` forms that `model` accepts: a date with the days its
/// month has (29 February only in leap years), `T`, `t` or a space, hours 00–23, minutes,
/// optional seconds with a fraction of 1–9 digits, an optional `Z`/`z` or `±HH[:]MM` offset.
pub const TIMESTAMP_PATTERN: &str = concat!(
    "^(",
    "[0-9]{4}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])",
    "|[0-9]{4}-(0[469]|11)-(0[1-9]|[12][0-9]|30)",
    "|[0-9]{4}-02-(0[1-9]|1[0-9]|2[0-8])",
    "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)-02-29",
    ")[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,9})?)?",
    "([Zz]|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$",
);

/// The schema of one event.
pub fn event_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "hookrelay event",
        "description": "One webhook event as hookrelay serve, send and validate accept it. \
            Members other than the four below are allowed and kept byte for byte.",
        "type": "object",
        "required": ["event_id", "timestamp", "event_type", "description"],
        "properties": {
            "event_id": {
                "description": "An integer in the signed 64-bit range.",
                "type": "integer",
                "minimum": i64::MIN,
                "maximum": i64::MAX
            },
            "timestamp": {
                "description": "An ISO 8601 / RFC 3339 date-time such as 2023-10-05T12:34:56; \
                    seconds, a fraction of 1-9 digits and an offset (Z, +02:00, +0200) are \
                    optional; T may be t or a space. Without an offset it is a local time.",
                "type": "string",
                "pattern": TIMESTAMP_PATTERN,
                "examples": ["2023-10-05T12:34:56", "2023-10-05T12:34:56.123Z", "2023-10-05 12:34+02:00"]
            },
            "event_type": {
                "description": "A non-empty string without the NUL character (U+0000), \
                    e.g. notification or order.paid.",
                "type": "string",
                "minLength": 1,
                "pattern": "^[^\\x00]*$"
            },
            "description": {
                "description": "A string; may be empty.",
                "type": "string"
            }
        },
        "additionalProperties": true,
        "examples": [{
            "event_id": 123,
            "timestamp": "2023-10-05T12:34:56",
            "event_type": "notification",
            "description": "Event description"
        }]
    })
}

pub fn run(_args: SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&event_schema())?;
    super::print_out(&format!("{text}\n"))?;
    Ok(super::exit(super::EXIT_OK))
}
