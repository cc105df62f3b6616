//! Providers: where a cluster's machines come from.
//!
//! A provider creates, stops, starts and destroys VMs; configuring them
//! happens over SSH, above this layer. Every provider implements
//! [`Provider`]; the launch operation and the elasticity daemon only see
//! the trait. [`local`] is the embedded default: nodes are Linux namespaces
//! on the machine nubo runs on ([`local_cloud::LocalCloud`] adapts it to
//! the trait).
//!
//! # The contract
//!
//! - Every call that creates something receives the intent's idempotency
//!   `token` and the cluster's name; the provider marks what it creates with
//!   both (a tag, a name, a label) so [`Provider::list_vms`] finds it again
//!   after a crash, and a repeated create with the same token does not make
//!   a second VM where the API allows it (EC2 `ClientToken`).
//! - Errors say whether retrying can help ([`ProviderError::is_transient`]);
//!   a quota or credential error is final.
//! - Calls are async; a provider that blocks (the local one runs `ip`)
//!   moves its work to a blocking thread.

pub mod cloud;
pub mod dummy;
#[cfg(feature = "ec2")]
pub mod ec2;
pub mod local;
pub mod local_cloud;
pub mod opennebula;
pub mod openstack;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;

use crate::model::{NetworkSpec, SystemSpec};

/// A boxed future, so [`Provider`] can be used as `dyn Provider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to create: one VM of a system.
#[derive(Clone, Debug)]
pub struct VmRequest {
    pub cluster: String,
    /// The node's name in the cluster (`wn-1`): its host name.
    pub node: String,
    /// The VM number across the cluster (IM's numbering, from 0).
    pub number: u32,
    /// The intent's idempotency token.
    pub token: String,
    /// The system the VM is an instance of, with every feature.
    pub system: SystemSpec,
    /// The networks its interfaces connect to, in interface order.
    pub networks: Vec<NetworkSpec>,
    /// The OpenSSH public key nubo logs in with, to inject (cloud-init).
    pub public_key: String,
}

/// A VM's power state as the provider reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VmStatus {
    /// Being created or booting.
    Pending,
    Running,
    Stopped,
    /// The provider reports a failure.
    Failed,
    /// Being deleted or deleted.
    Terminated,
    Unknown,
}

/// A VM as the provider reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmInfo {
    /// The provider's id for the VM.
    pub id: String,
    /// The node name it was created for, when the provider recorded it.
    pub node: Option<String>,
    /// The idempotency token it was created with, when recorded.
    pub token: Option<String>,
    /// Addresses, the one to reach it over SSH first (public before private).
    pub addresses: Vec<String>,
    pub status: VmStatus,
}

/// How to log in to a VM over SSH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshAccess {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The private key; `None` means the cluster key the launch made (whose
    /// public half went into [`VmRequest::public_key`]).
    pub key_path: Option<PathBuf>,
    /// The host key (`TYPE BASE64`) when the provider knows it in advance;
    /// otherwise it is trusted at first contact and pinned.
    pub host_key: Option<String>,
}

impl SshAccess {
    /// A cloud VM's access: port 22, the cluster key, the host key pinned
    /// at first contact.
    pub fn cloud(host: String, user: String) -> SshAccess {
        SshAccess {
            host,
            port: 22,
            user,
            key_path: None,
            host_key: None,
        }
    }
}

/// A provider error, classified for the walk's retry policy.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Worth retrying: a timeout, a 5xx, a busy host.
    #[error("{0}")]
    Transient(String),
    /// The credentials are refused: fix the auth file.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A quota or limit is reached: final for this launch.
    #[error("quota exceeded: {0}")]
    Quota(String),
    /// The VM or resource does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// This provider cannot do that (e.g. stop on a provider without it).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Anything else that retrying will not fix.
    #[error("{0}")]
    Final(String),
}

impl ProviderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ProviderError::Transient(_))
    }
}

pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// A place VMs come from. Object safe: the launch holds `Arc<dyn Provider>`.
pub trait Provider: Send + Sync {
    /// The id of its line in the auth file (`local`, `ost1`, ...).
    fn id(&self) -> &str;

    /// The kind, as in the auth file's `type` (`Local`, `OpenStack`, ...).
    fn kind(&self) -> &'static str;

    /// Checks the credentials and that the endpoint answers.
    fn check(&self) -> BoxFuture<'_, Result<()>>;

    /// Makes what the cluster's networks need (for the local provider its
    /// bridge; for clouds networks, security groups). Idempotent. Returns the
    /// provider's id for it, if it made one.
    fn ensure_network<'a>(
        &'a self,
        cluster: &'a str,
        network: &'a NetworkSpec,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>>>;

    /// Creates a VM and returns once the provider has accepted it (it may
    /// still be booting: see [`Provider::wait_running`]).
    fn create_vm<'a>(&'a self, req: &'a VmRequest) -> BoxFuture<'a, Result<VmInfo>>;

    /// Waits until the VM runs and has its addresses.
    fn wait_running<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>>;

    /// The VM's current state; `None` when the provider no longer has it.
    fn vm_info<'a>(
        &'a self,
        cluster: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<VmInfo>>>;

    fn stop_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;

    fn start_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<VmInfo>>;

    /// Destroys a VM. Idempotent: a VM already gone is not an error.
    fn destroy_vm<'a>(&'a self, cluster: &'a str, id: &'a str) -> BoxFuture<'a, Result<()>>;

    /// Every VM the provider holds for the cluster (by its tag or name),
    /// whether nubo recorded it or not.
    fn list_vms<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<Vec<VmInfo>>>;

    /// Removes everything the provider holds for the cluster (VMs, networks,
    /// security groups, keys), found by tag or name rather than from
    /// records: `destroy --force`. Idempotent.
    fn destroy_cluster<'a>(&'a self, cluster: &'a str) -> BoxFuture<'a, Result<()>>;

    /// True when this machine reaches every address the provider gives,
    /// private ones included (the local provider sits on every bridge it
    /// makes). Otherwise a node with no address on a public network is
    /// reached through the cluster's front-end (`ops::reach`).
    fn private_addresses_reachable(&self) -> bool {
        false
    }

    /// How many VMs nubo asks this provider to make or start at once (the
    /// walk runs at most [`crate::plan::walk::WalkOptions`]' VM limit in
    /// all).
    fn creates_at_once(&self) -> usize {
        16
    }

    /// True when a new VM comes up already named after its node (the
    /// cloud-init user data names it). Otherwise nubo names it over SSH
    /// before its first step (EC2: identical instances share one user
    /// data, made in one call).
    fn names_its_vms(&self) -> bool {
        true
    }

    /// False for a provider whose VMs nubo never logs in to (the Dummy
    /// one): its configuration steps are recorded as done at once.
    fn configures_over_ssh(&self) -> bool {
        true
    }

    /// How to log in to a VM of the cluster.
    fn ssh_access<'a>(
        &'a self,
        cluster: &'a str,
        vm: &'a VmInfo,
    ) -> BoxFuture<'a, Result<SshAccess>>;
}

/// A reqwest error with its causes (reqwest's own message is terse), for
/// the HTTP clients of the OpenNebula and OpenStack providers.
pub(crate) fn describe_http_error(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "cannot connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
