//! Handlebars templating of a recipe's string values.
//!
//! One registry, built once: strict mode (a missing variable is an error,
//! never an empty string), no HTML escaping (the output is shell input,
//! quoted by `script`), the built-in helpers (`each`, `if`, `unless`,
//! `with`, `lookup`, `eq`, `ne`, `gt`, `gte`, `lt`, `lte`, `and`, `or`,
//! `not`, `len`) and nubo's `join`.

use super::step::Text;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson, TemplateErrorReason,
};
use serde_json::Value as Json;
use std::sync::OnceLock;

/// The helpers a template may call, for messages.
pub const HELPERS: &str =
    "join, each, if, unless, with, lookup, eq, ne, gt, gte, lt, lte, and, or, not, len";

fn registry() -> &'static Handlebars<'static> {
    static REGISTRY: OnceLock<Handlebars<'static>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut h = Handlebars::new();
        h.set_strict_mode(true);
        h.register_escape_fn(handlebars::no_escape);
        h.register_helper("join", Box::new(JoinHelper));
        h
    })
}

/// `{{join LIST SEP key=FIELD}}`: the items of LIST (strings, numbers,
/// booleans; or the FIELD of each object when `key` is given) joined with
/// SEP (default `,`).
struct JoinHelper;

impl HelperDef for JoinHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let list = h
            .param(0)
            .ok_or(RenderErrorReason::ParamNotFoundForIndex("join", 0))?;
        if list.is_value_missing() {
            return Err(RenderErrorReason::MissingVariable(list.relative_path().cloned()).into());
        }
        let sep = match h.param(1) {
            None => ",".to_string(),
            Some(p) if p.is_value_missing() => {
                return Err(RenderErrorReason::MissingVariable(p.relative_path().cloned()).into());
            }
            Some(p) => scalar(p.value()).ok_or_else(|| {
                RenderErrorReason::Other("join: the separator must be a string".into())
            })?,
        };
        let key =
            match h.hash_get("key") {
                None => None,
                Some(k) => Some(k.value().as_str().map(str::to_string).ok_or_else(|| {
                    RenderErrorReason::Other("join: `key` must be a string".into())
                })?),
            };
        let items: Vec<&Json> = match list.value() {
            Json::Array(a) => a.iter().collect(),
            Json::Object(o) => o.values().collect(),
            Json::Null => Vec::new(),
            other => vec![other],
        };
        let mut parts = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let item = match (&key, item) {
                (Some(k), Json::Object(o)) => o.get(k).ok_or_else(|| {
                    RenderErrorReason::MissingVariable(Some(format!(
                        "{}.[{i}].{k}",
                        list.relative_path().map_or("list", |s| s)
                    )))
                })?,
                (_, item) => item,
            };
            parts.push(scalar(item).ok_or_else(|| {
                RenderErrorReason::Other(format!(
                    "join: item {i} is {}; give `key=FIELD` to join a field of each object",
                    json_kind(item)
                ))
            })?);
        }
        Ok(ScopedJson::Derived(Json::String(parts.join(&sep))))
    }
}

fn scalar(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Null | Json::Array(_) | Json::Object(_) => None,
    }
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// Renders `template` (written at `text`) with `ctx`. `what` names the
/// step for messages ("step 3 (`shell`)").
pub fn render(text: &Text, template: &str, ctx: &Json, what: &str) -> Result<String, Diagnostic> {
    if !template.contains("{{") {
        return Ok(template.to_string());
    }
    registry()
        .render_template(template, ctx)
        .map_err(|e| diagnostic(text, template, ctx, what, &e))
}

/// Whether a string holds template syntax at all.
pub fn is_templated(s: &str) -> bool {
    s.contains("{{")
}

fn diagnostic(text: &Text, template: &str, ctx: &Json, what: &str, e: &RenderError) -> Diagnostic {
    match e.reason() {
        RenderErrorReason::MissingVariable(Some(path)) => {
            let span = find_in(text, path).unwrap_or(text.span);
            let mut d = Diagnostic::error(span, format!("`{path}` is not defined ({what})"));
            if let Some(note) = ansible_variable_note(path) {
                d = d.with_note(note);
            } else if let Some(help) = available(ctx, path) {
                d = d.with_note(help);
            }
            d
        }
        RenderErrorReason::MissingVariable(None) => Diagnostic::error(
            text.span,
            format!("this template uses a value that is not defined ({what})"),
        ),
        RenderErrorReason::HelperNotFound(name) => {
            let span = find_in(text, name).unwrap_or(text.span);
            Diagnostic::error(span, format!("`{name}` is not a helper ({what})"))
                .with_note(format!("help: the helpers are {HELPERS}"))
        }
        RenderErrorReason::TemplateError(te) => {
            if let Some((at, len, name)) = unclosed_block(&text.raw) {
                let start = text.span.start as usize + at;
                return Diagnostic::error(
                    Span::new(text.span.file, start, start + len),
                    format!("`{{{{#{name}}}}}` is not closed ({what})"),
                )
                .with_note(format!("help: end the block with `{{{{/{name}}}}}`"));
            }
            let span = te
                .pos()
                .and_then(|(line, col)| locate(text, template, line, col))
                .unwrap_or(text.span);
            let reason = match te.reason() {
                // pest lists every rule it expected; that helps nobody.
                TemplateErrorReason::InvalidSyntax(_) => "invalid handlebars syntax".to_string(),
                other => other.to_string(),
            };
            Diagnostic::error(
                span,
                format!("this is not a valid handlebars template: {reason} ({what})"),
            )
            .with_note("help: write a literal `{{` as `\\{{`")
        }
        other => Diagnostic::error(
            text.span,
            format!("cannot render this value: {other} ({what})"),
        ),
    }
}

/// The span of the first `needle` inside a `{{ }}` of the value's source.
fn find_in(text: &Text, needle: &str) -> Option<Span> {
    // The path as written may differ (`this.x` vs `x`, `[a.b]`); try the
    // path, then its last segment.
    let candidates = [needle, needle.rsplit('.').next().unwrap_or(needle)];
    for c in candidates {
        if c.is_empty() {
            continue;
        }
        let mut from = 0;
        while let Some(i) = text.raw[from..].find(c) {
            let at = from + i;
            let open = text.raw[..at].rfind("{{");
            let close = text.raw[..at].rfind("}}");
            if open.is_some() && open > close {
                let start = text.span.start as usize + at;
                return Some(Span::new(text.span.file, start, start + c.len()));
            }
            from = at + c.len();
        }
    }
    None
}

/// The first block opened (`{{#each ...}}`) and never closed, in the
/// value's source: (offset, length of the opening tag, helper name).
fn unclosed_block(raw: &str) -> Option<(usize, usize, String)> {
    let mut stack: Vec<(usize, usize, String)> = Vec::new();
    let mut from = 0;
    while let Some(i) = raw[from..].find("{{") {
        let open = from + i;
        if open > 0 && raw.as_bytes()[open - 1] == b'\\' {
            from = open + 2;
            continue;
        }
        let close = raw[open..].find("}}").map_or(raw.len(), |c| open + c + 2);
        let inner = raw[open + 2..close.saturating_sub(2).max(open + 2)].trim_start_matches('~');
        let name: String = inner
            .get(1..)
            .unwrap_or("")
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '}' && *c != '~')
            .collect();
        if inner.starts_with('#') {
            stack.push((open, close - open, name));
        } else if inner.starts_with('/') {
            match stack.iter().rposition(|(_, _, n)| *n == name) {
                Some(i) => stack.truncate(i),
                None => return None,
            }
        }
        from = close;
    }
    stack.into_iter().next_back()
}

/// The source position of (1-based) `line`, `col` of the rendered value,
/// found by looking up that line's text in the source.
fn locate(text: &Text, template: &str, line: usize, col: usize) -> Option<Span> {
    let wanted = template.lines().nth(line.checked_sub(1)?)?;
    if wanted.trim().is_empty() {
        return None;
    }
    let at = text.raw.find(wanted)?;
    let byte = wanted
        .char_indices()
        .nth(col.saturating_sub(1))
        .map_or(wanted.len(), |(i, _)| i);
    let start = text.span.start as usize + at + byte;
    let end = (start + 1).min(text.span.end as usize).max(start);
    Some(Span::new(text.span.file, start, end))
}

/// A note for a variable that Ansible would have defined.
fn ansible_variable_note(path: &str) -> Option<String> {
    const ANSIBLE: [&str; 7] = [
        "ansible_",
        "hostvars",
        "groups",
        "inventory_hostname",
        "item",
        "IM_NODE_",
        "IM_INFRASTRUCTURE",
    ];
    ANSIBLE
        .iter()
        .any(|p| path.starts_with(p))
        .then(|| "note: this looks like an Ansible variable; nubo's context has cluster, node, nodes, systems, front, vars and ssh (see recipes/README.md)".to_string())
}

/// "help: `vars` has a, b" for the deepest existing prefix of `path`.
fn available(ctx: &Json, path: &str) -> Option<String> {
    let segments: Vec<&str> = path
        .split('.')
        .map(|s| s.trim_start_matches('[').trim_end_matches(']'))
        .collect();
    let mut here = ctx;
    let mut prefix: Vec<&str> = Vec::new();
    for seg in &segments {
        let next = match here {
            Json::Object(o) => o.get(*seg),
            Json::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) => {
                here = n;
                prefix.push(seg);
            }
            None => break,
        }
    }
    let owner = if prefix.is_empty() {
        "the context".to_string()
    } else {
        format!("`{}`", prefix.join("."))
    };
    match here {
        Json::Object(o) if o.is_empty() => Some(format!("help: {owner} is empty")),
        Json::Object(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(12).collect();
            let more = if o.len() > keys.len() { ", ..." } else { "" };
            Some(format!("help: {owner} has {}{more}", keys.join(", ")))
        }
        Json::Array(a) => Some(format!("help: {owner} is a list of {} items", a.len())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;
    use serde_json::json;

    fn text(s: &str) -> Text {
        Text {
            value: s.to_string(),
            span: Span::new(FileId(0), 10, 10 + s.len()),
            raw: s.to_string(),
        }
    }

    fn r(s: &str, ctx: &Json) -> Result<String, Diagnostic> {
        render(&text(s), s, ctx, "in step 1: shell")
    }

    #[test]
    fn renders_without_escaping() {
        let ctx = json!({"vars": {"x": "<a & 'b'>"}});
        assert_eq!(r("echo {{vars.x}}", &ctx).unwrap(), "echo <a & 'b'>");
    }

    #[test]
    fn missing_variable_names_it_and_points_at_it() {
        let ctx = json!({"vars": {"a": 1, "b": 2}});
        let d = r("echo {{vars.port}}", &ctx).unwrap_err();
        assert_eq!(d.message, "`vars.port` is not defined (in step 1: shell)");
        assert_eq!((d.span.start, d.span.end), (17, 26));
        assert_eq!(d.notes, vec!["help: `vars` has a, b"]);
    }

    #[test]
    fn if_tolerates_missing_values_in_strict_mode() {
        let ctx = json!({"vars": {}});
        assert_eq!(r("{{#if vars.x}}yes{{else}}no{{/if}}", &ctx).unwrap(), "no");
    }

    #[test]
    fn join_lists_and_fields() {
        let ctx = json!({"nodes": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "l": [1, "a", true]});
        assert_eq!(
            r("{{join nodes \" \" key=\"ip\"}}", &ctx).unwrap(),
            "10.0.0.1 10.0.0.2"
        );
        assert_eq!(r("{{join l}}", &ctx).unwrap(), "1,a,true");
        assert!(r("{{join nodes}}", &ctx).is_err());
        assert!(r("{{join missing}}", &ctx).is_err());
    }

    #[test]
    fn each_over_nodes() {
        let ctx = json!({"nodes": [{"ip": "1", "name": "a"}, {"ip": "2", "name": "b"}]});
        assert_eq!(
            r("{{#each nodes}}{{ip}} {{name}}\n{{/each}}", &ctx).unwrap(),
            "1 a\n2 b\n"
        );
    }

    #[test]
    fn syntax_errors_and_unknown_helpers_are_diagnostics() {
        let ctx = json!({});
        let d = r("{{#if x}}", &ctx).unwrap_err();
        assert_eq!(d.message, "`{{#if}}` is not closed (in step 1: shell)");
        let d = r("a {{/if}}", &ctx).unwrap_err();
        assert!(
            d.message.contains("not a valid handlebars template"),
            "{}",
            d.message
        );
        let d = r("a {{#each nodes}}{{#if x}}{{/if}}\n", &ctx).unwrap_err();
        assert_eq!(d.message, "`{{#each}}` is not closed (in step 1: shell)");
        assert_eq!((d.span.start, d.span.end), (12, 27));
        let d = r("{{frob 1}}", &ctx).unwrap_err();
        assert!(
            d.message.starts_with("`frob` is not a helper"),
            "{}",
            d.message
        );
    }
}
