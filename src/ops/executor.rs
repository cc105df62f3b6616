//! `ClusterExecutor`: the work of each graph vertex for launch and
//! reconfigure: networks and VMs through a provider (each call between an
//! intent and its completion), configuration steps over SSH.
//!
//! What to do with each VM and step was planned once
//! ([`crate::plan::changes`]); the executor only adds what needs the
//! provider: a VM planned `Keep` that the provider no longer runs is made
//! again (or started, if it is stopped), and its steps run again, decided
//! by the same rules `nubo plan` shows.

use super::context::{self, ContextInput};
use super::crash;
use super::db::Db;
use super::env::Env;
use super::observer::{Event, Observer};
use super::reach::{self, Route};
use crate::diagnostic::Diagnostic;
use crate::model::{ClusterSpec, Instance};
use crate::plan::changes::{self, AtProvider, RecordedStep, Script, StepAction, VmAction};
use crate::plan::graph::Vertex;
use crate::plan::walk::{Executor, StepError};
use crate::provider::{Provider, ProviderError, VmInfo, VmRequest, VmStatus};
use crate::recipe::{self, Recipe};
use crate::source::SourceMap;
use crate::ssh::{KnownHosts, Pool, PublicKey, Session, SshError, SshTarget, wait_for_ssh_through};
use crate::state::{
    IntentParams, NewVm, Outcome, StateError, StepKey, StepStatus, Vm, VmCreated, VmState,
};
use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a new VM may take to answer SSH.
const SSH_DEADLINE: Duration = Duration::from_secs(180);

/// How long one connection attempt to a VM that answered before may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Output is written to the state store in chunks of about this size.
const LOG_CHUNK: usize = 8 * 1024;

/// Why a vertex's work failed, with its cause.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("state store: {0}")]
    State(#[from] StateError),
    #[error("no provider is placed for system `{0}`")]
    NoProvider(String),
    #[error("node `{0}` is not in the description")]
    NoNode(String),
    #[error("{action} of {what} through provider `{provider}` failed")]
    Provider {
        action: &'static str,
        what: String,
        provider: String,
        #[source]
        source: ProviderError,
    },
    #[error("provider `{provider}` gave a host key for {node} that cannot be read: {message}")]
    BadHostKey {
        provider: String,
        node: String,
        message: String,
    },
    #[error("SSH to {node}")]
    Ssh {
        node: String,
        #[source]
        source: Box<SshError>,
    },
    /// The recipe cannot be rendered for this node; the CLI renders the
    /// diagnostics from `sources`.
    #[error("configure `{configure}` cannot be rendered for {node} ({} problem(s))", diagnostics.len())]
    Render {
        node: String,
        configure: String,
        diagnostics: Vec<Diagnostic>,
        sources: Arc<SourceMap>,
    },
    #[error(
        "{node} is reached through {front}, which has no running VM; see why {front} failed above"
    )]
    NoFront { node: String, front: String },
    #[error(
        "cannot run the configuration as root on {node}: it logs in as `{user}`, who cannot use sudo without a password ({said}). \
         Give `{user}` sudo without a password (nubo's cloud-init user data does: `sudo: ALL=(ALL) NOPASSWD:ALL`), \
         install sudo in the image, or log in as root (`disk.0.os.credentials.username = 'root'`)"
    )]
    NoSudo {
        node: String,
        user: String,
        said: String,
    },
    #[error("{node} could not be given its host name: exit status {status}; its output:\n{output}")]
    Hostname {
        node: String,
        status: u32,
        output: String,
    },
    #[error(
        "the volumes of {node} (disk.N with a mount_path) could not be formatted and mounted: exit status {status}; its output:\n{output}"
    )]
    Volumes {
        node: String,
        status: u32,
        output: String,
    },
    #[error("configure `{configure}` on {node}: {source}")]
    Ansible {
        node: String,
        configure: String,
        #[source]
        source: super::ansible::AnsibleError,
    },
    #[error(transparent)]
    PlayFailed(Box<PlayFailure>),
    #[error(
        "configure `{configure}` failed on {node} with exit status {status}; the last lines of its output:\n{tail}\n(run `nubo show {cluster} --logs` for the whole log)"
    )]
    StepFailed {
        cluster: String,
        node: String,
        configure: String,
        status: u32,
        tail: String,
    },
}

/// A configure written for Ansible that failed: the task, the host and
/// what Ansible said.
#[derive(Debug, thiserror::Error)]
#[error(
    "configure `{configure}` (Ansible) failed on {node}: task `{task}` on host {host}: {message}\n(run `nubo show {cluster} --logs` for the play's whole output)"
)]
pub struct PlayFailure {
    pub cluster: String,
    pub node: String,
    pub configure: String,
    pub task: String,
    pub host: String,
    pub message: String,
}

impl ExecError {
    fn into_step(self) -> StepError {
        let transient = match &self {
            ExecError::Provider { source, .. } => source.is_transient(),
            ExecError::Ssh { source, .. } => source.is_retryable(),
            _ => false,
        };
        StepError::new(transient, self)
    }
}

impl From<ExecError> for StepError {
    fn from(e: ExecError) -> StepError {
        e.into_step()
    }
}

impl From<StateError> for StepError {
    fn from(e: StateError) -> StepError {
        ExecError::State(e).into_step()
    }
}

/// What the executor needs beyond the environment: the prepared
/// description, the plan's VM actions, and the keys.
pub struct ExecutorParts {
    pub spec: Arc<ClusterSpec>,
    /// The provider of each system.
    pub placement: HashMap<String, Arc<dyn Provider>>,
    /// Each configure's recipe, includes expanded.
    pub recipes: HashMap<String, Recipe>,
    /// For rendering recipe diagnostics.
    pub sources: Arc<SourceMap>,
    pub known_hosts: KnownHosts,
    pub variables: serde_json::Value,
    /// The public half of the key nubo logs in with.
    pub public_key: String,
    /// The private key, for providers that take the cluster's key.
    pub key_path: PathBuf,
    /// The planned action of each VM (`plan::changes::vm_action`).
    pub vm_actions: HashMap<String, VmAction>,
    /// Re-run steps even when their recorded run is `ok` with the same
    /// script (`reconfigure --force`).
    pub rerun_all: bool,
    /// The Ansible Vault password file kept for the cluster, if any.
    pub vault_password: Option<PathBuf>,
    /// The Ansible the plays run with.
    pub ansible: super::ansible_install::Tools,
}

pub struct ClusterExecutor {
    env: Env,
    db: Db,
    cluster: String,
    instances: Vec<Instance>,
    parts: ExecutorParts,
    observer: Arc<dyn Observer>,
    /// What was really done to each VM in this walk (the plan's action,
    /// corrected by what the provider said).
    done: Mutex<HashMap<String, VmAction>>,
    /// Where each node is reached.
    targets: tokio::sync::Mutex<HashMap<String, SshTarget>>,
    pool: Pool,
    /// Bounds the create and start calls in flight per provider
    /// ([`Provider::creates_at_once`]).
    calls: Mutex<HashMap<String, Arc<tokio::sync::Semaphore>>>,
    /// The Ansible runs being gathered, one per (configure, step).
    plays: super::play_batch::Batches,
}

impl ClusterExecutor {
    pub fn new(
        env: Env,
        cluster: String,
        parts: ExecutorParts,
        observer: Arc<dyn Observer>,
    ) -> Self {
        let instances = parts.spec.instances();
        let pool = Pool::new(parts.known_hosts.clone(), CONNECT_TIMEOUT);
        ClusterExecutor {
            db: env.db(),
            env,
            cluster,
            instances,
            parts,
            observer,
            done: Mutex::new(HashMap::new()),
            calls: Mutex::new(HashMap::new()),
            plays: Default::default(),
            targets: tokio::sync::Mutex::new(HashMap::new()),
            pool,
        }
    }

    /// Ends the walk's SSH connections.
    pub async fn close(&self) {
        self.pool.close_all().await;
    }

    fn provider(&self, system: &str) -> Result<Arc<dyn Provider>, ExecError> {
        self.parts
            .placement
            .get(system)
            .cloned()
            .ok_or_else(|| ExecError::NoProvider(system.to_string()))
    }

    fn instance(&self, node: &str) -> Result<&Instance, ExecError> {
        self.instances
            .iter()
            .find(|i| i.name == node)
            .ok_or_else(|| ExecError::NoNode(node.to_string()))
    }

    fn provider_err(
        &self,
        action: &'static str,
        what: &str,
        p: &Arc<dyn Provider>,
        source: ProviderError,
    ) -> ExecError {
        ExecError::Provider {
            action,
            what: what.to_string(),
            provider: p.id().to_string(),
            source,
        }
    }

    async fn network(&self, name: &str) -> Result<(), StepError> {
        let Some(net) = self.parts.spec.networks.iter().find(|n| n.name == name) else {
            return Ok(());
        };
        // Every provider some system on this network is placed on.
        let mut providers: Vec<Arc<dyn Provider>> = Vec::new();
        for s in &self.parts.spec.systems {
            if s.count > 0 && s.interfaces.iter().any(|i| i.network == name) {
                let p = self.provider(&s.name)?;
                if !providers.iter().any(|q| q.id() == p.id()) {
                    providers.push(p);
                }
            }
        }
        for p in providers {
            let intent = self
                .db
                .begin_intent(
                    &self.cluster,
                    name,
                    IntentParams::CreateNetwork {
                        provider: p.id().to_string(),
                    },
                )
                .await?;
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
            self.db.complete_intent(intent.id, outcome).await?;
            result.map_err(|e| self.provider_err("making network", name, &p, e))?;
        }
        Ok(())
    }

    /// The plan's action for the VM, corrected by what its provider says.
    async fn vm_action(
        &self,
        provider: &Arc<dyn Provider>,
        node: &str,
        recorded: Option<&Vm>,
    ) -> Result<VmAction, ExecError> {
        let planned = self
            .parts
            .vm_actions
            .get(node)
            .copied()
            .unwrap_or_else(|| changes::vm_action(recorded));
        let (VmAction::Keep | VmAction::Start, Some(id)) =
            (planned, recorded.and_then(|v| v.provider_vm_id.as_deref()))
        else {
            return Ok(planned);
        };
        let seen = match provider.vm_info(&self.cluster, id).await {
            Ok(Some(info)) => match info.status {
                VmStatus::Running => AtProvider::Running,
                VmStatus::Stopped => AtProvider::Stopped,
                _ => AtProvider::Gone,
            },
            Ok(None) | Err(ProviderError::NotFound(_)) => AtProvider::Gone,
            Err(e) => return Err(self.provider_err("looking up", node, provider, e)),
        };
        Ok(changes::vm_action_seen(planned, seen))
    }

    async fn vm(&self, system: &str, node: &str) -> Result<(), StepError> {
        let provider = self.provider(system)?;
        let recorded = self.db.vm(&self.cluster, node).await?;
        let action = self.vm_action(&provider, node, recorded.as_ref()).await?;
        self.observer.on(&Event::VmAction {
            node: node.to_string(),
            action,
        });
        match action {
            VmAction::Keep => {
                self.observer.on(&Event::Kept(node.to_string()));
            }
            VmAction::Start => {
                self.start(&provider, node, recorded.as_ref()).await?;
                self.first_boot(&provider, system, node).await?;
            }
            VmAction::Recreate => {
                if let Some(id) = recorded.as_ref().and_then(|v| v.provider_vm_id.clone()) {
                    self.destroy_old(&provider, node, &id).await?;
                }
                self.create(&provider, system, node, true).await?;
                self.first_boot(&provider, system, node).await?;
            }
            VmAction::Create => {
                self.create(&provider, system, node, recorded.is_some())
                    .await?;
                self.first_boot(&provider, system, node).await?;
            }
            // Done before the walk (`launch::run`), never a vertex's work.
            VmAction::Destroy | VmAction::Stop => {}
        }
        self.done
            .lock()
            .expect("done lock")
            .insert(node.to_string(), action);
        Ok(())
    }

    /// The built-in steps of a VM just made or started, as root: its host
    /// name when the provider does not set it ([`Provider::names_its_vms`])
    /// and nubo reaches the node anyway (it has configuration steps or
    /// volumes to mount), then its volumes (`disk.N` with a `mount_path`)
    /// formatted once and mounted.
    async fn first_boot(
        &self,
        provider: &Arc<dyn Provider>,
        system: &str,
        node: &str,
    ) -> Result<(), StepError> {
        let spec = &self.parts.spec;
        let mount = spec
            .system(system)
            .and_then(|s| crate::model::mount_script(&s.volumes()));
        let configured = spec.steps().iter().any(|s| s.system == system);
        if !provider.configures_over_ssh() {
            return Ok(());
        }
        if !provider.names_its_vms() && (configured || mount.is_some()) {
            self.builtin(node, &hostname_script(node), |status, output| {
                ExecError::Hostname {
                    node: node.to_string(),
                    status,
                    output,
                }
            })
            .await?;
        }
        let Some(script) = mount else {
            return Ok(());
        };
        self.builtin(node, &script, |status, output| ExecError::Volumes {
            node: node.to_string(),
            status,
            output,
        })
        .await
    }

    /// Runs a built-in step's script as root on `node`; `failed` makes the
    /// error of a failed exit from its status and output.
    async fn builtin(
        &self,
        node: &str,
        script: &str,
        failed: impl FnOnce(u32, String) -> ExecError,
    ) -> Result<(), StepError> {
        let session = self.session(node).await?;
        let mut output = String::new();
        let status = session
            .exec_streaming_with_stdin(shell_for(&session), script.as_bytes(), |_, data| {
                output.push_str(&String::from_utf8_lossy(data));
            })
            .await
            .map_err(|source| ExecError::Ssh {
                node: node.to_string(),
                source: Box::new(source),
            })?;
        if status != 0 {
            return Err(failed(status, output).into());
        }
        Ok(())
    }

    /// A place among the calls in flight to `provider` that make or start
    /// a VM: at most [`Provider::creates_at_once`].
    async fn provider_slot(
        &self,
        provider: &Arc<dyn Provider>,
    ) -> tokio::sync::OwnedSemaphorePermit {
        let sem = self
            .calls
            .lock()
            .expect("calls lock")
            .entry(provider.id().to_string())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    provider.creates_at_once().max(1),
                ))
            })
            .clone();
        sem.acquire_owned()
            .await
            .expect("the semaphore is never closed")
    }

    /// Starts a stopped VM, between an intent and its completion.
    async fn start(
        &self,
        provider: &Arc<dyn Provider>,
        node: &str,
        recorded: Option<&Vm>,
    ) -> Result<(), ExecError> {
        let id = recorded
            .and_then(|v| v.provider_vm_id.clone())
            .ok_or_else(|| ExecError::NoNode(node.to_string()))?;
        let intent = self
            .db
            .begin_intent(
                &self.cluster,
                node,
                IntentParams::StartVm {
                    provider: provider.id().to_string(),
                    id: id.clone(),
                },
            )
            .await?;
        let started = {
            let _slot = self.provider_slot(provider).await;
            provider.start_vm(&self.cluster, &id).await
        };
        match started {
            Ok(info) => {
                self.db
                    .complete_intent(
                        intent.id,
                        Outcome::Done {
                            provider_id: Some(id.clone()),
                        },
                    )
                    .await?;
                self.db
                    .set_vm_addresses(&self.cluster, node, info.addresses.clone())
                    .await?;
                self.db
                    .set_vm_state(&self.cluster, node, VmState::Running)
                    .await?;
                self.forget_session(node).await;
                Ok(())
            }
            Err(e) => {
                self.db
                    .complete_intent(
                        intent.id,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                Err(self.provider_err("starting", node, provider, e))
            }
        }
    }

    /// Destroys the VM a node had before it is made again.
    async fn destroy_old(
        &self,
        provider: &Arc<dyn Provider>,
        node: &str,
        id: &str,
    ) -> Result<(), ExecError> {
        let intent = self
            .db
            .begin_intent(
                &self.cluster,
                node,
                IntentParams::DestroyVm {
                    provider: provider.id().to_string(),
                    id: id.to_string(),
                },
            )
            .await?;
        match provider.destroy_vm(&self.cluster, id).await {
            Ok(()) | Err(ProviderError::NotFound(_)) => {
                self.db.record_vm_destroyed(intent.id).await?;
                self.forget_node(node).await;
                Ok(())
            }
            Err(e) => {
                self.db
                    .complete_intent(
                        intent.id,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                Err(self.provider_err("destroying the old VM", node, provider, e))
            }
        }
    }

    async fn create(
        &self,
        provider: &Arc<dyn Provider>,
        system: &str,
        node: &str,
        has_row: bool,
    ) -> Result<(), ExecError> {
        let inst = self.instance(node)?;
        if has_row {
            self.db
                .set_vm_state(&self.cluster, node, VmState::Creating)
                .await?;
        } else {
            self.db
                .insert_vm(
                    &self.cluster,
                    NewVm {
                        node: node.to_string(),
                        system: system.to_string(),
                        provider: provider.id().to_string(),
                        state: VmState::Creating,
                    },
                )
                .await?;
        }
        let intent = self
            .db
            .begin_intent(
                &self.cluster,
                node,
                IntentParams::CreateVm {
                    provider: provider.id().to_string(),
                    system: system.to_string(),
                    number: inst.number,
                },
            )
            .await?;
        crash::point("vm-intent");
        let spec = &self.parts.spec;
        let system_spec = spec
            .system(system)
            .cloned()
            .ok_or_else(|| ExecError::NoProvider(system.to_string()))?;
        let req = VmRequest {
            cluster: self.cluster.clone(),
            node: node.to_string(),
            number: inst.number,
            token: intent.token.clone(),
            networks: spec.networks_of(&system_spec),
            system: system_spec,
            public_key: self.parts.public_key.clone(),
        };
        let created = async {
            let _slot = self.provider_slot(provider).await;
            let info = provider.create_vm(&req).await?;
            crash::point("vm-created");
            provider.wait_running(&self.cluster, &info.id).await
        }
        .await;
        let info = match created {
            Ok(info) => info,
            Err(e) => {
                self.db
                    .complete_intent(
                        intent.id,
                        Outcome::Failed {
                            error: e.to_string(),
                        },
                    )
                    .await?;
                self.db
                    .set_vm_state(&self.cluster, node, VmState::Failed)
                    .await?;
                return Err(self.provider_err("making", node, provider, e));
            }
        };
        self.db
            .record_vm_created(
                intent.id,
                VmCreated {
                    provider_vm_id: info.id.clone(),
                    addresses: info.addresses.clone(),
                    state: VmState::Running,
                },
            )
            .await?;
        crash::point("vm-recorded");
        // A new VM: whatever was known of the old one's host key is stale.
        self.forget_node(node).await;
        self.pin_host_key(provider, node, &info).await?;
        self.observer.on(&Event::Created(node.to_string()));
        Ok(())
    }

    /// Drops what was known of the host key at the new VM's address (a
    /// removed VM may have had it: IM issue 313), and pins the VM's key
    /// when its provider knows it in advance, so that `nubo ssh` works even
    /// on a cluster nubo never configured.
    async fn pin_host_key(
        &self,
        provider: &Arc<dyn Provider>,
        node: &str,
        info: &VmInfo,
    ) -> Result<(), ExecError> {
        let access = provider
            .ssh_access(&self.cluster, info)
            .await
            .map_err(|e| self.provider_err("asking how to reach", node, provider, e))?;
        let key = access
            .host_key
            .as_deref()
            .map(PublicKey::from_openssh)
            .transpose()
            .map_err(|e| ExecError::BadHostKey {
                provider: provider.id().to_string(),
                node: node.to_string(),
                message: e.to_string(),
            })?;
        // The file is rewritten: off the runtime.
        let (kh, host, port) = (self.parts.known_hosts.clone(), access.host, access.port);
        tokio::task::spawn_blocking(move || match key {
            Some(key) => kh.pin(&host, port, key),
            None => kh.forget(&host, port),
        })
        .await
        .map_err(|e| StateError::Interrupted(e.to_string()))?
        .map_err(|source| ExecError::Ssh {
            node: node.to_string(),
            source: Box::new(source),
        })?;
        Ok(())
    }

    /// Forgets how a node was reached (its VM is new or started again).
    async fn forget_session(&self, node: &str) {
        if let Some(target) = self.targets.lock().await.remove(node) {
            self.pool.forget(&target);
        }
    }

    async fn forget_node(&self, node: &str) {
        self.forget_session(node).await;
    }

    /// The node's live session: the pooled one, else a new connection
    /// that waits for its SSH to come up: straight to its address, or
    /// through the front-end's session for a node with only a private
    /// address ([`reach::route`]). A login user other than root must be
    /// able to use `sudo -n`, checked once per new connection.
    async fn session(&self, node: &str) -> Result<Arc<Session>, ExecError> {
        let ssh_err = |source| ExecError::Ssh {
            node: node.to_string(),
            source: Box::new(source),
        };
        if let Some(target) = self.targets.lock().await.get(node).cloned() {
            return self.pool.get(&target).await.map_err(ssh_err);
        }
        let inst = self.instance(node)?;
        let provider = self.provider(&inst.system)?;
        let route = reach::route(
            &self.parts.spec,
            &self.instances,
            node,
            provider.private_addresses_reachable(),
        );
        let deadline = Instant::now() + SSH_DEADLINE;
        let jump = match &route {
            Route::Direct => None,
            Route::Through(front) => {
                self.wait_for_vm(front, node, deadline).await?;
                Some(Box::pin(self.session(front)).await?)
            }
        };
        let vm = self
            .db
            .vm(&self.cluster, node)
            .await?
            .ok_or_else(|| ExecError::NoNode(node.to_string()))?;
        let access = provider
            .ssh_access(&self.cluster, &super::info::recorded_vm_info(&vm))
            .await
            .map_err(|e| self.provider_err("asking how to reach", node, &provider, e))?;
        let mut target = SshTarget::new(
            &access.host,
            access.port,
            &access.user,
            access
                .key_path
                .clone()
                .unwrap_or_else(|| self.parts.key_path.clone()),
        );
        if let Some(jump) = &jump {
            target = target.through(jump.target().clone());
        }
        let session = wait_for_ssh_through(&target, jump, &self.parts.known_hosts, deadline)
            .await
            .map_err(ssh_err)?;
        if target.user != "root" {
            check_sudo(&session, node).await?;
        }
        let session = self.pool.insert(session).await;
        self.targets.lock().await.insert(node.to_string(), target);
        Ok(session)
    }

    /// Waits until `front`'s VM is recorded (it is made at the same time
    /// as `node`'s, which is reached through it).
    async fn wait_for_vm(
        &self,
        front: &str,
        node: &str,
        deadline: Instant,
    ) -> Result<(), ExecError> {
        let mut backoff = crate::ssh::Backoff::new();
        loop {
            if let Some(vm) = self.db.vm(&self.cluster, front).await?
                && vm.state == VmState::Running
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ExecError::NoFront {
                    node: node.to_string(),
                    front: front.to_string(),
                });
            }
            tokio::time::sleep(backoff.next().unwrap_or(crate::ssh::Backoff::CAP)).await;
        }
    }

    async fn configure(&self, node: &str, configure: &str, step: u32) -> Result<(), StepError> {
        let key = StepKey::new(node, configure, step);
        let recorded = self.db.step(&self.cluster, &key).await?;
        let vm_action = self
            .done
            .lock()
            .expect("done lock")
            .get(node)
            .copied()
            .unwrap_or(VmAction::Keep);
        let Some(recipe) = self.parts.recipes.get(configure) else {
            let (action, reason) = changes::step_action(
                vm_action,
                recorded.as_ref().map(|s| RecordedStep {
                    status: s.status,
                    hash: &s.recipe_hash,
                }),
                Script::None,
                self.parts.rerun_all,
            );
            self.observer.on(&Event::StepAction {
                key,
                action,
                reason,
            });
            return Ok(());
        };
        let inst = self.instance(node)?;
        let vms = self.db.vms(&self.cluster).await?;
        let ctx = context::build(
            &ContextInput {
                cluster: &self.cluster,
                spec: &self.parts.spec,
                instances: &self.instances,
                vms: &vms,
                variables: &self.parts.variables,
                public_key: &self.parts.public_key,
            },
            inst,
        );
        let script = recipe::render(recipe, &ctx).map_err(|diagnostics| ExecError::Render {
            node: node.to_string(),
            configure: configure.to_string(),
            diagnostics,
            sources: self.parts.sources.clone(),
        })?;
        let hash = script_hash(&script.text);
        let (action, reason) = changes::step_action(
            vm_action,
            recorded.as_ref().map(|s| RecordedStep {
                status: s.status,
                hash: &s.recipe_hash,
            }),
            Script::Hash(&hash),
            self.parts.rerun_all,
        );
        self.observer.on(&Event::StepAction {
            key: key.clone(),
            action,
            reason,
        });
        self.db.put_step(&self.cluster, &key, &hash).await?;
        if action == StepAction::Keep {
            self.observer.on(&Event::StepKept(key));
            return Ok(());
        }
        if !self.provider(&inst.system)?.configures_over_ssh() {
            // Nothing to log in to (the Dummy provider): done at once.
            self.db.start_step(&self.cluster, &key).await?;
            self.db
                .finish_step(&self.cluster, &key, StepStatus::Ok, Some(0))
                .await?;
            self.observer.on(&Event::StepDone { key, changed: 0 });
            return Ok(());
        }
        let session = self.session(node).await?;
        self.db.start_step(&self.cluster, &key).await?;
        crash::point("step-started");
        if let Some(body) = &recipe.ansible {
            return self.run_play(&key, body, &ctx, &vms).await;
        }
        self.run_script(&session, &key, &script.text).await
    }

    /// How `ansible-playbook` reaches each node: the address, port, user
    /// and key native recipes use, the cluster's known hosts (pinned, no
    /// other), and for a node behind the front-end a `ProxyCommand`
    /// through it.
    async fn connections(
        &self,
        vms: &[crate::state::Vm],
    ) -> Result<HashMap<String, serde_json::Map<String, serde_json::Value>>, ExecError> {
        use serde_json::json;
        let known = self
            .parts
            .known_hosts
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "/dev/null".into());
        let mut access = HashMap::new();
        for vm in vms.iter().filter(|v| v.state == VmState::Running) {
            let Ok(provider) = self.provider(&vm.system) else {
                continue;
            };
            let a = provider
                .ssh_access(&self.cluster, &super::info::recorded_vm_info(vm))
                .await
                .map_err(|e| self.provider_err("asking how to reach", &vm.node, &provider, e))?;
            let key = a
                .key_path
                .clone()
                .unwrap_or_else(|| self.parts.key_path.clone());
            access.insert(
                vm.node.clone(),
                (a, key, provider.private_addresses_reachable()),
            );
        }
        let mut out = HashMap::new();
        for (node, (a, key, reachable)) in &access {
            let jump = match reach::route(&self.parts.spec, &self.instances, node, *reachable) {
                Route::Through(front) => {
                    access
                        .get(&front)
                        .map(|(fa, fkey, _)| super::ansible::Jump {
                            host: &fa.host,
                            port: fa.port,
                            user: &fa.user,
                            key: fkey,
                        })
                }
                Route::Direct => None,
            };
            let common = super::ansible::ssh_common_args(&known, key, jump);
            let mut m = serde_json::Map::new();
            m.insert("ansible_host".into(), json!(a.host));
            m.insert("ansible_port".into(), json!(a.port));
            m.insert("ansible_user".into(), json!(a.user));
            m.insert("ansible_ssh_private_key_file".into(), json!(key));
            m.insert("ansible_ssh_common_args".into(), json!(common));
            if a.user != "root" {
                m.insert("ansible_become".into(), json!(true));
            }
            out.insert(node.clone(), m);
        }
        Ok(out)
    }

    /// Runs an Ansible configure for one node: in one `ansible-playbook`
    /// run with the other nodes of the same step (`play_batch`), led by the
    /// first of them to arrive; the node's result is its line of the
    /// recap, the run's output its log.
    async fn run_play(
        &self,
        key: &StepKey,
        body: &recipe::AnsibleBody,
        ctx: &serde_json::Value,
        vms: &[crate::state::Vm],
    ) -> Result<(), StepError> {
        let (batch, leads) = self.plays.join(&key.configure, key.step, &key.node).await;
        if leads {
            let _lead = super::play_batch::Lead(batch.clone());
            let hosts = self.plays.gather(&key.configure, key.step, &batch).await;
            let outcome = self.play(key, &hosts, body, ctx, vms).await;
            batch.finish(outcome.map_err(|e| e.to_string()));
        }
        let outcome = batch.outcome().await;
        let (status, all) = match &*outcome {
            Ok((status, all)) => (*status, all.clone()),
            Err(e) => {
                self.db
                    .finish_step(&self.cluster, key, StepStatus::Failed, None)
                    .await?;
                return Err(ExecError::PlayFailed(Box::new(PlayFailure {
                    cluster: self.cluster.clone(),
                    node: key.node.clone(),
                    configure: key.configure.clone(),
                    task: "(before any task)".into(),
                    host: key.node.clone(),
                    message: e.clone(),
                }))
                .into());
            }
        };
        self.db
            .append_step_log(&self.cluster, key, all.clone())
            .await?;
        crash::point("step-ran");
        let ok = recipe::ansible_output::host_ok(&all, &key.node);
        let status = if ok {
            0
        } else if status == 0 {
            2
        } else {
            status
        };
        self.db
            .finish_step(
                &self.cluster,
                key,
                if ok {
                    StepStatus::Ok
                } else {
                    StepStatus::Failed
                },
                Some(status),
            )
            .await?;
        if ok {
            self.observer.on(&Event::StepDone {
                key: key.clone(),
                changed: recipe::ansible_output::changed(&all, &key.node),
            });
            return Ok(());
        }
        let failure = recipe::ansible_output::failure(&all, Some(&key.node));
        let tail = || {
            let t: Vec<&str> = all.lines().rev().take(12).collect();
            t.into_iter().rev().collect::<Vec<_>>().join("\n")
        };
        Err(ExecError::PlayFailed(Box::new(PlayFailure {
            cluster: self.cluster.clone(),
            node: key.node.clone(),
            configure: key.configure.clone(),
            task: failure
                .as_ref()
                .and_then(|f| f.task.clone())
                .unwrap_or_else(|| "(before any task)".into()),
            host: failure
                .as_ref()
                .and_then(|f| f.host.clone())
                .unwrap_or_else(|| key.node.clone()),
            message: failure.map(|f| f.message).unwrap_or_else(|| {
                format!(
                    "exit status {status}; the last lines of its output:\n{}",
                    tail()
                )
            }),
        }))
        .into())
    }

    /// Writes and runs the playbook for `hosts`; its exit status and whole
    /// output.
    async fn play(
        &self,
        key: &StepKey,
        hosts: &[String],
        body: &recipe::AnsibleBody,
        ctx: &serde_json::Value,
        vms: &[crate::state::Vm],
    ) -> Result<(i32, String), ExecError> {
        let ansible_err = |source| ExecError::Ansible {
            node: key.node.clone(),
            configure: key.configure.clone(),
            source,
        };
        let vault = self.parts.vault_password.as_deref();
        let mut texts = Vec::new();
        for part in &body.parts {
            if part.vault {
                texts.push(
                    super::ansible::decrypt(&self.parts.ansible, &key.configure, &part.text, vault)
                        .await
                        .map_err(ansible_err)?,
                );
            } else {
                texts.push(part.text.clone());
            }
        }
        let mut playbook =
            super::ansible::playbook_of(&key.configure, &texts, hosts).map_err(ansible_err)?;
        recipe::playbook::resolve_ec3_paths(&mut playbook, &ctx["system_features"]);
        let kinds: HashMap<&str, &'static str> = self
            .parts
            .placement
            .iter()
            .map(|(s, p)| (s.as_str(), p.kind()))
            .collect();
        let inventory = recipe::inventory::inventory(ctx, &|n| {
            let vm = vms.iter().find(|v| v.node == n);
            (
                vm.and_then(|v| v.provider_vm_id.clone())
                    .unwrap_or_default(),
                vm.and_then(|v| kinds.get(v.system.as_str()))
                    .map(|k| k.to_string())
                    .unwrap_or_default(),
            )
        });
        let conns = self.connections(vms).await?;
        let inventory = recipe::inventory::with_connections(inventory, &|n| {
            let mut vars = conns.get(n).cloned().unwrap_or_default();
            vars.insert("IM_HOST".into(), serde_json::json!(n));
            Some(vars)
        });
        let base = self.env.ansible_dir(&self.cluster);
        let workdir = base
            .join("run")
            .join(format!("{}.{}.{}", key.configure, key.step, key.node));
        let facts = base.join("facts");
        let roles_dir = workdir.join("roles");
        {
            let (roles, dir, wd) = (body.roles.clone(), roles_dir.clone(), workdir.clone());
            tokio::task::spawn_blocking(move || {
                let _ = std::fs::remove_dir_all(&wd);
                super::ansible::private_dir(&wd).map_err(|e| e.to_string())?;
                super::ansible_roles::link_all(&roles, &dir).map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| StateError::Interrupted(e.to_string()))?
            .map_err(|e| ansible_err(super::ansible::AnsibleError::Run(e)))?;
        }
        let job = super::ansible::Job {
            workdir: workdir.clone(),
            inventory: &inventory,
            playbook: &playbook,
            roles_dir: Some(&roles_dir),
            facts_dir: &facts,
            vault_password: vault,
            forks: hosts.len(),
            tools: &self.parts.ansible,
        };
        let mut all = String::new();
        let status = super::ansible::run(&job, |text| all.push_str(text))
            .await
            .map_err(ansible_err)?;
        Ok((status, all))
    }

    /// Runs a step's script, its output written to the step's log as it
    /// comes (by a task of its own: the SSH callback never waits for the
    /// store).
    async fn run_script(
        &self,
        session: &Session,
        key: &StepKey,
        script: &str,
    ) -> Result<(), StepError> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let writer = {
            let (db, cluster, key) = (self.db.clone(), self.cluster.clone(), key.clone());
            tokio::spawn(async move {
                while let Some(chunk) = rx.recv().await {
                    db.append_step_log(&cluster, &key, chunk).await?;
                }
                Ok::<(), StateError>(())
            })
        };
        let mut buf = String::new();
        let mut all = String::new();
        let status = session
            .exec_streaming_with_stdin(shell_for(session), script.as_bytes(), |_stream, data| {
                // One log, both streams in arrival order, as a terminal shows them.
                let text = String::from_utf8_lossy(data);
                buf.push_str(&text);
                all.push_str(&text);
                if buf.len() >= LOG_CHUNK {
                    let _ = tx.send(std::mem::take(&mut buf));
                }
            })
            .await;
        if !buf.is_empty() {
            let _ = tx.send(buf);
        }
        drop(tx);
        writer
            .await
            .map_err(|e| StateError::Interrupted(e.to_string()))??;
        let status = match status {
            Ok(s) => s,
            Err(source) => {
                self.db
                    .finish_step(&self.cluster, key, StepStatus::Failed, None)
                    .await?;
                return Err(ExecError::Ssh {
                    node: key.node.clone(),
                    source: Box::new(source),
                }
                .into());
            }
        };
        crash::point("step-ran");
        let ok = status == 0;
        self.db
            .finish_step(
                &self.cluster,
                key,
                if ok {
                    StepStatus::Ok
                } else {
                    StepStatus::Failed
                },
                Some(status as i32),
            )
            .await?;
        if ok {
            let results = recipe::parse_results(&all);
            self.observer.on(&Event::StepDone {
                key: key.clone(),
                changed: results
                    .iter()
                    .filter(|r| r.outcome == recipe::Outcome::Changed)
                    .count(),
            });
            Ok(())
        } else {
            let tail: Vec<&str> = all.lines().rev().take(12).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(ExecError::StepFailed {
                cluster: self.cluster.clone(),
                node: key.node.clone(),
                configure: key.configure.clone(),
                status,
                tail: tail.join("\n"),
            }
            .into())
        }
    }

    /// The environment the executor works in.
    pub fn env(&self) -> &Env {
        &self.env
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
                error: r.as_ref().err().map(|e| e.failure().clone()),
            });
            r
        })
    }
}

/// The script that names a node `node` (a hostname: letters, digits, `-`
/// and `.` only, as node names are), now and after a reboot
/// (`/etc/hostname`), and lists the name in `/etc/hosts` so that `sudo`
/// finds it; nothing changes when all that is done already.
fn hostname_script(node: &str) -> String {
    format!(
        "set -e\nname='{node}'\n\
         [ \"$(cat /etc/hostname 2>/dev/null)\" = \"$name\" ] || echo \"$name\" >/etc/hostname\n\
         [ \"$(hostname)\" = \"$name\" ] || hostname \"$name\"\n\
         grep -q \"[[:space:]]$name\\([[:space:]]\\|\\$\\)\" /etc/hosts 2>/dev/null || echo \"127.0.1.1 $name\" >>/etc/hosts\n"
    )
}

/// The command a step's script is piped to: `sh -s` as root, `sudo -n sh -s`
/// for any other login user (checked by [`check_sudo`] first).
fn shell_for(session: &Session) -> &'static str {
    if session.target().user == "root" {
        "sh -s"
    } else {
        "sudo -n sh -s"
    }
}

/// Checks that the session's user may run commands as root with `sudo -n`
/// (no password asked), so a node that cannot fails before its first step
/// with what to change instead of halfway through one.
async fn check_sudo(session: &Session, node: &str) -> Result<(), ExecError> {
    let refusal = session
        .sudo_refusal()
        .await
        .map_err(|source| ExecError::Ssh {
            node: node.to_string(),
            source: Box::new(source),
        })?;
    match refusal {
        None => Ok(()),
        Some(said) => Err(ExecError::NoSudo {
            node: node.to_string(),
            user: session.target().user.clone(),
            said,
        }),
    }
}
