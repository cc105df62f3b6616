//! `StateError`: everything the state store can fail with. Each message
//! says what went wrong and, where there is one, what to do next.

use std::path::PathBuf;

use super::intent::{IntentId, IntentKind, IntentState};

/// An error from the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or directory of the state could not be created or read.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The blocking thread a store call ran on ended without an answer
    /// (the runtime is shutting down, or the call panicked).
    #[error("a state store call did not finish: {0}")]
    Interrupted(String),

    /// SQLite reported an error.
    #[error("state database: {0}")]
    Database(#[from] rusqlite::Error),

    /// The file is an SQLite database, but not one of nubo's.
    #[error(
        "{} is not a nubo state database (application id {found:#x}); \
         point NUBO_HOME at another directory",
        path.display()
    )]
    NotNuboDatabase { path: PathBuf, found: i32 },

    /// Neither `NUBO_HOME` nor a home directory is set.
    #[error("cannot tell where nubo keeps its state: set NUBO_HOME (or HOME)")]
    NoStateDir,

    /// The database was written by a newer nubo.
    #[error(
        "the state database has schema version {found}, newer than this nubo \
         knows ({supported}); use a newer nubo"
    )]
    SchemaTooNew { found: u32, supported: u32 },

    /// `PRAGMA integrity_check` found damage.
    #[error(
        "the state database is damaged: {0}; restore it from a backup, or use \
         `destroy --force` to remove what the provider still holds"
    )]
    Damaged(String),

    /// A value read back from the database is not one nubo writes.
    #[error("the state database holds an unexpected value: {0}")]
    Corrupt(String),

    /// A cluster name nubo cannot use (it also names a lock file).
    #[error("invalid cluster name {name:?}: {reason}")]
    InvalidClusterName { name: String, reason: &'static str },

    #[error("cluster `{0}` already exists; pick another name or destroy it first")]
    ClusterExists(String),

    #[error("no cluster named `{0}`; `nubo list` shows the clusters")]
    ClusterNotFound(String),

    /// Another process holds the cluster's lock.
    #[error(
        "cluster `{cluster}` is busy ({}): another nubo is working on it; \
         wait for it to finish or stop it",
        match pid { Some(p) => format!("pid {p}"), None => "pid unknown".to_string() }
    )]
    ClusterBusy { cluster: String, pid: Option<u32> },

    /// Rows would be deleted while the provider may still hold something.
    #[error(
        "cluster `{cluster}` still has live VMs [{}] or {open_intents} open \
         provider operation(s); destroy it first (or use `destroy --force`)",
        live_vms.join(", ")
    )]
    ClusterNotDestroyed {
        cluster: String,
        live_vms: Vec<String>,
        open_intents: usize,
    },

    #[error("cluster `{cluster}` already has a node `{node}`")]
    VmExists { cluster: String, node: String },

    #[error("cluster `{cluster}` has no node `{node}`")]
    VmNotFound { cluster: String, node: String },

    #[error("cluster `{cluster}` has no step {configure}#{step} on node `{node}`")]
    StepNotFound {
        cluster: String,
        node: String,
        configure: String,
        step: u32,
    },

    #[error("no intent with id {0}")]
    IntentNotFound(IntentId),

    /// An intent can be completed once.
    #[error("intent {id} is already {state}, not open")]
    IntentNotOpen { id: IntentId, state: IntentState },

    /// `record_vm_*` was given an intent of another kind.
    #[error("intent {id} is a {kind} intent, not {expected}")]
    IntentKindMismatch {
        id: IntentId,
        kind: IntentKind,
        expected: IntentKind,
    },

    /// An intent's recorded parameters are not what its kind needs (nubo
    /// writes the provider into every one): nothing can be asked of the
    /// provider about it.
    #[error(
        "intent {id} ({kind} of `{target}`) has parameters this nubo cannot read: {reason}; \
         check what its provider holds for `{target}` by hand, or remove the cluster with \
         `nubo destroy --force`, which sweeps every provider by the cluster's name"
    )]
    BadIntentParams {
        id: IntentId,
        kind: IntentKind,
        target: String,
        reason: String,
    },
}

impl StateError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StateError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of the state store.
pub type Result<T, E = StateError> = std::result::Result<T, E>;
