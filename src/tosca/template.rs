//! The service template's `topology_template`, read from YAML into a tree
//! with spans: inputs, node templates (properties, attributes,
//! capabilities, requirements in short and long form, interfaces,
//! artifacts), relationship templates, groups, policies and outputs.
//!
//! Only the shape is checked here (a map where a map belongs, no unknown
//! section); what the names and values mean is checked in
//! [`super::check`].

use super::types::{self, PropDef};
use super::yaml::{Node, Value};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;

/// A name as written, with its span.
#[derive(Clone, Debug, PartialEq)]
pub struct Name {
    pub text: String,
    pub span: Span,
}

/// A property, attribute or input assignment: the key and its value.
#[derive(Clone, Debug)]
pub struct Assign {
    pub name: Name,
    pub value: Node,
}

#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub span: Span,
    pub inputs: IndexMap<String, Input>,
    pub nodes: IndexMap<String, NodeTemplate>,
    pub relationships: IndexMap<String, RelTemplate>,
    pub groups: IndexMap<String, Group>,
    pub policies: Vec<Policy>,
    pub outputs: IndexMap<String, Output>,
}

#[derive(Clone, Debug)]
pub struct Input {
    pub name: Name,
    pub def: PropDef,
    pub node: Node,
}

#[derive(Clone, Debug)]
pub struct NodeTemplate {
    pub name: Name,
    pub ty: Name,
    pub properties: Vec<Assign>,
    pub attributes: Vec<Assign>,
    pub capabilities: IndexMap<String, CapAssign>,
    pub requirements: Vec<Requirement>,
    pub interfaces: IndexMap<String, IfaceAssign>,
    pub artifacts: Vec<(Name, Node)>,
}

impl NodeTemplate {
    pub fn property(&self, name: &str) -> Option<&Node> {
        self.properties
            .iter()
            .find(|a| a.name.text == name)
            .map(|a| &a.value)
    }
}

#[derive(Clone, Debug)]
pub struct CapAssign {
    pub name: Name,
    pub properties: Vec<Assign>,
    pub attributes: Vec<Assign>,
}

#[derive(Clone, Debug)]
pub struct Requirement {
    pub name: Name,
    pub node: Option<Name>,
    pub capability: Option<Name>,
    pub relationship: Option<RelRef>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum RelRef {
    /// A relationship type or the name of a relationship template.
    Named(Name),
    /// `relationship: { type: ..., properties: ..., interfaces: ... }`
    Inline {
        ty: Name,
        properties: Vec<Assign>,
        interfaces: IndexMap<String, IfaceAssign>,
    },
}

#[derive(Clone, Debug, Default)]
pub struct IfaceAssign {
    pub span: Span,
    pub ty: Option<Name>,
    pub inputs: Vec<Assign>,
    pub operations: IndexMap<String, Operation>,
}

#[derive(Clone, Debug)]
pub struct Operation {
    pub name: Name,
    pub implementation: Option<Node>,
    pub inputs: Vec<Assign>,
}

#[derive(Clone, Debug)]
pub struct RelTemplate {
    pub name: Name,
    pub ty: Name,
    pub properties: Vec<Assign>,
    pub interfaces: IndexMap<String, IfaceAssign>,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub name: Name,
    pub ty: Name,
    pub members: Vec<Name>,
    pub properties: Vec<Assign>,
}

#[derive(Clone, Debug)]
pub struct Policy {
    pub name: Name,
    pub ty: Name,
    pub targets: Vec<Name>,
    pub properties: Vec<Assign>,
}

#[derive(Clone, Debug)]
pub struct Output {
    pub name: Name,
    pub value: Option<Node>,
}

/// Reads `topology_template`. Shape problems are reported and the parts
/// concerned left out.
pub fn read(tt: &Node, diags: &mut Vec<Diagnostic>) -> Topology {
    let mut t = Topology {
        span: tt.span,
        ..Topology::default()
    };
    let Some(entries) = map_of(tt, "topology_template", diags) else {
        return t;
    };
    for (k, v) in entries {
        let Some(key) = k.as_str() else { continue };
        match key {
            "description" => {}
            "inputs" => {
                for (name, d) in named_maps(v, "inputs", diags) {
                    if let Some(def) = types::prop_def(&name.text, name.span, d, "inputs", diags) {
                        t.inputs.insert(
                            name.text.clone(),
                            Input {
                                name,
                                def,
                                node: d.clone(),
                            },
                        );
                    }
                }
            }
            "node_templates" => {
                for (name, d) in named_maps(v, "node_templates", diags) {
                    if let Some(n) = node_template(name, d, diags) {
                        t.nodes.insert(n.name.text.clone(), n);
                    }
                }
            }
            "relationship_templates" => {
                for (name, d) in named_maps(v, "relationship_templates", diags) {
                    let what = format!("relationship template `{}`", name.text);
                    check_keys(d, &what, &["type", "description", "metadata", "properties", "attributes", "interfaces", "copy"], diags);
                    let Some(ty) = type_name(d, &name, &what, diags) else { continue };
                    t.relationships.insert(
                        name.text.clone(),
                        RelTemplate {
                            ty,
                            properties: assigns(d.get("properties"), "properties", diags),
                            interfaces: interfaces(d.get("interfaces"), diags),
                            name,
                        },
                    );
                }
            }
            "groups" => {
                for (name, d) in named_maps(v, "groups", diags) {
                    let what = format!("group `{}`", name.text);
                    check_keys(d, &what, &["type", "description", "metadata", "properties", "members", "interfaces"], diags);
                    let Some(ty) = type_name(d, &name, &what, diags) else { continue };
                    t.groups.insert(
                        name.text.clone(),
                        Group {
                            ty,
                            members: names(d.get("members"), "members", diags),
                            properties: assigns(d.get("properties"), "properties", diags),
                            name,
                        },
                    );
                }
            }
            "policies" => {
                // A list of single-entry maps (the specification), or a map.
                let mut items: Vec<(Name, &Node)> = Vec::new();
                match &v.value {
                    Value::Seq(seq) => {
                        for item in seq {
                            items.extend(named_maps(item, "policies", diags));
                        }
                    }
                    Value::Null => {}
                    _ => items.extend(named_maps(v, "policies", diags)),
                }
                for (name, d) in items {
                    let what = format!("policy `{}`", name.text);
                    check_keys(d, &what, &["type", "description", "metadata", "properties", "targets", "triggers"], diags);
                    let Some(ty) = type_name(d, &name, &what, diags) else { continue };
                    t.policies.push(Policy {
                        ty,
                        targets: names(d.get("targets"), "targets", diags),
                        properties: assigns(d.get("properties"), "properties", diags),
                        name,
                    });
                }
            }
            "outputs" => {
                for (name, d) in named_maps(v, "outputs", diags) {
                    check_keys(d, &format!("output `{}`", name.text), &["description", "value", "type"], diags);
                    t.outputs.insert(
                        name.text.clone(),
                        Output {
                            value: d.get("value").cloned(),
                            name,
                        },
                    );
                }
            }
            "substitution_mappings" => diags.push(Diagnostic::warning(
                k.span,
                "`substitution_mappings` is accepted but ignored: nubo does not substitute templates",
            )),
            "workflows" => {}
            other => diags.push(unknown_key(k, other, "`topology_template`")),
        }
    }
    t
}

fn unknown_key(k: &Node, key: &str, what: &str) -> Diagnostic {
    Diagnostic::error(k.span, format!("{what} has no section `{key}`"))
}

/// Reports keys of `d` that are not in `allowed`.
pub fn check_keys(d: &Node, what: &str, allowed: &[&str], diags: &mut Vec<Diagnostic>) {
    for (k, _) in d.as_map().unwrap_or_default() {
        match k.as_str() {
            Some(key) if allowed.contains(&key) => {}
            Some(key) => diags.push(unknown_key(k, key, what).with_note(format!(
                "help: the sections allowed here are {}",
                allowed.join(", ")
            ))),
            None => diags.push(Diagnostic::error(
                k.span,
                format!("{what}: a section name must be a string"),
            )),
        }
    }
}

fn map_of<'a>(v: &'a Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<&'a [(Node, Node)]> {
    match &v.value {
        Value::Map(m) => Some(m),
        Value::Null => Some(&[]),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{what}` must be a map, found {}", v.kind()),
            ));
            None
        }
    }
}

/// The entries of a map of named definitions, each of which must be a map.
fn named_maps<'a>(v: &'a Node, what: &str, diags: &mut Vec<Diagnostic>) -> Vec<(Name, &'a Node)> {
    let mut out = Vec::new();
    for (k, d) in map_of(v, what, diags).unwrap_or_default() {
        let Some(name) = k.scalar_text() else {
            diags.push(Diagnostic::error(
                k.span,
                format!("a name in `{what}` must be a string"),
            ));
            continue;
        };
        if d.as_map().is_none() {
            diags.push(Diagnostic::error(
                d.span,
                format!("`{name}` in `{what}` must be a map, found {}", d.kind()),
            ));
            continue;
        }
        out.push((
            Name {
                text: name,
                span: k.span,
            },
            d,
        ));
    }
    out
}

fn type_name(d: &Node, name: &Name, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Name> {
    match d.get("type") {
        Some(Node {
            value: Value::Str(s),
            span,
        }) => Some(Name {
            text: s.clone(),
            span: *span,
        }),
        Some(other) => {
            diags.push(Diagnostic::error(
                other.span,
                format!(
                    "`type` of the {what} must be a type name, found {}",
                    other.kind()
                ),
            ));
            None
        }
        None => {
            diags.push(Diagnostic::error(
                name.span,
                format!("the {what} has no `type`"),
            ));
            None
        }
    }
}

fn names(v: Option<&Node>, what: &str, diags: &mut Vec<Diagnostic>) -> Vec<Name> {
    let Some(v) = v else { return Vec::new() };
    let Some(items) = v.as_seq() else {
        diags.push(Diagnostic::error(
            v.span,
            format!("`{what}` must be a list of names, found {}", v.kind()),
        ));
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match i.as_str() {
            Some(s) => Some(Name {
                text: s.to_string(),
                span: i.span,
            }),
            None => {
                diags.push(Diagnostic::error(
                    i.span,
                    format!("an entry of `{what}` must be a name, found {}", i.kind()),
                ));
                None
            }
        })
        .collect()
}

/// `properties:` / `attributes:` / `inputs:` assignments.
pub fn assigns(v: Option<&Node>, what: &str, diags: &mut Vec<Diagnostic>) -> Vec<Assign> {
    let Some(v) = v else { return Vec::new() };
    map_of(v, what, diags)
        .unwrap_or_default()
        .iter()
        .filter_map(|(k, val)| {
            Some(Assign {
                name: Name {
                    text: k.scalar_text()?,
                    span: k.span,
                },
                value: val.clone(),
            })
        })
        .collect()
}

fn node_template(name: Name, d: &Node, diags: &mut Vec<Diagnostic>) -> Option<NodeTemplate> {
    let what = format!("node template `{}`", name.text);
    check_keys(
        d,
        &what,
        &[
            "type",
            "description",
            "metadata",
            "directives",
            "properties",
            "attributes",
            "requirements",
            "capabilities",
            "interfaces",
            "artifacts",
            "node_filter",
            "copy",
        ],
        diags,
    );
    let ty = type_name(d, &name, &what, diags)?;
    let mut capabilities = IndexMap::new();
    if let Some(caps) = d.get("capabilities") {
        for (cname, c) in named_maps(caps, "capabilities", diags) {
            check_keys(
                c,
                &format!("capability `{}` of {what}", cname.text),
                &["properties", "attributes"],
                diags,
            );
            capabilities.insert(
                cname.text.clone(),
                CapAssign {
                    properties: assigns(c.get("properties"), "properties", diags),
                    attributes: assigns(c.get("attributes"), "attributes", diags),
                    name: cname,
                },
            );
        }
    }
    let mut requirements = Vec::new();
    if let Some(reqs) = d.get("requirements") {
        match &reqs.value {
            Value::Seq(items) => {
                for item in items {
                    match item.as_map() {
                        Some([(k, v)]) => {
                            if let Some(r) = requirement(k, v, diags) {
                                requirements.push(r);
                            }
                        }
                        _ => diags.push(Diagnostic::error(
                            item.span,
                            "a requirement is a map with one entry: `NAME: NODE` or `NAME: { node: ..., relationship: ... }`",
                        )),
                    }
                }
            }
            Value::Null => {}
            _ => diags.push(Diagnostic::error(
                reqs.span,
                format!("`requirements` must be a list, found {}", reqs.kind()),
            )),
        }
    }
    let mut artifacts = Vec::new();
    if let Some(arts) = d.get("artifacts") {
        for (k, v) in map_of(arts, "artifacts", diags).unwrap_or_default() {
            if let Some(n) = k.scalar_text() {
                artifacts.push((
                    Name {
                        text: n,
                        span: k.span,
                    },
                    v.clone(),
                ));
            }
        }
    }
    Some(NodeTemplate {
        ty,
        properties: assigns(d.get("properties"), "properties", diags),
        attributes: assigns(d.get("attributes"), "attributes", diags),
        capabilities,
        requirements,
        interfaces: interfaces(d.get("interfaces"), diags),
        artifacts,
        name,
    })
}

fn name_node(v: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Name> {
    match v.as_str() {
        Some(s) => Some(Name {
            text: s.to_string(),
            span: v.span,
        }),
        None => {
            diags.push(Diagnostic::error(
                v.span,
                format!("`{what}` takes a name, found {}", v.kind()),
            ));
            None
        }
    }
}

fn requirement(k: &Node, v: &Node, diags: &mut Vec<Diagnostic>) -> Option<Requirement> {
    let name = Name {
        text: k.scalar_text()?,
        span: k.span,
    };
    let span = k.span.to(v.span);
    match &v.value {
        Value::Str(s) => Some(Requirement {
            node: Some(Name {
                text: s.clone(),
                span: v.span,
            }),
            name,
            capability: None,
            relationship: None,
            span,
        }),
        Value::Map(_) => {
            check_keys(
                v,
                &format!("requirement `{}`", name.text),
                &[
                    "node",
                    "capability",
                    "relationship",
                    "node_filter",
                    "occurrences",
                    "description",
                ],
                diags,
            );
            let relationship = v.get("relationship").and_then(|r| match &r.value {
                Value::Str(s) => Some(RelRef::Named(Name {
                    text: s.clone(),
                    span: r.span,
                })),
                Value::Map(_) => {
                    check_keys(
                        r,
                        "relationship",
                        &["type", "properties", "interfaces", "description"],
                        diags,
                    );
                    let ty = r.get("type").and_then(|t| name_node(t, "type", diags));
                    match ty {
                        Some(ty) => Some(RelRef::Inline {
                            ty,
                            properties: assigns(r.get("properties"), "properties", diags),
                            interfaces: interfaces(r.get("interfaces"), diags),
                        }),
                        None => {
                            diags
                                .push(Diagnostic::error(r.span, "this relationship has no `type`"));
                            None
                        }
                    }
                }
                _ => {
                    diags.push(Diagnostic::error(
                        r.span,
                        format!("`relationship` takes a name or a map, found {}", r.kind()),
                    ));
                    None
                }
            });
            Some(Requirement {
                node: v.get("node").and_then(|n| name_node(n, "node", diags)),
                capability: v
                    .get("capability")
                    .and_then(|n| name_node(n, "capability", diags)),
                relationship,
                name,
                span,
            })
        }
        Value::Null => Some(Requirement {
            name,
            node: None,
            capability: None,
            relationship: None,
            span,
        }),
        _ => {
            diags.push(Diagnostic::error(
                v.span,
                format!(
                    "the requirement `{}` takes a node name or a map, found {}",
                    name.text,
                    v.kind()
                ),
            ));
            None
        }
    }
}

/// `interfaces:` of a template: interface name → operations.
pub fn interfaces(v: Option<&Node>, diags: &mut Vec<Diagnostic>) -> IndexMap<String, IfaceAssign> {
    let mut out = IndexMap::new();
    let Some(v) = v else { return out };
    for (iname, iv) in named_maps(v, "interfaces", diags) {
        let mut iface = IfaceAssign {
            span: iname.span,
            ..IfaceAssign::default()
        };
        for (ok, ov) in iv.as_map().unwrap_or_default() {
            let Some(op) = ok.scalar_text() else { continue };
            match op.as_str() {
                "type" => iface.ty = name_node(ov, "type", diags),
                "inputs" => iface.inputs = assigns(Some(ov), "inputs", diags),
                "description" | "notifications" => {}
                "operations" => {
                    for (ok2, ov2) in ov.as_map().unwrap_or_default() {
                        if let Some(op2) = ok2.scalar_text() {
                            let o = operation(
                                Name {
                                    text: op2.clone(),
                                    span: ok2.span,
                                },
                                ov2,
                                diags,
                            );
                            iface.operations.insert(op2, o);
                        }
                    }
                }
                _ => {
                    let o = operation(
                        Name {
                            text: op.clone(),
                            span: ok.span,
                        },
                        ov,
                        diags,
                    );
                    iface.operations.insert(op, o);
                }
            }
        }
        out.insert(iname.text.clone(), iface);
    }
    out
}

fn operation(name: Name, v: &Node, diags: &mut Vec<Diagnostic>) -> Operation {
    match &v.value {
        Value::Map(_) => {
            check_keys(
                v,
                &format!("operation `{}`", name.text),
                &[
                    "implementation",
                    "inputs",
                    "description",
                    "outputs",
                    "timeout",
                ],
                diags,
            );
            Operation {
                name,
                implementation: v.get("implementation").cloned(),
                inputs: assigns(v.get("inputs"), "inputs", diags),
            }
        }
        Value::Null => Operation {
            name,
            implementation: None,
            inputs: Vec::new(),
        },
        _ => Operation {
            name,
            implementation: Some(v.clone()),
            inputs: Vec::new(),
        },
    }
}

/// The file an operation's `implementation` names (`implementation: x`,
/// or `implementation: { primary: x }`).
pub fn implementation_file(n: &Node) -> Option<&str> {
    match &n.value {
        Value::Str(s) => Some(s),
        Value::Map(_) => n.get("primary").and_then(|p| match &p.value {
            Value::Str(s) => Some(s.as_str()),
            Value::Map(_) => p.get("file").and_then(Node::as_str),
            _ => None,
        }),
        _ => None,
    }
}
