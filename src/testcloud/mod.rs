//! Cloud-like hosts behind the test clouds: every VM that an emulated cloud
//! (the OpenStack and OpenNebula emulators, moto for EC2) reports as
//! running can be a real host on this machine, made with the local
//! provider's node code and booted the way a Debian cloud image boots.
//!
//! # Design
//!
//! - **Cloud** ([`TestCloud`]): a directory `<root>/nb-H/` (H: 8 hex digits
//!   of a hash of `testcloud NAME`, the local provider's
//!   [`naming::cluster_hash`]) holding the cloud's name (`testcloud`), its
//!   networks (`networks/NAME.json`) and its hosts (`hosts/NAME/`).
//! - **Network** ([`network`]): a bridge `nbHnK` with forwarding off and a
//!   /24 of 10.250.224.0/19, the range the local provider never gives a
//!   cluster ([`naming::TESTCLOUD_FIRST_OCTET`]). A *public* network's
//!   bridge has the host address `.1`; a *private* one has no address, IPv6
//!   off (no link-local way in either) and an `unreachable` route on the
//!   host, so the host has no route to it and a probe from the host fails
//!   at once, without a packet leaving the machine.
//! - **Host** ([`host`]): a local-provider node (network namespace
//!   `nb-H-I`, overlays of `/etc /var /usr /opt /home /srv`, own `/root`,
//!   `/run`, `/tmp`, PID, UTS, IPC, cgroup and time namespaces, made by the
//!   local provider's `init`) whose PID 1 is the image's init script
//!   ([`image`]): its own `/dev`, then Debian's `cloud-init` in its four
//!   stages with the NoCloud seed the API received, then `sshd` with root
//!   login off. One veth per NIC (`nbHvI` for the first, `nbHwI`, `nbHxI`,
//!   ... for the others), `eth0`, `eth1`, ... inside, no default route.
//! - **Volume** ([`volume`]): a sparse file in the host's directory behind
//!   a loop device, shown in the host's own `/dev` as `vdb`, `vdc`, ...
//!
//! - **Watchers** of clouds that keep VMs as records only: [`moto`] (EC2)
//!   and [`nova`] (real Nova with its fake driver, real Neutron) boot, stop
//!   and remove hosts as the cloud's API says its VMs are; the emulators
//!   do it themselves ([`emu::backing`]).
//!
//! Everything is named from the cloud's and the host's names, so
//! [`TestCloud::destroy`] finds what a crash left. Calls are synchronous
//! and slow (a boot runs cloud-init: seconds); callers on tokio use
//! `spawn_blocking`. One host must not see two operations at once.

pub mod emu;
mod error;
pub mod host;
pub mod image;
#[cfg(feature = "ec2")]
pub mod moto;
pub mod network;
pub mod nova;
pub mod volume;

use std::path::{Path, PathBuf};

pub use error::TestCloudError;
pub use host::{Boot, HostSpec, Nic, VolumeSpec};
pub use network::{Network, Role};

use crate::provider::local::bridge::HostLock;
use crate::provider::local::naming::{self, NodePaths};
use crate::provider::local::{LocalProvider, cmd};

/// One test cloud: its networks and hosts, under one root directory.
#[derive(Debug, Clone)]
pub struct TestCloud {
    name: String,
    /// `testcloud NAME`: the name the local provider's naming hashes.
    key: String,
    dir: PathBuf,
}

impl TestCloud {
    /// Where test clouds keep their files unless told otherwise.
    pub const DEFAULT_ROOT: &str = "/run/nubo/testcloud";

    /// The cloud `name` under `root` (made if missing). Needs root.
    pub fn new(root: impl AsRef<Path>, name: &str) -> Result<TestCloud, TestCloudError> {
        let root = root.as_ref();
        naming::check_cluster(name)?;
        naming::check_root(root)?;
        LocalProvider::check_host()?;
        let key = format!("testcloud {name}");
        let dir = root.join(naming::cluster_id(&key));
        let cloud = TestCloud {
            name: name.to_string(),
            key,
            dir,
        };
        for d in [cloud.hosts_dir(), cloud.networks_dir()] {
            std::fs::create_dir_all(&d)
                .map_err(|e| TestCloudError::io("cannot create directory", &d, e))?;
        }
        let name_file = cloud.dir.join("testcloud");
        match std::fs::read_to_string(&name_file) {
            Ok(other) if other.trim_end_matches('\n') != name => {
                return Err(TestCloudError::Invalid {
                    what: "test cloud name",
                    value: name.to_string(),
                    why: format!(
                        "it has the same id as test cloud `{}` under {}: rename one of them",
                        other.trim_end_matches('\n'),
                        root.display()
                    ),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&name_file, format!("{name}\n"))
                    .map_err(|e| TestCloudError::io("cannot write", &name_file, e))?;
            }
            Err(e) => return Err(TestCloudError::io("cannot read", &name_file, e)),
        }
        Ok(cloud)
    }

    /// The test clouds found under `root` (from their directories), e.g.
    /// to destroy what a killed run left.
    pub fn existing(root: impl AsRef<Path>) -> Vec<TestCloud> {
        let root = root.as_ref();
        let mut out = Vec::new();
        for e in std::fs::read_dir(root).into_iter().flatten().flatten() {
            if let Ok(name) = std::fs::read_to_string(e.path().join("testcloud"))
                && let Ok(cloud) = TestCloud::new(root, name.trim_end_matches('\n'))
            {
                out.push(cloud);
            }
        }
        out
    }

    /// Destroys the test clouds that killed runs left under `parent`:
    /// each directory `PREFIX<pid>-...` whose process is gone, with every
    /// cloud under it, is removed. Returns what could not be destroyed.
    pub fn sweep_dead_runs(parent: &Path, prefix: &str) -> Vec<String> {
        let mut errors = Vec::new();
        for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix(prefix) else {
                continue;
            };
            let pid = rest.split('-').next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_none_or(|p| Path::new(&format!("/proc/{p}")).exists()) {
                continue;
            }
            for cloud in TestCloud::existing(e.path()) {
                if let Err(err) = cloud.destroy() {
                    errors.push(format!("stale test cloud {}: {err}", cloud.name()));
                }
            }
            let _ = std::fs::remove_dir_all(e.path());
        }
        errors
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cloud's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `nbH`: every interface of the cloud (bridges, veths) starts with it.
    pub fn link_prefix(&self) -> String {
        format!("nb{}", naming::cluster_hash(&self.key))
    }

    /// `nb-H-`: every network namespace of the cloud starts with it.
    pub fn netns_prefix(&self) -> String {
        naming::netns_prefix(&self.key)
    }

    fn hosts_dir(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    fn networks_dir(&self) -> PathBuf {
        self.dir.join("networks")
    }

    fn host_paths(&self, name: &str) -> NodePaths {
        NodePaths {
            dir: self.hosts_dir().join(name),
        }
    }

    /// Names of the cloud's hosts (their directories), sorted.
    pub fn host_names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.hosts_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| naming::check_node(n).is_ok())
            .collect();
        names.sort();
        names
    }

    /// Removes every host and network of the cloud and its directory.
    /// Works on any half-made state; checks that nothing is left.
    pub fn destroy(&self) -> Result<(), TestCloudError> {
        for name in self.host_names() {
            self.remove(&name)?;
        }
        // Whatever a crash left with the cloud's names but no directory.
        let _lock = HostLock::acquire()?;
        for ns in cmd::netns_with_prefix(&self.netns_prefix()) {
            cmd::delete_netns(&ns)?;
        }
        let prefix = self.link_prefix();
        let bridges = network::bridge_prefix(&prefix);
        for link in cmd::links_with_prefix(&prefix) {
            if !link.starts_with(&bridges) {
                cmd::delete_link(&link)?;
            }
        }
        for net in self.networks()? {
            network::delete(&net)?;
        }
        for link in cmd::links_with_prefix(&prefix) {
            cmd::delete_link(&link)?;
        }
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(TestCloudError::io("cannot remove", &self.dir, e));
            }
            _ => {}
        }
        let mut left: Vec<String> = cmd::links_with_prefix(&prefix)
            .into_iter()
            .map(|l| format!("interface {l}"))
            .collect();
        left.extend(
            cmd::netns_with_prefix(&self.netns_prefix())
                .into_iter()
                .map(|n| format!("network namespace {n}")),
        );
        if self.dir.exists() {
            left.push(format!("directory {}", self.dir.display()));
        }
        if left.is_empty() {
            Ok(())
        } else {
            Err(TestCloudError::Leftovers {
                what: format!("test cloud `{}`", self.name),
                leftovers: left.join(", "),
            })
        }
    }
}
