//! One node: its files, its network, its init, and their teardown.
//!
//! Bringing a node up:
//! 1. files: overlay upper and work directories under the node directory,
//!    and the node's own `/root` (started from `/etc/skel`);
//!    `/etc/nubo-node/` (sshd config, the cluster's host key, the authorized
//!    key), `/etc/hostname`, `/etc/hosts` and `/etc/machine-id` written
//!    straight into the upper `/etc` (the overlay is not mounted then);
//! 2. network: `ip netns add nb-H-I`; a veth pair `nbHvI` (on the bridge) and
//!    `eth0` (in the namespace, with the node's fixed MAC); `lo` and `eth0`
//!    up with `10.250.X.(10+I)/24`, so the only route is the bridge's subnet;
//! 3. init: `nsenter --net=/run/netns/nb-H-I unshare --mount --uts
//!    --ipc --pid --cgroup --time --fork --kill-child --mount-proc
//!    --boottime=-B --monotonic=-M sh <node dir>/init.sh`, detached from
//!    nubo (started by a shell in a new session that exits at once, so nodes
//!    outlive the nubo process). The clock offsets make the node's uptime
//!    start at zero. The script mounts the node's file system (see
//!    [`init_script`]) and `exec`s sshd, which is then PID 1 of the node: it
//!    reaps orphans like an init, and killing it ends every process of the
//!    node (so does killing `unshare`, through `--kill-child`);
//! 4. ready: create returns once sshd answers with its SSH banner on port 22.
//!
//! Tearing down (stop, destroy, or before a re-start): SIGKILL every process
//! in the node's network namespace or with the node directory on its command
//! line, wait until they are gone, delete the veth pair and the namespace.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cmd::{self, sh_quote};
use super::error::LocalError;
use super::keys;
use super::naming::{self, ClusterPaths, NodePaths, OVERLAID};
use super::procs;

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
         PidFile /run/sshd.pid\n\
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

/// The node's init: runs as PID 1 of the node's namespaces, already in its
/// network namespace, with a private copy of the host's mounts.
pub fn init_script(spec: &NodeSpec, node: &NodePaths) -> String {
    let dir = sh_quote(&node.dir.display().to_string());
    let root_home = sh_quote(&node.root_home().display().to_string());
    let overlaid = OVERLAID.join(" ");
    format!(
        r#"#!/bin/sh
# nubo local node `{name}` of cluster `{cluster}`: PID 1 of the node until it
# execs sshd. Written by nubo at each start of the node.
set -eu
node={dir}
echo "nubo: booting node {name} ($(date -u +%FT%TZ))"
# The copied mounts must not leak back to the host, nor keep other nodes'
# network namespaces alive (ip netns keeps them as nsfs mounts). They lie
# under /run/netns, which one lazy unmount removes with all it holds (one
# umount per node, not one per network namespace on the host); then any
# elsewhere.
mount --make-rprivate /
if mountpoint -q /run/netns; then umount -l /run/netns; fi
sed -n 's/^[^ ]* [^ ]* [^ ]* [^ ]* \([^ ]*\) .* - nsfs .*/\1/p' /proc/self/mountinfo |
  while read -r m; do umount -l "$m" 2>/dev/null || true; done
# This node's interfaces and cgroups.
umount -l /sys 2>/dev/null || true
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup ||
  echo "nubo: no cgroup2 in this node"
# The node's own files: the host's trees with the node's changes on top.
for d in {overlaid}; do
  [ -d "/$d" ] || continue
  mount -t overlay "nubo-$d" -o "lowerdir=/$d,upperdir=$node/upper/$d,workdir=$node/work/$d" "/$d"
done
mount --bind {root_home} /root
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs /run
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mkdir -p -m 0755 /run/sshd /run/lock
hostname {name}
echo "nubo: node {name} up, starting sshd"
exec /usr/sbin/sshd -D -e -f /etc/{NODE_ETC}/sshd_config
"#,
        name = spec.name,
        cluster = spec.cluster.replace('\n', " "),
    )
}

/// Writes the node's files: overlay directories, `/etc` files, init script.
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
    cmd::write_file(
        &node.init_script(),
        init_script(spec, node).as_bytes(),
        0o755,
    )
}

/// Makes the node's `/root` at its first start: mode 0700, with the files
/// of `/etc/skel` (`.bashrc`, `.profile`), as on a freshly installed host.
fn seed_root_home(node: &NodePaths) -> Result<(), LocalError> {
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

/// The node's network namespace, veth pair and addresses.
pub fn setup_network(spec: &NodeSpec) -> Result<(), LocalError> {
    let ns = spec.netns();
    let veth = spec.veth();
    let bridge = naming::cluster_id(&spec.cluster);
    cmd::run(
        "creating the node's network namespace",
        "ip",
        &["netns", "add", &ns],
        None,
    )?;
    cmd::run(
        "creating the node's veth pair",
        "ip",
        &["-batch", "-"],
        Some(&format!(
            "link add name {veth} type veth peer name eth0 address {mac} netns {ns}\n\
             link set dev {veth} master {bridge} up\n",
            mac = spec.mac()
        )),
    )?;
    cmd::run(
        "configuring the node's network",
        "ip",
        &["-n", &ns, "-batch", "-"],
        Some(&format!(
            "link set dev lo up\naddr add {ip}/24 dev eth0\nlink set dev eth0 up\n",
            ip = spec.ip()
        )),
    )?;
    Ok(())
}

/// CLOCK_BOOTTIME and CLOCK_MONOTONIC, whole seconds.
fn clocks() -> (i64, i64) {
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

/// Starts the node's init, detached; returns its pid (as seen on the host).
pub fn spawn_init(spec: &NodeSpec, node: &NodePaths) -> Result<u32, LocalError> {
    let nsenter = cmd::tool("nsenter")?;
    let unshare = cmd::tool("unshare")?;
    let sh = cmd::tool("sh")?;
    let (boot, mono) = clocks();
    let netns = cmd::netns_path(&spec.netns());
    let log = node.console_log();
    let args: Vec<String> = vec![
        nsenter.display().to_string(),
        format!("--net={}", netns.display()),
        unshare.display().to_string(),
        "--mount".into(),
        "--uts".into(),
        "--ipc".into(),
        "--pid".into(),
        "--cgroup".into(),
        "--time".into(),
        "--fork".into(),
        "--kill-child".into(),
        "--mount-proc".into(),
        format!("--boottime=-{boot}"),
        format!("--monotonic=-{mono}"),
        sh.display().to_string(),
        node.init_script().display().to_string(),
    ];
    let command = format!(
        "setsid sh -c '\"$@\" >>LOG 2>&1 & echo $!' sh {}",
        args.join(" ")
    );
    let fail = |detail: String| LocalError::Command {
        what: "starting the node's init".into(),
        command: command.clone(),
        detail,
    };
    let log_err = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .map_err(|e| LocalError::io("cannot open console log", &log, e))?;
    // The shell, in a session of its own, starts the init in the background
    // and exits: the init is re-parented away from nubo, so it outlives nubo,
    // leaves no zombie, and has no terminal whose signals could reach it.
    let mut command_builder = Command::new(&sh);
    // SAFETY: setsid(2) is async-signal-safe, as pre_exec requires.
    unsafe {
        command_builder.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = command_builder
        .arg("-c")
        .arg(r#""$@" </dev/null >>"$NUBO_NODE_LOG" 2>&1 & echo $!"#)
        .arg("sh")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_err)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("NUBO_NODE_LOG", &log)
        .output()
        .map_err(|e| fail(format!("cannot run {}: {e}", sh.display())))?;
    if !out.status.success() {
        return Err(fail(format!("it exited with {}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let outer: u32 = text
        .trim()
        .parse()
        .map_err(|_| fail(format!("no pid in its output {text:?}")))?;
    // `outer` is `unshare` (nsenter exec'd it); its one child,
    // once forked, is PID 1 of the node.
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        if let Some(&init) = procs::children(outer).first() {
            return Ok(init);
        }
        if !procs::is_alive(outer) {
            return Err(boot_error(spec, node, "its init exited at once"));
        }
        if Instant::now() > deadline {
            return Err(boot_error(spec, node, "its init did not start within 3 s"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
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

/// Waits until sshd answers on port 22 with its banner, or fails after
/// `timeout` or as soon as the init dies.
pub fn wait_for_sshd(
    spec: &NodeSpec,
    node: &NodePaths,
    init: u32,
    timeout: Duration,
) -> Result<(), LocalError> {
    use std::io::Read;
    let addr = SocketAddr::from((spec.ip(), 22));
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() && &buf == b"SSH-" {
                return Ok(());
            }
        }
        if !procs::is_alive(init) {
            return Err(boot_error(spec, node, "its init exited"));
        }
        if Instant::now() >= deadline {
            return Err(boot_error(
                spec,
                node,
                &format!(
                    "sshd did not answer on {addr} within {} s",
                    timeout.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
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
