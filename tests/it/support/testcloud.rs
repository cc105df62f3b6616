//! The test clouds' hosts for the integration tests: whether this machine
//! can boot them, a cloud per test removed however the test ends, and what
//! a cloud left on the machine.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nubo::testcloud::TestCloud;

use super::skip_or_fail;

/// Can this machine boot test-cloud hosts?
pub fn can_run() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip_or_fail("test-cloud hosts need root");
        return false;
    }
    for (tool, package) in [
        ("/usr/bin/cloud-init", "cloud-init"),
        ("/usr/bin/sudo", "sudo"),
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/ssh", "openssh-client"),
        ("/usr/sbin/losetup", "mount"),
        ("/usr/sbin/mkfs.ext4", "e2fsprogs"),
    ] {
        if !Path::new(tool).exists() {
            skip_or_fail(&format!(
                "{tool} is missing: scripts/install-local-deps.sh installs {package}"
            ));
            return false;
        }
    }
    true
}

/// Destroys the test clouds of earlier runs that were killed before their
/// guards ran: `/tmp/nubo-tc-<pid>-...` of a process that is gone.
pub fn sweep_stale() {
    for err in TestCloud::sweep_dead_runs(Path::new("/tmp"), "nubo-tc-") {
        eprintln!("sweeping: {err}");
    }
}

/// The cloud and its root, destroyed when the test ends, however it ends.
pub struct Guard {
    pub root: PathBuf,
    pub cloud: TestCloud,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.cloud.destroy() {
            eprintln!("destroying the test cloud: {e}");
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Whether this machine can open a TCP connection to `ip:22`.
pub fn reachable_from_here(ip: Ipv4Addr) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((ip, 22)), Duration::from_secs(3)).is_ok()
}

/// Everything of the cloud still on this machine; `networks`: the cloud's
/// networks while it had them (their routes).
pub fn traces(
    cloud: &TestCloud,
    root: &Path,
    netns_inodes: &[u64],
    networks: &[nubo::testcloud::Network],
) -> Vec<String> {
    let mut left = Vec::new();
    for e in std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&cloud.netns_prefix()) {
            left.push(format!("netns {n}"));
        }
    }
    for e in std::fs::read_dir("/sys/class/net").unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&cloud.link_prefix()) {
            left.push(format!("link {n}"));
        }
    }
    let root_text = root.display().to_string();
    for line in std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
    {
        if line.contains(&root_text) {
            left.push(format!("mount {line}"));
        }
    }
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let back = std::fs::read_to_string(e.path().join("loop/backing_file")).unwrap_or_default();
        if back.starts_with(&root_text) {
            left.push(format!("loop {:?}: {back}", e.file_name()));
        }
    }
    let named_netns: Vec<u64> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        // A namespace's inode is reused once it is gone: one that a named
        // namespace (another test's, ours being deleted) has now is not ours.
        let in_ours = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .is_ok_and(|m| netns_inodes.contains(&m.ino()) && !named_netns.contains(&m.ino()));
        if in_ours || cmdline.contains(&root_text) {
            left.push(format!("process {pid}: {cmdline}"));
        }
    }
    let routes = Command::new("ip")
        .args(["-4", "-o", "route", "show", "table", "all"])
        .output()
        .unwrap();
    for n in networks {
        let net = n.cidr();
        for line in String::from_utf8_lossy(&routes.stdout).lines() {
            if line.contains(&net) {
                left.push(format!("route {line}"));
            }
        }
    }
    left
}

/// A cloud of this test's own under `/tmp/nubo-tc-<pid>-...`, removed by
/// the guard however the test ends.
pub fn new_cloud(tag: &str) -> (Guard, PathBuf, TestCloud) {
    sweep_stale();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let root = PathBuf::from(format!(
        "/tmp/nubo-tc-{}-{tag}-{nanos:08x}",
        std::process::id()
    ));
    std::fs::create_dir_all(&root).unwrap();
    let cloud = TestCloud::new(&root, &format!("{tag}-{nanos:08x}")).unwrap();
    let guard = Guard {
        root: root.clone(),
        cloud: cloud.clone(),
    };
    (guard, root, cloud)
}
