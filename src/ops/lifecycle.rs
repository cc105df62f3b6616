//! `nubo stop` and `nubo restart`: every VM of the cluster through its
//! provider, each call between an intent and its completion. A restart
//! then runs the cluster's configuration again, every step: what a step
//! started (a `daemon`) did not survive the stop, and each step is
//! idempotent.

use super::env::Env;
use super::power::{PowerError, power_vm};
use super::reconcile::{self, ReconcileError};
use crate::provider::ProviderError;
use crate::state::{ClusterStatus, StateError};

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

impl From<PowerError> for LifecycleError {
    fn from(e: PowerError) -> LifecycleError {
        match e {
            PowerError::State(e) => LifecycleError::State(e),
            PowerError::Provider {
                action,
                node,
                error,
            } => LifecycleError::Provider {
                action,
                node,
                error,
            },
            PowerError::UnknownProvider { node, provider } => {
                LifecycleError::UnknownProvider { node, provider }
            }
        }
    }
}

pub use super::power::Action;

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
