//! One node: its files, its network, its init, and their teardown.
//!
//! Bringing a node up:
//! 1. files: overlay upper and work directories under the node directory,
//!    and the node's own `/root` (started from `/etc/skel`);
//!    `/etc/nubo-node/` (sshd config, the cluster's host key, the authorized
//!    key), `/etc/hostname`, `/etc/hosts` and `/etc/machine-id` written
//!    straight into the upper `/etc` (the overlay is not mounted then);
//! 2. network (netlink, no `ip` process: see [`netlink`]): the network
//!    namespace `nb-H-I` (`/run/netns/nb-H-I`, as `ip netns add` makes it);
//!    a veth pair `nbHvI` (on the bridge) and `eth0` (in the namespace, with
//!    the node's fixed MAC); `lo` and `eth0` up with `10.250.X.(10+I)/24`,
//!    so the only route is the bridge's subnet;
//! 3. init (system calls, no shell or `unshare` process: see [`init`]):
//!    forked from nubo into the network namespace and new mount, UTS, IPC,
//!    PID, cgroup and time namespaces, detached from nubo (nodes outlive
//!    the nubo process). The clock offsets make the node's uptime start at
//!    zero. It mounts the node's file system and execs sshd, which is then
//!    PID 1 of the node: it reaps orphans like an init, and killing it ends
//!    every process of the node;
//! 4. ready: create returns once sshd listens on port 22 (its pid file,
//!    written once the socket is bound, appears in the node's `/run`).
//!
//! Tearing down (stop, destroy, or before a re-start): SIGKILL every process
//! in the node's network namespace (or with the node directory on its
//! command line: the init script of nodes started by earlier versions),
//! wait until they are gone, delete the veth pair and the namespace.

use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::cmd;
use super::error::LocalError;
use super::naming::{self, ClusterPaths, NodePaths, OVERLAID};
use super::{init, keys, netlink, procs};

/// The OpenSSH server every node runs as its PID 1.
pub const SSHD: &str = "/usr/sbin/sshd";

/// The node's identity and network, all derived from names.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub cluster: String,
    pub name: String,
    pub index: u32,
    pub octet: u8,
}

impl NodeSpec {
    pub fn ip(&self) -> Ipv4Addr {
        naming::node_ip(self.octet, self.index)
    }
    pub fn mac(&self) -> String {
        naming::node_mac(&self.cluster, &self.name)
    }
    pub fn netns(&self) -> String {
        naming::netns_name(&self.cluster, self.index)
    }
    pub fn veth(&self) -> String {
        naming::veth_name(&self.cluster, self.index)
    }
}

/// Where the node's own SSH files live inside the node.
const NODE_ETC: &str = "nubo-node";

/// sshd's pid file in the node, written once it listens. A name of its own:
/// before the node mounts its `/run`, the host's shows there.
const PID_FILE: &str = "/run/nubo-sshd.pid";

fn sshd_config(ip: Ipv4Addr) -> String {
    format!(
        "# Written by nubo's local provider at each start of the node.\n\
         ListenAddress {ip}:22\n\
         HostKey /etc/{NODE_ETC}/ssh_host_ed25519_key\n\
         AuthorizedKeysFile .ssh/authorized_keys\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PidFile {PID_FILE}\n\
         PrintMotd no\n\
         AcceptEnv LANG LC_*\n\
         Subsystem sftp /usr/lib/openssh/sftp-server\n\
         # root logs in with the cluster's key, and with the keys recipes\n\
         # put in its own ~/.ssh/authorized_keys (ssh between nodes); other\n\
         # users (made by recipes) with their own ~/.ssh/authorized_keys.\n\
         Match User root\n\
         \x20   AuthorizedKeysFile /etc/{NODE_ETC}/authorized_keys .ssh/authorized_keys\n"
    )
}

/// Writes the node's files: overlay directories, `/etc` files.
pub fn write_files(
    spec: &NodeSpec,
    cluster: &ClusterPaths,
    node: &NodePaths,
) -> Result<(), LocalError> {
    for d in OVERLAID {
        cmd::create_dir_all(&node.upper(d))?;
        cmd::create_dir_all(&node.work(d))?;
    }
    seed_root_home(node)?;
    let etc = node.upper("etc");
    let own = etc.join(NODE_ETC);
    cmd::create_dir_all(&own)?;
    cmd::write_file(
        &own.join("sshd_config"),
        sshd_config(spec.ip()).as_bytes(),
        0o644,
    )?;
    let host_key = std::fs::read(cluster.host_key())
        .map_err(|e| LocalError::io("cannot read host key", cluster.host_key(), e))?;
    cmd::write_file(&own.join("ssh_host_ed25519_key"), &host_key, 0o600)?;
    let user_pub = keys::public_key(&cluster.user_key())?;
    cmd::write_file(
        &own.join("authorized_keys"),
        format!("{user_pub}\n").as_bytes(),
        0o600,
    )?;
    cmd::write_file(
        &etc.join("hostname"),
        format!("{}\n", spec.name).as_bytes(),
        0o644,
    )?;
    let short = spec.name.split('.').next().unwrap_or(&spec.name);
    let alias = if short != spec.name {
        format!(" {short}")
    } else {
        String::new()
    };
    cmd::write_file(
        &etc.join("hosts"),
        format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{}{alias}\n",
            spec.ip(),
            spec.name
        )
        .as_bytes(),
        0o644,
    )?;
    let machine_id = etc.join("machine-id");
    if !machine_id.exists() {
        let id = naming::machine_id(&spec.cluster, &spec.name);
        cmd::write_file(&machine_id, format!("{id}\n").as_bytes(), 0o444)?;
    }
    match std::fs::remove_file(node.init_script()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(LocalError::io("cannot remove", node.init_script(), e))
        }
        _ => Ok(()),
    }
}

/// Makes the node's `/root` at its first start: mode 0700, with the files
/// of `/etc/skel` (`.bashrc`, `.profile`), as on a freshly installed host.
pub fn seed_root_home(node: &NodePaths) -> Result<(), LocalError> {
    use std::os::unix::fs::PermissionsExt;
    let home = node.root_home();
    if home.is_dir() {
        return Ok(());
    }
    let fresh = node.dir.join("root-home.new");
    cmd::remove_dir_all(&fresh)?;
    cmd::create_dir_all(&fresh)?;
    std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| LocalError::io("cannot set the mode of", &fresh, e))?;
    for e in std::fs::read_dir("/etc/skel")
        .into_iter()
        .flatten()
        .flatten()
    {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            let to = fresh.join(e.file_name());
            std::fs::copy(e.path(), &to)
                .map_err(|err| LocalError::io("cannot copy to", &to, err))?;
        }
    }
    // Whole or not at all, should nubo stop half-way.
    std::fs::rename(&fresh, &home).map_err(|e| LocalError::io("cannot create", &home, e))
}

/// The node's network namespace, veth pair and addresses (see
/// [`netlink::add_node_network`]).
pub fn setup_network(spec: &NodeSpec) -> Result<(), LocalError> {
    let mac = netlink::parse_mac(&spec.mac()).ok_or_else(|| LocalError::Command {
        what: "setting up the node's network".into(),
        command: "parse MAC".into(),
        detail: format!("bad MAC {}", spec.mac()),
    })?;
    netlink::add_node_network(
        &spec.netns(),
        &spec.veth(),
        &naming::cluster_id(&spec.cluster),
        mac,
        spec.ip(),
        24,
    )
    .map_err(|(what, source)| LocalError::System {
        what: format!("{what} for node {}", spec.name),
        source,
    })
}

/// CLOCK_BOOTTIME and CLOCK_MONOTONIC, whole seconds.
pub fn clocks() -> (i64, i64) {
    let get = |id| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the timespec we pass.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec
    };
    (get(libc::CLOCK_BOOTTIME), get(libc::CLOCK_MONOTONIC))
}

/// sshd's arguments: in the foreground, logging to standard error (the
/// console log), with the node's config; `-r`: no re-exec of sshd for each
/// connection (it only re-randomises a test node's memory layout, at the
/// cost of a whole sshd start per connection), where sshd still has that
/// option (before OpenSSH 9.8, which split off `sshd-session` and runs it
/// for every connection).
fn sshd_args() -> &'static [&'static str] {
    static ARGS: OnceLock<&'static [&'static str]> = OnceLock::new();
    ARGS.get_or_init(|| {
        const CONFIG: &str = "/etc/nubo-node/sshd_config";
        if Path::new("/usr/lib/openssh/sshd-session").exists() {
            &["-D", "-e", "-f", CONFIG]
        } else {
            &["-D", "-e", "-r", "-f", CONFIG]
        }
    })
}

/// Starts the node's init, detached (see [`init`]); returns its pid as
/// seen on the host.
pub fn spawn_init(spec: &NodeSpec, node: &NodePaths) -> Result<u32, LocalError> {
    let netns = cmd::netns_path(&spec.netns());
    let prepared = init::prepare(
        &netns,
        node,
        &spec.name,
        &spec.cluster,
        clocks(),
        Path::new(SSHD),
        sshd_args(),
    )
    .map_err(|e| LocalError::io("cannot prepare the init of", &node.dir, e))?;
    init::start(&prepared).map_err(|e| boot_error(spec, node, &e.to_string()))
}

/// An error for a node that did not come up, with the end of its log.
pub fn boot_error(spec: &NodeSpec, node: &NodePaths, why: &str) -> LocalError {
    let log = node.console_log();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail: String = lines[lines.len().saturating_sub(15)..]
        .iter()
        .map(|l| format!("\n  {l}"))
        .collect();
    LocalError::NodeBoot {
        name: spec.name.clone(),
        why: why.to_string(),
        log,
        tail,
    }
}

/// Waits until the node's sshd listens on port 22, or fails after
/// `timeout` or as soon as the init dies. sshd writes its pid file
/// ([`PID_FILE`] in the node, seen from the host through
/// `/proc/INIT/root`) once its listening socket is bound, just before it
/// accepts connections; so one `stat` tells, where connecting would cost
/// sshd a fork for nothing (and reading the node's TCP table walks the
/// host's whole connection hash).
pub fn wait_for_sshd(
    spec: &NodeSpec,
    node: &NodePaths,
    init: u32,
    timeout: Duration,
) -> Result<(), LocalError> {
    let deadline = Instant::now() + timeout;
    let pid_file = format!("/proc/{init}/root{PID_FILE}");
    let mut pause = Duration::from_micros(500);
    loop {
        if Path::new(&pid_file).exists() {
            return Ok(());
        }
        if !procs::is_alive(init) {
            return Err(boot_error(spec, node, "its init exited"));
        }
        if Instant::now() >= deadline {
            return Err(boot_error(
                spec,
                node,
                &format!(
                    "sshd did not listen on {}:22 within {} s",
                    spec.ip(),
                    timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(5));
    }
}

/// The recorded init, if it is still the same live process.
pub fn running_init(node: &NodePaths) -> Option<u32> {
    let text = std::fs::read_to_string(node.init_pid_file()).ok()?;
    let mut f = text.split_whitespace();
    let pid: u32 = f.next()?.parse().ok()?;
    let start: u64 = f.next()?.parse().ok()?;
    (procs::start_time(pid) == Some(start)).then_some(pid)
}

pub fn record_init(node: &NodePaths, pid: u32) -> Result<(), LocalError> {
    let start = procs::start_time(pid).unwrap_or(0);
    cmd::write_file(
        &node.init_pid_file(),
        format!("{pid} {start}\n").as_bytes(),
        0o644,
    )
}

/// Ends every process of the node and removes its network, keeping its
/// files. Tolerates any half-made state.
pub fn teardown(cluster: &str, index: Option<u32>, node: &NodePaths) -> Result<(), LocalError> {
    let ns = index.map(|i| naming::netns_name(cluster, i));
    // A node that never ran, or was torn down whole: no namespace, no
    // recorded init, no veth. Every process of a node lives in its network
    // namespace from its start, so there is none to look for (a look is a
    // walk over every process on the host).
    let has_netns = ns.as_deref().is_some_and(cmd::netns_exists);
    let has_veth = index.is_some_and(|i| cmd::link_exists(&naming::veth_name(cluster, i)));
    if !has_netns && !has_veth && !node.init_pid_file().exists() {
        return Ok(());
    }
    let inodes: Vec<u64> = ns
        .iter()
        .filter_map(|n| procs::ns_inode(&cmd::netns_path(n)))
        .collect();
    let marker = node.cmdline_marker();
    let find = || procs::find(&inodes, Some(&marker));
    let init = running_init(node);
    // Held open, the node's mount namespace outlives its processes, so its
    // overlays can be unmounted below before anything mounts them anew.
    let mount_ns = init.and_then(|pid| std::fs::File::open(format!("/proc/{pid}/ns/mnt")).ok());
    let mut pids = find();
    pids.extend(init);
    let killed = !pids.is_empty();
    procs::kill_all(&format!("node {}", node.dir.display()), pids, find)?;
    match mount_ns {
        Some(ns) => release_mounts(&ns),
        // The kernel drops a dead node's mounts a moment after its last
        // process: give it that moment, so a restart does not mount the
        // same overlay directories while the old mounts still hold them.
        None if killed => std::thread::sleep(Duration::from_millis(20)),
        None => {}
    }
    match std::fs::remove_file(node.init_pid_file()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(LocalError::io("cannot remove", node.init_pid_file(), e));
        }
        _ => {}
    }
    if let Some(i) = index {
        // The veth first: deleting it is synchronous, while a deleted
        // namespace's interfaces go away later, in the kernel's own time.
        cmd::delete_link(&naming::veth_name(cluster, i))?;
        cmd::delete_netns(&naming::netns_name(cluster, i))?;
    }
    Ok(())
}

/// Unmounts the node's overlays in its mount namespace, which no process
/// uses any more: a plain (not lazy) unmount of an unused overlay releases
/// its upper and work directories before the call returns, whereas letting
/// the namespace die releases them a little later, in the kernel's time.
fn release_mounts(ns: &std::fs::File) {
    use std::ffi::CString;
    use std::os::fd::AsRawFd;
    let Some(true_bin) = cmd::find_tool("true") else {
        return;
    };
    let dirs: Vec<CString> = OVERLAID
        .iter()
        .chain(&["root"])
        .filter_map(|d| CString::new(format!("/{d}")).ok())
        .collect();
    let fd = ns.as_raw_fd();
    let mut child = Command::new(true_bin);
    child
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the child only makes the setns(2) and
    // umount2(2) system calls, on memory prepared before the fork.
    unsafe {
        child.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNS) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            for d in &dirs {
                libc::umount2(d.as_ptr(), 0);
            }
            Ok(())
        });
    }
    // Best effort: should it fail, the namespace still goes when `ns` closes.
    let _ = child.status();
}

/// Whether the node's network namespace exists.
pub fn has_netns(spec: &NodeSpec) -> bool {
    cmd::netns_exists(&spec.netns())
}

/// Reads a node's index file.
pub fn read_index(node: &NodePaths) -> Result<Option<u32>, LocalError> {
    Ok(cmd::read_opt(&node.index_file())?.and_then(|s| s.trim().parse().ok()))
}
