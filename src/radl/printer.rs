//! Prints a RADL tree back as text. Parsing the printed text gives back the
//! same tree (spans aside); the round-trip tests hold it to that.

use super::ast::*;
use super::lexer::{is_ident_continue, is_ident_start, unescape};
use std::fmt::Write as _;

/// Prints a whole document in nubo's canonical layout.
pub fn print(radl: &Radl) -> String {
    let mut out = String::new();
    for (n, s) in radl.sentences.iter().enumerate() {
        if n > 0 {
            let both_deploys = matches!(
                (&radl.sentences[n - 1], s),
                (Sentence::Deploy(_), Sentence::Deploy(_))
            );
            if !both_deploys {
                out.push('\n');
            }
        }
        sentence(&mut out, s);
    }
    out
}

fn sentence(out: &mut String, s: &Sentence) {
    match s {
        Sentence::Aspect(a) => {
            let _ = write!(out, "{} {}", a.kind.keyword(), a.name.text);
            if let Some(body) = &a.body {
                out.push(' ');
                block(out, body, 0);
            }
            out.push('\n');
        }
        Sentence::Configure(c) => {
            let _ = write!(out, "configure {}", c.name.text);
            match &c.body {
                ConfigureBody::Reference => {}
                ConfigureBody::Empty => out.push_str(" ()"),
                ConfigureBody::Recipe { text, .. } => {
                    let _ = write!(out, " (\n@begin{text}@end\n)");
                }
            }
            out.push('\n');
        }
        Sentence::Contextualize(c) => {
            out.push_str("contextualize ");
            if let Some((n, _)) = &c.max_time {
                let _ = write!(out, "{} ", number(*n));
            }
            if c.options.is_empty() && c.items.is_empty() {
                out.push_str("()\n");
                return;
            }
            out.push_str("(\n");
            for o in &c.options {
                out.push_str("  option ");
                feature(out, o, 1);
                out.push('\n');
            }
            for item in &c.items {
                let _ = write!(
                    out,
                    "  system {} configure {}",
                    item.system.text, item.configure.text
                );
                if let Some((n, _)) = item.step {
                    let _ = write!(out, " step {}", number(n));
                }
                if let Some(tool) = &item.tool {
                    let _ = write!(out, " with {}", tool.text);
                }
                out.push('\n');
            }
            out.push_str(")\n");
        }
        Sentence::Deploy(d) => {
            let _ = write!(out, "deploy {} {}", d.system.text, number(d.count.0));
            if let Some(cloud) = &d.cloud {
                let _ = write!(out, " {}", cloud.text);
            }
            out.push('\n');
        }
    }
}

/// A feature list on several lines, one feature per line.
fn block(out: &mut String, list: &FeatureList, depth: usize) {
    if list.items.is_empty() {
        out.push_str("()");
        return;
    }
    out.push_str("(\n");
    let pad = "  ".repeat(depth + 1);
    for (n, item) in list.items.iter().enumerate() {
        out.push_str(&pad);
        match item {
            FeatureItem::Feature(f) => feature(out, f, depth + 1),
            FeatureItem::Soft(s) => {
                let _ = write!(out, "soft {} ", number(s.weight));
                block(out, &s.features, depth + 1);
            }
        }
        if n + 1 < list.items.len() {
            out.push_str(" and");
        }
        out.push('\n');
    }
    out.push_str(&"  ".repeat(depth));
    out.push(')');
}

/// A feature list on one line: `(name = 'x' and version = '1')`.
fn inline(out: &mut String, list: &FeatureList, depth: usize) {
    out.push('(');
    for (n, item) in list.items.iter().enumerate() {
        if n > 0 {
            out.push_str(" and ");
        }
        match item {
            FeatureItem::Feature(f) => feature(out, f, depth),
            FeatureItem::Soft(s) => {
                let _ = write!(out, "soft {} ", number(s.weight));
                inline(out, &s.features, depth);
            }
        }
    }
    out.push(')');
}

fn feature(out: &mut String, f: &Feature, depth: usize) {
    let _ = write!(out, "{} {} ", f.name.text, f.op.as_str());
    match &f.value {
        Value::Number(n, unit) => {
            out.push_str(&number(*n));
            if let Some(u) = unit {
                if u.text.starts_with('.') {
                    out.push(' ');
                }
                out.push_str(&u.text);
            }
        }
        Value::String(s) => out.push_str(&quote(s)),
        Value::List(items) => {
            out.push('[');
            for (n, s) in items.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(&quote(s));
            }
            out.push(']');
        }
        Value::Features(list) => inline(out, list, depth),
        Value::Random(n) => {
            let _ = write!(out, "'random({n})'");
        }
        Value::Reference(kind, name) => {
            let _ = write!(out, "{} {}", kind.keyword(), name.text);
        }
    }
}

/// A number as the lexer reads it back: integers plain, floats always with
/// a dot and never in exponent form.
pub fn number(n: Number) -> String {
    match n {
        Number::Int(i) => i.to_string(),
        Number::Float(f) => {
            let s = format!("{f}");
            if s.contains('.') { s } else { format!("{s}.0") }
        }
    }
}

/// Quotes a string: IM's single quotes when they read back to the same
/// value, else double quotes with escapes.
pub fn quote(s: &str) -> String {
    let raw = s.replace('\'', "\\'");
    let looks_random = s
        .strip_prefix("random(")
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()));
    if !looks_random && single_quoted_reads_back(&raw, s) {
        return format!("'{raw}'");
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn single_quoted_reads_back(raw: &str, value: &str) -> bool {
    // Lex it as the lexer would: a backslash swallows the next character,
    // and a quote not swallowed that way would end the string early.
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return false,
            '\'' => return false,
            _ => {}
        }
    }
    unescape(raw, false).is_ok_and(|v| v == value)
}

/// Whether `s` can be written as a bare RADL name.
pub fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(is_ident_start) && chars.all(is_ident_continue)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_choose_single_when_they_read_back() {
        assert_eq!(quote("a'b"), r"'a\'b'");
        assert_eq!(quote(r"C:\foo"), r"'C:\foo'");
        assert_eq!(quote("x\\"), "\"x\\\\\"");
        assert_eq!(quote("random(8)"), "\"random(8)\"");
        assert_eq!(quote("\\'"), "\"\\\\'\"");
    }

    #[test]
    fn floats_keep_their_dot() {
        assert_eq!(number(Number::Float(1.0)), "1.0");
        assert_eq!(number(Number::Float(1e20)), "100000000000000000000.0");
        assert_eq!(number(Number::Float(0.25)), "0.25");
    }
}
