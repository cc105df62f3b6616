//! Lowering a checked topology into the RADL tree, following the rules of
//! IM's `Tosca.to_radl()`:
//!
//! - network nodes become `network`s (`network_type: public` →
//!   `outbound = 'yes'`, `network_name` → `provider_id`, `cidr` → `cidr` and
//!   `create = 'yes'`, `gateway_ip` → `router`);
//! - each node whose root type is `tosca.nodes.Compute` becomes a `system`:
//!   its `host` and `os` capability properties map to `cpu.count`,
//!   `memory.size`, `disk.0.os.*`, ... (numbers as `>=` lower bounds, sizes in
//!   bytes), attached BlockStorage nodes become `disk.N.*`, AnsibleGalaxy
//!   role and collection artifacts of the nodes it hosts become
//!   `disk.0.applications`;
//! - networking: Port nodes bind the system to network nodes; otherwise a
//!   private network (`private_net`) is used, and a public one
//!   (`public_net`, `public_net_1`, ...) is added per system that asks for
//!   a public IP through its endpoints; endpoint ports become `outports`;
//! - the `scalable` capability gives the deploy count (`count`, else
//!   `default_instances`, else `min_instances`, else 1); a count of 0
//!   deploys nothing;
//! - every node with lifecycle operations becomes a `configure` on its host
//!   (`NODE_HOST_conf`), stepped by its dependency depth over
//!   HostedOn/DependsOn/ConnectsTo: each Standard operation's
//!   implementation inlined (its text, read or downloaded by the caller,
//!   [`implementations`] then [`to_radl_resolved`]) with the operation
//!   inputs as the plays' vars, as IM does; without the texts
//!   ([`to_radl`]), an `include_tasks` of each reference.
//!
//! Not lowered (IM builds special systems for them): OSCAR functions
//! (`tosca.nodes.aisprint.FaaS.Function`), container applications
//! (`tosca.nodes.Container.Application`), the AnsibleHost node and
//! relationship operations; [`refusals`] names them so a launch stops.

use super::Checked;
use super::check::scalar_unit;
use super::functions::{self, Context};
use super::implementation;
use super::template::{NodeTemplate, RelRef, Topology, implementation_file};
use super::types::{Kind, Types};
use super::yaml::{Node, Value};
use crate::radl::ast::{self, Ident, Number, Op, Sentence};
use crate::source::Span;
use indexmap::IndexMap;

/// The Standard operations lowered, in the order they run (IM's order,
/// without the relationship ones).
pub const OPERATIONS: [&str; 3] = ["create", "configure", "start"];

/// The texts of the implementations of a launch, by reference (as
/// [`implementations`] gives it).
pub type Artifacts = IndexMap<String, String>;

/// One operation implementation a template needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Implementation {
    pub node: String,
    pub op: String,
    /// A path or a URL (an artifact's after its repository's URL).
    pub reference: String,
    /// Where it is written (the implementation, or the artifact it names).
    pub span: Span,
}

/// A feature value being built.
#[derive(Clone, Debug, PartialEq)]
enum V {
    Num(Number, Option<&'static str>),
    Str(String),
}

#[derive(Default)]
struct System {
    name: String,
    features: IndexMap<String, (Op, V)>,
    applications: Vec<String>,
}

impl System {
    fn set(&mut self, name: impl Into<String>, op: Op, v: V) {
        self.features.insert(name.into(), (op, v));
    }
    fn set_str(&mut self, name: impl Into<String>, s: impl Into<String>) {
        self.set(name, Op::Eq, V::Str(s.into()));
    }
    fn num_ifaces(&self) -> usize {
        (0..)
            .take_while(|i| {
                self.features
                    .contains_key(&format!("net_interface.{i}.connection"))
            })
            .count()
    }
    fn iface_with(&self, net: &str) -> Option<usize> {
        (0..self.num_ifaces()).find(|i| {
            self.features.get(&format!("net_interface.{i}.connection"))
                == Some(&(Op::Eq, V::Str(net.to_string())))
        })
    }
}

#[derive(Default)]
struct Network {
    name: String,
    public: bool,
    /// Network nodes say `outbound` only when public; the networks IM
    /// creates itself always say it.
    explicit: bool,
    features: IndexMap<String, V>,
}

/// A Port node binding a system to a network.
struct Bound {
    link: String,
    ip: Option<String>,
    order: i64,
    dns_name: Option<String>,
    additional_ip: Option<String>,
    additional_dns: Vec<String>,
    tls: bool,
}

struct Lowering<'a> {
    types: &'a Types<'a>,
    topo: &'a Topology,
    cx: Context<'a>,
    root: Option<&'a Node>,
    /// The implementations' texts (a launch); none: `include_tasks`.
    artifacts: Option<&'a Artifacts>,
    networks: Vec<Network>,
    systems: Vec<System>,
    configures: Vec<(String, String)>,
    items: Vec<(String, String, i64)>,
    deploys: Vec<(String, i64)>,
}

/// The RADL form of a valid template (IM's `to_radl`), its inputs at
/// their defaults.
pub fn to_radl(checked: &Checked) -> ast::Radl {
    to_radl_with(checked, &[])
}

/// The RADL form of a valid template with input values given at launch
/// (checked by [`super::inputs::resolve`]); other inputs take their
/// defaults.
pub fn to_radl_with(checked: &Checked, inputs: &[(String, Node)]) -> ast::Radl {
    lower(checked, inputs, None)
}

/// The RADL form of a valid template for a launch: each software node's
/// operation implementations inlined from `artifacts` (every reference
/// [`implementations`] gives, read or fetched by the caller).
pub fn to_radl_resolved(
    checked: &Checked,
    inputs: &[(String, Node)],
    artifacts: &Artifacts,
) -> ast::Radl {
    lower(checked, inputs, Some(artifacts))
}

/// The operation implementations the configures of a template inline, in
/// order, each once per node and operation.
pub fn implementations(checked: &Checked, inputs: &[(String, Node)]) -> Vec<Implementation> {
    let types = checked.types();
    let l = lowering(checked, &types, inputs, None);
    let mut out = Vec::new();
    for node in l.topo.nodes.values() {
        if l.skipped(node) || l.host(node, 0).is_none() {
            continue;
        }
        let ops = l.operations(node);
        for op in OPERATIONS {
            if let Some((i, _)) = ops.get(op)
                && let Some((reference, span)) = l.reference(node, i)
            {
                out.push(Implementation {
                    node: node.name.text.clone(),
                    op: op.to_string(),
                    reference,
                    span,
                });
            }
        }
    }
    out
}

/// A node nubo does not lower, and why: where it is written, its name
/// and type, the reason and what to do instead.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub span: Span,
    pub node: String,
    pub ty: String,
    pub why: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node `{}` of type `{}`: {}",
            self.node, self.ty, self.why
        )
    }
}

/// The nodes of a template that IM turns into something nubo has no
/// counterpart for (OSCAR functions, Kubernetes applications, an Ansible
/// master host), relationship operations nubo does not run, and software
/// nodes with operations but no Compute node to run them on. A launch is
/// refused with these rather than dropping a node.
pub fn refusals(checked: &Checked, inputs: &[(String, Node)]) -> Vec<Refusal> {
    let types = checked.types();
    let l = lowering(checked, &types, inputs, None);
    let mut out = Vec::new();
    for node in l.topo.nodes.values() {
        let refuse = |why: String| Refusal {
            span: node.name.span,
            node: node.name.text.clone(),
            ty: node.ty.text.clone(),
            why,
        };
        let why = match l.root(node).as_str() {
            "tosca.nodes.aisprint.FaaS.Function" => Some(
                "OSCAR functions are not supported by nubo (IM registers them with an OSCAR \
                 cluster's API); launch the OSCAR cluster, then deploy the function with the \
                 OSCAR CLI (`oscar-cli apply`)"
                    .to_string(),
            ),
            "tosca.nodes.Container.Application" => Some(
                "container applications are not supported by nubo (IM deploys them on a \
                 Kubernetes cluster it does not create); deploy them with kubectl or Helm on a \
                 Kubernetes cluster"
                    .to_string(),
            ),
            "tosca.nodes.im.AnsibleHost" => Some(
                "an Ansible master host (IM's `ansible` aspect) is not supported: nubo runs \
                 ansible-playbook from the machine running it; remove the node"
                    .to_string(),
            ),
            _ => None,
        };
        if let Some(why) = why {
            out.push(refuse(why));
            continue;
        }
        if l.skipped(node) {
            continue;
        }
        let ops = l.operations(node);
        let has_ops = OPERATIONS.iter().any(|op| {
            ops.get(*op)
                .is_some_and(|(i, _)| l.reference(node, i).is_some())
        });
        if has_ops && l.host(node, 0).is_none() {
            out.push(refuse(
                "it has lifecycle operations but is hosted on no Compute node, so there is no \
                 node to run them on; add a `host` requirement to a Compute node"
                    .to_string(),
            ));
        }
        for r in &node.requirements {
            if let Some(op) = l.relationship_operation(node, r) {
                out.push(Refusal {
                    span: r.span,
                    ..refuse(format!(
                        "its requirement `{}` has a relationship operation (`Configure.{op}`), \
                         which nubo does not run; move its tasks into the node's Standard \
                         operations",
                        r.name.text
                    ))
                });
            }
        }
    }
    out
}

fn lowering<'a>(
    checked: &'a Checked,
    types: &'a Types<'a>,
    inputs: &'a [(String, Node)],
    artifacts: Option<&'a Artifacts>,
) -> Lowering<'a> {
    let topo = &checked.topology;
    Lowering {
        types,
        topo,
        cx: Context {
            topology: topo,
            types,
            inputs,
            attributes: None,
        },
        root: checked.root.as_ref(),
        artifacts,
        networks: Vec::new(),
        systems: Vec::new(),
        configures: Vec::new(),
        items: Vec::new(),
        deploys: Vec::new(),
    }
}

fn lower(checked: &Checked, inputs: &[(String, Node)], artifacts: Option<&Artifacts>) -> ast::Radl {
    let types = checked.types();
    let mut l = lowering(checked, &types, inputs, artifacts);
    l.run();
    let mut radl = l.finish();
    if let Some(root) = &checked.root
        && let Some(name) = root
            .get("metadata")
            .and_then(|m| m.get("infra_name"))
            .and_then(|n| n.scalar_text())
    {
        radl.sentences.push(Sentence::Aspect(ast::Aspect {
            kind: ast::AspectKind::Description,
            keyword: Span::default(),
            name: ident("desc"),
            body: Some(list(vec![feature("name", Op::Eq, V::Str(name))])),
        }));
    }
    radl
}

impl Lowering<'_> {
    fn root(&self, node: &NodeTemplate) -> String {
        self.types.root_parent(Kind::Node, &node.ty.text)
    }

    fn eval(&self, v: &Node, node: &NodeTemplate) -> Option<Node> {
        functions::eval(v, Some(node), &self.cx, 0)
    }

    /// A node's property, assigned or defaulted, evaluated.
    fn prop(&self, node: &NodeTemplate, name: &str) -> Option<Node> {
        let v = functions::property_value(node, name, &self.cx)?;
        self.eval(&v, node)
    }

    /// The properties of a capability of a node: assigned, then the type's
    /// defaults, evaluated (unknown values left out).
    fn cap_props(&self, node: &NodeTemplate, cap: &str) -> Vec<(String, Node)> {
        let caps = self.types.capabilities(&node.ty.text);
        let Some(def) = caps.get(cap) else {
            return Vec::new();
        };
        let mut out: IndexMap<String, Node> = IndexMap::new();
        for (name, d) in self.types.properties(Kind::Capability, &def.ty) {
            if let Some(v) = &d.default {
                out.insert(name.to_string(), v.clone());
            }
        }
        if let Some(c) = node.capabilities.get(cap) {
            for a in &c.properties {
                out.insert(a.name.text.clone(), a.value.clone());
            }
        }
        out.into_iter()
            .filter_map(|(k, v)| Some((k, self.eval(&v, node)?)))
            .collect()
    }

    fn targets<'n>(
        &'n self,
        node: &'n NodeTemplate,
    ) -> impl Iterator<Item = (&'n super::template::Requirement, &'n NodeTemplate)> {
        node.requirements.iter().filter_map(|r| {
            let t = self.topo.nodes.get(&r.node.as_ref()?.text)?;
            Some((r, t))
        })
    }

    fn rel_is(
        &self,
        node: &NodeTemplate,
        r: &super::template::Requirement,
        ancestors: &[&str],
    ) -> bool {
        self.cx.relationship_type(node, r).is_some_and(|t| {
            ancestors
                .iter()
                .any(|a| self.types.is_a(Kind::Relationship, &t, a))
        })
    }

    /// IM's `_find_host_node`: the Compute node under `node`.
    fn host<'n>(&'n self, node: &'n NodeTemplate, depth: usize) -> Option<&'n NodeTemplate> {
        if self.root(node) == "tosca.nodes.Compute" {
            return Some(node);
        }
        if depth > 64 {
            return None;
        }
        for (r, t) in self.targets(node) {
            if self.rel_is(
                node,
                r,
                &[
                    "tosca.relationships.HostedOn",
                    "tosca.relationships.network.BindsTo",
                ],
            ) {
                return self.host(t, depth + 1);
            }
        }
        None
    }

    /// IM's `_get_dependency_level`.
    fn level(&self, node: &NodeTemplate, depth: usize) -> i64 {
        if node.requirements.is_empty() || depth > 64 {
            return 1;
        }
        let mut max = 0;
        for (r, t) in self.targets(node) {
            if self.rel_is(
                node,
                r,
                &[
                    "tosca.relationships.HostedOn",
                    "tosca.relationships.DependsOn",
                    "tosca.relationships.ConnectsTo",
                ],
            ) {
                max = max.max(self.level(t, depth + 1));
            }
        }
        max + 1
    }

    /// The first relationship operation with an implementation of a
    /// requirement: in its template or inline definition, else its type.
    fn relationship_operation(
        &self,
        node: &NodeTemplate,
        r: &super::template::Requirement,
    ) -> Option<String> {
        let with_impl = |ifaces: &IndexMap<String, super::template::IfaceAssign>| {
            ifaces.values().find_map(|i| {
                i.operations
                    .iter()
                    .find(|(_, o)| o.implementation.is_some())
                    .map(|(n, _)| n.clone())
            })
        };
        match &r.relationship {
            Some(RelRef::Inline { interfaces, .. }) => {
                if let Some(op) = with_impl(interfaces) {
                    return Some(op);
                }
            }
            Some(RelRef::Named(n)) => {
                if let Some(t) = self.topo.relationships.get(&n.text)
                    && let Some(op) = with_impl(&t.interfaces)
                {
                    return Some(op);
                }
            }
            None => {}
        }
        let ty = self.cx.relationship_type(node, r)?;
        self.types
            .interfaces(Kind::Relationship, &ty)
            .values()
            .find_map(|i| {
                i.operations
                    .iter()
                    .find(|(_, d)| match &d.value {
                        Value::Map(_) => d.get("implementation").is_some(),
                        Value::Str(_) => true,
                        _ => false,
                    })
                    .map(|(n, _)| n.clone())
            })
    }

    /// Nodes that become no system and no configure of their own.
    fn skipped(&self, node: &NodeTemplate) -> bool {
        matches!(
            self.root(node).as_str(),
            "tosca.nodes.BlockStorage"
                | "tosca.nodes.network.Port"
                | "tosca.nodes.network.Network"
                | "tosca.nodes.aisprint.FaaS.Function"
                | "tosca.nodes.Container.Application"
                | "tosca.nodes.im.AnsibleHost"
        )
    }

    fn run(&mut self) {
        let topo = self.topo;
        for node in topo.nodes.values() {
            if self.root(node) == "tosca.nodes.network.Network" {
                let net = self.network(node);
                self.networks.push(net);
            }
        }
        for node in topo.nodes.values() {
            let root = self.root(node);
            match root.as_str() {
                "tosca.nodes.BlockStorage"
                | "tosca.nodes.network.Port"
                | "tosca.nodes.network.Network" => continue,
                "tosca.nodes.aisprint.FaaS.Function"
                | "tosca.nodes.Container.Application"
                | "tosca.nodes.im.AnsibleHost" => continue,
                _ => {}
            }
            let compute = if root == "tosca.nodes.Compute" {
                let mut sys = self.system(node);
                self.nets(node, &mut sys);
                let count = self.instances(node);
                // Scaling bounds become the elasticity daemon's (EC3's
                // feature names).
                for (prop, feature) in [
                    ("max_instances", "ec3_max_instances"),
                    ("min_instances", "ec3_min_instances"),
                ] {
                    if let Some(n) = self.scalable_bound(node, prop)
                        && (prop == "min_instances" || n > count)
                        && (prop == "max_instances" || n < count)
                    {
                        sys.set(feature, Op::Eq, V::Num(Number::Int(n), None));
                    }
                }
                self.systems.push(sys);
                if count > 0 {
                    self.deploys.push((node.name.text.clone(), count));
                }
                Some(node)
            } else {
                self.host(node, 0)
            };
            if let Some(compute) = compute
                && let Some(recipe) = self.recipe(node)
            {
                let name = if node.name.text == compute.name.text {
                    format!("{}_conf", node.name.text)
                } else {
                    format!("{}_{}_conf", node.name.text, compute.name.text)
                };
                self.items
                    .push((compute.name.text.clone(), name.clone(), self.level(node, 0)));
                self.configures.push((name, recipe));
            }
        }
    }

    fn network(&self, node: &NodeTemplate) -> Network {
        let mut net = Network {
            name: node.name.text.clone(),
            explicit: true,
            ..Network::default()
        };
        let s = |n: &str| self.prop(node, n).and_then(|v| functions::text(&v));
        if s("network_type").is_some_and(|t| t.eq_ignore_ascii_case("public")) {
            net.public = true;
        }
        if let Some(v) = s("network_name") {
            net.features.insert("provider_id".into(), V::Str(v));
        }
        if let Some(v) = s("cidr") {
            net.features.insert("cidr".into(), V::Str(v));
            net.features.insert("create".into(), V::Str("yes".into()));
        }
        if let Some(v) = s("gateway_ip") {
            net.features.insert("router".into(), V::Str(v));
        }
        net
    }

    /// A whole-number property of the `scalable` capability.
    fn scalable_bound(&self, node: &NodeTemplate, name: &str) -> Option<i64> {
        self.cap_props(node, "scalable")
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| match v.value {
                Value::Int(i) if i >= 0 => Some(i),
                _ => None,
            })
    }

    /// `count`, else `default_instances`, else `min_instances`, else 1.
    fn instances(&self, node: &NodeTemplate) -> i64 {
        let props = self.cap_props(node, "scalable");
        let get = |n: &str| {
            props
                .iter()
                .find(|(k, _)| k == n)
                .and_then(|(_, v)| match v.value {
                    Value::Int(i) => Some(i),
                    _ => None,
                })
        };
        get("count")
            .or_else(|| get("default_instances"))
            .or_else(|| get("min_instances"))
            .unwrap_or(1)
    }

    fn system(&self, node: &NodeTemplate) -> System {
        let mut sys = System {
            name: node.name.text.clone(),
            ..System::default()
        };
        sys.set_str("instance_name", node.name.text.clone());
        if let Some(tags) = node.property("tags").and_then(|t| self.eval(t, node))
            && let Some(entries) = tags.as_map()
            && !entries.is_empty()
        {
            let s: Vec<String> = entries
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{}={}",
                        k.scalar_text().unwrap_or_default(),
                        functions::text(v).unwrap_or_default()
                    )
                })
                .collect();
            sys.set_str("instance_tags", s.join(","));
        }
        if let Some(n) = node
            .property("instance_name")
            .and_then(|t| self.eval(t, node))
            && let Some(s) = functions::text(&n).filter(|s| !s.is_empty())
        {
            sys.set_str("instance_name", s);
        }
        const MAP: &[(&str, &str)] = &[
            ("architecture", "cpu.arch"),
            ("type", "disk.0.os.name"),
            ("distribution", "disk.0.os.flavour"),
            ("version", "disk.0.os.version"),
            ("image", "disk.0.image.url"),
            ("credential", "disk.0.os.credentials"),
            ("num_cpus", "cpu.count"),
            ("disk_size", "disk.0.size"),
            ("disk_type", "disk.0.type"),
            ("mem_size", "memory.size"),
            ("cpu_frequency", "cpu.performance"),
            ("instance_type", "instance_type"),
            ("preemtible_instance", "spot"),
            ("num_gpus", "gpu.count"),
            ("gpu_vendor", "gpu.vendor"),
            ("gpu_model", "gpu.model"),
            ("sgx", "cpu.sgx"),
            ("sgx_epc_size", "cpu.sgx.epc_size"),
        ];
        for cap in ["os", "host"] {
            for (prop, value) in self.cap_props(node, cap) {
                let Some(&(_, radl_name)) = MAP.iter().find(|(p, _)| *p == prop) else {
                    continue;
                };
                if value.is_null() {
                    continue;
                }
                let (op, value) = operator(value);
                let v = match prop.as_str() {
                    "disk_size" | "mem_size" | "sgx_epc_size" => {
                        let Some(bytes) = scalar_unit(&value, "scalar-unit.size") else {
                            continue;
                        };
                        V::Num(number(bytes), Some("B"))
                    }
                    "version" => V::Str(functions::text(&value).unwrap_or_default()),
                    "image" => {
                        let s = functions::text(&value).unwrap_or_default();
                        V::Str(if s.contains("://") {
                            s
                        } else {
                            format!("docker://{s}")
                        })
                    }
                    "credential" => {
                        let token_type = value
                            .get("token_type")
                            .and_then(functions::text)
                            .unwrap_or_else(|| "password".into());
                        if let Some(token) = value
                            .get("token")
                            .and_then(functions::text)
                            .filter(|t| !t.is_empty())
                            && matches!(
                                token_type.as_str(),
                                "password" | "private_key" | "public_key"
                            )
                        {
                            sys.set_str(format!("disk.0.os.credentials.{token_type}"), token);
                        }
                        if let Some(user) = value.get("user").and_then(functions::text) {
                            sys.set_str("disk.0.os.credentials.username", user);
                        }
                        continue;
                    }
                    "preemtible_instance" | "sgx" => {
                        V::Str(if truthy(&value) { "yes" } else { "no" }.into())
                    }
                    _ => match &value.value {
                        Value::Int(i) => V::Num(Number::Int(*i), None),
                        Value::Float(f) => V::Num(Number::Float(*f), None),
                        Value::Bool(b) => V::Num(Number::Int(i64::from(*b)), None),
                        _ => V::Str(functions::text(&value).unwrap_or_default()),
                    },
                };
                let op = op.unwrap_or(if matches!(v, V::Num(..)) {
                    Op::Ge
                } else {
                    Op::Eq
                });
                sys.set(radl_name, op, v);
            }
        }
        self.disks(node, &mut sys);
        self.roles(node, &mut sys);
        sys
    }

    /// BlockStorage nodes attached with AttachesTo become `disk.N.*`.
    fn disks(&self, node: &NodeTemplate, sys: &mut System) {
        let mut n = 1;
        for (r, target) in self.targets(node) {
            let Some(rel) = self.cx.relationship_type(node, r) else {
                continue;
            };
            if !self
                .types
                .full_name(Kind::Relationship, &rel)
                .ends_with("AttachesTo")
            {
                continue;
            }
            let mut location = None;
            let mut device = None;
            let mut fs_type = "ext4".to_string();
            let props: Vec<(String, Node)> = match &r.relationship {
                Some(RelRef::Inline { properties, .. }) => properties
                    .iter()
                    .map(|a| (a.name.text.clone(), a.value.clone()))
                    .collect(),
                Some(RelRef::Named(name)) => self
                    .topo
                    .relationships
                    .get(&name.text)
                    .map(|t| {
                        t.properties
                            .iter()
                            .map(|a| (a.name.text.clone(), a.value.clone()))
                            .collect()
                    })
                    .unwrap_or_default(),
                None => Vec::new(),
            };
            for (k, v) in props {
                let v = self.eval(&v, node).and_then(|v| functions::text(&v));
                match k.as_str() {
                    "location" => location = v,
                    "device" => device = v,
                    "fs_type" => fs_type = v.unwrap_or_default(),
                    _ => {}
                }
            }
            if !self
                .types
                .full_name(Kind::Node, &target.ty.text)
                .ends_with(".BlockStorage")
            {
                continue;
            }
            let text = |n: &str| {
                self.prop(target, n)
                    .and_then(|v| functions::text(&v))
                    .filter(|s| !s.is_empty())
            };
            let vol_type = text("type");
            let size = self
                .prop(target, "size")
                .and_then(|v| scalar_unit(&v, "scalar-unit.size"));
            let volume_id = text("volume_id");
            let snapshot_id = text("snapshot_id");
            if size.is_none_or(|s| s == 0.0) && volume_id.is_none() && snapshot_id.is_none() {
                continue;
            }
            if let Some(id) = volume_id {
                sys.set_str(format!("disk.{n}.image.url"), id);
            } else {
                if let Some(t) = vol_type {
                    sys.set_str(format!("disk.{n}.type"), t);
                }
                if let Some(s) = size.filter(|s| *s != 0.0) {
                    sys.set(
                        format!("disk.{n}.size"),
                        Op::Eq,
                        V::Num(number(s), Some("B")),
                    );
                }
            }
            if let Some(d) = device {
                sys.set_str(format!("disk.{n}.device"), d);
            }
            if let Some(l) = location {
                sys.set_str(format!("disk.{n}.mount_path"), l);
                sys.set_str(format!("disk.{n}.fstype"), fs_type.clone());
            }
            n += 1;
        }
    }

    /// The artifacts of a node (its type chain's, then its own) and of the
    /// targets of its requirements.
    fn artifacts(&self, node: &NodeTemplate) -> Vec<Node> {
        let mut by_name: IndexMap<String, Node> = IndexMap::new();
        let mut add = |n: &NodeTemplate| {
            for (k, v) in &n.artifacts {
                by_name.entry(k.text.clone()).or_insert_with(|| v.clone());
            }
            for t in self.types.ancestry(Kind::Node, &n.ty.text) {
                for (k, v) in &t.artifacts {
                    by_name.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        };
        add(node);
        for (_, t) in self.targets(node) {
            add(t);
        }
        by_name.into_values().collect()
    }

    fn roles(&self, compute: &NodeTemplate, sys: &mut System) {
        let mut roles: Vec<String> = Vec::new();
        let mut collections: Vec<String> = Vec::new();
        for other in self.topo.nodes.values() {
            if self
                .host(other, 0)
                .is_none_or(|h| h.name.text != compute.name.text)
            {
                continue;
            }
            for a in self.artifacts(other) {
                let ty = a.get("type").and_then(Node::as_str).unwrap_or_default();
                let Some(file) = a
                    .get("file")
                    .and_then(functions::text)
                    .filter(|f| !f.is_empty())
                else {
                    continue;
                };
                if ty == "tosca.artifacts.AnsibleGalaxy.role" && !roles.contains(&file) {
                    roles.push(file.clone());
                }
                if ty == "tosca.artifacts.AnsibleGalaxy.collection" && !roles.contains(&file) {
                    collections.push(file);
                }
            }
        }
        sys.applications = collections
            .into_iter()
            .map(|c| format!("ansible.collections.{c}"))
            .chain(roles.into_iter().map(|r| format!("ansible.roles.{r}")))
            .collect();
    }

    /// IM's `_add_node_nets`.
    fn nets(&mut self, node: &NodeTemplate, sys: &mut System) {
        let mut public_ip = node
            .property("public_ip")
            .and_then(|v| self.eval(v, node))
            .is_some_and(|v| truthy(&v));
        let mut private_ip = true;
        let mut net_provider_id: Option<String> = None;
        let mut pool_name: Option<String> = None;
        let mut dns_name: Option<String> = None;
        let mut additional_dns: Vec<String> = Vec::new();
        let mut additional_ip: Option<String> = None;
        let mut gen_tls = false;
        let mut ports: Vec<Node> = Vec::new();
        for props in self.endpoints(node) {
            let get = |n: &str| props.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            if let Some(name) = get("network_name").and_then(|v| functions::text(&v)) {
                let mut name = name;
                let parts: Vec<&str> = name.split(',').collect();
                if parts.len() > 1 {
                    pool_name = Some(parts[1].trim().to_string());
                    name = parts[0].trim().to_string();
                    public_ip = true;
                }
                if name == "PUBLIC" {
                    public_ip = true;
                } else if let Some(p) = name.strip_suffix(".PUBLIC") {
                    public_ip = true;
                    net_provider_id = Some(p.to_string());
                } else if let Some(p) = name.strip_suffix(".PRIVATE") {
                    net_provider_id = Some(p.to_string());
                } else if name != "PRIVATE" {
                    net_provider_id = Some(name);
                }
            }
            if let Some(v) = get("dns_name") {
                dns_name = functions::text(&v);
            }
            if let Some(v) = get("additional_dns_names") {
                additional_dns = v
                    .as_seq()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(functions::text)
                    .collect();
            }
            if let Some(v) = get("private_ip") {
                private_ip = truthy(&v);
            }
            if let Some(v) = get("ports")
                && let Some(entries) = v.as_map()
            {
                ports.extend(entries.iter().map(|(_, p)| p.clone()));
            }
            if let Some(port) = get("port") {
                let protocol = get("protocol")
                    .and_then(|p| functions::text(&p))
                    .unwrap_or_else(|| "tcp".into());
                let mut entries = vec![
                    (str_node("protocol"), str_node(&protocol)),
                    (str_node("source"), port.clone()),
                ];
                if let Some(c) = get("remote_cidr")
                    .and_then(|c| functions::text(&c))
                    .filter(|c| !c.is_empty())
                {
                    entries.push((str_node("remote_cidr"), str_node(&c)));
                }
                ports.push(Node::new(Value::Map(entries), Span::default()));
            }
            if let Some(v) = get("additional_ip") {
                additional_ip = functions::text(&v);
            }
            if let Some(v) = get("tls") {
                gen_tls = truthy(&v);
            }
        }
        if let Some(d) = dns_name.clone().filter(|d| !d.is_empty()) {
            sys.set_str("net_interface.0.dns_name", d.clone());
            sys.set_str("net_interface.0.dns.0.name", d);
            if gen_tls {
                sys.set_str("net_interface.0.dns.0.tls", "true");
            }
        }
        if let Some(ip) = additional_ip.clone().filter(|d| !d.is_empty()) {
            sys.set_str("net_interface.0.additional_ip", ip);
        }
        let outports = outports(&ports);
        let bound = self.bound_networks(node);
        if !bound.is_empty() {
            let mut port_net: Option<usize> = None;
            for b in bound {
                let order = b.order;
                let Some(idx) = self.networks.iter().position(|n| n.name == b.link) else {
                    continue;
                };
                sys.set_str(format!("net_interface.{order}.connection"), b.link.clone());
                if let Some(ip) = b.ip {
                    sys.set_str(format!("net_interface.{order}.ip"), ip);
                }
                if let Some(d) = b.dns_name {
                    sys.set_str(format!("net_interface.{order}.dns.0.name"), d);
                    if b.tls {
                        sys.set_str(format!("net_interface.{order}.dns.0.tls"), "true");
                    }
                }
                if let Some(ip) = b.additional_ip {
                    sys.set_str(format!("net_interface.{order}.additional_ip"), ip);
                }
                for (k, d) in b.additional_dns.iter().enumerate() {
                    sys.set_str(format!("net_interface.{order}.dns.{k}.name"), d.clone());
                    if b.tls {
                        sys.set_str(format!("net_interface.{order}.dns.{k}.tls"), "true");
                    }
                }
                if self.networks[idx].public || port_net.is_none() {
                    port_net = Some(idx);
                }
            }
            if let (Some(idx), Some(o)) = (port_net, &outports) {
                add_outports(&mut self.networks[idx], o);
            }
            return;
        }
        let mut private_net: Option<usize> = None;
        if !public_ip || private_ip {
            let privates: Vec<usize> = (0..self.networks.len())
                .filter(|&i| !self.networks[i].public)
                .collect();
            let num;
            if privates.is_empty() {
                self.networks.push(Network {
                    name: "private_net".into(),
                    public: false,
                    explicit: false,
                    features: IndexMap::new(),
                });
                private_net = Some(self.networks.len() - 1);
                num = sys.num_ifaces();
            } else {
                let used = privates
                    .iter()
                    .copied()
                    .find(|&i| sys.iface_with(&self.networks[i].name).is_some());
                match used {
                    Some(i) => {
                        private_net = Some(i);
                        num = sys.iface_with(&self.networks[i].name).unwrap_or(0);
                    }
                    None => {
                        private_net = Some(privates[0]);
                        num = sys.num_ifaces();
                    }
                }
            }
            let idx = private_net.unwrap_or(0);
            if !public_ip && let Some(o) = &outports {
                add_outports(&mut self.networks[idx], o);
            }
            sys.set_str(
                format!("net_interface.{num}.connection"),
                self.networks[idx].name.clone(),
            );
        }
        let mut public_net = None;
        if public_ip {
            let mut name = "public_net".to_string();
            let mut i = 1;
            while self.networks.iter().any(|n| n.name == name) {
                name = format!("public_net_{i}");
                i += 1;
            }
            let mut net = Network {
                name: name.clone(),
                public: true,
                explicit: false,
                features: IndexMap::new(),
            };
            if let Some(o) = &outports {
                add_outports(&mut net, o);
            }
            self.networks.push(net);
            public_net = Some(self.networks.len() - 1);
            let num = sys.num_ifaces();
            sys.set_str(format!("net_interface.{num}.connection"), name);
            for (k, d) in additional_dns.iter().enumerate() {
                sys.set_str(format!("net_interface.{num}.dns.{k}.name"), d.clone());
                if gen_tls {
                    sys.set_str(format!("net_interface.{num}.dns.{k}.tls"), "true");
                }
            }
        }
        if let Some(p) = net_provider_id {
            if let Some(i) = private_net {
                self.networks[i]
                    .features
                    .insert("provider_id".into(), V::Str(p.clone()));
            }
            if let Some(i) = public_net {
                if let Some(pool) = pool_name {
                    self.networks[i]
                        .features
                        .insert("provider_id".into(), V::Str(pool));
                } else if private_net.is_none() {
                    self.networks[i]
                        .features
                        .insert("provider_id".into(), V::Str(p));
                }
            }
        }
    }

    /// The evaluated properties of every endpoint: the endpoint
    /// capabilities of the nodes hosted on `node`, then its own `endpoint`.
    fn endpoints(&self, node: &NodeTemplate) -> Vec<Vec<(String, Node)>> {
        let mut out = Vec::new();
        for other in self.topo.nodes.values() {
            if self.root(other) == "tosca.nodes.Compute" {
                continue;
            }
            if self
                .host(other, 0)
                .is_none_or(|h| h.name.text != node.name.text)
            {
                continue;
            }
            for (cname, def) in self.types.capabilities(&other.ty.text) {
                if self.types.root_parent(Kind::Capability, &def.ty)
                    == "tosca.capabilities.Endpoint"
                {
                    out.push(self.cap_props(other, cname));
                }
            }
        }
        if self
            .types
            .capabilities(&node.ty.text)
            .contains_key("endpoint")
        {
            out.push(self.cap_props(node, "endpoint"));
        }
        out
    }

    /// Port nodes bound to `node`.
    fn bound_networks(&self, node: &NodeTemplate) -> Vec<Bound> {
        let mut out = Vec::new();
        for port in self.topo.nodes.values() {
            if self.root(port) != "tosca.nodes.network.Port" {
                continue;
            }
            let target = |name: &str| {
                port.requirements
                    .iter()
                    .rev()
                    .find(|r| r.name.text == name)
                    .and_then(|r| r.node.as_ref())
                    .map(|n| n.text.clone())
            };
            if target("binding").as_deref() != Some(node.name.text.as_str()) {
                continue;
            }
            let Some(link) = target("link") else { continue };
            let text = |n: &str| {
                self.prop(port, n)
                    .and_then(|v| functions::text(&v))
                    .filter(|s| !s.is_empty())
            };
            let order = match self.prop(port, "order").map(|v| v.value) {
                Some(Value::Int(i)) => i,
                _ => 0,
            };
            out.push(Bound {
                link,
                ip: text("ip_address"),
                order,
                dns_name: text("dns_name"),
                additional_ip: text("additional_ip"),
                additional_dns: self
                    .prop(port, "additional_dns_names")
                    .and_then(|v| {
                        v.as_seq()
                            .map(|s| s.iter().filter_map(functions::text).collect())
                    })
                    .unwrap_or_default(),
                tls: self.prop(port, "tls").is_some_and(|v| truthy(&v)),
            });
        }
        out
    }

    /// A node's Standard lifecycle operations with an implementation: the
    /// type chain's (ancestors first), then the template's own.
    fn operations(&self, node: &NodeTemplate) -> IndexMap<String, (Node, Vec<(String, Node)>)> {
        let mut ops: IndexMap<String, (Node, Vec<(String, Node)>)> = IndexMap::new();
        for t in self
            .types
            .ancestry(Kind::Node, &node.ty.text)
            .into_iter()
            .rev()
        {
            for (iname, iface) in &t.interfaces {
                if iname != "Standard" {
                    continue;
                }
                for (op, def) in &iface.operations {
                    let implementation = match &def.value {
                        Value::Map(_) => def.get("implementation").cloned(),
                        Value::Str(_) => Some(def.clone()),
                        _ => None,
                    };
                    if let Some(i) = implementation {
                        let inputs = def
                            .get("inputs")
                            .and_then(Node::as_map)
                            .unwrap_or_default()
                            .iter()
                            .filter_map(|(k, v)| Some((k.scalar_text()?, v.clone())))
                            .collect();
                        ops.insert(op.clone(), (i, inputs));
                    }
                }
            }
        }
        if let Some(iface) = node.interfaces.get("Standard") {
            for (op, o) in &iface.operations {
                let inputs: Vec<(String, Node)> = o
                    .inputs
                    .iter()
                    .map(|a| (a.name.text.clone(), a.value.clone()))
                    .collect();
                match &o.implementation {
                    Some(i) => {
                        ops.insert(op.clone(), (i.clone(), inputs));
                    }
                    None => {
                        if let Some(e) = ops.get_mut(op) {
                            e.1 = inputs;
                        }
                    }
                }
            }
        }
        ops
    }

    /// What an implementation names, as IM reads it: an artifact of the
    /// node (its `file`, after its repository's URL), else the file or URL
    /// as written.
    fn reference(&self, node: &NodeTemplate, implementation: &Node) -> Option<(String, Span)> {
        let file = implementation_file(implementation)?;
        let mut artifact = node
            .artifacts
            .iter()
            .find(|(k, _)| k.text == file)
            .map(|(_, v)| v.clone());
        if artifact.is_none() {
            for t in self.types.ancestry(Kind::Node, &node.ty.text) {
                if let Some((_, v)) = t.artifacts.iter().find(|(k, _)| k == file) {
                    artifact = Some(v.clone());
                    break;
                }
            }
        }
        let Some(a) = artifact else {
            return Some((file.to_string(), implementation.span));
        };
        let span = a.span;
        let (path, repo) = match &a.value {
            Value::Str(s) => (s.clone(), None),
            Value::Map(_) => (
                a.get("file").and_then(Node::scalar_text)?,
                a.get("repository").and_then(Node::scalar_text),
            ),
            _ => return None,
        };
        let repo_url = repo.and_then(|r| {
            let def = self.root?.get("repositories")?.get(&r)?;
            let url = match &def.value {
                Value::Map(_) => def.get("url")?.scalar_text()?,
                _ => def.scalar_text()?,
            };
            Some(url.trim().trim_end_matches('/').to_string())
        });
        Some((
            match repo_url {
                Some(u) => format!("{u}/{path}"),
                None => path,
            },
            span,
        ))
    }

    /// An operation input's value for the recipe: evaluated, or, for a
    /// Compute node's address (`get_attribute: [HOST, private_address]`),
    /// the Ansible expression IM writes for it.
    fn input_value(&self, v: &Node, node: &NodeTemplate) -> serde_json::Value {
        if let Some(v) = self.eval(v, node) {
            return to_json(&v);
        }
        let Some(call) = functions::call(v).filter(|c| c.name == "get_attribute") else {
            return serde_json::Value::Null;
        };
        let args: Vec<String> = call
            .args
            .as_seq()
            .unwrap_or_default()
            .iter()
            .filter_map(Node::scalar_text)
            .collect();
        let var = match args.get(1).map(String::as_str) {
            Some("private_address") => "IM_NODE_PRIVATE_IP",
            Some("public_address") => "IM_NODE_PUBLIC_IP",
            _ => return serde_json::Value::Null,
        };
        match args.first().map(String::as_str) {
            Some("SELF" | "HOST") => format!("{{{{ {var} }}}}").into(),
            Some(name) => match self.topo.nodes.get(name).and_then(|n| self.host(n, 0)) {
                Some(h) => {
                    format!("{{{{ hostvars[groups['{}'][0]]['{var}'] }}}}", h.name.text).into()
                }
                None => serde_json::Value::Null,
            },
            None => serde_json::Value::Null,
        }
    }

    /// The recipe of a node: its Standard lifecycle operations (create,
    /// configure, start) with implementations. With the implementations'
    /// texts (a launch), their plays inlined with the operation inputs as
    /// vars, as IM does; without (validating), `include_tasks` of each
    /// reference.
    fn recipe(&self, node: &NodeTemplate) -> Option<String> {
        let ops = self.operations(node);
        let mut plays = Vec::new();
        for op in OPERATIONS {
            let Some((implementation, inputs)) = ops.get(op) else {
                continue;
            };
            let Some((file, _)) = self.reference(node, implementation) else {
                continue;
            };
            let values: Vec<(String, serde_json::Value)> = inputs
                .iter()
                .map(|(k, v)| (k.clone(), self.input_value(v, node)))
                .collect();
            let text = self.artifacts.and_then(|a| a.get(&file));
            if let Some(text) = text
                && !implementation::is_ansible(&file)
            {
                let task = format!("{}_{op}", node.name.text);
                plays.push(implementation::script_play(&task, &file, text, &values));
                continue;
            }
            let own = text.and_then(|t| implementation::plays(t).ok());
            let own = own.unwrap_or_else(|| {
                let mut task = serde_yaml_ng::Mapping::new();
                task.insert("name".into(), format!("{} {op}", node.name.text).into());
                task.insert("include_tasks".into(), file.clone().into());
                let mut play = serde_yaml_ng::Mapping::new();
                play.insert(
                    "tasks".into(),
                    serde_yaml_ng::Value::Sequence(vec![task.into()]),
                );
                vec![play]
            });
            plays.extend(implementation::with_vars(own, &values));
        }
        if plays.is_empty() {
            return None;
        }
        Some(implementation::body(plays))
    }

    fn finish(self) -> ast::Radl {
        let mut s = Vec::new();
        let mut networks = self.networks;
        let mut systems = self.systems;
        if networks.is_empty() {
            networks.push(Network {
                name: "public".into(),
                public: true,
                explicit: false,
                features: IndexMap::new(),
            });
        }
        let default_net = networks
            .iter()
            .find(|n| n.public)
            .or(networks.last())
            .map(|n| n.name.clone())
            .unwrap_or_default();
        for sys in &mut systems {
            if !sys.features.contains_key("net_interface.0.connection") {
                sys.set_str("net_interface.0.connection", default_net.clone());
            }
        }
        let public: Vec<&str> = networks
            .iter()
            .filter(|n| n.public)
            .map(|n| n.name.as_str())
            .collect();
        for n in &networks {
            let mut feats = Vec::new();
            if n.public || !n.explicit {
                feats.push(feature(
                    "outbound",
                    Op::Eq,
                    V::Str(if n.public { "yes" } else { "no" }.into()),
                ));
            }
            for (k, v) in &n.features {
                feats.push(feature(k, Op::Eq, v.clone()));
            }
            s.push(aspect(ast::AspectKind::Network, &n.name, feats));
        }
        let has_public = |sys: &System| {
            sys.features.iter().any(|(k, (_, v))| {
                k.starts_with("net_interface.")
                    && k.ends_with(".connection")
                    && matches!(v, V::Str(n) if public.contains(&n.as_str()))
            })
        };
        for sys in &systems {
            let mut feats: Vec<ast::FeatureItem> = sys
                .features
                .iter()
                .map(|(k, (op, v))| ast::FeatureItem::Feature(feature(k, *op, v.clone())))
                .collect();
            for app in &sys.applications {
                feats.push(ast::FeatureItem::Feature(ast::Feature {
                    name: ident("disk.0.applications"),
                    op: Op::Contains,
                    op_span: Span::default(),
                    value: ast::Value::Features(list(vec![feature(
                        "name",
                        Op::Eq,
                        V::Str(app.clone()),
                    )])),
                    value_span: Span::default(),
                }));
            }
            s.push(Sentence::Aspect(ast::Aspect {
                kind: ast::AspectKind::System,
                keyword: Span::default(),
                name: ident(&sys.name),
                body: Some(ast::FeatureList {
                    items: feats,
                    span: Span::default(),
                }),
            }));
        }
        for (name, recipe) in &self.configures {
            s.push(Sentence::Configure(ast::Configure {
                keyword: Span::default(),
                name: ident(name),
                body: ast::ConfigureBody::Recipe {
                    text: recipe.clone(),
                    span: Span::default(),
                },
            }));
        }
        s.push(Sentence::Contextualize(ast::Contextualize {
            keyword: Span::default(),
            max_time: None,
            options: Vec::new(),
            items: self
                .items
                .iter()
                .map(|(sys, conf, step)| ast::ContextItem {
                    system: ident(sys),
                    configure: ident(conf),
                    step: Some((Number::Int(*step), Span::default())),
                    tool: None,
                })
                .collect(),
            span: Span::default(),
        }));
        // Systems with a public IP first, front ends before worker nodes.
        let is_pub = |name: &str| {
            systems
                .iter()
                .find(|s| s.name == name)
                .is_some_and(has_public)
        };
        let mut ordered: Vec<&(String, i64)> = Vec::new();
        ordered.extend(
            self.deploys
                .iter()
                .filter(|(d, _)| is_pub(d) && !d.contains("wn")),
        );
        ordered.extend(
            self.deploys
                .iter()
                .filter(|(d, _)| is_pub(d) && d.contains("wn")),
        );
        ordered.extend(self.deploys.iter().filter(|(d, _)| !is_pub(d)));
        for (name, count) in ordered {
            s.push(Sentence::Deploy(ast::Deploy {
                keyword: Span::default(),
                system: ident(name),
                count: (Number::Int(*count), Span::default()),
                cloud: None,
            }));
        }
        ast::Radl { sentences: s }
    }
}

fn ident(s: &str) -> Ident {
    Ident {
        text: s.to_string(),
        span: Span::default(),
    }
}

fn str_node(s: &str) -> Node {
    Node::new(Value::Str(s.to_string()), Span::default())
}

fn number(f: f64) -> Number {
    if f == f.trunc() && f.abs() < 9e18 {
        Number::Int(f as i64)
    } else {
        Number::Float(f)
    }
}

fn truthy(v: &Node) -> bool {
    match &v.value {
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Seq(s) => !s.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Null => false,
    }
}

/// `{greater_or_equal: 2}` and friends: IM's explicit operators.
fn operator(v: Node) -> (Option<Op>, Node) {
    if let Some([(k, inner)]) = v.as_map() {
        let op = match k.as_str() {
            Some("equal") => Some(Op::Eq),
            Some("greater_than") => Some(Op::Gt),
            Some("greater_or_equal") => Some(Op::Ge),
            Some("less_than") => Some(Op::Lt),
            Some("less_or_equal") => Some(Op::Le),
            _ => None,
        };
        if op.is_some() {
            return (op, inner.clone());
        }
    }
    (None, v)
}

/// IM's `_format_outports`: `remote/proto-local/proto`, or
/// `from:to/proto` for ranges, with an optional `cidr-` prefix.
fn outports(ports: &[Node]) -> Option<String> {
    if ports.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for p in ports {
        let get = |k: &str| p.get(k).and_then(functions::text);
        let protocol = get("protocol").unwrap_or_else(|| "tcp".into());
        let cidr = get("remote_cidr")
            .map(|c| format!("{c}-"))
            .unwrap_or_default();
        if let Some(range) = p
            .get("source_range")
            .and_then(Node::as_seq)
            .filter(|r| r.len() == 2)
        {
            out.push(format!(
                "{cidr}{}:{}/{protocol}",
                functions::text(&range[0]).unwrap_or_default(),
                functions::text(&range[1]).unwrap_or_default()
            ));
            continue;
        }
        let mut remote = get("source").unwrap_or_else(|| "0".into());
        let mut local = get("target").unwrap_or_else(|| {
            if remote != "0" {
                remote.clone()
            } else {
                "0".into()
            }
        });
        if remote == "0" && local != "0" {
            remote = local.clone();
        }
        if local == "0" {
            local = remote.clone();
        }
        out.push(format!("{cidr}{remote}/{protocol}-{local}/{protocol}"));
    }
    Some(out.join(","))
}

fn add_outports(net: &mut Network, o: &str) {
    let v = match net.features.get("outports") {
        Some(V::Str(old)) => format!("{old},{o}"),
        _ => o.to_string(),
    };
    net.features.insert("outports".into(), V::Str(v));
}

fn feature(name: &str, op: Op, v: V) -> ast::Feature {
    ast::Feature {
        name: ident(name),
        op,
        op_span: Span::default(),
        value: match v {
            V::Num(n, unit) => ast::Value::Number(n, unit.map(ident)),
            V::Str(s) => ast::Value::String(s),
        },
        value_span: Span::default(),
    }
}

fn list(features: Vec<ast::Feature>) -> ast::FeatureList {
    ast::FeatureList {
        items: features
            .into_iter()
            .map(ast::FeatureItem::Feature)
            .collect(),
        span: Span::default(),
    }
}

fn aspect(kind: ast::AspectKind, name: &str, features: Vec<ast::Feature>) -> Sentence {
    Sentence::Aspect(ast::Aspect {
        kind,
        keyword: Span::default(),
        name: ident(name),
        body: Some(list(features)),
    })
}

/// A YAML value as JSON, for recipe variables.
fn to_json(n: &Node) -> serde_json::Value {
    match &n.value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map_or(serde_json::Value::Null, serde_json::Value::Number),
        Value::Str(s) => s.clone().into(),
        Value::Seq(items) => items.iter().map(to_json).collect(),
        Value::Map(entries) => entries
            .iter()
            .map(|(k, v)| (k.scalar_text().unwrap_or_default(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    }
}
