//! Semantic checks, as IM's `RADL.check()` makes them, but collecting every
//! problem instead of stopping at the first: known features have the right
//! type, operator, value and unit; indexed features (`disk.N.*`,
//! `net_interface.N.*`) are numbered from 0 without gaps and every
//! interface has a connection to a declared network; deploys, contextualize
//! items and `ansible_host` name things that exist; recipes are YAML.
//! EC3's `description`, `include` and `ec3_*` features are checked too.

use super::ast::{self, ConfigureBody, Number, Op, Value};
use super::document::{AspectDef, Document};
use super::features::{Entry, FeatureSet};
use super::outports;
use super::recipe_yaml;
use super::units::SIZE_UNITS;
use crate::diagnostic::Diagnostic;
use crate::source::Span;

/// What a known feature accepts.
#[derive(Clone, Copy)]
enum Spec {
    Str,
    OneOf(&'static [&'static str]),
    /// A number; `int` demands a whole number; the units allowed (none if empty).
    Num {
        int: bool,
        units: &'static [&'static str],
        unit_required: bool,
    },
    /// A string of dot-separated digits (`16.04`), any comparator.
    Version,
    Password,
    AnsibleHost,
    NetworkRef,
    StrOrList,
    Outports,
    Apps,
}

const NONE: &[&str] = &[];
const SIZE: Spec = Spec::Num {
    int: false,
    units: SIZE_UNITS,
    unit_required: false,
};
const COUNT: Spec = Spec::Num {
    int: false,
    units: NONE,
    unit_required: false,
};
const WHOLE: Spec = Spec::Num {
    int: true,
    units: NONE,
    unit_required: false,
};

fn system_spec(name: &str) -> Option<Spec> {
    Some(match name {
        "spot" => Spec::OneOf(&["yes", "no"]),
        "image_type" => Spec::OneOf(&["vmdk", "qcow", "qcow2", "raw"]),
        "virtual_system_type" | "instance_type" | "availability_zone" => Spec::Str,
        "price" | "cpu.count" | "gpu.count" => COUNT,
        "cpu.arch" => Spec::OneOf(&["i386", "x86_64"]),
        "cpu.performance" => Spec::Num {
            int: false,
            units: &["ECU", "GCEU", "HRZ"],
            unit_required: true,
        },
        "memory.size" => Spec::Num {
            int: true,
            units: SIZE_UNITS,
            unit_required: false,
        },
        "disk.0.os.credentials.new.password" => Spec::Password,
        "ansible_host" => Spec::AnsibleHost,
        "ec3_max_instances" | "ec3_min_instances" | "ec3_destroy_interval" | "ec3_destroy_safe" => {
            WHOLE
        }
        "ec3_if_fail" | "ec3_node_type" | "ec3_class" | "ec3_templates_cmd" => Spec::Str,
        _ => return None,
    })
}

fn net_interface_spec(suffix: &str) -> Option<Spec> {
    Some(match suffix {
        "connection" => Spec::NetworkRef,
        "ip" | "dns_name" => Spec::Str,
        _ => return None,
    })
}

fn disk_spec(suffix: &str) -> Option<Spec> {
    Some(match suffix {
        "image.url" => Spec::StrOrList,
        "image.name" | "type" | "device" | "mount_path" | "fstype" | "os.flavour" => Spec::Str,
        "os.credentials.username"
        | "os.credentials.password"
        | "os.credentials.private_key"
        | "os.credentials.public_key" => Spec::Str,
        "size" | "free_size" => SIZE,
        "os.name" => Spec::OneOf(&["linux", "windows", "mac os x"]),
        "os.version" => Spec::Version,
        "applications" => Spec::Apps,
        _ => return None,
    })
}

fn network_spec(name: &str) -> Option<Spec> {
    Some(match name {
        "outbound" => Spec::OneOf(&["yes", "no"]),
        "outports" => Spec::Outports,
        "provider_id" => Spec::Str,
        _ => return None,
    })
}

fn ansible_spec(name: &str) -> Option<Spec> {
    matches!(
        name,
        "host" | "credentials.username" | "credentials.password" | "credentials.private_key"
    )
    .then_some(Spec::Str)
}

fn app_spec(name: &str) -> Option<Spec> {
    Some(match name {
        "name" | "path" => Spec::Str,
        "version" => Spec::Version,
        "preinstalled" => Spec::OneOf(&["yes", "no"]),
        _ => return None,
    })
}

fn description_spec(name: &str) -> Option<Spec> {
    Some(match name {
        // EC3 takes any kind (its own templates use `test` too); `nubo
        // templates` shows it, and `component` and `images` mark a
        // template meant for composition (see [`Scope`]).
        "kind" => Spec::Str,
        "short" | "content" => Spec::Str,
        _ => return None,
    })
}

/// What a document is checked as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// A whole cluster description: everything it names must be there.
    Whole,
    /// One template meant to be composed with others (EC3's `component`
    /// and `images` kinds), checked as EC3 would: only what composition
    /// cannot fix. What another template may complete is left to the check
    /// of the composed description: `disk.N` and `net_interface.N`
    /// numbering and connections, the networks, systems, configures and
    /// ansible hosts it names, an ansible host's required features.
    Part,
}

impl Scope {
    /// The scope a document asks for by its descriptions' `kind`.
    pub fn of(doc: &Document) -> Scope {
        let part = doc.descriptions.iter().any(|d| {
            d.features.get_str("kind").is_some_and(|k| {
                k.eq_ignore_ascii_case("component") || k.eq_ignore_ascii_case("images")
            })
        });
        if part { Scope::Part } else { Scope::Whole }
    }
}

/// Runs every check of a whole description and returns every problem found.
pub fn check(doc: &Document) -> Vec<Diagnostic> {
    check_as(doc, Scope::Whole)
}

/// Runs the checks `scope` asks for.
pub fn check_as(doc: &Document, scope: Scope) -> Vec<Diagnostic> {
    let whole = scope == Scope::Whole;
    let mut c = Checker {
        doc,
        whole,
        diags: Vec::new(),
    };
    for n in &doc.networks {
        c.features(&n.features, network_spec);
    }
    for a in doc.ansible_hosts.iter().filter(|a| !a.reference) {
        c.features(&a.features, ansible_spec);
        if whole {
            c.ansible_required(a);
        }
    }
    for s in &doc.systems {
        c.system(&s.features);
    }
    for d in &doc.descriptions {
        c.features(&d.features, description_spec);
    }
    for i in &doc.includes {
        match i.features.get_str("template") {
            Some(t) if !t.trim().is_empty() => {}
            _ => c.diags.push(Diagnostic::error(
                i.span,
                format!("include `{}` needs `template = 'NAME [NAME...]'`", i.name),
            )),
        }
    }
    for d in &doc.deploys {
        if whole && doc.system(&d.system.text).is_none() {
            c.diags.push(
                Diagnostic::error(
                    d.system.span,
                    format!(
                        "deploy names system `{}`, which is not declared",
                        d.system.text
                    ),
                )
                .with_note(format!(
                    "help: declared systems: {}",
                    names(doc.systems.iter().map(|s| &s.name))
                )),
            );
        }
        if !matches!(d.count.0, Number::Int(_)) {
            c.diags.push(Diagnostic::error(
                d.count.1,
                "the number of VMs to deploy must be a whole number",
            ));
        }
    }
    // Each recipe body once: a system inheriting through `ec3_inherit_from`
    // shares its parent's configure body (same text, same span).
    let mut checked: Vec<Span> = Vec::new();
    for conf in &doc.configures {
        if let ConfigureBody::Recipe { text, span } = &conf.body
            && !checked.contains(span)
        {
            checked.push(*span);
            c.yaml(text, *span);
        }
    }
    if let Some(ctx) = &doc.contextualize {
        if let Some((n, span)) = ctx.max_time
            && !matches!(n, Number::Int(_))
        {
            c.diags.push(Diagnostic::error(
                span,
                "contextualize's maximum time must be a whole number of seconds",
            ));
        }
        for item in ctx.items.values() {
            c.context_item(item);
        }
    }
    c.diags
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<_> = it.map(|s| format!("`{s}`")).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

struct Checker<'d> {
    doc: &'d Document,
    /// A whole description ([`Scope::Whole`]): names must resolve and
    /// indexed features be complete.
    whole: bool,
    diags: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn features(&mut self, set: &FeatureSet, spec: fn(&str) -> Option<Spec>) {
        for (name, entry) in &set.entries {
            if let Some(s) = spec(name) {
                self.entry(name, entry, s);
            }
        }
    }

    fn entry(&mut self, name: &str, entry: &Entry, spec: Spec) {
        match entry {
            Entry::Interval(lo, hi) => {
                let mut seen = None;
                for f in [lo, hi].into_iter().flatten() {
                    if seen != Some(f.span()) {
                        self.feature(f, spec);
                        seen = Some(f.span());
                    }
                }
            }
            Entry::Single(f) => self.feature(f, spec),
            Entry::Groups(groups) => {
                if matches!(spec, Spec::Apps) {
                    for g in groups.values() {
                        self.features(&g.features, app_spec);
                        if g.features.get_str("name").is_none_or(str::is_empty) {
                            self.diags.push(Diagnostic::error(
                                g.span,
                                format!("each `{name} contains (...)` needs a non-empty `name`"),
                            ));
                        }
                    }
                } else {
                    let span = groups.values().next().map(|g| g.span).unwrap_or_default();
                    self.diags.push(Diagnostic::error(
                        span,
                        format!(
                            "`{name}` takes {}, not a `contains (...)` group",
                            describe(spec)
                        ),
                    ));
                }
            }
            Entry::Texts(texts) => {
                if matches!(spec, Spec::Outports) {
                    for (t, span) in texts {
                        if let Err(e) = outports::parse(t) {
                            self.diags.push(Diagnostic::error(*span, e));
                        }
                    }
                }
            }
        }
    }

    fn feature(&mut self, f: &ast::Feature, spec: Spec) {
        let name = &f.name.text;
        let is_num = matches!(f.value, Value::Number(..));
        // Operators: strings take `=` (versions may be compared).
        match (&f.value, spec) {
            (_, Spec::Version | Spec::Num { .. }) => {}
            (Value::String(_) | Value::List(_) | Value::Random(_), _) if f.op != Op::Eq => {
                self.diags.push(Diagnostic::error(
                    f.op_span,
                    format!(
                        "`{name}` takes a string, compared with `=`; found `{}`",
                        f.op.as_str()
                    ),
                ));
                return;
            }
            _ => {}
        }
        let wrong_type = |want: &str| {
            Diagnostic::error(
                f.value_span,
                format!(
                    "`{name}` takes {want}, found {}",
                    super::features::describe_value(&f.value)
                ),
            )
        };
        match spec {
            Spec::Num {
                int,
                units,
                unit_required,
            } => {
                let Value::Number(n, unit) = &f.value else {
                    self.diags.push(wrong_type(describe(spec)));
                    return;
                };
                if int && !matches!(n, Number::Int(_)) {
                    self.diags.push(wrong_type("a whole number"));
                }
                match unit {
                    Some(u) if units.is_empty() => self.diags.push(Diagnostic::error(
                        u.span,
                        format!("`{name}` takes no unit, found `{}`", u.text),
                    )),
                    Some(u) if !units.iter().any(|x| x.eq_ignore_ascii_case(&u.text)) => {
                        self.diags.push(Diagnostic::error(
                            u.span,
                            format!(
                                "`{name}` takes a unit among {}; found `{}`",
                                units
                                    .iter()
                                    .filter(|u| !u.is_empty())
                                    .copied()
                                    .collect::<Vec<_>>()
                                    .join(", "),
                                u.text
                            ),
                        ))
                    }
                    None if unit_required => self.diags.push(Diagnostic::error(
                        f.value_span,
                        format!("`{name}` needs a unit: {}", describe_units(units)),
                    )),
                    _ => {}
                }
            }
            _ if is_num => self.diags.push(wrong_type(describe(spec))),
            Spec::StrOrList => {
                if !matches!(f.value, Value::String(_) | Value::List(_)) {
                    self.diags.push(wrong_type(describe(spec)));
                }
            }
            _ => {
                let s = match &f.value {
                    Value::String(s) => s.as_str(),
                    Value::Random(_) if matches!(spec, Spec::Str | Spec::Password) => return,
                    _ => {
                        self.diags.push(wrong_type(describe(spec)));
                        return;
                    }
                };
                self.string_value(f, s, spec);
            }
        }
    }

    fn string_value(&mut self, f: &ast::Feature, s: &str, spec: Spec) {
        let name = &f.name.text;
        let err = |m: String| Diagnostic::error(f.value_span, m);
        match spec {
            Spec::OneOf(allowed) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(s)) => {
                self.diags.push(err(format!(
                    "`{name}` must be one of {}; found '{s}'",
                    allowed.join(", ")
                )));
            }
            Spec::Version
                if !s.is_empty()
                    && !s
                        .split('.')
                        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                self.diags.push(err(format!("`{name}` must be a version made of numbers and dots (like '22.04'); found '{s}'")));
            }
            Spec::Password => {
                let ok = s.chars().count() > 6
                    && s.chars().any(char::is_uppercase)
                    && s.chars().any(|c| c.is_ascii_digit())
                    && s.chars().any(|c| !c.is_alphanumeric());
                if !ok {
                    self.diags.push(err(format!(
                        "`{name}` is too weak: it needs more than 6 characters, an upper-case letter, a digit and a symbol"
                    )));
                }
            }
            Spec::AnsibleHost if self.whole && self.doc.ansible_host(s).is_none() => {
                self.diags.push(
                    err(format!(
                        "`{name}` names ansible host `{s}`, which is not declared"
                    ))
                    .with_note(format!(
                        "help: declared ansible hosts: {}",
                        names(self.doc.ansible_hosts.iter().map(|a| &a.name))
                    )),
                );
            }
            Spec::NetworkRef if self.whole && self.doc.network(s).is_none() => {
                self.diags.push(
                    err(format!(
                        "`{name}` names network `{s}`, which is not declared"
                    ))
                    .with_note(format!(
                        "help: declared networks: {}",
                        names(self.doc.networks.iter().map(|n| &n.name))
                    )),
                );
            }
            Spec::Outports => {
                if let Err(e) = outports::parse(s) {
                    self.diags.push(err(e));
                }
            }
            _ => {}
        }
    }

    /// System checks: simple features, indexed features, interfaces, softs.
    fn system(&mut self, set: &FeatureSet) {
        self.features(set, system_spec);
        // Per prefix (`disk`, then `net_interface`): each index used, with
        // the span of the first feature using it; sorted below. A system
        // has a handful, so vectors, not maps.
        let mut indices: [(&str, Vec<(u64, Span)>); 2] =
            [("disk", Vec::new()), ("net_interface", Vec::new())];
        let mut connections: Vec<u64> = Vec::new();
        for (name, entry) in &set.entries {
            let Some((prefix, tail)) = name.split_once('.') else {
                continue;
            };
            let spec_of: fn(&str) -> Option<Spec> = match prefix {
                "net_interface" => net_interface_spec,
                "disk" => disk_spec,
                _ => continue,
            };
            let span = entry_span(entry);
            let (num, suffix) = tail.split_once('.').unwrap_or((tail, ""));
            let Ok(n) = num.parse::<u64>() else {
                self.diags.push(Diagnostic::error(
                    span,
                    format!(
                        "`{name}`: expected an index after `{prefix}.` (as in `{prefix}.0.{tail}`)"
                    ),
                ));
                continue;
            };
            let Some(spec) = spec_of(suffix) else {
                continue;
            };
            self.entry(name, entry, spec);
            let nums = &mut indices[usize::from(prefix == "net_interface")].1;
            if !nums.iter().any(|(m, _)| *m == n) {
                nums.push((n, span));
            }
            if prefix == "net_interface" && suffix == "connection" {
                connections.push(n);
            }
        }
        if !self.whole {
            for soft in &set.softs {
                self.system(&soft.features);
            }
            return;
        }
        for (_, nums) in &mut indices {
            nums.sort_by_key(|(n, _)| *n);
        }
        for (prefix, nums) in &indices {
            for (expected, &(n, span)) in nums.iter().enumerate() {
                if n != expected as u64 {
                    self.diags.push(Diagnostic::error(
                        span,
                        format!("`{prefix}.{n}` skips index {expected}: `{prefix}.N` features must be numbered 0, 1, 2... without gaps"),
                    ));
                    break;
                }
            }
        }
        for (n, span) in &indices[1].1 {
            if !connections.contains(n) {
                self.diags.push(Diagnostic::error(
                    *span,
                    format!("net_interface.{n} has no `net_interface.{n}.connection`"),
                ));
            }
        }
        for soft in &set.softs {
            self.system(&soft.features);
        }
    }

    fn ansible_required(&mut self, a: &AspectDef) {
        let f = &a.features;
        let mut missing = Vec::new();
        if f.get_str("host").is_none() {
            missing.push("`host`");
        }
        if f.get_str("credentials.username").is_none() {
            missing.push("`credentials.username`");
        }
        if f.get_str("credentials.password").is_none()
            && f.get_str("credentials.private_key").is_none()
        {
            missing.push("`credentials.password` or `credentials.private_key`");
        }
        if !missing.is_empty() {
            self.diags.push(Diagnostic::error(
                a.span,
                format!("ansible host `{}` needs {}", a.name, missing.join(" and ")),
            ));
        }
    }

    fn context_item(&mut self, item: &ast::ContextItem) {
        if self.whole && self.doc.system(&item.system.text).is_none() {
            self.diags.push(Diagnostic::error(
                item.system.span,
                format!(
                    "contextualize names system `{}`, which is not declared",
                    item.system.text
                ),
            ));
        }
        if self.whole && self.doc.configure(&item.configure.text).is_none() {
            self.diags.push(
                Diagnostic::error(
                    item.configure.span,
                    format!(
                        "contextualize names configure `{}`, which is not declared",
                        item.configure.text
                    ),
                )
                .with_note(format!(
                    "help: declared configures: {}",
                    names(self.doc.configures.iter().map(|c| &c.name))
                )),
            );
        }
        if let Some((n, span)) = item.step
            && !matches!(n, Number::Int(_))
        {
            self.diags
                .push(Diagnostic::error(span, "a step must be a whole number"));
        }
        if let Some(tool) = &item.tool
            && !["ansible", "cloud_init", "cloud-init"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(&tool.text))
        {
            self.diags.push(Diagnostic::error(
                tool.span,
                format!(
                    "unknown contextualization tool `{}`: expected Ansible or cloud_init",
                    tool.text
                ),
            ));
        }
    }

    /// A recipe must be YAML (as IM checks it); the error points into the
    /// body. Checked without building a tree: plain block YAML on a fast
    /// path, the rest on the YAML parser's events ([`recipe_yaml`]).
    fn yaml(&mut self, text: &str, span: Span) {
        if let Err(e) = recipe_yaml::check(text) {
            let rel = e.at.min(text.len());
            let len = text[rel..].chars().next().map_or(0, char::len_utf8);
            let at = span.start as usize + rel;
            self.diags.push(Diagnostic::error(
                Span::new(span.file, at, at + len),
                format!("the recipe is not valid YAML: {}", e.message),
            ));
        }
    }
}

fn entry_span(e: &Entry) -> Span {
    match e {
        Entry::Interval(lo, hi) => lo
            .as_ref()
            .or(hi.as_ref())
            .map(|f| f.span())
            .unwrap_or_default(),
        Entry::Single(f) => f.span(),
        Entry::Groups(g) => g.values().next().map(|g| g.span).unwrap_or_default(),
        Entry::Texts(t) => t.first().map(|t| t.1).unwrap_or_default(),
    }
}

fn describe_units(units: &[&str]) -> String {
    if units == SIZE_UNITS {
        "a size unit: K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), optionally followed by B".into()
    } else {
        format!("a unit among {}", units.join(", "))
    }
}

fn describe(spec: Spec) -> &'static str {
    match spec {
        Spec::Num { units: [], .. } => "a number",
        Spec::Num { .. } => "a number with an optional unit",
        Spec::StrOrList => "a string or a list of strings",
        Spec::Apps => "`contains (name = ...)` groups",
        _ => "a string",
    }
}
