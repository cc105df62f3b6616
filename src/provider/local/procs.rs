//! Finding, watching and killing a node's processes through `/proc`.
//!
//! A node's processes are found from what exists, never from memory: those
//! whose network namespace is the node's, and those whose command line names
//! the node's directory (the init script of nodes started by earlier
//! versions, `sh <node dir>/init.sh`). Every process of a node enters its
//! network namespace before anything else.
//! Killing the init (PID 1 of the node's PID namespace) makes the kernel kill
//! every other process of the node.

use std::path::Path;
use std::time::{Duration, Instant};

use super::error::LocalError;

/// The inode of a namespace file (`/run/netns/NAME`, `/proc/PID/ns/net`);
/// `None` unless it really is a namespace (a half-created `/run/netns/NAME`
/// is an empty file, not yet a mount of the namespace).
pub fn ns_inode(path: &Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let nsfs = std::fs::metadata("/proc/self/ns/net").ok()?.dev();
    let m = std::fs::metadata(path).ok()?;
    (m.dev() == nsfs).then(|| m.ino())
}

/// The inode of a process's network namespace, from `net:[INODE]`.
fn proc_netns_inode(pid: u32) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    let s = link.to_str()?;
    s.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// State letter and start time (clock ticks since boot) from `/proc/PID/stat`.
fn stat(pid: u32) -> Option<(char, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold anything: skip past it.
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    // Fields after the state start at field 4 (ppid); start time is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// The process's start time, if it is alive (zombies have released their
/// namespaces and count as gone).
pub fn start_time(pid: u32) -> Option<u64> {
    match stat(pid)? {
        ('Z' | 'X' | 'x', _) => None,
        (_, start) => Some(start),
    }
}

pub fn is_alive(pid: u32) -> bool {
    start_time(pid).is_some()
}

/// Live processes in one of the network namespaces (by inode), or whose
/// command line contains `marker`. Never this process.
pub fn find(netns_inodes: &[u64], marker: Option<&str>) -> Vec<u32> {
    let me = std::process::id();
    let marker = marker.map(str::as_bytes);
    all_pids()
        .into_iter()
        .filter(|&pid| pid != me && is_alive(pid))
        .filter(|&pid| {
            proc_netns_inode(pid).is_some_and(|i| netns_inodes.contains(&i))
                || marker.is_some_and(|m| {
                    std::fs::read(format!("/proc/{pid}/cmdline"))
                        .is_ok_and(|c| c.windows(m.len()).any(|w| w == m))
                })
        })
        .collect()
}

/// SIGKILLs the processes and waits until they are gone, searching again
/// with `find_again` (a process may fork while being killed).
pub fn kill_all(
    what: &str,
    pids: Vec<u32>,
    find_again: impl Fn() -> Vec<u32>,
) -> Result<(), LocalError> {
    const TIMEOUT: Duration = Duration::from_secs(10);
    let deadline = Instant::now() + TIMEOUT;
    let mut pids = pids;
    loop {
        for &pid in &pids {
            // SAFETY: kill(2) has no memory effects; a vanished pid is ESRCH.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        // Wait for these to die before searching again.
        let wait_until = Instant::now() + Duration::from_secs(2);
        while pids.iter().any(|&p| is_alive(p)) && Instant::now() < wait_until {
            std::thread::sleep(Duration::from_millis(2));
        }
        let again = find_again();
        let still: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&p| is_alive(p))
            .chain(again)
            .collect();
        if still.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(LocalError::KillTimeout {
                what: what.to_string(),
                secs: TIMEOUT.as_secs(),
                pids: still,
            });
        }
        pids = still;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_stat_and_netns() {
        let me = std::process::id();
        assert!(is_alive(me));
        assert!(proc_netns_inode(me).is_some());
        assert_eq!(
            proc_netns_inode(me),
            ns_inode(Path::new("/proc/self/ns/net"))
        );
    }
}
