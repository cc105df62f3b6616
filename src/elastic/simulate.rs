//! `nubo elastic simulate TRACE`: the decision rules against a virtual
//! clock and a toy first-come-first-served scheduler, no machines.
//!
//! A trace is YAML:
//!
//! ```yaml
//! tick: 1          # seconds between decision rounds (default 1)
//! boot: 20         # seconds from power-on until the queue sees a node (default 30)
//! end: 3600        # stop here at the latest (default: 24 hours)
//! types:           # node types: policy fields (see policy.rs)
//!   - {system: wn, max: 3, cpus: 1, idle_time: 30, cooldown: 10}
//! jobs:            # submitted at `at`, running `duration` seconds
//!   - {at: 0, duration: 20, count: 6}
//! broken: [wn-2]   # nodes that never come up
//! ```
//!
//! The run ends when every job is done and no node is on beyond its
//! minimum, or at `end`.

use super::decide::{Action, decide};
use super::node::{ElasticNode, NodeState};
use super::policy::Policy;
use super::queue::{Job, QueueNode, QueueState, Snapshot};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    #[serde(default = "one")]
    pub tick: u64,
    #[serde(default = "thirty")]
    pub boot: u64,
    #[serde(default = "day")]
    pub end: u64,
    #[serde(default)]
    pub types: Vec<TraceType>,
    /// Node types given whole (`nubo elastic simulate --radl`, from a
    /// description's elastic systems); they replace `types`.
    #[serde(skip)]
    pub policies: Option<Vec<Policy>>,
    #[serde(default)]
    pub jobs: Vec<TraceJobs>,
    #[serde(default)]
    pub broken: Vec<String>,
}

fn one() -> u64 {
    1
}
fn thirty() -> u64 {
    30
}
fn day() -> u64 {
    86_400
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceType {
    pub system: String,
    #[serde(default)]
    pub min: u32,
    pub max: u32,
    #[serde(default = "one32")]
    pub cpus: u32,
    #[serde(default)]
    pub memory_mb: u64,
    pub idle_time: Option<u64>,
    pub cooldown: Option<u64>,
    pub spare: Option<u32>,
    pub max_booting: Option<u32>,
    pub poweron_timeout: Option<u64>,
    pub retry_after: Option<u64>,
    pub billing_interval: Option<u64>,
    pub fallback: Option<String>,
    #[serde(default)]
    pub prio: i64,
    /// `elastic_scale_out_after`, seconds.
    pub scale_out_after: Option<u64>,
}

fn one32() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceJobs {
    pub at: u64,
    pub duration: u64,
    #[serde(default = "one32")]
    pub count: u32,
    #[serde(default = "one32")]
    pub cpus: u32,
    #[serde(default)]
    pub memory_mb: u64,
    #[serde(default = "one32")]
    pub nodes: u32,
}

impl TraceType {
    /// A type of `max` nodes of `cpus` CPUs with nubo's defaults.
    pub fn new(system: &str, max: u32, cpus: u32) -> TraceType {
        TraceType {
            system: system.to_string(),
            min: 0,
            max,
            cpus,
            memory_mb: 0,
            idle_time: None,
            cooldown: None,
            spare: None,
            max_booting: None,
            poweron_timeout: None,
            retry_after: None,
            billing_interval: None,
            fallback: None,
            prio: 0,
            scale_out_after: None,
        }
    }

    fn policy(&self) -> Policy {
        let mut p = Policy::new(&self.system, self.min, self.max);
        p.cpus = self.cpus.max(1);
        p.memory_mb = self.memory_mb;
        p.idle_time_s = self.idle_time.unwrap_or(p.idle_time_s);
        p.cooldown_s = self.cooldown.unwrap_or(p.cooldown_s);
        p.spare = self.spare.unwrap_or(0);
        p.max_booting = self.max_booting.unwrap_or(p.max_booting).max(1);
        p.poweron_timeout_s = self.poweron_timeout.unwrap_or(p.poweron_timeout_s);
        p.retry_after_s = self.retry_after.unwrap_or(p.retry_after_s);
        p.billing_interval_s = self.billing_interval.filter(|b| *b > 0);
        p.fallback = self.fallback.clone();
        p.prio = self.prio;
        p.scale_out_after_s = self.scale_out_after.unwrap_or(0);
        p
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{0}")]
    Yaml(String),
    #[error("trace: {0}")]
    Invalid(String),
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Virtual seconds.
    pub at: u64,
    pub what: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub jobs: usize,
    pub completed: usize,
    pub unschedulable: usize,
    pub mean_wait_s: f64,
    pub max_wait_s: u64,
    /// The 95th percentile of the started jobs' waits (nearest rank).
    pub p95_wait_s: u64,
    /// Jobs submitted that never started.
    pub never_run: usize,
    pub max_nodes_on: usize,
    /// Seconds nodes spent on (booting included), summed.
    pub node_seconds: u64,
    pub node_hours: f64,
    pub power_ons: usize,
    pub power_offs: usize,
    pub failures: usize,
    pub ended_at: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// `nubo`, `static` or `clues`.
    pub policy: String,
    pub events: Vec<Event>,
    pub summary: Summary,
}

pub fn parse(text: &str) -> Result<Trace, SimulateError> {
    parse_with(text, None)
}

/// Parses a trace whose node types are `policies` when given (a
/// description's elastic systems): its own `types` are then ignored and
/// may be left out.
pub fn parse_with(text: &str, policies: Option<Vec<Policy>>) -> Result<Trace, SimulateError> {
    let mut t: Trace = serde_yaml_ng::from_str(text).map_err(|e| {
        SimulateError::Yaml(match e.location() {
            Some(l) => format!("{}:{}: {e}", l.line(), l.column()),
            None => e.to_string(),
        })
    })?;
    if t.tick == 0 {
        return Err(SimulateError::Invalid("`tick` must be at least 1".into()));
    }
    if let Some(p) = policies {
        t.types.clear();
        t.policies = Some(p);
        return Ok(t);
    }
    if t.types.is_empty() {
        return Err(SimulateError::Invalid(
            "`types` lists no node type (or take them from a description with --radl)".into(),
        ));
    }
    for ty in &t.types {
        if ty.min > ty.max {
            return Err(SimulateError::Invalid(format!(
                "type `{}`: min {} is more than max {}",
                ty.system, ty.min, ty.max
            )));
        }
        if let Some(f) = &ty.fallback
            && !t.types.iter().any(|o| &o.system == f)
        {
            return Err(SimulateError::Invalid(format!(
                "type `{}`: fallback `{f}` is not a type of this trace",
                ty.system
            )));
        }
    }
    Ok(t)
}

/// Who decides the power-ons and power-offs of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, strum::Display, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Baseline {
    /// nubo's own rules (`decide`), every `tick`.
    Nubo,
    /// Every node of every type on from the start, never powered off.
    Static,
    /// CLUES's policy (see `clues.rs`), every 5 s.
    Clues,
}

struct SimJob {
    job: Job,
    submit: u64,
    duration: u64,
    started: Option<u64>,
    /// Node indices it runs on.
    on: Vec<usize>,
    done: bool,
    reported: bool,
}

/// Runs a trace with nubo's rules.
pub fn run(trace: &Trace) -> Report {
    run_with(trace, Baseline::Nubo)
}

fn secs_after(ms: i64, plus: u64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000) + plus
}

/// Runs a trace with the given policy. The clock jumps from one moment
/// something can change (a submission, a job's end, a boot, a timer of a
/// node's rules) to the next, so a month of trace takes no month of steps.
pub fn run_with(trace: &Trace, baseline: Baseline) -> Report {
    let policies: Vec<Policy> = match &trace.policies {
        Some(p) => p.clone(),
        None => trace.types.iter().map(TraceType::policy).collect(),
    };
    let tick = match baseline {
        Baseline::Clues => super::clues::PERIOD_SCHEDULE_S,
        _ => trace.tick.max(1),
    };
    let broken: HashSet<&str> = trace.broken.iter().map(String::as_str).collect();
    let mut nodes: Vec<ElasticNode> = Vec::new();
    let mut node_cpus: Vec<u32> = Vec::new();
    let mut number = 0;
    for p in &policies {
        for i in 1..=p.max {
            let name = format!("{}-{i}", p.system);
            let state = if baseline == Baseline::Static && !broken.contains(name.as_str()) {
                NodeState::Idle
            } else {
                NodeState::Off
            };
            nodes.push(ElasticNode::new(&name, &p.system, number, state, 0));
            node_cpus.push(p.cpus);
            number += 1;
        }
    }
    let by_name: HashMap<String, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.clone(), i))
        .collect();
    let mut jobs: Vec<SimJob> = Vec::new();
    for spec in &trace.jobs {
        for _ in 0..spec.count {
            jobs.push(SimJob {
                job: Job {
                    id: (jobs.len() + 1).to_string(),
                    cpus: spec.cpus.max(1),
                    memory_mb: spec.memory_mb,
                    nodes: spec.nodes.max(1),
                    partition: None,
                    gpus: 0,
                    pending_since: Some((spec.at * 1000) as i64),
                    blocked: None,
                },
                submit: spec.at,
                duration: spec.duration,
                started: None,
                on: Vec::new(),
                done: false,
                reported: false,
            });
        }
    }
    jobs.sort_by_key(|j| j.submit);
    // When each node powering on will be seen by the queue.
    let mut boots: BTreeMap<usize, u64> = BTreeMap::new();
    let mut up: Vec<bool> = nodes.iter().map(|n| n.state.is_on()).collect();
    let mut used: Vec<u32> = vec![0; nodes.len()];
    let mut next_submit = 0;
    let mut pending: Vec<usize> = Vec::new();
    let mut running: Vec<usize> = Vec::new();
    let mut report = Report {
        policy: baseline.to_string(),
        ..Report::default()
    };
    let mut unschedulable: HashSet<String> = HashSet::new();
    let mut clues = super::clues::CluesState::default();
    let last_submit = jobs.last().map_or(0, |j| j.submit);
    let mut t = 0;
    loop {
        // Submissions, ends, boots.
        while next_submit < jobs.len() && jobs[next_submit].submit <= t {
            let j = &jobs[next_submit];
            report.events.push(Event {
                at: t,
                what: format!(
                    "submit job {} ({} node x {} CPU, {}s)",
                    j.job.id, j.job.nodes, j.job.cpus, j.duration
                ),
            });
            pending.push(next_submit);
            next_submit += 1;
        }
        running.retain(|&k| {
            let j = &mut jobs[k];
            let end = j.started.unwrap_or(0) + j.duration;
            if end > t {
                return true;
            }
            j.done = true;
            for &n in &j.on {
                used[n] = used[n].saturating_sub(j.job.cpus);
            }
            let names: Vec<&str> = j.on.iter().map(|&n| nodes[n].name.as_str()).collect();
            report.events.push(Event {
                at: t,
                what: format!("job {} ends on {}", j.job.id, names.join(",")),
            });
            false
        });
        let ready: Vec<usize> = boots
            .iter()
            .filter(|(_, at)| **at <= t)
            .map(|(n, _)| *n)
            .collect();
        for n in ready {
            boots.remove(&n);
            if !broken.contains(nodes[n].name.as_str()) {
                report.events.push(Event {
                    at: t,
                    what: format!("{} is up", nodes[n].name),
                });
                up[n] = true;
            }
        }
        // Toy scheduler: first come, first served, whole CPUs per node;
        // a job that does not fit lets later ones by.
        let mut started = false;
        pending.retain(|&k| {
            let need = jobs[k].job.cpus;
            let count = jobs[k].job.nodes as usize;
            let mut free: Vec<usize> = (0..nodes.len())
                .filter(|&n| {
                    up[n]
                        && nodes[n].state != NodeState::PoweringOff
                        && node_cpus[n] >= used[n] + need
                })
                .collect();
            if free.len() < count {
                return true;
            }
            free.sort_by(|a, b| nodes[*a].name.cmp(&nodes[*b].name));
            free.truncate(count);
            for &n in &free {
                used[n] += need;
            }
            let names: Vec<&str> = free.iter().map(|&n| nodes[n].name.as_str()).collect();
            report.events.push(Event {
                at: t,
                what: format!("job {} starts on {}", jobs[k].job.id, names.join(",")),
            });
            jobs[k].started = Some(t);
            jobs[k].on = free;
            running.push(k);
            started = true;
            false
        });
        // The queue's view.
        let snap = Snapshot {
            pending: pending
                .iter()
                .filter(|&&k| !jobs[k].reported)
                .map(|&k| jobs[k].job.clone())
                .collect(),
            running: running.len() as u32,
            nodes: nodes
                .iter()
                .enumerate()
                .map(|(i, n)| QueueNode {
                    name: n.name.clone(),
                    state: if !up[i] {
                        QueueState::Off
                    } else if used[i] > 0 {
                        QueueState::Used
                    } else {
                        QueueState::Idle
                    },
                })
                .collect(),
        };
        let decisions = match baseline {
            Baseline::Static => Vec::new(),
            Baseline::Clues => {
                let free: Vec<u32> = (0..nodes.len())
                    .map(|i| node_cpus[i].saturating_sub(used[i]))
                    .collect();
                super::clues::decide(
                    t,
                    super::clues::MAX_BOOTING_NODES,
                    &policies,
                    &mut nodes,
                    &free,
                    &snap,
                    &mut clues,
                )
            }
            Baseline::Nubo => {
                let out = decide((t * 1000) as i64, &policies, &nodes, &snap);
                nodes = out.nodes;
                for u in out.unschedulable {
                    if unschedulable.insert(u.job.clone()) {
                        report.events.push(Event {
                            at: t,
                            what: format!("job {}: unschedulable: {}", u.job, u.reason),
                        });
                        if let Some(j) = jobs.iter_mut().find(|j| j.job.id == u.job) {
                            j.reported = true;
                        }
                    }
                }
                out.decisions
            }
        };
        let decided = !decisions.is_empty();
        for d in decisions {
            report.events.push(Event {
                at: t,
                what: format!("{} {}: {}", d.action, d.node, d.reason),
            });
            let Some(&n) = by_name.get(&d.node) else {
                continue;
            };
            match d.action {
                Action::PowerOn => {
                    report.summary.power_ons += 1;
                    boots.insert(n, t + trace.boot);
                }
                Action::PowerOff | Action::Fail => {
                    if d.action == Action::Fail {
                        report.summary.failures += 1;
                    } else {
                        report.summary.power_offs += 1;
                    }
                    boots.remove(&n);
                    up[n] = false;
                    if nodes[n].state == NodeState::PoweringOff {
                        // Removing a VM takes no virtual time here.
                        nodes[n].set(NodeState::Off, (t * 1000) as i64);
                    }
                }
            }
        }
        let on = nodes.iter().filter(|n| n.state.is_on()).count();
        report.summary.max_nodes_on = report.summary.max_nodes_on.max(on);
        let all_done = jobs.iter().all(|j| j.done || j.reported);
        let at_floor = baseline == Baseline::Static
            || policies.iter().all(|p| {
                nodes
                    .iter()
                    .filter(|n| n.system == p.system && n.state.is_on())
                    .count() as u32
                    <= p.min.max(p.spare)
            });
        if (all_done && at_floor && t >= last_submit) || t >= trace.end {
            report.summary.node_seconds += on as u64 * tick;
            break;
        }
        // The next moment anything can change.
        let next = if decided || started || policies.iter().any(|p| p.billing_interval_s.is_some())
        {
            t + tick
        } else {
            let mut c: Vec<u64> = Vec::new();
            if let Some(j) = jobs.get(next_submit) {
                c.push(j.submit);
            }
            c.extend(
                running
                    .iter()
                    .map(|&k| jobs[k].started.unwrap_or(0) + jobs[k].duration),
            );
            c.extend(boots.values().copied());
            if baseline != Baseline::Static {
                for n in &nodes {
                    let p = policies.iter().find(|p| p.system == n.system);
                    let (idle, cool, timeout, retry) = match (baseline, p) {
                        (Baseline::Clues, _) => (
                            super::clues::IDLE_TIME_S,
                            0,
                            super::clues::MAX_WAIT_POWERON_S,
                            super::clues::PERIOD_RECOVERY_NODES_S,
                        ),
                        (_, Some(p)) => (
                            p.idle_time_s,
                            p.cooldown_s,
                            p.poweron_timeout_s,
                            p.retry_after_s,
                        ),
                        _ => continue,
                    };
                    c.push(secs_after(n.last_busy, idle));
                    c.push(secs_after(n.up_since.unwrap_or(n.since), cool));
                    c.push(secs_after(n.since, timeout));
                    c.push(secs_after(n.last_seen, timeout));
                    c.push(secs_after(n.since, retry));
                }
                c.extend(clues.wake_times());
            }
            let at = c.into_iter().filter(|&x| x > t).min().unwrap_or(trace.end);
            // Rounds happen every `tick` seconds.
            t + (at.min(trace.end).max(t + 1) - t).div_ceil(tick) * tick
        };
        let next = next.min(trace.end.max(t + 1));
        report.summary.node_seconds += on as u64 * (next - t);
        t = next;
    }
    let s = &mut report.summary;
    s.ended_at = t;
    s.jobs = jobs.len();
    s.completed = jobs.iter().filter(|j| j.done).count();
    s.unschedulable = jobs.iter().filter(|j| j.reported).count();
    s.never_run = jobs.iter().filter(|j| j.started.is_none()).count();
    let mut waits: Vec<u64> = jobs
        .iter()
        .filter_map(|j| j.started.map(|st| st - j.submit))
        .collect();
    waits.sort_unstable();
    s.max_wait_s = waits.last().copied().unwrap_or(0);
    s.p95_wait_s = if waits.is_empty() {
        0
    } else {
        waits[(waits.len() * 95).div_ceil(100).max(1) - 1]
    };
    s.mean_wait_s = if waits.is_empty() {
        0.0
    } else {
        waits.iter().sum::<u64>() as f64 / waits.len() as f64
    };
    s.node_hours = s.node_seconds as f64 / 3600.0;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(text: &str) -> Report {
        run(&parse(text).unwrap())
    }

    #[test]
    fn six_one_node_jobs_three_workers_grow_then_shrink() {
        let r = sim(
            "boot: 10\ntypes: [{system: wn, max: 3, idle_time: 30, cooldown: 5}]\n\
             jobs: [{at: 0, duration: 20, count: 6}]\n",
        );
        let s = &r.summary;
        assert_eq!(
            (s.completed, s.power_ons, s.power_offs),
            (6, 3, 3),
            "{r:#?}"
        );
        assert_eq!(s.max_nodes_on, 3);
        // Three run at 10s, three at 30s; all done by 50; off 30s later.
        assert_eq!(s.max_wait_s, 30);
        assert_eq!(s.ended_at, 80);
    }

    #[test]
    fn a_burst_of_short_jobs_boots_no_more_nodes_with_elastic_scale_out_after() {
        let burst = "jobs: [{at: 0, duration: 5, count: 3}]\n";
        let without = sim(&format!(
            "boot: 10\ntypes: [{{system: wn, min: 1, max: 3, idle_time: 30}}]\n{burst}"
        ));
        let with = sim(&format!(
            "boot: 10\ntypes: [{{system: wn, min: 1, max: 3, idle_time: 30, scale_out_after: 30}}]\n{burst}"
        ));
        assert_eq!(without.summary.completed, 3);
        assert_eq!(with.summary.completed, 3);
        // The node always on (powered on at 0, up at 10) runs the three
        // one after the other (done at 25 s) before any has waited 30 s:
        // no other node is powered on.
        assert!(without.summary.power_ons >= 3, "{without:#?}");
        assert_eq!(with.summary.power_ons, 1, "{with:#?}");
        assert_eq!(with.summary.max_wait_s, 20);
    }

    #[test]
    fn a_node_that_never_comes_up_fails_and_the_fallback_type_is_used() {
        let r = sim(
            "boot: 5\ntypes: [{system: wn, max: 1, poweron_timeout: 20, retry_after: 1000, fallback: big}, {system: big, max: 1, idle_time: 10}]\n\
             jobs: [{at: 0, duration: 10}]\nbroken: [wn-1]\n",
        );
        let ev: Vec<&str> = r.events.iter().map(|e| e.what.as_str()).collect();
        assert!(ev.iter().any(|e| e.starts_with("fail wn-1")), "{ev:#?}");
        assert!(
            ev.iter().any(|e| e.starts_with("power_on big-1")),
            "{ev:#?}"
        );
        assert_eq!(r.summary.completed, 1);
    }

    #[test]
    fn a_job_that_fits_no_type_is_reported_not_waited_on() {
        let r =
            sim("types: [{system: wn, max: 2, cpus: 2}]\njobs: [{at: 0, duration: 5, cpus: 4}]\n");
        assert_eq!(r.summary.unschedulable, 1);
        assert_eq!(r.summary.power_ons, 0);
        assert_eq!(r.summary.ended_at, 0);
    }

    #[test]
    fn minimum_and_max_booting_hold() {
        let r = sim(
            "boot: 10\ntypes: [{system: wn, min: 1, max: 4, max_booting: 2, idle_time: 5, cooldown: 0}]\n\
             jobs: [{at: 0, duration: 30, count: 4}]\n",
        );
        let s = &r.summary;
        assert_eq!(s.completed, 4);
        // One for the minimum, then at most two booting at once.
        let first: Vec<&Event> = r
            .events
            .iter()
            .filter(|e| e.at == 0 && e.what.starts_with("power_on"))
            .collect();
        assert_eq!(first.len(), 2, "{:#?}", r.events);
        assert_eq!(s.power_offs, 3, "the minimum stays on");
    }

    #[test]
    fn bad_traces_are_refused_with_a_place() {
        let e = parse("types: [{system: wn, max: 1, colour: red}]\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `colour`"), "{e}");
        assert!(e.to_string().starts_with("1:"), "{e}");
        assert!(parse("types: [{system: wn, min: 3, max: 1}]\n").is_err());
        assert!(parse("types: []\n").is_err());
    }
}
