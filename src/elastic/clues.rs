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
//!   on, then off nodes, which are powered on (no more once
//!   `MAX_BOOTING_NODES` boot, 0: no limit, which ends the round); a
//!   request that books a node still to boot keeps that booking in later
//!   rounds until its nodes are up (CLUES's `BookingSystem`), and counts
//!   as waiting; a request that cannot book all its nodes books none: it
//!   ends the round while an earlier request waits (CLUES serves requests
//!   in order), else it is not served and is considered again after
//!   `RECONSIDER_JOB_TIME_S`;
//! - idle nodes not booked this round and idle for `IDLE_TIME_S` are
//!   powered off;
//! - a node not up `MAX_WAIT_POWERON_S` after its power-on is a failure
//!   (CLUES's OFF_ERR): not booked until it recovers to off
//!   `PERIOD_RECOVERY_NODES_S` later, and never again after
//!   `RETRIES_POWER_ON` failures.

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
pub const PERIOD_RECOVERY_NODES_S: u64 = 30;
pub const RETRIES_POWER_ON: u32 = 3;

/// What CLUES remembers between rounds: when each job last made a
/// request, and the nodes an attended request waits for (its booking,
/// kept while any of them boots: CLUES's `BookingSystem`).
#[derive(Debug, Default)]
pub struct CluesState {
    requested: HashMap<String, u64>,
    attended: HashMap<String, Vec<usize>>,
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
/// queue's view, index as `nodes`); `max_booting` is CLUES's
/// `MAX_BOOTING_NODES` (0: no limit).
#[allow(clippy::too_many_arguments)]
pub fn decide(
    now: u64,
    max_booting: usize,
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
                    n.set(NodeState::Failed, now_ms);
                    out.push(Decision {
                        node: n.name.clone(),
                        action: Action::Fail,
                        reason: format!(
                            "not up {MAX_WAIT_POWERON_S}s after its power-on (OFF_ERR)"
                        ),
                    });
                }
            }
            (NodeState::Failed, QueueState::Off) => {
                if now_ms - n.since >= ms(PERIOD_RECOVERY_NODES_S) && n.failures < RETRIES_POWER_ON
                {
                    n.set(NodeState::Off, now_ms);
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
    state
        .attended
        .retain(|id, _| snap.pending.iter().any(|j| &j.id == id));
    // Requests served in queue order: one that cannot be met while an
    // earlier one still waits for its nodes ends the round
    // (`requests_alive`).
    let mut alive = 0usize;
    'jobs: for job in &snap.pending {
        if let Some(waits_for) = state.attended.get(&job.id) {
            if waits_for
                .iter()
                .any(|&i| nodes[i].state == NodeState::PoweringOn)
            {
                // Still booting: the booking holds its slots.
                for &i in waits_for {
                    slots[i] = slots[i].saturating_sub(job.cpus);
                    booked[i] = true;
                }
                alive += 1;
                continue;
            }
            // Its nodes are up (or failed): the request is considered
            // again now.
            state.attended.remove(&job.id);
        } else if state
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
                    chosen.push(i);
                }
            }
            if class == [NodeState::PoweringOn]
                && chosen.len() < job.nodes as usize
                && max_booting > 0
                && booting >= max_booting
            {
                // At the booting limit, with nodes still to power on:
                // CLUES waits for the next round.
                break 'jobs;
            }
        }
        if chosen.len() < job.nodes as usize {
            if alive > 0 {
                // Still pending: it holds up the requests behind it and
                // is tried again next round.
                break;
            }
            // Not served: considered again after RECONSIDER_JOB_TIME_S.
            state.requested.insert(job.id.clone(), now);
            continue;
        }
        state.requested.insert(job.id.clone(), now);
        let waits_for: Vec<usize> = chosen
            .iter()
            .copied()
            .filter(|&c| matches!(nodes[c].state, NodeState::Off | NodeState::PoweringOn))
            .collect();
        if !waits_for.is_empty() {
            alive += 1;
            state.attended.insert(job.id.clone(), waits_for);
        }
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

#[cfg(test)]
mod tests {
    use crate::elastic::simulate::{Baseline, parse, run_with};

    fn clues(text: &str) -> crate::elastic::simulate::Report {
        run_with(&parse(text).unwrap(), Baseline::Clues)
    }

    #[test]
    fn a_job_waiting_past_reconsider_time_books_the_booting_node_not_a_new_one() {
        // Boot 200 s: the job's request comes due again at 60, 120, 180 s
        // and books the node already powering on.
        let r = clues("boot: 200\ntypes: [{system: wn, max: 4}]\njobs: [{at: 0, duration: 10}]\n");
        let s = &r.summary;
        assert_eq!((s.power_ons, s.completed), (1, 1), "{r:#?}");
        assert_eq!(s.max_wait_s, 200);
        // Idle from 210 s, powered off at the first round 1800 s later.
        assert_eq!(s.power_offs, 1);
        assert_eq!(s.ended_at, 2010, "{r:#?}");
    }

    #[test]
    fn rounds_are_five_seconds_apart_and_on_nodes_are_booked_first() {
        // The second job arrives while wn-1 is idle: no power-on for it.
        let r = clues(
            "boot: 10\ntypes: [{system: wn, max: 2}]\n\
             jobs: [{at: 3, duration: 10}, {at: 100, duration: 10}]\n",
        );
        let ons: Vec<u64> = r
            .events
            .iter()
            .filter(|e| e.what.starts_with("power_on"))
            .map(|e| e.at)
            .collect();
        assert_eq!(ons, [5], "{:#?}", r.events);
        assert_eq!(r.summary.max_wait_s, 12);
    }

    fn power_ons(r: &crate::elastic::simulate::Report) -> Vec<(u64, String)> {
        r.events
            .iter()
            .filter(|e| e.what.starts_with("power_on"))
            .map(|e| {
                let node = e.what.split_whitespace().nth(1).unwrap_or("");
                (e.at, node.trim_end_matches(':').to_string())
            })
            .collect()
    }

    #[test]
    fn a_booking_of_a_booting_node_holds_across_rounds() {
        // wn-1 boots for the first job until 200 s; the second job, at
        // 100 s, cannot take its slot (CLUES's BookingSystem) and
        // powers on wn-2.
        let r = clues(
            "boot: 200\ntypes: [{system: wn, max: 2}]\n\
             jobs: [{at: 0, duration: 10}, {at: 100, duration: 10}]\n",
        );
        assert_eq!(
            power_ons(&r),
            [(0, "wn-1".to_string()), (100, "wn-2".to_string())],
            "{:#?}",
            r.events
        );
    }

    #[test]
    fn requests_are_served_in_order_behind_one_waiting_for_its_nodes() {
        // The first job waits for wn-1 to boot; the second (3 nodes, at
        // most 2) cannot be met, which ends each round while the first
        // waits; so the third gets wn-2 only once wn-1 is up.
        let r = clues(
            "boot: 100\ntypes: [{system: wn, max: 2}]\n\
             jobs: [{at: 0, duration: 500}, {at: 1, duration: 10, nodes: 3}, {at: 2, duration: 10}]\nend: 2000\n",
        );
        let ons = power_ons(&r);
        assert_eq!(ons.len(), 2, "{:#?}", r.events);
        assert_eq!(ons[0], (0, "wn-1".to_string()));
        assert!(ons[1].0 >= 100, "wn-2 only after wn-1 is up: {ons:?}");
    }

    #[test]
    fn a_multi_node_job_books_all_or_nothing_and_broken_nodes_fail() {
        let r = clues(
            "boot: 10\ntypes: [{system: wn, max: 2}]\njobs: [{at: 0, duration: 10, nodes: 3}]\nend: 100\n",
        );
        assert_eq!(r.summary.power_ons, 0, "{r:#?}");
        assert_eq!(r.summary.never_run, 1);
        let r = clues(
            "boot: 10\ntypes: [{system: wn, max: 2}]\njobs: [{at: 0, duration: 10}]\nbroken: [wn-1]\nend: 4000\n",
        );
        let ev: Vec<&str> = r.events.iter().map(|e| e.what.as_str()).collect();
        assert!(ev.iter().any(|e| e.starts_with("fail wn-1")), "{ev:#?}");
        assert_eq!(r.summary.completed, 1, "{ev:#?}");
        // wn-1 fails at 300 s; the request due then books wn-2.
        assert_eq!(r.summary.failures, 1, "{ev:#?}");
        assert!(ev.iter().any(|e| e.starts_with("power_on wn-2")), "{ev:#?}");
        // With no other node, wn-1 is tried RETRIES_POWER_ON times only.
        let r = clues(
            "boot: 10\ntypes: [{system: wn, max: 1}]\njobs: [{at: 0, duration: 10}]\nbroken: [wn-1]\nend: 5000\n",
        );
        assert_eq!((r.summary.failures, r.summary.never_run), (3, 1), "{r:#?}");
    }
}
