//! `ClusterExecutor`: the work of each graph vertex for launch and
//! reconfigure: networks and VMs through a provider (each call between an
//! intent and its completion), configuration steps over SSH.

use super::context::{self, ContextInput};
use super::crash;
use super::env::Env;
use super::observer::{Event, Observer};
use crate::diagnostic::Diagnostic;
use crate::model::{ClusterSpec, Instance};
use crate::plan::graph::Vertex;
use crate::plan::walk::{Executor, StepError};
use crate::provider::{Provider, ProviderError, VmInfo, VmRequest};
use crate::recipe::{self, Recipe};
use crate::source::SourceMap;
use crate::ssh::{KnownHosts, PublicKey, Session, SshTarget, wait_for_ssh};
use crate::state::{
    IntentParams, NewVm, Outcome, StateError, StepKey, StepStatus, VmCreated, VmState,
};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a new VM may take to answer SSH.
const SSH_DEADLINE: Duration = Duration::from_secs(180);

/// Output is written to the state store in chunks of about this size.
const LOG_CHUNK: usize = 8 * 1024;

pub struct ClusterExecutor {
    pub env: Env,
    pub cluster: String,
    pub spec: Arc<ClusterSpec>,
    pub instances: Vec<Instance>,
    /// The provider of each system.
    pub placement: HashMap<String, Arc<dyn Provider>>,
    /// Each configure's recipe, includes expanded.
    pub recipes: HashMap<String, Recipe>,
    /// For rendering recipe diagnostics into messages.
    pub sources: Arc<SourceMap>,
    pub known_hosts: KnownHosts,
    pub variables: serde_json::Value,
    /// The public half of the key nubo logs in with.
    pub public_key: String,
    /// The private key, for providers that take the cluster's key.
    pub key_path: PathBuf,
    pub observer: Arc<dyn Observer>,
    /// Re-run steps even when their recorded run is `ok` with the same
    /// script (`reconfigure --force`).
    pub rerun_all: bool,
    sessions: tokio::sync::Mutex<HashMap<String, Arc<Session>>>,
}

fn state_err(e: StateError) -> StepError {
    StepError::Final(format!("state store: {e}"))
}

fn provider_err(e: ProviderError) -> StepError {
    if e.is_transient() {
        StepError::Transient(e.to_string())
    } else {
        StepError::Final(e.to_string())
    }
}

impl ClusterExecutor {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        env: Env,
        cluster: String,
        spec: Arc<ClusterSpec>,
        placement: HashMap<String, Arc<dyn Provider>>,
        recipes: HashMap<String, Recipe>,
        sources: Arc<SourceMap>,
        known_hosts: KnownHosts,
        variables: serde_json::Value,
        public_key: String,
        key_path: PathBuf,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let instances = spec.instances();
        ClusterExecutor {
            env,
            cluster,
            spec,
            instances,
            placement,
            recipes,
            sources,
            known_hosts,
            variables,
            public_key,
            key_path,
            observer,
            rerun_all: false,
            sessions: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    fn provider(&self, system: &str) -> Result<Arc<dyn Provider>, StepError> {
        self.placement
            .get(system)
            .cloned()
            .ok_or_else(|| StepError::Final(format!("no provider placed for system `{system}`")))
    }

    async fn network(&self, name: &str) -> Result<(), StepError> {
        let Some(net) = self.spec.networks.iter().find(|n| n.name == name) else {
            return Ok(());
        };
        // Every provider some system on this network is placed on.
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        for s in &self.spec.systems {
            if s.count > 0 && s.interfaces.iter().any(|i| i.network == name) {
                let p = self.provider(&s.name)?;
                if !providers.iter().any(|q| q.id() == p.id()) {
                    providers.push(p);
                }
            }
        }
        let store = &self.env.store;
        for p in providers {
            let intent = store
                .begin_intent(
                    &self.cluster,
                    name,
                    &IntentParams::CreateNetwork {
                        provider: p.id().to_string(),
                    },
                )
                .map_err(state_err)?;
            crash::point("network-intent");
            let result = p.ensure_network(&self.cluster, net, &intent.token).await;
            let outcome = match &result {
                Ok(id) => Outcome::Done {
                    provider_id: id.clone(),
                },
                Err(e) => Outcome::Failed {
                    error: e.to_string(),
                },
            };
            store
                .complete_intent(intent.id, outcome)
                .map_err(state_err)?;
            result.map_err(provider_err)?;
        }
        Ok(())
    }

    async fn vm(&self, system: &str, node: &str) -> Result<(), StepError> {
        let store = &self.env.store;
        let provider = self.provider(system)?;
        let inst = self
            .instances
            .iter()
            .find(|i| i.name == node)
            .ok_or_else(|| StepError::Final(format!("node `{node}` is not in the plan")))?;
        // Keep a VM that is recorded running and that the provider still runs.
        if let Some(vm) = store.vm(&self.cluster, node).map_err(state_err)?
            && vm.state == VmState::Running
            && let Some(id) = &vm.provider_vm_id
        {
            match provider.vm_info(&self.cluster, id).await {
                Ok(Some(info)) if info.status == crate::provider::VmStatus::Running => {
                    self.observer.on(&Event::Kept(node.to_string()));
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) => return Err(provider_err(e)),
            }
        }
        match store.vm(&self.cluster, node).map_err(state_err)? {
            None => {
                store
                    .insert_vm(
                        &self.cluster,
                        &NewVm {
                            node: node.to_string(),
                            system: system.to_string(),
                            provider: provider.id().to_string(),
                            state: VmState::Creating,
                        },
                    )
                    .map_err(state_err)?;
            }
            Some(_) => store
                .set_vm_state(&self.cluster, node, VmState::Creating)
                .map_err(state_err)?,
        }
        // Durable before the provider call: it waits for an fsync, which
        // must not hold up the runtime's few worker threads.
        let intent = {
            let (store, cluster, node) = (
                self.env.store.clone(),
                self.cluster.clone(),
                node.to_string(),
            );
            let params = IntentParams::CreateVm {
                provider: provider.id().to_string(),
                system: system.to_string(),
                number: inst.number,
            };
            tokio::task::spawn_blocking(move || store.begin_intent(&cluster, &node, &params))
                .await
                .map_err(|e| StepError::Final(format!("state store task failed: {e}")))?
                .map_err(state_err)?
        };
        crash::point("vm-intent");
        let networks = self
            .spec
            .system(system)
            .map(|s| self.spec.networks_of(s))
            .unwrap_or_default();
        let req = VmRequest {
            cluster: self.cluster.clone(),
            node: node.to_string(),
            number: inst.number,
            token: intent.token.clone(),
            system: self
                .spec
                .system(system)
                .cloned()
                .ok_or_else(|| StepError::Final(format!("system `{system}` is not defined")))?,
            networks,
            public_key: self.public_key.clone(),
        };
        let created = async {
            let info = provider.create_vm(&req).await?;
            crash::point("vm-created");
            provider.wait_running(&self.cluster, &info.id).await
        }
        .await;
        let info = match created {
            Ok(info) => info,
            Err(e) => {
                store
                    .complete_intent(
                        intent.id,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    )
                    .map_err(state_err)?;
                store
                    .set_vm_state(&self.cluster, node, VmState::Failed)
                    .map_err(state_err)?;
                return Err(provider_err(e));
            }
        };
        store
            .record_vm_created(
                intent.id,
                &VmCreated {
                    provider_vm_id: info.id.clone(),
                    addresses: info.addresses.clone(),
                    state: VmState::Running,
                },
            )
            .map_err(state_err)?;
        crash::point("vm-recorded");
        self.observer.on(&Event::Created(node.to_string()));
        Ok(())
    }

    /// Waits for the VM's SSH and keeps the session for its steps (only
    /// nodes that have steps are ever connected to).
    async fn connect(
        &self,
        provider: &Arc<dyn Provider>,
        node: &str,
        info: &VmInfo,
    ) -> Result<(), StepError> {
        if self.sessions.lock().await.contains_key(node) {
            return Ok(());
        }
        let access = provider
            .ssh_access(&self.cluster, info)
            .await
            .map_err(provider_err)?;
        if let Some(key) = &access.host_key {
            let key = PublicKey::from_openssh(key)
                .map_err(|e| StepError::Final(format!("bad host key from the provider: {e}")))?;
            self.known_hosts
                .pin(&access.host, access.port, key)
                .map_err(|e| StepError::Final(e.to_string()))?;
        }
        let target = SshTarget::new(
            &access.host,
            access.port,
            &access.user,
            access
                .key_path
                .clone()
                .unwrap_or_else(|| self.key_path.clone()),
        );
        let session = wait_for_ssh(&target, &self.known_hosts, Instant::now() + SSH_DEADLINE)
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    StepError::Transient(e.to_string())
                } else {
                    StepError::Final(e.to_string())
                }
            })?;
        self.sessions
            .lock()
            .await
            .insert(node.to_string(), Arc::new(session));
        Ok(())
    }

    async fn session(&self, node: &str) -> Result<Arc<Session>, StepError> {
        if let Some(s) = self
            .sessions
            .lock()
            .await
            .get(node)
            .filter(|s| !s.is_closed())
        {
            return Ok(s.clone());
        }
        // A session for a node this run did not create (reconfigure).
        let vm = self
            .env
            .store
            .vm(&self.cluster, node)
            .map_err(state_err)?
            .ok_or_else(|| StepError::Final(format!("node `{node}` has no VM")))?;
        let provider = self.provider(&vm.system)?;
        let info = super::info::recorded_vm_info(&vm);
        self.sessions.lock().await.remove(node);
        self.connect(&provider, node, &info).await?;
        self.sessions
            .lock()
            .await
            .get(node)
            .cloned()
            .ok_or_else(|| StepError::Final(format!("no SSH session to `{node}`")))
    }

    fn render_diags(&self, diags: &[Diagnostic]) -> String {
        diags
            .iter()
            .map(|d| d.render(&self.sources))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn configure(&self, node: &str, configure: &str, step: u32) -> Result<(), StepError> {
        let store = &self.env.store;
        let Some(recipe) = self.recipes.get(configure) else {
            return Ok(());
        };
        let inst = self
            .instances
            .iter()
            .find(|i| i.name == node)
            .ok_or_else(|| StepError::Final(format!("node `{node}` is not in the plan")))?;
        let vms = store.vms(&self.cluster).map_err(state_err)?;
        let ctx = context::build(
            &ContextInput {
                cluster: &self.cluster,
                spec: &self.spec,
                instances: &self.instances,
                vms: &vms,
                variables: &self.variables,
                public_key: &self.public_key,
            },
            inst,
        );
        let script =
            recipe::render(recipe, &ctx).map_err(|d| StepError::Final(self.render_diags(&d)))?;
        let hash = script_hash(&script.text);
        let key = StepKey::new(node, configure, step);
        let existing = store
            .put_step(&self.cluster, &key, &hash)
            .map_err(state_err)?;
        if existing.status == StepStatus::Ok && !self.rerun_all {
            self.observer.on(&Event::StepKept(key.clone()));
            return Ok(());
        }
        let session = self.session(node).await?;
        store.start_step(&self.cluster, &key).map_err(state_err)?;
        crash::point("step-started");
        let mut buf = String::new();
        let mut all = String::new();
        let mut log_err = None;
        let cluster = self.cluster.clone();
        let status = session
            .exec_streaming_with_stdin("sh -s", script.text.as_bytes(), |_stream, data| {
                // One log, both streams in arrival order, as a terminal shows them.
                buf.push_str(&String::from_utf8_lossy(data));
                if buf.len() >= LOG_CHUNK {
                    if let Err(e) = store.append_step_log(&cluster, &key, &buf) {
                        log_err = Some(e);
                    }
                    all.push_str(&buf);
                    buf.clear();
                }
            })
            .await;
        if !buf.is_empty() {
            store
                .append_step_log(&self.cluster, &key, &buf)
                .map_err(state_err)?;
            all.push_str(&buf);
        }
        if let Some(e) = log_err {
            return Err(state_err(e));
        }
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                store
                    .finish_step(&self.cluster, &key, StepStatus::Failed, None)
                    .map_err(state_err)?;
                return Err(if e.is_retryable() {
                    StepError::Transient(e.to_string())
                } else {
                    StepError::Final(e.to_string())
                });
            }
        };
        crash::point("step-ran");
        let ok = status == 0;
        store
            .finish_step(
                &self.cluster,
                &key,
                if ok {
                    StepStatus::Ok
                } else {
                    StepStatus::Failed
                },
                Some(status as i32),
            )
            .map_err(state_err)?;
        if ok {
            let results = recipe::parse_results(&all);
            self.observer.on(&Event::StepDone {
                key,
                changed: results
                    .iter()
                    .filter(|r| r.outcome == recipe::Outcome::Changed)
                    .count(),
            });
            Ok(())
        } else {
            let tail: Vec<&str> = all.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(StepError::Final(format!(
                "configure `{configure}` failed on {node} with exit status {status}; the last lines of its output:\n{}\n(run `nubo show {} --logs` for the whole log)",
                tail.join("\n"),
                self.cluster
            )))
        }
    }
}

/// A recipe script's identity: a changed script runs again.
pub fn script_hash(text: &str) -> String {
    // FNV-1a over the bytes, 64 bits; a change detector, not a MAC.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Executor for ClusterExecutor {
    fn run(
        self: Arc<Self>,
        vertex: Vertex,
    ) -> Pin<Box<dyn Future<Output = Result<(), StepError>> + Send + 'static>> {
        Box::pin(async move {
            self.observer.on(&Event::Started(vertex.clone()));
            let r = match &vertex {
                Vertex::Network { name } => self.network(name).await,
                Vertex::Vm { system, name } => self.vm(system, name).await,
                Vertex::Configure {
                    node,
                    configure,
                    step,
                    ..
                } => self.configure(node, configure, *step).await,
            };
            self.observer.on(&Event::Finished {
                vertex,
                error: r.as_ref().err().map(|e| match e {
                    StepError::Transient(m) | StepError::Final(m) => m.clone(),
                }),
            });
            r
        })
    }
}
