//! CLUES's power policy, modelled for the simulator's `--baseline clues`
//! from its documented behaviour and settings (grycap/clues: the
//! scheduler's rounds, its node states and its code defaults), so nubo's
//! rules can be compared with it on the same trace. Not CLUES's code.
//!
//! Every `PERIOD_SCHEDULE_S` seconds:
//! - a pending job seen for the first time, or whose last request is
//!   `RECONSIDER_JOB_TIME_S` old, makes a request for its nodes;
//! - each request, in submission order, books slots on nodes in CLUES's
//!   order: nodes on (idle or used) with free slots, then nodes powering
//!   on, then off nodes, which are powered on (at most `MAX_BOOTING_NODES`
//!   booting at once, 0: no limit); a request that cannot book all its
//!   nodes books none and is tried again next round;
//! - idle nodes not booked this round and idle for `IDLE_TIME_S` are
//!   powered off;
//! - a node not up `MAX_WAIT_POWERON_S` after its power-on is a failure
//!   (CLUES's OFF_ERR) and counts as off again.

use super::decide::{Action, Decision};
use super::node::{ElasticNode, NodeState};
use super::policy::Policy;
use super::queue::{QueueState, Snapshot};
use std::collections::HashMap;

pub const PERIOD_SCHEDULE_S: u64 = 5;
pub const IDLE_TIME_S: u64 = 1800;
pub const RECONSIDER_JOB_TIME_S: u64 = 60;
pub const MAX_BOOTING_NODES: usize = 0;
pub const MAX_WAIT_POWERON_S: u64 = 300;

/// What CLUES remembers between rounds: when each job last made a request.
#[derive(Debug, Default)]
pub struct CluesState {
    requested: HashMap<String, u64>,
}

impl CluesState {
    /// When a pending job's request comes due again.
    pub fn wake_times(&self) -> impl Iterator<Item = u64> + '_ {
        self.requested.values().map(|t| t + RECONSIDER_JOB_TIME_S)
    }
}

fn ms(s: u64) -> i64 {
    (s as i64).saturating_mul(1000)
}

/// One round at `now` seconds. `free` holds each node's free CPUs (the
/// queue's view, index as `nodes`).
pub fn decide(
    now: u64,
    policies: &[Policy],
    nodes: &mut [ElasticNode],
    free: &[u32],
    snap: &Snapshot,
    state: &mut CluesState,
) -> Vec<Decision> {
    let now_ms = ms(now);
    let mut out = Vec::new();
    // Monitoring: the queue's node states.
    for (i, n) in nodes.iter_mut().enumerate() {
        let q = snap.nodes.get(i).map_or(QueueState::Off, |q| q.state);
        match (n.state, q) {
            (NodeState::PoweringOn, QueueState::Off) => {
                if now_ms - n.since >= ms(MAX_WAIT_POWERON_S) {
                    n.failures += 1;
                    n.set(NodeState::Off, now_ms);
                    out.push(Decision {
                        node: n.name.clone(),
                        action: Action::Fail,
                        reason: format!(
                            "not up {MAX_WAIT_POWERON_S}s after its power-on (OFF_ERR)"
                        ),
                    });
                }
            }
            (_, QueueState::Off) => n.set(NodeState::Off, now_ms),
            (s, QueueState::Used) => {
                if !s.is_on() || s == NodeState::PoweringOn {
                    n.up_since = Some(now_ms);
                }
                n.set(NodeState::Used, now_ms);
                n.last_busy = now_ms;
            }
            (s, _) => {
                if s == NodeState::PoweringOn || !s.is_on() {
                    n.up_since = Some(now_ms);
                    n.last_busy = now_ms;
                }
                if s == NodeState::Used {
                    n.last_busy = now_ms;
                }
                n.set(NodeState::Idle, now_ms);
            }
        }
        n.last_seen = now_ms;
    }
    let cpus = |n: &ElasticNode| {
        policies
            .iter()
            .find(|p| p.system == n.system)
            .map_or(1, |p| p.cpus)
    };
    // Slots left this round.
    let mut slots: Vec<u32> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match n.state {
            NodeState::Idle | NodeState::Used => free.get(i).copied().unwrap_or(0),
            NodeState::PoweringOn | NodeState::Off => cpus(n),
            _ => 0,
        })
        .collect();
    let mut booked = vec![false; nodes.len()];
    let mut booting = nodes
        .iter()
        .filter(|n| n.state == NodeState::PoweringOn)
        .count();
    state
        .requested
        .retain(|id, _| snap.pending.iter().any(|j| &j.id == id));
    for job in &snap.pending {
        if state
            .requested
            .get(&job.id)
            .is_some_and(|at| now < at + RECONSIDER_JOB_TIME_S)
        {
            continue;
        }
        let mut chosen: Vec<usize> = Vec::new();
        for class in [
            &[NodeState::Idle, NodeState::Used][..],
            &[NodeState::PoweringOn],
            &[NodeState::Off],
        ] {
            for (i, n) in nodes.iter().enumerate() {
                if chosen.len() >= job.nodes as usize {
                    break;
                }
                if class.contains(&n.state) && slots[i] >= job.cpus && !chosen.contains(&i) {
                    if n.state == NodeState::Off
                        && MAX_BOOTING_NODES > 0
                        && booting
                            + chosen
                                .iter()
                                .filter(|&&c| nodes[c].state == NodeState::Off)
                                .count()
                            >= MAX_BOOTING_NODES
                    {
                        continue;
                    }
                    chosen.push(i);
                }
            }
        }
        if chosen.len() < job.nodes as usize {
            continue;
        }
        state.requested.insert(job.id.clone(), now);
        for i in chosen {
            slots[i] -= job.cpus;
            booked[i] = true;
            if nodes[i].state == NodeState::Off {
                booting += 1;
                nodes[i].set(NodeState::PoweringOn, now_ms);
                out.push(Decision {
                    node: nodes[i].name.clone(),
                    action: Action::PowerOn,
                    reason: format!("booked for job {}", job.id),
                });
            }
        }
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        if n.state == NodeState::Idle && !booked[i] && now_ms - n.last_busy >= ms(IDLE_TIME_S) {
            n.set(NodeState::PoweringOff, now_ms);
            out.push(Decision {
                node: n.name.clone(),
                action: Action::PowerOff,
                reason: format!("idle for {IDLE_TIME_S}s or more"),
            });
        }
    }
    out
}
