//! Per-cluster advisory locks, so two nubo processes never act on one
//! cluster at once.
//!
//! The lock is `flock(LOCK_EX | LOCK_NB)` on `locks/NAME.lock` in the state
//! directory. The kernel releases it when the holder exits, however it
//! exits, so a SIGKILLed nubo never leaves a cluster locked. The holder
//! writes its pid into the file, for the "busy" message of the next one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::cluster::validate_name;
use super::{Result, StateError, StateStore, create_private_dir};

/// A held cluster lock; dropping it releases the lock.
#[derive(Debug)]
pub struct ClusterLock {
    cluster: String,
    path: PathBuf,
    // Holds the flock: closing the file releases it.
    _file: File,
}

impl ClusterLock {
    /// The locked cluster.
    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the lock file, then releases the lock (after a cluster is
    /// deleted). Safe against a racing locker: [`StateStore::lock_cluster`]
    /// retries when the file it locked is no longer the one at the path.
    pub fn remove(self) -> Result<()> {
        std::fs::remove_file(&self.path).map_err(|e| StateError::io(&self.path, e))
    }
}

impl StateStore {
    /// Takes the cluster's lock without waiting. If another process holds
    /// it, fails with [`StateError::ClusterBusy`] naming that process.
    pub fn lock_cluster(&self, cluster: &str) -> Result<ClusterLock> {
        self.lock_file(cluster, "lock")
    }

    /// The lock of the cluster's elasticity daemon (one per cluster),
    /// taken the same way as [`StateStore::lock_cluster`], in
    /// `locks/NAME.elastic.lock`.
    pub fn lock_daemon(&self, cluster: &str) -> Result<ClusterLock> {
        self.lock_file(cluster, "elastic.lock")
    }

    fn lock_file(&self, cluster: &str, suffix: &str) -> Result<ClusterLock> {
        validate_name(cluster)?;
        let dir = self.dir().join("locks");
        create_private_dir(&dir)?;
        let path = dir.join(format!("{cluster}.{suffix}"));
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| StateError::io(&path, e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(TryLockError::WouldBlock) => {
                    return Err(StateError::ClusterBusy {
                        cluster: cluster.to_string(),
                        pid: read_pid(&mut file),
                    });
                }
                Err(TryLockError::Error(e)) => return Err(StateError::io(&path, e)),
            }
            // The holder before us may have removed the file between our
            // open and our lock: then we locked an orphan; start again.
            if !same_file(&file, &path) {
                continue;
            }
            write_pid(&mut file).map_err(|e| StateError::io(&path, e))?;
            return Ok(ClusterLock {
                cluster: cluster.to_string(),
                path,
                _file: file,
            });
        }
    }
}

fn same_file(file: &File, path: &Path) -> bool {
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn write_pid(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.rewind()?;
    writeln!(file, "{}", std::process::id())
}

fn read_pid(file: &mut File) -> Option<u32> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
}
