//! The job queue's view of the cluster, whatever the batch system.

use serde::{Deserialize, Serialize};

/// A node as the job queue sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueState {
    /// Up, no job.
    Idle,
    /// Up, running (or finishing) jobs.
    Used,
    /// Down, powered off, or not responding.
    Off,
    /// Failed or drained by an administrator.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueNode {
    pub name: String,
    pub state: QueueState,
}

/// A job waiting to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    /// CPUs per node.
    #[serde(default = "one")]
    pub cpus: u32,
    /// Memory per node, MiB (0: any).
    #[serde(default)]
    pub memory_mb: u64,
    /// Nodes it needs.
    #[serde(default = "one")]
    pub nodes: u32,
    #[serde(default)]
    pub partition: Option<String>,
    /// GPUs per node (SLURM's `--gres=gpu:N`).
    #[serde(default)]
    pub gpus: u32,
    /// When it became pending, in the decision clock's milliseconds: the
    /// queue's own submit time when it gives one, else when the daemon
    /// first saw it. `None`: long enough ago for every rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_since: Option<i64>,
    /// Why the queue will never run it as the cluster is configured
    /// (SLURM's `PartitionConfig`): no node is powered on for it, and it
    /// is reported. `None`: it waits for nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
}

fn one() -> u32 {
    1
}

/// One reading of the queue.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Pending jobs, in queue order.
    #[serde(default)]
    pub pending: Vec<Job>,
    /// Jobs running now.
    #[serde(default)]
    pub running: u32,
    #[serde(default)]
    pub nodes: Vec<QueueNode>,
}

impl Snapshot {
    pub fn node(&self, name: &str) -> Option<QueueState> {
        self.nodes.iter().find(|n| n.name == name).map(|n| n.state)
    }
}
