//! Reconciling a cluster's open intents with its providers: what a crash
//! interrupted is finished or undone before anything else is done to the
//! cluster, so no VM the provider holds goes unrecorded.
//!
//! - `create_vm`: the provider is asked for the cluster's VMs; one carrying
//!   the intent's token, or made for the intent's node, is recorded as
//!   created (a later step keeps, reconfigures or destroys it). If there is
//!   none, the call never took effect: the intent fails and the VM is
//!   marked failed.
//! - `destroy_vm`: the destroy is repeated (it is idempotent) and recorded.
//! - `start_vm`, `stop_vm`, `reboot_vm`: the VM's state is read back.
//! - network intents: their calls are idempotent and repeated by the next
//!   launch; they are closed.

use super::env::Env;
use crate::provider::{ProviderError, VmStatus};
use crate::state::{IntentKind, IntentParams, Outcome, StateError, VmCreated, VmState};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "cannot reconcile {kind} of `{target}` with provider `{provider}`: {source}; retry when the provider answers, or run `nubo destroy --force`"
    )]
    Provider {
        kind: IntentKind,
        target: String,
        provider: String,
        source: ProviderError,
    },
}

/// What reconciling did, one line per intent.
#[derive(Debug, Default)]
pub struct Reconciled {
    pub actions: Vec<String>,
}

/// Reconciles every open intent of `cluster`. The caller holds the lock.
pub async fn reconcile(env: &Env, cluster: &str) -> Result<Reconciled, ReconcileError> {
    let db = env.db();
    let mut out = Reconciled::default();
    for intent in db.open_intents(cluster).await? {
        let provider_id = intent.params.provider().to_string();
        let Some(provider) = env.providers.by_id(&provider_id) else {
            // The auth file no longer names it: nothing can be asked.
            db.complete_intent(
                intent.id,
                Outcome::Failed {
                    error: format!("provider `{provider_id}` is not in the auth file"),
                },
            )
            .await?;
            out.actions.push(format!(
                "{} of {}: provider `{provider_id}` unknown, closed",
                intent.kind, intent.target
            ));
            continue;
        };
        let perr = |source| ReconcileError::Provider {
            kind: intent.kind,
            target: intent.target.clone(),
            provider: provider_id.clone(),
            source,
        };
        match &intent.params {
            IntentParams::CreateVm { .. } => {
                let vms = provider.list_vms(cluster).await.map_err(perr)?;
                let found = vms.into_iter().find(|v| {
                    v.token.as_deref() == Some(intent.token.as_str())
                        || v.node.as_deref() == Some(intent.target.as_str())
                });
                let has_row = db.vm(cluster, &intent.target).await?.is_some();
                match (found, has_row) {
                    (Some(v), true) => {
                        let state = match v.status {
                            VmStatus::Running => VmState::Running,
                            VmStatus::Stopped => VmState::Stopped,
                            VmStatus::Pending => VmState::Creating,
                            _ => VmState::Failed,
                        };
                        db.record_vm_created(
                            intent.id,
                            VmCreated {
                                provider_vm_id: v.id.clone(),
                                addresses: v.addresses.clone(),
                                state,
                            },
                        )
                        .await?;
                        out.actions.push(format!(
                            "create of {}: the provider has it ({}), recorded",
                            intent.target, v.id
                        ));
                    }
                    (Some(v), false) => {
                        // No row to record it on: undo.
                        provider.destroy_vm(cluster, &v.id).await.map_err(perr)?;
                        db.complete_intent(
                            intent.id,
                            Outcome::Failed {
                                error: "interrupted; destroyed by reconcile".into(),
                            },
                        )
                        .await?;
                        out.actions.push(format!(
                            "create of {}: unrecorded VM {} destroyed",
                            intent.target, v.id
                        ));
                    }
                    (None, _) => {
                        db.complete_intent(
                            intent.id,
                            Outcome::Failed {
                                error: "interrupted before the provider made it".into(),
                            },
                        )
                        .await?;
                        if has_row {
                            db.set_vm_state(cluster, &intent.target, VmState::Failed)
                                .await?;
                        }
                        out.actions.push(format!(
                            "create of {}: the provider never made it",
                            intent.target
                        ));
                    }
                }
            }
            IntentParams::DestroyVm { id, .. } => {
                let id = id.clone();
                provider.destroy_vm(cluster, &id).await.map_err(perr)?;
                if db.vm(cluster, &intent.target).await?.is_some() {
                    db.record_vm_destroyed(intent.id).await?;
                } else {
                    db.complete_intent(
                        intent.id,
                        Outcome::Done {
                            provider_id: Some(id),
                        },
                    )
                    .await?;
                }
                out.actions
                    .push(format!("destroy of {}: finished", intent.target));
            }
            IntentParams::StartVm { .. }
            | IntentParams::StopVm { .. }
            | IntentParams::RebootVm { .. } => {
                let vm = db.vm(cluster, &intent.target).await?;
                let id = vm.as_ref().and_then(|v| v.provider_vm_id.clone());
                let info = match &id {
                    Some(id) => provider.vm_info(cluster, id).await.map_err(perr)?,
                    None => None,
                };
                let state = match info.map(|i| i.status) {
                    Some(VmStatus::Running) => VmState::Running,
                    Some(VmStatus::Stopped) => VmState::Stopped,
                    Some(_) => VmState::Failed,
                    None => VmState::Destroyed,
                };
                db.complete_intent(
                    intent.id,
                    Outcome::Failed {
                        error: format!("interrupted; the VM is now {state}"),
                    },
                )
                .await?;
                if vm.is_some() {
                    db.set_vm_state(cluster, &intent.target, state).await?;
                }
                out.actions.push(format!(
                    "{} of {}: interrupted, the VM is {state}",
                    intent.kind, intent.target
                ));
            }
            IntentParams::CreateNetwork { .. } | IntentParams::DestroyNetwork { .. } => {
                db.complete_intent(
                    intent.id,
                    Outcome::Failed {
                        error: "interrupted; repeated by the next launch or destroy".into(),
                    },
                )
                .await?;
                out.actions
                    .push(format!("{} of {}: closed", intent.kind, intent.target));
            }
        }
    }
    Ok(out)
}
