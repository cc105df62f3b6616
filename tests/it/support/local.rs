//! What the local provider may leave on this host, for the tests that
//! check it leaves nothing.

use nubo::provider::local::{LocalProvider, naming};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

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
