//! `json` and `schema:FILE`: any JSON value, its id and type where `--id-from` and
//! `--type-from` point (`header:NAME` or a JSON Pointer such as `/data/id`). Without
//! `--id-from` each event gets a generated id; without `--type-from` its type is `json`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use http::header::{HeaderMap, HeaderName};
use serde_json::Value;

use super::beyond;
use super::schema::Schema;
use super::tape::Tape;
use super::{
    Identified, checked_id, checked_type, generated_id, header_text, id_of, problem, type_of,
};
use crate::model::{self, FieldError, Invalid};

/// The type of an event when no `--type-from` says where it is.
pub const DEFAULT_TYPE: &str = "json";

/// Where a value is: a request header, or a JSON Pointer (RFC 6901) into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    Header(HeaderName),
    Pointer(String),
}

/// Why a locator does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected header:NAME or a JSON Pointer starting with '/' (in which '~' is only ~0 or ~1), got {0:?}"
)]
pub struct LocatorError(pub String);

impl FromStr for Locator {
    type Err = LocatorError;

    fn from_str(text: &str) -> Result<Self, LocatorError> {
        if let Some(name) = text.strip_prefix("header:") {
            return HeaderName::try_from(name.trim())
                .map(Locator::Header)
                .map_err(|_| LocatorError(text.to_string()));
        }
        // RFC 6901: in a token, `~` only begins `~0` (for `~`) or `~1` (for `/`).
        let escapes_ok = || {
            text.split('~')
                .skip(1)
                .all(|after| after.starts_with(['0', '1']))
        };
        if text.starts_with('/') && escapes_ok() {
            return Ok(Locator::Pointer(text.to_string()));
        }
        Err(LocatorError(text.to_string()))
    }
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::Header(name) => write!(f, "header:{name}"),
            Locator::Pointer(pointer) => f.write_str(pointer),
        }
    }
}

/// Where `json` and `schema:` sources find an event's id and type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub id_from: Option<Locator>,
    pub type_from: Option<Locator>,
}

/// What a JSON Pointer into the body found.
enum Pointed<'v> {
    Value(Cow<'v, Value>),
    /// A number beyond the range of a 64-bit float, as written; no `Value` holds it.
    Beyond(&'v str),
}

/// Reads a `json` request, or a `schema:` one when `schema` is given: every violation of
/// the schema and every missing id or type, all at once.
pub(super) fn read(
    rules: &Rules,
    schema: Option<&Schema>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Identified, Invalid> {
    // Most bodies read into a tape (no allocation per string, no hashed map per object);
    // the rest, and every malformed one, through serde_json.
    if let Some(tape) = Tape::parse(body) {
        let root = tape.root();
        let problems = schema
            .map(|s| s.problems_on_tape(&tape))
            .unwrap_or_default();
        let find = |pointer: &str| {
            root.pointer(pointer).map(|node| match node.beyond() {
                Some(text) => Pointed::Beyond(text),
                None => Pointed::Value(Cow::Owned(node.value())),
            })
        };
        return identified(rules, headers, problems, &find);
    }
    let (value, beyond) = parsed(body)?;
    let problems = match schema {
        None => Vec::new(),
        Some(schema) if beyond.is_empty() => schema.problems(&value),
        Some(schema) => {
            let places: Vec<(String, String)> = beyond
                .iter()
                .map(|b| (b.pointer.clone(), b.text.clone()))
                .collect();
            schema.problems_without(&value, &places)
        }
    };
    let find = |pointer: &str| {
        let found = pointed(&value, pointer)?;
        // The null in a number's place, not a null of the body's.
        let number = beyond.iter().find(|b| b.pointer == pointer);
        Some(match number {
            Some(number) if found.is_null() => Pointed::Beyond(number.text.as_str()),
            _ => Pointed::Value(Cow::Borrowed(found)),
        })
    };
    identified(rules, headers, problems, &find)
}

/// The body as `serde_json` reads it, parsed once, straight from the bytes, with the
/// numbers beyond a float's range it holds, read as `null` in their place (`serde_json`
/// refuses them); malformed JSON is refused as the model's JSON checks word it.
fn parsed(body: &[u8]) -> Result<(Value, Vec<beyond::Beyond>), Invalid> {
    let error = match serde_json::from_slice::<Value>(body) {
        Ok(value) => return Ok((value, Vec::new())),
        Err(error) => error,
    };
    let text = model::json_text(body)?;
    let mut beyond = beyond::find(text);
    let value: Option<Value> = (!beyond.is_empty())
        .then(|| serde_json::from_str(&beyond::replaced(text, &beyond)).ok())
        .flatten();
    let Some(value) = value else {
        return Err(Invalid::Fields(vec![problem("", error.to_string())]));
    };
    // Of a name written twice, serde_json keeps the last value: a number counts where its
    // null stayed, the last one written at its place.
    let mut seen = std::collections::HashSet::new();
    beyond.reverse();
    beyond.retain(|b| {
        pointed(&value, &b.pointer).is_some_and(Value::is_null) && seen.insert(b.pointer.clone())
    });
    beyond.reverse();
    Ok((value, beyond))
}

/// The event's id and type where `rules` say, with `problems` (the schema's) and any of
/// their own; `find` follows a JSON Pointer into the body.
fn identified<'v>(
    rules: &Rules,
    headers: &HeaderMap,
    mut problems: Vec<FieldError>,
    find: &dyn Fn(&str) -> Option<Pointed<'v>>,
) -> Result<Identified, Invalid> {
    let id = match &rules.id_from {
        None => Ok(generated_id()),
        Some(locator) => locate(
            locator,
            headers,
            find,
            (
                id_of,
                "a string or an integer",
                ": send such an id as a JSON string",
            ),
            checked_id,
        ),
    };
    let event_type = match &rules.type_from {
        None => Ok(DEFAULT_TYPE.to_string()),
        Some(locator) => locate(
            locator,
            headers,
            find,
            (type_of, "a string", ""),
            |field, text| checked_type(field, text).map(str::to_string),
        ),
    };
    let id = id.map_err(|e| problems.push(e)).ok();
    let event_type = event_type.map_err(|e| problems.push(e)).ok();
    match (id, event_type) {
        (Some(id), Some(event_type)) if problems.is_empty() => Ok(Identified {
            id,
            event_type,
            event_id: None,
        }),
        _ => Err(Invalid::Fields(problems)),
    }
}

/// How a value found in the body is judged; for a number no `Value` holds, what was
/// expected and a hint.
type OfValue = (
    fn(&str, Option<&Value>) -> Result<String, FieldError>,
    &'static str,
    &'static str,
);

/// The value `locator` points at, judged by `of_value` (in the body) or `of_header`.
fn locate<'v>(
    locator: &Locator,
    headers: &HeaderMap,
    find: &dyn Fn(&str) -> Option<Pointed<'v>>,
    (of_value, expected, hint): OfValue,
    of_header: impl Fn(&str, &str) -> Result<String, FieldError>,
) -> Result<String, FieldError> {
    match locator {
        Locator::Pointer(pointer) => match find(pointer) {
            Some(Pointed::Beyond(text)) => Err(problem(
                pointer.as_str(),
                format!(
                    "expected {expected}, got number {}, beyond the range of a 64-bit \
                     float{hint}",
                    super::describe_number(text)
                ),
            )),
            Some(Pointed::Value(value)) => of_value(pointer, Some(&value)),
            None => of_value(pointer, None),
        },
        Locator::Header(name) => match header_text(headers, name) {
            Some(text) => of_header(&locator.to_string(), text),
            None => Err(problem(
                locator.to_string(),
                super::no_header_text(headers, name.as_str()),
            )),
        },
    }
}

/// `value.pointer(pointer)`, without the copy `serde_json` makes of every token: only a
/// token with an escape (`~0`, `~1`) is unescaped.
fn pointed<'v>(value: &'v Value, pointer: &str) -> Option<&'v Value> {
    if pointer.contains('~') {
        return value.pointer(pointer);
    }
    let mut target = value;
    for token in pointer.strip_prefix('/')?.split('/') {
        target = match target {
            Value::Object(map) => map.get(token)?,
            Value::Array(list) => {
                let leading_zero = token.len() > 1 && token.starts_with('0');
                if leading_zero || token.starts_with('+') {
                    return None;
                }
                list.get(token.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    Some(target)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn pointers_find_what_serde_json_s_pointer_finds() {
        let value = json!({"a": {"b": [10, {"c": "d"}], "": 1, "x/y": 2, "m~n": 3}, "0": 4});
        for pointer in [
            "/a",
            "/a/b",
            "/a/b/0",
            "/a/b/1/c",
            "/a/b/01",
            "/a/b/+1",
            "/a/b/2",
            "/a/",
            "/0",
            "/a/x~1y",
            "/a/m~0n",
            "/nope",
            "/a/b/1/c/d",
            "/a/b/-",
        ] {
            assert_eq!(
                super::pointed(&value, pointer),
                value.pointer(pointer),
                "{pointer}"
            );
        }
    }
}
