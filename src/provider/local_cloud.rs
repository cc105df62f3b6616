//! [`LocalCloud`]: the local provider behind the [`Provider`] trait.
//!
//! A VM's provider id is its node name: local names are derived from
//! (cluster, node), so a create repeated after a crash finds the node it
//! made before instead of making a second one, and `list_vms` finds every
//! node from what exists on the host.

use std::sync::Arc;

use super::local::{LocalError, LocalNode, LocalProvider};
use super::{BoxFuture, Provider, ProviderError, Result, SshAccess, VmInfo, VmRequest, VmStatus};
use crate::model::NetworkSpec;

/// The local provider as a [`Provider`].
#[derive(Clone, Debug)]
pub struct LocalCloud {
    id: String,
    inner: Arc<LocalProvider>,
}

impl LocalCloud {
    pub fn new(id: impl Into<String>, inner: LocalProvider) -> Self {
        LocalCloud {
            id: id.into(),
            inner: Arc::new(inner),
        }
    }

    pub fn inner(&self) -> &LocalProvider {
        &self.inner
    }

    /// Runs a blocking local-provider call on a blocking thread.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&LocalProvider) -> Result<T, LocalError> + Send + 'static,
    ) -> Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| ProviderError::Final(format!("local provider task failed: {e}")))?
            .map_err(classify)
    }
}

/// Local errors are final except when the host was busy.
fn classify(e: LocalError) -> ProviderError {
    match e {
        LocalError::NodeNotFound { .. } => ProviderError::NotFound(e.to_string()),
        LocalError::NodeBoot { .. } | LocalError::KillTimeout { .. } => {
            ProviderError::Transient(e.to_string())
        }
        e => ProviderError::Final(e.to_string()),
    }
}

fn info(n: &LocalNode) -> VmInfo {
    VmInfo {
        id: n.name.clone(),
        node: Some(n.name.clone()),
        token: None,
        addresses: vec![n.ip.to_string()],
        status: if n.running {
            VmStatus::Running
        } else {
            VmStatus::Stopped
        },
    }
}

impl Provider for LocalCloud {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "Local"
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.blocking(|_| LocalProvider::check_host()).await })
    }

    fn ensure_network<'a>(
        &'a self,
        cluster: &'a str,
        _network: &'a NetworkSpec,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        // Every network of a local cluster is its one bridge.
        let cluster = cluster.to_string();
        Box::pin(async move {
            let net = self.blocking(move |p| p.ensure_cluster(&cluster)).await?;
            Ok(Some(net.bridge))
        })
    }

    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>> {
        let (cluster, node, number) = (req.cluster.clone(), req.node.clone(), req.number);
        Box::pin(async move {
            let n = self
                .blocking(move |p| p.create_node(&cluster, &node, number))
                .await?;
            Ok(info(&n))
        })
    }

    fn wait_running<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        // create_node returns once sshd answers.
        Box::pin(async move {
            self.vm_info(cluster, id)
                .await?
                .ok_or_else(|| ProviderError::NotFound(format!("local node `{id}`")))
        })
    }

    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>> {
        Box::pin(async move {
            Ok(self
                .list_vms(cluster)
                .await?
                .into_iter()
                .find(|v| v.id == id))
        })
    }

    fn stop_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        let (cluster, id) = (cluster.to_string(), id.to_string());
        Box::pin(async move { self.blocking(move |p| p.stop_node(&cluster, &id)).await })
    }

    fn start_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        let (cluster, id) = (cluster.to_string(), id.to_string());
        Box::pin(async move {
            let n = self.blocking(move |p| p.start_node(&cluster, &id)).await?;
            Ok(info(&n))
        })
    }

    fn destroy_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        let (cluster, id) = (cluster.to_string(), id.to_string());
        Box::pin(async move { self.blocking(move |p| p.destroy_node(&cluster, &id)).await })
    }

    fn list_vms<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>> {
        let cluster = cluster.to_string();
        Box::pin(async move {
            let nodes = self.blocking(move |p| p.list_nodes(&cluster)).await?;
            Ok(nodes.iter().map(info).collect())
        })
    }

    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>> {
        let cluster = cluster.to_string();
        Box::pin(async move { self.blocking(move |p| p.destroy_cluster(&cluster)).await })
    }

    fn private_addresses_reachable(&self) -> bool {
        true
    }

    fn ssh_access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>> {
        let c = cluster.to_string();
        Box::pin(async move {
            let host_key = self.blocking(move |p| p.known_host_key(&c)).await?;
            Ok(SshAccess {
                host: vm.addresses.first().cloned().unwrap_or_default(),
                port: 22,
                user: "root".into(),
                key_path: Some(self.inner.user_key_path(cluster)),
                host_key: Some(host_key),
            })
        })
    }
}
