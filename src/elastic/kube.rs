//! The `kubernetes` queue's reading of the Kubernetes API's answers (the
//! core/v1 `PodList` and `NodeList` objects, as the Kubernetes API
//! reference describes them), and resource quantities.
//!
//! - A pod that is `Pending` with no `spec.nodeName` (not yet bound) is a
//!   pending job of one node; it asks for the sum of its containers'
//!   `resources.requests` (or its largest init container's, when larger),
//!   CPUs rounded up to whole CPUs (`500m` asks for one: nubo's node
//!   types offer whole CPUs, so it never powers on too few), memory in
//!   MiB rounded up.
//! - A node is `off` unless its `Ready` condition is `True`; `used` while
//!   a pod not terminated (`Succeeded`, `Failed`) is bound to it; else
//!   `failed` when cordoned (`spec.unschedulable`: drained by someone) and
//!   `idle` otherwise.
//!
//! This module only parses; the calls are in `ops::elastic`.

use super::queue::{Job, QueueNode, QueueState, Snapshot};
use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KubeError {
    #[error(
        "`{0}` is not a Kubernetes quantity (a number with an optional suffix: 500m, 2, 1.5, 1Gi, 512Mi, 1e3, 2k)"
    )]
    BadQuantity(String),
    #[error("the quantity `{0}` is too large")]
    TooLarge(String),
    #[error("the API server's answer is not JSON: {0}")]
    NotJson(String),
    #[error("the API server's {what} has no `{field}`")]
    Missing { what: String, field: String },
    #[error("pod `{pod}`: {why}")]
    Pod { pod: String, why: String },
}

/// A quantity as written: `mantissa × 10^exp10 × 2^exp2`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity {
    mantissa: u128,
    exp10: i32,
    exp2: u32,
}

/// Reads a Kubernetes quantity: a non-negative decimal number (with an
/// optional fraction and exponent `e`/`E`) and an optional suffix, binary
/// (`Ki Mi Gi Ti Pi Ei`) or decimal (`n u m k M G T P E`).
pub fn parse_quantity(text: &str) -> Result<Quantity, KubeError> {
    let bad = || KubeError::BadQuantity(text.to_string());
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    let (num, exp10, exp2) = if let Some(n) = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        .iter()
        .position(|x| s.ends_with(x))
    {
        (&s[..s.len() - 2], 0, 10 * (n as u32 + 1))
    } else {
        let suffixes: [(char, i32); 9] = [
            ('n', -9),
            ('u', -6),
            ('m', -3),
            ('k', 3),
            ('M', 6),
            ('G', 9),
            ('T', 12),
            ('P', 15),
            ('E', 18),
        ];
        match suffixes.iter().find(|(c, _)| s.ends_with(*c)) {
            Some((_, e)) => (&s[..s.len() - 1], *e, 0),
            None => (s, 0, 0),
        }
    };
    let (num, exp) = match num.find(['e', 'E']) {
        Some(i) if exp2 == 0 && exp10 == 0 => {
            let e: i32 = num[i + 1..].parse().map_err(|_| bad())?;
            (&num[..i], e)
        }
        Some(_) => return Err(bad()),
        None => (num, 0),
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    let digits = digits.trim_start_matches('0');
    let mantissa: u128 = if digits.is_empty() {
        0
    } else {
        digits
            .parse()
            .map_err(|_| KubeError::TooLarge(text.to_string()))?
    };
    if !(-40..=40).contains(&exp) {
        return Err(KubeError::TooLarge(text.to_string()));
    }
    Ok(Quantity {
        mantissa,
        exp10: exp10 + exp - frac.len() as i32,
        exp2,
    })
}

impl Quantity {
    /// The value times `10^scale`, rounded up; `None` when it does not fit.
    pub fn ceil_scaled(self, scale: i32) -> Option<u64> {
        let v = self.mantissa.checked_mul(1u128.checked_shl(self.exp2)?)?;
        let e = self.exp10 + scale;
        let out = if e >= 0 {
            v.checked_mul(10u128.checked_pow(e as u32)?)?
        } else {
            match 10u128.checked_pow((-e) as u32) {
                Some(d) => v.div_ceil(d),
                None => u128::from(v > 0),
            }
        };
        u64::try_from(out).ok()
    }

    /// As CPU: thousandths of a CPU, rounded up.
    pub fn millis(self) -> Option<u64> {
        self.ceil_scaled(3)
    }

    /// As memory: bytes, rounded up.
    pub fn bytes(self) -> Option<u64> {
        self.ceil_scaled(0)
    }
}

/// CPU in thousandths of a CPU.
pub fn cpu_millis(text: &str) -> Result<u64, KubeError> {
    parse_quantity(text)?
        .millis()
        .ok_or_else(|| KubeError::TooLarge(text.to_string()))
}

/// Memory in bytes.
pub fn memory_bytes(text: &str) -> Result<u64, KubeError> {
    parse_quantity(text)?
        .bytes()
        .ok_or_else(|| KubeError::TooLarge(text.to_string()))
}

/// What a pod asks for and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct PodInfo {
    /// `NAMESPACE/NAME`.
    pub id: String,
    pub phase: String,
    pub node: Option<String>,
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

impl PodInfo {
    pub fn terminated(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

/// The requests of a list of containers: (CPU millis, memory bytes), summed
/// or, for init containers (which run one after another), the largest.
fn requests(pod: &str, containers: &Value, sum: bool) -> Result<(u64, u64), KubeError> {
    let Some(list) = containers.as_array() else {
        return Ok((0, 0));
    };
    let (mut cpu, mut mem) = (0u64, 0u64);
    for c in list {
        let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
        let req = &c["resources"]["requests"];
        let get = |key: &str, f: fn(&str) -> Result<u64, KubeError>| -> Result<u64, KubeError> {
            match req.get(key) {
                None | Some(Value::Null) => Ok(0),
                Some(Value::String(s)) => f(s).map_err(|e| KubeError::Pod {
                    pod: pod.to_string(),
                    why: format!("container `{name}`: {key} request: {e}"),
                }),
                Some(Value::Number(n)) => f(&n.to_string()).map_err(|e| KubeError::Pod {
                    pod: pod.to_string(),
                    why: format!("container `{name}`: {key} request: {e}"),
                }),
                Some(other) => Err(KubeError::Pod {
                    pod: pod.to_string(),
                    why: format!("container `{name}`: {key} request is {other}, not a quantity"),
                }),
            }
        };
        let (c_cpu, c_mem) = (get("cpu", cpu_millis)?, get("memory", memory_bytes)?);
        if sum {
            cpu = cpu.saturating_add(c_cpu);
            mem = mem.saturating_add(c_mem);
        } else {
            cpu = cpu.max(c_cpu);
            mem = mem.max(c_mem);
        }
    }
    Ok((cpu, mem))
}

/// One pod object.
pub fn pod_info(pod: &Value) -> Result<PodInfo, KubeError> {
    let name = str_at(pod, &["metadata", "name"]).ok_or_else(|| KubeError::Missing {
        what: "pod".into(),
        field: "metadata.name".into(),
    })?;
    let ns = str_at(pod, &["metadata", "namespace"]).unwrap_or("default");
    let id = format!("{ns}/{name}");
    let (cpu, mem) = requests(&id, &pod["spec"]["containers"], true)?;
    let (icpu, imem) = requests(&id, &pod["spec"]["initContainers"], false)?;
    Ok(PodInfo {
        phase: str_at(pod, &["status", "phase"])
            .unwrap_or("Pending")
            .to_string(),
        node: str_at(pod, &["spec", "nodeName"])
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        cpu_millis: cpu.max(icpu),
        memory_bytes: mem.max(imem),
        id,
    })
}

fn items<'a>(list: &'a Value, kind: &str) -> Result<&'a Vec<Value>, KubeError> {
    match list.get("items") {
        Some(Value::Array(a)) => Ok(a),
        // An empty list may come with `items: null`.
        Some(Value::Null) => Ok(const { &Vec::new() }),
        _ => Err(KubeError::Missing {
            what: kind.into(),
            field: "items".into(),
        }),
    }
}

fn json(text: &str) -> Result<Value, KubeError> {
    serde_json::from_str(text).map_err(|e| KubeError::NotJson(e.to_string()))
}

/// A `PodList`'s pods.
pub fn parse_pods(text: &str) -> Result<Vec<PodInfo>, KubeError> {
    items(&json(text)?, "PodList")?
        .iter()
        .map(pod_info)
        .collect()
}

/// A node as the API server gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    pub name: String,
    pub ready: bool,
    pub unschedulable: bool,
}

/// A `NodeList`'s nodes.
pub fn parse_nodes(text: &str) -> Result<Vec<NodeInfo>, KubeError> {
    items(&json(text)?, "NodeList")?
        .iter()
        .map(|n| {
            let name = str_at(n, &["metadata", "name"]).ok_or_else(|| KubeError::Missing {
                what: "node".into(),
                field: "metadata.name".into(),
            })?;
            let ready = n["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
            Ok(NodeInfo {
                name: name.to_string(),
                ready,
                unschedulable: n["spec"]["unschedulable"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

const MIB: u64 = 1024 * 1024;

/// The queue's view from the pods not terminated and the nodes.
pub fn snapshot(pods: &[PodInfo], nodes: &[NodeInfo]) -> Snapshot {
    let live: Vec<&PodInfo> = pods.iter().filter(|p| !p.terminated()).collect();
    Snapshot {
        pending: live
            .iter()
            .filter(|p| p.node.is_none() && p.phase == "Pending")
            .map(|p| Job {
                id: p.id.clone(),
                cpus: u32::try_from(p.cpu_millis.div_ceil(1000)).unwrap_or(u32::MAX),
                memory_mb: p.memory_bytes.div_ceil(MIB),
                nodes: 1,
                partition: None,
                gpus: 0,
                pending_since: None,
                blocked: None,
            })
            .collect(),
        running: live.iter().filter(|p| p.phase == "Running").count() as u32,
        nodes: nodes
            .iter()
            .map(|n| {
                let busy = live.iter().any(|p| p.node.as_deref() == Some(&n.name));
                QueueNode {
                    name: n.name.clone(),
                    state: if !n.ready {
                        QueueState::Off
                    } else if busy {
                        QueueState::Used
                    } else if n.unschedulable {
                        QueueState::Failed
                    } else {
                        QueueState::Idle
                    },
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("500m"), Ok(500));
        assert_eq!(cpu_millis("2"), Ok(2000));
        assert_eq!(cpu_millis("1.5"), Ok(1500));
        assert_eq!(cpu_millis("0.1"), Ok(100));
        assert_eq!(cpu_millis("100u"), Ok(1), "rounded up");
        assert_eq!(cpu_millis("1e3"), Ok(1_000_000));
        assert_eq!(memory_bytes("1Gi"), Ok(1 << 30));
        assert_eq!(memory_bytes("512Mi"), Ok(512 << 20));
        assert_eq!(memory_bytes("1.5Gi"), Ok(3 << 29));
        assert_eq!(memory_bytes("2k"), Ok(2000));
        assert_eq!(memory_bytes("1M"), Ok(1_000_000));
        assert_eq!(memory_bytes("128974848"), Ok(128_974_848));
        assert_eq!(memory_bytes("129e6"), Ok(129_000_000));
        assert_eq!(memory_bytes("0"), Ok(0));
        for bad in [
            "", "m", "-1", "1.2.3", "1Gb", "1 Gi", "ten", "1e", "1Kie3", ".",
        ] {
            assert_eq!(
                parse_quantity(bad),
                Err(KubeError::BadQuantity(bad.into())),
                "{bad:?}"
            );
        }
        assert!(matches!(
            memory_bytes("99999999999Ei"),
            Err(KubeError::TooLarge(_))
        ));
        assert!(matches!(cpu_millis("1e40"), Err(KubeError::TooLarge(_))));
    }

    const PODS: &str = r#"{"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
      {"metadata": {"name": "a", "namespace": "batch"},
       "spec": {"containers": [
          {"name": "main", "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}},
          {"name": "side", "resources": {"requests": {"cpu": "250m", "memory": "100Mi"}}}],
        "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "2"}}}]},
       "status": {"phase": "Pending"}},
      {"metadata": {"name": "b", "namespace": "batch"},
       "spec": {"nodeName": "wn-1", "containers": [{"name": "main"}]},
       "status": {"phase": "Running"}},
      {"metadata": {"name": "c"},
       "spec": {"nodeName": "wn-2", "containers": [{"name": "main"}]},
       "status": {"phase": "Succeeded"}}
    ]}"#;

    const NODES: &str = r#"{"kind": "NodeList", "items": [
      {"metadata": {"name": "wn-1"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
      {"metadata": {"name": "wn-2"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
      {"metadata": {"name": "wn-3"}, "spec": {"unschedulable": true},
       "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
      {"metadata": {"name": "wn-4"}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    ]}"#;

    #[test]
    fn pods_and_nodes_make_a_snapshot() {
        let pods = parse_pods(PODS).unwrap();
        assert_eq!(pods[0].id, "batch/a");
        assert_eq!(pods[0].cpu_millis, 2000, "the init container's is larger");
        assert_eq!(pods[0].memory_bytes, 612 << 20);
        assert_eq!(pods[2].id, "default/c");
        let nodes = parse_nodes(NODES).unwrap();
        let s = snapshot(&pods, &nodes);
        assert_eq!(s.pending.len(), 1);
        assert_eq!(
            (s.pending[0].cpus, s.pending[0].memory_mb),
            (2, 612),
            "{s:?}"
        );
        assert_eq!(s.running, 1);
        assert_eq!(s.node("wn-1"), Some(QueueState::Used));
        assert_eq!(s.node("wn-2"), Some(QueueState::Idle), "its pod is done");
        assert_eq!(s.node("wn-3"), Some(QueueState::Failed), "cordoned");
        assert_eq!(s.node("wn-4"), Some(QueueState::Off), "not ready");
        let half = parse_pods(
            r#"{"items": [{"metadata": {"name": "h"}, "spec": {"containers": [
              {"name": "m", "resources": {"requests": {"cpu": "500m"}}}]}, "status": {"phase": "Pending"}}]}"#,
        )
        .unwrap();
        assert_eq!(snapshot(&half, &[]).pending[0].cpus, 1, "rounded up");
        assert!(parse_pods(r#"{"items": null}"#).unwrap().is_empty());
    }

    #[test]
    fn bad_answers_are_clear_errors() {
        assert!(matches!(parse_pods("<html>"), Err(KubeError::NotJson(_))));
        assert_eq!(
            parse_pods(r#"{"kind": "Status"}"#),
            Err(KubeError::Missing {
                what: "PodList".into(),
                field: "items".into()
            })
        );
        assert_eq!(
            parse_nodes(r#"{"items": [{"metadata": {}}]}"#)
                .unwrap_err()
                .to_string(),
            "the API server's node has no `metadata.name`"
        );
        let e = parse_pods(
            r#"{"items": [{"metadata": {"name": "p", "namespace": "x"}, "spec": {"containers": [
              {"name": "m", "resources": {"requests": {"memory": "lots"}}}]}}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pod `x/p`: container `m`: memory request: `lots` is not a Kubernetes quantity (a number with an optional suffix: 500m, 2, 1.5, 1Gi, 512Mi, 1e3, 2k)"
        );
    }
}
