//! `substitution_mappings`: the checks of a topology that says it
//! implements a node type (nubo launches the topology itself and never
//! substitutes it into another template; the mapping is checked, as
//! tosca-parser checks it).
//!
//! - the keys are `node_type`, `requirements`, `capabilities`,
//!   `properties`, `attributes`, `interfaces`, `substitution_filter`;
//! - `node_type` is given and names a known node type;
//! - each property of that type that is required and has no default has an
//!   input of the same name, and an input that is no property of the type
//!   has a default;
//! - each output is an attribute of the type;
//! - `substitution_filter` holds only `node_filter`, whose `properties` and
//!   `capabilities` are lists.

use super::template::Topology;
use super::types::{Kind, Types};
use super::yaml::Node;
use crate::diagnostic::Diagnostic;

const KEYS: &[&str] = &[
    "node_type",
    "requirements",
    "capabilities",
    "properties",
    "attributes",
    "interfaces",
    "substitution_filter",
];

/// Checks the `substitution_mappings` map `sub` of `topology`.
pub fn check(sub: &Node, topology: &Topology, types: &Types, diags: &mut Vec<Diagnostic>) {
    let Some(entries) = sub.as_map() else {
        diags.push(Diagnostic::error(
            sub.span,
            format!(
                "`substitution_mappings` is a map (with `node_type`, ...), found {}",
                sub.kind()
            ),
        ));
        return;
    };
    for (k, _) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if !KEYS.contains(&key.as_str()) {
            diags.push(
                Diagnostic::error(
                    k.span,
                    format!("`substitution_mappings` has no key `{key}`"),
                )
                .with_note(format!(
                    "help: its keys are {}",
                    KEYS.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
    if let Some(filter) = sub.get("substitution_filter") {
        filter_check(filter, diags);
    }
    let Some(ty_node) = sub.get("node_type") else {
        diags.push(Diagnostic::error(
            sub.span,
            "`substitution_mappings` needs a `node_type`: the node type this topology implements",
        ));
        return;
    };
    let Some(ty) = ty_node.as_str() else {
        diags.push(Diagnostic::error(
            ty_node.span,
            format!("`node_type` is a type name, found {}", ty_node.kind()),
        ));
        return;
    };
    if types.get(Kind::Node, ty).is_none() {
        diags.push(
            Diagnostic::error(ty_node.span, format!("`{ty}` is not a known node type")).with_note(
                "help: define it under `node_types`, or import the file that defines it",
            ),
        );
        return;
    }
    let props = types.properties(Kind::Node, ty);
    for (name, def) in &props {
        if def.required && def.default.is_none() && !topology.inputs.contains_key(*name) {
            diags.push(Diagnostic::error(
                ty_node.span,
                format!(
                    "the node type `{ty}` requires the property `{name}`, so this topology needs an input `{name}`"
                ),
            ));
        }
    }
    for (name, input) in &topology.inputs {
        if !props.contains_key(name.as_str()) && input.def.default.is_none() {
            diags.push(Diagnostic::error(
                input.name.span,
                format!(
                    "the input `{name}` is no property of `{ty}` (the type this topology implements), so it needs a default"
                ),
            ));
        }
    }
    let attrs = types.attributes(Kind::Node, ty);
    for o in topology.outputs.values() {
        if !attrs.contains_key(o.name.text.as_str()) {
            diags.push(
                Diagnostic::error(
                    o.name.span,
                    format!(
                        "the output `{}` is no attribute of `{ty}`, the type this topology implements",
                        o.name.text
                    ),
                )
                .with_note(format!(
                    "help: its attributes are {}",
                    attrs
                        .keys()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
    }
}

fn filter_check(filter: &Node, diags: &mut Vec<Diagnostic>) {
    let Some(entries) = filter.as_map() else {
        diags.push(Diagnostic::error(
            filter.span,
            format!("`substitution_filter` is a map, found {}", filter.kind()),
        ));
        return;
    };
    for (k, v) in entries {
        if k.as_str() != Some("node_filter") {
            diags.push(Diagnostic::error(
                k.span,
                format!(
                    "`substitution_filter` holds only `node_filter`, found `{}`",
                    k.scalar_text().unwrap_or_default()
                ),
            ));
            continue;
        }
        for (fk, fv) in v.as_map().unwrap_or_default() {
            match fk.as_str() {
                Some("properties" | "capabilities") => {
                    if fv.as_seq().is_none() {
                        diags.push(Diagnostic::error(
                            fv.span,
                            format!(
                                "`{}` of a node filter is a list, found {}",
                                fk.as_str().unwrap_or_default(),
                                fv.kind()
                            ),
                        ));
                    }
                }
                _ => diags.push(Diagnostic::error(
                    fk.span,
                    format!(
                        "a node filter holds `properties` and `capabilities`, found `{}`",
                        fk.scalar_text().unwrap_or_default()
                    ),
                )),
            }
        }
    }
}
