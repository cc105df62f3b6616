//! What the local provider may leave on this host, for the tests that
//! check it leaves nothing.

use super::skip_or_fail;
use nubo::provider::local::{LocalProvider, naming};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Destroys what an earlier test run left when it was killed before its
/// guards ran: `/tmp/nubo-it-<tag>-<pid>-<hex>` of a process that is gone.
pub fn sweep_stale() {
    for e in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        let file_name = e.file_name();
        let Some(rest) = file_name.to_str().and_then(|n| n.strip_prefix("nubo-it-")) else {
            continue;
        };
        let pid = rest.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        if pid.is_none_or(|p| Path::new(&format!("/proc/{p}")).exists()) {
            continue;
        }
        let provider = LocalProvider::new(e.path());
        for cluster_dir in std::fs::read_dir(e.path()).into_iter().flatten().flatten() {
            if let Ok(name) = std::fs::read_to_string(cluster_dir.path().join("cluster")) {
                let name = name.trim_end_matches('\n');
                if let Err(err) = provider.destroy_cluster(name) {
                    eprintln!("sweeping stale test cluster {name}: {err}");
                }
            }
        }
        let _ = std::fs::remove_dir_all(e.path());
    }
}

/// The inodes of the cluster's network namespaces that exist now.
pub fn netns_inodes(cluster: &str) -> Vec<u64> {
    let prefix = naming::netns_prefix(cluster);
    std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| std::fs::metadata(e.path()).ok().map(|m| m.ino()))
        .collect()
}

/// Everything the cluster could leave behind, as descriptions; empty
/// when it is gone without a trace.
pub fn traces(cluster: &str, root: &Path, netns_inodes: &[u64]) -> Vec<String> {
    let mut left = Vec::new();
    let id = naming::cluster_id(cluster);
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    for line in String::from_utf8_lossy(&netns.stdout).lines() {
        if line.starts_with(&naming::netns_prefix(cluster)) {
            left.push(format!("netns {line}"));
        }
    }
    let links = Command::new("ip").args(["-o", "link"]).output().unwrap();
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        let name = line.split(": ").nth(1).unwrap_or("");
        let name = name.split('@').next().unwrap_or("");
        if name == id || name.starts_with(&naming::veth_prefix(cluster)) {
            left.push(format!("link {name}"));
        }
    }
    let root_text = root.display().to_string();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    for line in mounts.lines() {
        if line.contains(&root_text) {
            left.push(format!("mount {line}"));
        }
    }
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&root_text) || cmdline.contains(&id) {
            left.push(format!("process {pid}: {cmdline}"));
        }
        // Any mount namespace still holding the node's overlays.
        let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        if mounts.contains(&root_text) {
            left.push(format!(
                "mounts of {root_text} seen by process {pid}: {cmdline}"
            ));
        }
        if let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net"))
            && netns_inodes.contains(&m.ino())
        {
            left.push(format!("process {pid} in the cluster's netns: {cmdline}"));
        }
    }
    if root.join(&id).exists() {
        left.push(format!("directory {}", root.join(&id).display()));
    }
    left
}

/// Launch tests run one at a time (they share the host's namespaces and
/// the trace checks look at every process).
pub static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn can_run() -> bool {
    if let Err(e) = LocalProvider::check_host() {
        skip_or_fail(&format!("the local provider cannot run here: {e}"));
        return false;
    }
    for (tool, package) in [("ssh", "openssh-client"), ("busybox", "busybox")] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            skip_or_fail(&format!("no {tool}: apt-get install {package}"));
            return false;
        }
    }
    sweep_stale();
    true
}

/// A state directory and a local-provider root of its own, and a cluster
/// name; everything is destroyed when dropped.
pub struct Nubo {
    pub home: PathBuf,
    pub root: PathBuf,
    pub name: String,
}

impl Nubo {
    pub fn new(tag: &str) -> Nubo {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let unique = format!("{tag}-{}-{nanos:x}", std::process::id());
        let root = PathBuf::from(format!("/tmp/nubo-it-{unique}"));
        std::fs::create_dir_all(&root).unwrap();
        Nubo {
            home: root.join("state"),
            name: format!("it-{unique}"),
            root: root.join("local"),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nubo"));
        c.args(args)
            .env("NUBO_HOME", &self.home)
            .env("NUBO_LOCAL_ROOT", &self.root)
            .env("NUBO_LOG", "warn")
            .env_remove("NUBO_TEST_KILL_AT")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run nubo")
    }

    pub fn ok(&self, args: &[&str]) -> String {
        crate::support::stdout_of(&format!("nubo {args:?}"), self.run(args))
    }

    pub fn launch(&self) -> Output {
        self.run(&["launch", &self.name, "demo", "-y"])
    }

    pub fn killed_launch(&self, point: &str) -> Output {
        self.cmd(&["launch", &self.name, "demo", "-y"])
            .env("NUBO_TEST_KILL_AT", point)
            .output()
            .expect("run nubo")
    }

    pub fn traces(&self) -> Vec<String> {
        traces(&self.name, &self.root, &netns_inodes(&self.name))
    }

    pub fn provider(&self) -> LocalProvider {
        LocalProvider::new(&self.root)
    }

    /// The state as recorded, read directly (no reconcile).
    pub fn store(&self) -> nubo::state::StateStore {
        nubo::state::StateStore::open(&self.home).unwrap()
    }

    /// The crash-safety invariant: every node the provider holds is
    /// recorded, or is the target of an open create intent.
    pub fn assert_every_node_tracked(&self, when: &str) {
        let store = self.store();
        let vms = store.vms(&self.name).unwrap_or_default();
        let open = store.open_intents(&self.name).unwrap_or_default();
        for node in self.provider().list_nodes(&self.name).unwrap() {
            let recorded = vms
                .iter()
                .any(|v| v.node == node.name && v.provider_vm_id.as_deref() == Some(&node.name));
            let in_flight = open
                .iter()
                .any(|i| i.kind == nubo::state::IntentKind::CreateVm && i.target == node.name);
            assert!(
                recorded || in_flight,
                "{when}: node {} is on the host but neither recorded nor in flight",
                node.name
            );
        }
    }

    pub fn show(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["show", &self.name, "--json"])).expect("show --json")
    }
}

impl Drop for Nubo {
    fn drop(&mut self) {
        let _ = self.run(&["destroy", &self.name, "-y", "--force"]);
        if let Err(e) = self.provider().destroy_cluster(&self.name) {
            eprintln!("cleanup of {}: {e}", self.name);
        }
        let _ = std::fs::remove_dir_all(self.root.parent().unwrap());
    }
}

/// The nodes `nubo show --json` gives as running, in its order.
pub fn running_nodes(shown: &serde_json::Value) -> Vec<String> {
    shown["vms"]
        .as_array()
        .expect("show --json has vms")
        .iter()
        .filter(|v| v["state"] == "running")
        .map(|v| v["node"].as_str().expect("a VM's node").to_string())
        .collect()
}

pub fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

pub fn assert_nothing_left(n: &Nubo, when: &str) {
    let left = n.traces();
    assert!(left.is_empty(), "{when}: left behind: {left:#?}");
    let key_dir = n.home.join("keys").join(&n.name);
    assert!(!key_dir.exists(), "{when}: {} is left", key_dir.display());
    assert!(
        !n.ok(&["list"]).contains(&n.name),
        "{when}: the cluster is still listed"
    );
}
