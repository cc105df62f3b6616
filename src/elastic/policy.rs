//! Per node type (system) elasticity rules, read from the model.
//!
//! RADL features on the worker system (EC3's names where EC3 has one):
//!
//! | feature | meaning | default |
//! |---|---|---|
//! | `ec3_max_instances` | most nodes | the deploy count |
//! | `ec3_min_instances` | nodes always on | 0 |
//! | `ec3_if_fail` | system tried when this one fails to power on | none |
//! | `ec3_reuse_nodes = 'yes'` | power off by stopping the VM, not destroying it | no |
//! | `ec3_prio` | lower first when several types fit a job | 0 |
//! | `elastic_idle_time` | seconds idle before power-off | 60 |
//! | `elastic_cooldown` | seconds after coming up before a power-off | 30 |
//! | `elastic_spare` | idle nodes kept warm | 0 |
//! | `elastic_max_booting` | nodes powering on at once | `ec3_max_instances` |
//! | `elastic_poweron_timeout` | seconds for the queue to see a node | 600 |
//! | `elastic_poweroff_timeout` | seconds for a power-off to finish before the node is reported `on_error` (CLUES's `MAX_WAIT_POWEROFF`) | 300 |
//! | `elastic_retry_after` | seconds a failed slot rests | 60 |
//! | `elastic_billing_interval` | seconds per billed period: power off only in the last tenth of one | none |
//! | `elastic_scale_out_after` | seconds a job waits before nodes are powered on for it | 0 |
//! | `elastic_partition` | the job queue's partition (queue) this type's nodes serve | the system's name |
//! | `elastic_capacity_cooloff` | seconds a type rests after the cloud had no capacity or quota for it | 600 |
//!
//! `cpu.count`, `memory.size` and `gpu.count` tell what one node offers a
//! job.
//!
//! A job that names a partition runs on the types serving it (their
//! `elastic_partition`, else their system name); when no type serves that
//! partition, any type may (a cluster whose partitions are not named after
//! its systems keeps working).

use crate::model::{ClusterSpec, SystemSpec};
use crate::radl::ast::Number;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    pub system: String,
    pub min: u32,
    pub max: u32,
    /// CPUs one node offers.
    pub cpus: u32,
    /// Memory one node offers, MiB (0: unknown, fits any job).
    pub memory_mb: u64,
    /// GPUs one node offers.
    pub gpus: u32,
    /// The partition its nodes serve.
    pub partition: String,
    /// Seconds a job waits before nodes are powered on for it.
    pub scale_out_after_s: u64,
    /// Seconds the type rests after a capacity or quota refusal.
    pub capacity_cooloff_s: u64,
    /// Until when (the decision clock's milliseconds) the type rests after
    /// such a refusal: set by the daemon, not read from the description.
    #[serde(skip)]
    pub resting_until: Option<i64>,
    pub idle_time_s: u64,
    pub cooldown_s: u64,
    pub spare: u32,
    pub max_booting: u32,
    pub poweron_timeout_s: u64,
    pub poweroff_timeout_s: u64,
    pub retry_after_s: u64,
    pub billing_interval_s: Option<u64>,
    pub fallback: Option<String>,
    pub stop_to_power_off: bool,
    pub prio: i64,
}

impl Policy {
    /// Whether the type rests at `now` after a capacity refusal.
    pub fn resting(&self, now: i64) -> bool {
        self.resting_until.is_some_and(|t| now < t)
    }

    /// A policy with the defaults for a type of `max` nodes.
    pub fn new(system: &str, min: u32, max: u32) -> Policy {
        Policy {
            system: system.to_string(),
            min,
            max,
            cpus: 1,
            memory_mb: 0,
            gpus: 0,
            partition: system.to_string(),
            scale_out_after_s: 0,
            capacity_cooloff_s: 600,
            resting_until: None,
            idle_time_s: 60,
            cooldown_s: 30,
            spare: 0,
            max_booting: max.max(1),
            poweron_timeout_s: 600,
            poweroff_timeout_s: 300,
            retry_after_s: 60,
            billing_interval_s: None,
            fallback: None,
            stop_to_power_off: false,
            prio: 0,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PolicyError {
    #[error(
        "system `{system}`: `{feature}` must be a whole number of seconds or nodes from 0 up, not {value}"
    )]
    BadNumber {
        system: String,
        feature: String,
        value: String,
    },
    #[error(
        "system `{system}`: `ec3_if_fail` names `{fallback}`, which is not an elastic system of this cluster (give it `ec3_max_instances`)"
    )]
    BadFallback { system: String, fallback: String },
    #[error(
        "this cluster has no elastic system: give the workers' system `ec3_max_instances` above its deploy count (or `ec3_min_instances` below it)"
    )]
    NoElasticSystem,
}

fn number(sys: &SystemSpec, feature: &str) -> Result<Option<u64>, PolicyError> {
    if sys.features.feature(feature).is_none() {
        return Ok(None);
    }
    match sys.features.get_number(feature) {
        Some(Number::Int(n)) if n >= 0 => Ok(Some(n as u64)),
        Some(Number::Float(x)) if x >= 0.0 && x.fract() == 0.0 => Ok(Some(x as u64)),
        other => Err(PolicyError::BadNumber {
            system: sys.name.clone(),
            feature: feature.to_string(),
            value: match other {
                Some(Number::Int(n)) => n.to_string(),
                Some(Number::Float(x)) => x.to_string(),
                None => sys
                    .features
                    .get_str(feature)
                    .map(|s| format!("'{s}'"))
                    .unwrap_or_else(|| "that".into()),
            },
        }),
    }
}

/// The policies of a cluster's elastic systems, in system order.
pub fn policies(spec: &ClusterSpec) -> Result<Vec<Policy>, Vec<PolicyError>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for sys in spec.systems.iter().filter(|s| s.is_elastic()) {
        match policy(sys) {
            Ok(p) => out.push(p),
            Err(e) => errors.push(e),
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(PolicyError::NoElasticSystem);
    }
    for p in &out {
        if let Some(f) = &p.fallback
            && !out.iter().any(|q| &q.system == f)
        {
            errors.push(PolicyError::BadFallback {
                system: p.system.clone(),
                fallback: f.clone(),
            });
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

fn policy(sys: &SystemSpec) -> Result<Policy, PolicyError> {
    let mut p = Policy::new(&sys.name, sys.min, sys.max);
    if let Some(Number::Int(n)) = sys.features.get_number("cpu.count") {
        p.cpus = n.clamp(1, u32::MAX as i64) as u32;
    }
    if let Some(n) = sys.features.get_number("memory.size") {
        let bytes = match n {
            Number::Int(i) => i.max(0) as u64,
            Number::Float(x) => x.max(0.0) as u64,
        };
        p.memory_mb = bytes / (1 << 20);
    }
    if let Some(Number::Int(n)) = sys.features.get_number("gpu.count") {
        p.gpus = n.clamp(0, u32::MAX as i64) as u32;
    }
    if let Some(part) = sys.features.get_str("elastic_partition") {
        p.partition = part.to_string();
    }
    let secs = |f: &str, d: u64| number(sys, f).map(|v| v.unwrap_or(d));
    p.scale_out_after_s = secs("elastic_scale_out_after", 0)?;
    p.capacity_cooloff_s = secs("elastic_capacity_cooloff", p.capacity_cooloff_s)?;
    p.idle_time_s = secs("elastic_idle_time", p.idle_time_s)?;
    p.cooldown_s = secs("elastic_cooldown", p.cooldown_s)?;
    p.poweron_timeout_s = secs("elastic_poweron_timeout", p.poweron_timeout_s)?;
    p.poweroff_timeout_s = secs("elastic_poweroff_timeout", p.poweroff_timeout_s)?;
    p.retry_after_s = secs("elastic_retry_after", p.retry_after_s)?;
    p.spare = secs("elastic_spare", 0)?.min(u32::MAX as u64) as u32;
    p.max_booting =
        secs("elastic_max_booting", p.max_booting as u64)?.clamp(1, u32::MAX as u64) as u32;
    p.billing_interval_s = number(sys, "elastic_billing_interval")?.filter(|b| *b > 0);
    p.fallback = sys.features.get_str("ec3_if_fail").map(str::to_string);
    p.stop_to_power_off = sys.reuses_nodes();
    if let Some(Number::Int(n)) = sys.features.get_number("ec3_prio") {
        p.prio = n;
    }
    Ok(p)
}

/// `elastic_messages_per_node` of the cluster's elastic systems: the
/// waiting messages of a message queue (RabbitMQ, SQS) per pending job.
/// Default 1; every elastic system that gives it must give the same whole
/// number from 1 up.
pub fn messages_per_node(spec: &ClusterSpec) -> Result<u32, String> {
    const F: &str = "elastic_messages_per_node";
    let mut found: Option<(String, u32)> = None;
    for sys in spec.systems.iter().filter(|s| s.is_elastic()) {
        if sys.features.feature(F).is_none() {
            continue;
        }
        let n = match sys.features.get_number(F) {
            Some(Number::Int(n)) if n >= 1 => u32::try_from(n).unwrap_or(u32::MAX),
            _ => {
                return Err(format!(
                    "system `{}`: `{F}` must be a whole number of messages from 1 up",
                    sys.name
                ));
            }
        };
        match &found {
            Some((other, m)) if *m != n => {
                return Err(format!(
                    "systems `{other}` and `{}` give different `{F}` ({m} and {n}): the queue is one, give one value",
                    sys.name
                ));
            }
            _ => found = Some((sys.name.clone(), n)),
        }
    }
    Ok(found.map_or(1, |(_, n)| n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::radl;
    use crate::source::FileId;

    fn spec(text: &str) -> ClusterSpec {
        let v = radl::validate(FileId(0), text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        crate::model::lower(&v.document).0
    }

    #[test]
    fn features_become_a_policy() {
        let s = spec(
            "system front ()\n\
             system wn (cpu.count >= 2 and memory.size >= 1g and ec3_max_instances = 4 and ec3_min_instances = 1 and \
             elastic_idle_time = 20 and elastic_cooldown = 5 and elastic_billing_interval = 3600 and ec3_if_fail = 'wn2' and ec3_reuse_nodes = 'yes')\n\
             system wn2 (ec3_max_instances = 2)\n\
             deploy front 1\n",
        );
        let ps = policies(&s).unwrap();
        assert_eq!(ps.len(), 2);
        let p = &ps[0];
        assert_eq!((p.system.as_str(), p.min, p.max, p.cpus), ("wn", 1, 4, 2));
        assert_eq!(p.memory_mb, 953);
        assert_eq!((p.idle_time_s, p.cooldown_s), (20, 5));
        assert_eq!(p.billing_interval_s, Some(3600));
        assert_eq!(p.fallback.as_deref(), Some("wn2"));
        assert!(p.stop_to_power_off);
        assert_eq!(p.max_booting, 4);
    }

    #[test]
    fn bad_values_and_fallbacks_are_named() {
        let s = spec(
            "system wn (ec3_max_instances = 2 and elastic_idle_time = 'soon' and ec3_if_fail = 'nope')\n",
        );
        let errs = policies(&s).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].to_string().contains("`elastic_idle_time`"),
            "{}",
            errs[0]
        );
        let s = spec("system wn (ec3_max_instances = 2 and ec3_if_fail = 'nope')\n");
        let errs = policies(&s).unwrap_err();
        assert!(errs[0].to_string().contains("names `nope`"), "{}", errs[0]);
        let s = spec("system wn ()\ndeploy wn 2\n");
        assert_eq!(policies(&s).unwrap_err(), [PolicyError::NoElasticSystem]);
    }

    #[test]
    fn messages_per_node_from_the_systems() {
        let spec = |t: &str| {
            let v = crate::radl::validate(crate::source::FileId(0), t);
            crate::model::lower(&v.document).0
        };
        assert_eq!(
            messages_per_node(&spec("system wn (ec3_max_instances = 3)\n")),
            Ok(1)
        );
        assert_eq!(
            messages_per_node(&spec(
                "system wn (ec3_max_instances = 3 and elastic_messages_per_node = 4)\n"
            )),
            Ok(4)
        );
        let e = messages_per_node(&spec(
            "system wn (ec3_max_instances = 3 and elastic_messages_per_node = 0)\n",
        ))
        .unwrap_err();
        assert!(e.contains("from 1 up"), "{e}");
        let e = messages_per_node(&spec(
            "system wn (ec3_max_instances = 3 and elastic_messages_per_node = 2)\n\
             system wn2 (ec3_max_instances = 3 and elastic_messages_per_node = 3)\n",
        ))
        .unwrap_err();
        assert!(e.contains("different"), "{e}");
    }
}
