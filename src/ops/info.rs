//! `nubo list`, `nubo show` and where `nubo ssh` goes.

use super::env::Env;
use super::reach::{self, Route};
use super::reconcile;
use super::templates::{TemplateError, TemplateSearch};
use crate::provider::{SshAccess, VmInfo, VmStatus};
use crate::state::{ClusterDetail, ClusterSummary, StateError, Vm, VmState};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    #[error("cluster `{0}` not found: `nubo list` shows the clusters there are")]
    NotFound(String),
    #[error("cluster `{cluster}` has no node `{node}`; its nodes: {nodes}")]
    NoNode {
        cluster: String,
        node: String,
        nodes: String,
    },
    #[error("node `{node}` is {state}, not running: `nubo restart {cluster}` starts it")]
    NotRunning {
        cluster: String,
        node: String,
        state: VmState,
    },
    #[error(transparent)]
    Reconcile(#[from] reconcile::ReconcileError),
    #[error("node `{node}` belongs to provider `{provider}`, which the auth file does not define")]
    UnknownProvider { node: String, provider: String },
    #[error("asking provider `{provider}` how to reach `{node}` failed")]
    Provider {
        node: String,
        provider: String,
        #[source]
        source: crate::provider::ProviderError,
    },
    #[error("reading the recorded description of cluster `{cluster}`")]
    Description {
        cluster: String,
        #[source]
        source: Box<TemplateError>,
    },
    #[error(transparent)]
    State(#[from] StateError),
}

pub fn list(env: &Env) -> Result<Vec<ClusterSummary>, InfoError> {
    Ok(env.store.clusters()?)
}

/// The cluster's record. An interrupted command's open intents are
/// reconciled first when no other nubo holds the cluster.
pub async fn show(env: &Env, name: &str) -> Result<ClusterDetail, InfoError> {
    let db = env.db();
    if let Ok(_lock) = db.lock_cluster(name).await
        && db.cluster(name).await?.is_some()
    {
        reconcile::reconcile(env, name).await?;
    }
    let n = name.to_string();
    db.run(move |s| s.cluster_detail(&n))
        .await?
        .ok_or_else(|| InfoError::NotFound(name.to_string()))
}

/// A running VM as the state records it, in the provider's terms (for
/// asking the provider how to reach it).
pub fn recorded_vm_info(vm: &Vm) -> VmInfo {
    VmInfo {
        id: vm.provider_vm_id.clone().unwrap_or_default(),
        node: Some(vm.node.clone()),
        token: None,
        addresses: vm.addresses.clone(),
        status: VmStatus::Running,
    }
}

/// Where to reach a node over SSH, with the key and the known_hosts file.
#[derive(Debug, Clone)]
pub struct SshPlace {
    pub node: String,
    pub access: SshAccess,
    pub key_path: PathBuf,
    pub known_hosts: PathBuf,
    /// The front-end to go through, for a node with only a private address
    /// ([`reach::route`]).
    pub via: Option<Box<SshPlace>>,
}

/// The node to log in to: `node`, else the front-end.
pub async fn ssh_place(env: &Env, name: &str, node: Option<&str>) -> Result<SshPlace, InfoError> {
    let db = env.db();
    if db.cluster(name).await?.is_none() {
        return Err(InfoError::NotFound(name.to_string()));
    }
    let vms = db.vms(name).await?;
    let live: Vec<_> = vms
        .iter()
        .filter(|v| v.state != VmState::Destroyed)
        .collect();
    let node = match node {
        Some(n) => n.to_string(),
        None => super::context::front_end(&live, |v| &v.system)
            .map(|v| v.node.clone())
            .ok_or_else(|| InfoError::NoNode {
                cluster: name.to_string(),
                node: "(front-end)".into(),
                nodes: "none".into(),
            })?,
    };
    let vm = live
        .iter()
        .find(|v| v.node == node)
        .ok_or_else(|| InfoError::NoNode {
            cluster: name.to_string(),
            node: node.clone(),
            nodes: live
                .iter()
                .map(|v| v.node.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    if vm.state != VmState::Running {
        return Err(InfoError::NotRunning {
            cluster: name.to_string(),
            node,
            state: vm.state,
        });
    }
    let provider = env
        .providers
        .by_id(&vm.provider)
        .ok_or_else(|| InfoError::UnknownProvider {
            node: node.clone(),
            provider: vm.provider.clone(),
        })?;
    let access = provider
        .ssh_access(name, &recorded_vm_info(vm))
        .await
        .map_err(|source| InfoError::Provider {
            node: node.clone(),
            provider: vm.provider.clone(),
            source,
        })?;
    let key_path = access
        .key_path
        .clone()
        .unwrap_or_else(|| super::keys::cluster_key_path(env, name));
    let via = if provider.private_addresses_reachable() {
        None
    } else {
        let (e, n, which) = (env.clone(), name.to_string(), node.clone());
        let route = tokio::task::spawn_blocking(move || recorded_route(&e, &n, &which))
            .await
            .map_err(|e| StateError::Interrupted(e.to_string()))??;
        match route {
            Route::Direct => None,
            Route::Through(front) => Some(Box::new(
                Box::pin(ssh_place(env, name, Some(&front))).await?,
            )),
        }
    };
    Ok(SshPlace {
        node,
        access,
        key_path,
        known_hosts: env.known_hosts_path(name),
        via,
    })
}

/// The route to `node` by the cluster's recorded description, as the
/// launch that made it decided ([`reach::route`]).
fn recorded_route(env: &Env, name: &str, node: &str) -> Result<Route, InfoError> {
    let cluster = env
        .store
        .cluster(name)?
        .ok_or_else(|| InfoError::NotFound(name.to_string()))?;
    let composed =
        super::templates::compose_recorded(&TemplateSearch::default(), &cluster.description)
            .map_err(|source| InfoError::Description {
                cluster: name.to_string(),
                source: Box::new(source),
            })?;
    let (mut spec, _) = crate::model::lower(&composed.document);
    spec.scaled = super::prepare::scaled_nodes(env, name)?;
    Ok(reach::route(&spec, &spec.instances(), node, false))
}
