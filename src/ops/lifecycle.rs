//! `nubo stop` and `nubo restart`: every VM of the cluster through its
//! provider, each call between an intent and its completion. A restart
//! then runs the cluster's configuration again, every step: what a step
//! started (a `daemon`) did not survive the stop, and each step is
//! idempotent.

use super::env::Env;
use super::reconcile::{self, ReconcileError};
use crate::provider::ProviderError;
use crate::state::{ClusterStatus, IntentParams, Outcome, StateError, VmState};

#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("cluster `{0}` not found: `nubo list` shows the clusters there are")]
    NotFound(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    #[error("the VMs are started, but configuring them again failed: {0}")]
    Reconfigure(#[from] Box<super::launch::LaunchError>),
    #[error("{action} of `{node}` failed: {error}")]
    Provider {
        action: Action,
        node: String,
        error: ProviderError,
    },
    #[error(
        "VM `{node}` belongs to provider `{provider}`, which the auth file does not define: pass the auth file the cluster was launched with"
    )]
    UnknownProvider { node: String, provider: String },
}

/// What `set_power` does to every VM; `Display` names it in messages
/// (`stop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Action {
    Stop,
    Start,
}

/// Stops or starts every VM of the cluster; returns the nodes acted on.
pub async fn set_power(
    env: &Env,
    name: &str,
    action: Action,
) -> Result<Vec<String>, LifecycleError> {
    let db = env.db();
    let _lock = db.lock_cluster(name).await?;
    if db.cluster(name).await?.is_none() {
        return Err(LifecycleError::NotFound(name.to_string()));
    }
    reconcile::reconcile(env, name).await?;
    let mut done = Vec::new();
    for vm in db.vms(name).await? {
        if power_vm(env, name, &vm, action).await? {
            done.push(vm.node);
        }
    }
    db.set_cluster_status(
        name,
        match action {
            Action::Stop => ClusterStatus::Stopped,
            Action::Start => ClusterStatus::Running,
        },
    )
    .await?;
    Ok(done)
}

/// Stops or starts one VM through its provider, between an intent and its
/// completion, and records its new state (and addresses). False if it was
/// so already (or destroyed). The caller holds the cluster's lock.
pub async fn power_vm(
    env: &Env,
    name: &str,
    vm: &crate::state::Vm,
    action: Action,
) -> Result<bool, LifecycleError> {
    let db = env.db();
    let wanted = match action {
        Action::Stop => VmState::Stopped,
        Action::Start => VmState::Running,
    };
    if vm.state == wanted || vm.state == VmState::Destroyed {
        return Ok(false);
    }
    let provider =
        env.providers
            .by_id(&vm.provider)
            .ok_or_else(|| LifecycleError::UnknownProvider {
                node: vm.node.clone(),
                provider: vm.provider.clone(),
            })?;
    let id = vm.provider_vm_id.clone().unwrap_or_else(|| vm.node.clone());
    let provider_id = provider.id().to_string();
    let params = match action {
        Action::Stop => IntentParams::StopVm {
            provider: provider_id,
            id: id.clone(),
        },
        Action::Start => IntentParams::StartVm {
            provider: provider_id,
            id: id.clone(),
        },
    };
    let intent = db.begin_intent(name, &vm.node, params).await?;
    let result = match action {
        Action::Stop => provider.stop_vm(name, &id).await.map(|()| None),
        Action::Start => provider.start_vm(name, &id).await.map(Some),
    };
    match result {
        Ok(info) => {
            db.complete_intent(
                intent.id,
                Outcome::Done {
                    provider_id: Some(id.clone()),
                },
            )
            .await?;
            db.set_vm_state(name, &vm.node, wanted).await?;
            if let Some(info) = info {
                db.set_vm_addresses(name, &vm.node, info.addresses).await?;
            }
            Ok(true)
        }
        Err(error) => {
            db.complete_intent(
                intent.id,
                Outcome::Failed {
                    error: error.to_string(),
                },
            )
            .await?;
            Err(LifecycleError::Provider {
                action,
                node: vm.node.clone(),
                error,
            })
        }
    }
}

/// `nubo restart`: starts every VM, then, if the cluster has configuration
/// steps, runs them all again. Returns the started nodes and the walk's
/// report (none without steps).
pub async fn restart(
    env: &Env,
    name: &str,
    observer: std::sync::Arc<dyn super::observer::Observer>,
) -> Result<(Vec<String>, Option<super::launch::LaunchReport>), LifecycleError> {
    let started = set_power(env, name, Action::Start).await?;
    if env.db().steps(name).await?.is_empty() {
        return Ok((started, None));
    }
    let report = super::launch::reconfigure(
        env,
        &super::launch::ReconfigureOptions {
            name: name.to_string(),
            force: true,
            ..Default::default()
        },
        observer,
    )
    .await
    .map_err(Box::new)?;
    Ok((started, Some(report)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_is_named_by_its_action() {
        let e = LifecycleError::Provider {
            action: Action::Stop,
            node: "wn-1".into(),
            error: ProviderError::NotFound("vm 7".into()),
        };
        assert!(e.to_string().starts_with("stop of `wn-1` failed: "), "{e}");
        assert_eq!(Action::Start.to_string(), "start");
    }
}
