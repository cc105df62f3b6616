//! The TOSCA front end: TOSCA Simple Profile in YAML (1.0 to 1.3), checked
//! with every problem reported at `file:line:col`, and lowered into the
//! RADL tree the way IM's `Tosca.to_radl()` does it.
//!
//! ```text
//! text ──yaml──▶ Node tree ──imports──▶ TypeTable ─┐
//!                    │                             ├─check──▶ diagnostics
//!                    └──template──▶ Topology ──────┴─lower──▶ radl::ast::Radl
//! ```
//!
//! `types`/`normative` hold type definitions (the normative ones ship in
//! the binary), `functions` the intrinsic functions, `check` every rule,
//! `lower` IM's conversion. Only `imports` reads files.

pub mod check;
pub mod constraints;
pub mod functions;
pub mod implementation;
pub mod imports;
pub mod inputs;
pub mod lower;
pub mod normative;
pub mod outputs;
pub mod substitution;
pub mod template;
pub mod types;
pub mod yaml;

use crate::diagnostic::Diagnostic;
use crate::source::{FileId, SourceMap};
pub use imports::{ImportOptions, Origin};
use std::path::Path;
use template::Topology;
use types::{TypeTable, Types};
use yaml::Node;

/// One TOSCA service template, read, with its imports, and checked.
pub struct Checked {
    pub file: FileId,
    pub root: Option<Node>,
    pub topology: Topology,
    /// Types defined by the template and its imports (the normative ones
    /// are in [`normative::table`]).
    pub types: TypeTable,
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The type view: user types over the normative ones.
    pub fn types(&self) -> Types<'_> {
        Types {
            normative: normative::table(),
            user: self.types.clone(),
        }
    }
}

/// Whether a file name looks like a TOSCA template (`.yaml`, `.yml`).
pub fn is_tosca_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
}

/// Whether a text is a TOSCA template: its first key (after blank lines,
/// comments and a `---`) is `tosca_definitions_version`, which no RADL
/// text can begin with.
pub fn is_tosca_text(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#') && *l != "---")
        .is_some_and(|l| l.starts_with("tosca_definitions_version"))
}

/// Reads, resolves imports and checks the template in `file` (already in
/// `sources`); `origin` says where relative imports are found.
pub fn validate(
    sources: &mut SourceMap,
    file: FileId,
    origin: &Origin,
    opts: &ImportOptions,
) -> Checked {
    let mut diags = Vec::new();
    let (root, ydiags) = yaml::parse(file, sources.text(file));
    diags.extend(ydiags);
    let mut checked = Checked {
        file,
        root: None,
        topology: Topology::default(),
        types: TypeTable::default(),
        diagnostics: Vec::new(),
    };
    let Some(root) = root else {
        checked.diagnostics = diags;
        return checked;
    };
    let whole = crate::source::Span::new(file, 0, 0);
    if root.as_map().is_none() {
        diags.push(Diagnostic::error(
            if root.is_null() { whole } else { root.span },
            format!(
                "a TOSCA service template is a YAML map, found {}",
                root.kind()
            ),
        ));
        checked.diagnostics = diags;
        return checked;
    }
    match root.get("tosca_definitions_version") {
        Some(v) => check::definitions_version(v, &mut diags),
        None => diags.push(
            Diagnostic::error(whole, "this file has no `tosca_definitions_version`").with_note(
                "help: start it with `tosca_definitions_version: tosca_simple_yaml_1_0`",
            ),
        ),
    }
    for (k, _) in root.as_map().unwrap_or_default() {
        match k.as_str() {
            Some(key) if check::TOP_LEVEL.contains(&key) => {}
            _ => diags.push(
                Diagnostic::error(
                    k.span,
                    format!(
                        "a service template has no section `{}`",
                        k.scalar_text().unwrap_or_default()
                    ),
                )
                .with_note("help: check the spelling and the indentation"),
            ),
        }
    }
    let mut table = TypeTable::default();
    if root
        .get("tosca_definitions_version")
        .and_then(Node::as_str)
        .is_some_and(|v| v == normative::NFV_VERSION)
    {
        table.layers.push(normative::nfv_table());
    }
    imports::load(&root, origin, opts, sources, &mut table, &mut diags);
    table.add_document(&root, &mut diags);
    let topology = match root.get("topology_template") {
        Some(tt) => template::read(tt, &mut diags),
        None => Topology::default(),
    };
    let types = Types {
        normative: normative::table(),
        user: table,
    };
    types.check(&mut diags);
    let mut checker = check::Checker {
        types: &types,
        topology: &topology,
        diags: Vec::new(),
    };
    checker.run();
    diags.extend(checker.diags);
    if let Some(sub) = root
        .get("topology_template")
        .and_then(|tt| tt.get("substitution_mappings"))
    {
        substitution::check(sub, &topology, &types, &mut diags);
    }
    // A node of a type an imported topology implements: that topology's
    // mapping is checked too (its problems are reported in its file).
    let mut done: Vec<&str> = Vec::new();
    for node in topology.nodes.values() {
        let ty = node.ty.text.as_str();
        if done.contains(&ty) {
            continue;
        }
        done.push(ty);
        if let Some(tt) = types.user.imported_substitution(ty)
            && let Some(sub) = tt.get("substitution_mappings")
        {
            let mut ignored = Vec::new();
            let nested = template::read(tt, &mut ignored);
            substitution::check(sub, &nested, &types, &mut diags);
        }
    }
    crate::diagnostic::sort(&mut diags);
    diags.dedup();
    checked.root = Some(root);
    checked.topology = topology;
    checked.types = types.user;
    checked.diagnostics = diags;
    checked
}

pub use crate::source::ReadError;

/// Reads `path` (`-` is standard input) into `sources` and validates it.
pub fn load(
    sources: &mut SourceMap,
    path: &Path,
    opts: &ImportOptions,
) -> Result<Checked, ReadError> {
    let origin = if path == Path::new("-") {
        Origin::Text
    } else {
        Origin::File(path.to_path_buf())
    };
    let text = crate::source::read_text(path)?;
    let file = sources.add(path.display().to_string(), text);
    Ok(validate(sources, file, &origin, opts))
}
