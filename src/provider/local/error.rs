//! What can go wrong in the local provider, each with what to do about it.

use std::path::PathBuf;

/// An error of the local provider. Each message says what failed and, where
/// there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "the local provider needs root (it creates network namespaces, a bridge and mounts): run nubo as root"
    )]
    NotRoot,

    #[error("`{tool}` not found: apt-get install {package}")]
    ToolMissing {
        tool: &'static str,
        package: &'static str,
    },

    #[error("sshd not installed (no /usr/sbin/sshd): apt-get install openssh-server")]
    SshdMissing,

    #[error("this kernel lacks {feature}: {hint}")]
    KernelFeature {
        feature: &'static str,
        hint: &'static str,
    },

    #[error("invalid {what} `{value}`: {why}")]
    InvalidName {
        what: &'static str,
        value: String,
        why: &'static str,
    },

    #[error("node index {index} is out of range: local nodes are numbered 0 to {max}")]
    IndexOutOfRange { index: u32, max: u32 },

    #[error("unusable local provider root {path}: {why}")]
    BadRoot { path: PathBuf, why: &'static str },

    #[error("{what} failed: `{command}`: {detail}")]
    Command {
        what: String,
        command: String,
        detail: String,
    },

    #[error("{what}: {source}")]
    Tool {
        what: String,
        #[source]
        source: crate::process::ProcessError,
    },

    #[error("{what}: {source}")]
    System {
        what: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "cluster `{cluster}` has the same id {id} as cluster `{other}` under {root}: rename one of them"
    )]
    ClusterCollision {
        cluster: String,
        other: String,
        id: String,
        root: PathBuf,
    },

    #[error(
        "no free /24 left in 10.250.0.0/16 for cluster `{cluster}`: destroy clusters you no longer need, or free addresses in 10.250.0.0/16"
    )]
    NoFreeSubnet { cluster: String },

    #[error(
        "subnet 10.250.{octet}.0/24 of cluster `{cluster}` is now also used by {user}: remove that address, or destroy and re-create the cluster"
    )]
    SubnetTaken {
        cluster: String,
        octet: u8,
        user: String,
    },

    #[error(
        "node `{name}` of cluster `{cluster}` already exists with index {existing}, not {requested}: destroy it first or use index {existing}"
    )]
    IndexMismatch {
        cluster: String,
        name: String,
        existing: u32,
        requested: u32,
    },

    #[error(
        "index {index} of cluster `{cluster}` is already taken by node `{other}`: give node `{name}` another index"
    )]
    IndexTaken {
        cluster: String,
        name: String,
        other: String,
        index: u32,
    },

    #[error("node `{name}` of cluster `{cluster}` does not exist: create it first")]
    NodeNotFound { cluster: String, name: String },

    #[error("node `{name}` did not come up: {why}; its console log is {log}{tail}")]
    NodeBoot {
        name: String,
        why: String,
        log: PathBuf,
        /// The last lines of the console log, with a leading newline.
        tail: String,
    },

    #[error(
        "processes of {what} did not end within {secs} s after SIGKILL (pids {pids:?}): they may be stuck in the kernel (state D); retry the destroy"
    )]
    KillTimeout {
        what: String,
        secs: u64,
        pids: Vec<u32>,
    },

    #[error("left behind after destroying {what}: {leftovers}; retry the destroy")]
    Leftovers { what: String, leftovers: String },
}

impl LocalError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LocalError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
