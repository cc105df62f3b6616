//! Reading the job queue and telling it about nodes, for the daemon.
//!
//! SLURM's commands run on the cluster's front-end over SSH with the
//! cluster's key (on a cloud front-end running the daemon itself, that is
//! a loopback login), one `squeue && sinfo` per round on a session kept
//! in an [`ssh::Pool`](crate::ssh::Pool). The generic `command` queue runs
//! a user's program on this machine (`sh -c PROGRAM`, for at most a
//! minute). The `sqs` queue reads an SQS queue's attributes (see
//! `elastic::sqs` and [`super::sqs`]); the `kubernetes` queue asks a
//! Kubernetes API server for its pods and nodes (see `elastic::kube` and
//! [`super::kube`]).
//! minute). Grid Engine (`sge`: `qstat`, `qmod`, `qconf`) and a RabbitMQ
//! queue (`rabbitmq:QUEUE`: `rabbitmqctl`) are read on the front-end the
//! same way; RabbitMQ's workers are drained on the workers themselves, over
//! SSH as nubo configures them.

use super::ElasticError;
use crate::elastic::{Snapshot, command, rabbitmq, sge, slurm};
use crate::ops::env::Env;
use crate::ops::info;
use crate::process::Program;
use crate::ssh::{KnownHosts, Pool, Session, SshTarget};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Which job queue a cluster runs.
#[derive(Clone, Debug, PartialEq)]
pub enum QueueKind {
    Slurm,
    /// A program printing the queue as JSON (see `elastic::command`).
    Command(String),
    /// An SQS queue, by its URL (see `elastic::sqs`).
    Sqs(String),
    /// A Kubernetes API server, by its URL (see `elastic::kube`).
    Kubernetes(String),
    /// A RabbitMQ queue on the front-end's broker (see `elastic::rabbitmq`).
    RabbitMq(String),
    /// Grid Engine's qstat on the front-end (see `elastic::sge`).
    Sge,
}

impl std::str::FromStr for QueueKind {
    type Err = String;
    fn from_str(s: &str) -> Result<QueueKind, String> {
        match s.split_once(':') {
            None if s == "slurm" => Ok(QueueKind::Slurm),
            None if s == "sge" => Ok(QueueKind::Sge),
            Some(("command", prog)) if !prog.trim().is_empty() => {
                Ok(QueueKind::Command(prog.to_string()))
            }
            Some(("rabbitmq", queue)) if !queue.trim().is_empty() => {
                Ok(QueueKind::RabbitMq(queue.to_string()))
            }
            Some(("sqs", url)) => {
                crate::elastic::sqs::parse_url(url.trim()).map_err(|e| e.to_string())?;
                Ok(QueueKind::Sqs(url.trim().to_string()))
            }
            Some(("kubernetes", url)) => Ok(QueueKind::Kubernetes(super::kube::check_url(url)?)),
            _ => Err(format!(
                "unknown queue {s:?}: use `slurm`, `sge`, `rabbitmq:QUEUE`, `command:PROGRAM`, `sqs:QUEUE_URL` or `kubernetes:URL`"
            )),
        }
    }
}

/// Drains a RabbitMQ worker: its consumer (recipes/rabbitmq-client.yaml)
/// stops consuming while the file exists and says so with `drained`, which
/// is waited for up to 5 s (a consumer holding a message still holds it;
/// the daemon then sees the node used and calls the power-off off).
const RABBITMQ_DRAIN: &str = "s=; [ \"$(id -u)\" = 0 ] || s='sudo -n'; \
     $s sh -c 'touch /run/nubo-amqp/drain && for i in $(seq 50); do \
     [ -e /run/nubo-amqp/drained ] && exit 0; sleep 0.1; done'";

/// Gives a drained RabbitMQ worker back: it consumes again.
const RABBITMQ_UNDRAIN: &str =
    "s=; [ \"$(id -u)\" = 0 ] || s='sudo -n'; $s rm -f /run/nubo-amqp/drain";

const SSH_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a `command` queue's program may take to print the queue.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Queue {
    kind: QueueKind,
    env: Env,
    cluster: String,
    front: Mutex<Option<Front>>,
    #[cfg(feature = "ec2")]
    sqs: tokio::sync::OnceCell<super::sqs::Sqs>,
    kube: tokio::sync::OnceCell<super::kube::Kube>,
    /// Waiting messages per pending job (`rabbitmq`, `sqs`).
    messages_per_node: u32,
}

/// The front-end as last found, and the pool that keeps its session.
struct Front {
    node: String,
    target: SshTarget,
    pool: Pool,
}

impl Queue {
    pub fn new(env: Env, cluster: &str, kind: QueueKind) -> Queue {
        Queue {
            kind,
            env,
            cluster: cluster.to_string(),
            front: Mutex::new(None),
            #[cfg(feature = "ec2")]
            sqs: tokio::sync::OnceCell::new(),
            kube: tokio::sync::OnceCell::new(),
            messages_per_node: 1,
        }
    }

    /// Ready messages per pending job, for a message queue
    /// (`elastic_messages_per_node`).
    pub fn set_messages_per_node(&mut self, n: u32) {
        self.messages_per_node = n.max(1);
    }

    /// Runs `command` on `node` over a session of its own (rare: a drain).
    async fn on_node(&self, node: &str, command: &str) -> Result<String, ElasticError> {
        let place = info::ssh_place(&self.env, &self.cluster, Some(node))
            .await
            .map_err(|e| ElasticError::Queue(format!("cannot reach `{node}`: {e}")))?;
        let known =
            KnownHosts::open(&place.known_hosts).map_err(|e| ElasticError::Queue(e.to_string()))?;
        let target_of = |p: &info::SshPlace| {
            SshTarget::new(&p.access.host, p.access.port, &p.access.user, &p.key_path)
        };
        let mut target = target_of(&place);
        if let Some(via) = &place.via {
            target = target.through(target_of(via));
        }
        let pool = Pool::new(known, SSH_TIMEOUT);
        let out = match pool.get(&target).await {
            Ok(s) => s.exec(command).await,
            Err(e) => Err(e),
        };
        pool.close_all().await;
        let out = out.map_err(|e| ElasticError::Queue(format!("`{node}`: {e}")))?;
        if !out.success() {
            return Err(ElasticError::Queue(format!(
                "`{command}` failed on `{node}`: {}",
                out.stderr_text().trim()
            )));
        }
        Ok(out.stdout_text().into_owned())
    }

    /// Each address of the cluster's VMs, with its node's name.
    async fn addresses(&self) -> Result<HashMap<String, String>, ElasticError> {
        let vms = self.env.db().vms(&self.cluster).await?;
        Ok(vms
            .into_iter()
            .flat_map(|v| {
                let node = v.node;
                v.addresses.into_iter().map(move |a| (a, node.clone()))
            })
            .collect())
    }

    /// The session to the front-end: the pooled one while it lives. The
    /// front-end is looked up (and its known hosts read) again after a
    /// failure, so a front-end that moved is found.
    async fn session(&self) -> Result<Arc<Session>, ElasticError> {
        let mut front = self.front.lock().await;
        let f = match front.take() {
            Some(f) => f,
            None => {
                let place = info::ssh_place(&self.env, &self.cluster, None)
                    .await
                    .map_err(|e| ElasticError::Queue(format!("cannot reach the front-end: {e}")))?;
                let known = KnownHosts::open(&place.known_hosts)
                    .map_err(|e| ElasticError::Queue(e.to_string()))?;
                let target_of = |p: &info::SshPlace| {
                    SshTarget::new(&p.access.host, p.access.port, &p.access.user, &p.key_path)
                };
                let mut target = target_of(&place);
                if let Some(via) = &place.via {
                    target = target.through(target_of(via));
                }
                Front {
                    target,
                    node: place.node,
                    pool: Pool::new(known, SSH_TIMEOUT),
                }
            }
        };
        match f.pool.get(&f.target).await {
            Ok(s) => {
                *front = Some(f);
                Ok(s)
            }
            Err(e) => {
                f.pool.close_all().await;
                Err(ElasticError::Queue(format!("front-end `{}`: {e}", f.node)))
            }
        }
    }

    /// Forgets the front-end's session after it failed.
    async fn forget(&self) {
        if let Some(f) = self.front.lock().await.take() {
            f.pool.close_all().await;
        }
    }

    /// Runs `command` on the front-end; its standard output.
    async fn on_front(&self, command: &str) -> Result<String, ElasticError> {
        let s = self.session().await?;
        let out = match s.exec(command).await {
            Ok(o) => o,
            Err(e) => {
                drop(s);
                self.forget().await;
                return Err(ElasticError::Queue(format!("`{command}`: {e}")));
            }
        };
        if !out.success() {
            return Err(ElasticError::Queue(format!(
                "`{command}` failed on the front-end: {}",
                out.stderr_text().trim()
            )));
        }
        Ok(out.stdout_text().into_owned())
    }

    /// One reading of the queue.
    pub async fn snapshot(&self) -> Result<Snapshot, ElasticError> {
        match &self.kind {
            QueueKind::Slurm => {
                let text = self.on_front(&slurm::snapshot_command()).await?;
                slurm::parse_both(&text).map_err(|e| ElasticError::Queue(e.to_string()))
            }
            QueueKind::Command(prog) => {
                let out = Program::new("sh", COMMAND_TIMEOUT)
                    .arg("-c")
                    .arg(prog)
                    .env("NUBO_CLUSTER", &self.cluster)
                    .run()
                    .await
                    .map_err(|e| ElasticError::Queue(e.to_string()))?;
                command::parse(&out.stdout_text()).map_err(|e| ElasticError::Queue(e.to_string()))
            }
            QueueKind::Sqs(url) => self.sqs_snapshot(url).await,
            QueueKind::Kubernetes(url) => self.kube(url).await?.snapshot().await,
            QueueKind::Sge => {
                let text = self.on_front(&sge::snapshot_command()).await?;
                sge::parse(&text).map_err(|e| ElasticError::Queue(e.to_string()))
            }
            QueueKind::RabbitMq(queue) => {
                let text = self.on_front(&rabbitmq::snapshot_command()).await?;
                let addresses = self.addresses().await?;
                rabbitmq::parse(&text, queue, self.messages_per_node, &addresses)
                    .map_err(|e| ElasticError::Queue(e.to_string()))
            }
        }
    }

    /// The Kubernetes client, made on first use.
    async fn kube(&self, url: &str) -> Result<&super::kube::Kube, ElasticError> {
        self.kube
            .get_or_try_init(|| async {
                let auth = self
                    .env
                    .auth_for(&self.cluster)
                    .map_err(|e| ElasticError::Queue(e.to_string()))?;
                let token = super::kube::token(auth.as_ref(), |p| std::fs::read_to_string(p).ok());
                super::kube::Kube::new(url, token)
            })
            .await
    }

    /// The names of the cluster's nodes whose VM runs: the workers of a
    /// queue that knows no nodes.
    #[cfg(feature = "ec2")]
    async fn running_nodes(&self) -> Result<Vec<String>, ElasticError> {
        Ok(self
            .env
            .db()
            .vms(&self.cluster)
            .await?
            .into_iter()
            .filter(|v| v.state == crate::state::VmState::Running)
            .map(|v| v.node)
            .collect())
    }

    #[cfg(feature = "ec2")]
    async fn sqs_snapshot(&self, url: &str) -> Result<Snapshot, ElasticError> {
        let client = self
            .sqs
            .get_or_try_init(|| async {
                let url = crate::elastic::sqs::parse_url(url)
                    .map_err(|e| ElasticError::Queue(e.to_string()))?;
                let auth = self
                    .env
                    .auth_for(&self.cluster)
                    .map_err(|e| ElasticError::Queue(e.to_string()))?;
                let settings =
                    super::sqs::settings(&url, auth.as_ref(), |n| std::env::var(n).ok())?;
                Ok::<_, ElasticError>(super::sqs::Sqs::new(url, settings))
            })
            .await?;
        let depth = client.depth().await?;
        let workers = self.running_nodes().await?;
        Ok(crate::elastic::sqs::snapshot(
            depth,
            self.messages_per_node,
            &workers,
        ))
    }

    #[cfg(not(feature = "ec2"))]
    async fn sqs_snapshot(&self, _url: &str) -> Result<Snapshot, ElasticError> {
        Err(ElasticError::Queue(
            "this nubo was built without EC2 support (the cargo feature `ec2`), which the sqs queue needs".into(),
        ))
    }

    /// Stops the queue from giving `node` new jobs (before a power-off).
    pub async fn drain(&self, node: &str) -> Result<(), ElasticError> {
        match &self.kind {
            QueueKind::Slurm => self
                .on_front(&format!(
                    "scontrol update NodeName={node} State=DRAIN Reason=nubo-power-off"
                ))
                .await
                .map(drop),
            QueueKind::Kubernetes(url) => self.kube(url).await?.drain(node).await,
            QueueKind::Command(_) | QueueKind::Sqs(_) => Ok(()),
            QueueKind::RabbitMq(_) => self.on_node(node, RABBITMQ_DRAIN).await.map(drop),
            QueueKind::Sge => self.on_front(&sge::drain_command(node)).await.map(drop),
        }
    }

    /// Gives a drained node back (a power-off that was called off).
    pub async fn undrain(&self, node: &str) -> Result<(), ElasticError> {
        match &self.kind {
            QueueKind::Slurm => self
                .on_front(&format!("scontrol update NodeName={node} State=RESUME"))
                .await
                .map(drop),
            QueueKind::Kubernetes(url) => self.kube(url).await?.undrain(node).await,
            QueueKind::Command(_) | QueueKind::Sqs(_) => Ok(()),
            QueueKind::RabbitMq(_) => self.on_node(node, RABBITMQ_UNDRAIN).await.map(drop),
            QueueKind::Sge => self.on_front(&sge::undrain_command(node)).await.map(drop),
        }
    }

    /// Tells the queue a node is gone.
    pub async fn gone(&self, node: &str) -> Result<(), ElasticError> {
        match &self.kind {
            QueueKind::Slurm => self
                // The reason the front-end's own configuration gives absent
                // workers (recipes/slurm-front.yaml); the drain of the
                // power-off is lifted so the node returns when it registers.
                .on_front(&format!(
                    "scontrol update NodeName={node} State=DOWN Reason='nubo: no VM' && \
                     scontrol update NodeName={node} State=UNDRAIN"
                ))
                .await
                .map(drop),
            QueueKind::Kubernetes(url) => self.kube(url).await?.gone(node).await,
            QueueKind::Command(_) | QueueKind::Sqs(_) | QueueKind::RabbitMq(_) => Ok(()),
            QueueKind::Sge => self.on_front(&sge::gone_command(node)).await.map(drop),
            // The broker forgets a consumer whose connection is gone.
        }
    }

    /// Ends the session to the front-end.
    pub async fn close(&self) {
        self.forget().await;
    }
}
