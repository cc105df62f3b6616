//! Input values given to a TOSCA template at launch (`--input NAME=VALUE`,
//! `--inputs FILE.yaml`, or as a launch recorded them), checked against the
//! template's input definitions: the input exists, the value has its type
//! and meets its constraints, and every required input without a default
//! has a value.
//!
//! Each value keeps a span, so a problem points at what the user wrote
//! (the `--input` argument or the inputs file), with the input's
//! definition in the template as related place.

use super::Checked;
use super::check::Checker;
use super::yaml::{self, Node, Value};
use crate::diagnostic::Diagnostic;
use crate::source::{ReadError, SourceMap, Span};
use std::path::Path;

/// One input value given.
#[derive(Clone, Debug)]
pub struct Given {
    pub name: String,
    pub name_span: Span,
    pub value: Node,
    /// The text as typed on the command line: the value of a `string`
    /// input whatever YAML would read it as (`--input version=1.10`).
    pub raw: Option<String>,
}

/// Problems with an `--input` argument itself.
#[derive(Debug, thiserror::Error)]
pub enum InputArgError {
    #[error("`--input {0}` is not of the form NAME=VALUE")]
    NoEquals(String),
    #[error("`--input {0}` names no input (the part before `=` is empty)")]
    NoName(String),
}

/// Reads `NAME=VALUE` (the value as YAML: `3` is a number, `[a, b]` a
/// list); the argument becomes a source named `--input`.
pub fn from_arg(
    sources: &mut SourceMap,
    arg: &str,
    diags: &mut Vec<Diagnostic>,
) -> Result<Option<Given>, InputArgError> {
    let Some((name, value)) = arg.split_once('=') else {
        return Err(InputArgError::NoEquals(arg.to_string()));
    };
    if name.trim().is_empty() {
        return Err(InputArgError::NoName(arg.to_string()));
    }
    let file = sources.add("--input", arg.to_string());
    let name_span = Span::new(file, 0, name.len());
    let value_span = Span::new(file, name.len() + 1, arg.len());
    // Parsed in place (the name blanked out), so spans point into `arg`.
    let padded = format!("{}{value}", " ".repeat(name.len() + 1));
    let (node, ydiags) = yaml::parse(file, &padded);
    let failed = ydiags.iter().any(Diagnostic::is_error);
    diags.extend(ydiags);
    if failed {
        return Ok(None);
    }
    let value_node = match node {
        Some(n) => n,
        None => Node::new(Value::Null, value_span),
    };
    Ok(Some(Given {
        name: name.trim().to_string(),
        name_span,
        value: value_node,
        raw: Some(value.to_string()),
    }))
}

/// Reads an inputs file: a YAML map of input names to values (a top-level
/// `inputs:` map is read the same way).
pub fn from_file(
    sources: &mut SourceMap,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Result<Vec<Given>, ReadError> {
    let text = crate::source::read_text(path)?;
    let file = sources.add(path.display().to_string(), text);
    let (root, ydiags) = yaml::parse(file, sources.text(file));
    diags.extend(ydiags);
    let Some(root) = root else {
        return Ok(Vec::new());
    };
    let root = match root.get("inputs") {
        Some(inner) if inner.as_map().is_some() => inner.clone(),
        _ => root,
    };
    let Some(entries) = root.as_map() else {
        diags.push(Diagnostic::error(
            root.span,
            format!(
                "an inputs file is a YAML map of input names to values, found {}",
                root.kind()
            ),
        ));
        return Ok(Vec::new());
    };
    Ok(entries
        .iter()
        .map(|(k, v)| Given {
            name: k.scalar_text().unwrap_or_default(),
            name_span: k.span,
            value: v.clone(),
            raw: None,
        })
        .collect())
}

/// An input value recorded by a launch (JSON), as given again.
pub fn from_recorded(sources: &mut SourceMap, name: &str, value: &serde_json::Value) -> Given {
    let text = value.to_string();
    let file = sources.add(format!("the recorded input `{name}`"), text.clone());
    let (node, _) = yaml::parse(file, &text);
    let whole = Span::new(file, 0, text.len());
    Given {
        name: name.to_string(),
        name_span: whole,
        value: node.unwrap_or(Node::new(Value::Null, whole)),
        raw: None,
    }
}

/// The values of `checked`'s inputs from `given` (the last one given for a
/// name wins), each checked; required inputs with neither a value nor a
/// default are reported at their definition when `require_all`. Names the template does not
/// define are left for the caller (several templates may share the
/// inputs). Returns the given values that apply, by name.
pub fn resolve(
    checked: &Checked,
    given: &[Given],
    require_all: bool,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, Node)> {
    let types = checked.types();
    let topology = &checked.topology;
    let mut checker = Checker {
        types: &types,
        topology,
        diags: Vec::new(),
    };
    let mut out = Vec::new();
    for (name, input) in &topology.inputs {
        match given.iter().rev().find(|g| &g.name == name) {
            Some(g) => {
                let value = match (&g.raw, input.def.ty.as_str(), &g.value.value) {
                    (Some(raw), "string", v) if !matches!(v, Value::Str(_)) => {
                        Node::new(Value::Str(raw.clone()), g.value.span)
                    }
                    _ => g.value.clone(),
                };
                let before = checker.diags.len();
                checker.prop_value(&value, &input.def, &format!("the input `{name}`"));
                for d in &mut checker.diags[before..] {
                    d.related
                        .push((input.name.span, format!("the input `{name}` is defined")));
                }
                out.push((name.clone(), value));
            }
            None => {
                if require_all && input.def.required && input.def.default.is_none() {
                    checker.diags.push(
                        Diagnostic::error(
                            input.name.span,
                            format!("the input `{name}` is required and has no default, and no value was given"),
                        )
                        .with_note(format!(
                            "help: give it with `--input {name}=VALUE`, or in a file passed with `--inputs FILE.yaml`"
                        )),
                    );
                }
            }
        }
    }
    diags.extend(checker.diags);
    out
}

/// The inputs of `checked`, for messages: "`a`, `b`" or "none".
pub fn names(checked: &Checked) -> String {
    if checked.topology.inputs.is_empty() {
        return "none".into();
    }
    checked
        .topology
        .inputs
        .keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = "\
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    version: { type: string }
    ports: { type: list, entry_schema: { type: integer }, default: [] }
    count: { type: integer, default: 1 }
  node_templates:
    front:
      type: tosca.nodes.Compute
";

    fn resolved(args: &[&str]) -> (Vec<(String, Node)>, Vec<String>) {
        let mut sources = SourceMap::new();
        let file = sources.add("t.yaml", TEMPLATE);
        let checked = super::super::validate(
            &mut sources,
            file,
            &super::super::Origin::Text,
            &Default::default(),
        );
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let mut diags = Vec::new();
        let given: Vec<Given> = args
            .iter()
            .map(|a| from_arg(&mut sources, a, &mut diags).unwrap().unwrap())
            .collect();
        let values = resolve(&checked, &given, true, &mut diags);
        (values, diags.into_iter().map(|d| d.message).collect())
    }

    #[test]
    fn a_string_input_takes_the_text_as_typed() {
        let (values, problems) = resolved(&["version=1.10"]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(values[0].1.as_str(), Some("1.10"));
    }

    #[test]
    fn values_are_read_as_yaml_and_the_last_wins() {
        let (values, problems) = resolved(&["version=a", "ports=[80, 443]", "count=2", "count=3"]);
        assert!(problems.is_empty(), "{problems:?}");
        let get = |n: &str| values.iter().find(|(k, _)| k == n).unwrap().1.clone();
        assert_eq!(get("ports").as_seq().map(<[Node]>::len), Some(2));
        assert_eq!(get("count").value, Value::Int(3));
    }

    #[test]
    fn a_list_entry_of_the_wrong_type_is_refused() {
        let (_, problems) = resolved(&["version=a", "ports=[80, http]"]);
        assert_eq!(
            problems,
            ["the input `ports` takes an integer, found the string \"http\""]
        );
    }

    #[test]
    fn a_required_input_without_value_is_reported() {
        let (_, problems) = resolved(&[]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("`version` is required"),
            "{problems:?}"
        );
    }

    #[test]
    fn an_argument_without_equals_is_refused() {
        let mut sources = SourceMap::new();
        let mut diags = Vec::new();
        assert!(matches!(
            from_arg(&mut sources, "count", &mut diags),
            Err(InputArgError::NoEquals(_))
        ));
        assert!(matches!(
            from_arg(&mut sources, "=3", &mut diags),
            Err(InputArgError::NoName(_))
        ));
    }
}
