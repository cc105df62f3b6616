//! What can go wrong in a test cloud, each with what to do about it.

use std::path::PathBuf;

use crate::provider::local::LocalError;

/// An error of the test cloud's hosts, networks or volumes.
#[derive(Debug, thiserror::Error)]
pub enum TestCloudError {
    /// The local provider's node code (namespaces, mounts, veths) failed.
    #[error(transparent)]
    Local(#[from] LocalError),

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid {what} `{value}`: {why}")]
    Invalid {
        what: &'static str,
        value: String,
        why: String,
    },

    #[error(
        "no free /24 left in 10.250.224.0/19 for network `{network}` of test cloud `{cloud}`: destroy test clouds you no longer need"
    )]
    NoFreeSubnet { cloud: String, network: String },

    #[error(
        "network `{network}` of test cloud `{cloud}` does not exist: make it first with TestCloud::network"
    )]
    NoNetwork { cloud: String, network: String },

    #[error("network `{network}` of test cloud `{cloud}` exists already as a {existing} network")]
    NetworkRole {
        cloud: String,
        network: String,
        existing: &'static str,
    },

    #[error("address {ip} of host `{host}` is not usable on network `{network}` ({cidr}): {why}")]
    BadAddress {
        host: String,
        network: String,
        cidr: String,
        ip: std::net::Ipv4Addr,
        why: String,
    },

    #[error("host `{name}` of test cloud `{cloud}` does not exist")]
    NoHost { cloud: String, name: String },

    #[error("host `{name}` of test cloud `{cloud}` exists already: remove it first")]
    HostExists { cloud: String, name: String },

    #[error("host `{name}` of test cloud `{cloud}` is running: stop it first")]
    HostRunning { cloud: String, name: String },

    #[error("test cloud `{cloud}` has no free host index left (0 to {max})")]
    NoFreeIndex { cloud: String, max: u32 },

    #[error("host `{name}` did not boot: {why}; its console log is {log}{tail}")]
    Boot {
        name: String,
        why: String,
        log: PathBuf,
        /// The last lines of the console log, with a leading newline.
        tail: String,
    },

    #[error("left behind after removing {what}: {leftovers}; retry the removal")]
    Leftovers { what: String, leftovers: String },
}

impl TestCloudError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TestCloudError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}
