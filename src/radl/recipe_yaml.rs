//! The YAML check of recipe bodies, with a fast path.
//!
//! Most recipe bodies are plain block YAML: block sequences and mappings
//! with simple keys, one-line plain and quoted scalars, flow collections
//! of those. [`plainly_valid`] recognises that subset in one pass over
//! the bytes, allocating nothing per token, and answers only "valid" or
//! "not sure": anything outside the subset (tabs, non-ASCII, anchors,
//! tags, block scalars, multi-line scalars, quoted or complex keys, a
//! second document, a repeated key, any error) is "not sure", and the
//! body then goes through the full check ([`check_syntax`], on the event
//! parser), which also words every error. So the fast path never accepts
//! what the full check rejects: `tests` compare the two on the corpus
//! bodies and on many mutations of them.

use crate::tosca::yaml::{SyntaxError, check_syntax};

/// Checks that `text` is one YAML document, as strictly as
/// [`check_syntax`] (which words the errors).
pub fn check(text: &str) -> Result<(), SyntaxError> {
    if plainly_valid(text) {
        Ok(())
    } else {
        check_syntax(text)
    }
}

/// Deepest nesting the fast path takes (block and flow levels together);
/// deeper goes to the full check, which has the limit itself.
const MAX_DEPTH: usize = 64;
/// Longest key the fast path takes (YAML limits implicit keys to 1024).
const MAX_KEY: usize = 256;

/// True only when `text` is certainly one valid YAML document with no
/// key repeated in a mapping; false when not sure.
pub fn plainly_valid(text: &str) -> bool {
    let b = text.as_bytes();
    if !b.iter().all(|&c| c == b'\n' || (0x20..0x7f).contains(&c)) {
        return false;
    }
    Fast {
        b,
        pos: 0,
        line_start: 0,
        stack: Vec::new(),
        keys: Vec::new(),
    }
    .run()
    .is_some()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// An open block collection.
struct Block {
    indent: usize,
    kind: Kind,
    /// A sequence that is a mapping value at the mapping's own indent.
    same_indent: bool,
    /// Where this mapping's keys start in `Fast::keys`.
    keys_from: usize,
}

/// What the line before left open.
#[derive(Clone, Copy)]
enum Pending {
    None,
    /// `key:` with no value on its line (the mapping's indent).
    Key(usize),
    /// `-` with no value on its line (the sequence's indent).
    Entry(usize),
}

struct Fast<'a> {
    b: &'a [u8],
    pos: usize,
    line_start: usize,
    stack: Vec<Block>,
    /// Keys of the open mappings (block and flow), innermost last.
    keys: Vec<&'a [u8]>,
}

impl<'a> Fast<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// Is `i` the end of a line (or of the text)?
    fn eol(&self, i: usize) -> bool {
        matches!(self.at(i), None | Some(b'\n'))
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn run(&mut self) -> Option<()> {
        let mut started = false;
        let mut root_seen = false;
        let mut pending = Pending::None;
        while self.pos < self.b.len() {
            self.line_start = self.pos;
            self.skip_spaces();
            let indent = self.pos - self.line_start;
            match self.peek() {
                None => break,
                Some(b'\n') => {
                    self.pos += 1;
                    continue;
                }
                Some(b'#') => {
                    self.end_of_line()?;
                    continue;
                }
                _ => {}
            }
            let rest = &self.b[self.pos..];
            if indent == 0
                && rest.starts_with(b"---")
                && matches!(rest.get(3), None | Some(b' ' | b'\n'))
            {
                if started || root_seen {
                    return None;
                }
                started = true;
                self.pos += 3;
                self.end_of_line()?;
                continue;
            }
            if indent == 0 && (rest[0] == b'%' || rest.starts_with(b"...")) {
                return None;
            }
            started = true;
            self.content_line(indent, &mut pending, &mut root_seen)?;
        }
        Some(())
    }

    fn push(&mut self, indent: usize, kind: Kind, same_indent: bool) -> Option<()> {
        if self.stack.len() >= MAX_DEPTH {
            return None;
        }
        self.stack.push(Block {
            indent,
            kind,
            same_indent,
            keys_from: self.keys.len(),
        });
        Some(())
    }

    fn pop(&mut self) {
        if let Some(top) = self.stack.pop() {
            self.keys.truncate(top.keys_from);
        }
    }

    /// Is a `- ` entry at the cursor?
    fn at_entry(&self) -> bool {
        self.peek() == Some(b'-') && matches!(self.at(self.pos + 1), None | Some(b' ' | b'\n'))
    }

    /// The simple key at the cursor, when `key:` follows (then a space or
    /// the end of the line): its end.
    fn key_here(&self) -> Option<usize> {
        let end = self.simple_key_end(self.pos)?;
        (self.at(end) == Some(b':') && matches!(self.at(end + 1), None | Some(b' ' | b'\n')))
            .then_some(end)
    }

    /// A key the fast path can compare by its text: a word of letters,
    /// digits, `_ - . /` starting with a letter or `_`, not one of the
    /// words YAML reads as null or a boolean (no such word is a number).
    fn simple_key_end(&self, start: usize) -> Option<usize> {
        let first = self.at(start)?;
        if !(first.is_ascii_alphabetic() || first == b'_') {
            return None;
        }
        let mut end = start + 1;
        while let Some(c) = self.at(end) {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/') {
                end += 1;
            } else {
                break;
            }
        }
        let key = &self.b[start..end];
        if key.len() > MAX_KEY
            || matches!(
                key,
                b"null"
                    | b"Null"
                    | b"NULL"
                    | b"true"
                    | b"True"
                    | b"TRUE"
                    | b"false"
                    | b"False"
                    | b"FALSE"
            )
        {
            return None;
        }
        Some(end)
    }

    /// Adds a key to the mapping whose keys start at `from`; `None` when
    /// it is there already (the full check words that error).
    fn add_key(&mut self, from: usize, key: &'a [u8]) -> Option<()> {
        if self.keys[from..].contains(&key) {
            return None;
        }
        self.keys.push(key);
        Some(())
    }

    /// One line with content at `indent` (the cursor on its first byte).
    fn content_line(
        &mut self,
        indent: usize,
        pending: &mut Pending,
        root_seen: &mut bool,
    ) -> Option<()> {
        let is_entry = self.at_entry();
        let is_key = !is_entry && self.key_here().is_some();
        let open = std::mem::replace(pending, Pending::None);
        match open {
            Pending::Key(m) if indent == m && is_entry => self.push(indent, Kind::Seq, true)?,
            Pending::Key(m) | Pending::Entry(m) if indent > m => {
                if is_entry {
                    self.push(indent, Kind::Seq, false)?;
                } else if is_key {
                    self.push(indent, Kind::Map, false)?;
                } else {
                    // A scalar or flow value on the line after its key.
                    return self.value(m);
                }
            }
            _ => {
                while let Some(top) = self.stack.last() {
                    let closes = top.indent > indent
                        || (top.kind == Kind::Seq
                            && top.same_indent
                            && top.indent == indent
                            && !is_entry);
                    if !closes {
                        break;
                    }
                    self.pop();
                }
                match self.stack.last() {
                    None => {
                        if *root_seen {
                            return None;
                        }
                        *root_seen = true;
                        if is_entry {
                            self.push(indent, Kind::Seq, false)?;
                        } else if is_key {
                            self.push(indent, Kind::Map, false)?;
                        } else {
                            // A scalar or flow document.
                            return self.root_value();
                        }
                    }
                    Some(top)
                        if top.indent == indent
                            && ((top.kind == Kind::Seq && is_entry)
                                || (top.kind == Kind::Map && is_key)) => {}
                    _ => return None,
                }
            }
        }
        *root_seen = true;
        self.items(pending)
    }

    /// The rest of a line whose cursor is on the `-` or key of the
    /// innermost open block; compact nested `- - x` and `- key: v` open
    /// blocks at their columns.
    fn items(&mut self, pending: &mut Pending) -> Option<()> {
        loop {
            let top = self.stack.last()?;
            let (indent, kind, keys_from) = (top.indent, top.kind, top.keys_from);
            match kind {
                Kind::Seq => {
                    self.pos += 1; // the `-`
                    self.skip_spaces();
                    if self.eol(self.pos) || self.peek() == Some(b'#') {
                        self.end_of_line()?;
                        *pending = Pending::Entry(indent);
                        return Some(());
                    }
                    let col = self.pos - self.line_start;
                    if self.at_entry() {
                        self.push(col, Kind::Seq, false)?;
                    } else if self.key_here().is_some() {
                        self.push(col, Kind::Map, false)?;
                    } else {
                        return self.value(indent);
                    }
                }
                Kind::Map => {
                    let end = self.key_here()?;
                    let key = &self.b[self.pos..end];
                    self.add_key(keys_from, key)?;
                    self.pos = end + 1; // past the `:`
                    self.skip_spaces();
                    if self.eol(self.pos) || self.peek() == Some(b'#') {
                        self.end_of_line()?;
                        *pending = Pending::Key(indent);
                        return Some(());
                    }
                    return self.value(indent);
                }
            }
        }
    }

    /// A document that is one scalar or flow node. A plain scalar may run
    /// over several lines (an Ansible Vault text is one), each starting
    /// as a plain scalar does (not with `-`), up to a comment, the end of
    /// the text or a `---` or `...` line (which [`Fast::run`] judges).
    fn root_value(&mut self) -> Option<()> {
        if matches!(self.peek()?, b'[' | b'{' | b'\'' | b'"') {
            return self.value_limit(None);
        }
        loop {
            self.plain_block()?;
            if self.peek() != Some(b'\n') {
                // A comment or the end of the text ends the scalar.
                return self.end_of_line();
            }
            self.pos += 1;
            // Blank lines fold into the scalar.
            loop {
                self.line_start = self.pos;
                self.skip_spaces();
                if self.peek() != Some(b'\n') {
                    break;
                }
                self.pos += 1;
            }
            let rest = &self.b[self.pos..];
            let marker = self.pos == self.line_start
                && (rest.starts_with(b"---") || rest.starts_with(b"..."));
            if rest.is_empty() || rest[0] == b'#' || marker {
                // Left to `run`: a comment line, or a document marker.
                self.pos = self.line_start;
                return Some(());
            }
            if rest[0] == b'-' || !self.plain_start(self.pos) {
                return None;
            }
        }
    }

    /// A value in block context that belongs to a block at `indent`.
    fn value(&mut self, indent: usize) -> Option<()> {
        self.value_limit(Some(indent))
    }

    /// A scalar or flow value, then the end of its line. Lines inside a
    /// flow collection must be indented more than `limit`.
    fn value_limit(&mut self, limit: Option<usize>) -> Option<()> {
        match self.peek()? {
            b'[' | b'{' => self.flow_node(limit, self.stack.len())?,
            b'\'' | b'"' => self.quoted()?,
            _ => self.plain_block()?,
        }
        self.end_of_line()
    }

    /// Spaces, an optional comment, then the end of the line (consumed).
    fn end_of_line(&mut self) -> Option<()> {
        self.skip_spaces();
        if self.peek() == Some(b'#') {
            // A comment is set off by a space (or starts its line).
            let spaced = self.pos == 0 || matches!(self.b[self.pos - 1], b' ' | b'\n');
            if !spaced {
                return None;
            }
            while !self.eol(self.pos) {
                self.pos += 1;
            }
        }
        match self.peek() {
            None => Some(()),
            Some(b'\n') => {
                self.pos += 1;
                Some(())
            }
            _ => None,
        }
    }

    /// Can a plain scalar start with the byte at `i`?
    fn plain_start(&self, i: usize) -> bool {
        match self.at(i) {
            Some(c) if c.is_ascii_alphanumeric() => true,
            Some(b'_' | b'/' | b'.' | b'$' | b'(' | b'=' | b'+' | b'~') => true,
            Some(b'-') => self.at(i + 1).is_some_and(|c| c.is_ascii_alphanumeric()),
            _ => false,
        }
    }

    /// A one-line plain scalar in block context, to a comment or the end
    /// of the line; `: ` (a key) or a trailing `:` is not sure.
    fn plain_block(&mut self) -> Option<()> {
        if !self.plain_start(self.pos) {
            return None;
        }
        while let Some(c) = self.peek() {
            match c {
                b'\n' => break,
                b':' if matches!(self.at(self.pos + 1), None | Some(b' ' | b'\n')) => return None,
                b'#' if self.b[self.pos - 1] == b' ' => break,
                _ => self.pos += 1,
            }
        }
        Some(())
    }

    /// A one-line quoted scalar: `'...'` (`''` for a quote) or `"..."`
    /// with the common escapes.
    fn quoted(&mut self) -> Option<()> {
        let q = self.peek()?;
        self.pos += 1;
        loop {
            let c = self.peek()?;
            match c {
                b'\n' => return None,
                b'\'' if q == b'\'' => {
                    if self.at(self.pos + 1) == Some(b'\'') {
                        self.pos += 2;
                        continue;
                    }
                    self.pos += 1;
                    return Some(());
                }
                b'"' if q == b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' if q == b'"' => match self.at(self.pos + 1)? {
                    b'\\' | b'"' | b'/' | b'n' | b't' | b'r' | b'0' | b' ' => self.pos += 2,
                    _ => return None,
                },
                _ => self.pos += 1,
            }
        }
    }

    /// A node inside a flow collection (or the collection itself).
    fn flow_node(&mut self, limit: Option<usize>, depth: usize) -> Option<()> {
        if depth >= MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'[' => {
                self.pos += 1;
                self.flow_space(limit)?;
                if self.peek()? == b']' {
                    self.pos += 1;
                    return Some(());
                }
                loop {
                    self.flow_node(limit, depth + 1)?;
                    self.flow_space(limit)?;
                    match self.peek()? {
                        b',' => {
                            self.pos += 1;
                            self.flow_space(limit)?;
                            if self.peek()? == b']' {
                                self.pos += 1;
                                return Some(());
                            }
                        }
                        b']' => {
                            self.pos += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'{' => {
                self.pos += 1;
                let from = self.keys.len();
                let done = self.flow_map(limit, depth, from);
                self.keys.truncate(from);
                done
            }
            b'\'' | b'"' => self.quoted(),
            _ => self.plain_flow(),
        }
    }

    /// The entries of a flow mapping after its `{`, and its `}`.
    fn flow_map(&mut self, limit: Option<usize>, depth: usize, from: usize) -> Option<()> {
        self.flow_space(limit)?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            let end = self.simple_key_end(self.pos)?;
            if self.at(end) != Some(b':') || !matches!(self.at(end + 1), Some(b' ' | b'\n')) {
                return None;
            }
            let key = &self.b[self.pos..end];
            self.add_key(from, key)?;
            self.pos = end + 1;
            self.flow_space(limit)?;
            self.flow_node(limit, depth + 1)?;
            self.flow_space(limit)?;
            match self.peek()? {
                b',' => {
                    self.pos += 1;
                    self.flow_space(limit)?;
                    if self.peek()? == b'}' {
                        self.pos += 1;
                        return Some(());
                    }
                }
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A one-line plain scalar inside a flow collection: it ends at
    /// `, [ ] { }`, a comment or the end of the line; a `:` in it is not
    /// sure.
    fn plain_flow(&mut self) -> Option<()> {
        if !self.plain_start(self.pos) {
            return None;
        }
        while let Some(c) = self.peek() {
            match c {
                b'\n' | b',' | b'[' | b']' | b'{' | b'}' => break,
                b':' => return None,
                b'#' if self.b[self.pos - 1] == b' ' => break,
                _ => self.pos += 1,
            }
        }
        Some(())
    }

    /// Spaces, comments and line breaks inside a flow collection. Every
    /// line it runs onto must be indented (by spaces) more than `limit`
    /// and at least one space.
    fn flow_space(&mut self, limit: Option<usize>) -> Option<()> {
        loop {
            match self.peek()? {
                b' ' => self.pos += 1,
                b'#' => {
                    if !matches!(self.b[self.pos - 1], b' ' | b'\n') {
                        return None;
                    }
                    while !self.eol(self.pos) {
                        self.pos += 1;
                    }
                }
                b'\n' => {
                    self.pos += 1;
                    self.line_start = self.pos;
                    self.skip_spaces();
                    let indent = self.pos - self.line_start;
                    if self.eol(self.pos) {
                        continue;
                    }
                    if indent == 0 || limit.is_some_and(|l| indent <= l) {
                        return None;
                    }
                }
                _ => return Some(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_recipes_take_the_fast_path() {
        for text in [
            "",
            "\n---\n- hosts: all\n  tasks:\n  - shell: echo a # c\n",
            "  - vars:\n      A: '{{ x }}'\n    roles:\n    - { role: 'a', b: [1, \"x\"],\n        c: d }\n",
            "a:\n- x\nb: 1\n",
            "- a:\n  - x\n- b: 2\n",
            "\n$ANSIBLE_VAULT;1.1;AES256\n  6637\n\n3762 # c\n",
            "a: [x, -1, 'y',]\nb: {c: 1, d: [],}\n",
            "- a: 1 # c\n  b: x:y\n-\n  c: 2\n- # empty\n",
            "a:\n    b\nc:\n",
            "- - x\n  - y\n- z\n",
        ] {
            assert!(plainly_valid(text), "{text:?}");
            assert_eq!(check_syntax(text), Ok(()), "{text:?}");
        }
    }

    #[test]
    fn what_is_not_plain_goes_to_the_full_check() {
        for text in [
            "a: 1\na: 2\n",       // a repeated key
            "{a: 1, a: 2}\n",     // in a flow mapping too
            "a: |\n  text\n",     // block scalar
            "a: &x 1\nb: *x\n",   // anchors
            "a: b\n  c\n",        // multi-line plain scalar
            "a:\tb\n",            // tab
            "- a\n---\n- b\n",    // second document
            "a: b: c\n",          // error
            "- a\nb: 1\n",        // error
            "a: [1, 2\n",         // error
            "a: {b: 1,\nc: 2}\n", // flow line not indented
            "a: 'x' y\n",         // error
            "true: 1\n",          // a key YAML reads as a boolean
            "\"a\": 1\n",         // a quoted key
        ] {
            assert!(!plainly_valid(text), "{text:?}");
        }
    }
}
