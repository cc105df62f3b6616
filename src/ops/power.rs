//! Stopping or starting one VM through its provider, between an intent and
//! its completion: what `nubo stop`/`restart` (`lifecycle.rs`) do to
//! every VM and a launch does to a node no longer asked for whose system
//! reuses its nodes (`launch.rs`).

use super::env::Env;
use crate::provider::ProviderError;
use crate::state::{IntentParams, Outcome, StateError, VmState};

/// What is done to a VM; `Display` names it in messages (`stop`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::Display)]
#[strum(serialize_all = "lowercase")]
pub enum Action {
    Stop,
    Start,
}

#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    #[error(transparent)]
    State(#[from] StateError),
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

/// Stops or starts one VM through its provider, between an intent and its
/// completion, and records its new state (and addresses). False if it was
/// so already (or destroyed). The caller holds the cluster's lock.
pub async fn power_vm(
    env: &Env,
    name: &str,
    vm: &crate::state::Vm,
    action: Action,
) -> Result<bool, PowerError> {
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
            .ok_or_else(|| PowerError::UnknownProvider {
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
            Err(PowerError::Provider {
                action,
                node: vm.node.clone(),
                error,
            })
        }
    }
}
