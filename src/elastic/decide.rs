//! One decision round: what to power on and off, and why.
//!
//! `decide` is a pure function of the clock, the policies, what the daemon
//! knows of each node and one reading of the job queue. It returns the
//! nodes' new states and the actions to carry out, each with its reason.
//! The daemon records both before acting, so a restart resumes from them.
//!
//! The rules, in order:
//! 1. Observe: a node powering on that the queue shows up becomes idle or
//!    used; one the queue has not seen within `elastic_poweron_timeout` fails
//!    (its VM is removed; the slot rests `elastic_retry_after`, then is off).
//!    An up node the queue reports failed, or has not seen for the same
//!    timeout, fails too. A power-off not finished within
//!    `elastic_poweroff_timeout` is reported, and the node is `on_error`
//!    (CLUES's ON_ERR): it counts against the maximum until its VM is
//!    gone, and a job the queue starts on it makes it used again.
//! 2. Demand: each pending job, in queue order, is fitted on idle and
//!    booting nodes' free CPUs; what is missing is powered on, from the
//!    node types whose nodes fit the job (its partition, CPUs, memory and
//!    GPUs; lowest `ec3_prio` first; a type with a failed node, or resting
//!    after the cloud had no capacity or quota for it
//!    (`elastic_capacity_cooloff`), gives way to its `ec3_if_fail` type,
//!    and a resting type powers nothing on), within `max` and
//!    `elastic_max_booting`, once
//!    the job has waited `elastic_scale_out_after`. All or nothing: nodes
//!    are powered on for a job only when, with the nodes it already fits
//!    on, they make all the nodes it needs. A job no type can ever run is
//!    reported.
//! 3. Floors: `ec3_min_instances` nodes on, `elastic_spare` idle nodes
//!    warm.
//! 4. Power-off: an idle node (idle for the queue too) that no pending job
//!    was fitted on, idle for `elastic_idle_time`, up for
//!    `elastic_cooldown`, at the end of a billing interval if there is one,
//!    while the floors hold. A node running jobs is never chosen.

use super::node::{ElasticNode, NodeState};
use super::policy::Policy;
use super::queue::{Job, QueueState, Snapshot};
use serde::Serialize;
use std::collections::HashSet;

/// What a round decides for a node. Its text (`Display`, serde) is
/// snake_case: `power_on`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::Display,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Action {
    /// Create the node's VM and configure it.
    PowerOn,
    /// Drain it in the queue, then remove (or stop) its VM.
    PowerOff,
    /// Remove its VM: it did not come up, or the queue lost it.
    Fail,
}

impl Action {
    /// Every action.
    pub const ALL: &[Action] = <Action as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// What a recorded decision says: one of [`decide`]'s [`Action`]s, or
/// what the daemon noted while carrying them out or on request. Recorded
/// as its snake_case text (`power_on`), read back with `FromStr`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RecordedAction {
    /// Decided, or asked for (`elastic resume`).
    PowerOn,
    /// Decided, or asked for (`elastic suspend`).
    PowerOff,
    /// Decided, or the VM could not be created.
    Fail,
    /// A job started on the node while it was being drained: it stays.
    PowerOffCalledOff,
    /// The node's VM is gone.
    Off,
    /// A job no node type can run (the record's node names the job).
    Unschedulable,
}

impl RecordedAction {
    /// Every recorded action.
    pub const ALL: &[RecordedAction] = <RecordedAction as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl From<Action> for RecordedAction {
    fn from(a: Action) -> Self {
        match a {
            Action::PowerOn => RecordedAction::PowerOn,
            Action::PowerOff => RecordedAction::PowerOff,
            Action::Fail => RecordedAction::Fail,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub node: String,
    pub action: Action,
    pub reason: String,
}

/// A job that no node type can run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unschedulable {
    pub job: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    pub nodes: Vec<ElasticNode>,
    pub decisions: Vec<Decision>,
    pub unschedulable: Vec<Unschedulable>,
}

fn ms(s: u64) -> i64 {
    (s as i64).saturating_mul(1000)
}

/// Whether `n`'s power-off falls at the end of a paid interval.
fn billing_allows(p: &Policy, n: &ElasticNode, now: i64) -> bool {
    let Some(b) = p.billing_interval_s else {
        return true;
    };
    let up = (now - n.up_since.unwrap_or(n.since)).max(0) as u64 / 1000;
    let margin = (b / 10).max(1);
    up % b >= b - margin
}

/// Whether one node of `p` offers what `job` asks of a node.
fn fits(p: &Policy, job: &Job) -> bool {
    p.cpus >= job.cpus
        && p.gpus >= job.gpus
        && (p.memory_mb == 0 || job.memory_mb == 0 || p.memory_mb >= job.memory_mb)
}

/// Whether `p` serves `job`'s partition: it names none, `p` serves it, or
/// no type serves it.
fn serves(policies: &[Policy], p: &Policy, job: &Job) -> bool {
    match &job.partition {
        None => true,
        Some(part) => &p.partition == part || !policies.iter().any(|q| &q.partition == part),
    }
}

fn describe(job: &Job) -> String {
    let mut s = format!(
        "job {} ({} node{} x {} CPU{}",
        job.id,
        job.nodes,
        if job.nodes == 1 { "" } else { "s" },
        job.cpus,
        if job.cpus == 1 { "" } else { "s" }
    );
    if job.memory_mb > 0 {
        s.push_str(&format!(", {} MiB", job.memory_mb));
    }
    if job.gpus > 0 {
        s.push_str(&format!(
            ", {} GPU{}",
            job.gpus,
            if job.gpus == 1 { "" } else { "s" }
        ));
    }
    if let Some(p) = &job.partition {
        s.push_str(&format!(", partition {p}"));
    }
    s.push(')');
    s
}

struct Round<'a> {
    now: i64,
    policies: &'a [Policy],
    nodes: Vec<ElasticNode>,
    decisions: Vec<Decision>,
    /// Free CPUs of idle and booting nodes, by node index.
    free: Vec<Option<u32>>,
    /// Nodes a pending job was fitted on.
    reserved: HashSet<usize>,
}

impl Round<'_> {
    fn policy(&self, system: &str) -> Option<&Policy> {
        self.policies.iter().find(|p| p.system == system)
    }

    fn count(&self, system: &str, f: impl Fn(NodeState) -> bool) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.system == system && f(n.state))
            .count() as u32
    }

    fn power_on(&mut self, i: usize, reason: String) {
        let now = self.now;
        let n = &mut self.nodes[i];
        n.set(NodeState::PoweringOn, now);
        n.up_since = None;
        self.decisions.push(Decision {
            node: n.name.clone(),
            action: Action::PowerOn,
            reason,
        });
        let cpus = self.policy(&self.nodes[i].system).map_or(1, |p| p.cpus);
        self.free[i] = Some(cpus);
    }

    /// Up to `want` off nodes of `system` that may be powered on now, lowest
    /// number first.
    fn startable(&self, p: &Policy, want: u32) -> Vec<usize> {
        if p.resting(self.now) {
            return Vec::new();
        }
        let on = self.count(&p.system, NodeState::holds_a_slot);
        let booting = self.count(&p.system, |s| s == NodeState::PoweringOn);
        let room = p
            .max
            .saturating_sub(on)
            .min(p.max_booting.saturating_sub(booting))
            .min(want);
        let mut off: Vec<usize> = (0..self.nodes.len())
            .filter(|&i| self.nodes[i].system == p.system && self.nodes[i].state == NodeState::Off)
            .collect();
        off.sort_by_key(|&i| self.nodes[i].number);
        off.truncate(room as usize);
        off
    }

    fn observe(&mut self, snap: &Snapshot) {
        let now = self.now;
        for i in 0..self.nodes.len() {
            let Some(p) = self.policy(&self.nodes[i].system).cloned() else {
                continue;
            };
            let q = snap.node(&self.nodes[i].name);
            let n = &mut self.nodes[i];
            let mut fail = None;
            match n.state {
                NodeState::PoweringOn => match q {
                    Some(s @ (QueueState::Idle | QueueState::Used)) => {
                        n.set(
                            if s == QueueState::Used {
                                NodeState::Used
                            } else {
                                NodeState::Idle
                            },
                            now,
                        );
                        n.up_since = Some(now);
                        n.last_busy = now;
                        n.last_seen = now;
                        n.failures = 0;
                    }
                    _ if now - n.since >= ms(p.poweron_timeout_s) => {
                        fail = Some(format!(
                            "the job queue has not seen it {}s after power-on (elastic_poweron_timeout)",
                            p.poweron_timeout_s
                        ));
                    }
                    _ => {}
                },
                NodeState::Idle | NodeState::Used => match q {
                    Some(QueueState::Used) => {
                        n.last_busy = now;
                        n.last_seen = now;
                        n.set(NodeState::Used, now);
                    }
                    Some(QueueState::Idle) => {
                        if n.state == NodeState::Used {
                            n.last_busy = now;
                        }
                        n.last_seen = now;
                        n.set(NodeState::Idle, now);
                    }
                    Some(QueueState::Failed) => {
                        fail = Some("the job queue reports it failed or drained".into());
                    }
                    Some(QueueState::Off) | None => {
                        if now - n.last_seen >= ms(p.poweron_timeout_s) {
                            fail = Some(format!(
                                "the job queue has not seen it up for {}s",
                                p.poweron_timeout_s
                            ));
                        }
                    }
                },
                NodeState::Failed => {
                    if now - n.since >= ms(p.retry_after_s) {
                        n.set(NodeState::Off, now);
                    }
                }
                NodeState::PoweringOff if now - n.since >= ms(p.poweroff_timeout_s) => {
                    n.set(NodeState::OnError, now);
                    self.decisions.push(Decision {
                        node: n.name.clone(),
                        action: Action::Fail,
                        reason: format!(
                            "its power-off has not finished {}s after it was asked \
                             (elastic_poweroff_timeout): it counts as on, and its removal is tried again",
                            p.poweroff_timeout_s
                        ),
                    });
                }
                NodeState::OnError if q == Some(QueueState::Used) => {
                    n.last_busy = now;
                    n.last_seen = now;
                    n.set(NodeState::Used, now);
                }
                NodeState::Off | NodeState::PoweringOff | NodeState::OnError => {}
            }
            if let Some(reason) = fail {
                n.failures += 1;
                n.set(NodeState::Failed, now);
                n.up_since = None;
                self.decisions.push(Decision {
                    node: n.name.clone(),
                    action: Action::Fail,
                    reason,
                });
            }
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let usable = match n.state {
                NodeState::PoweringOn => true,
                NodeState::Idle => snap.node(&n.name) == Some(QueueState::Idle),
                _ => false,
            };
            if usable {
                self.free[i] = self.policy(&n.system).map(|p| p.cpus);
            }
        }
    }

    /// The types that may run `job`, in the order to try them.
    fn types_for(&self, job: &Job) -> Vec<Policy> {
        let mut types: Vec<Policy> = self
            .policies
            .iter()
            .filter(|p| fits(p, job) && serves(self.policies, p, job))
            .cloned()
            .collect();
        types.sort_by_key(|p| p.prio);
        // A type with a failed node gives way to its fallback.
        let mut ordered: Vec<Policy> = Vec::new();
        for p in &types {
            let failing =
                p.resting(self.now) || self.count(&p.system, |s| s == NodeState::Failed) > 0;
            if failing
                && let Some(fb) = p
                    .fallback
                    .as_ref()
                    .and_then(|f| types.iter().find(|q| &q.system == f))
                && !ordered.iter().any(|q| q.system == fb.system)
            {
                ordered.push(fb.clone());
            }
            if !ordered.iter().any(|q| q.system == p.system) {
                ordered.push(p.clone());
            }
        }
        ordered
    }

    fn demand(&mut self, snap: &Snapshot) -> Vec<Unschedulable> {
        let mut unschedulable = Vec::new();
        for job in &snap.pending {
            let types = self.types_for(job);
            if types.is_empty() {
                unschedulable.push(Unschedulable {
                    job: job.id.clone(),
                    reason: format!("{} fits no node type", describe(job)),
                });
                continue;
            }
            let most: u32 = types.iter().map(|p| p.max).sum();
            if job.nodes > most {
                unschedulable.push(Unschedulable {
                    job: job.id.clone(),
                    reason: format!(
                        "{} needs more nodes than the cluster may have ({most})",
                        describe(job)
                    ),
                });
                continue;
            }
            if let Some(why) = &job.blocked {
                unschedulable.push(Unschedulable {
                    job: job.id.clone(),
                    reason: format!("{}: {why}", describe(job)),
                });
                continue;
            }
            let mut placed = 0;
            let mut candidates: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    self.free[i].is_some_and(|f| f >= job.cpus)
                        && self
                            .policy(&self.nodes[i].system)
                            .is_some_and(|p| fits(p, job) && serves(self.policies, p, job))
                })
                .collect();
            candidates
                .sort_by_key(|&i| (self.nodes[i].state != NodeState::Idle, self.nodes[i].number));
            for i in candidates.into_iter().take(job.nodes as usize) {
                if let Some(f) = self.free[i].as_mut() {
                    *f -= job.cpus;
                }
                self.reserved.insert(i);
                placed += 1;
            }
            if placed >= job.nodes {
                continue;
            }
            // What each type may start for it now, in the types' order.
            let waited = job.pending_since.map(|t| (self.now - t).max(0));
            let mut plan: Vec<(usize, String)> = Vec::new();
            for p in &types {
                let missing = job.nodes - placed - plan.len() as u32;
                if missing == 0 {
                    break;
                }
                let threshold = ms(p.scale_out_after_s);
                if waited.is_some_and(|w| w < threshold) {
                    continue;
                }
                let reason = match waited {
                    Some(w) if p.scale_out_after_s > 0 => format!(
                        "{} is pending for {}s (elastic_scale_out_after = {}) and no idle node can take it",
                        describe(job),
                        w / 1000,
                        p.scale_out_after_s
                    ),
                    _ => format!("{} is pending and no idle node can take it", describe(job)),
                };
                for i in self.startable(p, missing) {
                    plan.push((i, reason.clone()));
                }
            }
            // All or nothing: a part of a job's nodes runs nothing.
            if placed + (plan.len() as u32) < job.nodes {
                continue;
            }
            for (i, reason) in plan {
                self.power_on(i, reason);
                if let Some(f) = self.free[i].as_mut() {
                    *f -= job.cpus;
                }
                self.reserved.insert(i);
            }
        }
        unschedulable
    }

    fn floors(&mut self) {
        for p in self.policies {
            let on = self.count(&p.system, NodeState::is_on);
            let warm = (0..self.nodes.len())
                .filter(|&i| {
                    self.nodes[i].system == p.system
                        && matches!(self.nodes[i].state, NodeState::Idle | NodeState::PoweringOn)
                        && !self.reserved.contains(&i)
                })
                .count() as u32;
            let for_min = p.min.saturating_sub(on);
            let for_spare = p.spare.saturating_sub(warm);
            let want = for_min.max(for_spare);
            if want == 0 {
                continue;
            }
            let reason = if for_min >= for_spare {
                format!("ec3_min_instances = {} and {on} on", p.min)
            } else {
                format!("elastic_spare = {} and {warm} idle", p.spare)
            };
            for i in self.startable(p, want) {
                self.power_on(i, reason.clone());
            }
        }
    }

    fn power_offs(&mut self, snap: &Snapshot) {
        let now = self.now;
        for p in self.policies {
            let mut on = self.count(&p.system, NodeState::is_on);
            let mut warm = (0..self.nodes.len())
                .filter(|&i| {
                    self.nodes[i].system == p.system
                        && matches!(self.nodes[i].state, NodeState::Idle | NodeState::PoweringOn)
                        && !self.reserved.contains(&i)
                })
                .count() as u32;
            let mut idle: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| {
                    let n = &self.nodes[i];
                    n.system == p.system
                        && n.state == NodeState::Idle
                        && snap.node(&n.name) == Some(QueueState::Idle)
                        && !self.reserved.contains(&i)
                        && now - n.last_busy >= ms(p.idle_time_s)
                        && now - n.up_since.unwrap_or(n.since) >= ms(p.cooldown_s)
                        && billing_allows(p, n, now)
                })
                .collect();
            idle.sort_by_key(|&i| std::cmp::Reverse(self.nodes[i].number));
            for i in idle {
                if on <= p.min || warm <= p.spare {
                    break;
                }
                let n = &mut self.nodes[i];
                let idle_for = (now - n.last_busy) / 1000;
                n.set(NodeState::PoweringOff, now);
                self.decisions.push(Decision {
                    node: n.name.clone(),
                    action: Action::PowerOff,
                    reason: format!(
                        "idle for {idle_for}s (elastic_idle_time = {}){}",
                        p.idle_time_s,
                        if p.billing_interval_s.is_some() {
                            ", at the end of its billing interval"
                        } else {
                            ""
                        }
                    ),
                });
                on -= 1;
                warm -= 1;
            }
        }
    }
}

/// One decision round. See the module documentation for the rules.
pub fn decide(now: i64, policies: &[Policy], nodes: &[ElasticNode], snap: &Snapshot) -> Outcome {
    let mut round = Round {
        now,
        policies,
        nodes: nodes.to_vec(),
        decisions: Vec::new(),
        free: vec![None; nodes.len()],
        reserved: HashSet::new(),
    };
    round.observe(snap);
    let unschedulable = round.demand(snap);
    round.floors();
    round.power_offs(snap);
    Outcome {
        nodes: round.nodes,
        decisions: round.decisions,
        unschedulable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elastic::queue::QueueNode;

    #[test]
    fn a_decided_action_is_recorded_under_its_own_text() {
        for &a in Action::ALL {
            let r = RecordedAction::from(a);
            assert_eq!(r.as_str(), a.as_str());
            assert_eq!(a.to_string().parse::<RecordedAction>(), Ok(r));
            assert_eq!(
                serde_json::to_value(a).unwrap(),
                serde_json::to_value(r).unwrap()
            );
        }
        for &r in RecordedAction::ALL {
            assert_eq!(r.to_string().parse::<RecordedAction>(), Ok(r));
        }
        assert_eq!(
            RecordedAction::PowerOffCalledOff.as_str(),
            "power_off_called_off"
        );
        assert!("PowerOn".parse::<RecordedAction>().is_err());
        assert_eq!(
            format!("{:<10}|", Action::Fail),
            "fail      |",
            "padding applies"
        );
    }

    fn off_nodes(system: &str, n: u32) -> Vec<ElasticNode> {
        (1..=n)
            .map(|k| ElasticNode::new(&format!("{system}-{k}"), system, k, NodeState::Off, 0))
            .collect()
    }

    fn job(id: &str, nodes: u32, partition: Option<&str>, gpus: u32) -> Job {
        Job {
            id: id.into(),
            cpus: 1,
            memory_mb: 0,
            nodes,
            partition: partition.map(str::to_string),
            gpus,
            pending_since: None,
            blocked: None,
        }
    }

    fn powered_on(out: &Outcome) -> Vec<&str> {
        out.decisions
            .iter()
            .filter(|d| d.action == Action::PowerOn)
            .map(|d| d.node.as_str())
            .collect()
    }

    fn cpu_and_gpu() -> (Vec<Policy>, Vec<ElasticNode>) {
        let cpu = Policy::new("cpu", 0, 2);
        let mut gpu = Policy::new("gpu", 0, 2);
        gpu.gpus = 1;
        let mut nodes = off_nodes("cpu", 2);
        nodes.extend(off_nodes("gpu", 2));
        (vec![cpu, gpu], nodes)
    }

    #[test]
    fn a_gpu_job_powers_on_only_a_gpu_node() {
        let (policies, nodes) = cpu_and_gpu();
        let snap = Snapshot {
            pending: vec![job("7", 1, None, 1)],
            ..Snapshot::default()
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert_eq!(powered_on(&out), ["gpu-1"], "{:#?}", out.decisions);
        assert!(
            out.decisions[0].reason.contains("1 GPU"),
            "{:#?}",
            out.decisions
        );
    }

    #[test]
    fn a_job_s_partition_chooses_the_node_type() {
        let (policies, nodes) = cpu_and_gpu();
        // A CPU-only job in the gpu partition runs on a gpu node.
        let snap = Snapshot {
            pending: vec![job("8", 1, Some("gpu"), 0), job("9", 1, Some("cpu"), 0)],
            ..Snapshot::default()
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert_eq!(powered_on(&out), ["gpu-1", "cpu-1"], "{:#?}", out.decisions);
        // A partition no type serves: any type may run it.
        let snap = Snapshot {
            pending: vec![job("10", 1, Some("debug"), 0)],
            ..Snapshot::default()
        };
        assert_eq!(
            powered_on(&decide(1000, &policies, &nodes, &snap)),
            ["cpu-1"]
        );
        // A GPU job in the cpu partition fits no type.
        let snap = Snapshot {
            pending: vec![job("11", 1, Some("cpu"), 1)],
            ..Snapshot::default()
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert!(powered_on(&out).is_empty());
        assert_eq!(out.unschedulable.len(), 1);
        assert!(out.unschedulable[0].reason.contains("fits no node type"));
    }

    #[test]
    fn a_job_larger_than_the_maximum_powers_on_nothing_and_is_reported() {
        let policies = vec![Policy::new("wn", 0, 3)];
        let nodes = off_nodes("wn", 3);
        let snap = Snapshot {
            pending: vec![job("4n", 4, None, 0)],
            ..Snapshot::default()
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert!(powered_on(&out).is_empty(), "{:#?}", out.decisions);
        assert_eq!(out.unschedulable.len(), 1);
        assert!(
            out.unschedulable[0]
                .reason
                .contains("needs more nodes than the cluster may have (3)"),
            "{:?}",
            out.unschedulable
        );
    }

    #[test]
    fn a_job_the_queue_will_never_run_powers_on_nothing_and_is_reported() {
        let policies = vec![Policy::new("wn", 0, 3)];
        let nodes = off_nodes("wn", 3);
        let mut j = job("5", 2, None, 0);
        j.blocked = Some("SLURM will not run it (PartitionConfig)".into());
        let snap = Snapshot {
            pending: vec![j],
            ..Snapshot::default()
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert!(powered_on(&out).is_empty(), "{:#?}", out.decisions);
        assert_eq!(out.unschedulable.len(), 1);
        assert!(out.unschedulable[0].reason.contains("PartitionConfig"));
    }

    #[test]
    fn a_resting_type_gives_way_to_its_fallback_until_its_cooloff_ends() {
        let mut small = Policy::new("small", 0, 2);
        small.fallback = Some("big".into());
        small.resting_until = Some(60_000);
        let mut big = Policy::new("big", 0, 2);
        big.prio = 5;
        let mut other = Policy::new("other", 0, 2);
        other.prio = 1;
        let policies = vec![small, big, other];
        let mut nodes = off_nodes("small", 2);
        nodes.extend(off_nodes("big", 2));
        nodes.extend(off_nodes("other", 2));
        let snap = Snapshot {
            pending: vec![job("1", 1, None, 0)],
            ..Snapshot::default()
        };
        // Resting: its fallback first, before a type of lower ec3_prio.
        assert_eq!(
            powered_on(&decide(1000, &policies, &nodes, &snap)),
            ["big-1"]
        );
        // Its cool-off over: itself again.
        assert_eq!(
            powered_on(&decide(60_000, &policies, &nodes, &snap)),
            ["small-1"]
        );
    }

    #[test]
    fn a_multi_node_job_gets_all_its_nodes_or_none() {
        // 3 nodes at most, one used by another job: a 3-node job waits
        // instead of powering on the two that are left.
        let policies = vec![Policy::new("wn", 0, 3)];
        let mut nodes = off_nodes("wn", 3);
        nodes[0].set(NodeState::Used, 0);
        let snap = Snapshot {
            pending: vec![job("big", 3, None, 0)],
            running: 1,
            nodes: vec![QueueNode {
                name: "wn-1".into(),
                state: QueueState::Used,
            }],
        };
        let out = decide(1000, &policies, &nodes, &snap);
        assert!(powered_on(&out).is_empty(), "{:#?}", out.decisions);
        assert!(out.unschedulable.is_empty());
        // A 2-node job gets both.
        let snap = Snapshot {
            pending: vec![job("two", 2, None, 0)],
            ..snap
        };
        assert_eq!(
            powered_on(&decide(1000, &policies, &nodes, &snap)),
            ["wn-2", "wn-3"]
        );
    }

    #[test]
    fn scale_out_waits_until_a_job_has_waited_elastic_scale_out_after() {
        let mut p = Policy::new("wn", 0, 2);
        p.scale_out_after_s = 30;
        let policies = vec![p];
        let nodes = off_nodes("wn", 2);
        let mut j = job("1", 1, None, 0);
        j.pending_since = Some(10_000);
        let snap = Snapshot {
            pending: vec![j],
            ..Snapshot::default()
        };
        assert!(powered_on(&decide(39_999, &policies, &nodes, &snap)).is_empty());
        let out = decide(40_000, &policies, &nodes, &snap);
        assert_eq!(powered_on(&out), ["wn-1"]);
        assert!(
            out.decisions[0]
                .reason
                .contains("pending for 30s (elastic_scale_out_after = 30)"),
            "{:?}",
            out.decisions
        );
    }

    #[test]
    fn a_power_off_past_its_timeout_is_on_error_and_counts_against_the_maximum() {
        // Two nodes at most; wn-1 was asked to power off at 0 and its VM is
        // still there (its removal keeps failing).
        let mut p = Policy::new("wn", 0, 2);
        p.poweroff_timeout_s = 300;
        let policies = vec![p];
        let mut nodes = off_nodes("wn", 2);
        nodes[0].set(NodeState::PoweringOff, 0);
        let two_jobs = Snapshot {
            pending: vec![job("1", 1, None, 0), job("2", 1, None, 0)],
            ..Snapshot::default()
        };
        // Before the timeout nothing is reported.
        let out = decide(299_999, &policies, &nodes, &Snapshot::default());
        assert!(out.decisions.is_empty(), "{:#?}", out.decisions);
        assert_eq!(out.nodes[0].state, NodeState::PoweringOff);
        // At the timeout it is reported and on_error.
        let out = decide(300_000, &policies, &nodes, &two_jobs);
        assert_eq!(out.nodes[0].state, NodeState::OnError);
        let failed: Vec<_> = out
            .decisions
            .iter()
            .filter(|d| d.action == Action::Fail)
            .collect();
        assert_eq!(failed.len(), 1, "{:#?}", out.decisions);
        assert_eq!(failed[0].node, "wn-1");
        assert!(
            failed[0].reason.contains("300s")
                && failed[0].reason.contains("elastic_poweroff_timeout"),
            "{}",
            failed[0].reason
        );
        // It is not counted as off: of two jobs, only one gets a node.
        assert_eq!(powered_on(&out), ["wn-2"]);
        // Later rounds neither report it again nor power it on.
        let again = decide(310_000, &policies, &out.nodes, &two_jobs);
        assert!(
            again.decisions.iter().all(|d| d.node != "wn-1"),
            "{:#?}",
            again.decisions
        );
        // A job the queue started on it makes it used again.
        let snap = Snapshot {
            running: 1,
            nodes: vec![QueueNode {
                name: "wn-1".into(),
                state: QueueState::Used,
            }],
            ..Snapshot::default()
        };
        let back = decide(320_000, &policies, &out.nodes, &snap);
        assert_eq!(back.nodes[0].state, NodeState::Used);
    }
}
