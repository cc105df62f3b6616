//! An infrastructure's VMs as the Infrastructure Manager shows them: IM's
//! numbering (the VM number across the cluster in deploy order, the
//! front-end first), IM's state names, and each VM's RADL (its networks
//! and one system carrying `state`, the addresses and the provider).

use super::im_state;
use crate::model::ClusterSpec;
use crate::state::{ClusterDetail, VmState};

/// One VM as IM shows it.
#[derive(Clone, Debug)]
pub struct ImVm {
    pub id: u32,
    /// The node's name in the cluster.
    pub node: String,
    pub state: &'static str,
    /// `(feature, value)` of its system, as its RADL writes them.
    pub features: Vec<(String, String)>,
    /// The `network` lines of its RADL.
    pub networks: Vec<String>,
    pub system: String,
    /// Its configuration steps' logs.
    pub log: String,
}

impl ImVm {
    /// The VM's RADL: its networks, then its system.
    pub fn radl(&self) -> String {
        let mut out = String::new();
        for n in &self.networks {
            out.push_str(n);
            out.push('\n');
        }
        out.push_str(&format!("system {} (\n", self.system));
        let body: Vec<String> = self
            .features
            .iter()
            .map(|(k, v)| format!("{k} = '{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect();
        out.push_str(&body.join(" and\n"));
        out.push_str("\n)\n");
        out
    }

    /// A feature's value (`state`, `net_interface.0.ip`, ...).
    pub fn feature(&self, name: &str) -> Option<&str> {
        self.features
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The VMs of a recorded cluster, by IM id. `spec` is the cluster's
/// description lowered (for the numbering and the networks), when it can
/// be read; `provider_kind` names a provider id's type.
pub fn im_vms(
    detail: &ClusterDetail,
    spec: Option<&ClusterSpec>,
    provider_kind: &dyn Fn(&str) -> String,
) -> Vec<ImVm> {
    let numbers: Vec<(String, u32)> = spec
        .map(|s| {
            s.instances()
                .into_iter()
                .map(|i| (i.name, i.number))
                .collect()
        })
        .unwrap_or_default();
    let mut next = numbers.iter().map(|(_, n)| n + 1).max().unwrap_or(0);
    let mut out = Vec::new();
    let mut vms: Vec<_> = detail
        .vms
        .iter()
        .filter(|v| v.state != VmState::Destroyed)
        .collect();
    vms.sort_by_key(|v| v.created_at);
    for vm in vms {
        let id = match numbers.iter().find(|(n, _)| *n == vm.node) {
            Some((_, n)) => *n,
            None => {
                next += 1;
                next - 1
            }
        };
        let state = im_state::vm_state(detail.cluster.status, vm, &detail.steps);
        let mut features = vec![("state".to_string(), state.to_string())];
        if let Some(pid) = &vm.provider_vm_id {
            features.push(("instance_id".into(), pid.clone()));
        }
        features.push(("instance_name".into(), vm.node.clone()));
        let mut networks = Vec::new();
        let system = spec.and_then(|s| s.system(&vm.system));
        if let Some(sys) = system {
            for (i, ifc) in sys.interfaces.iter().enumerate() {
                if let Some(net) =
                    spec.and_then(|s| s.networks.iter().find(|n| n.name == ifc.network))
                {
                    let line = if net.public {
                        format!("network {} (outbound = 'yes')", net.name)
                    } else {
                        format!("network {} ()", net.name)
                    };
                    if !networks.contains(&line) {
                        networks.push(line);
                    }
                }
                features.push((format!("net_interface.{i}.connection"), ifc.network.clone()));
                if let Some(ip) = vm.addresses.get(i) {
                    features.push((format!("net_interface.{i}.ip"), ip.clone()));
                }
                features.push((
                    format!("net_interface.{i}.dns_name"),
                    ifc.dns_name.clone().unwrap_or_else(|| vm.node.clone()),
                ));
            }
            if let Some(url) = &sys.image_url {
                features.push(("disk.0.image.url".into(), url.clone()));
            }
        } else if let Some(ip) = vm.addresses.first() {
            features.push(("net_interface.0.ip".into(), ip.clone()));
        }
        features.push(("provider.type".into(), provider_kind(&vm.provider)));
        let mut log = String::new();
        for s in detail.steps.iter().filter(|s| s.key.node == vm.node) {
            log.push_str(&format!(
                "step {} of {} ({}):\n{}",
                s.key.step, s.key.configure, s.status, s.log
            ));
            if !s.log.ends_with('\n') {
                log.push('\n');
            }
        }
        out.push(ImVm {
            id,
            node: vm.node.clone(),
            state,
            features,
            networks,
            system: vm.system.clone(),
            log,
        });
    }
    out.sort_by_key(|v| v.id);
    out
}
