//! The local provider: each node is a lightweight host made of Linux
//! namespaces on the machine nubo runs on, reachable over SSH, created in a
//! fraction of a second and destroyed without a trace.
//!
//! # Design
//!
//! - **Cluster** (`ensure_cluster`): a directory `<root>/nb-H/` (H: 8 hex
//!   digits of a hash of the cluster name) holding the cluster's name, its
//!   subnet, and two ed25519 key pairs made with `ssh-keygen` (see [`keys`]);
//!   a bridge `nb-H` in the root network namespace with the host address
//!   `10.250.X.1/24`, X picked from the hash and probed to be free (see
//!   [`bridge`]).
//! - **Node** (`create_node`): network namespace `nb-H-I`, veth pair with a
//!   fixed MAC, address `10.250.X.(10+I)/24` and no other route; an init in
//!   new mount, UTS, IPC, PID, cgroup and time namespaces that overlays the
//!   host's `/etc /var /usr /opt /home /srv` with the node's own upper
//!   directories, gives the node its own `/root` (from `/etc/skel`, not the
//!   host's: see [`naming::NodePaths::root_home`]), mounts fresh `/sys`
//!   (with cgroup2 on `/sys/fs/cgroup`), `/run`, `/tmp`, and runs sshd as
//!   PID 1 (see [`node`]). A node costs no process but its sshd: the
//!   network is made with netlink, the init forked from nubo makes its
//!   namespaces and mounts with system calls.
//!   What the host changes in the overlaid trees while a node runs may or
//!   may not show in the node (overlayfs leaves that undefined); what the
//!   node changes never reaches the host. Every name is derived from the
//!   cluster and node names (see [`naming`]), so everything can be found
//!   again after a crash.
//! - **Network isolation**: traffic stays on loopback and the bridge: nodes
//!   have no default route, the bridge has forwarding off, no NAT or
//!   iptables rule is added, and the host's own interfaces are not touched.
//!   Nodes do reach the host itself at 10.250.X.1, so a host service that
//!   listens on every address is open to them.
//! - **Stop / start**: stop kills the node's processes and removes its
//!   network namespace and veth, keeping its directory (the overlay upper
//!   directories: its files); start brings it back with the same address,
//!   MAC, host key and files.
//! - **Destroy**: kill every process of the node (found by network namespace
//!   and by command line, not from memory), wait for them, delete the veth
//!   and the namespace, remove the directory. `destroy_cluster` also sweeps
//!   everything that bears the cluster's names (namespaces, interfaces,
//!   processes, directory) and removes the bridge; it succeeds on any
//!   half-made state and checks that nothing is left.
//!
//! The root directory must lie outside the overlaid trees and `/root` (an
//! overlay's upper directory may not sit inside its lower one); the default is
//! `/run/nubo/local`. Node names are hostnames; indices run from 0 to
//! [`naming::MAX_INDEX`]. One cluster name names one cluster per host: two
//! roots using the same cluster name would share its bridge and namespaces.
//!
//! Calls are synchronous (system calls, and `ip` and `ssh-keygen` when a
//! cluster is set up); the async
//! walker calls them through `spawn_blocking`. Different nodes may be
//! handled concurrently; one node must not see two operations at once, and
//! `destroy_cluster` must not run alongside other calls for its cluster.
//! If `create_node` fails, the node's processes and network are removed but
//! its directory (and console log) is kept for diagnosis: `destroy_node`
//! removes it.

pub mod bridge;
pub(crate) mod cmd;
mod error;
mod host;
pub(crate) mod init;
pub mod keys;
pub mod naming;
pub(crate) mod netlink;
pub mod node;
pub(crate) mod procs;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::LocalError;
use naming::{ClusterPaths, NodePaths};
use node::NodeSpec;

/// How long `create_node` and `start_node` wait for sshd.
const SSHD_TIMEOUT: Duration = Duration::from_secs(5);

/// The local provider, keeping its state under one root directory.
#[derive(Debug, Clone)]
pub struct LocalProvider {
    root: PathBuf,
}

/// A cluster's network, as set up by [`LocalProvider::ensure_cluster`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNet {
    pub cluster: String,
    /// The bridge in the root network namespace, `nb-H`.
    pub bridge: String,
    /// The third octet of the cluster's subnet 10.250.X.0/24.
    pub octet: u8,
    /// The subnet, `10.250.X.0/24`.
    pub subnet: String,
    /// The host's address on the bridge, 10.250.X.1.
    pub host_ip: Ipv4Addr,
}

/// A node as found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNode {
    pub name: String,
    pub index: u32,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Whether its init (sshd, PID 1 of the node) is alive.
    pub running: bool,
    /// The host pid of the node's init, while it runs.
    pub init_pid: Option<u32>,
}

impl Default for LocalProvider {
    fn default() -> Self {
        LocalProvider::new(LocalProvider::DEFAULT_ROOT)
    }
}

impl LocalProvider {
    /// Where nodes' files live unless told otherwise.
    pub const DEFAULT_ROOT: &str = "/run/nubo/local";

    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalProvider { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether this host can run local nodes: root, `ip`, `sshd`,
    /// `ssh-keygen`, overlayfs and the namespaces.
    pub fn check_host() -> Result<(), LocalError> {
        host::check()
    }

    fn paths(&self, cluster: &str) -> Result<ClusterPaths, LocalError> {
        naming::check_cluster(cluster)?;
        naming::check_root(&self.root)?;
        Ok(ClusterPaths::new(&self.root, cluster))
    }

    fn node_paths(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<(ClusterPaths, NodePaths), LocalError> {
        naming::check_node(name)?;
        let paths = self.paths(cluster)?;
        let node = paths.node(name);
        Ok((paths, node))
    }

    /// The cluster's directory, keys and bridge. Idempotent.
    pub fn ensure_cluster(&self, cluster: &str) -> Result<ClusterNet, LocalError> {
        let paths = self.paths(cluster)?;
        host::check()?;
        cmd::create_dir_all(&self.root)?;
        let real = std::fs::canonicalize(&self.root)
            .map_err(|e| LocalError::io("cannot resolve", &self.root, e))?;
        naming::check_root(&real)?;

        let _lock = bridge::HostLock::acquire()?;
        cmd::create_dir_all(&paths.nodes_dir())?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700))
                .map_err(|e| LocalError::io("cannot set the mode of", &paths.dir, e))?;
        }
        match cmd::read_opt(&paths.name_file())? {
            Some(other) if other.trim_end_matches('\n') != cluster => {
                return Err(LocalError::ClusterCollision {
                    cluster: cluster.to_string(),
                    other: other.trim_end_matches('\n').to_string(),
                    id: naming::cluster_id(cluster),
                    root: self.root.clone(),
                });
            }
            Some(_) => {}
            None => cmd::write_file(&paths.name_file(), format!("{cluster}\n").as_bytes(), 0o644)?,
        }
        keys::ensure_keypair(&paths.user_key(), &format!("nubo@{cluster}"))?;
        keys::ensure_keypair(&paths.host_key(), &format!("nubo host key of {cluster}"))?;
        let octet = bridge::choose_octet(&self.root, &paths, cluster)?;
        let bridge = bridge::ensure_bridge(cluster, octet)?;
        Ok(ClusterNet {
            cluster: cluster.to_string(),
            bridge,
            octet,
            subnet: bridge::format_subnet(octet),
            host_ip: naming::host_ip(octet),
        })
    }

    /// The cluster's network as [`ensure_cluster`](Self::ensure_cluster)
    /// left it, read without a process or the host lock when it is whole
    /// (the name file, both key pairs, the recorded subnet, the bridge up);
    /// else `ensure_cluster`. A launch sets the cluster up once, before its
    /// nodes, so each of many nodes created at once does not list the
    /// host's addresses and routes again, one after the other.
    fn cluster_net(&self, cluster: &str) -> Result<ClusterNet, LocalError> {
        let paths = self.paths(cluster)?;
        let nonempty = |p: &Path| p.metadata().is_ok_and(|m| m.len() > 0);
        let whole = cmd::read_opt(&paths.name_file())?
            .is_some_and(|n| n.trim_end_matches('\n') == cluster)
            && [paths.user_key(), paths.host_key()]
                .iter()
                .all(|k| nonempty(k) && nonempty(&keys::public_path(k)));
        let octet = cmd::read_opt(&paths.subnet_file())?
            .as_deref()
            .and_then(bridge::parse_subnet);
        match octet {
            Some(octet) if whole && bridge::is_up(cluster) => Ok(ClusterNet {
                cluster: cluster.to_string(),
                bridge: naming::cluster_id(cluster),
                octet,
                subnet: bridge::format_subnet(octet),
                host_ip: naming::host_ip(octet),
            }),
            _ => self.ensure_cluster(cluster),
        }
    }

    /// Creates the node (hostname `name`, address `10.250.X.(10+index)`) and
    /// returns once its sshd accepts connections. Sets the cluster up first
    /// if needed. A node that already runs with this index is returned as
    /// is; a stopped or half-made one is brought up.
    pub fn create_node(
        &self,
        cluster: &str,
        name: &str,
        index: u32,
    ) -> Result<LocalNode, LocalError> {
        let (paths, node) = self.node_paths(cluster, name)?;
        naming::check_index(index)?;
        let net = self.cluster_net(cluster)?;
        match node::read_index(&node)? {
            Some(existing) if existing != index => {
                return Err(LocalError::IndexMismatch {
                    cluster: cluster.to_string(),
                    name: name.to_string(),
                    existing,
                    requested: index,
                });
            }
            _ => {}
        }
        for other in self.node_dirs(&paths)? {
            if other != name && node::read_index(&paths.node(&other))? == Some(index) {
                return Err(LocalError::IndexTaken {
                    cluster: cluster.to_string(),
                    name: name.to_string(),
                    other,
                    index,
                });
            }
        }
        let spec = spec_of(cluster, name, index, net.octet);
        if let Some(up) = already_up(&spec, &node) {
            return Ok(up);
        }
        cmd::create_dir_all(&node.dir)?;
        cmd::write_file(&node.index_file(), format!("{index}\n").as_bytes(), 0o644)?;
        self.bring_up(&spec, &paths, &node)
    }

    fn bring_up(
        &self,
        spec: &NodeSpec,
        paths: &ClusterPaths,
        node: &NodePaths,
    ) -> Result<LocalNode, LocalError> {
        // Whatever a crash or a stop left.
        node::teardown(&spec.cluster, Some(spec.index), node)?;
        let up = || -> Result<u32, LocalError> {
            node::write_files(spec, paths, node)?;
            node::setup_network(spec)?;
            let init = node::spawn_init(spec, node)?;
            node::record_init(node, init)?;
            node::wait_for_sshd(spec, node, init, SSHD_TIMEOUT)?;
            Ok(init)
        };
        match up() {
            Ok(init) => Ok(node_info(spec, Some(init))),
            Err(e) => {
                // Leave no half-made node running; keep its files and log.
                let _ = node::teardown(&spec.cluster, Some(spec.index), node);
                Err(e)
            }
        }
    }

    /// Names of the node directories of a cluster.
    fn node_dirs(&self, paths: &ClusterPaths) -> Result<Vec<String>, LocalError> {
        let dir = paths.nodes_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(LocalError::io("cannot list", dir, e)),
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| naming::check_node(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    fn existing_node(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<(ClusterPaths, NodePaths, u32), LocalError> {
        let (paths, node) = self.node_paths(cluster, name)?;
        let not_found = || LocalError::NodeNotFound {
            cluster: cluster.to_string(),
            name: name.to_string(),
        };
        if !node.dir.is_dir() {
            return Err(not_found());
        }
        let index = node::read_index(&node)?.ok_or_else(not_found)?;
        Ok((paths, node, index))
    }

    /// Kills the node's processes and removes its network; keeps its files.
    pub fn stop_node(&self, cluster: &str, name: &str) -> Result<(), LocalError> {
        let (_, node, index) = self.existing_node(cluster, name)?;
        node::teardown(cluster, Some(index), &node)
    }

    /// Brings a stopped node back, with the same address, MAC and files.
    /// A running node is returned as is.
    pub fn start_node(&self, cluster: &str, name: &str) -> Result<LocalNode, LocalError> {
        let (paths, node, index) = self.existing_node(cluster, name)?;
        let spec = spec_of(cluster, name, index, self.cluster_net(cluster)?.octet);
        if let Some(up) = already_up(&spec, &node) {
            return Ok(up);
        }
        self.bring_up(&spec, &paths, &node)
    }

    /// Destroys the node: processes, network, files. Idempotent; a node that
    /// does not exist is already destroyed.
    pub fn destroy_node(&self, cluster: &str, name: &str) -> Result<(), LocalError> {
        let (_, node) = self.node_paths(cluster, name)?;
        if !node.dir.exists() {
            return Ok(());
        }
        let index = node::read_index(&node)?;
        node::teardown(cluster, index, &node)?;
        cmd::remove_dir_all(&node.dir)
    }

    /// The cluster's nodes, from what exists on the host.
    pub fn list_nodes(&self, cluster: &str) -> Result<Vec<LocalNode>, LocalError> {
        let paths = self.paths(cluster)?;
        let Some(octet) = cmd::read_opt(&paths.subnet_file())?
            .as_deref()
            .and_then(bridge::parse_subnet)
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for name in self.node_dirs(&paths)? {
            let node = paths.node(&name);
            let Some(index) = node::read_index(&node)? else {
                continue;
            };
            let spec = spec_of(cluster, &name, index, octet);
            out.push(already_up(&spec, &node).unwrap_or_else(|| node_info(&spec, None)));
        }
        out.sort_by_key(|n| n.index);
        Ok(out)
    }

    /// Destroys every node of the cluster, its bridge and its directory,
    /// sweeping by name whatever a crash may have left; then checks that
    /// nothing is left. Idempotent.
    pub fn destroy_cluster(&self, cluster: &str) -> Result<(), LocalError> {
        let paths = self.paths(cluster)?;
        let _lock = bridge::HostLock::acquire()?;
        let netns = cmd::netns_with_prefix(&naming::netns_prefix(cluster));
        let inodes: Vec<u64> = netns
            .iter()
            .filter_map(|n| procs::ns_inode(&cmd::netns_path(n)))
            .collect();
        let marker = paths.cmdline_marker();
        let find = || procs::find(&inodes, Some(&marker));
        procs::kill_all(&format!("cluster `{cluster}`"), find(), find)?;
        for veth in cmd::links_with_prefix(&naming::veth_prefix(cluster)) {
            cmd::delete_link(&veth)?;
        }
        for ns in &netns {
            cmd::delete_netns(ns)?;
        }
        let bridge = naming::cluster_id(cluster);
        cmd::delete_link(&bridge)?;
        cmd::remove_dir_all(&paths.dir)?;

        let mut left = Vec::new();
        left.extend(
            cmd::netns_with_prefix(&naming::netns_prefix(cluster))
                .into_iter()
                .map(|n| format!("network namespace {n}")),
        );
        left.extend(
            cmd::links_with_prefix(&naming::veth_prefix(cluster))
                .into_iter()
                .map(|n| format!("interface {n}")),
        );
        if cmd::link_exists(&bridge) {
            left.push(format!("bridge {bridge}"));
        }
        // By command line only: the deleted namespaces' inode numbers may
        // already belong to new namespaces of other clusters.
        left.extend(
            procs::find(&[], Some(&marker))
                .into_iter()
                .map(|p| format!("process {p}")),
        );
        if paths.dir.exists() {
            left.push(format!("directory {}", paths.dir.display()));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(LocalError::Leftovers {
                what: format!("cluster `{cluster}`"),
                leftovers: left.join(", "),
            })
        }
    }

    /// The private key nubo logs in to the cluster's nodes with (as root).
    pub fn user_key_path(&self, cluster: &str) -> PathBuf {
        ClusterPaths::new(&self.root, cluster).user_key()
    }

    /// The host key every node of the cluster presents, `TYPE BASE64`
    /// (prefix it with the node's address for a known_hosts line).
    pub fn known_host_key(&self, cluster: &str) -> Result<String, LocalError> {
        keys::public_key(&self.paths(cluster)?.host_key())
    }
}

fn spec_of(cluster: &str, name: &str, index: u32, octet: u8) -> NodeSpec {
    NodeSpec {
        cluster: cluster.to_string(),
        name: name.to_string(),
        index,
        octet,
    }
}

/// The node as it is, when its init runs in its network namespace.
fn already_up(spec: &NodeSpec, node: &NodePaths) -> Option<LocalNode> {
    let pid = node::running_init(node).filter(|_| node::has_netns(spec))?;
    Some(node_info(spec, Some(pid)))
}

fn node_info(spec: &NodeSpec, init: Option<u32>) -> LocalNode {
    LocalNode {
        name: spec.name.clone(),
        index: spec.index,
        ip: spec.ip(),
        mac: spec.mac(),
        running: init.is_some(),
        init_pid: init,
    }
}
