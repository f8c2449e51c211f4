//! How `schema:` violations word the value they are about: jsonschema's own messages with
//! the value shown in at most 40 characters, as the model's messages quote values (a long
//! string cut with its length, a large array or object by its kind and size), lists of
//! property names cut short, and every message and field bounded, so that a large body
//! failing a rule at its top level is described, not repeated in each message.

use jsonschema::ValidationError;
use jsonschema::json::{Array, Node, Object};
use serde_json::Value;

use super::tape::TapeNode;

/// The most characters of a value a message quotes, as the model's messages do.
const QUOTED: usize = 40;
/// The most unexpected property names a message lists.
const NAMES_LISTED: usize = 5;
/// The longest field reported, in bytes: a longer JSON Pointer is cut and ends in `…`.
const MAX_FIELD: usize = 256;
/// The longest message, in characters: a bound on what the schema's own values (a long
/// `const`, `enum` or `not`) add.
const MAX_MESSAGE: usize = 500;

/// The message of one violation: `jsonschema`'s words, with the value it is about shown as
/// `shown` rather than in full, and lists of property names cut short.
pub(super) fn message(error: &ValidationError<'_>, shown_value: &str) -> String {
    use jsonschema::error::ValidationErrorKind as Kind;
    let text = match error.kind() {
        Kind::AdditionalProperties { unexpected } => {
            format!(
                "Additional properties are not allowed ({})",
                names(unexpected)
            )
        }
        Kind::UnevaluatedProperties { unexpected } => {
            format!(
                "Unevaluated properties are not allowed ({})",
                names(unexpected)
            )
        }
        // The name that broke the rule, as that rule's own violation words it.
        Kind::PropertyNames { error } => message(error, &shown(error.instance())),
        _ => error.masked_with(shown_value).to_string(),
    };
    if text.chars().count() > MAX_MESSAGE {
        return format!("{}…", text.chars().take(MAX_MESSAGE).collect::<String>());
    }
    text
}

/// `'a', 'b' were unexpected`, at most [`NAMES_LISTED`] names, each cut short.
fn names(unexpected: &[String]) -> String {
    let listed: Vec<String> = unexpected
        .iter()
        .take(NAMES_LISTED)
        .map(|name| format!("'{}'", cut(name)))
        .collect();
    let more = match unexpected.len().saturating_sub(NAMES_LISTED) {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    let verb = if unexpected.len() == 1 { "was" } else { "were" };
    format!("{}{more} {verb} unexpected", listed.join(", "))
}

/// How a message shows a value: its JSON text when that is at most [`QUOTED`] characters
/// (as `jsonschema` writes it), otherwise a string's first [`QUOTED`] characters and its
/// length, or a container's kind and size.
pub(super) fn shown(value: &Value) -> String {
    if let Some(text) = short_json(value) {
        return text;
    }
    match value {
        Value::String(s) => {
            let head: String = s.chars().take(QUOTED).collect();
            let quoted = serde_json::to_string(&head).unwrap_or_default();
            let open = quoted.strip_suffix('"').unwrap_or(&quoted);
            format!("{open}…\" ({} characters)", s.chars().count())
        }
        Value::Array(items) => sized("an array", items.len(), "item", "items"),
        Value::Object(members) => sized("an object", members.len(), "property", "properties"),
        other => cut(&other.to_string()),
    }
}

/// [`shown`] without quoting a container, which holds a stand-in.
pub(super) fn sized_or_shown(value: &Value) -> String {
    match value {
        Value::Array(items) => sized("an array", items.len(), "item", "items"),
        Value::Object(members) => sized("an object", members.len(), "property", "properties"),
        other => shown(other),
    }
}

/// [`shown`] for a value of a tape that is or holds a number beyond a float's range, whose
/// stand-in is not to be quoted.
pub(super) fn shown_node(node: TapeNode<'_>) -> String {
    if let Some(text) = node.beyond() {
        return cut(text);
    }
    if let Some(items) = node.as_array() {
        return sized("an array", items.len(), "item", "items");
    }
    if let Some(members) = node.as_object() {
        return sized("an object", members.len(), "property", "properties");
    }
    shown(&node.value())
}

fn sized(kind: &str, n: usize, one: &str, many: &str) -> String {
    format!("{kind} of {n} {}", if n == 1 { one } else { many })
}

/// The compact JSON text of `value` when it is at most [`QUOTED`] characters; written
/// into a bounded buffer, so a large value costs no more than a small one.
fn short_json(value: &Value) -> Option<String> {
    struct Bounded(Vec<u8>);
    impl std::io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            // A character is at most 4 bytes: past this, the text is too long in any case.
            if self.0.len() + bytes.len() > QUOTED * 4 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Bounded(Vec::new());
    serde_json::to_writer(&mut out, value).ok()?;
    let text = String::from_utf8(out.0).ok()?;
    (text.chars().count() <= QUOTED).then_some(text)
}

/// `text`, or its first [`QUOTED`] characters and `…`.
pub(super) fn cut(text: &str) -> String {
    if text.chars().count() <= QUOTED {
        return text.to_string();
    }
    format!("{}…", text.chars().take(QUOTED).collect::<String>())
}

/// A JSON Pointer of at most [`MAX_FIELD`] bytes, cut at a character and ending in `…`
/// when longer.
pub(super) fn cut_field(pointer: &str) -> String {
    if pointer.len() <= MAX_FIELD {
        return pointer.to_string();
    }
    let mut end = MAX_FIELD;
    while !pointer.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &pointer[..end])
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_short_value_is_quoted_as_json_and_a_long_one_described() {
        assert_eq!(shown(&json!("1")), r#""1""#);
        assert_eq!(shown(&json!([1, 2])), "[1,2]");
        assert_eq!(shown(&json!({"a": 1})), r#"{"a":1}"#);
        let long = "é".repeat(50);
        assert_eq!(
            shown(&json!(long)),
            format!("\"{}…\" (50 characters)", "é".repeat(40))
        );
        assert_eq!(shown(&json!("\n".repeat(41))).matches("\\n").count(), 40);
        assert_eq!(shown(&json!(vec![1234567; 10])), "an array of 10 items");
        assert_eq!(
            shown(&json!({"a": "x".repeat(40)})),
            "an object of 1 property"
        );
    }

    #[test]
    fn names_fields_and_messages_are_bounded() {
        let many: Vec<String> = (0..7).map(|i| format!("n{i}")).collect();
        assert_eq!(
            names(&many),
            "'n0', 'n1', 'n2', 'n3', 'n4' and 2 more were unexpected"
        );
        assert_eq!(names(&many[..1]), "'n0' was unexpected");
        assert_eq!(cut_field("/a/b"), "/a/b");
        let deep = format!("/{}", "é".repeat(200));
        let field = cut_field(&deep);
        assert!(
            field.ends_with('…') && field.len() <= MAX_FIELD + '…'.len_utf8(),
            "{field}"
        );
        assert_eq!(cut(&"9".repeat(41)), format!("{}…", "9".repeat(40)));
    }
}
