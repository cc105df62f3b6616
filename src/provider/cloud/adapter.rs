//! [`Cloud`]: a cloud provider's calls as plain async methods. One
//! blanket implementation makes every [`Cloud`] a [`Provider`] (boxing
//! the futures, as `dyn Provider` needs), with `vm_info` and
//! `ssh_access` from the skeleton ([`CloudVms`]).

use std::future::Future;

use super::vms::CloudVms;
use crate::model::NetworkSpec;
use crate::provider::{BoxFuture, Provider, Result, SshAccess, VmInfo, VmRequest};

/// What a cloud writes of [`Provider`] itself; see there for each call.
pub(crate) trait Cloud: CloudVms + Send + Sized {
    /// The kind, as in the auth file's `type`.
    const KIND: &'static str;

    /// See [`Provider::names_its_vms`].
    const NAMES_ITS_VMS: bool = true;

    /// See [`Provider::creates_at_once`].
    const CREATES_AT_ONCE: usize = 16;

    /// The id of its line in the auth file.
    fn line_id(&self) -> &str;

    fn check(&self) -> impl Future<Output = Result<()>> + Send;

    /// No cloud needs the intent's token here: what it makes is found
    /// again by the cluster's name.
    fn ensure_network(
        &self,
        cluster: &str,
        network: &NetworkSpec,
    ) -> impl Future<Output = Result<Option<String>>> + Send;

    fn create_vm(&self, req: &VmRequest) -> impl Future<Output = Result<VmInfo>> + Send;

    fn wait_running(&self, cluster: &str, id: &str) -> impl Future<Output = Result<VmInfo>> + Send;

    fn stop_vm(&self, cluster: &str, id: &str) -> impl Future<Output = Result<()>> + Send;

    fn start_vm(&self, cluster: &str, id: &str) -> impl Future<Output = Result<VmInfo>> + Send;

    fn destroy_vm(&self, cluster: &str, id: &str) -> impl Future<Output = Result<()>> + Send;

    fn list_vms(&self, cluster: &str) -> impl Future<Output = Result<Vec<VmInfo>>> + Send;

    fn destroy_cluster(&self, cluster: &str) -> impl Future<Output = Result<()>> + Send;
}

impl<C: Cloud> Provider for C {
    fn id(&self) -> &str {
        self.line_id()
    }

    fn kind(&self) -> &'static str {
        C::KIND
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(Cloud::check(self))
    }

    fn ensure_network<'a>(
        &'a self,
        cluster: &'a str,
        network: &'a NetworkSpec,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(Cloud::ensure_network(self, cluster, network))
    }

    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(Cloud::create_vm(self, req))
    }

    fn wait_running<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(Cloud::wait_running(self, cluster, id))
    }

    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>> {
        Box::pin(CloudVms::vm_info(self, cluster, id))
    }

    fn stop_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(Cloud::stop_vm(self, cluster, id))
    }

    fn start_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(Cloud::start_vm(self, cluster, id))
    }

    fn destroy_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(Cloud::destroy_vm(self, cluster, id))
    }

    fn list_vms<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>> {
        Box::pin(Cloud::list_vms(self, cluster))
    }

    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(Cloud::destroy_cluster(self, cluster))
    }

    fn names_its_vms(&self) -> bool {
        C::NAMES_ITS_VMS
    }

    fn creates_at_once(&self) -> usize {
        C::CREATES_AT_ONCE
    }

    fn ssh_access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>> {
        Box::pin(self.access(cluster, vm))
    }
}
