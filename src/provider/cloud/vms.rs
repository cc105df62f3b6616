//! The part of [`Provider`](crate::provider::Provider) every cloud does
//! the same way, written once over [`CloudVms`]: which VMs are the
//! cluster's (a VM whose marks name another cluster is treated as absent,
//! so nubo never stops or destroys it through this cluster), waiting for
//! a VM to reach a state, a VM's info and SSH access, and the create
//! that finds the VM an earlier try made.

use std::future::Future;

use super::pacing::Pacing;
use crate::provider::{ProviderError, Result, SshAccess, VmInfo, VmRequest, VmStatus};

/// What the shared skeleton needs of a cloud: how to read one VM and what
/// its marks say. The API client and the error mapping stay the cloud's.
pub(crate) trait CloudVms: Sync {
    /// The cloud's VM document.
    type Vm: Send + Sync;

    /// How messages name one VM: `OpenStack server`.
    const NOUN: &'static str;

    /// The user to log in as when the VM's marks record none.
    const DEFAULT_LOGIN: &'static str;

    /// The VM `id` as the cloud holds it now; `None` when the cloud has no
    /// such VM, it is gone (deleted, DONE, terminated), or `id` is not
    /// one of this cloud's ids.
    fn fetch<'a>(
        &'a self,
        id: &'a str,
    ) -> impl Future<Output = Result<Option<Self::Vm>>> + Send + 'a;

    /// Whether the VM's marks name `cluster`.
    fn marks_cluster(vm: &Self::Vm, cluster: &str) -> bool;

    /// The login user the VM's marks recorded.
    fn login_of(vm: &Self::Vm) -> Option<&str>;

    /// Its state for messages: `status SHUTOFF`, `STATE 8, LCM_STATE 0`.
    fn state_of(vm: &Self::Vm) -> String;

    /// The VM as a [`VmInfo`] (`id` is its provider id).
    fn info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        vm: &'a Self::Vm,
    ) -> impl Future<Output = Result<VmInfo>> + Send + 'a;

    /// How often to look at a VM, and for how long.
    fn pacing(&self) -> Pacing;

    /// The VM `id` if it exists, is not gone and belongs to `cluster`.
    fn owned<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> impl Future<Output = Result<Option<Self::Vm>>> + Send + 'a {
        async move {
            let Some(vm) = self.fetch(id).await? else {
                return Ok(None);
            };
            if Self::marks_cluster(&vm, cluster) {
                return Ok(Some(vm));
            }
            tracing::warn!(id, cluster, "{} is not this cluster's; ignored", Self::NOUN);
            Ok(None)
        }
    }

    /// [`CloudVms::owned`], with a missing VM as [`ProviderError::NotFound`].
    fn owned_or_not_found<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> impl Future<Output = Result<Self::Vm>> + Send + 'a {
        async move {
            self.owned(cluster, id).await?.ok_or_else(|| {
                ProviderError::NotFound(format!("{} {id} of cluster `{cluster}`", Self::NOUN))
            })
        }
    }

    /// Looks at the VM until `done` accepts it (or fails, when it never
    /// will), paced by [`CloudVms::pacing`]; past its timeout the error
    /// is transient and says the VM's last state.
    fn wait_for<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        what: &'a str,
        done: impl Fn(&Self::Vm) -> Result<bool> + Send + 'a,
    ) -> impl Future<Output = Result<Self::Vm>> + Send + 'a
    where
        Self: Sized,
    {
        self.wait_with(cluster, id, what, move |vm| {
            let accepted = done(&vm);
            async move { accepted.map(|ok| (vm, ok)) }
        })
    }

    /// [`CloudVms::wait_for`] with a `done` that calls the cloud: it
    /// takes the VM and gives it back with its verdict.
    fn wait_with<'a, F>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
        what: &'a str,
        mut done: impl FnMut(Self::Vm) -> F + Send + 'a,
    ) -> impl Future<Output = Result<Self::Vm>> + Send + 'a
    where
        Self: Sized,
        F: Future<Output = Result<(Self::Vm, bool)>> + Send + 'a,
    {
        async move {
            let pacing = self.pacing();
            let mut poll = pacing.start();
            loop {
                let vm = self.owned_or_not_found(cluster, id).await?;
                let (vm, accepted) = done(vm).await?;
                if accepted {
                    return Ok(vm);
                }
                if poll.expired() {
                    return Err(ProviderError::Transient(format!(
                        "{} {id} is not {what} after {:?} ({})",
                        Self::NOUN,
                        pacing.timeout,
                        Self::state_of(&vm)
                    )));
                }
                poll.pause().await;
            }
        }
    }

    /// The VM's info if it is the cluster's (`Provider::vm_info`).
    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> impl Future<Output = Result<Option<VmInfo>>> + Send + 'a {
        async move {
            match self.owned(cluster, id).await? {
                Some(vm) => Ok(Some(self.info(cluster, id, &vm).await?)),
                None => Ok(None),
            }
        }
    }

    /// How to log in (`Provider::ssh_access`): the VM's first address
    /// (asked again when `vm` has none yet), the user its marks recorded.
    fn access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> impl Future<Output = Result<SshAccess>> + Send + 'a {
        async move {
            let now = self.owned_or_not_found(cluster, &vm.id).await?;
            let host = match vm.addresses.first() {
                Some(a) => a.clone(),
                None => self
                    .info(cluster, &vm.id, &now)
                    .await?
                    .addresses
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        ProviderError::Transient(format!(
                            "{} {} has no address yet",
                            Self::NOUN,
                            vm.id
                        ))
                    })?,
            };
            let user = Self::login_of(&now)
                .filter(|u| !u.is_empty())
                .unwrap_or(Self::DEFAULT_LOGIN);
            Ok(SshAccess::cloud(host, user.to_string()))
        }
    }
}

/// Says that a create found the VM an earlier try made for its token
/// (one that crashed before recording it) and makes no second one.
pub(crate) fn reusing(noun: &str, req: &VmRequest, id: &str) {
    tracing::info!(
        cluster = req.cluster,
        node = req.node,
        id,
        "{noun} for this token exists; not creating another"
    );
}

/// What is known of a VM just made that the cloud cannot show yet.
pub(crate) fn just_made(id: String, req: &VmRequest) -> VmInfo {
    VmInfo {
        id,
        node: Some(req.node.clone()),
        token: Some(req.token.clone()),
        addresses: Vec::new(),
        status: VmStatus::Pending,
    }
}
