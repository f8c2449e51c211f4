//! Numbers beyond the range of a 64-bit float (`1e400`: valid JSON, which `serde_json`
//! refuses as "number out of range") in a body that the tape (`tape.rs`) leaves to
//! `serde_json`: found with their JSON Pointers, and replaced by `null` so that
//! `serde_json` reads the rest. Only `json` and `schema:` bodies with a key written twice
//! or nested deeper than the tape goes come here, and only when `serde_json` refused them.

use std::ops::Range;

use serde_json::Number;

/// One number beyond a float's range: where it is and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beyond {
    pub pointer: String,
    pub text: String,
    range: Range<usize>,
}

/// Where a value sits: in an object under a name, or in an array at an index.
enum Frame {
    Object(String),
    Array(usize),
}

/// Every number of `text`, well-formed JSON, that `serde_json` cannot hold.
pub fn find(text: &str) -> Vec<Beyond> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut found = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'{' => {
                stack.push(Frame::Object(String::new()));
                at += 1;
            }
            b'[' => {
                stack.push(Frame::Array(0));
                at += 1;
            }
            b'}' | b']' => {
                stack.pop();
                at += 1;
            }
            b',' => {
                if let Some(Frame::Array(index)) = stack.last_mut() {
                    *index += 1;
                }
                at += 1;
            }
            b'"' => {
                let end = string_end(bytes, at);
                let after = end
                    + bytes[end..]
                        .iter()
                        .take_while(|b| b.is_ascii_whitespace())
                        .count();
                // A string followed by `:` is a member's name.
                if bytes.get(after) == Some(&b':') {
                    if let Some(Frame::Object(name)) = stack.last_mut() {
                        *name = serde_json::from_str(&text[at..end]).unwrap_or_default();
                    }
                    at = after + 1;
                } else {
                    at = end;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = at;
                if super::scan::number_at(bytes, &mut at).is_none() {
                    break;
                }
                let literal = &text[start..at];
                if serde_json::from_str::<Number>(literal).is_err() {
                    found.push(Beyond {
                        pointer: pointer(&stack),
                        text: literal.to_string(),
                        range: start..at,
                    });
                }
            }
            // Whitespace, `:` and the letters of true, false and null.
            _ => at += 1,
        }
    }
    found
}

/// `text` with each of `found` (in the order [`find`] gives) replaced by `null`.
pub fn replaced(text: &str, found: &[Beyond]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    for beyond in found {
        out.push_str(&text[from..beyond.range.start]);
        out.push_str("null");
        from = beyond.range.end;
    }
    out.push_str(&text[from..]);
    out
}

/// The index after the string that opens at `bytes[start]`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => return at + 1,
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    bytes.len()
}

fn pointer(stack: &[Frame]) -> String {
    let mut pointer = String::new();
    for frame in stack {
        pointer.push('/');
        match frame {
            Frame::Object(name) => pointer.push_str(&name.replace('~', "~0").replace('/', "~1")),
            Frame::Array(index) => pointer.push_str(&index.to_string()),
        }
    }
    pointer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_beyond_a_float_are_found_at_their_pointers_and_replaced() {
        let text =
            r#"{"a": [1, -1e400, {"x~/y": 2e999}], "s": "1e400, \"q\"", "a": 1E+400, "n": 1e308}"#;
        let found = find(text);
        let places: Vec<(&str, &str)> = found
            .iter()
            .map(|b| (b.pointer.as_str(), b.text.as_str()))
            .collect();
        assert_eq!(
            places,
            [
                ("/a/1", "-1e400"),
                ("/a/2/x~0~1y", "2e999"),
                ("/a", "1E+400")
            ]
        );
        assert_eq!(
            replaced(text, &found),
            r#"{"a": [1, null, {"x~/y": null}], "s": "1e400, \"q\"", "a": null, "n": 1e308}"#
        );
        assert!(find(r#"[1, 2.5, -0, 1e-400, "1e400"]"#).is_empty());
    }
}
