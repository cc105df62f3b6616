//! Intrinsic functions: `get_input`, `get_property`, `get_attribute`,
//! `concat`, `join`, `token` (and the others TOSCA names, accepted as
//! written). A function is a map with one key, the function's name.
//!
//! Evaluation replaces what is known before the cluster exists (inputs,
//! properties) and leaves what needs live values (`get_attribute`,
//! `get_operation_output`) symbolic: [`eval`] returns `None` for them.

use super::template::{NodeTemplate, Topology};
use super::yaml::{Node, Value, python_float};
use crate::source::Span;

pub const NAMES: &[&str] = &[
    "get_input",
    "get_property",
    "get_attribute",
    "get_operation_output",
    "get_nodes_of_type",
    "get_artifact",
    "concat",
    "join",
    "token",
];

/// A function call found in a value.
pub struct Call<'a> {
    pub name: &'a str,
    pub name_span: Span,
    pub args: &'a Node,
    pub span: Span,
}

/// The function a value calls, if it is one.
pub fn call(n: &Node) -> Option<Call<'_>> {
    match n.as_map()? {
        [(k, v)] => {
            let name = k.as_str()?;
            NAMES.contains(&name).then_some(Call {
                name,
                name_span: k.span,
                args: v,
                span: n.span,
            })
        }
        _ => None,
    }
}

/// Every function call inside a value, outermost first.
pub fn calls<'a>(n: &'a Node, out: &mut Vec<Call<'a>>) {
    if let Some(c) = call(n) {
        let args = c.args;
        out.push(c);
        calls(args, out);
        return;
    }
    match &n.value {
        Value::Seq(items) => items.iter().for_each(|i| calls(i, out)),
        Value::Map(entries) => entries.iter().for_each(|(_, v)| calls(v, out)),
        _ => {}
    }
}

/// What evaluation can see: the topology and the input values.
pub struct Context<'a> {
    pub topology: &'a Topology,
    pub types: &'a super::types::Types<'a>,
    /// Input values given by the user, by name (else the defaults).
    pub inputs: &'a [(String, Node)],
    /// The live attributes of a launched cluster, for `get_attribute`
    /// (outputs after launch): the node and the arguments after the
    /// entity (attribute, then indexes or keys). `None` before launch.
    pub attributes: Option<Attributes<'a>>,
}

/// Looks up a live attribute: the node, then the attribute name and any
/// nested keys or indexes.
pub type Attributes<'a> = &'a dyn Fn(&NodeTemplate, &[String]) -> Option<Node>;

impl Context<'_> {
    pub fn input(&self, name: &str) -> Option<Node> {
        if let Some((_, v)) = self.inputs.iter().find(|(n, _)| n == name) {
            return Some(v.clone());
        }
        let input = self.topology.inputs.get(name)?;
        let d = input.def.default.clone()?;
        Some(d)
    }

    /// The node a `get_property`/`get_attribute` entity names, seen from
    /// `node` (SELF, HOST, or a template name; SOURCE/TARGET need a
    /// relationship and are not evaluated).
    pub fn entity<'t>(
        &'t self,
        entity: &str,
        node: Option<&'t NodeTemplate>,
    ) -> Option<&'t NodeTemplate> {
        match entity {
            "SELF" => node,
            "HOST" => self.host_of(node?),
            "SOURCE" | "TARGET" => None,
            name => self.topology.nodes.get(name),
        }
    }

    /// The node `node` is hosted on (following `host` requirements / HostedOn).
    pub fn host_of<'t>(&'t self, node: &'t NodeTemplate) -> Option<&'t NodeTemplate> {
        for r in &node.requirements {
            if self.is_hosted_on(node, r) {
                return r
                    .node
                    .as_ref()
                    .and_then(|n| self.topology.nodes.get(&n.text));
            }
        }
        None
    }

    /// Whether a requirement is a HostedOn relationship.
    pub fn is_hosted_on(&self, node: &NodeTemplate, r: &super::template::Requirement) -> bool {
        self.relationship_type(node, r).is_some_and(|t| {
            self.types.is_a(
                super::types::Kind::Relationship,
                &t,
                "tosca.relationships.HostedOn",
            )
        })
    }

    /// The relationship type of a requirement: written, from a relationship
    /// template, or from the node type's requirement definition.
    pub fn relationship_type(
        &self,
        node: &NodeTemplate,
        r: &super::template::Requirement,
    ) -> Option<String> {
        use super::template::RelRef;
        use super::types::Kind;
        match &r.relationship {
            Some(RelRef::Inline { ty, .. }) => return Some(ty.text.clone()),
            Some(RelRef::Named(n)) => {
                if let Some(t) = self.topology.relationships.get(&n.text) {
                    return Some(t.ty.text.clone());
                }
                return Some(n.text.clone());
            }
            None => {}
        }
        let defs = self.types.requirements(&node.ty.text);
        let def = defs.iter().find(|d| d.name == r.name.text)?;
        let _ = Kind::Node;
        def.relationship.clone()
    }
}

/// Evaluates a value for node `node`: inputs and properties are replaced;
/// `None` when the value depends on something only known at run time.
pub fn eval(n: &Node, node: Option<&NodeTemplate>, cx: &Context, depth: usize) -> Option<Node> {
    if depth > 32 {
        return None;
    }
    let Some(c) = call(n) else {
        return Some(match &n.value {
            Value::Seq(items) => Node::new(
                Value::Seq(
                    items
                        .iter()
                        .map(|i| eval(i, node, cx, depth + 1))
                        .collect::<Option<Vec<_>>>()?,
                ),
                n.span,
            ),
            Value::Map(entries) => Node::new(
                Value::Map(
                    entries
                        .iter()
                        .map(|(k, v)| Some((k.clone(), eval(v, node, cx, depth + 1)?)))
                        .collect::<Option<Vec<_>>>()?,
                ),
                n.span,
            ),
            _ => n.clone(),
        });
    };
    let arg_strs: Vec<String> = match &c.args.value {
        Value::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
        _ => c.args.scalar_text().into_iter().collect(),
    };
    match c.name {
        "get_input" => {
            let name = arg_strs.first()?;
            let v = cx.input(name)?;
            let v = eval(&v, node, cx, depth + 1)?;
            index_into(v, &arg_strs[1..])
        }
        "get_property" => {
            let target = cx.entity(arg_strs.first()?, node)?;
            let rest = &arg_strs[1..];
            // [entity, prop, index...] or [entity, cap_or_req, prop, index...]
            if let Some(v) = property_value(target, &rest[0], cx) {
                let v = eval(&v, Some(target), cx, depth + 1)?;
                return index_into(v, &rest[1..]);
            }
            let cap = target.capabilities.get(rest.first()?)?;
            let prop = rest.get(1)?;
            let v = cap
                .properties
                .iter()
                .find(|a| &a.name.text == prop)?
                .value
                .clone();
            let v = eval(&v, Some(target), cx, depth + 1)?;
            index_into(v, &rest[2..])
        }
        "get_attribute" => {
            let live = cx.attributes?;
            let target = cx.entity(arg_strs.first()?, node)?;
            let mut v = live(target, arg_strs.get(1..)?)?;
            v.span = n.span;
            Some(v)
        }
        "concat" => {
            let mut s = String::new();
            for part in c.args.as_seq()? {
                s.push_str(&eval(part, node, cx, depth + 1)?.scalar_text()?);
            }
            Some(Node::new(Value::Str(s), n.span))
        }
        "join" => {
            let args = c.args.as_seq()?;
            let list = eval(args.first()?, node, cx, depth + 1)?;
            let sep = match args.get(1) {
                Some(d) => eval(d, node, cx, depth + 1)?.scalar_text()?,
                None => String::new(),
            };
            let parts = list
                .as_seq()?
                .iter()
                .map(|p| eval(p, node, cx, depth + 1)?.scalar_text())
                .collect::<Option<Vec<_>>>()?;
            Some(Node::new(Value::Str(parts.join(&sep)), n.span))
        }
        "token" => {
            let args = c.args.as_seq()?;
            let s = eval(args.first()?, node, cx, depth + 1)?.scalar_text()?;
            let seps = eval(args.get(1)?, node, cx, depth + 1)?.scalar_text()?;
            let idx = match eval(args.get(2)?, node, cx, depth + 1)?.value {
                Value::Int(i) => usize::try_from(i).ok()?,
                _ => return None,
            };
            let part = s.split(|ch| seps.contains(ch)).nth(idx)?;
            Some(Node::new(Value::Str(part.to_string()), n.span))
        }
        _ => None,
    }
}

/// A property of a node template: assigned, or its type's default.
pub fn property_value(node: &NodeTemplate, name: &str, cx: &Context) -> Option<Node> {
    if let Some(v) = node.property(name) {
        return Some(v.clone());
    }
    let props = cx.types.properties(super::types::Kind::Node, &node.ty.text);
    props.get(name).and_then(|d| d.default.clone())
}

fn index_into(mut v: Node, path: &[String]) -> Option<Node> {
    for p in path {
        v = match &v.value {
            Value::Seq(items) => items.get(p.parse::<usize>().ok()?)?.clone(),
            Value::Map(_) => v.get(p)?.clone(),
            _ => return None,
        };
    }
    Some(v)
}

/// A value as text, as Python's `str()` would give it for scalars.
pub fn text(n: &Node) -> Option<String> {
    match &n.value {
        Value::Float(f) => Some(python_float(*f)),
        _ => n.scalar_text(),
    }
}
