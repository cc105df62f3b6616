//! The checks on a service template, all collected: the definitions
//! version, unknown sections, unknown types, unknown or missing required
//! properties, values of the wrong type, unresolved requirement targets,
//! dependency cycles, bad function arguments and unknown inputs.

use super::functions::{self, Call};
use super::template::{Assign, NodeTemplate, RelRef, Topology};
use super::types::{Kind, PRIMITIVES, PropDef, Types};
use super::yaml::{Node, Value};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;

pub const VERSIONS: &[&str] = &[
    "tosca_simple_yaml_1_0",
    "tosca_simple_yaml_1_1",
    "tosca_simple_yaml_1_2",
    "tosca_simple_yaml_1_3",
    "tosca_simple_profile_for_nfv_1_0_0",
];

pub const TOP_LEVEL: &[&str] = &[
    "tosca_definitions_version",
    "tosca_default_namespace",
    "template_name",
    "topology_template",
    "template_author",
    "template_version",
    "description",
    "imports",
    "dsl_definitions",
    "node_types",
    "relationship_types",
    "relationship_templates",
    "capability_types",
    "artifact_types",
    "data_types",
    "interface_types",
    "policy_types",
    "group_types",
    "repositories",
    "metadata",
];

/// Checks `tosca_definitions_version`.
pub fn definitions_version(v: &Node, diags: &mut Vec<Diagnostic>) {
    match v.as_str() {
        Some(s) if VERSIONS.contains(&s) => {}
        _ => diags.push(
            Diagnostic::error(
                v.span,
                format!(
                    "`{}` is not a TOSCA version nubo reads",
                    v.scalar_text().unwrap_or_else(|| v.kind().to_string())
                ),
            )
            .with_note(format!("help: use one of {}", VERSIONS.join(", "))),
        ),
    }
}

pub struct Checker<'a> {
    pub types: &'a Types<'a>,
    pub topology: &'a Topology,
    pub diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub fn run(&mut self) {
        let t = self.topology;
        for input in t.inputs.values() {
            self.check_type_name(&input.def.ty, input.def.span, "input", &input.name.text);
            if let Some(d) = &input.def.default
                && functions::call(d).is_none()
            {
                // The type only: a default outside the constraints is
                // accepted, as tosca-parser does (the values given at
                // launch are checked against them).
                self.value(
                    d,
                    &input.def.ty,
                    input.def.entry_schema.as_deref(),
                    &format!("the input `{}`", input.name.text),
                );
            }
        }
        for node in t.nodes.values() {
            self.node(node);
        }
        for rel in t.relationships.values() {
            if self.types.get(Kind::Relationship, &rel.ty.text).is_none() {
                self.unknown_type(Kind::Relationship, &rel.ty.text, rel.ty.span);
            } else {
                let defs = self.types.properties(Kind::Relationship, &rel.ty.text);
                self.assigns(
                    &rel.properties,
                    &defs,
                    &format!("relationship template `{}`", rel.name.text),
                    rel.name.span,
                    None,
                );
            }
        }
        for g in t.groups.values() {
            if self.types.get(Kind::Group, &g.ty.text).is_none() {
                self.unknown_type(Kind::Group, &g.ty.text, g.ty.span);
            }
            for m in &g.members {
                if !t.nodes.contains_key(&m.text) {
                    self.diags.push(Diagnostic::error(
                        m.span,
                        format!(
                            "the group `{}` lists `{}`, which is not a node template",
                            g.name.text, m.text
                        ),
                    ));
                }
            }
        }
        for p in &t.policies {
            if self.types.get(Kind::Policy, &p.ty.text).is_none() {
                self.unknown_type(Kind::Policy, &p.ty.text, p.ty.span);
            } else {
                let defs = self.types.properties(Kind::Policy, &p.ty.text);
                self.assigns(
                    &p.properties,
                    &defs,
                    &format!("policy `{}`", p.name.text),
                    p.name.span,
                    None,
                );
            }
            for target in &p.targets {
                if !t.nodes.contains_key(&target.text) && !t.groups.contains_key(&target.text) {
                    self.diags.push(Diagnostic::error(
                        target.span,
                        format!("the policy `{}` targets `{}`, which is neither a node template nor a group", p.name.text, target.text),
                    ));
                }
            }
        }
        for o in t.outputs.values() {
            match &o.value {
                Some(v) => self.functions_in(v, None),
                None => self.diags.push(Diagnostic::error(
                    o.name.span,
                    format!("the output `{}` has no `value`", o.name.text),
                )),
            }
        }
        self.cycles();
    }

    fn unknown_type(&mut self, kind: Kind, name: &str, span: Span) {
        self.diags.push(
            Diagnostic::error(span, format!("`{name}` is not a known {}", kind.noun())).with_note(
                "help: define it under `".to_string()
                    + kind.section()
                    + "`, or import the file that defines it",
            ),
        );
    }

    fn check_type_name(&mut self, ty: &str, span: Span, what: &str, name: &str) {
        if ty.is_empty() {
            self.diags.push(Diagnostic::error(
                span,
                format!("the {what} `{name}` has no `type`"),
            ));
        } else if !PRIMITIVES.contains(&ty) && self.types.get(Kind::Data, ty).is_none() {
            self.diags.push(Diagnostic::error(
                span,
                format!("the {what} `{name}` has type `{ty}`, which is not a known data type"),
            ));
        }
    }

    fn node(&mut self, node: &NodeTemplate) {
        let ty = &node.ty.text;
        if self.types.get(Kind::Node, ty).is_none() {
            self.unknown_type(Kind::Node, ty, node.ty.span);
            // Still check what does not need the type.
            for r in &node.requirements {
                self.requirement_target(node, r);
            }
            self.functions_of(node);
            return;
        }
        self.occurrences(node);
        let what = format!("node template `{}`", node.name.text);
        let defs = self.types.properties(Kind::Node, ty);
        self.assigns(&node.properties, &defs, &what, node.name.span, Some(node));
        let cap_defs = self.types.capabilities(ty);
        for (cname, cap) in &node.capabilities {
            let Some(def) = cap_defs.get(cname.as_str()) else {
                self.diags.push(
                    Diagnostic::error(
                        cap.name.span,
                        format!("the node type `{ty}` has no capability `{cname}`"),
                    )
                    .with_note(format!(
                        "help: its capabilities are {}",
                        list(cap_defs.keys())
                    )),
                );
                continue;
            };
            if self.types.get(Kind::Capability, &def.ty).is_none() {
                continue;
            }
            let pdefs = self.types.properties(Kind::Capability, &def.ty);
            self.assigns(
                &cap.properties,
                &pdefs,
                &format!("capability `{cname}` of {what}"),
                cap.name.span,
                Some(node),
            );
        }
        let req_defs = self.types.requirements(ty);
        for r in &node.requirements {
            if !req_defs.iter().any(|d| d.name == r.name.text) {
                self.diags.push(
                    Diagnostic::error(
                        r.name.span,
                        format!("the node type `{ty}` has no requirement `{}`", r.name.text),
                    )
                    .with_note(format!(
                        "help: its requirements are {}",
                        list(req_defs.iter().map(|d| &d.name))
                    )),
                );
            }
            self.requirement_target(node, r);
        }
        let iface_defs = self.types.interfaces(Kind::Node, ty);
        for (iname, iface) in &node.interfaces {
            let Some(def) = iface_defs.get(iname.as_str()) else {
                self.diags.push(
                    Diagnostic::error(
                        iface.span,
                        format!("the node type `{ty}` has no interface `{iname}`"),
                    )
                    .with_note(format!(
                        "help: its interfaces are {}",
                        list(iface_defs.keys())
                    )),
                );
                continue;
            };
            let Some(ity) = &def.ty else { continue };
            let ops: Vec<String> = self
                .types
                .ancestry(Kind::Interface, ity)
                .iter()
                .flat_map(|t| t.operations.iter().cloned())
                .chain(def.operations.keys().cloned())
                .collect();
            if self.types.get(Kind::Interface, ity).is_none() {
                continue;
            }
            for (op, o) in &iface.operations {
                if !ops.contains(op) {
                    self.diags.push(
                        Diagnostic::error(
                            o.name.span,
                            format!("the interface `{iname}` ({ity}) has no operation `{op}`"),
                        )
                        .with_note(format!("help: its operations are {}", list(ops.iter()))),
                    );
                }
            }
        }
        self.functions_of(node);
    }

    /// Each requirement of the node's type is given as many times as its
    /// `occurrences` allow (at least once unless it says otherwise).
    fn occurrences(&mut self, node: &NodeTemplate) {
        // A node a substitution topology implements gets requirements from
        // there: not counted here.
        if self
            .types
            .user
            .imported_substitution(&node.ty.text)
            .is_some()
        {
            return;
        }
        for def in self.types.requirements(&node.ty.text) {
            let count = node
                .requirements
                .iter()
                .filter(|r| r.name.text == def.name)
                .count() as i64;
            let (lo, hi) = def.occurrences;
            if count < lo || hi.is_some_and(|h| count > h) {
                let range = format!(
                    "[{lo}, {}]",
                    hi.map_or("UNBOUNDED".to_string(), |h| h.to_string())
                );
                let mut d = Diagnostic::error(
                    node.name.span,
                    format!(
                        "the node template `{}` gives the requirement `{}` {count} time(s); its type allows {range}",
                        node.name.text, def.name
                    ),
                );
                if def.span.file != super::normative::NORMATIVE_FILE {
                    d = d.with_related(
                        def.span,
                        format!("the requirement `{}` is defined", def.name),
                    );
                } else {
                    d = d.with_note(format!(
                        "note: `{}` is a requirement of the normative type `{}`",
                        def.name,
                        self.types.full_name(Kind::Node, ty_of(node))
                    ));
                }
                self.diags.push(d);
            }
        }
    }

    fn functions_of(&mut self, node: &NodeTemplate) {
        for a in &node.properties {
            self.functions_in(&a.value, Some(node));
        }
        for c in node.capabilities.values() {
            for a in &c.properties {
                self.functions_in(&a.value, Some(node));
            }
        }
        for i in node.interfaces.values() {
            for a in &i.inputs {
                self.functions_in(&a.value, Some(node));
            }
            for o in i.operations.values() {
                for a in &o.inputs {
                    self.functions_in(&a.value, Some(node));
                }
            }
        }
    }

    fn requirement_target(&mut self, node: &NodeTemplate, r: &super::template::Requirement) {
        if let Some(target) = &r.node
            && !self.topology.nodes.contains_key(&target.text)
            && self.types.get(Kind::Node, &target.text).is_none()
        {
            self.diags.push(Diagnostic::error(
                target.span,
                format!(
                    "the requirement `{}` of `{}` names `{}`, which is not a node template here",
                    r.name.text, node.name.text, target.text
                ),
            ).with_note(format!("help: the node templates are {}", list(self.topology.nodes.keys()))));
        }
        match &r.relationship {
            Some(RelRef::Named(n))
                if !self.topology.relationships.contains_key(&n.text)
                    && self.types.get(Kind::Relationship, &n.text).is_none() =>
            {
                self.diags.push(Diagnostic::error(
                    n.span,
                    format!(
                        "`{}` is neither a relationship template nor a known relationship type",
                        n.text
                    ),
                ));
            }
            Some(RelRef::Inline { ty, properties, .. }) => {
                if self.types.get(Kind::Relationship, &ty.text).is_none() {
                    self.unknown_type(Kind::Relationship, &ty.text, ty.span);
                } else {
                    let defs = self.types.properties(Kind::Relationship, &ty.text);
                    self.assigns(
                        properties,
                        &defs,
                        &format!("relationship of requirement `{}`", r.name.text),
                        ty.span,
                        Some(node),
                    );
                }
            }
            _ => {}
        }
    }

    /// Property assignments against their definitions: unknown names,
    /// missing required ones, values of the wrong type.
    fn assigns(
        &mut self,
        assigns: &[Assign],
        defs: &IndexMap<&str, &PropDef>,
        what: &str,
        at: Span,
        _node: Option<&NodeTemplate>,
    ) {
        for a in assigns {
            match defs.get(a.name.text.as_str()) {
                None => self.diags.push(
                    Diagnostic::error(
                        a.name.span,
                        format!("the {what} has no property `{}`", a.name.text),
                    )
                    .with_note(if defs.is_empty() {
                        "help: it defines no properties".to_string()
                    } else {
                        format!("help: its properties are {}", list(defs.keys()))
                    }),
                ),
                Some(def) => {
                    if functions::call(&a.value).is_none() {
                        // A number or a boolean assigned to a string
                        // property is read as its text, as tosca-parser
                        // (and so IM) reads it: `version: 18.04`.
                        let as_text;
                        let value = match &a.value.value {
                            Value::Int(_) | Value::Float(_) | Value::Bool(_)
                                if def.ty == "string" =>
                            {
                                as_text = Node::new(
                                    Value::Str(functions::text(&a.value).unwrap_or_default()),
                                    a.value.span,
                                );
                                &as_text
                            }
                            _ => &a.value,
                        };
                        self.prop_value(value, def, &format!("`{}`", a.name.text));
                    }
                }
            }
        }
        for (name, def) in defs {
            if def.required
                && def.default.is_none()
                && !assigns.iter().any(|a| a.name.text == *name)
            {
                self.diags.push(Diagnostic::error(
                    at,
                    format!("the {what} is missing the required property `{name}`"),
                ));
            }
        }
    }

    /// Checks a value against a property (or input) definition: its type,
    /// then its constraints when the type fits.
    pub fn prop_value(&mut self, v: &Node, def: &PropDef, what: &str) {
        let before = self.diags.len();
        self.value(v, &def.ty, def.entry_schema.as_deref(), what);
        if self.diags.len() == before {
            super::constraints::check(v, &def.ty, &def.constraints, what, &mut self.diags);
        }
    }

    /// Checks a value against a type, as tosca-parser's validators do.
    fn value(&mut self, v: &Node, ty: &str, entry: Option<&str>, what: &str) {
        if functions::call(v).is_some() {
            return;
        }
        let bad = |expected: &str| {
            Diagnostic::error(
                v.span,
                format!("{what} takes {expected}, found {}", describe(v)),
            )
        };
        match ty {
            "string" => {
                if !matches!(v.value, Value::Str(_)) {
                    self.diags.push(bad("a string"));
                }
            }
            "integer" => {
                let ok = match &v.value {
                    Value::Int(_) | Value::Bool(_) | Value::Float(_) => true,
                    Value::Str(s) => s.trim().parse::<i64>().is_ok(),
                    _ => false,
                };
                if !ok {
                    self.diags.push(bad("an integer"));
                }
            }
            "float" => {
                if !matches!(v.value, Value::Float(_)) {
                    self.diags
                        .push(bad("a float (written with a decimal point)"));
                }
            }
            "boolean" => {
                let ok = match &v.value {
                    Value::Bool(_) => true,
                    Value::Str(s) => matches!(s.to_lowercase().as_str(), "true" | "false"),
                    _ => false,
                };
                if !ok {
                    self.diags.push(bad("a boolean"));
                }
            }
            "list" => match &v.value {
                Value::Seq(items) => {
                    if let Some(e) = entry {
                        for i in items {
                            self.value(i, e, None, what);
                        }
                    }
                }
                _ => self.diags.push(bad("a list")),
            },
            "map" => match &v.value {
                Value::Map(entries) => {
                    if let Some(e) = entry {
                        for (_, i) in entries {
                            self.value(i, e, None, what);
                        }
                    }
                }
                _ => self.diags.push(bad("a map")),
            },
            "scalar-unit.size"
            | "scalar-unit.time"
            | "scalar-unit.frequency"
            | "scalar-unit.bitrate" => {
                if scalar_unit(v, ty).is_none() {
                    self.diags.push(bad(&format!(
                        "a {ty} (a number and a unit, such as {})",
                        match ty {
                            "scalar-unit.size" => "`4 GB`",
                            "scalar-unit.time" => "`30 s`",
                            _ => "`2 GHz`",
                        }
                    )));
                }
            }
            "version" => {
                let text = v.scalar_text().unwrap_or_default();
                if !is_version(&text) || matches!(v.value, Value::Seq(_) | Value::Map(_)) {
                    self.diags.push(bad("a version (such as `1.2` or `18.04`)"));
                }
            }
            "range" => {
                let ok = v.as_seq().is_some_and(|r| {
                    r.len() == 2
                        && r.iter().all(|b| {
                            matches!(b.value, Value::Int(_) | Value::Float(_))
                                || b.as_str() == Some("UNBOUNDED")
                        })
                });
                if !ok {
                    self.diags.push(bad("a range `[min, max]`"));
                }
            }
            "timestamp" | "any" | "null" | "" => {}
            _ => self.data_value(v, ty, what),
        }
    }

    fn data_value(&mut self, v: &Node, ty: &str, what: &str) {
        let Some(def) = self.types.get(Kind::Data, ty) else {
            return;
        };
        // A data type derived from a primitive checks as that primitive.
        let chain = self.types.ancestry(Kind::Data, ty);
        if let Some(prim) = chain
            .last()
            .and_then(|t| t.derived_from.as_ref())
            .filter(|(p, _)| PRIMITIVES.contains(&p.as_str()))
        {
            let prim = prim.0.clone();
            let before = self.diags.len();
            self.value(v, &prim, None, what);
            if self.diags.len() == before {
                let constraints: Vec<Node> = chain
                    .iter()
                    .flat_map(|t| t.constraints.iter().cloned())
                    .collect();
                super::constraints::check(v, &prim, &constraints, what, &mut self.diags);
            }
            return;
        }
        let name = def.name.clone();
        let Some(entries) = v.as_map() else {
            self.diags.push(Diagnostic::error(
                v.span,
                format!(
                    "{what} takes a value of the data type `{name}` (a map), found {}",
                    describe(v)
                ),
            ));
            return;
        };
        let defs = self.types.properties(Kind::Data, &name);
        for (k, val) in entries {
            let key = k.scalar_text().unwrap_or_default();
            match defs.get(key.as_str()) {
                None => self.diags.push(
                    Diagnostic::error(
                        k.span,
                        format!("the data type `{name}` has no field `{key}`"),
                    )
                    .with_note(format!("help: its fields are {}", list(defs.keys()))),
                ),
                Some(d) => self.prop_value(val, d, &format!("`{key}`")),
            }
        }
        for (field, d) in &defs {
            if d.required
                && d.default.is_none()
                && !entries.iter().any(|(k, _)| k.as_str() == Some(field))
            {
                self.diags.push(Diagnostic::error(
                    v.span,
                    format!(
                        "{what} (of data type `{name}`) is missing the required field `{field}`"
                    ),
                ));
            }
        }
    }

    /// Every function call in a value: right arguments, known inputs,
    /// nodes and properties.
    pub fn functions_in(&mut self, v: &Node, node: Option<&NodeTemplate>) {
        let mut found = Vec::new();
        functions::calls(v, &mut found);
        for c in found {
            self.function(&c, node);
        }
    }

    fn function(&mut self, c: &Call, node: Option<&NodeTemplate>) {
        let strings: Option<Vec<(String, Span)>> = match &c.args.value {
            Value::Seq(items) => items
                .iter()
                .map(|i| Some((i.scalar_text()?, i.span)))
                .collect(),
            _ => None,
        };
        let bad = |msg: String| Diagnostic::error(c.args.span, msg);
        match c.name {
            "get_input" => {
                let name = match &c.args.value {
                    Value::Str(s) => Some((s.clone(), c.args.span)),
                    Value::Seq(items) if items.len() > 1 => {
                        self.diags.push(bad(format!(
                            "`get_input` takes one input name, found a list of {}",
                            items.len()
                        )));
                        return;
                    }
                    Value::Seq(items) if !items.is_empty() => {
                        items[0].as_str().map(|s| (s.to_string(), items[0].span))
                    }
                    _ => None,
                };
                match name {
                    None => self.diags.push(bad(format!(
                        "`get_input` takes an input name, found {}",
                        c.args.kind()
                    ))),
                    Some((n, span)) => {
                        if !self.topology.inputs.contains_key(&n) {
                            self.diags.push(
                                Diagnostic::error(
                                    span,
                                    format!("`{n}` is not an input of this template"),
                                )
                                .with_note(
                                    if self.topology.inputs.is_empty() {
                                        "help: the template has no `inputs`".to_string()
                                    } else {
                                        format!(
                                            "help: the inputs are {}",
                                            list(self.topology.inputs.keys())
                                        )
                                    },
                                ),
                            );
                        }
                    }
                }
            }
            "get_property" | "get_attribute" => {
                let Some(args) = strings.filter(|a| a.len() >= 2) else {
                    self.diags.push(bad(format!(
                        "`{}` takes a list: [ENTITY, NAME] or [ENTITY, CAPABILITY_OR_REQUIREMENT, NAME], then optional indexes",
                        c.name
                    )));
                    return;
                };
                self.entity_function(c.name, &args, node);
            }
            "concat" if c.args.as_seq().is_some_and(<[Node]>::is_empty) => {
                self.diags
                    .push(bad("`concat` takes at least one value to join".to_string()));
            }
            "concat" if c.args.as_seq().is_none() => {
                self.diags.push(bad(format!(
                    "`concat` takes a list of values to join, found {}",
                    c.args.kind()
                )));
            }
            "join" => {
                let ok = c.args.as_seq().is_some_and(|a| {
                    (1..=2).contains(&a.len())
                        && (a[0].as_seq().is_some() || functions::call(&a[0]).is_some())
                        && a.get(1).is_none_or(|d| d.as_str().is_some())
                });
                if !ok {
                    self.diags
                        .push(bad("`join` takes [LIST] or [LIST, DELIMITER]".to_string()));
                }
            }
            "token" => {
                let ok = c.args.as_seq().is_some_and(|a| {
                    a.len() == 3
                        && a[1].as_str().is_some()
                        && matches!(a[2].value, Value::Int(i) if i >= 0)
                });
                if !ok {
                    self.diags.push(bad(
                        "`token` takes [STRING, SEPARATORS, INDEX] with a whole-number index"
                            .to_string(),
                    ));
                }
            }
            "get_operation_output" if strings.is_none_or(|a| a.len() != 4) => {
                self.diags.push(bad(
                    "`get_operation_output` takes [ENTITY, INTERFACE, OPERATION, OUTPUT]"
                        .to_string(),
                ));
            }
            _ => {}
        }
    }

    fn entity_function(
        &mut self,
        fname: &str,
        args: &[(String, Span)],
        node: Option<&NodeTemplate>,
    ) {
        let (entity, espan) = (&args[0].0, args[0].1);
        let cx = functions::Context {
            topology: self.topology,
            types: self.types,
            inputs: &[],
            attributes: None,
        };
        let target = match entity.as_str() {
            "SELF" => match node {
                Some(n) => n,
                None => {
                    self.diags.push(Diagnostic::error(
                        espan,
                        format!("`SELF` in `{fname}` needs a node template; outputs must name one"),
                    ));
                    return;
                }
            },
            "SOURCE" | "TARGET" => return, // relationship context: not checked
            "HOST" => {
                let Some(n) = node else {
                    self.diags.push(Diagnostic::error(
                        espan,
                        format!("`HOST` in `{fname}` needs a node template"),
                    ));
                    return;
                };
                // The hosts, nearest first: the first that has the name
                // asked for, as tosca-parser looks up the chain.
                let mut chain: Vec<&NodeTemplate> = Vec::new();
                let mut at = cx.host_of(n);
                while let Some(h) = at {
                    if chain.len() > 16 || chain.iter().any(|c| c.name.text == h.name.text) {
                        break;
                    }
                    chain.push(h);
                    at = cx.host_of(h);
                }
                let is_attr = fname == "get_attribute";
                let has = |h: &&&NodeTemplate| {
                    let name = args[1].0.as_str();
                    self.types
                        .properties(Kind::Node, &h.ty.text)
                        .contains_key(name)
                        || (is_attr
                            && self
                                .types
                                .attributes(Kind::Node, &h.ty.text)
                                .contains_key(name))
                        || self.types.capabilities(&h.ty.text).contains_key(name)
                };
                match chain.iter().find(has).or(chain.first()).copied() {
                    Some(h) => h,
                    None => {
                        self.diags.push(Diagnostic::error(
                            espan,
                            format!("`{fname}: [HOST, ...]` is used in `{}`, which is not hosted on anything (no HostedOn requirement)", n.name.text),
                        ));
                        return;
                    }
                }
            }
            name => match self.topology.nodes.get(name) {
                Some(n) => n,
                None => {
                    self.diags.push(
                        Diagnostic::error(
                            espan,
                            format!("`{fname}` names `{name}`, which is not a node template here"),
                        )
                        .with_note(format!(
                            "help: the node templates are {}",
                            list(self.topology.nodes.keys())
                        )),
                    );
                    return;
                }
            },
        };
        if self.types.get(Kind::Node, &target.ty.text).is_none() {
            return; // reported at the type
        }
        let (name, nspan) = (&args[1].0, args[1].1);
        let ty = &target.ty.text;
        let known = |kind_attr: bool, types: &Types, ty: &str, name: &str| {
            let props = types.properties(Kind::Node, ty);
            if props.contains_key(name) {
                return true;
            }
            kind_attr && types.attributes(Kind::Node, ty).contains_key(name)
        };
        let is_attr = fname == "get_attribute";
        if known(is_attr, self.types, ty, name) {
            if is_attr && args.len() > 2 {
                let def = match self.types.attributes(Kind::Node, ty).get(name.as_str()) {
                    Some(d) => Some((*d).clone()),
                    None => self
                        .types
                        .properties(Kind::Node, ty)
                        .get(name.as_str())
                        .map(|d| (*d).clone()),
                };
                if let Some(def) = def {
                    self.attribute_path(&def, &args[2..]);
                }
            }
            return;
        }
        // [entity, capability or requirement, name, ...]
        if let Some((inner, ispan)) = args.get(2) {
            let caps = self.types.capabilities(ty);
            if let Some(cap) = caps.get(name.as_str()) {
                let ok = self
                    .types
                    .properties(Kind::Capability, &cap.ty)
                    .contains_key(inner.as_str())
                    || (is_attr
                        && self
                            .types
                            .attributes(Kind::Capability, &cap.ty)
                            .contains_key(inner.as_str()));
                if !ok {
                    self.diags.push(Diagnostic::error(
                        *ispan,
                        format!(
                            "the capability `{name}` of `{}` has no {} `{inner}`",
                            target.name.text,
                            if is_attr {
                                "attribute or property"
                            } else {
                                "property"
                            }
                        ),
                    ));
                }
                return;
            }
            if self.types.requirements(ty).iter().any(|r| &r.name == name) {
                return; // a property of the requirement's target: not checked
            }
        }
        self.diags.push(Diagnostic::error(
            nspan,
            format!(
                "`{}` ({ty}) has no {} `{name}`",
                target.name.text,
                if is_attr {
                    "attribute or property"
                } else {
                    "property"
                }
            ),
        ));
    }

    /// The indexes and keys after an attribute: a list takes a whole
    /// number, a map any key, a data type one of its fields; a value of a
    /// primitive type takes none.
    fn attribute_path(&mut self, def: &PropDef, path: &[(String, Span)]) {
        let mut ty = def.ty.clone();
        let mut entry = def.entry_schema.clone();
        for (elem, span) in path {
            match ty.as_str() {
                "list" | "map" => {
                    if ty == "list" && elem.parse::<usize>().is_err() {
                        self.diags.push(Diagnostic::error(
                            *span,
                            format!(
                                "`get_attribute` indexes a list with a whole number, found `{elem}`"
                            ),
                        ));
                        return;
                    }
                    let Some(e) = entry.take() else { return };
                    ty = e;
                }
                t if PRIMITIVES.contains(&t) || t.starts_with("scalar-unit.") => {
                    self.diags.push(Diagnostic::error(
                        *span,
                        format!("`get_attribute` goes into a value of type `{t}` with `{elem}`, but a {t} has no parts"),
                    ));
                    return;
                }
                t => {
                    let fields = self.types.properties(Kind::Data, t);
                    let Some(f) = fields.get(elem.as_str()) else {
                        if self.types.get(Kind::Data, t).is_some() {
                            self.diags.push(
                                Diagnostic::error(
                                    *span,
                                    format!("the data type `{t}` has no field `{elem}`"),
                                )
                                .with_note(format!("help: its fields are {}", list(fields.keys()))),
                            );
                        }
                        return;
                    };
                    ty = f.ty.clone();
                    entry = f.entry_schema.clone();
                }
            }
        }
    }

    /// A requirement cycle (A needs B needs ... A) is an error: no order
    /// of configuration exists.
    fn cycles(&mut self) {
        let nodes = &self.topology.nodes;
        let index: IndexMap<&str, usize> = nodes
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        let cx = functions::Context {
            topology: self.topology,
            types: self.types,
            inputs: &[],
            attributes: None,
        };
        // Only relationships that order their ends (DependsOn and the types
        // derived from it, such as HostedOn and ConnectsTo; or an unknown
        // one) make a cycle: two nodes may well link to each other.
        let orders = |n: &NodeTemplate, r: &super::template::Requirement| {
            cx.relationship_type(n, r).is_none_or(|t| {
                self.types.get(Kind::Relationship, &t).is_none()
                    || self
                        .types
                        .is_a(Kind::Relationship, &t, "tosca.relationships.DependsOn")
            })
        };
        let edges: Vec<Vec<(usize, Span)>> = nodes
            .values()
            .map(|n| {
                n.requirements
                    .iter()
                    .filter(|r| orders(n, r))
                    .filter_map(|r| {
                        let t = r.node.as_ref()?;
                        Some((*index.get(t.text.as_str())?, t.span))
                    })
                    .collect()
            })
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done
        let mut state = vec![0u8; nodes.len()];
        let mut reported = std::collections::HashSet::new();
        for start in 0..nodes.len() {
            if state[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            state[start] = 1;
            while let Some(&mut (n, ref mut next)) = stack.last_mut() {
                if let Some(&(m, span)) = edges[n].get(*next) {
                    *next += 1;
                    match state[m] {
                        0 => {
                            state[m] = 1;
                            stack.push((m, 0));
                        }
                        1 => {
                            let from = stack.iter().position(|(s, _)| *s == m).unwrap_or(0);
                            let path: Vec<&str> = stack[from..]
                                .iter()
                                .map(|(s, _)| index.get_index(*s).map_or("", |(k, _)| *k))
                                .chain([index.get_index(m).map_or("", |(k, _)| *k)])
                                .collect();
                            let mut key: Vec<usize> =
                                stack[from..].iter().map(|(s, _)| *s).collect();
                            key.sort_unstable();
                            if reported.insert(key) {
                                self.diags.push(Diagnostic::error(
                                    span,
                                    format!("the requirements form a cycle: {}", path.join(" → ")),
                                ).with_note("help: a node cannot depend, directly or not, on itself; remove one of these requirements"));
                            }
                        }
                        _ => {}
                    }
                } else {
                    state[n] = 2;
                    stack.pop();
                }
            }
        }
    }
}

fn describe(v: &Node) -> String {
    match &v.value {
        Value::Str(s) => format!("the string {s:?}"),
        Value::Seq(_) | Value::Map(_) | Value::Null => v.kind().to_string(),
        _ => format!("{} `{}`", v.kind(), v.scalar_text().unwrap_or_default()),
    }
}

fn list<'a, I: IntoIterator<Item = S>, S: AsRef<str> + 'a>(items: I) -> String {
    let v: Vec<String> = items
        .into_iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect();
    if v.is_empty() {
        "none".to_string()
    } else {
        v.join(", ")
    }
}

/// A scalar-unit value as tosca-parser reads it (a number, optional
/// spaces, a unit, anything after), scaled to the base unit.
pub fn scalar_unit(v: &Node, ty: &str) -> Option<f64> {
    let text = match &v.value {
        Value::Str(s) => s.clone(),
        Value::Int(_) | Value::Float(_) => v.scalar_text()?,
        _ => return None,
    };
    let num_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_len == 0 {
        return None;
    }
    let num: f64 = {
        let s = &text[..num_len];
        s.parse::<i64>()
            .map(|i| i as f64)
            .or_else(|_| s.parse::<f64>())
            .ok()?
    };
    let rest = text[num_len..].trim_start();
    let unit_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let unit = &rest[..unit_len];
    if unit.is_empty() {
        return None;
    }
    let units: &[(&str, f64)] = match ty {
        "scalar-unit.size" => &[
            ("B", 1.0),
            ("kB", 1e3),
            ("KiB", 1024.0),
            ("MB", 1e6),
            ("MiB", 1_048_576.0),
            ("GB", 1e9),
            ("GiB", 1_073_741_824.0),
            ("TB", 1e12),
            ("TiB", 1_099_511_627_776.0),
        ],
        "scalar-unit.time" => &[
            ("d", 86400.0),
            ("h", 3600.0),
            ("m", 60.0),
            ("s", 1.0),
            ("ms", 1e-3),
            ("us", 1e-6),
            ("ns", 1e-9),
        ],
        "scalar-unit.frequency" => &[("Hz", 1.0), ("kHz", 1e3), ("MHz", 1e6), ("GHz", 1e9)],
        _ => &[
            ("bps", 1.0),
            ("Kbps", 1e3),
            ("Mbps", 1e6),
            ("Gbps", 1e9),
            ("Tbps", 1e12),
        ],
    };
    let factor = units
        .iter()
        .find(|(u, _)| *u == unit)
        .or_else(|| units.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit)))?
        .1;
    Some(num * factor)
}

/// tosca-parser's version syntax: `MAJOR[.MINOR[.FIX[.QUALIFIER]]][-BUILD]`.
pub fn is_version(s: &str) -> bool {
    let (main, build) = match s.split_once('-') {
        Some((m, b)) => (m, Some(b)),
        None => (s, None),
    };
    if build.is_some_and(|b| b.len() > 1 || !b.chars().all(|c| c.is_ascii_digit())) {
        return false;
    }
    let parts: Vec<&str> = main.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return false;
    }
    parts.iter().enumerate().all(|(i, p)| {
        !p.is_empty()
            && if i < 3 {
                p.chars().all(|c| c.is_ascii_digit())
            } else {
                p.chars().all(|c| c.is_ascii_alphanumeric())
            }
    })
}

fn ty_of(node: &NodeTemplate) -> &str {
    &node.ty.text
}
