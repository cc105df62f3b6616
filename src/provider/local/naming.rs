//! Names, addresses and paths, all derived from the cluster and node names.
//!
//! Everything the provider creates on the host can be found again from the
//! cluster's name alone: that is what makes a destroy after a crash possible.
//!
//! | thing | name |
//! |---|---|
//! | cluster id (`H` = 8 hex digits of a hash of the cluster name) | `nb-H` |
//! | bridge (root network namespace) | `nb-H` |
//! | node network namespace | `nb-H-<index>` |
//! | host end of a node's veth pair | `nbHv<index>` (its peer is `eth0` in the node) |
//! | cluster directory | `<root>/nb-H/` |
//! | node directory | `<root>/nb-H/nodes/<name>/` |
//! | cluster subnet | `10.250.X.0/24`, X < 224 chosen from H and recorded (224 and up: test clouds) |
//! | host address | `10.250.X.1` on the bridge |
//! | node address | `10.250.X.(10 + index)` |
//! | node MAC | `02:` + 5 bytes of a hash of (cluster, node) |

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::error::LocalError;

/// Node indices run from 0 to this: the node address is `10 + index`.
pub const MAX_INDEX: u32 = 244;

/// The directories of the host that each node sees through its own overlay.
pub const OVERLAID: [&str; 6] = ["etc", "var", "usr", "opt", "home", "srv"];

/// Trees that nodes mount over, so the provider's root may not lie in them:
/// the overlaid ones, and `/root`, which is each node's own, started from
/// `/etc/skel` (see [`NodePaths::root_home`]).
pub const HIDDEN: [&str; 7] = ["etc", "var", "usr", "opt", "home", "srv", "root"];

/// The second octet of every cluster subnet: 10.250.0.0/16.
pub const POOL_OCTET: u8 = 250;

/// The first third octet kept for the test clouds' networks
/// (`crate::testcloud`): 10.250.224.0/19, octets 224 to 255, is never a
/// local cluster's subnet, so a test cloud's private network (a bridge
/// with no host address, which the probe for used subnets cannot see)
/// never shares a /24 with a local cluster.
pub const TESTCLOUD_FIRST_OCTET: u8 = 224;

/// FNV-1a, 64 bits: stable across Rust versions and machines, unlike std's
/// hasher, so names computed by one nubo are found again by the next.
pub fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator that no name contains, so ("ab","c") != ("a","bc").
            h ^= 0xff;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The 8 hex digits that name everything of one cluster.
pub fn cluster_hash(cluster: &str) -> String {
    let h = fnv1a(&[cluster.as_bytes()]);
    format!("{:08x}", (h ^ (h >> 32)) as u32)
}

/// `nb-H`: the cluster's id, bridge name and directory name.
pub fn cluster_id(cluster: &str) -> String {
    format!("nb-{}", cluster_hash(cluster))
}

/// The first third octet tried for the cluster's subnet.
pub fn preferred_octet(cluster: &str) -> u8 {
    (fnv1a(&[b"subnet", cluster.as_bytes()]) % 256) as u8
}

/// `nb-H-<index>`: the node's network namespace.
pub fn netns_name(cluster: &str, index: u32) -> String {
    format!("{}-{index}", cluster_id(cluster))
}

/// Prefix of every network namespace of the cluster.
pub fn netns_prefix(cluster: &str) -> String {
    format!("{}-", cluster_id(cluster))
}

/// `nbHv<index>`: the host end of the node's veth pair (at most 14 bytes).
pub fn veth_name(cluster: &str, index: u32) -> String {
    format!("{}{index}", veth_prefix(cluster))
}

/// Prefix of every host-side veth of the cluster.
pub fn veth_prefix(cluster: &str) -> String {
    format!("nb{}v", cluster_hash(cluster))
}

fn mac_from(h: u64) -> String {
    let b = h.to_be_bytes();
    // 0x02: locally administered, unicast.
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[3], b[4], b[5], b[6], b[7]
    )
}

/// The node's fixed MAC: a re-created node answers at once, with no stale
/// neighbour entry on the host or the other nodes.
pub fn node_mac(cluster: &str, name: &str) -> String {
    mac_from(fnv1a(&[b"node", cluster.as_bytes(), name.as_bytes()]))
}

/// The bridge's fixed MAC (otherwise it changes as ports come and go).
pub fn bridge_mac(cluster: &str) -> String {
    mac_from(fnv1a(&[b"bridge", cluster.as_bytes()]))
}

/// A per-node machine id (32 hex digits), so nodes differ from the host.
pub fn machine_id(cluster: &str, name: &str) -> String {
    let a = fnv1a(&[b"machine-id", cluster.as_bytes(), name.as_bytes()]);
    let b = fnv1a(&[b"machine-id-2", cluster.as_bytes(), name.as_bytes()]);
    format!("{a:016x}{b:016x}")
}

/// The host's address on the cluster bridge.
pub fn host_ip(octet: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, POOL_OCTET, octet, 1)
}

/// The node's address.
pub fn node_ip(octet: u8, index: u32) -> Ipv4Addr {
    debug_assert!(index <= MAX_INDEX);
    Ipv4Addr::new(10, POOL_OCTET, octet, (10 + index) as u8)
}

/// A cluster name: anything printable, not too long (it is only hashed and
/// written to a file, never used as a path or an interface name).
pub fn check_cluster(cluster: &str) -> Result<(), LocalError> {
    let bad = |why| {
        Err(LocalError::InvalidName {
            what: "cluster name",
            value: cluster.to_string(),
            why,
        })
    };
    if cluster.is_empty() {
        return bad("it is empty");
    }
    if cluster.len() > 200 {
        return bad("it is longer than 200 bytes");
    }
    if cluster.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    Ok(())
}

/// A node name is its hostname: dot-separated labels of letters, digits and
/// `-`, each 1 to 63 long, not starting or ending with `-`; 253 at most.
pub fn check_node(name: &str) -> Result<(), LocalError> {
    let bad = |why| {
        Err(LocalError::InvalidName {
            what: "node name",
            value: name.to_string(),
            why,
        })
    };
    if name.is_empty() || name.len() > 253 {
        return bad("a hostname is 1 to 253 characters long");
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return bad("each dot-separated part of a hostname is 1 to 63 characters long");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return bad("a hostname has only letters, digits, `-` and `.`");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return bad("a hostname part does not start or end with `-`");
        }
    }
    Ok(())
}

pub fn check_index(index: u32) -> Result<(), LocalError> {
    if index > MAX_INDEX {
        return Err(LocalError::IndexOutOfRange {
            index,
            max: MAX_INDEX,
        });
    }
    Ok(())
}

/// The root must be absolute, usable in overlayfs options, and outside every
/// overlaid tree (an upper directory inside a lower one is refused by the
/// kernel, and would be hidden inside the node anyway).
pub fn check_root(root: &Path) -> Result<(), LocalError> {
    let bad = |why| {
        Err(LocalError::BadRoot {
            path: root.to_path_buf(),
            why,
        })
    };
    let Some(s) = root.to_str() else {
        return bad("it is not UTF-8");
    };
    if !root.is_absolute() {
        return bad("it must be an absolute path");
    }
    if root
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return bad("it must not contain `..`");
    }
    if s.contains([',', ':', '\'', '\\', '\n', ' ', '\t']) {
        return bad(
            "it must not contain `,`, `:`, quotes, backslashes or blanks (overlayfs options)",
        );
    }
    let mut comps = root.components().skip(1);
    if let Some(first) = comps.next() {
        let first = first.as_os_str().to_string_lossy();
        if HIDDEN.contains(&first.as_ref()) {
            return bad(
                "it must lie outside /etc /var /usr /opt /root /home /srv, which nodes overlay: use e.g. /run/nubo/local or a directory under /tmp",
            );
        }
    } else {
        return bad("it must not be /");
    }
    Ok(())
}

/// Where one cluster's files live.
#[derive(Debug, Clone)]
pub struct ClusterPaths {
    pub dir: PathBuf,
}

impl ClusterPaths {
    pub fn new(root: &Path, cluster: &str) -> Self {
        ClusterPaths {
            dir: root.join(cluster_id(cluster)),
        }
    }
    /// Holds the cluster's name, to detect two names with one hash.
    pub fn name_file(&self) -> PathBuf {
        self.dir.join("cluster")
    }
    /// Holds the chosen third octet of the subnet.
    pub fn subnet_file(&self) -> PathBuf {
        self.dir.join("subnet")
    }
    pub fn user_key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }
    pub fn host_key(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }
    pub fn nodes_dir(&self) -> PathBuf {
        self.dir.join("nodes")
    }
    pub fn node(&self, name: &str) -> NodePaths {
        NodePaths {
            dir: self.nodes_dir().join(name),
        }
    }
    /// Text found in the command line of every process the cluster starts.
    pub fn cmdline_marker(&self) -> String {
        format!("{}/", self.nodes_dir().display())
    }
}

/// Where one node's files live.
#[derive(Debug, Clone)]
pub struct NodePaths {
    pub dir: PathBuf,
}

impl NodePaths {
    /// The node's index, written first so a half-created node can be found.
    pub fn index_file(&self) -> PathBuf {
        self.dir.join("index")
    }
    /// The init script of nodes started by earlier versions (removed at
    /// the next start: nodes start without one now).
    pub fn init_script(&self) -> PathBuf {
        self.dir.join("init.sh")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    /// `<pid> <start time>` of the node's init, while it runs.
    pub fn init_pid_file(&self) -> PathBuf {
        self.dir.join("init.pid")
    }
    pub fn upper(&self, d: &str) -> PathBuf {
        self.dir.join("upper").join(d)
    }
    pub fn work(&self, d: &str) -> PathBuf {
        self.dir.join("work").join(d)
    }
    /// The node's `/root`, bind-mounted: the host's `/root` is not shown to
    /// nodes (its keys and credentials stay on the host, and tools there
    /// that keep lock files, such as pyenv's, would see the host's locks
    /// through a stale overlay and hang every login).
    pub fn root_home(&self) -> PathBuf {
        self.dir.join("root-home")
    }
    /// Text found in the command line of the node's init.
    pub fn cmdline_marker(&self) -> String {
        format!("{}/", self.dir.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_linux_limits() {
        let c = "a very long cluster name that goes on and on";
        assert_eq!(cluster_id(c).len(), 11);
        assert!(veth_name(c, MAX_INDEX).len() <= 15);
        assert_eq!(netns_name(c, 3), format!("{}-3", cluster_id(c)));
    }

    #[test]
    fn derived_values_are_stable_and_distinct() {
        assert_eq!(cluster_hash("demo"), cluster_hash("demo"));
        assert_ne!(cluster_hash("demo"), cluster_hash("demo2"));
        assert_eq!(node_mac("c", "front"), node_mac("c", "front"));
        assert_ne!(node_mac("c", "front"), node_mac("c", "wn1"));
        assert!(node_mac("c", "front").starts_with("02:"));
        assert_eq!(node_ip(7, 2), Ipv4Addr::new(10, 250, 7, 12));
        assert_eq!(machine_id("c", "n").len(), 32);
    }

    #[test]
    fn node_names_are_hostnames() {
        assert!(check_node("front").is_ok());
        assert!(check_node("wn-1.example").is_ok());
        for bad in ["", "-a", "a-", "a..b", "a/b", "..", "a_b", "a b"] {
            assert!(check_node(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roots_outside_overlaid_trees() {
        assert!(check_root(Path::new("/run/nubo/local")).is_ok());
        assert!(check_root(Path::new("/tmp/x")).is_ok());
        assert!(check_root(Path::new("/var/lib/nubo")).is_err());
        assert!(check_root(Path::new("relative")).is_err());
        assert!(check_root(Path::new("/tmp/a,b")).is_err());
        assert!(check_root(Path::new("/")).is_err());
    }
}
