//! A JSON body read into one flat list of entries (a tape) whose strings stay in the body,
//! for `json` and `schema:FILE`: what a `serde_json::Value` would hold, without an
//! allocation per string and a hashed map per object. The `jsonschema` crate validates it
//! in place through its `Json` traits (a representation of our own, as its documentation
//! describes), and `--id-from`/`--type-from` pointers are followed on it.
//!
//! [`Tape::parse`] takes exactly the bodies `serde_json` reads into the same value, and
//! only those, plus one thing `serde_json` refuses: a number beyond the range of a 64-bit
//! float (`1e400`), which is valid JSON. The tape keeps its text; the validator, which cannot
//! hold it, is shown a stand-in, and every time it reads that number's value (a bound, an
//! integer check, `enum`, `const`, `uniqueItems`) the number is marked, so the schema's
//! verdict is trusted only when no such number was read ([`Tape::touched`]). Anything else
//! it does not handle the same way (malformed JSON, an object with a key written twice,
//! nesting deeper than [`MAX_DEPTH`]) is `None`, and the caller parses the body with
//! `serde_json` instead, which decides and words the refusal.

use std::borrow::Cow;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::scan::Scan;
use jsonschema::JsonType;
use jsonschema::json::{Array, Json, Node, NodeIdentity, Object};
use serde_json::{Number, Value};

/// The deepest nesting the tape takes; deeper bodies go to `serde_json` (whose own limit
/// is 128).
pub const MAX_DEPTH: usize = 100;

/// A parsed JSON text: entries in document order, a container followed by its members
/// (an object's as name, value, name, value, …).
#[derive(Default)]
pub struct Tape<'b> {
    text: &'b str,
    /// Strings that had escapes, unescaped.
    unescaped: String,
    entries: Vec<Entry>,
    /// The entries that are [`Entry::Beyond`], in document order.
    beyond: Vec<u32>,
    /// For each of `beyond`: whether the validator has read its value.
    touched: Box<[AtomicBool]>,
}

#[derive(Debug, Clone, PartialEq)]
enum Entry {
    Null,
    Bool(bool),
    Number(Number),
    /// A number beyond the range of a 64-bit float, its text at `start..start + len` of the
    /// body.
    Beyond {
        start: u32,
        len: u32,
    },
    /// The text at `start..start + len` of the body, or of `unescaped` when `escaped`.
    Str {
        start: u32,
        len: u32,
        escaped: bool,
    },
    /// `len` elements; `end` is the index after the last entry of the array.
    Array {
        len: u32,
        end: u32,
    },
    /// `len` members; `end` is the index after the last entry of the object.
    Object {
        len: u32,
        end: u32,
    },
}

impl<'b> Tape<'b> {
    /// The tape of `body`, or `None` when `serde_json` is to read it (see the module's doc).
    pub fn parse(body: &'b [u8]) -> Option<Self> {
        let text = std::str::from_utf8(body).ok()?;
        u32::try_from(text.len()).ok()?;
        let mut parser = Parser {
            tape: Tape {
                text,
                unescaped: String::new(),
                // Room for every entry of the usual object (a member takes at least
                // 6 bytes, `"a":1,`, for two entries): growing it would copy them all.
                entries: Vec::with_capacity(body.len() / 3 + 2),
                ..Tape::default()
            },
            cur: Scan { text, at: 0 },
            name_hash: 0,
        };
        parser.cur.whitespace();
        parser.value(0)?;
        parser.cur.whitespace();
        let mut tape = parser.tape;
        tape.touched = tape.beyond.iter().map(|_| AtomicBool::new(false)).collect();
        (parser.cur.at == text.len()).then_some(tape)
    }

    /// Whether the body holds a number beyond the range of a 64-bit float.
    pub fn has_beyond(&self) -> bool {
        !self.beyond.is_empty()
    }

    /// The numbers beyond a 64-bit float's range whose value the validator has read, each as
    /// its JSON Pointer and its text.
    pub fn touched(&self) -> Vec<(String, &str)> {
        self.beyond
            .iter()
            .zip(&self.touched)
            .filter(|(_, touched)| touched.load(Ordering::Relaxed))
            .map(|(&at, _)| {
                let node = TapeNode {
                    tape: self,
                    at: at as usize,
                };
                (
                    self.pointer_to(at as usize),
                    node.beyond().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Whether the validator has read the value of a number beyond a float's range.
    pub fn any_touched(&self) -> bool {
        self.touched.iter().any(|t| t.load(Ordering::Relaxed))
    }

    /// Marks the numbers beyond a float's range among entries `from..to` as read.
    fn touch(&self, from: usize, to: usize) {
        let first = self.beyond.partition_point(|&at| (at as usize) < from);
        for (at, touched) in self.beyond[first..].iter().zip(&self.touched[first..]) {
            if *at as usize >= to {
                break;
            }
            touched.store(true, Ordering::Relaxed);
        }
    }

    /// Whether entries `from..to` hold a number beyond a float's range.
    fn holds_beyond(&self, from: usize, to: usize) -> bool {
        let first = self.beyond.partition_point(|&at| (at as usize) < from);
        self.beyond.get(first).is_some_and(|&at| (at as usize) < to)
    }

    /// The JSON Pointer of entry `target` (a value, not a member's name).
    fn pointer_to(&self, target: usize) -> String {
        let mut pointer = String::new();
        let mut node = self.root();
        while node.at != target {
            let within = |child: &TapeNode<'_>| (child.at..self.after(child.at)).contains(&target);
            let (token, child) = match node.entry() {
                Entry::Object { .. } => match node.members().find(|(_, v)| within(v)) {
                    Some((name, value)) => (name.replace('~', "~0").replace('/', "~1"), value),
                    None => break,
                },
                Entry::Array { .. } => match node.elements().enumerate().find(|(_, v)| within(v)) {
                    Some((index, value)) => (index.to_string(), value),
                    None => break,
                },
                _ => break,
            };
            pointer.push('/');
            pointer.push_str(&token);
            node = child;
        }
        pointer
    }

    /// The top-level value.
    pub fn root(&self) -> TapeNode<'_> {
        TapeNode { tape: self, at: 0 }
    }

    fn text(&self, start: u32, len: u32, escaped: bool) -> &str {
        let range = start as usize..(start + len) as usize;
        let whole = if escaped {
            self.unescaped.as_str()
        } else {
            self.text
        };
        debug_assert!(whole.is_char_boundary(range.start) && whole.is_char_boundary(range.end));
        match whole.as_bytes().get(range) {
            // SAFETY: every `Str` range is cut by the parser between ASCII quotes of the body
            // or around whole `str`s pushed onto `unescaped`, so both ends are character
            // boundaries of valid UTF-8 (checked in debug builds above).
            Some(bytes) => unsafe { std::str::from_utf8_unchecked(bytes) },
            None => "",
        }
    }

    /// The index after entry `at` and everything inside it.
    fn after(&self, at: usize) -> usize {
        match self.entries[at] {
            Entry::Array { end, .. } | Entry::Object { end, .. } => end as usize,
            _ => at + 1,
        }
    }
}

struct Parser<'b> {
    tape: Tape<'b>,
    cur: Scan<'b>,
    /// [`name_hash`] of the last string read, for an object's duplicate-name check.
    name_hash: u32,
}

impl<'b> Parser<'b> {
    fn push(&mut self, entry: Entry) -> usize {
        self.tape.entries.push(entry);
        self.tape.entries.len() - 1
    }

    /// One value at nesting `depth`, whitespace before it already skipped.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.cur.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(drop),
            b't' => self.literal("true", Entry::Bool(true)),
            b'f' => self.literal("false", Entry::Bool(false)),
            b'n' => self.literal("null", Entry::Null),
            _ => self.number(),
        }
    }

    fn literal(&mut self, word: &str, entry: Entry) -> Option<()> {
        let text: &'b str = self.tape.text;
        let rest = &text.as_bytes()[self.cur.at..];
        rest.starts_with(word.as_bytes()).then_some(())?;
        self.cur.at += word.len();
        self.push(entry);
        Some(())
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.cur.at += 1;
        let at = self.push(Entry::Object { len: 0, end: 0 });
        // One bit per name by a cheap hash: a name whose bit is already set is compared
        // with the names before it, and a name written twice goes to serde_json, which
        // keeps the last value where the first was.
        let mut seen = 0u64;
        let mut len = 0u32;
        self.cur.whitespace();
        if self.cur.peek() == Some(b'}') {
            self.cur.at += 1;
        } else {
            loop {
                self.cur.whitespace();
                if self.cur.peek() != Some(b'"') {
                    return None;
                }
                let name = self.string()?;
                let bit = 1u64 << (self.name_hash & 63);
                if seen & bit != 0 && self.written_before(at, name) {
                    return None;
                }
                seen |= bit;
                self.cur.whitespace();
                self.cur.byte(b':')?;
                self.cur.whitespace();
                self.value(depth + 1)?;
                len += 1;
                self.cur.whitespace();
                match self.cur.next()? {
                    b',' => continue,
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        let end = u32::try_from(self.tape.entries.len()).ok()?;
        self.tape.entries[at] = Entry::Object { len, end };
        Some(())
    }

    fn name(&self, entry: usize) -> &str {
        match self.tape.entries[entry] {
            Entry::Str {
                start,
                len,
                escaped,
            } => self.tape.text(start, len, escaped),
            _ => unreachable!("a member's name is a string"),
        }
    }

    /// Whether the name at entry `name` is one of the names before it in the object at
    /// entry `object`.
    fn written_before(&self, object: usize, name: usize) -> bool {
        let text = self.name(name);
        let mut member = object + 1;
        while member < name {
            if self.name(member) == text {
                return true;
            }
            member = self.tape.after(member + 1);
        }
        false
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.cur.at += 1;
        let at = self.push(Entry::Array { len: 0, end: 0 });
        let mut len = 0u32;
        self.cur.whitespace();
        if self.cur.peek() == Some(b']') {
            self.cur.at += 1;
        } else {
            loop {
                self.cur.whitespace();
                self.value(depth + 1)?;
                len += 1;
                self.cur.whitespace();
                match self.cur.next()? {
                    b',' => continue,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        let end = u32::try_from(self.tape.entries.len()).ok()?;
        self.tape.entries[at] = Entry::Array { len, end };
        Some(())
    }

    /// A string (at its opening quote): its entry's index.
    fn string(&mut self) -> Option<usize> {
        self.cur.byte(b'"')?;
        let text: &'b str = self.tape.text;
        let bytes = text.as_bytes();
        let start = self.cur.at;
        let plain = crate::words::string_stop(&bytes[start..])?;
        let stop = start + plain;
        if bytes[stop] == b'"' {
            self.cur.at = stop + 1;
            self.name_hash = name_hash(&bytes[start..stop]);
            // Positions fit in u32: the body's length was checked.
            return Some(self.push(Entry::Str {
                start: start as u32,
                len: plain as u32,
                escaped: false,
            }));
        }
        if bytes[stop] != b'\\' {
            return None;
        }
        // With escapes: the text unescaped into `unescaped`.
        let from = self.tape.unescaped.len();
        self.tape.unescaped.push_str(&text[start..stop]);
        self.cur.at = stop;
        loop {
            match self.cur.next()? {
                b'"' => break,
                b'\\' => {
                    let c = match self.cur.next()? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    self.tape.unescaped.push(c);
                }
                b if b < 0x20 => return None,
                _ => {
                    // A run of plain text, copied whole (it starts on a character boundary:
                    // every stop above is an ASCII byte).
                    let run_start = self.cur.at - 1;
                    let run = crate::words::string_stop(&bytes[self.cur.at..])?;
                    self.cur.at += run;
                    self.tape.unescaped.push_str(&text[run_start..self.cur.at]);
                }
            }
        }
        let len = self.tape.unescaped.len() - from;
        self.name_hash = name_hash(&self.tape.unescaped.as_bytes()[from..]);
        Some(self.push(Entry::Str {
            start: u32::try_from(from).ok()?,
            len: u32::try_from(len).ok()?,
            escaped: true,
        }))
    }

    /// The character of a `\u` escape (after the `u`), a surrogate pair taken whole; a lone
    /// surrogate is `None`, as `serde_json` refuses it.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        match first {
            0xD800..=0xDBFF => {
                self.cur.byte(b'\\')?;
                self.cur.byte(b'u')?;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return None;
                }
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                char::from_u32(code)
            }
            0xDC00..=0xDFFF => None,
            code => char::from_u32(code),
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = char::from(self.cur.next()?).to_digit(16)?;
            code = code * 16 + digit;
        }
        Some(code)
    }

    /// A number as `serde_json` reads it: an integer literal that fits as `u64` (or `i64`
    /// when negative) as that, anything else through `serde_json` itself; one `serde_json`
    /// refuses, beyond a float's range, as its text.
    fn number(&mut self) -> Option<()> {
        let start = self.cur.at;
        let integer = super::scan::number_at(self.cur.text.as_bytes(), &mut self.cur.at)?;
        let whole: &'b str = self.tape.text;
        let text = &whole[start..self.cur.at];
        let number = match (integer, text.strip_prefix('-')) {
            (true, None) => text.parse::<u64>().ok().map(Number::from),
            // `-0` is the float -0.0 to serde_json.
            (true, Some(_)) => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n != 0)
                .map(Number::from),
            (false, _) => None,
        };
        match number.or_else(|| serde_json::from_str::<Number>(text).ok()) {
            Some(number) => self.push(Entry::Number(number)),
            // The grammar was checked: what serde_json refuses of it is a number out of range.
            None => {
                let at = self.push(Entry::Beyond {
                    start: start as u32,
                    len: text.len() as u32,
                });
                self.tape.beyond.push(at as u32);
                at
            }
        };
        Some(())
    }
}

/// A cheap hash of a member's name, for telling most names apart without comparing them.
fn name_hash(bytes: &[u8]) -> u32 {
    let first = bytes.first().copied().unwrap_or(0) as u32;
    let last = bytes.last().copied().unwrap_or(0) as u32;
    (bytes.len() as u32)
        .wrapping_mul(7)
        .wrapping_add(last.wrapping_mul(13))
        .wrapping_add(first)
}

/// One value of a [`Tape`].
#[derive(Clone, Copy)]
pub struct TapeNode<'a> {
    tape: &'a Tape<'a>,
    at: usize,
}

impl<'a> TapeNode<'a> {
    fn entry(&self) -> &'a Entry {
        &self.tape.entries[self.at]
    }

    /// The text of a string.
    pub fn str(&self) -> Option<&'a str> {
        match *self.entry() {
            Entry::Str {
                start,
                len,
                escaped,
            } => Some(self.tape.text(start, len, escaped)),
            _ => None,
        }
    }

    /// The text of a number beyond the range of a 64-bit float.
    pub fn beyond(&self) -> Option<&'a str> {
        match *self.entry() {
            Entry::Beyond { start, len } => Some(self.tape.text(start, len, false)),
            _ => None,
        }
    }

    /// Whether the value is or holds a number beyond the range of a 64-bit float.
    pub fn holds_beyond(&self) -> bool {
        self.tape.has_beyond() && self.tape.holds_beyond(self.at, self.tape.after(self.at))
    }

    /// The value a JSON Pointer (RFC 6901) points at, as `serde_json::Value::pointer` finds it.
    pub fn pointer(&self, pointer: &str) -> Option<TapeNode<'a>> {
        if pointer.is_empty() {
            return Some(*self);
        }
        let mut target = *self;
        for token in pointer.strip_prefix('/')?.split('/') {
            let token: Cow<'_, str> = if token.contains('~') {
                Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
            } else {
                Cow::Borrowed(token)
            };
            target = match *target.entry() {
                Entry::Object { .. } => target.members().find(|(name, _)| *name == token)?.1,
                Entry::Array { len, .. } => {
                    let leading_zero = token.len() > 1 && token.starts_with('0');
                    if leading_zero || token.starts_with('+') {
                        return None;
                    }
                    let index = token.parse::<usize>().ok()?;
                    if index >= len as usize {
                        return None;
                    }
                    target.elements().nth(index)?
                }
                _ => return None,
            };
        }
        Some(target)
    }

    /// The value as `serde_json` holds it; a number beyond a float's range as its stand-in
    /// (the largest float, with its sign).
    pub fn value(&self) -> Value {
        match self.entry() {
            Entry::Null => Value::Null,
            Entry::Bool(b) => Value::Bool(*b),
            Entry::Number(n) => Value::Number(n.clone()),
            Entry::Beyond { .. } => Value::Number(self.stand_in().clone()),
            Entry::Str { .. } => Value::String(self.str().unwrap_or_default().to_string()),
            Entry::Array { .. } => Value::Array(self.elements().map(|e| e.value()).collect()),
            Entry::Object { .. } => Value::Object(
                self.members()
                    .map(|(name, value)| (name.to_string(), value.value()))
                    .collect(),
            ),
        }
    }

    /// What the validator is shown for a number beyond a float's range: the largest float,
    /// with the number's sign.
    fn stand_in(&self) -> &'static Number {
        static STAND_INS: LazyLock<[Number; 2]> = LazyLock::new(|| {
            [f64::MAX, f64::MIN].map(|f| Number::from_f64(f).expect("a finite float"))
        });
        let negative = self.beyond().is_some_and(|text| text.starts_with('-'));
        &STAND_INS[usize::from(negative)]
    }

    fn members(&self) -> Members<'a> {
        let end = match *self.entry() {
            Entry::Object { end, .. } => end as usize,
            _ => self.at + 1,
        };
        Members {
            tape: self.tape,
            at: self.at + 1,
            end,
        }
    }

    fn elements(&self) -> Elements<'a> {
        let end = match *self.entry() {
            Entry::Array { end, .. } => end as usize,
            _ => self.at + 1,
        };
        Elements {
            tape: self.tape,
            at: self.at + 1,
            end,
        }
    }
}

/// An object's members, in document order.
pub struct Members<'a> {
    tape: &'a Tape<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a str, TapeNode<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let name = TapeNode {
            tape: self.tape,
            at: self.at,
        }
        .str()?;
        let value = TapeNode {
            tape: self.tape,
            at: self.at + 1,
        };
        self.at = self.tape.after(self.at + 1);
        Some((name, value))
    }
}

/// An array's elements.
pub struct Elements<'a> {
    tape: &'a Tape<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = TapeNode<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let node = TapeNode {
            tape: self.tape,
            at: self.at,
        };
        self.at = self.tape.after(self.at);
        Some(node)
    }
}

/// The tape as a JSON representation the `jsonschema` crate validates.
pub struct TapeJson;

impl Json for TapeJson {
    type Node<'a> = TapeNode<'a>;
    type PreparedKey = String;
    type StringBuffer = Tape<'static>;

    // A lookup is a pass over the members, so one pass for several names is never worse.
    const KEYS_PER_LOOKUP: usize = 64;
    const ACYCLIC: bool = true;

    fn prepare_key(key: &str) -> String {
        key.to_owned()
    }

    fn with_string_node<T>(
        buffer: &mut Tape<'static>,
        string: &str,
        f: impl FnOnce(TapeNode<'_>) -> T,
    ) -> T {
        buffer.unescaped.clear();
        buffer.unescaped.push_str(string);
        buffer.entries.clear();
        buffer.entries.push(Entry::Str {
            start: 0,
            len: u32::try_from(string.len()).unwrap_or(u32::MAX),
            escaped: true,
        });
        f(buffer.root())
    }
}

impl<'a> Node<'a, TapeJson> for TapeNode<'a> {
    type Object = TapeObject<'a>;
    type Array = TapeArray<'a>;
    type Number = &'a Number;

    fn as_object(&self) -> Option<TapeObject<'a>> {
        match *self.entry() {
            Entry::Object { len, .. } => Some(TapeObject {
                node: *self,
                len: len as usize,
            }),
            _ => None,
        }
    }

    fn as_array(&self) -> Option<TapeArray<'a>> {
        match *self.entry() {
            Entry::Array { len, .. } => Some(TapeArray {
                node: *self,
                len: len as usize,
            }),
            _ => None,
        }
    }

    fn as_string(&self) -> Option<Cow<'a, str>> {
        self.str().map(Cow::Borrowed)
    }

    fn as_number(&self) -> Option<&'a Number> {
        match self.entry() {
            Entry::Number(n) => Some(n),
            Entry::Beyond { .. } => {
                self.tape.touch(self.at, self.at + 1);
                Some(self.stand_in())
            }
            _ => None,
        }
    }

    // Exact for a number beyond a float's range too: its type is not its value.
    fn is_number(&self) -> bool {
        matches!(self.entry(), Entry::Number(_) | Entry::Beyond { .. })
    }

    fn equals_value(&self, expected: &Value) -> bool {
        if self.tape.has_beyond() {
            self.tape.touch(self.at, self.tape.after(self.at));
        }
        jsonschema::json::cmp::equal(&self.to_value(), expected)
    }

    fn as_boolean(&self) -> Option<bool> {
        match self.entry() {
            Entry::Bool(b) => Some(*b),
            _ => None,
        }
    }

    fn is_null(&self) -> bool {
        matches!(self.entry(), Entry::Null)
    }

    fn json_type(&self) -> JsonType {
        match self.entry() {
            Entry::Null => JsonType::Null,
            Entry::Bool(_) => JsonType::Boolean,
            Entry::Number(_) | Entry::Beyond { .. } => JsonType::Number,
            Entry::Str { .. } => JsonType::String,
            Entry::Array { .. } => JsonType::Array,
            Entry::Object { .. } => JsonType::Object,
        }
    }

    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(self.value())
    }

    fn identity(&self) -> Option<NodeIdentity> {
        Some(NodeIdentity::new(std::ptr::from_ref(self.entry()) as usize))
    }
}

/// An object of a tape.
pub struct TapeObject<'a> {
    node: TapeNode<'a>,
    len: usize,
}

impl<'a> Object<'a, TapeJson> for TapeObject<'a> {
    type Node = TapeNode<'a>;
    type MemberName = &'a str;
    type MembersIter = Members<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn get(&self, key: &String) -> Option<TapeNode<'a>> {
        self.node
            .members()
            .find(|(name, _)| *name == key.as_str())
            .map(|(_, value)| value)
    }

    fn members(&self) -> Members<'a> {
        self.node.members()
    }
}

/// An array of a tape.
pub struct TapeArray<'a> {
    node: TapeNode<'a>,
    len: usize,
}

impl<'a> Array<'a, TapeJson> for TapeArray<'a> {
    type Node = TapeNode<'a>;
    type ElementsIter = Elements<'a>;

    fn len(&self) -> usize {
        self.len
    }

    fn elements(&self) -> Elements<'a> {
        self.node.elements()
    }

    fn is_unique(&self) -> bool {
        let tape = self.node.tape;
        if tape.has_beyond() {
            tape.touch(self.node.at, tape.after(self.node.at));
        }
        let values: Vec<Cow<'a, Value>> = self.elements().map(|e| e.to_value()).collect();
        jsonschema::json::unique::is_unique(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bodies the tape must read exactly as `serde_json` does, or leave to it.
    const BODIES: &[&str] = &[
        r#"{"id": "r-1", "f1": "v1", "f2": 2, "nested": {"a": [1, 2.5, -3, true, null, {}], "b": []}}"#,
        r#"{"s": "tab\there \"quoted\" \\ \/ \b\f\n\r \u00e9\u2713 \ud83d\ude00 end"}"#,
        r#"{"n": [0, -0, 1.0, -1.5e3, 1E2, 18446744073709551615, 18446744073709551616, -9223372036854775808, -9223372036854775809, 0.1, 1e-7, 123456789012345678901234567890]}"#,
        r#"  [ "a" , { } , [ ] ]  "#,
        r#""a string""#,
        "12",
        "-0",
        "true",
        "null",
        "{}",
        r#"{"é✓": "ü", "": ""}"#,
        r#"{"a": 1, "a": 2}"#,
        r#"{"a": 1, "b": {"a": 1}, "a": 3}"#,
        r#"{"x": {"ab": 1, "ba": 2, "abc": 3, "ab": 4}}"#,
        r#"{"a": "\ud800"}"#,
        r#"{"a": "\udc00x"}"#,
        r#"{"a": "\x"}"#,
        r#"{"a": 1e400}"#,
        r#"{"a": 01}"#,
        r#"{"a": 1.}"#,
        r#"{"a": -}"#,
        r#"{"a": tru}"#,
        r#"{"a": 1,}"#,
        r#"[1,]"#,
        r#"{"a" 1}"#,
        r#"{"a": 1} x"#,
        "",
        "   ",
        "{\"a\": \"line\nbreak\"}",
    ];

    #[test]
    fn the_tape_holds_what_serde_json_holds_or_leaves_the_body_to_it() {
        for body in BODIES {
            let serde: Option<Value> = serde_json::from_str(body).ok();
            let tape = Tape::parse(body.as_bytes());
            match (&serde, &tape) {
                (Some(value), Some(tape)) => assert_eq!(&tape.root().value(), value, "{body}"),
                // The one thing serde_json refuses that is JSON: a number out of its range.
                (None, Some(tape)) => assert!(tape.has_beyond(), "the tape took {body}"),
                (_, None) => {}
            }
        }
        // The plain bodies are the tape's to read.
        for body in &BODIES[..11] {
            assert!(Tape::parse(body.as_bytes()).is_some(), "{body}");
        }
        // Keys written twice go to serde_json.
        for body in &BODIES[11..14] {
            assert!(Tape::parse(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn a_number_beyond_a_float_is_kept_as_written_and_marked_when_its_value_is_read() {
        let body = r#"{"a": [1, -1e400], "b": {"c": 2E+999}, "d": 123456789012345678901234567890}"#;
        let tape = Tape::parse(body.as_bytes()).expect("valid JSON");
        let root = tape.root();
        let minus = root.pointer("/a/1").unwrap();
        assert_eq!(minus.beyond(), Some("-1e400"));
        assert_eq!(root.pointer("/b/c").unwrap().beyond(), Some("2E+999"));
        assert_eq!(
            root.pointer("/d").unwrap().beyond(),
            None,
            "within a float's range"
        );
        assert!(root.holds_beyond() && !root.pointer("/a/0").unwrap().holds_beyond());
        assert!(minus.is_number() && minus.json_type() == JsonType::Number);
        assert!(tape.touched().is_empty(), "its type is not its value");
        assert_eq!(minus.as_number().and_then(|n| n.as_f64()), Some(f64::MIN));
        assert!(
            !root
                .pointer("/b")
                .unwrap()
                .equals_value(&serde_json::json!({}))
        );
        assert_eq!(
            tape.touched(),
            [
                ("/a/1".to_string(), "-1e400"),
                ("/b/c".to_string(), "2E+999")
            ]
        );
    }

    #[test]
    fn nesting_beyond_the_limit_goes_to_serde_json() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(Tape::parse(deep(MAX_DEPTH).as_bytes()).is_some());
        assert!(Tape::parse(deep(MAX_DEPTH + 1).as_bytes()).is_none());
    }

    #[test]
    fn pointers_find_what_serde_json_s_pointer_finds() {
        let body = r#"{"a": {"b": [10, {"c": "d"}], "": 1, "x/y": 2, "m~n": 3}, "0": 4}"#;
        let value: Value = serde_json::from_str(body).unwrap();
        let tape = Tape::parse(body.as_bytes()).unwrap();
        for pointer in [
            "",
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
            "a",
        ] {
            assert_eq!(
                tape.root().pointer(pointer).map(|n| n.value()),
                value.pointer(pointer).cloned(),
                "{pointer}"
            );
        }
    }

    #[test]
    fn the_tape_keeps_the_validator_s_contract() {
        let document = jsonschema::json::conformance::document().to_string();
        let tape = Tape::parse(document.as_bytes()).unwrap();
        jsonschema::json::conformance::assert_conformance::<TapeJson>(&tape.root());
    }
}

#[cfg(test)]
mod validation {
    use std::path::Path;

    use serde_json::{Value, json};

    use super::Tape;
    use crate::source::Schema;

    #[test]
    fn names_looked_up_one_by_one_are_found_in_any_order() {
        // More required names than the validator checks in one pass over the members, so
        // each is looked up on its own: in the body's order, against it, and missing.
        let names: Vec<String> = (0..20).map(|i| format!("n{i}")).collect();
        let schema = json!({"type": "object", "required": names});
        let schema = Schema::compile(Path::new("s.json"), &schema).unwrap();
        let body = |order: &mut dyn Iterator<Item = usize>| {
            let members: Vec<String> = order.map(|i| format!(r#""n{i}": {i}"#)).collect();
            format!("{{{}}}", members.join(", "))
        };
        for body in [
            body(&mut (0..20)),
            body(&mut (0..20).rev()),
            body(&mut (0..20).map(|i| (i * 7) % 20)),
            body(&mut (0..20).filter(|i| *i != 0)),
            body(&mut (0..20).filter(|i| *i != 19)),
            body(&mut (0..20).filter(|i| i % 5 != 3).rev()),
            body(&mut (0..25)),
        ] {
            let value: Value = serde_json::from_str(&body).unwrap();
            let tape = Tape::parse(body.as_bytes()).unwrap();
            let on_tape = schema.problems_on_tape(&tape);
            assert_eq!(on_tape, schema.problems(&value), "{body}");
            let missing = (0..20)
                .filter(|i| !body.contains(&format!(r#""n{i}""#)))
                .count();
            assert_eq!(on_tape.len(), missing, "{body}: {on_tape:?}");
        }
    }

    #[test]
    fn a_schema_finds_the_same_violations_on_a_tape_as_on_a_value() {
        let schema = json!({
            "type": "object",
            "required": ["id", "items", "total"],
            "properties": {
                "id": {"type": "string", "minLength": 3, "pattern": "^r-"},
                "total": {"type": "number", "minimum": 0, "multipleOf": 0.5},
                "count": {"type": "integer", "maximum": 10},
                "currency": {"enum": ["EUR", "USD"]},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
                "items": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["sku"],
                        "properties": {"sku": {"const": "a"}, "n": {"type": "integer"}},
                        "additionalProperties": false
                    }
                },
                "meta": {"propertyNames": {"maxLength": 3}, "maxProperties": 2}
            }
        });
        let schema = Schema::compile(Path::new("s.json"), &schema).unwrap();
        for body in [
            r#"{"id": "r-1", "items": [{"sku": "a"}], "total": 1.5}"#,
            r#"{"id": "r-1", "items": [{"sku": "a", "n": 2}], "total": 0, "count": 10, "currency": "EUR", "tags": ["x", "y"], "meta": {"a": 1}}"#,
            r#"{"id": "x", "items": [], "total": -1.25}"#,
            r#"{"id": 7, "items": [{"sku": "b", "n": 1.5, "extra": true}, {}], "total": "1"}"#,
            r#"{"id": "r-\u00e9t\u00e9", "items": [{"sku": "a"}], "total": 2, "count": 11, "currency": "GBP", "tags": ["x", "x"], "meta": {"long": 1, "b": 2, "c": 3}}"#,
            r#"{"items": [{"sku": "a"}]}"#,
            r#"[1, 2]"#,
            r#""text""#,
            r#"{"id": "r-2", "items": [{"sku": "a"}], "total": 1e2, "count": -0}"#,
        ] {
            let value: Value = serde_json::from_str(body).unwrap();
            let tape = Tape::parse(body.as_bytes()).expect(body);
            assert_eq!(
                schema.problems_on_tape(&tape),
                schema.problems(&value),
                "{body}"
            );
        }
    }
}
