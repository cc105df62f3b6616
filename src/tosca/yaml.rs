//! YAML with a span on every node.
//!
//! `saphyr-parser` turns the text into events with character positions;
//! this module builds the tree from them and resolves plain scalars the way
//! PyYAML's safe loader does (YAML 1.1: `yes`/`no`/`on`/`off` are booleans,
//! `18.04` is a float, `0755` is octal), because TOSCA files are written for
//! tools that read them with PyYAML. Quoted scalars are always strings.
//!
//! A repeated mapping key keeps the last value, as PyYAML does, with a
//! warning. Anchors and aliases are supported; merge keys (`<<`) are not
//! special.

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in written order; keys are unique (the last one wins).
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn new(value: Value, span: Span) -> Node {
        Node { value, span }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// The value under a string key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node (for its span) of a string key of a mapping.
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// The text a key or scalar reads as in Python's `str()`.
    pub fn scalar_text(&self) -> Option<String> {
        Some(match &self.value {
            Value::Null => "None".into(),
            Value::Bool(b) => if *b { "True" } else { "False" }.into(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => python_float(*f),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => return None,
        })
    }

    /// What kind of value this is, for messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "nothing (null)",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// A float as Python's `str()` writes it.
pub fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    let s = format!("{f}");
    if s.contains('e') || s.len() < 17 {
        s
    } else {
        format!("{f:e}")
    }
}

/// Parses one YAML document. `None` when the text is not YAML (the error
/// says where); an empty text is a null node.
pub fn parse(file: FileId, text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut b = Builder {
        file,
        text,
        char_to_byte: if text.is_ascii() {
            None
        } else {
            let mut v: Vec<u32> = text.char_indices().map(|(i, _)| i as u32).collect();
            v.push(text.len() as u32);
            Some(v)
        },
        anchors: HashMap::new(),
        diags: Vec::new(),
    };
    let root = b.run();
    (root, b.diags)
}

struct Builder<'a> {
    file: FileId,
    text: &'a str,
    char_to_byte: Option<Vec<u32>>,
    anchors: HashMap<usize, Node>,
    diags: Vec<Diagnostic>,
}

enum Frame {
    Seq(Vec<Node>, usize, Span),
    Map(Vec<(Node, Node)>, Option<Node>, usize, Span),
}

impl Builder<'_> {
    fn byte(&self, char_index: usize) -> usize {
        match &self.char_to_byte {
            None => char_index.min(self.text.len()),
            Some(v) => v.get(char_index).copied().unwrap_or(self.text.len() as u32) as usize,
        }
    }

    fn span(&self, s: saphyr_parser::Span) -> Span {
        let start = self.byte(s.start.index());
        let end = self.byte(s.end.index()).max(start);
        Span::new(self.file, start, end)
    }

    fn run(&mut self) -> Option<Node> {
        let mut parser = Parser::new_from_str(self.text);
        let mut stack: Vec<Frame> = Vec::new();
        let mut documents = 0;
        let mut root: Option<Node> = None;
        loop {
            let (event, span) = match parser.next_event() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    let at = self.byte(e.marker().index());
                    let end = next_boundary(self.text, at);
                    self.diags.push(Diagnostic::error(
                        Span::new(self.file, at, end),
                        format!("this is not valid YAML: {}", e.info()),
                    ));
                    return None;
                }
            };
            let span = self.span(span);
            let node = match event {
                Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => {
                    continue;
                }
                Event::DocumentStart(_) => {
                    documents += 1;
                    if documents == 2 {
                        self.diags.push(Diagnostic::error(
                            span,
                            "a TOSCA file holds one YAML document; a second one starts here",
                        ));
                        return None;
                    }
                    continue;
                }
                Event::Alias(id) => match self.anchors.get(&id) {
                    Some(n) => Node::new(n.value.clone(), span),
                    None => {
                        self.diags
                            .push(Diagnostic::error(span, "this alias names no anchor"));
                        Node::new(Value::Null, span)
                    }
                },
                Event::Scalar(text, style, anchor, tag) => {
                    let tag = tag.map(|t| t.suffix.clone());
                    let value = resolve(&text, style, tag.as_deref());
                    let node = Node::new(value, span);
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    node
                }
                Event::SequenceStart(anchor, _) => {
                    stack.push(Frame::Seq(Vec::new(), anchor, span));
                    continue;
                }
                Event::MappingStart(anchor, _) => {
                    stack.push(Frame::Map(Vec::new(), None, anchor, span));
                    continue;
                }
                Event::SequenceEnd => {
                    let Some(Frame::Seq(items, anchor, start)) = stack.pop() else {
                        return None;
                    };
                    let end = end_of(span, &items, |n| n.span);
                    let node = Node::new(Value::Seq(items), start.to(end));
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    node
                }
                Event::MappingEnd => {
                    let Some(Frame::Map(entries, _, anchor, start)) = stack.pop() else {
                        return None;
                    };
                    let end = end_of(span, &entries, |(_, v)| v.span);
                    let node = Node::new(Value::Map(entries), start.to(end));
                    if anchor > 0 {
                        self.anchors.insert(anchor, node.clone());
                    }
                    node
                }
            };
            match stack.last_mut() {
                None => root = Some(node),
                Some(Frame::Seq(items, ..)) => items.push(node),
                Some(Frame::Map(entries, key, ..)) => match key.take() {
                    None => *key = Some(node),
                    Some(k) => {
                        if let Some(i) = entries.iter().position(|(old, _)| same_key(old, &k)) {
                            let first = entries[i].0.span;
                            self.diags.push(
                                Diagnostic::warning(
                                    k.span,
                                    format!(
                                        "`{}` is given twice in this map; the last value is used",
                                        k.scalar_text().unwrap_or_default()
                                    ),
                                )
                                .with_related(first, "first given"),
                            );
                            entries.remove(i);
                        }
                        entries.push((k, node));
                    }
                },
            }
        }
        Some(root.unwrap_or(Node::new(Value::Null, Span::new(self.file, 0, 0))))
    }
}

/// Where a collection ends: at its closing bracket when it has one (flow
/// style), else at its last item.
fn end_of<T>(close: Span, items: &[T], span: impl Fn(&T) -> Span) -> Span {
    if !close.is_empty() {
        return close;
    }
    items.last().map_or(close, span)
}

fn same_key(a: &Node, b: &Node) -> bool {
    match (&a.value, &b.value) {
        (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => false,
        (x, y) => x == y,
    }
}

fn next_boundary(text: &str, at: usize) -> usize {
    let mut end = (at + 1).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    end
}

/// PyYAML's implicit resolution of a scalar (YAML 1.1 rules).
fn resolve(text: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::Str(text.to_string()),
        Some("int") => {
            return int(text).map_or_else(|| Value::Str(text.to_string()), Value::Int);
        }
        Some("float") => {
            return float(text)
                .or_else(|| int(text).map(|i| i as f64))
                .map_or_else(|| Value::Str(text.to_string()), Value::Float);
        }
        Some("bool") => {
            return boolean(text).map_or_else(|| Value::Str(text.to_string()), Value::Bool);
        }
        Some("null") => return Value::Null,
        _ => {}
    }
    if style != ScalarStyle::Plain {
        return Value::Str(text.to_string());
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Value::Null;
    }
    if let Some(b) = boolean(text) {
        return Value::Bool(b);
    }
    if let Some(i) = int(text) {
        return Value::Int(i);
    }
    if let Some(f) = float(text) {
        return Value::Float(f);
    }
    Value::Str(text.to_string())
}

fn boolean(t: &str) -> Option<bool> {
    match t {
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => Some(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

fn split_sign(t: &str) -> (i64, &str) {
    match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    }
}

/// `[-+]?(0b[01_]+ | 0[0-7_]+ | 0 | [1-9][0-9_]* | 0x[0-9a-fA-F_]+ | [1-9][0-9_]*(:[0-5]?[0-9])+)`
fn int(t: &str) -> Option<i64> {
    let (sign, body) = split_sign(t);
    let digits = |s: &str, radix: u32| -> Option<i64> {
        let s: String = s.chars().filter(|&c| c != '_').collect();
        if s.is_empty() {
            return None;
        }
        i64::from_str_radix(&s, radix).ok()
    };
    let ok_chars =
        |s: &str, f: fn(char) -> bool| !s.is_empty() && s.chars().all(|c| c == '_' || f(c));
    let v = if let Some(b) = body.strip_prefix("0b") {
        if !ok_chars(b, |c| c == '0' || c == '1') {
            return None;
        }
        digits(b, 2)?
    } else if let Some(h) = body.strip_prefix("0x") {
        if !ok_chars(h, |c| c.is_ascii_hexdigit()) {
            return None;
        }
        digits(h, 16)?
    } else if body == "0" {
        0
    } else if let Some(o) = body.strip_prefix('0') {
        if !ok_chars(o, |c| ('0'..='7').contains(&c)) {
            return None;
        }
        digits(o, 8)?
    } else if body.contains(':') {
        let mut parts = body.split(':');
        let first = parts.next()?;
        if !first.starts_with(|c: char| ('1'..='9').contains(&c))
            || !ok_chars(first, |c| c.is_ascii_digit())
        {
            return None;
        }
        let mut v = digits(first, 10)?;
        for p in parts {
            if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            if p.len() == 2 && p.as_bytes()[0] > b'5' {
                return None;
            }
            v = v.checked_mul(60)?.checked_add(p.parse::<i64>().ok()?)?;
        }
        v
    } else {
        if !body.starts_with(|c: char| ('1'..='9').contains(&c))
            || !ok_chars(body, |c| c.is_ascii_digit())
        {
            return None;
        }
        digits(body, 10)?
    };
    Some(sign * v)
}

/// `[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?`, sexagesimal floats,
/// `.inf` and `.nan`.
fn float(t: &str) -> Option<f64> {
    match t {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    let (sign, body) = split_sign(t);
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    if let Some(e) = exp {
        let digits = e.strip_prefix(['-', '+'])?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    if mantissa.contains(':') {
        // sexagesimal: [0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]*
        if exp.is_some() {
            return None;
        }
        let (whole, frac) = mantissa.split_once('.')?;
        let mut parts = whole.split(':');
        let first = parts.next()?;
        if first.is_empty() || !first.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let mut v: f64 = first.replace('_', "").parse().ok()?;
        for p in parts {
            if p.is_empty() || p.len() > 2 || !p.chars().all(|c| c.is_ascii_digit()) {
                return None;
            }
            v = v * 60.0 + p.parse::<f64>().ok()?;
        }
        if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
            return None;
        }
        let frac = frac.replace('_', "");
        if !frac.is_empty() {
            v += format!("0.{frac}").parse::<f64>().ok()?;
        }
        return Some(sign as f64 * v);
    }
    let (whole, frac) = mantissa.split_once('.')?;
    if !whole.is_empty()
        && (!whole.starts_with(|c: char| c.is_ascii_digit())
            || !whole.chars().all(|c| c.is_ascii_digit() || c == '_'))
    {
        return None;
    }
    if whole.is_empty() && !frac.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return None;
    }
    let clean = format!(
        "{}.{}{}",
        if whole.is_empty() {
            "0".to_string()
        } else {
            whole.replace('_', "")
        },
        frac.replace('_', ""),
        exp.map(|e| format!("e{e}")).unwrap_or_default()
    );
    clean.parse::<f64>().ok().map(|f| sign as f64 * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The event check accepts and rejects what loading into a tree
    /// (serde_yaml_ng, the check it replaced) does.
    #[test]
    fn check_syntax_is_as_strict_as_loading_a_tree() {
        let cases = [
            "",
            "# only a comment\n",
            "- tasks:\n  - shell: echo hi\n",
            "a: 1\nb: [1, 2, {c: d}]\n",
            "a: &x {k: v}\nb: *x\n",
            "a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3031\n",
            "'1': a\n1: b\n",
            "a: 1\na: 2\n",
            "a: 1\n'a': 2\n",
            "16: a\n0x10: b\n",
            "null: a\n~: b\n",
            "? [1, 2]\n: a\n? [1, 2]\n: b\n",
            "- tasks: [unclosed\n",
            "a: b: c\n",
            "a: *nowhere\n",
            "a: 1\n---\nb: 2\n",
            "- x\n  y: z\n",
            "key: \"unterminated\n",
        ];
        for text in cases {
            let ours = check_syntax(text).is_ok();
            let tree = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).is_ok();
            assert_eq!(ours, tree, "{text:?}: ours {:?}", check_syntax(text));
        }
        // Known difference: a tab before `- item` at the start of a line is
        // refused by libyaml (serde_yaml_ng) and read by saphyr-parser.
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(check_syntax(&deep).is_err());
        assert!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&deep).is_err());
        let e = check_syntax("a: 1\nb:\n  c: 2\n  c: 3\n").unwrap_err();
        assert_eq!(e.at, "a: 1\nb:\n  c: 2\n  ".len(), "{e:?}");
        assert!(e.message.contains("twice"));
    }

    fn scalar(t: &str) -> Value {
        resolve(t, ScalarStyle::Plain, None)
    }

    #[test]
    fn resolves_scalars_as_pyyaml() {
        assert_eq!(scalar("yes"), Value::Bool(true));
        assert_eq!(scalar("Off"), Value::Bool(false));
        assert_eq!(scalar("18.04"), Value::Float(18.04));
        assert_eq!(scalar("1e3"), Value::Str("1e3".into()));
        assert_eq!(scalar("1.0e+3"), Value::Float(1000.0));
        assert_eq!(scalar("0755"), Value::Int(0o755));
        assert_eq!(scalar("0x1F"), Value::Int(31));
        assert_eq!(scalar("1:30"), Value::Int(90));
        assert_eq!(scalar("1_000"), Value::Int(1000));
        assert_eq!(scalar("08"), Value::Str("08".into()));
        assert_eq!(scalar("~"), Value::Null);
        assert_eq!(scalar("4 GB"), Value::Str("4 GB".into()));
        assert_eq!(scalar(".5"), Value::Float(0.5));
        assert_eq!(scalar("1."), Value::Float(1.0));
        assert_eq!(
            resolve("yes", ScalarStyle::SingleQuoted, None),
            Value::Str("yes".into())
        );
    }

    #[test]
    fn spans_are_bytes_and_duplicates_warn() {
        let text = "a: é\nb: [1, 2]\na: 3\n";
        let (root, diags) = parse(FileId(0), text);
        let root = root.unwrap();
        assert_eq!(root.get("a").unwrap().value, Value::Int(3));
        let b = root.get("b").unwrap();
        assert_eq!(&text[b.span.start as usize..b.span.end as usize], "[1, 2]");
        assert_eq!(diags.len(), 1);
        assert!(!diags[0].is_error());
    }

    #[test]
    fn floats_print_as_python() {
        assert_eq!(python_float(18.04), "18.04");
        assert_eq!(python_float(7.0), "7.0");
        assert_eq!(python_float(0.1), "0.1");
    }
}

/// Why a text is not one YAML document, and where (a byte offset).
#[derive(Clone, Debug, PartialEq)]
pub struct SyntaxError {
    pub at: usize,
    pub message: String,
}

/// Deepest nesting accepted, as the tree loaders used before (serde_yaml's
/// recursion limit).
const MAX_DEPTH: usize = 128;

/// Checks that `text` is one YAML document, without building a tree: the
/// event parser's syntax errors, an alias naming no anchor, a second
/// document, nesting deeper than 128, and a key given twice in one mapping
/// (keys compared by value: `16` and `0x10` are the same key, `'16'` is
/// another). As strict as loading the text into a tree, at a fraction of
/// the cost (RADL recipe bodies are checked with it).
pub fn check_syntax(text: &str) -> Result<(), SyntaxError> {
    use std::hash::{Hash, Hasher};
    // Per open collection: the fingerprint of its content so far, its
    // anchor and, for a mapping, the fingerprints of its keys so far and
    // whether the next node is a key. Keys that are collections compare
    // by content too.
    struct Open {
        hash: u64,
        anchor: usize,
        map: Option<(Vec<u64>, bool)>,
    }
    let mix = |h: u64, x: u64| (h ^ x).wrapping_mul(0x0000_0100_0000_01b3).rotate_left(29);
    let byte = |char_index: usize| -> usize {
        if text.is_ascii() {
            char_index.min(text.len())
        } else {
            text.char_indices()
                .nth(char_index)
                .map_or(text.len(), |(b, _)| b)
        }
    };
    let fingerprint = |value: &str, style: ScalarStyle, tag: Option<&str>| -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        match tag {
            Some(t) => (4u8, t, value).hash(&mut h),
            None if style != ScalarStyle::Plain => (3u8, value).hash(&mut h),
            None => match value {
                "" | "~" | "null" | "Null" | "NULL" => 0u8.hash(&mut h),
                "true" | "True" | "TRUE" => (1u8, true).hash(&mut h),
                "false" | "False" | "FALSE" => (1u8, false).hash(&mut h),
                _ => {
                    if let Some(i) = int(value) {
                        (2u8, i).hash(&mut h);
                    } else if let Some(f) = float(value).filter(|_| value.contains(['.', 'e', 'E']))
                    {
                        (5u8, f.to_bits()).hash(&mut h);
                    } else {
                        (3u8, value).hash(&mut h);
                    }
                }
            },
        }
        h.finish()
    };
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    let mut anchors: HashMap<usize, u64> = HashMap::new();
    let mut documents = 0;
    while let Some(next) = parser.next_event() {
        let (event, span) = match next {
            Ok(e) => e,
            Err(e) => {
                return Err(SyntaxError {
                    at: byte(e.marker().index()),
                    message: e.info().to_string(),
                });
            }
        };
        let at = || byte(span.start.index());
        // The fingerprint of a complete node just read, or nothing for
        // events that are not a node.
        let node: Option<u64> = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError {
                        at: at(),
                        message: "a second YAML document starts here; a recipe is one document"
                            .into(),
                    });
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(fp) => Some(*fp),
                None => {
                    return Err(SyntaxError {
                        at: at(),
                        message: "this alias names no anchor".into(),
                    });
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                let tag = tag.as_ref().map(|t| t.suffix.as_str());
                let fp = fingerprint(&value, style, tag);
                if anchor > 0 {
                    anchors.insert(anchor, fp);
                }
                Some(fp)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(SyntaxError {
                        at: at(),
                        message: format!("nested more than {MAX_DEPTH} levels deep"),
                    });
                }
                let seq = matches!(event, Event::SequenceStart(..));
                open.push(Open {
                    hash: if seq { 6 } else { 7 },
                    anchor,
                    map: (!seq).then(|| (Vec::new(), true)),
                });
                None
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(done) = open.pop() else { continue };
                if done.anchor > 0 {
                    anchors.insert(done.anchor, done.hash);
                }
                Some(done.hash)
            }
        };
        let Some(fp) = node else { continue };
        if let Some(parent) = open.last_mut() {
            parent.hash = mix(parent.hash, fp);
            if let Some((keys, next_is_key)) = &mut parent.map {
                if *next_is_key {
                    if keys.contains(&fp) {
                        return Err(SyntaxError {
                            at: at(),
                            message: "this key is given twice in one mapping".into(),
                        });
                    }
                    keys.push(fp);
                }
                *next_is_key = !*next_is_key;
            }
        }
    }
    Ok(())
}

/// A value as JSON (map keys as text; a float that JSON cannot hold is
/// `null`).
pub fn to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &n.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Str(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default(), to_json(v)))
                .collect(),
        ),
    }
}
