//! The documents nubo reads from Nova (compute API v2.1), Neutron
//! (networking API v2.0) and Glance (image API v2): only the fields it
//! uses; every other field is ignored.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Deserialize;

use crate::provider::VmStatus;

// ---- Nova ----

#[derive(Clone, Debug, Deserialize)]
pub struct Server {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: ServerStatus,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Addresses by network name, in the order Nova lists them.
    #[serde(default)]
    pub addresses: IndexMap<String, Vec<ServerAddress>>,
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    pub task_state: Option<String>,
    #[serde(default)]
    pub fault: Option<ServerFault>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerAddress {
    pub addr: String,
    #[serde(default)]
    pub version: Option<u8>,
    /// `fixed` or `floating`.
    #[serde(rename = "OS-EXT-IPS:type", default)]
    pub kind: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerFault {
    #[serde(default)]
    pub message: String,
}

#[derive(Debug, Deserialize)]
pub struct ServerOne {
    pub server: Server,
}

#[derive(Debug, Deserialize)]
pub struct ServerList {
    pub servers: Vec<Server>,
    #[serde(default)]
    pub servers_links: Vec<Link>,
}

#[derive(Debug, Deserialize)]
pub struct Link {
    pub rel: String,
    #[serde(default)]
    pub href: String,
}

/// The answer to `POST /servers`.
#[derive(Debug, Deserialize)]
pub struct CreatedServer {
    pub server: CreatedServerId,
}

#[derive(Debug, Deserialize)]
pub struct CreatedServerId {
    pub id: String,
}

/// A server's `status` (Nova's server status values); one Nova adds
/// later is kept as written.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(from = "String")]
pub enum ServerStatus {
    Active,
    Build,
    Deleted,
    Error,
    HardReboot,
    Migrating,
    Password,
    Paused,
    Reboot,
    Rebuild,
    Rescue,
    Resize,
    RevertResize,
    Shelved,
    ShelvedOffloaded,
    Shutoff,
    SoftDeleted,
    Suspended,
    Unknown,
    VerifyResize,
    Other(String),
}

impl ServerStatus {
    const NAMES: &[(ServerStatus, &str)] = &[
        (ServerStatus::Active, "ACTIVE"),
        (ServerStatus::Build, "BUILD"),
        (ServerStatus::Deleted, "DELETED"),
        (ServerStatus::Error, "ERROR"),
        (ServerStatus::HardReboot, "HARD_REBOOT"),
        (ServerStatus::Migrating, "MIGRATING"),
        (ServerStatus::Password, "PASSWORD"),
        (ServerStatus::Paused, "PAUSED"),
        (ServerStatus::Reboot, "REBOOT"),
        (ServerStatus::Rebuild, "REBUILD"),
        (ServerStatus::Rescue, "RESCUE"),
        (ServerStatus::Resize, "RESIZE"),
        (ServerStatus::RevertResize, "REVERT_RESIZE"),
        (ServerStatus::Shelved, "SHELVED"),
        (ServerStatus::ShelvedOffloaded, "SHELVED_OFFLOADED"),
        (ServerStatus::Shutoff, "SHUTOFF"),
        (ServerStatus::SoftDeleted, "SOFT_DELETED"),
        (ServerStatus::Suspended, "SUSPENDED"),
        (ServerStatus::Unknown, "UNKNOWN"),
        (ServerStatus::VerifyResize, "VERIFY_RESIZE"),
    ];

    /// As Nova writes it.
    pub fn as_str(&self) -> &str {
        match self {
            ServerStatus::Other(s) => s,
            known => Self::NAMES
                .iter()
                .find(|(v, _)| v == known)
                .map_or("", |(_, name)| name),
        }
    }

    /// As a [`VmStatus`].
    pub fn vm_status(&self) -> VmStatus {
        use ServerStatus::*;
        match self {
            Build | Rebuild | Reboot | HardReboot | Resize | VerifyResize | RevertResize
            | Migrating | Password => VmStatus::Pending,
            Active => VmStatus::Running,
            Shutoff | Suspended | Paused | Shelved | ShelvedOffloaded => VmStatus::Stopped,
            Error => VmStatus::Failed,
            Deleted | SoftDeleted => VmStatus::Terminated,
            Rescue | Unknown | Other(_) => VmStatus::Unknown,
        }
    }
}

impl From<String> for ServerStatus {
    fn from(s: String) -> Self {
        Self::NAMES
            .iter()
            .find(|(_, name)| *name == s)
            .map_or(ServerStatus::Other(s), |(v, _)| v.clone())
    }
}

impl Default for ServerStatus {
    /// A document without a status.
    fn default() -> Self {
        ServerStatus::Other(String::new())
    }
}

impl std::fmt::Display for ServerStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Server {
    pub fn vm_status(&self) -> VmStatus {
        if self.task_state.as_deref() == Some("deleting") {
            return VmStatus::Terminated;
        }
        self.status.vm_status()
    }

    /// Floating addresses first, then fixed ones, in Nova's order.
    pub fn addresses(&self) -> Vec<String> {
        let all = self.addresses.values().flatten();
        let floating = all
            .clone()
            .filter(|a| a.kind.as_deref() == Some("floating"));
        let fixed = all.filter(|a| a.kind.as_deref() != Some("floating"));
        let mut out: Vec<String> = Vec::new();
        for a in floating.chain(fixed) {
            if !out.contains(&a.addr) {
                out.push(a.addr.clone());
            }
        }
        out
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub vcpus: u64,
    /// MiB.
    pub ram: u64,
    /// GiB of root disk (0: the image's size).
    #[serde(default)]
    pub disk: u64,
    #[serde(rename = "OS-FLV-DISABLED:disabled", default)]
    pub disabled: bool,
    /// Present from compute microversion 2.61 on.
    #[serde(default)]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct FlavorList {
    pub flavors: Vec<Flavor>,
}

#[derive(Debug, Deserialize)]
pub struct ExtraSpecs {
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
}

// ---- Glance ----

#[derive(Clone, Debug, Deserialize)]
pub struct Image {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub status: String,
}

// ---- Neutron ----

#[derive(Clone, Debug, Deserialize)]
pub struct Network {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "router:external", default)]
    pub external: bool,
    #[serde(default)]
    pub status: String,
}

#[derive(Debug, Deserialize)]
pub struct NetworkList {
    pub networks: Vec<Network>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Port {
    pub id: String,
    pub network_id: String,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FixedIp {
    #[serde(default)]
    pub ip_address: String,
}

#[derive(Debug, Deserialize)]
pub struct PortList {
    pub ports: Vec<Port>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub floating_ip_address: String,
    #[serde(default)]
    pub floating_network_id: String,
    #[serde(default)]
    pub port_id: Option<String>,
    #[serde(default)]
    pub description: String,
}

#[derive(Debug, Deserialize)]
pub struct FloatingIpList {
    pub floatingips: Vec<FloatingIp>,
}

#[derive(Debug, Deserialize)]
pub struct FloatingIpOne {
    pub floatingip: FloatingIp,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub security_group_rules: Vec<SecurityGroupRule>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SecurityGroupRule {
    #[serde(default)]
    pub id: String,
    pub direction: String,
    #[serde(default)]
    pub ethertype: String,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port_range_min: Option<u32>,
    #[serde(default)]
    pub port_range_max: Option<u32>,
    #[serde(default)]
    pub remote_ip_prefix: Option<String>,
    #[serde(default)]
    pub remote_group_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SecurityGroupList {
    pub security_groups: Vec<SecurityGroup>,
}

#[derive(Debug, Deserialize)]
pub struct SecurityGroupOne {
    pub security_group: SecurityGroup,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for (s, v) in [
            ("BUILD", VmStatus::Pending),
            ("ACTIVE", VmStatus::Running),
            ("SHUTOFF", VmStatus::Stopped),
            ("ERROR", VmStatus::Failed),
            ("DELETED", VmStatus::Terminated),
            ("SOFT_DELETED", VmStatus::Terminated),
            ("REBOOT", VmStatus::Pending),
            ("UNKNOWN", VmStatus::Unknown),
            ("RESCUE", VmStatus::Unknown),
            ("NEW_IN_2030", VmStatus::Unknown),
        ] {
            let status = ServerStatus::from(s.to_string());
            assert_eq!(status.vm_status(), v, "{s}");
            assert_eq!(status.to_string(), s, "{s}");
        }
        assert_eq!(
            ServerStatus::from("SHUTOFF".to_string()),
            ServerStatus::Shutoff
        );
    }

    #[test]
    fn a_server_document() {
        let s: ServerOne = serde_json::from_str(
            r#"{"server": {"id": "9168b536", "name": "nubo-web-front", "status": "ACTIVE",
                "OS-EXT-STS:task_state": null,
                "metadata": {"nubo_cluster": "web"},
                "addresses": {"zeta": [
                    {"addr": "192.0.2.10", "version": 4, "OS-EXT-IPS:type": "fixed"},
                    {"addr": "203.0.113.5", "version": 4, "OS-EXT-IPS:type": "floating"}],
                  "alpha": [{"addr": "198.51.100.7", "version": 4, "OS-EXT-IPS:type": "fixed"}]},
                "flavor": {"id": "1"}, "links": []}}"#,
        )
        .unwrap();
        assert_eq!(s.server.status, ServerStatus::Active);
        assert_eq!(s.server.vm_status(), VmStatus::Running);
        assert_eq!(
            s.server.addresses(),
            ["203.0.113.5", "192.0.2.10", "198.51.100.7"]
        );
        assert_eq!(s.server.metadata["nubo_cluster"], "web");
    }
}
