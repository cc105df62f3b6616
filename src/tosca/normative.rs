//! The TOSCA normative types, shipped inside the binary.
//!
//! `normative.yaml` is written from the TOSCA Simple Profile in YAML
//! specification; it is parsed once per process, on first use.

use super::types::TypeTable;
use super::yaml;
use crate::source::FileId;
use std::sync::OnceLock;

/// The file id the normative types' spans carry. It is in no `SourceMap`:
/// diagnostics never point into the normative types.
pub const NORMATIVE_FILE: FileId = FileId(u32::MAX);

pub const TEXT: &str = include_str!("normative.yaml");

/// The normative type table.
pub fn table() -> &'static TypeTable {
    static TABLE: OnceLock<TypeTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let (root, diags) = yaml::parse(NORMATIVE_FILE, TEXT);
        debug_assert!(diags.is_empty(), "normative.yaml: {diags:?}");
        let mut table = TypeTable::default();
        let mut diags = Vec::new();
        if let Some(root) = root {
            table.add_document(&root, &mut diags);
        }
        debug_assert!(diags.is_empty(), "normative.yaml: {diags:?}");
        table
    })
}

/// The NFV profile's version name.
pub const NFV_VERSION: &str = "tosca_simple_profile_for_nfv_1_0_0";

pub const NFV_TEXT: &str = include_str!("normative_nfv.yaml");

/// The types of the TOSCA Simple Profile for NFV 1.0, for templates of
/// that version: a layer over the normative types.
pub fn nfv_table() -> std::sync::Arc<TypeTable> {
    static TABLE: OnceLock<std::sync::Arc<TypeTable>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let (root, diags) = yaml::parse(NORMATIVE_FILE, NFV_TEXT);
            debug_assert!(diags.is_empty(), "normative_nfv.yaml: {diags:?}");
            let mut table = TypeTable::default();
            let mut diags = Vec::new();
            if let Some(root) = root {
                table.add_document(&root, &mut diags);
            }
            debug_assert!(diags.is_empty(), "normative_nfv.yaml: {diags:?}");
            std::sync::Arc::new(table)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::super::types::{Kind, Types};
    use super::*;

    #[test]
    fn normative_types_load_and_chain() {
        let types = Types {
            normative: table(),
            user: TypeTable::default(),
        };
        assert!(types.is_a(
            Kind::Node,
            "tosca.nodes.WebServer",
            "tosca.nodes.SoftwareComponent"
        ));
        assert!(types.is_a(Kind::Node, "Compute", "tosca.nodes.Root"));
        assert_eq!(
            types.root_parent(Kind::Node, "tosca.nodes.WebServer"),
            "tosca.nodes.SoftwareComponent"
        );
        let caps = types.capabilities("tosca.nodes.Compute");
        assert_eq!(caps["host"].ty, "tosca.capabilities.Compute");
        let mut diags = Vec::new();
        types.check(&mut diags);
        assert!(diags.is_empty());
    }
}
