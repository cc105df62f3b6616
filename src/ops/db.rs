//! `Db`: the state store as async code must use it. Every call runs on a
//! blocking thread: SQLite's reads and writes, and the fsync a durable
//! write waits for, must not hold up the runtime's few worker threads.
//! Async code in `ops/` reaches the store only through `Db` (checked by
//! `tests/it/architecture.rs`); synchronous code uses the `StateStore`.

use crate::state::{
    Cluster, ClusterLock, ClusterStatus, GitPin, Intent, IntentId, IntentParams, NewCluster, NewVm,
    Outcome, StateError, StateStore, Step, StepKey, StepStatus, Vm, VmCreated, VmState,
};
use std::sync::Arc;

type Result<T> = std::result::Result<T, StateError>;

#[derive(Clone, Debug)]
pub struct Db(Arc<StateStore>);

impl Db {
    pub fn new(store: Arc<StateStore>) -> Db {
        Db(store)
    }

    /// Runs `f` with the store on a blocking thread.
    pub async fn run<T: Send + 'static, E: From<StateError> + Send + 'static>(
        &self,
        f: impl FnOnce(&StateStore) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E> {
        let store = self.0.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| E::from(StateError::Interrupted(e.to_string())))?
    }

    pub async fn lock_cluster(&self, cluster: &str) -> Result<ClusterLock> {
        let c = cluster.to_string();
        self.run(move |s| s.lock_cluster(&c)).await
    }

    pub async fn cluster(&self, cluster: &str) -> Result<Option<Cluster>> {
        let c = cluster.to_string();
        self.run(move |s| s.cluster(&c)).await
    }

    pub async fn create_cluster(&self, new: NewCluster) -> Result<Cluster> {
        self.run(move |s| s.create_cluster(&new)).await
    }

    pub async fn set_cluster_status(&self, cluster: &str, status: ClusterStatus) -> Result<()> {
        let c = cluster.to_string();
        self.run(move |s| s.set_cluster_status(&c, status)).await
    }

    pub async fn set_cluster_source(
        &self,
        cluster: &str,
        description: String,
        templates: Vec<String>,
    ) -> Result<()> {
        let c = cluster.to_string();
        self.run(move |s| s.set_cluster_source(&c, &description, &templates))
            .await
    }

    pub async fn git_pins(&self, cluster: &str) -> Result<Vec<GitPin>> {
        let c = cluster.to_string();
        self.run(move |s| s.git_pins(&c)).await
    }

    pub async fn set_git_pins(&self, cluster: &str, pins: Vec<GitPin>) -> Result<()> {
        let c = cluster.to_string();
        self.run(move |s| s.set_git_pins(&c, &pins)).await
    }

    pub async fn vm(&self, cluster: &str, node: &str) -> Result<Option<Vm>> {
        let (c, n) = (cluster.to_string(), node.to_string());
        self.run(move |s| s.vm(&c, &n)).await
    }

    pub async fn vms(&self, cluster: &str) -> Result<Vec<Vm>> {
        let c = cluster.to_string();
        self.run(move |s| s.vms(&c)).await
    }

    pub async fn insert_vm(&self, cluster: &str, new: NewVm) -> Result<Vm> {
        let c = cluster.to_string();
        self.run(move |s| s.insert_vm(&c, &new)).await
    }

    pub async fn set_vm_state(&self, cluster: &str, node: &str, state: VmState) -> Result<()> {
        let (c, n) = (cluster.to_string(), node.to_string());
        self.run(move |s| s.set_vm_state(&c, &n, state)).await
    }

    pub async fn set_vm_addresses(
        &self,
        cluster: &str,
        node: &str,
        addresses: Vec<String>,
    ) -> Result<()> {
        let (c, n) = (cluster.to_string(), node.to_string());
        self.run(move |s| s.set_vm_addresses(&c, &n, &addresses))
            .await
    }

    pub async fn delete_vm(&self, cluster: &str, node: &str) -> Result<()> {
        let (c, n) = (cluster.to_string(), node.to_string());
        self.run(move |s| s.delete_vm(&c, &n)).await
    }

    /// Commits an open intent (fsynced) before a provider call.
    pub async fn begin_intent(
        &self,
        cluster: &str,
        target: &str,
        params: IntentParams,
    ) -> Result<Intent> {
        let (c, t) = (cluster.to_string(), target.to_string());
        self.run(move |s| s.begin_intent(&c, &t, &params)).await
    }

    pub async fn complete_intent(&self, id: IntentId, outcome: Outcome) -> Result<Intent> {
        self.run(move |s| s.complete_intent(id, outcome)).await
    }

    pub async fn open_intents(&self, cluster: &str) -> Result<Vec<Intent>> {
        let c = cluster.to_string();
        self.run(move |s| s.open_intents(&c)).await
    }

    pub async fn record_vm_created(&self, id: IntentId, created: VmCreated) -> Result<Vm> {
        self.run(move |s| s.record_vm_created(id, &created)).await
    }

    pub async fn record_vm_destroyed(&self, id: IntentId) -> Result<Vm> {
        self.run(move |s| s.record_vm_destroyed(id)).await
    }

    pub async fn steps(&self, cluster: &str) -> Result<Vec<Step>> {
        let c = cluster.to_string();
        self.run(move |s| s.steps(&c)).await
    }

    pub async fn step(&self, cluster: &str, key: &StepKey) -> Result<Option<Step>> {
        let (c, k) = (cluster.to_string(), key.clone());
        self.run(move |s| s.step(&c, &k)).await
    }

    pub async fn put_step(&self, cluster: &str, key: &StepKey, hash: &str) -> Result<Step> {
        let (c, k, h) = (cluster.to_string(), key.clone(), hash.to_string());
        self.run(move |s| s.put_step(&c, &k, &h)).await
    }

    pub async fn start_step(&self, cluster: &str, key: &StepKey) -> Result<()> {
        let (c, k) = (cluster.to_string(), key.clone());
        self.run(move |s| s.start_step(&c, &k)).await
    }

    pub async fn append_step_log(&self, cluster: &str, key: &StepKey, text: String) -> Result<()> {
        let (c, k) = (cluster.to_string(), key.clone());
        self.run(move |s| s.append_step_log(&c, &k, &text)).await
    }

    pub async fn finish_step(
        &self,
        cluster: &str,
        key: &StepKey,
        status: StepStatus,
        exit_status: Option<i32>,
    ) -> Result<()> {
        let (c, k) = (cluster.to_string(), key.clone());
        self.run(move |s| s.finish_step(&c, &k, status, exit_status))
            .await
    }
}
