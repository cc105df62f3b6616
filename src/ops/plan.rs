//! The plan of a launch, reconfigure or relaunch: per VM and per step what
//! happens, computed once from the prepared description and the records
//! by the rules of [`crate::plan::changes`]. `nubo plan` shows it; the
//! walk is given its VM actions and decides each step by the same rules.

use super::context::{self, ContextInput};
use super::env::Env;
use super::executor::script_hash;
use super::prepare::{self, PrepareError, Prepared};
use super::templates::TemplateSearch;
use super::{env::PlacementError, keys, recipes::RecipeDirs};
use crate::plan::changes::{self, RecordedStep, Script, StepAction, StepReason, VmAction};
use crate::plan::graph::Vertex;
use crate::provider::Provider;
use crate::recipe;
use crate::state::{Cluster, StateError, StateStore, Step, StepKey, Vm};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Clone, Debug, Serialize)]
pub struct VmPlan {
    pub node: String,
    pub system: String,
    pub provider: String,
    pub action: VmAction,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepPlan {
    #[serde(flatten)]
    pub key: StepKey,
    pub action: StepAction,
    /// Why.
    pub reason: StepReason,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub cluster: String,
    pub exists: bool,
    pub vms: Vec<VmPlan>,
    pub steps: Vec<StepPlan>,
}

impl PlanReport {
    /// The planned action of each VM asked for, by node.
    pub fn vm_actions(&self) -> HashMap<String, VmAction> {
        self.vms
            .iter()
            .filter(|v| !matches!(v.action, VmAction::Destroy | VmAction::Stop))
            .map(|v| (v.node.clone(), v.action))
            .collect()
    }

    /// The recorded VMs no longer asked for that are stopped, to be
    /// started again (`ec3_reuse_nodes`).
    pub fn stopped(&self) -> impl Iterator<Item = &str> {
        self.vms
            .iter()
            .filter(|v| v.action == VmAction::Stop)
            .map(|v| v.node.as_str())
    }

    /// The recorded VMs no longer asked for.
    pub fn destroyed(&self) -> impl Iterator<Item = &str> {
        self.vms
            .iter()
            .filter(|v| v.action == VmAction::Destroy)
            .map(|v| v.node.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanOpError {
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    State(#[from] StateError),
}

/// What the plan is computed from besides the prepared description.
pub struct Records<'a> {
    pub cluster: &'a str,
    pub exists: bool,
    pub vms: &'a [Vm],
    pub steps: &'a [Step],
    pub variables: &'a serde_json::Value,
    /// The cluster key's public half (empty before the first launch).
    pub public_key: &'a str,
    /// `reconfigure --force`.
    pub force: bool,
}

/// The plan of `prepared` against `records`: a pure function.
pub fn compute(
    prepared: &Prepared,
    provider_of: &dyn Fn(&str) -> String,
    rec: &Records<'_>,
) -> PlanReport {
    let instances = prepared.spec.instances();
    let mut out = PlanReport {
        cluster: rec.cluster.to_string(),
        exists: rec.exists,
        vms: Vec::new(),
        steps: Vec::new(),
    };
    for i in &instances {
        let recorded = rec.vms.iter().find(|v| v.node == i.name);
        out.vms.push(VmPlan {
            node: i.name.clone(),
            system: i.system.clone(),
            provider: provider_of(&i.system),
            action: changes::vm_action(recorded),
        });
    }
    for v in rec.vms {
        if instances.iter().any(|i| i.name == v.node) {
            continue;
        }
        let reuse = prepared
            .spec
            .system(&v.system)
            .is_some_and(|s| s.reuses_nodes());
        if let Some(action) = changes::dropped_vm_action(v, reuse) {
            out.vms.push(VmPlan {
                node: v.node.clone(),
                system: v.system.clone(),
                provider: v.provider.clone(),
                action,
            });
        }
    }
    let vm_actions = out.vm_actions();
    for n in prepared.graph.order() {
        let Vertex::Configure {
            node,
            configure,
            step,
            ..
        } = &prepared.graph.graph[n]
        else {
            continue;
        };
        let key = StepKey::new(node.clone(), configure.clone(), *step);
        let vm = vm_actions.get(node).copied().unwrap_or(VmAction::Create);
        let recorded = rec
            .steps
            .iter()
            .find(|s| s.key == key)
            .map(|s| RecordedStep {
                status: s.status,
                hash: &s.recipe_hash,
            });
        // The script is rendered only when it could be kept: for a VM
        // that stays, from what is recorded.
        let hash = match prepared.recipes.get(configure) {
            None => None,
            Some(_) if vm != VmAction::Keep => Some(Err(())),
            Some(r) => {
                let inst = instances.iter().find(|i| &i.name == node);
                let rendered = inst.map(|inst| {
                    let ctx = context::build(
                        &ContextInput {
                            cluster: rec.cluster,
                            spec: &prepared.spec,
                            instances: &instances,
                            vms: rec.vms,
                            variables: rec.variables,
                            public_key: rec.public_key,
                        },
                        inst,
                    );
                    recipe::render(r, &ctx)
                });
                Some(match rendered {
                    Some(Ok(script)) => Ok(script_hash(&script.text)),
                    _ => Err(()),
                })
            }
        };
        let script = match &hash {
            None => Script::None,
            Some(Ok(h)) => Script::Hash(h),
            Some(Err(())) => Script::Unrendered,
        };
        let (action, reason) = changes::step_action(vm, recorded, script, rec.force);
        out.steps.push(StepPlan {
            key,
            action,
            reason,
        });
    }
    out
}

/// `nubo plan`: prepares the templates as `launch` would and plans them
/// against the cluster's records.
pub fn plan(
    env: &Env,
    name: &str,
    templates: &[String],
    add: Option<&str>,
    search: &TemplateSearch,
    dirs: &RecipeDirs,
) -> Result<PlanReport, PlanOpError> {
    let store = &env.store;
    let cluster = store.cluster(name)?;
    let pins = if cluster.is_some() {
        store.git_pins(name)?
    } else {
        Vec::new()
    };
    let prepared = prepare::prepare(search, templates, add, dirs, &pins)?;
    of_prepared(env, name, &prepared, false)
}

/// What `nubo reconfigure` (with `force`) would do to a recorded
/// cluster: its recorded description, recipes from the recorded commits,
/// the elastic nodes that are on.
pub fn plan_recorded(
    env: &Env,
    name: &str,
    force: bool,
    dirs: &RecipeDirs,
) -> Result<PlanReport, PlanOpError> {
    let store = &env.store;
    let cluster = store
        .cluster(name)?
        .ok_or_else(|| StateError::ClusterNotFound(name.to_string()))?;
    let composed =
        super::templates::compose_recorded(&TemplateSearch::default(), &cluster.description)
            .map_err(PrepareError::from)?;
    let git = super::git::GitRecipes::new(dirs.git.clone(), &store.git_pins(name)?, false);
    let prepared =
        prepare::finish_prepare(composed, dirs, prepare::scaled_nodes(env, name)?, &git)?;
    of_prepared(env, name, &prepared, force)
}

/// The records a plan is computed from, read once.
pub struct Loaded {
    pub cluster: Option<Cluster>,
    pub vms: Vec<Vm>,
    pub steps: Vec<Step>,
    /// The cluster key's public half (empty before the first launch).
    pub public_key: String,
}

/// Reads the cluster's records (synchronous: async callers go through
/// `Db::run`).
pub fn load(env: &Env, store: &StateStore, name: &str) -> Result<Loaded, StateError> {
    let cluster = store.cluster(name)?;
    let (vms, steps) = if cluster.is_some() {
        (store.vms(name)?, store.steps(name)?)
    } else {
        (Vec::new(), Vec::new())
    };
    Ok(Loaded {
        cluster,
        vms,
        steps,
        public_key: keys::public_key(env, name).unwrap_or_default(),
    })
}

/// The plan of `prepared`, placed by `placement`, against `loaded`.
pub fn against(
    prepared: &Prepared,
    placement: &HashMap<String, Arc<dyn Provider>>,
    name: &str,
    loaded: &Loaded,
    force: bool,
) -> PlanReport {
    let variables = loaded
        .cluster
        .as_ref()
        .map(|c| c.variables.clone())
        .unwrap_or_default();
    compute(
        prepared,
        &|system| {
            placement
                .get(system)
                .map(|p| p.id().to_string())
                .unwrap_or_default()
        },
        &Records {
            cluster: name,
            exists: loaded.cluster.is_some(),
            vms: &loaded.vms,
            steps: &loaded.steps,
            variables: &variables,
            public_key: &loaded.public_key,
            force,
        },
    )
}

/// The plan of a prepared description against the cluster's records.
pub fn of_prepared(
    env: &Env,
    name: &str,
    prepared: &Prepared,
    force: bool,
) -> Result<PlanReport, PlanOpError> {
    let placement = prepare::place(env, &prepared.spec)?;
    let loaded = load(env, &env.store, name)?;
    Ok(against(prepared, &placement, name, &loaded, force))
}
