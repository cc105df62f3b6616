//! `nubo destroy`: every VM through its provider (each between an intent
//! and its completion), then a sweep of whatever the providers still hold
//! for the cluster by name or tag, then the records. Idempotent: a second
//! destroy, or a destroy after a crash at any point, finishes the job.
//!
//! `--force` does not need the state to be sound: it sweeps every
//! provider for the cluster's name even when the state store has no record
//! of it, or cannot reconcile it.

use super::env::Env;
use super::keys;
use super::observer::{Event, Observer};
use super::reconcile;
use crate::provider::ProviderError;
use crate::ssh::KnownHosts;
use crate::state::{ClusterStatus, IntentParams, StateError, VmState};
use std::sync::Arc;

/// VMs destroyed at once (launch creates up to 16 at once on most
/// providers).
const DESTROY_CONCURRENCY: usize = 16;

#[derive(Clone, Debug, Default)]
pub struct DestroyOptions {
    pub name: String,
    pub force: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DestroyError {
    #[error(
        "cluster `{0}` not found: `nubo list` shows the clusters there are (use --force to sweep the providers for it anyway)"
    )]
    NotFound(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Vm(#[from] VmDestroyError),
    #[error(transparent)]
    Reconcile(#[from] reconcile::ReconcileError),
    #[error(
        "provider `{provider}` could not remove cluster `{cluster}`; run `nubo destroy {cluster} --force` again"
    )]
    Sweep {
        provider: String,
        cluster: String,
        #[source]
        source: ProviderError,
    },
}

/// Destroying one VM failed.
#[derive(Debug, thiserror::Error)]
pub enum VmDestroyError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(
        "VM `{node}` belongs to provider `{provider}`, which the auth file does not define: pass the auth file it was launched with"
    )]
    UnknownProvider { node: String, provider: String },
    #[error("forgetting the host key of destroyed VM `{node}`")]
    KnownHosts {
        node: String,
        #[source]
        source: Box<crate::ssh::SshError>,
    },
    #[error("destroying `{node}` through provider `{provider}` failed")]
    Provider {
        node: String,
        provider: String,
        #[source]
        source: ProviderError,
    },
}

/// Destroys one recorded VM through its provider, between an intent and
/// its completion, and forgets its host key (a new VM may get its
/// address).
pub async fn destroy_vm(env: &Env, cluster: &str, node: &str) -> Result<(), VmDestroyError> {
    let db = env.db();
    let Some(vm) = db.vm(cluster, node).await? else {
        return Ok(());
    };
    if vm.state == VmState::Destroyed {
        return Ok(());
    }
    let Some(provider) = env.providers.by_id(&vm.provider) else {
        return Err(VmDestroyError::UnknownProvider {
            node: node.to_string(),
            provider: vm.provider.clone(),
        });
    };
    let id = vm
        .provider_vm_id
        .clone()
        .unwrap_or_else(|| node.to_string());
    let intent = db
        .begin_intent(
            cluster,
            node,
            IntentParams::DestroyVm {
                provider: provider.id().to_string(),
                id: id.clone(),
            },
        )
        .await?;
    super::crash::point("destroy-intent");
    match provider.destroy_vm(cluster, &id).await {
        Ok(()) | Err(ProviderError::NotFound(_)) => {
            db.record_vm_destroyed(intent.id).await?;
            forget_host_keys(env, cluster, node, vm.addresses).await?;
            Ok(())
        }
        Err(source) => {
            db.complete_intent(
                intent.id,
                crate::state::Outcome::Failed {
                    error: source.to_string(),
                },
            )
            .await?;
            Err(VmDestroyError::Provider {
                node: node.to_string(),
                provider: provider.id().to_string(),
                source,
            })
        }
    }
}

/// Forgets the host keys recorded at a removed VM's addresses, so a new VM
/// that gets one of them is not refused for its new key (IM issue 313).
async fn forget_host_keys(
    env: &Env,
    cluster: &str,
    node: &str,
    addresses: Vec<String>,
) -> Result<(), VmDestroyError> {
    let path = env.known_hosts_path(cluster);
    let forgot = tokio::task::spawn_blocking(move || {
        if !path.exists() {
            return Ok(());
        }
        let known = KnownHosts::open(&path)?;
        addresses.iter().try_for_each(|a| known.forget(a, 22))
    })
    .await
    .map_err(|e| StateError::Interrupted(e.to_string()))?;
    forgot.map_err(|source| VmDestroyError::KnownHosts {
        node: node.to_string(),
        source: Box::new(source),
    })
}

#[derive(Debug, Default)]
pub struct DestroyReport {
    pub destroyed: Vec<String>,
    pub swept: Vec<String>,
    pub reconciled: Vec<String>,
    /// Whether the cluster was recorded.
    pub recorded: bool,
}

pub async fn destroy(
    env: &Env,
    opts: &DestroyOptions,
    observer: Arc<dyn Observer>,
) -> Result<DestroyReport, DestroyError> {
    let db = env.db();
    let name = &opts.name;
    let lock = db.lock_cluster(name).await?;
    let mut report = DestroyReport::default();
    let recorded = db.cluster(name).await?.is_some();
    report.recorded = recorded;
    if !recorded && !opts.force {
        return Err(DestroyError::NotFound(name.clone()));
    }
    if recorded {
        db.set_cluster_status(name, ClusterStatus::Destroying)
            .await?;
        match reconcile::reconcile(env, name).await {
            Ok(r) => report.reconciled = r.actions,
            Err(e) if opts.force => observer.on(&Event::Note(format!(
                "reconcile failed ({e}); sweeping anyway"
            ))),
            Err(e) => return Err(e.into()),
        }
        let vms = db.vms(name).await?;
        observer.on(&Event::Phase {
            name: crate::plan::graph::Phase::Destroy,
            total: vms.len(),
        });
        // Several at once, as launch creates them: destroying a VM is
        // mostly waiting (for processes to die, for the provider).
        let limit = Arc::new(tokio::sync::Semaphore::new(DESTROY_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for vm in vms {
            let (env, name, limit) = (env.clone(), name.clone(), limit.clone());
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let r = destroy_vm(&env, &name, &vm.node).await;
                (vm.node, r)
            });
        }
        // Every destroy runs to its end, so none is left half-recorded;
        // the first error is returned after them.
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            let (node, r) = joined.expect("destroy tasks do not panic");
            match r {
                Ok(()) => {
                    observer.on(&Event::Destroyed(node.clone()));
                    report.destroyed.push(node);
                }
                Err(e) if opts.force => observer.on(&Event::Note(format!("{e}; sweeping anyway"))),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e.into());
        }
        report.destroyed.sort();
    }
    // Sweep: whatever a provider still holds under the cluster's name.
    for p in env.providers.all() {
        let left = p.list_vms(name).await.unwrap_or_default();
        p.destroy_cluster(name)
            .await
            .map_err(|source| DestroyError::Sweep {
                provider: p.id().to_string(),
                cluster: name.clone(),
                source,
            })?;
        for v in left {
            if !report.destroyed.iter().any(|d| Some(d) == v.node.as_ref()) {
                report.swept.push(format!("{} ({})", v.id, p.id()));
            }
        }
    }
    let (force, name, env) = (opts.force, name.clone(), env.clone());
    db.run(move |store| {
        if recorded {
            if force {
                store.purge_cluster(&name)?;
            } else {
                store.delete_cluster(&name)?;
            }
        }
        let _ = std::fs::remove_file(env.known_hosts_path(&name));
        let _ = std::fs::remove_dir_all(keys::key_dir(&env, &name));
        let _ = std::fs::remove_dir_all(env.ansible_dir(&name));
        lock.remove()
    })
    .await?;
    Ok(report)
}
