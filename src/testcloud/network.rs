//! A test cloud's networks: one bridge and one /24 of 10.250.224.0/19 each.
//!
//! - *public* (an OpenStack floating IP's network, OpenNebula's public
//!   network, the VPC subnet of moto's front-end): the host has the address
//!   `.1` on the bridge and reaches the hosts' addresses there;
//! - *private*: the bridge has no address and IPv6 is off on it (no
//!   link-local address either), and the host gets an `unreachable` route
//!   for the /24: the host cannot reach the hosts there, and a try fails at
//!   once instead of leaving the machine by its default route.
//!
//! Forwarding is off on every bridge; no NAT or iptables rule is added.
//!
//! An *adopted* network ([`TestCloud::adopt_network`]) is a bridge some
//! other system made and keeps (the real OpenStack's `bridge_mappings`
//! bridges, `scripts/openstack-test-cloud.sh`): hosts are plugged into it
//! as into the cloud's own, but the test cloud never sets it up, changes
//! or deletes it; its /24 is the other system's.
//! The /24 is picked from 10.250.224.0/19 (third octets 224 to 255, which
//! the local provider never gives a cluster: see
//! [`naming::TESTCLOUD_FIRST_OCTET`]), skipping every /24 an address or a
//! route of the host already uses (other test clouds' networks among them,
//! from any root), under the local provider's host lock.

use std::net::Ipv4Addr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{TestCloud, TestCloudError};
use crate::provider::local::bridge::HostLock;
use crate::provider::local::{cmd, naming};

/// Whether the host reaches a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Private,
    Public,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Private => "private",
            Role::Public => "public",
        }
    }
}

/// A network of a test cloud, as recorded in `networks/NAME.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub role: Role,
    /// The bridge in the root network namespace, `nbHnK`.
    pub bridge: String,
    /// The third octet of `10.250.X.0/24`.
    pub octet: u8,
    /// The bridge is another system's (see the module's doc).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adopted: bool,
}

impl Network {
    /// `10.250.X.0/24`.
    pub fn cidr(&self) -> String {
        format!("10.{}.{}.0/24", naming::POOL_OCTET, self.octet)
    }

    pub fn prefix_len(&self) -> u8 {
        24
    }

    /// The address `10.250.X.last`.
    pub fn address(&self, last: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, naming::POOL_OCTET, self.octet, last)
    }

    /// The host's address on a public network (`.1`); none on a private one.
    pub fn host_ip(&self) -> Option<Ipv4Addr> {
        (self.role == Role::Public).then(|| self.address(1))
    }

    /// Why `ip` cannot be a host's address here, if it cannot.
    pub fn check_address(&self, ip: Ipv4Addr) -> Result<(), String> {
        let [a, b, c, d] = ip.octets();
        if (a, b, c) != (10, naming::POOL_OCTET, self.octet) {
            return Err("it is outside the network".into());
        }
        match d {
            0 => Err("it is the network's own address".into()),
            255 => Err("it is the broadcast address".into()),
            1 if self.role == Role::Public => Err("it is this machine's address".into()),
            _ => Ok(()),
        }
    }
}

/// `nbHn`: the prefix of the cloud's bridges.
pub fn bridge_prefix(link_prefix: &str) -> String {
    format!("{link_prefix}n")
}

/// Bridges per cloud: `nbHn0` to `nbHn99` (15 bytes at most).
const MAX_NETWORKS: usize = 100;

impl TestCloud {
    fn network_file(&self, name: &str) -> std::path::PathBuf {
        self.networks_dir().join(format!("{name}.json"))
    }

    /// The cloud's networks, from their files.
    pub fn networks(&self) -> Result<Vec<Network>, TestCloudError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(self.networks_dir())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "json") {
                out.push(read_network(&path)?);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The network `name`, as recorded.
    pub fn find_network(&self, name: &str) -> Result<Network, TestCloudError> {
        let path = self.network_file(name);
        if !path.exists() {
            return Err(TestCloudError::NoNetwork {
                cloud: self.name.clone(),
                network: name.to_string(),
            });
        }
        read_network(&path)
    }

    /// The network `name` with `role`: made (a free /24, its bridge, the
    /// host's address or unreachable route) unless it exists; an existing
    /// one is brought up again as recorded. Idempotent.
    pub fn network(&self, name: &str, role: Role) -> Result<Network, TestCloudError> {
        naming::check_node(name).map_err(|_| TestCloudError::Invalid {
            what: "network name",
            value: name.to_string(),
            why: "a network name has letters, digits, `-` and `.` (like a hostname)".into(),
        })?;
        let _lock = HostLock::acquire()?;
        let path = self.network_file(name);
        let net = if path.exists() {
            let net = read_network(&path)?;
            if net.role != role {
                return Err(TestCloudError::NetworkRole {
                    cloud: self.name.clone(),
                    network: name.to_string(),
                    existing: net.role.as_str(),
                });
            }
            net
        } else {
            let others = self.networks()?;
            let prefix = bridge_prefix(&self.link_prefix());
            let bridge = (0..MAX_NETWORKS)
                .map(|k| format!("{prefix}{k}"))
                .find(|b| others.iter().all(|n| &n.bridge != b))
                .ok_or_else(|| TestCloudError::NoFreeSubnet {
                    cloud: self.name.clone(),
                    network: name.to_string(),
                })?;
            let used = host_networks()?;
            let octet = (naming::TESTCLOUD_FIRST_OCTET..=255)
                .find(|o| {
                    let needle = format!("10.{}.{o}.", naming::POOL_OCTET);
                    others.iter().all(|n| n.octet != *o) && !used.contains(&needle)
                })
                .ok_or_else(|| TestCloudError::NoFreeSubnet {
                    cloud: self.name.clone(),
                    network: name.to_string(),
                })?;
            let net = Network {
                name: name.to_string(),
                role,
                bridge,
                octet,
                adopted: false,
            };
            let text = serde_json::to_string_pretty(&net).expect("a network serializes");
            std::fs::write(&path, text)
                .map_err(|e| TestCloudError::io("cannot write", &path, e))?;
            net
        };
        if net.adopted {
            return Err(TestCloudError::Invalid {
                what: "network",
                value: name.to_string(),
                why: format!("it is adopted (bridge {}): use adopt_network", net.bridge),
            });
        }
        bring_up(&net)?;
        Ok(net)
    }

    /// Records the existing bridge `bridge`, on `10.250.OCTET.0/24`, as
    /// the network `name` with `role`, without touching it: hosts are
    /// plugged into it, and [`destroy`](TestCloud::destroy) and
    /// [`delete_network`](TestCloud::delete_network) leave it. For a
    /// public role the machine must have `.1` on it; for a private one it
    /// must have no address in the /24 (it must not reach the hosts).
    /// Idempotent.
    pub fn adopt_network(
        &self,
        name: &str,
        role: Role,
        bridge: &str,
        octet: u8,
    ) -> Result<Network, TestCloudError> {
        naming::check_node(name).map_err(|_| TestCloudError::Invalid {
            what: "network name",
            value: name.to_string(),
            why: "a network name has letters, digits, `-` and `.` (like a hostname)".into(),
        })?;
        let _lock = HostLock::acquire()?;
        if !cmd::link_exists(bridge) {
            return Err(TestCloudError::Invalid {
                what: "bridge",
                value: bridge.to_string(),
                why: format!("it does not exist: the system that owns network `{name}` makes it"),
            });
        }
        let net = Network {
            name: name.to_string(),
            role,
            bridge: bridge.to_string(),
            octet,
            adopted: true,
        };
        let addrs = cmd::run(
            "listing a bridge's addresses",
            "ip",
            &["-4", "-o", "addr", "show", "dev", bridge],
            None,
        )?;
        let needle = format!("10.{}.{octet}.", naming::POOL_OCTET);
        let has_host_ip = addrs.contains(&format!(" {}/", net.address(1)));
        let has_other = addrs.lines().any(|l| l.contains(&needle));
        match role {
            Role::Public if !has_host_ip => {
                return Err(TestCloudError::Invalid {
                    what: "public network",
                    value: name.to_string(),
                    why: format!(
                        "bridge {bridge} has not this machine's address {}/24",
                        net.address(1)
                    ),
                });
            }
            Role::Private if has_other => {
                return Err(TestCloudError::Invalid {
                    what: "private network",
                    value: name.to_string(),
                    why: format!(
                        "bridge {bridge} has an address of {}: this machine would reach its hosts",
                        net.cidr()
                    ),
                });
            }
            _ => {}
        }
        let path = self.network_file(name);
        if path.exists() {
            let old = read_network(&path)?;
            if old != net {
                return Err(TestCloudError::Invalid {
                    what: "network",
                    value: name.to_string(),
                    why: format!("it exists already as {old:?}"),
                });
            }
            return Ok(net);
        }
        let text = serde_json::to_string_pretty(&net).expect("a network serializes");
        std::fs::write(&path, text).map_err(|e| TestCloudError::io("cannot write", &path, e))?;
        Ok(net)
    }

    /// Deletes a network's bridge, route and file. The hosts on it must be
    /// removed first.
    pub fn delete_network(&self, name: &str) -> Result<(), TestCloudError> {
        let _lock = HostLock::acquire()?;
        let net = self.find_network(name)?;
        if !net.adopted {
            delete(&net)?;
        }
        let path = self.network_file(name);
        std::fs::remove_file(&path).map_err(|e| TestCloudError::io("cannot remove", &path, e))
    }
}

fn read_network(path: &Path) -> Result<Network, TestCloudError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| TestCloudError::io("cannot read", path, e))?;
    serde_json::from_str(&text).map_err(|e| TestCloudError::Invalid {
        what: "network file",
        value: path.display().to_string(),
        why: e.to_string(),
    })
}

/// The host's IPv4 addresses and routes, as `ip` prints them (one text).
fn host_networks() -> Result<String, TestCloudError> {
    let mut text = cmd::run(
        "listing host addresses",
        "ip",
        &["-4", "-o", "addr", "show"],
        None,
    )?;
    text.push_str(&cmd::run(
        "listing host routes",
        "ip",
        &["-4", "-o", "route", "show", "table", "all"],
        None,
    )?);
    Ok(text)
}

fn write_sysctl(path: &str, value: &str) -> Result<(), TestCloudError> {
    match std::fs::write(path, value) {
        Ok(()) => Ok(()),
        // No IPv6 on this host.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.contains("ipv6") => Ok(()),
        Err(e) => Err(TestCloudError::io("cannot write", path, e)),
    }
}

/// Turns IPv6 off on an interface of the root namespace (no link-local
/// address: no way in from the host on a private network).
pub(crate) fn ipv6_off(link: &str) -> Result<(), TestCloudError> {
    write_sysctl(&format!("/proc/sys/net/ipv6/conf/{link}/disable_ipv6"), "1")
}

/// The bridge, up, with forwarding off; the host's address (public) or
/// IPv6 off and an unreachable route (private).
fn bring_up(net: &Network) -> Result<(), TestCloudError> {
    let br = &net.bridge;
    if !cmd::link_exists(br) {
        let mac = naming::bridge_mac(&format!("testcloud bridge {br}"));
        cmd::run(
            "creating a test cloud bridge",
            "ip",
            &[
                "link",
                "add",
                "name",
                br,
                "address",
                &mac,
                "type",
                "bridge",
                "forward_delay",
                "0",
            ],
            None,
        )?;
    }
    write_sysctl(&format!("/proc/sys/net/ipv4/conf/{br}/forwarding"), "0")?;
    write_sysctl(&format!("/proc/sys/net/ipv6/conf/{br}/forwarding"), "0")?;
    let batch = match net.host_ip() {
        Some(ip) => format!("addr replace {ip}/24 dev {br}\nlink set dev {br} up\n"),
        None => {
            ipv6_off(br)?;
            format!(
                "route replace unreachable {}\nlink set dev {br} up\n",
                net.cidr()
            )
        }
    };
    cmd::run(
        "setting up a test cloud bridge",
        "ip",
        &["-batch", "-"],
        Some(&batch),
    )?;
    Ok(())
}

/// Removes the bridge and the private network's route (an adopted
/// network's are not the test cloud's: left alone).
pub(crate) fn delete(net: &Network) -> Result<(), TestCloudError> {
    if net.adopted {
        return Ok(());
    }
    if net.role == Role::Private {
        let routes = host_networks()?;
        let route = format!("unreachable {}", net.cidr());
        if routes.lines().any(|l| l.trim_start().starts_with(&route)) {
            cmd::run(
                "removing a test cloud route",
                "ip",
                &["route", "del", "unreachable", &net.cidr()],
                None,
            )?;
        }
    }
    cmd::delete_link(&net.bridge)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_of_a_network() {
        let public = Network {
            name: "pub".into(),
            role: Role::Public,
            bridge: "nb01234567n0".into(),
            octet: 230,
            adopted: false,
        };
        assert_eq!(public.cidr(), "10.250.230.0/24");
        assert_eq!(public.host_ip(), Some(Ipv4Addr::new(10, 250, 230, 1)));
        assert!(public.check_address(public.address(10)).is_ok());
        for bad in [0, 1, 255] {
            assert!(public.check_address(public.address(bad)).is_err(), "{bad}");
        }
        assert!(
            public
                .check_address(Ipv4Addr::new(10, 250, 231, 10))
                .is_err()
        );
        let private = Network {
            role: Role::Private,
            ..public
        };
        assert_eq!(private.host_ip(), None);
        assert!(private.check_address(private.address(1)).is_ok());
    }
}
