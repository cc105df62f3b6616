//! The cluster model's types.

use crate::radl::features::FeatureSet;
use crate::radl::outports::OutPort;
use crate::source::Span;
use indexmap::IndexMap;

/// Everything a cluster description asks for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClusterSpec {
    pub networks: Vec<NetworkSpec>,
    pub systems: Vec<SystemSpec>,
    /// Configure bodies by name: `None` for an empty or referenced
    /// configure.
    pub recipes: IndexMap<String, Option<RecipeText>>,
    pub contextualization: Contextualization,
    /// Elastic systems whose instances are chosen by the elasticity daemon:
    /// the slot numbers (see [`ClusterSpec::slots`]) that are on, replacing
    /// the system's deploy count. Systems not listed run their deploy count.
    pub scaled: IndexMap<String, Vec<u32>>,
}

/// A configure's recipe: one part per template that gave a body for it
/// (composed templates run every part, in order), each verbatim with where
/// it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct RecipeText {
    pub parts: Vec<RecipePart>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RecipePart {
    pub text: String,
    /// The text's place in its file.
    pub span: Span,
}

impl RecipeText {
    /// Every part, one after the other.
    pub fn text(&self) -> String {
        self.parts
            .iter()
            .map(|p| p.text.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    pub name: String,
    /// `outbound = 'yes'`.
    pub public: bool,
    pub outports: Vec<OutPort>,
    pub provider_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SystemSpec {
    pub name: String,
    /// Instances to deploy: the sum of this system's `deploy` sentences.
    pub count: u32,
    /// Elasticity bounds: `ec3_min_instances` (default 0) and
    /// `ec3_max_instances` (default: the deploy count); `max >= count`.
    pub min: u32,
    pub max: u32,
    /// `deploy SYSTEM N CLOUD`: the cloud it is pinned to.
    pub cloud: Option<String>,
    /// `net_interface.N`, in index order.
    pub interfaces: Vec<InterfaceSpec>,
    pub image_url: Option<String>,
    /// Every feature, for recipes and providers that need more.
    pub features: FeatureSet,
}

impl SystemSpec {
    /// `ec3_reuse_nodes = 'yes'` (or `true`): a node of this system that is
    /// no longer asked for is stopped, to be started again, not destroyed.
    pub fn reuses_nodes(&self) -> bool {
        self.features
            .get_str("ec3_reuse_nodes")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true"))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct InterfaceSpec {
    pub network: String,
    /// `dns_name`, possibly with `#N#` for the VM number.
    pub dns_name: Option<String>,
}

/// How configuration proceeds.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Contextualization {
    /// No `contextualize` sentence: each system runs the configure of the
    /// same name, if there is one (IM's default).
    #[default]
    Default,
    /// `contextualize ()`: configure nothing.
    Disabled,
    /// The items of `contextualize`, in order.
    Steps(Vec<ContextStep>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextStep {
    pub system: String,
    pub configure: String,
    pub step: u32,
    pub tool: Option<String>,
}

/// One VM to be: a system's instance with its cluster-wide number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub system: String,
    /// The VM number across the cluster, in deploy order from 0 (IM's
    /// numbering, which `#N#` in `dns_name` refers to).
    pub number: u32,
    /// The node's host name.
    pub name: String,
}

impl ClusterSpec {
    pub fn system(&self, name: &str) -> Option<&SystemSpec> {
        self.systems.iter().find(|s| s.name == name)
    }

    /// The networks a system's interfaces connect to, in interface order
    /// (an interface on an undeclared network is left out).
    pub fn networks_of(&self, system: &SystemSpec) -> Vec<NetworkSpec> {
        system
            .interfaces
            .iter()
            .filter_map(|i| self.networks.iter().find(|n| n.name == i.network))
            .cloned()
            .collect()
    }

    /// Every VM the description asks for, numbered in deploy order; for a
    /// system in `scaled`, the slots that are on instead.
    pub fn instances(&self) -> Vec<Instance> {
        let slots = self.slots();
        let mut out = Vec::new();
        for s in &self.systems {
            let mine = slots.iter().filter(|i| i.system == s.name);
            match self.scaled.get(&s.name) {
                Some(on) => out.extend(mine.filter(|i| on.contains(&i.number)).cloned()),
                None => out.extend(mine.take(s.count as usize).cloned()),
            }
        }
        out.sort_by_key(|i| i.number);
        out
    }

    /// Every VM a system may have: first the deploy instances of every
    /// system, numbered in deploy order from 0 (IM's numbering), then each
    /// system's further elastic slots up to its `max`, numbered after them
    /// in system order. Names are stable: adding or removing an instance
    /// never renames another.
    pub fn slots(&self) -> Vec<Instance> {
        let mut out = Vec::new();
        let mut number = 0;
        for s in &self.systems {
            for _ in 0..s.count {
                out.push(s.instance(number));
                number += 1;
            }
        }
        for s in &self.systems {
            for _ in s.count..s.max {
                out.push(s.instance(number));
                number += 1;
            }
        }
        out
    }

    /// The slots of one system.
    pub fn slots_of(&self, system: &str) -> Vec<Instance> {
        self.slots()
            .into_iter()
            .filter(|i| i.system == system)
            .collect()
    }

    /// The configuration steps to run, with IM's default filled in.
    pub fn steps(&self) -> Vec<ContextStep> {
        match &self.contextualization {
            Contextualization::Disabled => Vec::new(),
            Contextualization::Steps(steps) => steps.clone(),
            Contextualization::Default => self
                .systems
                .iter()
                .filter(|s| self.recipes.contains_key(&s.name))
                .map(|s| ContextStep {
                    system: s.name.clone(),
                    configure: s.name.clone(),
                    step: 0,
                    tool: None,
                })
                .collect(),
        }
    }
}

impl SystemSpec {
    fn instance(&self, number: u32) -> Instance {
        Instance {
            system: self.name.clone(),
            number,
            name: self.host_name(number, self.count.max(self.max)),
        }
    }

    /// Whether the elasticity daemon may change this system's instances.
    /// Whether the elasticity daemon may change this system's instances:
    /// it may have more than it deploys, or names a minimum.
    pub fn is_elastic(&self) -> bool {
        self.max > self.count || self.features.feature("ec3_min_instances").is_some()
    }

    /// `net_interface.0.dns_name` with `#N#` replaced by the VM number and
    /// the domain dropped; else the system's name, suffixed with the VM
    /// number when the system has several instances (so names stay unique
    /// even when a shared `dns_name` has no `#N#`).
    fn host_name(&self, number: u32, count: u32) -> String {
        let template = self.interfaces.first().and_then(|i| i.dns_name.as_deref());
        if let Some(t) = template.filter(|t| count == 1 || t.contains("#N#")) {
            let name = t.replace("#N#", &number.to_string());
            let host = name.split('.').next().unwrap_or_default();
            if !host.is_empty() {
                return host.to_string();
            }
        }
        if count == 1 {
            self.name.clone()
        } else {
            format!("{}-{number}", self.name)
        }
    }
}
