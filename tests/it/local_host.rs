//! The local provider on this host: nodes made of Linux namespaces, reached
//! with the system `ssh` client, and destroyed without a trace.
//!
//! Needs root, iproute2, util-linux, openssh-server and openssh-client
//! (`scripts/install-test-deps.sh` installs them).

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nubo::provider::local::{LocalError, LocalProvider, naming};

use crate::support::{local, skip_or_fail};

/// The tests of this file run one at a time: a namespace inode freed by one
/// may be reused at once by the other, which would confuse the trace check.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn can_run() -> bool {
    if let Err(e) = LocalProvider::check_host() {
        skip_or_fail(&format!("the local provider cannot run here: {e}"));
        return false;
    }
    if Command::new("ssh").arg("-V").output().is_err() {
        skip_or_fail("no ssh client: apt-get install openssh-client");
        return false;
    }
    local::sweep_stale();
    true
}

/// A cluster under a fresh root, destroyed when dropped, even on a failed
/// assertion.
struct Cluster {
    provider: LocalProvider,
    name: String,
    root: PathBuf,
}

impl Cluster {
    fn new(tag: &str) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let unique = format!("{tag}-{}-{nanos:x}", std::process::id());
        let root = PathBuf::from(format!("/tmp/nubo-it-{unique}"));
        Cluster {
            provider: LocalProvider::new(&root),
            name: format!("it-{unique}"),
            root,
        }
    }

    fn ssh(&self, ip: Ipv4Addr, command: &str) -> Output {
        let key = self.provider.user_key_path(&self.name);
        let t = Instant::now();
        // `timeout`: a hung session fails the test instead of stalling it.
        let out = Command::new("timeout")
            .args(["60", "ssh", "-i"])
            .arg(&key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=5",
                "-o",
                "ServerAliveInterval=5",
            ])
            .arg(format!("root@{ip}"))
            .arg(command)
            .output()
            .expect("run ssh");
        if t.elapsed() > Duration::from_secs(5) {
            eprintln!("slow: ssh {ip} {command:?} took {:?}", t.elapsed());
        }
        out
    }

    /// Runs a command on a node; panics unless it succeeds; its stdout.
    fn ssh_ok(&self, ip: Ipv4Addr, command: &str) -> String {
        crate::support::stdout_of(&format!("ssh {ip} {command:?}"), self.ssh(ip, command))
    }

    fn netns_inodes(&self) -> Vec<u64> {
        local::netns_inodes(&self.name)
    }

    fn traces(&self, netns_inodes: &[u64]) -> Vec<String> {
        local::traces(&self.name, &self.root, netns_inodes)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(e) = self.provider.destroy_cluster(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn tcp_open(ip: Ipv4Addr) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((ip, 22)), Duration::from_millis(300)).is_ok()
}

#[test]
fn local_nodes_lifecycle() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let c = Cluster::new("life");
    let p = &c.provider;
    let t = Instant::now();
    let net = p.ensure_cluster(&c.name).expect("ensure_cluster");
    eprintln!("ensure_cluster (keys, bridge): {:?}", t.elapsed());
    assert_eq!(net.bridge, naming::cluster_id(&c.name));
    assert_eq!(net.host_ip, Ipv4Addr::new(10, 250, net.octet, 1));
    // Idempotent, same choice.
    assert_eq!(p.ensure_cluster(&c.name).unwrap(), net);

    let first_created = Instant::now();
    let mut nodes = Vec::new();
    for (i, name) in ["node0", "node1", "node2"].iter().enumerate() {
        let t = Instant::now();
        let n = p.create_node(&c.name, name, i as u32).expect("create_node");
        let took = t.elapsed();
        eprintln!("create_node {name}: {took:?}");
        assert!(
            took < Duration::from_secs(2),
            "creating {name} took {took:?}"
        );
        assert!(n.running);
        assert_eq!(n.ip, Ipv4Addr::new(10, 250, net.octet, 10 + i as u8));
        nodes.push(n);
    }
    // Creating a running node again returns it as it is.
    assert_eq!(p.create_node(&c.name, "node1", 1).unwrap(), nodes[1]);
    assert!(matches!(
        p.create_node(&c.name, "node1", 7),
        Err(LocalError::IndexMismatch { existing: 1, .. })
    ));
    assert!(matches!(
        p.create_node(&c.name, "other", 1),
        Err(LocalError::IndexTaken { index: 1, .. })
    ));
    assert!(matches!(
        p.create_node(&c.name, "bad_name", 5),
        Err(LocalError::InvalidName { .. })
    ));

    // Each node answers over SSH with its own hostname.
    for n in &nodes {
        assert_eq!(c.ssh_ok(n.ip, "hostname").trim(), n.name);
    }

    // The host key is the cluster's: strict checking against known_host_key.
    let known = c.root.join("known_hosts");
    let key = p.known_host_key(&c.name).unwrap();
    std::fs::write(&known, format!("{} {key}\n", nodes[0].ip)).unwrap();
    let strict = Command::new("timeout")
        .args(["60", "ssh", "-i"])
        .arg(p.user_key_path(&c.name))
        .args(["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"])
        .arg("-o")
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg(format!("root@{}", nodes[0].ip))
        .arg("true")
        .output()
        .unwrap();
    assert!(
        strict.status.success(),
        "strict host key check: {}",
        String::from_utf8_lossy(&strict.stderr)
    );

    // Files: a node's /etc is its own.
    let marker = format!("nubo-it-{}", std::process::id());
    c.ssh_ok(nodes[1].ip, &format!("echo hello > /etc/{marker}"));
    assert_eq!(
        c.ssh_ok(nodes[1].ip, &format!("cat /etc/{marker}")),
        "hello\n"
    );
    assert!(
        !Path::new("/etc").join(&marker).exists(),
        "visible on the host"
    );
    let on2 = c.ssh(nodes[2].ip, &format!("test -e /etc/{marker}"));
    assert_eq!(on2.status.code(), Some(1), "visible on node2");

    // Nodes reach each other over the bridge.
    let banner = c.ssh_ok(
        nodes[1].ip,
        &format!(
            "bash -c 'exec 3<>/dev/tcp/{}/22 && head -c 4 <&3'",
            nodes[2].ip
        ),
    );
    assert_eq!(banner, "SSH-");

    // No route off the bridge.
    let routes = c.ssh_ok(nodes[0].ip, "ip route; ip -6 route");
    assert!(!routes.contains("default"), "routes: {routes}");
    let off = c.ssh(nodes[0].ip, "ip route get 1.1.1.1");
    assert!(!off.status.success(), "a route off the bridge exists");

    // A node's own namespaces: its uptime starts at its creation, its
    // processes are its own, it sees only its interfaces.
    let uptime: f64 = c
        .ssh_ok(nodes[0].ip, "cut -d' ' -f1 /proc/uptime")
        .trim()
        .parse()
        .unwrap();
    let since = first_created.elapsed().as_secs_f64();
    assert!(
        uptime <= since + 1.5,
        "uptime {uptime} s, created {since} s ago"
    );
    let pid1 = c.ssh_ok(nodes[0].ip, "cat /proc/1/comm");
    assert_eq!(pid1.trim(), "sshd");
    let links = c.ssh_ok(nodes[0].ip, "ls /sys/class/net");
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), ["eth0", "lo"]);

    // Listing comes from what exists.
    let listed = p.list_nodes(&c.name).unwrap();
    assert_eq!(listed, nodes);

    // Stop and start keep the files, address and MAC.
    c.ssh_ok(nodes[2].ip, "echo kept > /srv/keep");
    p.stop_node(&c.name, "node2").unwrap();
    let stopped = &p.list_nodes(&c.name).unwrap()[2];
    assert!(!stopped.running && stopped.init_pid.is_none());
    assert!(!tcp_open(nodes[2].ip), "node2 still answers after stop");
    p.stop_node(&c.name, "node2").expect("stopping twice");
    let t = Instant::now();
    let again = p.start_node(&c.name, "node2").unwrap();
    eprintln!("start_node node2: {:?}", t.elapsed());
    assert_eq!((again.ip, &again.mac), (nodes[2].ip, &nodes[2].mac));
    assert_eq!(c.ssh_ok(nodes[2].ip, "cat /srv/keep"), "kept\n");
    assert_eq!(c.ssh_ok(nodes[2].ip, "hostname").trim(), "node2");

    // Destroying one node leaves the others.
    p.destroy_node(&c.name, "node0").unwrap();
    p.destroy_node(&c.name, "node0").expect("destroying twice");
    let names: Vec<String> = p
        .list_nodes(&c.name)
        .unwrap()
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["node1", "node2"]);
    assert!(
        !Path::new("/run/netns")
            .join(naming::netns_name(&c.name, 0))
            .exists()
    );
    assert_eq!(c.ssh_ok(nodes[1].ip, "hostname").trim(), "node1");

    // Destroying the cluster leaves nothing.
    let inodes = c.netns_inodes();
    assert_eq!(inodes.len(), 2);
    p.destroy_cluster(&c.name).expect("destroy_cluster");
    let traces = c.traces(&inodes);
    assert!(traces.is_empty(), "left behind: {traces:#?}");
    p.destroy_cluster(&c.name).expect("destroying twice");
    assert!(p.list_nodes(&c.name).unwrap().is_empty());
}

#[test]
fn local_destroy_after_crash_mid_create() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let c = Cluster::new("crash");
    let p = &c.provider;
    let net = p.ensure_cluster(&c.name).unwrap();
    let full = p.create_node(&c.name, "full", 0).unwrap();

    // A node whose init was killed right after it started: its network is
    // there, its processes are not.
    let killed = p.create_node(&c.name, "killed", 1).unwrap();
    let init = killed.init_pid.unwrap();
    Command::new("kill")
        .args(["-9", &init.to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.list_nodes(&c.name).unwrap()[1].running {
        assert!(
            Instant::now() < deadline,
            "killed init still listed as running"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Creating it again recovers it.
    let back = p.create_node(&c.name, "killed", 1).unwrap();
    assert!(back.running);
    assert_eq!(c.ssh_ok(back.ip, "hostname").trim(), "killed");
    Command::new("kill")
        .args(["-9", &back.init_pid.unwrap().to_string()])
        .status()
        .unwrap();
    // Regression: a fixed 50 ms was not always enough for the killed init
    // to be gone on a loaded machine (CI); wait as above.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.list_nodes(&c.name).unwrap()[1].running {
        assert!(
            Instant::now() < deadline,
            "killed init (again) still listed as running"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    // A node that crashed half-way: its directory and index, its network
    // namespace and veth, a stray process in the namespace, no init.
    let cluster_dir = c.root.join(naming::cluster_id(&c.name));
    let half = cluster_dir.join("nodes/half");
    std::fs::create_dir_all(half.join("upper/etc")).unwrap();
    std::fs::write(half.join("index"), "5\n").unwrap();
    let ns = naming::netns_name(&c.name, 5);
    let veth = naming::veth_name(&c.name, 5);
    let ip = |args: &[&str]| {
        let s = Command::new("ip").args(args).status().unwrap();
        assert!(s.success(), "ip {args:?}");
    };
    ip(&["netns", "add", &ns]);
    ip(&[
        "link", "add", "name", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ]);
    let mut stray = Command::new("ip")
        .args(["netns", "exec", &ns, "sleep", "600"])
        .spawn()
        .unwrap();
    // An orphan namespace with the cluster's prefix and no directory.
    let orphan = naming::netns_name(&c.name, 9);
    ip(&["netns", "add", &orphan]);
    std::thread::sleep(Duration::from_millis(50));

    let nodes = p.list_nodes(&c.name).unwrap();
    let running: Vec<(&str, bool)> = nodes.iter().map(|n| (n.name.as_str(), n.running)).collect();
    assert_eq!(
        running,
        [("full", true), ("killed", false), ("half", false)]
    );
    assert!(tcp_open(full.ip));
    assert_eq!(net.octet, p.ensure_cluster(&c.name).unwrap().octet);

    let inodes = c.netns_inodes();
    assert_eq!(inodes.len(), 4);
    p.destroy_cluster(&c.name)
        .expect("destroy_cluster after a crash");
    let _ = stray.wait();
    let traces = c.traces(&inodes);
    assert!(traces.is_empty(), "left behind: {traces:#?}");
}

#[test]
fn local_parallel_creates() {
    if !can_run() {
        return;
    }
    let _serial = serial();
    let c = Cluster::new("para");
    let t = Instant::now();
    let nodes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                let c = &c;
                s.spawn(move || c.provider.create_node(&c.name, &format!("wn{i}"), i))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    eprintln!(
        "4 nodes created in parallel (with the cluster) in {:?}",
        t.elapsed()
    );
    for n in &nodes {
        let n = n.as_ref().expect("create_node");
        assert!(tcp_open(n.ip), "{} does not answer", n.name);
    }
    assert_eq!(c.provider.list_nodes(&c.name).unwrap().len(), 4);
    let inodes = c.netns_inodes();
    c.provider.destroy_cluster(&c.name).unwrap();
    let traces = c.traces(&inodes);
    assert!(traces.is_empty(), "left behind: {traces:#?}");
}
