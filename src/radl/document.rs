//! The document view of a RADL tree, as IM and EC3 see it: one entry per
//! named network, system, configure..., with repeated features merged.
//!
//! Within one document a name is defined once. The merge form EC3 uses is
//! a reference and a definition of the same name (`system front` and
//! `system front (...)`, in either order): they become one entry. Two
//! bodies for one name are reported. (Composing several templates, where
//! same-named systems do merge, is done by the launch operation on top of
//! this.)

use super::ast::{self, AspectKind, ConfigureBody, Number, Sentence};
use super::features::FeatureSet;
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use indexmap::IndexMap;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Document {
    pub ansible_hosts: Vec<AspectDef>,
    pub networks: Vec<AspectDef>,
    pub systems: Vec<AspectDef>,
    pub configures: Vec<ConfigureDef>,
    pub deploys: Vec<ast::Deploy>,
    pub contextualize: Option<ContextualizeDef>,
    /// EC3 allows several descriptions (of different names); IM one.
    pub descriptions: Vec<AspectDef>,
    /// EC3's `include NAME (template = 'a b')`.
    pub includes: Vec<AspectDef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AspectDef {
    pub kind: AspectKind,
    pub name: String,
    /// The name where it was first written.
    pub span: Span,
    /// Only referenced (`system front`), never given a body here.
    pub reference: bool,
    pub features: FeatureSet,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConfigureDef {
    pub name: String,
    pub span: Span,
    pub body: ConfigureBody,
    /// Recipe bodies of the same name from templates composed after the
    /// one that defined it (see [`Document::compose`]), in order.
    pub appended: Vec<ConfigureBody>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct ContextualizeDef {
    pub span: Span,
    /// The largest `max_time` given.
    pub max_time: Option<(Number, Span)>,
    pub options: FeatureSet,
    /// Keyed by (system, configure); a repeated pair replaces the earlier
    /// one in place, as IM does.
    pub items: IndexMap<(String, String), ast::ContextItem>,
}

impl Document {
    pub fn system(&self, name: &str) -> Option<&AspectDef> {
        self.systems.iter().find(|s| s.name == name)
    }

    pub fn network(&self, name: &str) -> Option<&AspectDef> {
        self.networks.iter().find(|s| s.name == name)
    }

    pub fn configure(&self, name: &str) -> Option<&ConfigureDef> {
        self.configures.iter().find(|s| s.name == name)
    }

    pub fn ansible_host(&self, name: &str) -> Option<&AspectDef> {
        self.ansible_hosts.iter().find(|s| s.name == name)
    }

    /// Builds the document from one tree. Conflicts are reported; the
    /// document keeps the first value of anything in conflict.
    pub fn build(radl: &ast::Radl) -> (Document, Vec<Diagnostic>) {
        let mut doc = Document::default();
        let mut diags = Vec::new();
        for s in &radl.sentences {
            doc.add(s, &mut diags);
        }
        (doc, diags)
    }

    /// Adds one sentence, merging as EC3 composes templates.
    pub fn add(&mut self, s: &Sentence, diags: &mut Vec<Diagnostic>) {
        match s {
            Sentence::Aspect(a) => self.add_aspect(a, diags),
            Sentence::Configure(c) => self.add_configure(c, diags),
            Sentence::Contextualize(c) => {
                let ctx = self.contextualize.get_or_insert_with(|| ContextualizeDef {
                    span: c.span,
                    ..ContextualizeDef::default()
                });
                if let Some((n, span)) = c.max_time
                    && ctx.max_time.is_none_or(|(m, _)| n.as_f64() > m.as_f64())
                {
                    ctx.max_time = Some((n, span));
                }
                for o in &c.options {
                    // Options are keyed by name; a later one replaces.
                    ctx.options.entries.shift_remove(&o.name.text);
                    ctx.options.add(o, diags);
                }
                for item in &c.items {
                    let key = (item.system.text.clone(), item.configure.text.clone());
                    ctx.items.insert(key, item.clone());
                }
            }
            Sentence::Deploy(d) => self.deploys.push(d.clone()),
        }
    }

    fn add_aspect(&mut self, a: &ast::Aspect, diags: &mut Vec<Diagnostic>) {
        let list = match a.kind {
            AspectKind::Network => &mut self.networks,
            AspectKind::System => &mut self.systems,
            AspectKind::Ansible => &mut self.ansible_hosts,
            AspectKind::Include => &mut self.includes,
            AspectKind::Description => &mut self.descriptions,
        };
        let Some(existing) = list.iter_mut().find(|d| d.name == a.name.text) else {
            list.push(new_def(a, diags));
            return;
        };
        let Some(body) = &a.body else {
            return; // a reference to something already known
        };
        if existing.reference {
            existing.reference = false;
            existing.span = a.name.span;
            existing.features.add_list(body, diags);
        } else {
            diags.push(duplicate(a.kind, &a.name, existing.span));
        }
    }

    fn add_configure(&mut self, c: &ast::Configure, diags: &mut Vec<Diagnostic>) {
        match self.configures.iter_mut().find(|d| d.name == c.name.text) {
            None => self.configures.push(ConfigureDef {
                name: c.name.text.clone(),
                span: c.name.span,
                body: c.body.clone(),
                appended: Vec::new(),
            }),
            Some(existing) => match (&existing.body, &c.body) {
                (_, ConfigureBody::Reference) => {}
                (ConfigureBody::Reference, _) => existing.body = c.body.clone(),
                _ => diags.push(duplicate_configure(&c.name, existing.span)),
            },
        }
    }
}

impl Document {
    /// Composes a later template into this document, as EC3 composes the
    /// templates given to `launch`:
    ///
    /// - a system, network or ansible host defined in both merges its
    ///   features, the later template's value winning for a feature both
    ///   give (IM's `conflict="other"`);
    /// - a configure defined in both runs both recipes, earlier first;
    /// - the later template's `deploy` sentences replace the earlier ones
    ///   for the systems they name;
    /// - contextualize items are added (a repeated pair keeps its place);
    /// - descriptions are dropped (they describe a template, not a cluster);
    /// - includes are resolved by the caller before composing.
    pub fn compose(&mut self, later: Document) {
        for (mine, theirs) in [
            (&mut self.networks, later.networks),
            (&mut self.systems, later.systems),
            (&mut self.ansible_hosts, later.ansible_hosts),
        ] {
            for def in theirs {
                match mine.iter_mut().find(|d| d.name == def.name) {
                    None => mine.push(def),
                    Some(existing) => existing.overlay(def),
                }
            }
        }
        for c in later.configures {
            match self.configures.iter_mut().find(|d| d.name == c.name) {
                None => self.configures.push(c),
                Some(existing) => match (&existing.body, &c.body) {
                    (_, ConfigureBody::Reference) => {}
                    (ConfigureBody::Reference | ConfigureBody::Empty, _) => {
                        existing.body = c.body;
                        existing.appended.extend(c.appended);
                    }
                    _ => {
                        existing.appended.push(c.body);
                        existing.appended.extend(c.appended);
                    }
                },
            }
        }
        let redeployed: Vec<&str> = later
            .deploys
            .iter()
            .map(|d| d.system.text.as_str())
            .collect();
        self.deploys
            .retain(|d| !redeployed.contains(&d.system.text.as_str()));
        self.deploys.extend(later.deploys.iter().cloned());
        if let Some(ctx) = later.contextualize {
            let mine = self.contextualize.get_or_insert_with(|| ContextualizeDef {
                span: ctx.span,
                ..ContextualizeDef::default()
            });
            if let Some((n, span)) = ctx.max_time
                && mine.max_time.is_none_or(|(m, _)| n.as_f64() > m.as_f64())
            {
                mine.max_time = Some((n, span));
            }
            for (k, v) in ctx.options.entries {
                mine.options.entries.insert(k, v);
            }
            for (k, v) in ctx.items {
                mine.items.insert(k, v);
            }
        }
        self.descriptions.clear();
    }
}

/// EC3's inheritance feature: `ec3_inherit_from = system NAME`.
pub const INHERIT: &str = "ec3_inherit_from";

impl Document {
    /// Applies EC3's `ec3_inherit_from = system NAME` (or `network NAME`),
    /// as EC3 does once templates are composed: the aspect becomes a copy
    /// of the one named, with its own features added over the copy's (its
    /// own win), and the feature itself removed. When a configure has the
    /// name of the aspect inherited from, the inheriting aspect's configure
    /// runs that recipe first, then its own. Chains resolve in order.
    ///
    /// With `complete` false (one template meant for composition), an
    /// aspect naming one that is not there is left as it is, for the
    /// composed description to resolve; otherwise that is an error.
    pub fn apply_inheritance(&mut self, complete: bool) -> Vec<Diagnostic> {
        let mut diags = Vec::new();
        for kind in [AspectKind::System, AspectKind::Network] {
            // Aspects left for the composed description (`complete` false).
            let mut left: Vec<String> = Vec::new();
            loop {
                let list = match kind {
                    AspectKind::System => &self.systems,
                    _ => &self.networks,
                };
                let pending = |d: &AspectDef| {
                    d.features.entries.contains_key(INHERIT) && !left.contains(&d.name)
                };
                // The next aspect whose parent inherits from nothing.
                let mut next = None;
                for (i, d) in list.iter().enumerate().filter(|(_, d)| pending(d)) {
                    let parent = match d.features.feature(INHERIT).map(|f| &f.value) {
                        Some(ast::Value::Reference(k, n)) if *k == kind => {
                            list.iter().position(|p| p.name == n.text)
                        }
                        _ => None,
                    };
                    if parent.is_some_and(|p| left.contains(&list[p].name)) {
                        next = Some((i, None, true));
                        break;
                    }
                    if parent.is_none_or(|p| !pending(&list[p])) {
                        next = Some((i, parent, false));
                        break;
                    }
                }
                let Some((i, parent, leave)) = next else {
                    // What is left inherits in a cycle.
                    let cyclic: Vec<usize> =
                        (0..list.len()).filter(|&i| pending(&list[i])).collect();
                    for &i in &cyclic {
                        if let Some(f) = list[i].features.feature(INHERIT) {
                            diags.push(Diagnostic::error(
                                f.value_span,
                                format!(
                                    "{} `{}` inherits from itself through `{INHERIT}`",
                                    kind.keyword(),
                                    list[i].name
                                ),
                            ));
                        }
                    }
                    let list = match kind {
                        AspectKind::System => &mut self.systems,
                        _ => &mut self.networks,
                    };
                    for i in cyclic {
                        list[i].features.entries.shift_remove(INHERIT);
                    }
                    break;
                };
                if leave {
                    // Its parent is itself left for the composition.
                    left.push(list[i].name.clone());
                    continue;
                }
                if self.inherit_one(kind, i, parent, complete, &mut diags) {
                    let list = match kind {
                        AspectKind::System => &self.systems,
                        _ => &self.networks,
                    };
                    left.push(list[i].name.clone());
                }
            }
        }
        diags
    }

    /// Resolves one aspect's inheritance; true when it is left as it is,
    /// for the composed description.
    fn inherit_one(
        &mut self,
        kind: AspectKind,
        i: usize,
        parent: Option<usize>,
        complete: bool,
        diags: &mut Vec<Diagnostic>,
    ) -> bool {
        let list = match kind {
            AspectKind::System => &mut self.systems,
            _ => &mut self.networks,
        };
        let Some(f) = list[i].features.feature(INHERIT).cloned() else {
            return false;
        };
        list[i].features.entries.shift_remove(INHERIT);
        let named = match &f.value {
            ast::Value::Reference(k, n) if *k == kind => n.text.clone(),
            other => {
                let found = super::features::describe_value(other);
                diags.push(
                    Diagnostic::error(
                        f.value_span,
                        format!(
                            "`{INHERIT}` of a {0} names the {0} to copy, as in `{INHERIT} = {0} wn`; found {found}",
                            kind.keyword()
                        ),
                    ),
                );
                return false;
            }
        };
        let Some(p) = parent else {
            if complete {
                let declared: Vec<String> = list.iter().map(|d| format!("`{}`", d.name)).collect();
                diags.push(
                    Diagnostic::error(
                        f.value_span,
                        format!(
                            "{} `{}` inherits from {} `{named}`, which is not declared",
                            kind.keyword(),
                            list[i].name,
                            kind.keyword()
                        ),
                    )
                    .with_note(format!("help: declared: {}", declared.join(", "))),
                );
            } else {
                // Left for the composed description to resolve.
                list[i]
                    .features
                    .entries
                    .insert(INHERIT.into(), super::features::Entry::Single(f));
                return true;
            }
            return false;
        };
        let own = list[i].clone();
        let mut copy = list[p].clone();
        copy.name = own.name.clone();
        copy.span = own.span;
        copy.reference = false;
        copy.overlay(own);
        let child = copy.name.clone();
        list[i] = copy;
        if kind != AspectKind::System {
            return false;
        }
        let Some(parent_conf) = self.configure(&named).cloned() else {
            return false;
        };
        match self.configures.iter_mut().find(|c| c.name == child) {
            None => self.configures.push(ConfigureDef {
                name: child,
                ..parent_conf
            }),
            Some(own) => {
                let mut appended = parent_conf.appended;
                let own_body = std::mem::replace(&mut own.body, parent_conf.body);
                if matches!(own_body, ConfigureBody::Recipe { .. }) {
                    appended.push(own_body);
                }
                appended.append(&mut own.appended);
                own.appended = appended;
            }
        }
        false
    }
}

impl AspectDef {
    /// Merges a later definition of the same name: its features win.
    fn overlay(&mut self, later: AspectDef) {
        if later.reference {
            return;
        }
        if self.reference {
            self.reference = false;
            self.span = later.span;
        }
        for (k, v) in later.features.entries {
            self.features.entries.insert(k, v);
        }
        self.features.softs.extend(later.features.softs);
    }
}

fn new_def(a: &ast::Aspect, diags: &mut Vec<Diagnostic>) -> AspectDef {
    AspectDef {
        kind: a.kind,
        name: a.name.text.clone(),
        span: a.name.span,
        reference: a.body.is_none(),
        features: a
            .body
            .as_ref()
            .map(|b| FeatureSet::from_list(b, diags))
            .unwrap_or_default(),
    }
}

fn duplicate(kind: AspectKind, name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::error(
        name.span,
        format!("{} `{}` is defined twice", kind.keyword(), name.text),
    )
    .with_related(first, "first defined")
    .with_note("help: keep one definition, or make one of them a reference (no parentheses)")
}

fn duplicate_configure(name: &ast::Ident, first: Span) -> Diagnostic {
    Diagnostic::error(
        name.span,
        format!("configure `{}` is defined twice", name.text),
    )
    .with_related(first, "first defined")
    .with_note("help: merge the two recipes into one")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::FileId;

    fn doc(file: u32, text: &str) -> Document {
        let (tree, diags) = crate::radl::parse(FileId(file), text);
        assert!(diags.is_empty(), "{diags:?}");
        let (d, diags) = Document::build(&tree);
        assert!(diags.is_empty(), "{diags:?}");
        d
    }

    #[test]
    fn compose_merges_as_ec3_composes_templates() {
        let mut d = doc(
            0,
            "description base (kind = 'main')\n\
             system front (cpu.count >= 1 and memory.size >= 1g)\n\
             configure front (\n@begin\n- shell: echo one\n@end\n)\n\
             deploy front 1\ndeploy wn 2\n",
        );
        d.compose(doc(
            1,
            "description more (kind = 'component')\n\
             system front (cpu.count >= 4 and disk.0.os.name = 'linux')\n\
             configure front (\n@begin\n- shell: echo two\n@end\n)\n\
             deploy wn 5\n",
        ));
        let front = d.system("front").unwrap();
        let cpu = crate::radl::json::features(&front.features);
        assert_eq!(cpu["cpu.count_min"], serde_json::json!(4), "later wins");
        assert!(cpu.contains_key("memory.size_min"), "earlier features stay");
        assert!(cpu.contains_key("disk.0.os.name"));
        let conf = d.configure("front").unwrap();
        assert!(matches!(&conf.body, ConfigureBody::Recipe { text, .. } if text.contains("one")));
        assert!(
            matches!(&conf.appended[..], [ConfigureBody::Recipe { text, .. }] if text.contains("two"))
        );
        let deploys: Vec<(String, String)> = d
            .deploys
            .iter()
            .map(|x| (x.system.text.clone(), format!("{:?}", x.count.0)))
            .collect();
        assert_eq!(deploys.len(), 2);
        assert_eq!(deploys[0].0, "front");
        assert_eq!(deploys[1], ("wn".to_string(), "Int(5)".to_string()));
        assert!(d.descriptions.is_empty(), "descriptions are dropped");
    }
}
