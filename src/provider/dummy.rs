//! [`Dummy`]: a provider whose VMs exist only in nubo's records, as the
//! Infrastructure Manager's `DummyCloudConnector`.
//!
//! What it is for: trying the REST API (`nubo serve`) and load-testing the
//! layers above the providers (state store, planning, the server) without
//! a cloud or root. The auth line `type = Dummy` selects it. Nothing is
//! made anywhere: a create answers at once with an id built from the
//! cluster, node and VM number, and an address in TEST-NET-1
//! (192.0.2.0/24, which routes nowhere); nubo never logs in to these VMs,
//! so configuration steps are recorded as succeeded at once
//! ([`Provider::configures_over_ssh`] is false). The only thing it keeps
//! is which VMs were stopped, in this process's memory: a VM it does not
//! know of runs (the records are the truth).

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use super::{BoxFuture, Provider, Result, SshAccess, VmInfo, VmRequest, VmStatus};
use crate::model::NetworkSpec;

/// The ids of the dummy VMs that are stopped, across every `Dummy`.
static STOPPED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(|| Mutex::new(HashSet::new()));

#[derive(Clone, Debug)]
pub struct Dummy {
    id: String,
}

impl Dummy {
    pub fn new(id: impl Into<String>) -> Dummy {
        Dummy { id: id.into() }
    }
}

/// `CLUSTER/NODE/NUMBER`: everything [`Dummy`] needs to answer for a VM.
fn vm_id(req: &VmRequest) -> String {
    format!("{}/{}/{}", req.cluster, req.node, req.number)
}

fn stopped() -> std::sync::MutexGuard<'static, HashSet<String>> {
    STOPPED.lock().unwrap_or_else(|p| p.into_inner())
}

/// The VM as its id describes it.
fn info(id: &str) -> VmInfo {
    let mut parts = id.rsplitn(3, '/');
    let number: u32 = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let node = parts.next().map(str::to_string);
    VmInfo {
        id: id.to_string(),
        node,
        token: None,
        addresses: vec![format!("192.0.2.{}", number % 254 + 1)],
        status: if stopped().contains(id) {
            VmStatus::Stopped
        } else {
            VmStatus::Running
        },
    }
}

impl Provider for Dummy {
    fn id(&self) -> &str {
        &self.id
    }

    fn kind(&self) -> &'static str {
        "Dummy"
    }

    fn check(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn ensure_network<'a>(
        &'a self,
        _cluster: &'a str,
        _network: &'a NetworkSpec,
        _token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async { Ok(None) })
    }

    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            let id = vm_id(req);
            stopped().remove(&id);
            Ok(info(&id))
        })
    }

    fn wait_running<'a>(&'a self, _cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move { Ok(info(id)) })
    }

    fn vm_info<'a>(
        &'a self,
        _cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>> {
        Box::pin(async move { Ok(Some(info(id))) })
    }

    fn stop_vm<'a>(&'a self, _cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            stopped().insert(id.to_string());
            Ok(())
        })
    }

    fn start_vm<'a>(&'a self, _cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>> {
        Box::pin(async move {
            stopped().remove(id);
            Ok(info(id))
        })
    }

    fn destroy_vm<'a>(&'a self, _cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            stopped().remove(id);
            Ok(())
        })
    }

    /// None: a dummy VM is wherever the records say it is.
    fn list_vms<'a>(&'a self, _cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let prefix = format!("{cluster}/");
            stopped().retain(|id| !id.starts_with(&prefix));
            Ok(())
        })
    }

    fn private_addresses_reachable(&self) -> bool {
        true
    }

    fn creates_at_once(&self) -> usize {
        64
    }

    fn configures_over_ssh(&self) -> bool {
        false
    }

    fn ssh_access<'a>(
        &'a self,
        _cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>> {
        Box::pin(async move {
            Ok(SshAccess::cloud(
                vm.addresses.first().cloned().unwrap_or_default(),
                "root".into(),
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vm_is_what_its_id_says_and_stops_and_starts() {
        let id = "c1/wn-2/3";
        let i = info(id);
        assert_eq!(i.node.as_deref(), Some("wn-2"));
        assert_eq!(i.addresses, ["192.0.2.4"]);
        assert_eq!(i.status, VmStatus::Running);
        let d = Dummy::new("dummy");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(d.stop_vm("c1", id)).unwrap();
        assert_eq!(info(id).status, VmStatus::Stopped);
        rt.block_on(d.start_vm("c1", id)).unwrap();
        assert_eq!(info(id).status, VmStatus::Running);
        rt.block_on(d.stop_vm("c1", id)).unwrap();
        rt.block_on(d.destroy_cluster("c1")).unwrap();
        assert_eq!(info(id).status, VmStatus::Running, "forgotten");
    }
}
