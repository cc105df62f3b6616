//! [`OpenNebula`]: the OpenNebula provider, a
//! [`Cloud`](crate::provider::cloud::Cloud) and so a
//! [`Provider`](crate::provider::Provider).
//!
//! A VM's provider id is OpenNebula's VM id. OpenNebula has no client
//! token, so a create first looks for a VM of the cluster carrying the
//! request's token (left by an earlier try that crashed before recording
//! it) and returns that one instead of making a second. What every cloud
//! does alike (ownership by the VM's marks, waiting, sweeping) is
//! [`crate::provider::cloud`]'s.

use std::time::Duration;

use super::client::{OneClient, endpoint_url};
use super::error::{OneError, code};
use super::label::ATTR_SSH_USER;
use super::template::{self, ImageRef};
use super::vm::{OneVm, image_state};
use crate::auth::Credential;
use crate::model::NetworkSpec;
use crate::provider::cloud::{self, Cloud, CloudVms, Fields, Pacing, Sweep};
use crate::provider::{ProviderError, Result, VmInfo, VmRequest, VmStatus};
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
        let line = Fields::open(c, "OpenNebula", |credential, message| {
            OneError::Credential {
                credential,
                message,
            }
        })?;
        let host = line.need("host")?;
        let username = line.need("username")?;
        let password = Secret::new(line.need("password")?);
        let (url, host) = endpoint_url(host).map_err(|e| match e {
            OneError::Credential { message, .. } => line.bad(message),
            e => e,
        })?;
        Ok(OpenNebula {
            id: line.id("opennebula"),
            client: OneClient::new(&url, username, &password, options.call_timeout)?,
            host,
            options,
        })
    }

    pub fn client(&self) -> &OneClient {
        &self.client
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

    /// Checks the image a request names, so a wrong id fails before a VM
    /// is made.
    async fn check_image(&self, req: &VmRequest) -> Result<()> {
        let url = req.system.image_url.as_deref().unwrap_or_default();
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

impl Cloud for OpenNebula {
    const KIND: &'static str = "OpenNebula";

    fn line_id(&self) -> &str {
        &self.id
    }

    async fn check(&self) -> Result<()> {
        let user = self.client.user_info().await?;
        tracing::debug!(
            endpoint = self.client.endpoint(),
            user,
            "OpenNebula credentials accepted"
        );
        Ok(())
    }

    async fn ensure_network(
        &self,
        _cluster: &str,
        network: &NetworkSpec,
    ) -> Result<Option<String>> {
        // OpenNebula's virtual networks are the site's: nubo uses the one
        // `provider_id` names and makes none.
        Ok(network.provider_id.clone())
    }

    async fn create_vm(&self, req: &VmRequest) -> Result<VmInfo> {
        if let Some(vm) = self
            .cluster_vms(&req.cluster)
            .await?
            .into_iter()
            .find(|vm| vm.label().is_some_and(|l| l.token == req.token))
        {
            cloud::reusing(Self::NOUN, req, &vm.id.to_string());
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
            Err(_) => Ok(cloud::just_made(id.to_string(), req)),
        }
    }

    async fn wait_running(&self, cluster: &str, id: &str) -> Result<VmInfo> {
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
    }

    async fn stop_vm(&self, cluster: &str, id: &str) -> Result<()> {
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
    }

    async fn start_vm(&self, cluster: &str, id: &str) -> Result<VmInfo> {
        let vm = self.owned_or_not_found(cluster, id).await?;
        if vm.status() == VmStatus::Stopped {
            self.client.vm_action("resume", vm.id).await?;
        }
        Cloud::wait_running(self, cluster, id).await
    }

    async fn destroy_vm(&self, cluster: &str, id: &str) -> Result<()> {
        match self.owned(cluster, id).await? {
            Some(vm) => self.terminate(&vm).await,
            None => Ok(()),
        }
    }

    async fn list_vms(&self, cluster: &str) -> Result<Vec<VmInfo>> {
        Ok(self
            .cluster_vms(cluster)
            .await?
            .iter()
            .map(OneVm::to_info)
            .collect())
    }

    async fn destroy_cluster(&self, cluster: &str) -> Result<()> {
        let mut sweep = Sweep::new("OpenNebula", cluster);
        for vm in self.cluster_vms(cluster).await? {
            sweep.check(&format!("VM {}", vm.id), self.terminate(&vm).await);
        }
        sweep.done()
    }
}

impl CloudVms for OpenNebula {
    type Vm = OneVm;
    const NOUN: &'static str = "OpenNebula VM";
    const DEFAULT_LOGIN: &'static str = "root";

    async fn fetch(&self, id: &str) -> Result<Option<OneVm>> {
        let Ok(n) = id.parse::<i64>() else {
            return Ok(None);
        };
        match self.client.vm_info(n).await {
            Ok(vm) if vm.is_done() => Ok(None),
            Ok(vm) => Ok(Some(vm)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn marks_cluster(vm: &OneVm, cluster: &str) -> bool {
        vm.label().is_some_and(|l| l.cluster == cluster)
    }

    fn login_of(vm: &OneVm) -> Option<&str> {
        vm.user_template.get(ATTR_SSH_USER).map(String::as_str)
    }

    fn state_of(vm: &OneVm) -> String {
        format!("STATE {}, LCM_STATE {}", vm.state, vm.lcm_state)
    }

    async fn info(&self, _cluster: &str, _id: &str, vm: &OneVm) -> Result<VmInfo> {
        Ok(vm.to_info())
    }

    fn pacing(&self) -> Pacing {
        Pacing::steady(self.options.poll_interval, self.options.boot_timeout)
    }
}
