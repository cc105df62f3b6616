//! The elasticity daemon and its one-shot relatives: `nubo elastic run`,
//! `status`, `resume`, `suspend`.
//!
//! The daemon is a reconcile loop over a closed [`Event`] set. Each round
//! it reads the job queue, lets `elastic::decide` choose, records the
//! nodes' new states and the decisions (with reasons) in the state store,
//! and only then acts: drains nodes to power off (calling a power-off off
//! when a job started on it meanwhile), then reconfigures the cluster with
//! the elastic systems' nodes that are on (`launch::reconfigure`: creates
//! the new VMs, removes the others, runs only the configuration steps whose
//! script changed), then tells the queue which nodes are gone. Acting is
//! idempotent, so a daemon restarted after a crash (SIGKILL included)
//! finishes what the recorded states ask for: no duplicate VM, no lost
//! node.

pub mod kube;
mod metrics;
pub mod queue;
#[cfg(feature = "ec2")]
pub mod sqs;
mod trim;

use crate::elastic::{
    Action, Decision, ElasticNode, NodeState, Policy, QueueState, RecordedAction, Snapshot, decide,
    hostlist, policy,
};
use crate::model::{self, ClusterSpec};
use crate::ops::env::Env;
use crate::ops::launch::{self, LaunchError};
use crate::ops::observer::Silent;
use crate::ops::recipes::RecipeDirs;
use crate::ops::templates::{self, TemplateSearch};
use crate::plan::graph::Vertex;
use crate::provider::ProviderError;
use crate::state::{DecisionRecord, QueueRecord, StateError, StateStore, Timestamp, VmState};
pub use metrics::Metrics;
pub use queue::{Queue, QueueKind};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ElasticError {
    #[error("cluster `{0}` not found: `nubo list` shows the clusters there are")]
    NotFound(String),
    #[error("cluster `{cluster}` cannot be elastic: {}", .errors.join("; "))]
    Policy {
        cluster: String,
        errors: Vec<String>,
    },
    #[error("job queue: {0}")]
    Queue(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("node `{node}` is not an elastic node of cluster `{cluster}` (elastic nodes: {known})")]
    UnknownNode {
        cluster: String,
        node: String,
        known: String,
    },
    #[error(transparent)]
    Hostlist(#[from] hostlist::HostlistError),
    #[error("an elasticity daemon already runs for cluster `{cluster}` (pid {pid}); stop it first")]
    AlreadyRunning { cluster: String, pid: String },
    #[error("{0}")]
    Io(String),
}

/// The daemon's closed set of events.
#[derive(Debug)]
pub enum Event {
    /// Time for a round.
    Tick,
    /// SIGTERM or SIGINT: finish the round's records and stop.
    Shutdown,
}

pub struct RunOptions {
    pub cluster: String,
    pub queue: QueueKind,
    /// Time between rounds.
    pub period: Duration,
    /// Where to serve Prometheus metrics (a loopback address).
    pub metrics: Option<SocketAddr>,
    /// Stop after this many rounds (tests, one-off runs).
    pub rounds: Option<u64>,
    pub dirs: RecipeDirs,
}

/// How long the daemon waits before acting again after an action that did
/// not complete (a failed step, a busy cluster).
const RETRY_AFTER: Duration = Duration::from_secs(10);

/// How often an idle daemon gives back its code and free heap pages
/// (`trim.rs`): once a minute at the default period, a few milliseconds
/// of reading `/proc/self/smaps`.
const TRIM_EVERY_ROUNDS: u64 = 60;

fn now_ms() -> i64 {
    Timestamp::now().as_millis()
}

/// The cluster's recorded description, lowered, with its elastic policies.
fn load(store: &StateStore, cluster: &str) -> Result<(ClusterSpec, Vec<Policy>), ElasticError> {
    let c = store
        .cluster(cluster)?
        .ok_or_else(|| ElasticError::NotFound(cluster.to_string()))?;
    let composed = templates::compose_recorded(&TemplateSearch::default(), &c.description)
        .map_err(|e| LaunchError::from(crate::ops::prepare::PrepareError::from(e)))?;
    let (spec, _) = model::lower(&composed.document);
    let policies = policy::policies(&spec).map_err(|errors| ElasticError::Policy {
        cluster: cluster.to_string(),
        errors: errors.iter().map(ToString::to_string).collect(),
    })?;
    Ok((spec, policies))
}

/// The elastic node types of a description composed from `names`
/// (templates or files, as `nubo launch` takes them), checked and lowered
/// as a launch does: `nubo elastic simulate --radl`.
pub fn node_types(names: &[String]) -> Result<Vec<Policy>, ElasticError> {
    use crate::ops::prepare::PrepareError;
    let composed = templates::compose(&TemplateSearch::default(), names, None)
        .map_err(|e| LaunchError::from(PrepareError::from(e)))?;
    let (spec, mut diagnostics) = model::lower(&composed.document);
    diagnostics.extend(composed.diagnostics.iter().cloned());
    if diagnostics
        .iter()
        .any(crate::diagnostic::Diagnostic::is_error)
    {
        return Err(LaunchError::from(PrepareError::Invalid {
            sources: Box::new(composed.sources),
            diagnostics,
        })
        .into());
    }
    policy::policies(&spec).map_err(|errors| ElasticError::Policy {
        cluster: names.join(" "),
        errors: errors.iter().map(ToString::to_string).collect(),
    })
}

/// The recorded elastic nodes, or (the first time) one per elastic slot:
/// idle where a VM runs, off elsewhere.
fn nodes(
    store: &StateStore,
    cluster: &str,
    spec: &ClusterSpec,
    policies: &[Policy],
) -> Result<Vec<ElasticNode>, ElasticError> {
    let recorded = store.elastic_nodes(cluster)?;
    let vms = store.vms(cluster)?;
    let now = now_ms();
    let mut out = Vec::new();
    for p in policies {
        for slot in spec.slots_of(&p.system) {
            if let Some(n) = recorded.iter().find(|n| n.name == slot.name) {
                out.push(n.clone());
                continue;
            }
            let running = vms
                .iter()
                .any(|v| v.node == slot.name && v.state == VmState::Running);
            let state = if running {
                NodeState::Idle
            } else {
                NodeState::Off
            };
            out.push(ElasticNode::new(
                &slot.name,
                &p.system,
                slot.number,
                state,
                now,
            ));
        }
    }
    Ok(out)
}

fn records(now: i64, decisions: &[Decision]) -> Vec<DecisionRecord> {
    decisions
        .iter()
        .map(|d| DecisionRecord {
            at: Timestamp(now),
            node: d.node.clone(),
            action: d.action.into(),
            reason: d.reason.clone(),
        })
        .collect()
}

fn note(now: i64, node: &str, action: RecordedAction, reason: String) -> DecisionRecord {
    DecisionRecord {
        at: Timestamp(now),
        node: node.to_string(),
        action,
        reason,
    }
}

/// Carries out what the nodes' states ask for: drains and checks the
/// nodes powering off, reconfigures the cluster with the nodes that are
/// on, tells the queue which are gone, and records the result. Returns
/// whether everything was done (false: try again next round).
/// What [`apply`] came to.
struct Applied {
    /// Every VM is as decided.
    complete: bool,
    /// Systems the cloud had no capacity or quota for (each with what it
    /// said): they rest for their `elastic_capacity_cooloff`.
    refused: Vec<(String, String)>,
}

/// The cloud's capacity or quota refusal that failed `node`'s VM in this
/// walk, if that is why it failed.
fn capacity_refusal(
    result: &Result<launch::LaunchReport, LaunchError>,
    node: &str,
) -> Option<String> {
    let Ok(report) = result else {
        return None;
    };
    report.walk.failures().find_map(|(v, f)| match v {
        Vertex::Vm { name, .. } if name == node => {
            let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(f.error());
            while let Some(e) = cur {
                if let Some(ProviderError::Quota(m)) = e.downcast_ref::<ProviderError>() {
                    return Some(m.clone());
                }
                cur = e.source();
            }
            None
        }
        _ => None,
    })
}

async fn apply(
    env: &Env,
    cluster: &str,
    dirs: &RecipeDirs,
    queue: Option<&Queue>,
    nodes: &mut [ElasticNode],
) -> Result<Applied, ElasticError> {
    let now = now_ms();
    let mut notes = Vec::new();
    // 1. Drain what powers off; call it off where a job got there first.
    let leaving: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].state == NodeState::PoweringOff)
        .collect();
    if let (Some(q), false) = (queue, leaving.is_empty()) {
        for &i in &leaving {
            if let Err(e) = q.drain(&nodes[i].name).await {
                tracing::warn!(node = %nodes[i].name, error = %e, "drain failed");
            }
        }
        let snap = q.snapshot().await?;
        for &i in &leaving {
            if snap.node(&nodes[i].name) == Some(QueueState::Used) {
                let _ = q.undrain(&nodes[i].name).await;
                nodes[i].set(NodeState::Used, now);
                nodes[i].last_busy = now;
                notes.push(note(
                    now,
                    &nodes[i].name,
                    RecordedAction::PowerOffCalledOff,
                    "a job started on it while it was being drained".into(),
                ));
            }
        }
        record(env, cluster, nodes, std::mem::take(&mut notes), None).await?;
    }
    // 2. Converge the VMs on the nodes that are on.
    // Recipes from git stay on the commits recorded for the cluster.
    let opts = launch::ReconfigureOptions {
        name: cluster.to_string(),
        force: false,
        update_recipes: false,
        recipe_dirs: Some(dirs.clone()),
    };
    let result = launch::reconfigure(env, &opts, Arc::new(Silent)).await;
    let complete = match &result {
        Ok(r) => r.succeeded(),
        Err(LaunchError::State(StateError::ClusterBusy { .. })) => {
            tracing::info!("cluster busy; acting next round");
            return Ok(Applied {
                complete: false,
                refused: Vec::new(),
            });
        }
        Err(e) => {
            tracing::warn!(error = %e, "reconfigure failed");
            false
        }
    };
    // 3. Record what came of it.
    let vms = env.db().vms(cluster).await?;
    let now = now_ms();
    let mut refused: Vec<(String, String)> = Vec::new();
    for n in nodes.iter_mut() {
        let running = vms
            .iter()
            .any(|v| v.node == n.name && v.state == VmState::Running);
        match n.state {
            NodeState::PoweringOff | NodeState::OnError if !running => {
                n.set(NodeState::Off, now);
                let stopped = vms
                    .iter()
                    .any(|v| v.node == n.name && v.state == VmState::Stopped);
                notes.push(note(
                    now,
                    &n.name,
                    RecordedAction::Off,
                    if stopped {
                        "its VM is stopped (ec3_reuse_nodes)".into()
                    } else {
                        "its VM is removed".into()
                    },
                ));
                if let Some(q) = queue {
                    let _ = q.gone(&n.name).await;
                }
            }
            NodeState::Failed if !running => {
                if let Some(q) = queue {
                    let _ = q.gone(&n.name).await;
                }
            }
            NodeState::PoweringOn if !running && capacity_refusal(&result, &n.name).is_some() => {
                // Not the node's fault: the slot is free again at once, and
                // its type rests.
                let why = capacity_refusal(&result, &n.name).unwrap_or_default();
                n.set(NodeState::Off, now);
                notes.push(note(
                    now,
                    &n.name,
                    RecordedAction::Fail,
                    format!("the cloud has no capacity or quota for it: {why}"),
                ));
                if !refused.iter().any(|(s, _)| s == &n.system) {
                    refused.push((n.system.clone(), why));
                }
            }
            NodeState::PoweringOn if !running => {
                n.failures += 1;
                n.set(NodeState::Failed, now);
                notes.push(note(
                    now,
                    &n.name,
                    RecordedAction::Fail,
                    match &result {
                        Err(e) => format!("could not create it: {e}"),
                        Ok(_) => "its VM did not come up".into(),
                    },
                ));
            }
            _ => {}
        }
    }
    record(env, cluster, nodes, notes, None).await?;
    Ok(Applied { complete, refused })
}

/// Records a round (nodes, decisions, the queue reading) on a blocking
/// thread.
async fn record(
    env: &Env,
    cluster: &str,
    nodes: &[ElasticNode],
    decisions: Vec<DecisionRecord>,
    queue: Option<QueueRecord>,
) -> Result<(), ElasticError> {
    let (c, nodes) = (cluster.to_string(), nodes.to_vec());
    env.db()
        .run(move |s| s.record_elastic_round(&c, &nodes, &decisions, queue.as_ref()))
        .await?;
    Ok(())
}

/// The cluster's description and policies, and its elastic nodes, read on
/// a blocking thread.
async fn load_nodes(
    env: &Env,
    cluster: &str,
) -> Result<(ClusterSpec, Vec<Policy>, Vec<ElasticNode>), ElasticError> {
    let c = cluster.to_string();
    env.db()
        .run(move |s| {
            let (spec, policies) = load(s, &c)?;
            let nodes = nodes(s, &c, &spec, &policies)?;
            Ok::<_, ElasticError>((spec, policies, nodes))
        })
        .await
}

/// Whether the recorded VMs already match the nodes' states.
async fn settled(env: &Env, cluster: &str, nodes: &[ElasticNode]) -> Result<bool, ElasticError> {
    let vms = env.db().vms(cluster).await?;
    Ok(nodes.iter().all(|n| {
        let running = vms
            .iter()
            .any(|v| v.node == n.name && v.state == VmState::Running);
        match n.state {
            NodeState::PoweringOn => running,
            NodeState::Idle | NodeState::Used => running,
            NodeState::Off | NodeState::Failed | NodeState::PoweringOff | NodeState::OnError => {
                !running
            }
        }
    }))
}

fn daemon_lock(
    store: &StateStore,
    cluster: &str,
) -> Result<crate::state::ClusterLock, ElasticError> {
    store.lock_daemon(cluster).map_err(|e| match e {
        StateError::ClusterBusy { cluster, pid } => ElasticError::AlreadyRunning {
            cluster,
            pid: pid.map_or_else(|| "unknown".into(), |p| p.to_string()),
        },
        e => e.into(),
    })
}

/// How long a starting daemon waits for its lock.
const DAEMON_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

/// The daemon's lock, waiting up to `patience` for it (on a blocking
/// thread): `nubo elastic status` takes the lock for an instant to see
/// whether a daemon runs, and that must not stop a daemon starting then.
/// A daemon that really runs holds it longer, and is reported.
fn daemon_lock_patiently(
    store: &StateStore,
    cluster: &str,
    patience: std::time::Duration,
) -> Result<crate::state::ClusterLock, ElasticError> {
    let until = std::time::Instant::now() + patience;
    loop {
        match daemon_lock(store, cluster) {
            Err(ElasticError::AlreadyRunning { .. }) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            held => return held,
        }
    }
}

/// What the daemon's process sets before its runtime starts its threads:
/// one malloc arena for them all (see `trim.rs`).
pub fn before_runtime() {
    trim::one_malloc_arena();
}

/// `nubo elastic run`: rounds every `period` until `shutdown` resolves
/// (or `rounds` are done).
pub async fn run(
    env: &Env,
    opts: &RunOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), ElasticError> {
    let cluster = opts.cluster.as_str();
    let _lock = {
        let c = cluster.to_string();
        env.db()
            .run(move |s| daemon_lock_patiently(s, &c, DAEMON_LOCK_PATIENCE))
            .await?
    };
    let (spec, mut policies, mut nodes) = load_nodes(env, cluster).await?;
    restore_rests(env, cluster, &mut policies, now_ms()).await?;
    record(env, cluster, &nodes, Vec::new(), None).await?;
    let metrics = Arc::new(Metrics::default());
    let _server = match opts.metrics {
        Some(addr) => Some(metrics::serve(addr, metrics.clone()).await?),
        None => None,
    };
    let mut queue = Queue::new(env.clone(), cluster, opts.queue.clone());
    if let QueueKind::RabbitMq(_) | QueueKind::Sqs(_) = opts.queue {
        let per_node =
            crate::elastic::policy::messages_per_node(&spec).map_err(|e| ElasticError::Policy {
                cluster: cluster.to_string(),
                errors: vec![e],
            })?;
        queue.set_messages_per_node(per_node);
    }
    // What a crash left half done (a VM or a configuration step) is
    // finished first: one reconfigure, which skips what is done.
    let mut pending_work = true;
    let mut retry_at = tokio::time::Instant::now();
    let mut reported: HashSet<String> = HashSet::new();
    // When each pending job was first seen (for `elastic_scale_out_after`
    // when the queue gives no submit time).
    let mut first_seen: HashMap<String, i64> = HashMap::new();
    let mut ticker = tokio::time::interval(opts.period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let mut round = 0u64;
    // The code the start or an action ran, and the heap it freed, are
    // given back after it, and every TRIM_EVERY_ROUNDS rounds.
    let mut trim_due = true;
    tracing::info!(cluster, "elasticity daemon started");
    loop {
        let event = tokio::select! {
            _ = &mut shutdown => Event::Shutdown,
            _ = ticker.tick() => Event::Tick,
        };
        match event {
            Event::Shutdown => break,
            Event::Tick => {}
        }
        round += 1;
        metrics.round();
        let mut snap = match queue.snapshot().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "reading the job queue failed");
                metrics.queue_error();
                if opts.rounds.is_some_and(|r| round >= r) {
                    break;
                }
                continue;
            }
        };
        // One round; again at once, without reading the queue, while a
        // power-on meets a capacity refusal (its type then rests, so the
        // next type is tried in the same round).
        let mut rounds_left = policies.len().max(1);
        loop {
            let now = now_ms();
            note_pending_since(&mut first_seen, &mut snap, now);
            let out = decide(now, &policies, &nodes, &snap);
            nodes = out.nodes;
            let mut recs = records(now, &out.decisions);
            for u in &out.unschedulable {
                if reported.insert(u.job.clone()) {
                    recs.push(note(
                        now,
                        &format!("job {}", u.job),
                        RecordedAction::Unschedulable,
                        u.reason.clone(),
                    ));
                }
            }
            for d in &out.decisions {
                tracing::info!(node = %d.node, action = %d.action, reason = %d.reason, "decision");
                metrics.decision(d.action);
            }
            record(
                env,
                cluster,
                &nodes,
                recs,
                Some(QueueRecord {
                    at: Timestamp(now),
                    snapshot: serde_json::to_value(&snap).unwrap_or_default(),
                    pid: std::process::id() as i64,
                }),
            )
            .await?;
            metrics.observe(&nodes, &snap);
            let acts = out
                .decisions
                .iter()
                .any(|d| matches!(d.action, Action::PowerOn | Action::PowerOff | Action::Fail));
            if !(acts || (pending_work && tokio::time::Instant::now() >= retry_at)) {
                break;
            }
            let applied = apply(env, cluster, &opts.dirs, Some(&queue), &mut nodes).await?;
            trim_due = true;
            pending_work = !applied.complete || !settled(env, cluster, &nodes).await?;
            if pending_work {
                retry_at = tokio::time::Instant::now() + RETRY_AFTER;
            }
            metrics.observe(&nodes, &snap);
            let now = now_ms();
            let mut notes = Vec::new();
            for (system, why) in &applied.refused {
                if let Some(p) = policies.iter_mut().find(|p| &p.system == system) {
                    p.resting_until = Some(now + (p.capacity_cooloff_s as i64) * 1000);
                    tracing::warn!(system, reason = %why, "no capacity; the type rests");
                    notes.push(note(
                        now,
                        &format!("system {system}"),
                        RecordedAction::Fail,
                        rest_reason(p.capacity_cooloff_s),
                    ));
                }
            }
            if !notes.is_empty() {
                record(env, cluster, &nodes, notes, None).await?;
            }
            rounds_left -= 1;
            if applied.refused.is_empty() || rounds_left == 0 {
                break;
            }
        }
        if trim_due || round.is_multiple_of(TRIM_EVERY_ROUNDS) {
            trim_due = false;
            let given =
                tokio::task::spawn_blocking(|| (trim::drop_code_pages(), trim::trim_heap()));
            if let Ok((freed, heap)) = given.await {
                tracing::debug!(freed, heap, "code and free heap pages given back");
            }
        }
        if opts.rounds.is_some_and(|r| round >= r) {
            break;
        }
    }
    queue.close().await;
    tracing::info!(cluster, "elasticity daemon stopped");
    Ok(())
}

/// The recorded reason of a node type's rest (`system NAME`, `fail`):
/// written here and read back by [`rest_of`] when the daemon restarts.
fn rest_reason(cooloff_s: u64) -> String {
    format!(
        "rests {cooloff_s}s (elastic_capacity_cooloff): the cloud has no capacity or quota for it"
    )
}

/// The seconds of a rest recorded by [`rest_reason`].
fn rest_of(reason: &str) -> Option<u64> {
    reason
        .strip_prefix("rests ")?
        .split_once("s (elastic_capacity_cooloff)")?
        .0
        .parse()
        .ok()
}

/// How many recorded decisions a starting daemon reads back for rests.
const RESTS_LOOKBACK: u32 = 1000;

/// A node type resting when the last daemon stopped rests on until its
/// recorded cool-off ends, so a restart does not retry a cloud that just
/// refused it.
async fn restore_rests(
    env: &Env,
    cluster: &str,
    policies: &mut [Policy],
    now: i64,
) -> Result<(), ElasticError> {
    let c = cluster.to_string();
    let recent = env
        .db()
        .run(move |s| s.elastic_decisions(&c, RESTS_LOOKBACK))
        .await?;
    for d in recent.iter().filter(|d| d.action == RecordedAction::Fail) {
        let (Some(system), Some(secs)) = (d.node.strip_prefix("system "), rest_of(&d.reason))
        else {
            continue;
        };
        let until = d.at.0 + (secs as i64) * 1000;
        if let Some(p) = policies.iter_mut().find(|p| p.system == system)
            && until > now
            && p.resting_until.is_none_or(|t| t < until)
        {
            tracing::info!(system, until, "still resting from before the restart");
            p.resting_until = Some(until);
        }
    }
    Ok(())
}

/// Gives each pending job without a submit time the time the daemon first
/// saw it pending, and forgets jobs no longer pending.
fn note_pending_since(first_seen: &mut HashMap<String, i64>, snap: &mut Snapshot, now: i64) {
    first_seen.retain(|id, _| snap.pending.iter().any(|j| &j.id == id));
    for job in &mut snap.pending {
        let seen = *first_seen.entry(job.id.clone()).or_insert(now);
        job.pending_since.get_or_insert(seen);
    }
}

fn select(
    cluster: &str,
    nodes: &[ElasticNode],
    list: &[String],
) -> Result<Vec<usize>, ElasticError> {
    let mut out = Vec::new();
    for item in list {
        for name in hostlist::expand(item)? {
            let i = nodes.iter().position(|n| n.name == name).ok_or_else(|| {
                ElasticError::UnknownNode {
                    cluster: cluster.to_string(),
                    node: name.clone(),
                    known: nodes
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            out.push(i);
        }
    }
    Ok(out)
}

/// `nubo elastic resume` / `suspend` (SLURM's ResumeProgram and
/// SuspendProgram): powers the named nodes on or off now.
pub async fn power(
    env: &Env,
    cluster: &str,
    list: &[String],
    on: bool,
    dirs: &RecipeDirs,
) -> Result<Vec<ElasticNode>, ElasticError> {
    let (_spec, _policies, mut nodes) = load_nodes(env, cluster).await?;
    let now = now_ms();
    let mut recs = Vec::new();
    for i in select(cluster, &nodes, list)? {
        let n = &mut nodes[i];
        match (on, n.state) {
            (true, NodeState::Off | NodeState::Failed) => {
                n.set(NodeState::PoweringOn, now);
                recs.push(note(
                    now,
                    &n.name,
                    RecordedAction::PowerOn,
                    "resume requested".into(),
                ));
            }
            (
                false,
                NodeState::PoweringOn | NodeState::Idle | NodeState::Used | NodeState::OnError,
            ) => {
                n.set(NodeState::PoweringOff, now);
                recs.push(note(
                    now,
                    &n.name,
                    RecordedAction::PowerOff,
                    "suspend requested".into(),
                ));
            }
            _ => {}
        }
    }
    record(env, cluster, &nodes, recs, None).await?;
    apply(env, cluster, dirs, None, &mut nodes).await?;
    // Without a queue reading, a node whose VM runs is taken as idle.
    let vms = env.db().vms(cluster).await?;
    let now = now_ms();
    for n in nodes.iter_mut() {
        if n.state == NodeState::PoweringOn
            && vms
                .iter()
                .any(|v| v.node == n.name && v.state == VmState::Running)
            && on
        {
            n.set(NodeState::Idle, now);
        }
    }
    record(env, cluster, &nodes, Vec::new(), None).await?;
    Ok(nodes)
}

/// What `nubo elastic status` shows.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub cluster: String,
    pub nodes: Vec<ElasticNode>,
    pub queue: Option<QueueRecord>,
    pub decisions: Vec<DecisionRecord>,
    /// Whether a daemon holds the cluster's daemon lock now.
    pub daemon_running: bool,
    /// Each recorded VM's state, by node: an elastic node that is off has
    /// none, or a `stopped` one where its system reuses nodes.
    pub vms: std::collections::BTreeMap<String, VmState>,
}

pub fn status(env: &Env, cluster: &str, decisions: u32) -> Result<Status, ElasticError> {
    if env.store.cluster(cluster)?.is_none() {
        return Err(ElasticError::NotFound(cluster.to_string()));
    }
    let daemon_running = match daemon_lock(&env.store, cluster) {
        Ok(_) => false,
        Err(ElasticError::AlreadyRunning { .. }) => true,
        Err(e) => return Err(e),
    };
    Ok(Status {
        cluster: cluster.to_string(),
        nodes: env.store.elastic_nodes(cluster)?,
        queue: env.store.elastic_queue(cluster)?,
        decisions: env.store.elastic_decisions(cluster, decisions)?,
        daemon_running,
        vms: env
            .store
            .vms(cluster)?
            .into_iter()
            .map(|v| (v.node, v.state))
            .collect(),
    })
}

/// The snapshot in a queue record, if it parses.
pub fn recorded_snapshot(q: &QueueRecord) -> Option<Snapshot> {
    serde_json::from_value(q.snapshot.clone()).ok()
}

#[cfg(test)]
mod lock_tests {
    use super::*;
    use std::time::Duration;

    /// Regression: `nubo elastic status`, run just as the daemon started,
    /// held the daemon's lock for an instant and the daemon exited with
    /// "an elasticity daemon already runs" (seen in CI).
    #[test]
    fn a_status_probe_does_not_stop_a_daemon_starting() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let probe = store.lock_daemon("c1").unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(probe);
        });
        let lock = daemon_lock_patiently(&store, "c1", Duration::from_secs(2));
        released.join().unwrap();
        assert!(lock.is_ok(), "{lock:?}");
    }

    #[test]
    fn a_daemon_that_holds_the_lock_is_still_reported() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path()).unwrap();
        let _running = store.lock_daemon("c1").unwrap();
        let e = daemon_lock_patiently(&store, "c1", Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, ElasticError::AlreadyRunning { .. }), "{e}");
    }
}

#[cfg(test)]
mod rest_tests {
    use super::*;

    #[test]
    fn a_recorded_rest_is_read_back() {
        assert_eq!(rest_of(&rest_reason(600)), Some(600));
        assert_eq!(rest_of(&rest_reason(0)), Some(0));
        assert_eq!(rest_of("rests soon"), None);
        assert_eq!(rest_of("power-off timed out"), None);
    }
}
