//! The JSON form: a list of objects with the line form's keys (what IM's
//! REST API takes). Values are taken as written: strings, or numbers and
//! booleans as their text; `file(...)` is not read here, as IM does not.

use indexmap::IndexMap;
use serde_json::value::RawValue;

use super::entries::{RawEntry, RawPair};
use super::error::{AuthError, Location};

pub(crate) fn parse(path: &str, text: &str, errors: &mut Vec<AuthError>) -> Vec<RawEntry> {
    let loc = |offset: usize| location(path, text, offset);
    if text.trim_start().starts_with('{') {
        let offset = text.len() - text.trim_start().len();
        errors.push(AuthError::Json {
            at: loc(offset),
            message: "expected a list of credentials, `[{\"id\": ..., \"type\": ...}, ...]`, found an object".into(),
        });
        return Vec::new();
    }
    let list: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(l) => l,
        Err(e) => {
            errors.push(serde_error(path, text, 0, text, &e));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for raw in list {
        let body = raw.get();
        let start = offset_in(text, body);
        if !body.starts_with('{') {
            errors.push(AuthError::Json {
                at: loc(start),
                message: format!(
                    "expected a credential, `{{\"id\": ..., \"type\": ...}}`, found {}",
                    kind_of(body)
                ),
            });
            continue;
        }
        let map: IndexMap<String, &RawValue> = match serde_json::from_str(body) {
            Ok(m) => m,
            Err(e) => {
                errors.push(serde_error(path, text, start, body, &e));
                continue;
            }
        };
        let mut pairs = Vec::new();
        let mut broken = false;
        for (key, v) in map {
            let at = loc(offset_in(text, v.get()));
            let value = match serde_json::from_str::<serde_json::Value>(v.get()) {
                Ok(serde_json::Value::String(s)) => s,
                Ok(n @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                    n.to_string()
                }
                _ => {
                    errors.push(AuthError::Json {
                        at,
                        message: format!(
                            "`{key}` takes a string (or a number or boolean), found {}",
                            kind_of(v.get())
                        ),
                    });
                    broken = true;
                    continue;
                }
            };
            pairs.push(RawPair {
                key,
                key_at: at.clone(),
                value,
                value_at: at,
            });
        }
        out.push(RawEntry {
            at: loc(start),
            pairs,
            broken,
        });
    }
    out
}

/// The byte offset of `part`, a slice of `text`, in `text`.
fn offset_in(text: &str, part: &str) -> usize {
    (part.as_ptr() as usize).saturating_sub(text.as_ptr() as usize)
}

/// The line and column (in characters) of a byte offset.
fn location(path: &str, text: &str, offset: usize) -> Location {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Location {
        path: path.to_string(),
        line,
        column: before[line_start..].chars().count() + 1,
    }
}

/// A serde_json error in `part` (starting at byte `start` of `text`),
/// located in `text`, its message without serde's own position.
fn serde_error(
    path: &str,
    text: &str,
    start: usize,
    part: &str,
    e: &serde_json::Error,
) -> AuthError {
    // serde_json counts lines from 1 and columns in bytes from 1 (0 at a
    // line's start, or at the end of input).
    let mut offset = 0;
    for (n, l) in part.split_inclusive('\n').enumerate() {
        if n + 1 == e.line() {
            offset += e.column().saturating_sub(1).min(l.len());
            break;
        }
        offset += l.len();
    }
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    AuthError::Json {
        at: location(path, text, start + offset),
        message: format!("invalid JSON: {message}"),
    }
}

fn kind_of(json: &str) -> &'static str {
    match json.trim_start().chars().next() {
        Some('[') => "a list",
        Some('{') => "an object",
        Some('n') => "null",
        Some('"') => "a string",
        Some('t' | 'f') => "a boolean",
        _ => "a number",
    }
}
