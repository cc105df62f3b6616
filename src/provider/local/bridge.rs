//! The cluster's bridge and subnet.
//!
//! Each cluster has a Linux bridge `nb-H` in the root network namespace with
//! the host address `10.250.X.1/24`, so nubo (on the host) reaches every node
//! directly. The third octet X is tried first from a hash of the cluster name,
//! then upwards (skipping 224 to 255, kept for the test clouds:
//! [`naming::TESTCLOUD_FIRST_OCTET`]) until a /24 is found that no interface, route or other
//! cluster of the same root uses; the choice is recorded in the cluster's
//! `subnet` file and kept for the cluster's life.
//!
//! Nothing leaves the bridge: IPv4 and IPv6 forwarding are off for it, no
//! NAT or iptables rule is added, and nodes have no default route.

use std::net::Ipv4Addr;
use std::path::Path;

use super::cmd;
use super::error::LocalError;
use super::naming::{self, ClusterPaths, POOL_OCTET};

/// The host-wide lock that serialises subnet choice and bridge set-up
/// between nubo processes (and threads) using any root.
pub struct HostLock {
    _file: std::fs::File,
}

const LOCK_PATH: &str = "/run/nubo-local.lock";

impl HostLock {
    pub fn acquire() -> Result<HostLock, LocalError> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(LOCK_PATH)
            .map_err(|e| LocalError::io("cannot open lock file", LOCK_PATH, e))?;
        loop {
            // SAFETY: flock on a descriptor we own; released when it closes.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if r == 0 {
                return Ok(HostLock { _file: f });
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(LocalError::io("cannot lock", LOCK_PATH, e));
            }
        }
    }
}

/// An IPv4 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Net {
    addr: u32,
    len: u8,
}

impl Net {
    fn parse(s: &str) -> Option<Net> {
        let (a, l) = s.split_once('/').unwrap_or((s, "32"));
        Some(Net {
            addr: u32::from(a.parse::<Ipv4Addr>().ok()?),
            len: l.parse().ok().filter(|&l| l <= 32)?,
        })
    }
    fn overlaps(&self, other: &Net) -> bool {
        let len = self.len.min(other.len);
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        self.addr & mask == other.addr & mask
    }
}

fn cluster_net(octet: u8) -> Net {
    Net {
        addr: u32::from(Ipv4Addr::new(10, POOL_OCTET, octet, 0)),
        len: 24,
    }
}

/// What uses 10.250.0.0/16 on this host outside our bridge: (net, who).
/// Prefixes shorter than /16 (a VPN's 10.0.0.0/8, the default route) do not
/// count: the cluster's /24 is more specific and wins for its own range.
fn used_networks(own_bridge: &str) -> Result<Vec<(Net, String)>, LocalError> {
    let mut used = Vec::new();
    let addrs = cmd::run(
        "listing host addresses",
        "ip",
        &["-4", "-o", "addr", "show"],
        None,
    )?;
    for line in addrs.lines() {
        // "3: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0 ..."
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[2] != "inet" || f[1] == own_bridge {
            continue;
        }
        if let Some(n) = Net::parse(f[3]) {
            let host = Net {
                addr: n.addr,
                len: 32,
            };
            used.push((
                if n.len >= 16 { n } else { host },
                format!("address {} on {}", f[3], f[1]),
            ));
        }
    }
    let routes = cmd::run(
        "listing host routes",
        "ip",
        &["-4", "-o", "route", "show"],
        None,
    )?;
    for line in routes.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let dev = f.windows(2).find(|w| w[0] == "dev").map(|w| w[1]);
        if f.is_empty() || f[0] == "default" || dev == Some(own_bridge) {
            continue;
        }
        if let Some(n) = Net::parse(f[0]).filter(|n| n.len >= 16) {
            used.push((n, format!("route {}", f[0])));
        }
    }
    Ok(used)
}

/// Third octets recorded by the other clusters of this root.
fn recorded_octets(root: &Path, own: &ClusterPaths) -> Vec<u8> {
    std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path() != own.dir)
        .filter_map(|e| std::fs::read_to_string(e.path().join("subnet")).ok())
        .filter_map(|s| parse_subnet(&s))
        .collect()
}

/// `10.250.X.0/24` → X.
pub fn parse_subnet(s: &str) -> Option<u8> {
    let n = Net::parse(s.trim())?;
    let [a, b, c, _] = Ipv4Addr::from(n.addr).octets();
    (a == 10 && b == POOL_OCTET && n.len == 24).then_some(c)
}

pub fn format_subnet(octet: u8) -> String {
    format!("10.{POOL_OCTET}.{octet}.0/24")
}

/// The cluster's third octet: the recorded one (checked to be still free),
/// else the first free one from the preferred octet on, then recorded.
/// Call with the [`HostLock`] held.
pub fn choose_octet(root: &Path, paths: &ClusterPaths, cluster: &str) -> Result<u8, LocalError> {
    let bridge = naming::cluster_id(cluster);
    let used = used_networks(&bridge)?;
    let user_of = |octet: u8| {
        let net = cluster_net(octet);
        used.iter()
            .find(|(n, _)| n.overlaps(&net))
            .map(|(_, who)| who.clone())
    };
    if let Some(octet) = cmd::read_opt(&paths.subnet_file())?
        .as_deref()
        .and_then(parse_subnet)
    {
        if let Some(user) = user_of(octet) {
            return Err(LocalError::SubnetTaken {
                cluster: cluster.to_string(),
                octet,
                user,
            });
        }
        return Ok(octet);
    }
    let recorded = recorded_octets(root, paths);
    let start = naming::preferred_octet(cluster);
    let octet = (0..=255u8)
        .map(|i| start.wrapping_add(i))
        .filter(|&o| o < naming::TESTCLOUD_FIRST_OCTET)
        .find(|&o| !recorded.contains(&o) && user_of(o).is_none())
        .ok_or_else(|| LocalError::NoFreeSubnet {
            cluster: cluster.to_string(),
        })?;
    cmd::write_file(
        &paths.subnet_file(),
        format!("{}\n", format_subnet(octet)).as_bytes(),
        0o644,
    )?;
    Ok(octet)
}

fn write_sysctl(path: &str, value: &str) -> Result<(), LocalError> {
    match std::fs::write(path, value) {
        Ok(()) => Ok(()),
        // No IPv6 on this host: nothing to forward.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.contains("ipv6") => Ok(()),
        Err(e) => Err(LocalError::io("cannot write", path, e)),
    }
}

/// Whether the cluster's bridge exists, is a bridge, and is up (from
/// `/sys`, without running anything).
pub fn is_up(cluster: &str) -> bool {
    let dir = Path::new("/sys/class/net").join(naming::cluster_id(cluster));
    dir.join("bridge").is_dir()
        && std::fs::read_to_string(dir.join("flags"))
            .ok()
            .and_then(|f| u32::from_str_radix(f.trim().trim_start_matches("0x"), 16).ok())
            .is_some_and(|flags| flags & libc::IFF_UP as u32 != 0)
}

/// Creates the bridge if missing, turns forwarding off on it, gives it the
/// host address and brings it up. Idempotent. Call with the [`HostLock`].
pub fn ensure_bridge(cluster: &str, octet: u8) -> Result<String, LocalError> {
    let br = naming::cluster_id(cluster);
    if cmd::link_exists(&br)
        && !Path::new("/sys/class/net")
            .join(&br)
            .join("bridge")
            .exists()
    {
        return Err(LocalError::Command {
            what: "creating the cluster bridge".into(),
            command: format!("ip link add name {br} type bridge"),
            detail: format!("an interface named {br} exists and is not a bridge: delete it"),
        });
    }
    if !cmd::link_exists(&br) {
        let mac = naming::bridge_mac(cluster);
        cmd::run(
            "creating the cluster bridge",
            "ip",
            &[
                "link",
                "add",
                "name",
                &br,
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
    let host = format!("{}/24", naming::host_ip(octet));
    cmd::run(
        "setting up the cluster bridge",
        "ip",
        &["-batch", "-"],
        Some(&format!(
            "addr replace {host} dev {br}\nlink set dev {br} up\n"
        )),
    )?;
    Ok(br)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_overlap() {
        let a = Net::parse("10.250.7.0/24").unwrap();
        assert!(a.overlaps(&Net::parse("10.250.7.9").unwrap()));
        assert!(a.overlaps(&Net::parse("10.250.0.0/16").unwrap()));
        assert!(!a.overlaps(&Net::parse("10.250.8.0/24").unwrap()));
        assert!(!a.overlaps(&Net::parse("192.0.2.0/24").unwrap()));
    }

    #[test]
    fn subnet_text_round_trips() {
        assert_eq!(parse_subnet(&format_subnet(42)), Some(42));
        assert_eq!(parse_subnet("10.1.2.0/24"), None);
    }
}
