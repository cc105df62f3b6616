//! Can this host run local nodes? Root, the tools, and the kernel features.

use std::path::Path;

use super::cmd;
use super::error::LocalError;
use crate::process::Program;

pub fn check() -> Result<(), LocalError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LocalError::NotRoot);
    }
    for (tool, _) in cmd::TOOLS {
        cmd::tool(tool)?;
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        return Err(LocalError::SshdMissing);
    }
    if !has_filesystem("overlay") {
        // It may be a module not loaded yet.
        if let Some(modprobe) = cmd::find_tool("modprobe") {
            let _ = Program::new(modprobe, cmd::TOOL_TIMEOUT)
                .arg("overlay")
                .output_blocking();
        }
        if !has_filesystem("overlay") {
            return Err(LocalError::KernelFeature {
                feature: "overlayfs",
                hint: "modprobe overlay, or use a kernel built with CONFIG_OVERLAY_FS",
            });
        }
    }
    let namespaces = [
        ("net", "network namespaces (CONFIG_NET_NS)"),
        ("pid", "PID namespaces (CONFIG_PID_NS)"),
        ("uts", "UTS namespaces (CONFIG_UTS_NS)"),
        ("ipc", "IPC namespaces (CONFIG_IPC_NS)"),
        ("cgroup", "cgroup namespaces (CONFIG_CGROUPS)"),
        (
            "time",
            "time namespaces (Linux 5.6 or newer, CONFIG_TIME_NS)",
        ),
    ];
    for (ns, feature) in namespaces {
        if !Path::new("/proc/self/ns").join(ns).exists() {
            return Err(LocalError::KernelFeature {
                feature,
                hint: "use a kernel that has it",
            });
        }
    }
    Ok(())
}

fn has_filesystem(fs: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some(fs)))
}
