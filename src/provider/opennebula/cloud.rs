//! [`OpenNebula`]: the OpenNebula provider behind the [`Provider`] trait.
//!
//! A VM's provider id is OpenNebula's VM id. OpenNebula has no client
//! token, so a create first looks for a VM of the cluster carrying the
//! request's token (left by an earlier try that crashed before recording
//! it) and returns that one instead of making a second. A VM whose marks
//! name another cluster is treated as absent: nubo never stops or
//! destroys it through this cluster.

use std::time::{Duration, Instant};

use super::client::{OneClient, endpoint_url};
use super::error::{OneError, code};
use super::label::ATTR_SSH_USER;
use super::template::{self, ImageRef};
use super::vm::{OneVm, image_state};
use crate::auth::Credential;
use crate::model::NetworkSpec;
use crate::provider::{
    BoxFuture, Provider, ProviderError, Result, SshAccess, VmInfo, VmRequest, VmStatus,
};
use crate::state::Secret;

/// Timings; the defaults suit a real front end, tests shorten them.
#[derive(Clone, Debug)]
pub struct OpenNebulaOptions {
    /// Bound on one XML-RPC call.
    pub call_timeout: Duration,
    /// Pause between two looks at a VM that is not there yet.
    pub poll_interval: Duration,
    /// How long a VM may take to run (or to power off).
    pub boot_timeout: Duration,
}

impl Default for OpenNebulaOptions {
    fn default() -> Self {
        OpenNebulaOptions {
            call_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            boot_timeout: Duration::from_secs(600),
        }
    }
}

/// One OpenNebula front end, as one user.
#[derive(Clone, Debug)]
pub struct OpenNebula {
    id: String,
    client: OneClient,
    /// The endpoint's host name, which `one://HOST/ID` image URLs must name.
    host: String,
    options: OpenNebulaOptions,
}

impl OpenNebula {
    /// From an auth-file credential of type `OpenNebula` with `host`,
    /// `username` and `password`.
    pub fn from_credential(c: &Credential) -> std::result::Result<Self, OneError> {
        Self::with_options(c, OpenNebulaOptions::default())
    }

    pub fn with_options(
        c: &Credential,
        options: OpenNebulaOptions,
    ) -> std::result::Result<Self, OneError> {
        let bad = |message: String| OneError::Credential {
            credential: c.describe(),
            message,
        };
        c.check_kind("OpenNebula").map_err(bad)?;
        let need = |key: &str| {
            c.value(key)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(format!("needs `{key}`")))
        };
        let host = need("host")?;
        let username = need("username")?;
        let password = Secret::new(need("password")?);
        let (url, host) = endpoint_url(host).map_err(|e| match e {
            OneError::Credential { message, .. } => bad(message),
            e => e,
        })?;
        Ok(OpenNebula {
            id: c.id.clone().unwrap_or_else(|| "opennebula".into()),
            client: OneClient::new(&url, username, &password, options.call_timeout)?,
            host,
            options,
        })
    }

    pub fn client(&self) -> &OneClient {
        &self.client
    }

    /// The VM with id `id` if it exists, is not DONE and belongs to
    /// `cluster`.
    async fn owned(&self, cluster: &str, id: &str) -> Result<Option<OneVm>> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        match self.client.vm_info(n).await {
            Ok(vm) if vm.is_done() => Ok(None),
            Ok(vm) if vm.label().is_some_and(|l| l.cluster == cluster) => Ok(Some(vm)),
            Ok(vm) => {
                tracing::warn!(id, cluster, name = %vm.name, "OpenNebula VM is not this cluster's; ignored");
                Ok(None)
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn owned_or_not_found(&self, cluster: &str, id: &str) -> Result<OneVm> {
        self.owned(cluster, id).await?.ok_or_else(|| {
            ProviderError::NotFound(format!("OpenNebula VM {id} of cluster `{cluster}`"))
        })
    }

    /// The cluster's VMs as OpenNebula holds them.
    async fn cluster_vms(&self, cluster: &str) -> Result<Vec<OneVm>> {
        let mut out = Vec::new();
        for vm in self.client.vm_pool().await? {
            match vm.label() {
                Some(l) if l.cluster == cluster => out.push(vm),
                Some(_) => {}
                // A nubo name cut short: the full document has the marks.
                None if vm.looks_like_nubos() => {
                    if let Some(full) = self.owned(cluster, &vm.id.to_string()).await? {
                        out.push(full);
                    }
                }
                None => {}
            }
        }
        Ok(out)
    }

    /// Polls until `done` accepts the VM, or the boot timeout passes.
    async fn wait_for(
        &self,
        cluster: &str,
        id: &str,
        what: &str,
        done: impl Fn(&OneVm) -> Result<bool>,
    ) -> Result<OneVm> {
        let deadline = Instant::now() + self.options.boot_timeout;
        loop {
            let vm = self.owned_or_not_found(cluster, id).await?;
            if done(&vm)? {
                return Ok(vm);
            }
            if Instant::now() >= deadline {
                return Err(ProviderError::Transient(format!(
                    "OpenNebula VM {id} is not {what} after {:?} (STATE {}, LCM_STATE {})",
                    self.options.boot_timeout, vm.state, vm.lcm_state
                )));
            }
            tokio::time::sleep(self.options.poll_interval).await;
        }
    }

    /// Checks the image a request names, so a wrong id fails before a VM
    /// is made.
    async fn check_image(&self, req: &VmRequest) -> Result<()> {
        let url = req
            .system
            .image_url
            .as_deref()
            .or_else(|| req.system.features.get_str("disk.0.image.url"))
            .unwrap_or_default();
        if let Ok(ImageRef::Id(id)) = template::image_ref(url, &self.host) {
            let image = self.client.image_info(id).await?;
            if image.state == image_state::ERROR {
                return Err(ProviderError::Final(format!(
                    "OpenNebula image {id} (`{}`) is in the ERROR state",
                    image.name
                )));
            }
        }
        Ok(())
    }

    async fn terminate(&self, vm: &OneVm) -> Result<()> {
        match self.client.vm_action("terminate-hard", vm.id).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) if e.code() == Some(code::ACTION) => {
                // Already on its way out?
                match self.client.vm_info(vm.id).await {
                    Ok(now) if now.is_done() || now.status() == VmStatus::Terminated => Ok(()),
                    Err(e2) if e2.is_not_found() => Ok(()),
                    _ => Err(e.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Provider for OpenNebula {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "OpenNebula"
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let user = self.client.user_info().await?;
            tracing::debug!(
                endpoint = self.client.endpoint(),
                user,
                "OpenNebula credentials accepted"
            );
            Ok(())
        })
    }

    fn ensure_network<'a>(
        &'a self,
        _cluster: &'a str,
        network: &'a NetworkSpec,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        // OpenNebula's virtual networks are the site's: nubo uses the one
        // `provider_id` names and makes none.
        Box::pin(async move { Ok(network.provider_id.clone()) })
    }

    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            if let Some(vm) = self
                .cluster_vms(&req.cluster)
                .await?
                .into_iter()
                .find(|vm| vm.label().is_some_and(|l| l.token == req.token))
            {
                tracing::info!(
                    cluster = req.cluster,
                    node = req.node,
                    id = vm.id,
                    "OpenNebula VM for this token exists; not creating another"
                );
                return Ok(vm.to_info());
            }
            let template = template::vm_template(req, &self.host)?;
            self.check_image(req).await?;
            let id = self.client.vm_allocate(&template).await?;
            tracing::info!(
                cluster = req.cluster,
                node = req.node,
                id,
                "OpenNebula VM allocated"
            );
            match self.client.vm_info(id).await {
                Ok(vm) => Ok(vm.to_info()),
                // Made, but not readable yet: report what is known.
                Err(_) => Ok(VmInfo {
                    id: id.to_string(),
                    node: Some(req.node.clone()),
                    token: Some(req.token.clone()),
                    addresses: Vec::new(),
                    status: VmStatus::Pending,
                }),
            }
        })
    }

    fn wait_running<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            let vm = self
                .wait_for(cluster, id, "running", |vm| match vm.status() {
                    VmStatus::Running => Ok(!vm.addresses.is_empty()),
                    VmStatus::Failed => Err(ProviderError::Final(format!(
                        "OpenNebula VM {id} failed (STATE {}, LCM_STATE {})",
                        vm.state, vm.lcm_state
                    ))),
                    VmStatus::Terminated => Err(ProviderError::NotFound(format!(
                        "OpenNebula VM {id} is being deleted"
                    ))),
                    _ => Ok(false),
                })
                .await?;
            Ok(vm.to_info())
        })
    }

    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>> {
        Box::pin(async move { Ok(self.owned(cluster, id).await?.map(|vm| vm.to_info())) })
    }

    fn stop_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let vm = self.owned_or_not_found(cluster, id).await?;
            if vm.status() == VmStatus::Stopped {
                return Ok(());
            }
            self.client.vm_action("poweroff", vm.id).await?;
            self.wait_for(cluster, id, "powered off", |vm| {
                Ok(vm.status() == VmStatus::Stopped)
            })
            .await?;
            Ok(())
        })
    }

    fn start_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            let vm = self.owned_or_not_found(cluster, id).await?;
            if vm.status() == VmStatus::Stopped {
                self.client.vm_action("resume", vm.id).await?;
            }
            self.wait_running(cluster, id).await
        })
    }

    fn destroy_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            match self.owned(cluster, id).await? {
                Some(vm) => self.terminate(&vm).await,
                None => Ok(()),
            }
        })
    }

    fn list_vms<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>> {
        Box::pin(async move {
            Ok(self
                .cluster_vms(cluster)
                .await?
                .iter()
                .map(OneVm::to_info)
                .collect())
        })
    }

    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut first_error = None;
            for vm in self.cluster_vms(cluster).await? {
                if let Err(e) = self.terminate(&vm).await {
                    tracing::warn!(cluster, id = vm.id, error = %e, "cannot terminate OpenNebula VM");
                    first_error.get_or_insert(e);
                }
            }
            first_error.map_or(Ok(()), Err)
        })
    }

    fn ssh_access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>> {
        Box::pin(async move {
            let one = self.owned_or_not_found(cluster, &vm.id).await?;
            let host = vm
                .addresses
                .first()
                .or_else(|| one.addresses.first())
                .cloned()
                .ok_or_else(|| {
                    ProviderError::Transient(format!("OpenNebula VM {} has no address yet", vm.id))
                })?;
            let user = one
                .user_template
                .get(ATTR_SSH_USER)
                .filter(|u| !u.is_empty())
                .cloned()
                .unwrap_or_else(|| "root".into());
            Ok(SshAccess::cloud(host, user))
        })
    }
}
