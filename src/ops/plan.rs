//! `nubo plan`: what `launch` (or a relaunch) would do against the recorded
//! state, per VM and per step, without doing it.

use super::context::{self, ContextInput};
use super::env::Env;
use super::executor::script_hash;
use super::launch::{self, LaunchError, LaunchOptions};
use crate::plan::graph::Vertex;
use crate::recipe;
use crate::state::{StepKey, StepStatus, VmState};
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Make it (a VM) or run it (a step).
    Create,
    /// Recorded and current: left as it is.
    Keep,
    /// Recorded and no longer asked for.
    Destroy,
}

#[derive(Clone, Debug, Serialize)]
pub struct VmPlan {
    pub node: String,
    pub system: String,
    pub provider: String,
    pub action: Action,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepPlan {
    #[serde(flatten)]
    pub key: StepKey,
    pub action: Action,
    /// Why it runs.
    pub reason: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub cluster: String,
    pub exists: bool,
    pub vms: Vec<VmPlan>,
    pub steps: Vec<StepPlan>,
}

pub fn plan(env: &Env, opts: &LaunchOptions) -> Result<PlanReport, LaunchError> {
    let search = opts.search.clone().unwrap_or_default();
    let dirs = opts.recipe_dirs.clone().unwrap_or_default();
    let store = &env.store;
    let name = &opts.name;
    let exists = store.cluster(name)?.is_some();
    let pins = if exists {
        store.git_pins(name)?
    } else {
        Vec::new()
    };
    let prepared = launch::prepare(&search, &opts.templates, opts.add.as_deref(), &dirs, &pins)?;
    let placement = launch::place(env, &prepared.spec)?;
    let vms = if exists { store.vms(name)? } else { Vec::new() };
    let steps = if exists {
        store.steps(name)?
    } else {
        Vec::new()
    };
    let instances = prepared.spec.instances();
    let mut out = PlanReport {
        cluster: name.clone(),
        exists,
        vms: Vec::new(),
        steps: Vec::new(),
    };
    for i in &instances {
        let kept = vms
            .iter()
            .any(|v| v.node == i.name && v.state == VmState::Running);
        out.vms.push(VmPlan {
            node: i.name.clone(),
            system: i.system.clone(),
            provider: placement[&i.system].id().to_string(),
            action: if kept { Action::Keep } else { Action::Create },
        });
    }
    for v in &vms {
        if v.state != VmState::Destroyed && !instances.iter().any(|i| i.name == v.node) {
            out.vms.push(VmPlan {
                node: v.node.clone(),
                system: v.system.clone(),
                provider: v.provider.clone(),
                action: Action::Destroy,
            });
        }
    }
    let variables = store
        .cluster(name)?
        .map(|c| c.variables)
        .unwrap_or_default();
    // Not made yet for a new cluster: its steps all run anyway.
    let public_key = crate::provider::local::keys::public_key(&launch::cluster_key_path(env, name))
        .unwrap_or_default();
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
        let vm_kept = out
            .vms
            .iter()
            .any(|v| &v.node == node && v.action == Action::Keep);
        let recorded = steps.iter().find(|s| s.key == key);
        let (action, reason) = match recorded {
            _ if !vm_kept => (Action::Create, "its VM is to be made".to_string()),
            None => (Action::Create, "never run".to_string()),
            Some(s) if s.status != StepStatus::Ok => {
                (Action::Create, format!("last run: {}", s.status))
            }
            Some(s) => {
                let inst = instances
                    .iter()
                    .find(|i| &i.name == node)
                    .expect("steps are on planned nodes");
                let ctx = context::build(
                    &ContextInput {
                        cluster: name,
                        spec: &prepared.spec,
                        instances: &instances,
                        vms: &vms,
                        variables: &variables,
                        public_key: &public_key,
                    },
                    inst,
                );
                match prepared
                    .recipes
                    .get(configure)
                    .map(|r| recipe::render(r, &ctx))
                {
                    Some(Ok(script)) if script_hash(&script.text) == s.recipe_hash => {
                        (Action::Keep, "done with this script".to_string())
                    }
                    Some(Ok(_)) => (Action::Create, "its script changed".to_string()),
                    _ => (
                        Action::Create,
                        "its script cannot be rendered yet".to_string(),
                    ),
                }
            }
        };
        out.steps.push(StepPlan {
            key,
            action,
            reason,
        });
    }
    Ok(out)
}
