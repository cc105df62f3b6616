//! The line form: one credential a line, `key = value` pairs separated by
//! `;`.
//!
//! As IM reads it: blank lines and lines starting with `#` are skipped; `;`
//! inside '...' or "..." does not separate; quote characters delimit and
//! are dropped; a literal `\n` in a value is a line break; a value
//! `file(PATH)` is replaced by that file's contents. Where IM silently
//! stops reading a line (a pair without ` = `, an unreadable file), nubo
//! reports the problem. Differences on purpose: the first `=` outside
//! quotes splits key from value (IM needs ` = ` with spaces and gives up on
//! a value holding ` = `), whitespace inside quotes is kept, a relative
//! `file()` path is relative to the auth file's directory (IM: to its
//! working directory), and the file's final line break is dropped.

use std::path::Path;

use super::entries::{RawEntry, RawPair};
use super::error::{AuthError, Location};

/// Reads every line; problems go to `errors`.
pub(crate) fn parse(
    path: &str,
    text: &str,
    base_dir: &Path,
    errors: &mut Vec<AuthError>,
) -> Vec<RawEntry> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = |column: usize| Location {
            path: path.to_string(),
            line: n + 1,
            column,
        };
        let chars: Vec<char> = line.chars().collect();
        let first = chars.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
        let Some(segments) = split_segments(&chars, &at, errors) else {
            continue;
        };
        let mut pairs = Vec::new();
        let mut broken = false;
        for (start, end) in segments {
            match parse_pair(&chars[start..end], start, &at, base_dir, errors) {
                Some(p) => pairs.push(p),
                None => broken = true,
            }
        }
        out.push(RawEntry {
            at: at(first + 1),
            pairs,
            broken,
        });
    }
    out
}

/// The `;`-separated segments of a line, as char ranges; `None` (and an
/// error) when a quote is left open.
fn split_segments(
    chars: &[char],
    at: &dyn Fn(usize) -> Location,
    errors: &mut Vec<AuthError>,
) -> Option<Vec<(usize, usize)>> {
    let mut out = Vec::new();
    let mut open: Option<(char, usize)> = None;
    let mut start = 0;
    for (i, &c) in chars.iter().enumerate() {
        match (open, c) {
            (None, '\'' | '"') => open = Some((c, i)),
            (Some((q, _)), _) if c == q => open = None,
            (None, ';') => {
                out.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some((quote, i)) = open {
        errors.push(AuthError::UnterminatedQuote {
            at: at(i + 1),
            quote,
        });
        return None;
    }
    out.push((start, chars.len()));
    Some(
        out.into_iter()
            .filter(|&(s, e)| chars[s..e].iter().any(|c| !c.is_whitespace()))
            .collect(),
    )
}

/// One `key = value` segment starting at char `offset` of its line.
fn parse_pair(
    seg: &[char],
    offset: usize,
    at: &dyn Fn(usize) -> Location,
    base_dir: &Path,
    errors: &mut Vec<AuthError>,
) -> Option<RawPair> {
    let col = |i: usize| offset + i + 1;
    let first = seg.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
    let mut open: Option<char> = None;
    let mut eq = None;
    for (i, &c) in seg.iter().enumerate() {
        match (open, c) {
            (None, '\'' | '"') => open = Some(c),
            (Some(q), _) if c == q => open = None,
            (None, '=') => {
                eq = Some(i);
                break;
            }
            _ => {}
        }
    }
    let Some(eq) = eq else {
        errors.push(AuthError::MissingEquals { at: at(col(first)) });
        return None;
    };
    let (key, _) = unquote(&seg[..eq]);
    if key.is_empty() {
        errors.push(AuthError::MissingKey { at: at(col(eq)) });
        return None;
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        errors.push(AuthError::InvalidKey { at: at(col(first)) });
        return None;
    }
    let rest = &seg[eq + 1..];
    let vstart = eq + 1 + rest.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
    let value_at = at(col(vstart));
    let (value, quoted) = unquote(rest);
    if value.is_empty() && !quoted {
        errors.push(AuthError::EmptyValue { at: value_at, key });
        return None;
    }
    let value = value.replace("\\n", "\n");
    let value = match value
        .strip_prefix("file(")
        .and_then(|v| v.strip_suffix(')'))
    {
        Some(file) => read_value_file(file.trim(), &key, &value_at, base_dir, errors)?,
        None => value,
    };
    Some(RawPair {
        key,
        key_at: at(col(first)),
        value,
        value_at,
    })
}

/// The text with quote characters dropped and unquoted whitespace trimmed
/// at both ends; whether any quote was there.
fn unquote(chars: &[char]) -> (String, bool) {
    let mut out: Vec<(char, bool)> = Vec::new();
    let mut open: Option<char> = None;
    let mut quoted = false;
    for &c in chars {
        match (open, c) {
            (None, '\'' | '"') => {
                open = Some(c);
                quoted = true;
            }
            (Some(q), _) if c == q => open = None,
            _ => out.push((c, open.is_some())),
        }
    }
    let start = out
        .iter()
        .position(|&(c, q)| q || !c.is_whitespace())
        .unwrap_or(out.len());
    let end = out
        .iter()
        .rposition(|&(c, q)| q || !c.is_whitespace())
        .map_or(start, |e| e + 1);
    (out[start..end].iter().map(|&(c, _)| c).collect(), quoted)
}

/// The contents of `file(PATH)`, without its final line break.
fn read_value_file(
    file: &str,
    key: &str,
    at: &Location,
    base_dir: &Path,
    errors: &mut Vec<AuthError>,
) -> Option<String> {
    if file.is_empty() {
        errors.push(AuthError::EmptyFilePath {
            at: at.clone(),
            key: key.to_string(),
        });
        return None;
    }
    match std::fs::read_to_string(base_dir.join(file)) {
        Ok(mut s) => {
            if s.ends_with('\n') {
                s.pop();
                if s.ends_with('\r') {
                    s.pop();
                }
            }
            Some(s)
        }
        Err(source) => {
            errors.push(AuthError::FileValue {
                at: at.clone(),
                key: key.to_string(),
                file: file.to_string(),
                source,
            });
            None
        }
    }
}
