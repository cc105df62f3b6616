//! The deployment graph: one vertex per network, per VM and per
//! (node, configure, step); an edge `a → b` means `b` waits for `a`.

use crate::model::{ClusterSpec, Instance};
use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// The phases of a launch, in order (see [`Vertex::phase`]).
pub const PHASES: [Phase; 3] = [Phase::Networks, Phase::Vms, Phase::Configuration];

/// A phase of a long operation, as progress shows it: a launch's three
/// ([`PHASES`], each vertex's [`Vertex::phase`]) and a destroy's, which
/// no vertex is in. `Display` is its name on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::Display, strum::IntoStaticStr)]
pub enum Phase {
    #[strum(serialize = "networks")]
    Networks,
    #[strum(serialize = "VMs")]
    Vms,
    #[strum(serialize = "configuration")]
    Configuration,
    /// A destroy's VMs.
    #[strum(serialize = "destroy")]
    Destroy,
}

impl Phase {
    /// Its name on screen.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The kind of work a vertex is, for per-kind concurrency limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::Display, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum VertexKind {
    Network,
    Vm,
    Configure,
}

impl VertexKind {
    /// Every kind.
    pub const ALL: &[VertexKind] = <VertexKind as strum::VariantArray>::VARIANTS;
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Vertex {
    Network {
        name: String,
    },
    Vm {
        system: String,
        name: String,
    },
    Configure {
        node: String,
        system: String,
        configure: String,
        step: u32,
    },
}

impl Vertex {
    /// The kind of work, for per-kind concurrency limits.
    pub fn kind(&self) -> VertexKind {
        match self {
            Vertex::Network { .. } => VertexKind::Network,
            Vertex::Vm { .. } => VertexKind::Vm,
            Vertex::Configure { .. } => VertexKind::Configure,
        }
    }

    /// The phase of a launch this work belongs to, as progress shows it
    /// (phases overlap: a node is configured while others are created).
    pub fn phase(&self) -> Phase {
        match self {
            Vertex::Network { .. } => Phase::Networks,
            Vertex::Vm { .. } => Phase::Vms,
            Vertex::Configure { .. } => Phase::Configuration,
        }
    }
}

impl fmt::Display for Vertex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vertex::Network { name } => write!(f, "network {name}"),
            Vertex::Vm { name, .. } => write!(f, "vm {name}"),
            Vertex::Configure {
                node,
                configure,
                step,
                ..
            } => {
                write!(f, "configure {configure} on {node} (step {step})")
            }
        }
    }
}

/// Why one vertex waits for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// The VM has an interface on the network.
    Connects,
    /// The step runs on the VM.
    Hosts,
    /// Contextualize order: a later step waits for the earlier step.
    Order,
    /// The recipe uses the other system's VMs (their addresses).
    Data,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("dependency cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
    #[error("system `{system}` connects to network `{network}`, which is not declared")]
    UnknownNetwork { system: String, network: String },
}

#[derive(Clone, Debug)]
pub struct DeployGraph {
    pub graph: DiGraph<Vertex, Edge>,
    index: HashMap<Vertex, NodeIndex>,
}

impl DeployGraph {
    /// Builds the graph of a cluster model, reading what each recipe uses
    /// from the configure's own text.
    pub fn build(spec: &ClusterSpec) -> Result<DeployGraph, PlanError> {
        DeployGraph::build_with(spec, &HashMap::new())
    }

    /// Builds the graph, reading what a configure's recipe uses from
    /// `expanded[configure]` when given: the recipe with its includes and
    /// template files expanded (`Recipe::template_text`), since
    /// `- include: hosts` alone does not show that it lists every node.
    pub fn build_with(
        spec: &ClusterSpec,
        expanded: &HashMap<String, String>,
    ) -> Result<DeployGraph, PlanError> {
        let mut g = DeployGraph {
            graph: DiGraph::new(),
            index: HashMap::new(),
        };
        for n in &spec.networks {
            g.add(Vertex::Network {
                name: n.name.clone(),
            });
        }
        let instances = spec.instances();
        let mut vms_of: BTreeMap<&str, Vec<NodeIndex>> = BTreeMap::new();
        for inst in &instances {
            let vm = g.add(Vertex::Vm {
                system: inst.system.clone(),
                name: inst.name.clone(),
            });
            vms_of.entry(&inst.system).or_default().push(vm);
            let system = spec
                .system(&inst.system)
                .expect("instances come from systems");
            for iface in &system.interfaces {
                let Some(&net) = g.index.get(&Vertex::Network {
                    name: iface.network.clone(),
                }) else {
                    return Err(PlanError::UnknownNetwork {
                        system: system.name.clone(),
                        network: iface.network.clone(),
                    });
                };
                g.graph.update_edge(net, vm, Edge::Connects);
            }
        }
        // Configuration steps, grouped by step number.
        let mut levels: BTreeMap<u32, Vec<NodeIndex>> = BTreeMap::new();
        for step in spec.steps() {
            let Some(Some(recipe)) = spec.recipes.get(&step.configure) else {
                continue; // an empty or undefined configure has nothing to run
            };
            let needs = match expanded.get(&step.configure) {
                Some(text) => referenced_systems(text, spec),
                None => referenced_systems(&recipe.text(), spec),
            };
            for inst in instances.iter().filter(|i| i.system == step.system) {
                let v = g.add(configure_vertex(inst, &step.configure, step.step));
                let vm = g.index[&Vertex::Vm {
                    system: inst.system.clone(),
                    name: inst.name.clone(),
                }];
                g.graph.update_edge(vm, v, Edge::Hosts);
                for sys in &needs {
                    for &other in vms_of.get(sys.as_str()).into_iter().flatten() {
                        if other != vm {
                            g.graph.update_edge(other, v, Edge::Data);
                        }
                    }
                }
                levels.entry(step.step).or_default().push(v);
            }
        }
        let levels: Vec<_> = levels.into_values().collect();
        for pair in levels.windows(2) {
            for &a in &pair[0] {
                for &b in &pair[1] {
                    g.graph.update_edge(a, b, Edge::Order);
                }
            }
        }
        g.check_acyclic()?;
        Ok(g)
    }

    fn add(&mut self, v: Vertex) -> NodeIndex {
        if let Some(&i) = self.index.get(&v) {
            return i;
        }
        let i = self.graph.add_node(v.clone());
        self.index.insert(v, i);
        i
    }

    /// Adds an edge (for callers that extend the graph, and for tests).
    pub fn add_edge(&mut self, from: &Vertex, to: &Vertex, e: Edge) -> Result<(), PlanError> {
        let a = self.add(from.clone());
        let b = self.add(to.clone());
        let existed = self.graph.find_edge(a, b).is_some();
        let edge = self.graph.update_edge(a, b, e);
        let checked = self.check_acyclic();
        if checked.is_err() && !existed {
            self.graph.remove_edge(edge);
        }
        checked
    }

    pub fn index_of(&self, v: &Vertex) -> Option<NodeIndex> {
        self.index.get(v).copied()
    }

    /// Vertices in a deterministic topological order (ties broken by the
    /// vertex's own order: networks, VMs, steps, then by name).
    pub fn order(&self) -> Vec<NodeIndex> {
        let mut indegree: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .map(|n| {
                (
                    n,
                    self.graph
                        .neighbors_directed(n, Direction::Incoming)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(&Vertex, NodeIndex)> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| (&self.graph[*n], *n))
            .collect();
        let mut out = Vec::with_capacity(indegree.len());
        while let Some(first) = ready.pop_first() {
            out.push(first.1);
            for next in self.graph.neighbors_directed(first.1, Direction::Outgoing) {
                let d = indegree.get_mut(&next).expect("every node has a degree");
                *d -= 1;
                if *d == 0 {
                    ready.insert((&self.graph[next], next));
                }
            }
        }
        out
    }

    /// An error naming the cycle, if there is one: the members of the
    /// first strongly connected component, walked from its smallest vertex.
    fn check_acyclic(&self) -> Result<(), PlanError> {
        let mut sccs: Vec<Vec<NodeIndex>> = petgraph::algo::tarjan_scc(&self.graph)
            .into_iter()
            .filter(|c| c.len() > 1 || self.graph.contains_edge(c[0], c[0]))
            .collect();
        if sccs.is_empty() {
            return Ok(());
        }
        for c in &mut sccs {
            c.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
        }
        sccs.sort_by(|a, b| self.graph[a[0]].cmp(&self.graph[b[0]]));
        let members: BTreeSet<NodeIndex> = sccs[0].iter().copied().collect();
        let start = sccs[0][0];
        let mut path = vec![start];
        let mut seen = BTreeSet::from([start]);
        let mut at = start;
        loop {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(at, Direction::Outgoing)
                .filter(|n| members.contains(n))
                .collect();
            next.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            // Close the cycle as soon as possible, else go to the smallest unseen member.
            if next.contains(&start) {
                path.push(start);
                break;
            }
            match next.into_iter().find(|n| !seen.contains(n)) {
                Some(n) => {
                    seen.insert(n);
                    path.push(n);
                    at = n;
                }
                None => {
                    path.push(start);
                    break;
                }
            }
        }
        Err(PlanError::Cycle(
            path.into_iter()
                .map(|n| self.graph[n].to_string())
                .collect(),
        ))
    }

    /// Graphviz DOT text of the graph, in the deterministic order.
    pub fn to_dot(&self, title: &str) -> String {
        let mut out = format!("digraph {:?} {{\n  rankdir=LR;\n", title);
        for n in self.order() {
            let shape = match self.graph[n] {
                Vertex::Network { .. } => "ellipse",
                Vertex::Vm { .. } => "box",
                Vertex::Configure { .. } => "note",
            };
            out.push_str(&format!(
                "  {:?} [shape={shape}];\n",
                self.graph[n].to_string()
            ));
        }
        let mut edges: Vec<_> = self
            .graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).expect("edge exists");
                (&self.graph[a], &self.graph[b], self.graph[e])
            })
            .collect();
        edges.sort_by(|x, y| (x.0, x.1).cmp(&(y.0, y.1)));
        for (a, b, e) in edges {
            let style = match e {
                Edge::Connects | Edge::Hosts => "solid",
                Edge::Order => "dashed",
                Edge::Data => "dotted",
            };
            out.push_str(&format!(
                "  {:?} -> {:?} [style={style}];\n",
                a.to_string(),
                b.to_string()
            ));
        }
        out.push_str("}\n");
        out
    }
}

fn configure_vertex(inst: &Instance, configure: &str, step: u32) -> Vertex {
    Vertex::Configure {
        node: inst.name.clone(),
        system: inst.system.clone(),
        configure: configure.to_string(),
        step,
    }
}

/// Systems named inside `{{ ... }}` expressions of a recipe: the recipe
/// uses their VMs (addresses, names), so it waits for them.
fn referenced_systems(recipe: &str, spec: &ClusterSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = recipe;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let close = after.find("}}").unwrap_or(after.len());
        let expr = &after[..close];
        for word in expr.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-')) {
            if spec.system(word).is_some() {
                out.insert(word.to_string());
            } else if word == "nodes" {
                // Every node of the cluster (`{{#each nodes}}`).
                out.extend(spec.systems.iter().map(|s| s.name.clone()));
            }
        }
        rest = &after[close..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::source::FileId;

    fn graph(text: &str) -> DeployGraph {
        let v = radl::validate(FileId(0), text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        let (spec, diags) = crate::model::lower(&v.document);
        assert!(diags.is_empty());
        DeployGraph::build(&spec).unwrap()
    }

    const CLUSTER: &str = "network private ()\n\
        system front (net_interface.0.connection = 'private')\n\
        system wn (net_interface.0.connection = 'private')\n\
        configure base (\n@begin\n- shell: echo base\n@end\n)\n\
        configure wn (\n@begin\n- shell: echo {{ nodes.front.0.ip }}\n@end\n)\n\
        contextualize (\n system front configure base step 1\n system wn configure base step 1\n system wn configure wn step 2\n)\n\
        deploy front 1\ndeploy wn 2\n";

    #[test]
    fn steps_follow_contextualize_order_and_data_needs() {
        let g = graph(CLUSTER);
        let order: Vec<String> = g
            .order()
            .into_iter()
            .map(|n| g.graph[n].to_string())
            .collect();
        assert_eq!(
            order,
            [
                "network private",
                "vm front",
                "vm wn-1",
                "vm wn-2",
                "configure base on front (step 1)",
                "configure base on wn-1 (step 1)",
                "configure base on wn-2 (step 1)",
                "configure wn on wn-1 (step 2)",
                "configure wn on wn-2 (step 2)",
            ]
        );
        let wn_step = g
            .index_of(&Vertex::Configure {
                node: "wn-1".into(),
                system: "wn".into(),
                configure: "wn".into(),
                step: 2,
            })
            .unwrap();
        let front_vm = g
            .index_of(&Vertex::Vm {
                system: "front".into(),
                name: "front".into(),
            })
            .unwrap();
        assert_eq!(
            g.graph.find_edge(front_vm, wn_step).map(|e| g.graph[e]),
            Some(Edge::Data)
        );
        let base_front = g
            .index_of(&Vertex::Configure {
                node: "front".into(),
                system: "front".into(),
                configure: "base".into(),
                step: 1,
            })
            .unwrap();
        assert_eq!(
            g.graph.find_edge(base_front, wn_step).map(|e| g.graph[e]),
            Some(Edge::Order)
        );
    }

    #[test]
    fn expanded_recipes_decide_data_needs() {
        // `base` includes a recipe that lists every node: only its
        // expanded text shows it, and then base waits for every VM.
        let text = CLUSTER.replace("- shell: echo base", "- include: hosts");
        let v = radl::validate(FileId(0), &text);
        let spec = crate::model::lower(&v.document).0;
        let base_wn1 = Vertex::Configure {
            node: "wn-1".into(),
            system: "wn".into(),
            configure: "base".into(),
            step: 1,
        };
        let front_vm = Vertex::Vm {
            system: "front".into(),
            name: "front".into(),
        };
        let edge = |g: &DeployGraph| {
            g.graph
                .find_edge(g.index_of(&front_vm)?, g.index_of(&base_wn1)?)
                .map(|e| g.graph[e])
        };
        assert_eq!(edge(&DeployGraph::build(&spec).unwrap()), None);
        let expanded = HashMap::from([(
            "base".to_string(),
            "/etc/hosts\n{{#each nodes}}{{ip}} {{name}}\n{{/each}}\n".to_string(),
        )]);
        let g = DeployGraph::build_with(&spec, &expanded).unwrap();
        assert_eq!(edge(&g), Some(Edge::Data));
    }

    #[test]
    fn each_vertex_has_one_kind_and_one_launch_phase() {
        let vertices = [
            Vertex::Network { name: "n".into() },
            Vertex::Vm {
                system: "wn".into(),
                name: "wn-1".into(),
            },
            Vertex::Configure {
                node: "wn-1".into(),
                system: "wn".into(),
                configure: "wn".into(),
                step: 1,
            },
        ];
        let kinds: Vec<VertexKind> = vertices.iter().map(Vertex::kind).collect();
        assert_eq!(kinds, VertexKind::ALL);
        let phases: Vec<Phase> = vertices.iter().map(Vertex::phase).collect();
        assert_eq!(phases, PHASES);
        let names: Vec<String> = PHASES.iter().map(Phase::to_string).collect();
        assert_eq!(names, ["networks", "VMs", "configuration"]);
        assert!(!PHASES.contains(&Phase::Destroy), "no vertex is destroyed");
        assert_eq!(Phase::Destroy.as_str(), "destroy");
        assert_eq!(VertexKind::Configure.to_string(), "configure");
    }

    #[test]
    fn cycle_is_named_deterministically() {
        let mut g = graph(CLUSTER);
        let a = Vertex::Configure {
            node: "wn-1".into(),
            system: "wn".into(),
            configure: "wn".into(),
            step: 2,
        };
        let b = Vertex::Vm {
            system: "front".into(),
            name: "front".into(),
        };
        let err = g.add_edge(&a, &b, Edge::Data).unwrap_err();
        assert_eq!(g.order().len(), 9, "the rejected edge is not kept");
        assert_eq!(
            err.to_string(),
            "dependency cycle: vm front -> configure base on front (step 1) -> configure wn on wn-1 (step 2) -> vm front"
        );
    }

    #[test]
    fn dot_lists_every_vertex_and_edge() {
        let g = graph(CLUSTER);
        let dot = g.to_dot("demo");
        assert!(dot.starts_with("digraph \"demo\" {"));
        assert_eq!(dot.matches("shape=").count(), 9);
        assert!(dot.contains("\"vm front\" -> \"configure wn on wn-2 (step 2)\" [style=dotted];"));
    }
}
