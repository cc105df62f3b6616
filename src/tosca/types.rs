//! Type definitions (data, artifact, capability, interface, relationship,
//! node, group and policy types) and their `derived_from` chains.
//!
//! A [`TypeTable`] holds the definitions of one or more files; [`Types`]
//! layers the table built from a template and its imports over the
//! normative table, so a definition written by the user replaces a
//! normative one of the same name.

use super::yaml::{Node, Value};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Data,
    Artifact,
    Capability,
    Interface,
    Relationship,
    Node,
    Group,
    Policy,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Data,
        Kind::Artifact,
        Kind::Capability,
        Kind::Interface,
        Kind::Relationship,
        Kind::Node,
        Kind::Group,
        Kind::Policy,
    ];

    /// The section of a service template that defines types of this kind.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Data => "data_types",
            Kind::Artifact => "artifact_types",
            Kind::Capability => "capability_types",
            Kind::Interface => "interface_types",
            Kind::Relationship => "relationship_types",
            Kind::Node => "node_types",
            Kind::Group => "group_types",
            Kind::Policy => "policy_types",
        }
    }

    /// Words for messages: "node type", "capability type", ...
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Data => "data type",
            Kind::Artifact => "artifact type",
            Kind::Capability => "capability type",
            Kind::Interface => "interface type",
            Kind::Relationship => "relationship type",
            Kind::Node => "node type",
            Kind::Group => "group type",
            Kind::Policy => "policy type",
        }
    }

    /// The prefix of the normative names of this kind, for short names
    /// (`Compute` for `tosca.nodes.Compute`).
    fn prefix(self) -> &'static str {
        match self {
            Kind::Data => "tosca.datatypes.",
            Kind::Artifact => "tosca.artifacts.",
            Kind::Capability => "tosca.capabilities.",
            Kind::Interface => "tosca.interfaces.",
            Kind::Relationship => "tosca.relationships.",
            Kind::Node => "tosca.nodes.",
            Kind::Group => "tosca.groups.",
            Kind::Policy => "tosca.policies.",
        }
    }
}

/// A property, attribute or input definition.
#[derive(Clone, Debug)]
pub struct PropDef {
    pub ty: String,
    pub span: Span,
    pub required: bool,
    pub default: Option<Node>,
    pub entry_schema: Option<String>,
    pub constraints: Vec<Node>,
}

#[derive(Clone, Debug)]
pub struct CapDef {
    pub ty: String,
    pub span: Span,
    pub valid_source_types: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct ReqDef {
    pub name: String,
    pub span: Span,
    pub capability: Option<String>,
    pub node: Option<String>,
    pub relationship: Option<String>,
    /// `occurrences: [min, max]` (max `None`: UNBOUNDED); TOSCA's
    /// default is [1, UNBOUNDED].
    pub occurrences: (i64, Option<i64>),
}

#[derive(Clone, Debug, Default)]
pub struct IfaceDef {
    pub ty: Option<String>,
    /// Operation name and its definition as written (a string is an
    /// implementation; a map has `implementation` and `inputs`).
    pub operations: IndexMap<String, Node>,
}

#[derive(Clone, Debug)]
pub struct TypeDef {
    pub name: String,
    pub kind: Kind,
    pub span: Span,
    pub derived_from: Option<(String, Span)>,
    pub properties: IndexMap<String, PropDef>,
    pub attributes: IndexMap<String, PropDef>,
    pub capabilities: IndexMap<String, CapDef>,
    pub requirements: Vec<ReqDef>,
    pub interfaces: IndexMap<String, IfaceDef>,
    pub artifacts: Vec<(String, Node)>,
    pub valid_target_types: Vec<String>,
    /// Interface types: the operations they declare.
    pub operations: Vec<String>,
    /// Data types: constraints on the value.
    pub constraints: Vec<Node>,
}

#[derive(Clone, Debug, Default)]
pub struct TypeTable {
    pub types: HashMap<(Kind, String), TypeDef>,
    /// Tables of imported files, shared (an import read before, with the
    /// same text at the same file id, is not parsed again); a later one
    /// replaces an earlier one, and `types` replaces them all.
    pub layers: Vec<std::sync::Arc<TypeTable>>,
    /// Node types a document's topology implements
    /// (`substitution_mappings.node_type`), with that topology.
    pub substitutions: Vec<(String, Node)>,
}

impl TypeTable {
    /// The topology of an imported document that implements the node type
    /// `name` (its `substitution_mappings.node_type`).
    pub fn imported_substitution(&self, name: &str) -> Option<&Node> {
        self.layers.iter().rev().find_map(|l| {
            l.substitutions
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, tt)| tt)
                .or_else(|| l.imported_substitution(name))
        })
    }

    fn lookup(&self, key: &(Kind, String)) -> Option<&TypeDef> {
        self.types
            .get(key)
            .or_else(|| self.layers.iter().rev().find_map(|l| l.lookup(key)))
    }

    /// Every definition of this table and its layers.
    pub fn all(&self) -> Vec<&TypeDef> {
        let mut out: Vec<&TypeDef> = self.types.values().collect();
        for l in &self.layers {
            out.extend(l.all());
        }
        out
    }
}

/// The primitive and collection types a property may have.
pub const PRIMITIVES: &[&str] = &[
    "string",
    "integer",
    "float",
    "boolean",
    "timestamp",
    "null",
    "version",
    "range",
    "list",
    "map",
    "scalar-unit.size",
    "scalar-unit.time",
    "scalar-unit.frequency",
    "scalar-unit.bitrate",
    "any",
];

impl TypeTable {
    /// Adds every type definition section of one service template.
    pub fn add_document(&mut self, root: &Node, diags: &mut Vec<Diagnostic>) {
        if let Some(tt) = root.get("topology_template")
            && let Some(t) = tt
                .get("substitution_mappings")
                .and_then(|s| s.get("node_type"))
                .and_then(Node::as_str)
        {
            self.substitutions.push((t.to_string(), tt.clone()));
        }
        for kind in Kind::ALL {
            let Some(section) = root.get(kind.section()) else {
                continue;
            };
            if section.is_null() {
                continue;
            }
            let Some(entries) = section.as_map() else {
                diags.push(Diagnostic::error(
                    section.span,
                    format!(
                        "`{}` must be a map of type names to definitions, found {}",
                        kind.section(),
                        section.kind()
                    ),
                ));
                continue;
            };
            for (k, v) in entries {
                let Some(name) = k.as_str() else {
                    diags.push(Diagnostic::error(k.span, "a type name must be a string"));
                    continue;
                };
                let def = type_def(kind, name, k.span, v, diags);
                self.types.insert((kind, name.to_string()), def);
            }
        }
    }
}

fn type_def(kind: Kind, name: &str, span: Span, v: &Node, diags: &mut Vec<Diagnostic>) -> TypeDef {
    let mut def = TypeDef {
        name: name.to_string(),
        kind,
        span,
        derived_from: None,
        properties: IndexMap::new(),
        attributes: IndexMap::new(),
        capabilities: IndexMap::new(),
        requirements: Vec::new(),
        interfaces: IndexMap::new(),
        artifacts: Vec::new(),
        valid_target_types: Vec::new(),
        operations: Vec::new(),
        constraints: Vec::new(),
    };
    if v.is_null() {
        return def;
    }
    let Some(entries) = v.as_map() else {
        diags.push(Diagnostic::error(
            v.span,
            format!(
                "the {} `{name}` must be a map, found {}",
                kind.noun(),
                v.kind()
            ),
        ));
        return def;
    };
    for (k, val) in entries {
        let Some(key) = k.as_str() else { continue };
        match key {
            "derived_from" => match val.as_str() {
                Some(s) => def.derived_from = Some((s.to_string(), val.span)),
                None => diags.push(Diagnostic::error(
                    val.span,
                    format!("`derived_from` takes a type name, found {}", val.kind()),
                )),
            },
            "properties" => def.properties = prop_defs(val, "properties", diags),
            "attributes" => def.attributes = prop_defs(val, "attributes", diags),
            "constraints" => {
                def.constraints = val.as_seq().map(<[Node]>::to_vec).unwrap_or_default()
            }
            "capabilities" => {
                for (ck, cv) in val.as_map().unwrap_or_default() {
                    let Some(cname) = ck.as_str() else { continue };
                    let (ty, sources) = match &cv.value {
                        Value::Str(s) => (s.clone(), Vec::new()),
                        Value::Map(_) => (
                            cv.get("type")
                                .and_then(Node::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            strings(cv.get("valid_source_types")),
                        ),
                        _ => {
                            diags.push(Diagnostic::error(
                                cv.span,
                                format!("the capability definition `{cname}` must be a type name or a map"),
                            ));
                            continue;
                        }
                    };
                    def.capabilities.insert(
                        cname.to_string(),
                        CapDef {
                            ty,
                            span: ck.span,
                            valid_source_types: sources,
                        },
                    );
                }
            }
            "requirements" => {
                for item in val.as_seq().unwrap_or_default() {
                    for (rk, rv) in item.as_map().unwrap_or_default() {
                        let Some(rname) = rk.as_str() else { continue };
                        let (capability, node, relationship) = match &rv.value {
                            Value::Str(s) => (Some(s.clone()), None, None),
                            Value::Map(_) => (
                                rv.get("capability")
                                    .and_then(Node::as_str)
                                    .map(String::from),
                                rv.get("node").and_then(Node::as_str).map(String::from),
                                rv.get("relationship").and_then(|r| match &r.value {
                                    Value::Str(s) => Some(s.clone()),
                                    Value::Map(_) => {
                                        r.get("type").and_then(Node::as_str).map(String::from)
                                    }
                                    _ => None,
                                }),
                            ),
                            _ => (None, None, None),
                        };
                        let occurrences = match rv.get("occurrences").and_then(Node::as_seq) {
                            Some([lo, hi]) => (
                                match lo.value {
                                    Value::Int(i) => i,
                                    _ => 1,
                                },
                                match hi.value {
                                    Value::Int(i) => Some(i),
                                    _ => None,
                                },
                            ),
                            _ => (1, None),
                        };
                        def.requirements.retain(|r| r.name != rname);
                        def.requirements.push(ReqDef {
                            name: rname.to_string(),
                            span: rk.span,
                            capability,
                            node,
                            relationship,
                            occurrences,
                        });
                    }
                }
            }
            "interfaces" => {
                for (ik, iv) in val.as_map().unwrap_or_default() {
                    let Some(iname) = ik.as_str() else { continue };
                    let mut iface = IfaceDef {
                        ty: iv.get("type").and_then(Node::as_str).map(String::from),
                        ..IfaceDef::default()
                    };
                    for (ok, ov) in iv.as_map().unwrap_or_default() {
                        let Some(op) = ok.as_str() else { continue };
                        if op == "operations" {
                            for (ok2, ov2) in ov.as_map().unwrap_or_default() {
                                if let Some(op2) = ok2.as_str() {
                                    iface.operations.insert(op2.to_string(), ov2.clone());
                                }
                            }
                        } else if !matches!(op, "type" | "inputs" | "description" | "notifications")
                        {
                            iface.operations.insert(op.to_string(), ov.clone());
                        }
                    }
                    def.interfaces.insert(iname.to_string(), iface);
                }
            }
            "artifacts" => {
                for (ak, av) in val.as_map().unwrap_or_default() {
                    if let Some(a) = ak.as_str() {
                        def.artifacts.push((a.to_string(), av.clone()));
                    }
                }
            }
            "valid_target_types" => def.valid_target_types = strings(Some(val)),
            _ if kind == Kind::Interface
                && !matches!(
                    key,
                    "description" | "version" | "metadata" | "inputs" | "notifications"
                ) =>
            {
                if key == "operations" {
                    for (ok, _) in val.as_map().unwrap_or_default() {
                        if let Some(op) = ok.as_str() {
                            def.operations.push(op.to_string());
                        }
                    }
                } else {
                    def.operations.push(key.to_string());
                }
            }
            _ => {}
        }
    }
    def
}

fn strings(n: Option<&Node>) -> Vec<String> {
    n.and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

/// Property (or attribute, or input) definitions of a map.
pub fn prop_defs(v: &Node, what: &str, diags: &mut Vec<Diagnostic>) -> IndexMap<String, PropDef> {
    let mut out = IndexMap::new();
    if v.is_null() {
        return out;
    }
    let Some(entries) = v.as_map() else {
        diags.push(Diagnostic::error(
            v.span,
            format!("`{what}` must be a map of definitions, found {}", v.kind()),
        ));
        return out;
    };
    for (k, d) in entries {
        let Some(name) = k.as_str() else { continue };
        if let Some(p) = prop_def(name, k.span, d, what, diags) {
            out.insert(name.to_string(), p);
        }
    }
    out
}

/// One property definition; `None` (with an error) when it is not a map.
pub fn prop_def(
    name: &str,
    span: Span,
    d: &Node,
    what: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<PropDef> {
    if d.as_map().is_none() {
        diags.push(Diagnostic::error(
            d.span,
            format!(
                "the definition of `{name}` in `{what}` must be a map (with `type`, `default`, ...), found {}",
                d.kind()
            ),
        ));
        return None;
    }
    let ty = d
        .get("type")
        .and_then(Node::as_str)
        .unwrap_or("")
        .to_string();
    let required = match d.get("required").map(|r| &r.value) {
        Some(Value::Bool(b)) => *b,
        _ => true,
    };
    let entry_schema = d.get("entry_schema").and_then(|e| match &e.value {
        Value::Str(s) => Some(s.clone()),
        Value::Map(_) => e.get("type").and_then(Node::as_str).map(String::from),
        _ => None,
    });
    Some(PropDef {
        ty,
        span,
        required,
        default: d.get("default").cloned(),
        entry_schema,
        constraints: d
            .get("constraints")
            .and_then(Node::as_seq)
            .map(<[Node]>::to_vec)
            .unwrap_or_default(),
    })
}

/// The normative table under the table of one template and its imports.
pub struct Types<'a> {
    pub normative: &'a TypeTable,
    pub user: TypeTable,
}

impl<'a> Types<'a> {
    /// A type by name, or by the short names TOSCA allows (`Compute`,
    /// `tosca:Compute`).
    pub fn get(&self, kind: Kind, name: &str) -> Option<&TypeDef> {
        let direct = |n: &str| {
            let key = (kind, n.to_string());
            self.user
                .lookup(&key)
                .or_else(|| self.normative.types.get(&key))
        };
        if let Some(t) = direct(name) {
            return Some(t);
        }
        let short = name.strip_prefix("tosca:").unwrap_or(name);
        if !short.starts_with("tosca.") {
            return direct(&format!("{}{short}", kind.prefix())).or_else(|| {
                // The network data types' shorthand names (`PortDef`,
                // `PortSpec`, `NetworkInfo`, `PortInfo`).
                (kind == Kind::Data)
                    .then(|| direct(&format!("tosca.datatypes.network.{short}")))
                    .flatten()
            });
        }
        None
    }

    /// The type and its ancestors, nearest first. Stops at an unknown
    /// parent or a cycle.
    pub fn ancestry(&self, kind: Kind, name: &str) -> Vec<&TypeDef> {
        let mut out: Vec<&TypeDef> = Vec::new();
        let mut cur = self.get(kind, name);
        while let Some(t) = cur {
            if out.iter().any(|o| o.name == t.name) {
                break;
            }
            out.push(t);
            cur = t.derived_from.as_ref().and_then(|(p, _)| self.get(kind, p));
        }
        out
    }

    /// Whether `name` is `ancestor` or derives from it.
    pub fn is_a(&self, kind: Kind, name: &str, ancestor: &str) -> bool {
        self.ancestry(kind, name)
            .iter()
            .any(|t| t.name == ancestor || self.same(kind, &t.name, ancestor))
    }

    fn same(&self, kind: Kind, a: &str, b: &str) -> bool {
        match (self.get(kind, a), self.get(kind, b)) {
            (Some(x), Some(y)) => std::ptr::eq(x, y),
            _ => false,
        }
    }

    /// The full name of a type written with a short name.
    pub fn full_name(&self, kind: Kind, name: &str) -> String {
        self.get(kind, name)
            .map_or(name.to_string(), |t| t.name.clone())
    }

    /// The type just below the root of its kind (IM's "root parent type").
    pub fn root_parent(&self, kind: Kind, name: &str) -> String {
        let chain = self.ancestry(kind, name);
        for (i, t) in chain.iter().enumerate() {
            if let Some(parent) = chain.get(i + 1)
                && parent.name.ends_with(".Root")
            {
                return t.name.clone();
            }
        }
        chain.last().map_or(name.to_string(), |t| t.name.clone())
    }

    /// Property definitions along the chain; a descendant's replaces its
    /// ancestor's.
    pub fn properties(&self, kind: Kind, name: &str) -> IndexMap<&str, &PropDef> {
        self.merged(kind, name, |t| &t.properties)
    }

    pub fn attributes(&self, kind: Kind, name: &str) -> IndexMap<&str, &PropDef> {
        self.merged(kind, name, |t| &t.attributes)
    }

    pub fn capabilities(&self, name: &str) -> IndexMap<&str, &CapDef> {
        self.merged(Kind::Node, name, |t| &t.capabilities)
    }

    pub fn interfaces(&self, kind: Kind, name: &str) -> IndexMap<&str, &IfaceDef> {
        self.merged(kind, name, |t| &t.interfaces)
    }

    pub fn requirements(&self, name: &str) -> Vec<&ReqDef> {
        let mut out: Vec<&ReqDef> = Vec::new();
        for t in self.ancestry(Kind::Node, name).into_iter().rev() {
            for r in &t.requirements {
                out.retain(|o| o.name != r.name);
                out.push(r);
            }
        }
        out
    }

    fn merged<'s, T>(
        &'s self,
        kind: Kind,
        name: &str,
        field: impl Fn(&'s TypeDef) -> &'s IndexMap<String, T>,
    ) -> IndexMap<&'s str, &'s T> {
        let mut out = IndexMap::new();
        for t in self.ancestry(kind, name).into_iter().rev() {
            for (k, v) in field(t) {
                out.insert(k.as_str(), v);
            }
        }
        out
    }

    /// Checks every user type: its parent exists and the chain has no cycle.
    pub fn check(&self, diags: &mut Vec<Diagnostic>) {
        let mut names: Vec<_> = self.user.all();
        names.dedup_by_key(|t| (t.span.file, t.span.start));
        names.sort_by_key(|t| (t.span.file, t.span.start));
        for t in names {
            if let Some((parent, span)) = &t.derived_from {
                let primitive_parent =
                    t.kind == Kind::Data && PRIMITIVES.contains(&parent.as_str());
                if !primitive_parent && self.get(t.kind, parent).is_none() {
                    diags.push(Diagnostic::error(
                        *span,
                        format!(
                            "the {} `{}` derives from `{parent}`, which is not a known {}",
                            t.kind.noun(),
                            t.name,
                            t.kind.noun()
                        ),
                    ));
                }
            }
            let chain = self.ancestry(t.kind, &t.name);
            if let Some(last) = chain.last()
                && let Some((p, span)) = &last.derived_from
                && chain.iter().position(|c| &c.name == p) == Some(0)
                && span.file == t.span.file
            {
                diags.push(Diagnostic::error(
                    t.derived_from.as_ref().map_or(*span, |d| d.1),
                    format!(
                        "the {} `{}` derives from itself (through {})",
                        t.kind.noun(),
                        t.name,
                        chain
                            .iter()
                            .map(|c| format!("`{}`", c.name))
                            .collect::<Vec<_>>()
                            .join(" → ")
                    ),
                ));
            }
        }
    }
}
