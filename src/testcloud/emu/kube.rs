//! A Kubernetes API server in the test process, for the elasticity
//! daemon's `kubernetes` queue: no Kubernetes can run on the test machines
//! (no container runtime, no kubelet, no etcd), so this emulates the part
//! of the core/v1 API the daemon and a worker's stand-in kubelet use,
//! written from the Kubernetes API reference (Pod, Node, Eviction,
//! Status; list `fieldSelector`; JSON merge patch). Plain HTTP on the
//! address given; every call needs `Authorization: Bearer TOKEN` (else
//! `401` with a `Status`).
//!
//! Implemented:
//!
//! - `GET /api/v1/pods`, `GET /api/v1/namespaces/NS/pods` (`PodList`;
//!   `fieldSelector` with `status.phase`, `spec.nodeName`,
//!   `metadata.name`, `metadata.namespace`, each `=`, `==` or `!=`, joined
//!   by commas); `POST /api/v1/namespaces/NS/pods` (`201`; `409
//!   AlreadyExists`); `GET`/`DELETE /api/v1/namespaces/NS/pods/NAME`;
//!   `POST /api/v1/namespaces/NS/pods/NAME/eviction` (`201`, the pod is
//!   deleted: no PodDisruptionBudget here).
//! - `GET /api/v1/nodes` (`NodeList`), `GET /api/v1/nodes/NAME`, `POST
//!   /api/v1/nodes` (a kubelet registering), `PATCH /api/v1/nodes/NAME`
//!   and `PATCH /api/v1/nodes/NAME/status` (JSON merge patch, as
//!   `application/merge-patch+json`; `strategic-merge-patch+json` is taken
//!   as a merge patch too, which is the same for the fields used here; any
//!   other type is `415`), `DELETE /api/v1/nodes/NAME` (its pods are
//!   deleted, as the pod garbage collector does for pods of a missing
//!   node).
//! - Node health as the node lifecycle controller judges it: a Node's
//!   `Ready` condition reads `Unknown` once its kubelet has not patched
//!   its status for [`KubeConfig::grace`] (the controller's
//!   `node-monitor-grace-period`).
//! - A scheduler and kubelet in one: at every request, each pending pod
//!   without a node, in creation order, is bound to the first `Ready`,
//!   schedulable node whose `status.allocatable` CPU, memory and pod count,
//!   less the requests of the pods not terminated on it, fit the pod's
//!   requests; a bound pod is `Running` at once and `Succeeded` after the
//!   seconds in its annotation [`RUN_SECONDS`] (without one it runs until
//!   deleted).
//!
//! Not implemented: watches, resourceVersion checks, other resources,
//! taints and tolerations, affinity, owners (an evicted pod is not
//! recreated).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Method, Request};
use serde_json::{Value, json};

use super::{Answer, EmuError};
use crate::elastic::kube::{cpu_millis, memory_bytes, pod_info};

/// The annotation saying how many seconds a pod runs before it succeeds.
pub const RUN_SECONDS: &str = "emu.nubo.io/run-seconds";

#[derive(Clone, Debug)]
pub struct KubeConfig {
    /// The bearer token every call must carry.
    pub token: String,
    /// How long a node stays `Ready` after its kubelet's last status.
    pub grace: Duration,
}

struct Node {
    object: Value,
    heartbeat: Instant,
}

struct Pod {
    object: Value,
    started: Option<Instant>,
}

struct State {
    /// [`KubeConfig::grace`].
    grace: Duration,
    nodes: BTreeMap<String, Node>,
    /// By (namespace, name), with a creation counter for order.
    pods: BTreeMap<(String, String), (u64, Pod)>,
    created: u64,
    /// Every call: `METHOD PATH`.
    calls: Vec<String>,
}

/// The running emulator; stops when dropped.
pub struct KubeEmu {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    state: Arc<Mutex<State>>,
}

impl Drop for KubeEmu {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KubeEmu {
    /// Starts the emulator on `bind`.
    pub async fn start_on(config: KubeConfig, bind: SocketAddr) -> Result<KubeEmu, EmuError> {
        let state = Arc::new(Mutex::new(State {
            grace: config.grace,
            nodes: BTreeMap::new(),
            pods: BTreeMap::new(),
            created: 0,
            calls: Vec::new(),
        }));
        let shared = (state.clone(), Arc::new(config));
        let (addr, task) = super::serve_on(bind, move |_, req| {
            let (state, config) = shared.clone();
            async move { Ok::<_, Infallible>(handle(&state, &config, req).await) }
        })
        .await?;
        Ok(KubeEmu { addr, task, state })
    }

    /// `http://ADDR:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Node objects' names.
    pub fn nodes(&self) -> Vec<String> {
        self.lock().nodes.keys().cloned().collect()
    }

    /// Each pod: (`NS/NAME`, phase, node).
    pub fn pods(&self) -> Vec<(String, String, Option<String>)> {
        let mut st = self.lock();
        settle(&mut st);
        st.pods
            .iter()
            .map(|((ns, name), (_, p))| {
                (
                    format!("{ns}/{name}"),
                    p.object["status"]["phase"]
                        .as_str()
                        .unwrap_or("")
                        .to_string(),
                    p.object["spec"]["nodeName"].as_str().map(str::to_string),
                )
            })
            .collect()
    }

    /// Every call so far, as `METHOD PATH`.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }
}

fn answer(status: u16, body: Value) -> Answer {
    hyper::Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .body(body.to_string().into())
        .unwrap_or_default()
}

/// A `Status` object, as the API server answers errors.
fn status(code: u16, reason: &str, message: String) -> Answer {
    answer(
        code,
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": if code < 300 { "Success" } else { "Failure" },
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

fn not_found(kind: &str, name: &str) -> Answer {
    status(404, "NotFound", format!("{kind} \"{name}\" not found"))
}

/// Now, as the API writes times (RFC 3339, UTC, seconds).
fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("an object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Whether the node is `Ready` now, by its kubelet's last status.
fn ready(n: &Node, grace: Duration) -> bool {
    n.heartbeat.elapsed() < grace
        && n.object["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
}

/// The node as the API shows it: `Ready` becomes `Unknown` after the grace.
fn shown(n: &Node, grace: Duration) -> Value {
    let mut o = n.object.clone();
    if !ready(n, grace)
        && let Some(cs) = o["status"]["conditions"].as_array_mut()
    {
        for c in cs.iter_mut().filter(|c| c["type"] == "Ready") {
            c["status"] = json!("Unknown");
            c["reason"] = json!("NodeStatusUnknown");
            c["message"] = json!("Kubelet stopped posting node status.");
        }
    }
    o
}

/// A node's allocatable (CPU millis, memory bytes, pods).
fn allocatable(n: &Node) -> (u64, u64, u64) {
    let a = &n.object["status"]["allocatable"];
    let q = |k: &str, f: fn(&str) -> Result<u64, crate::elastic::kube::KubeError>| match &a[k] {
        Value::String(s) => f(s).unwrap_or(0),
        Value::Number(x) => f(&x.to_string()).unwrap_or(0),
        _ => 0,
    };
    let pods = match &a["pods"] {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(x) => x.as_u64().unwrap_or(0),
        // The kubelet's default maxPods.
        _ => 110,
    };
    (q("cpu", cpu_millis), q("memory", memory_bytes), pods)
}

fn phase(p: &Pod) -> &str {
    p.object["status"]["phase"].as_str().unwrap_or("Pending")
}

fn terminated(p: &Pod) -> bool {
    matches!(phase(p), "Succeeded" | "Failed")
}

/// Runs the scheduler and the pods' clocks.
fn settle(st: &mut State) {
    let grace = st.grace;
    // Pods that ran their time succeed.
    for (_, p) in st.pods.values_mut() {
        if phase(p) != "Running" {
            continue;
        }
        let secs = p.object["metadata"]["annotations"][RUN_SECONDS]
            .as_str()
            .and_then(|s| s.parse::<f64>().ok());
        if let (Some(secs), Some(t)) = (secs, p.started)
            && t.elapsed().as_secs_f64() >= secs
        {
            p.object["status"]["phase"] = json!("Succeeded");
            p.object["status"]["conditions"] =
                json!([{"type": "Ready", "status": "False", "reason": "PodCompleted"}]);
        }
    }
    // Pending pods, oldest first, onto nodes that fit them.
    let mut pending: Vec<(u64, (String, String))> = st
        .pods
        .iter()
        .filter(|(_, (_, p))| phase(p) == "Pending" && p.object["spec"]["nodeName"].is_null())
        .map(|(k, (n, _))| (*n, k.clone()))
        .collect();
    pending.sort();
    for (_, key) in pending {
        let Some(want) = st
            .pods
            .get(&key)
            .and_then(|(_, p)| pod_info(&p.object).ok())
        else {
            continue;
        };
        let chosen = st
            .nodes
            .iter()
            .filter(|(_, n)| {
                ready(n, grace) && !n.object["spec"]["unschedulable"].as_bool().unwrap_or(false)
            })
            .find(|(name, n)| {
                let (cpu, mem, count) = allocatable(n);
                let on: Vec<_> = st
                    .pods
                    .values()
                    .filter(|(_, p)| {
                        !terminated(p)
                            && p.object["spec"]["nodeName"].as_str() == Some(name.as_str())
                    })
                    .filter_map(|(_, p)| pod_info(&p.object).ok())
                    .collect();
                let used_cpu: u64 = on.iter().map(|p| p.cpu_millis).sum();
                let used_mem: u64 = on.iter().map(|p| p.memory_bytes).sum();
                used_cpu + want.cpu_millis <= cpu
                    && used_mem + want.memory_bytes <= mem
                    && (on.len() as u64) < count
            })
            .map(|(name, _)| name.clone());
        if let (Some(node), Some((_, p))) = (chosen, st.pods.get_mut(&key)) {
            p.object["spec"]["nodeName"] = json!(node);
            p.object["status"]["phase"] = json!("Running");
            p.object["status"]["startTime"] = json!(now_rfc3339());
            p.started = Some(Instant::now());
        }
    }
}

/// A `fieldSelector`: (field, wanted, equal).
fn selector(query: &str) -> Result<Vec<(String, String, bool)>, String> {
    let Some(sel) = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "fieldSelector")
        .map(|(_, v)| percent_decode(v))
    else {
        return Ok(Vec::new());
    };
    sel.split(',')
        .filter(|t| !t.is_empty())
        .map(|term| {
            let (field, value, eq) = if let Some((f, v)) = term.split_once("!=") {
                (f, v, false)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, v, true)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, v, true)
            } else {
                return Err(format!(
                    "invalid selector: '{sel}'; can't understand '{term}'"
                ));
            };
            match field {
                "status.phase" | "spec.nodeName" | "metadata.name" | "metadata.namespace" => {
                    Ok((field.to_string(), value.to_string(), eq))
                }
                _ => Err(format!("field label not supported: {field}")),
            }
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(x) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or(""), 16)
        {
            out.push(x);
            i += 3;
        } else {
            out.push(if b[i] == b'+' { b' ' } else { b[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn field_of<'a>(pod: &'a Value, field: &str) -> &'a str {
    let v = match field {
        "status.phase" => &pod["status"]["phase"],
        "spec.nodeName" => &pod["spec"]["nodeName"],
        "metadata.name" => &pod["metadata"]["name"],
        _ => &pod["metadata"]["namespace"],
    };
    v.as_str().unwrap_or("")
}

async fn handle(state: &Mutex<State>, config: &KubeConfig, req: Request<Incoming>) -> Answer {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorized = req
        .headers()
        .get("Authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", config.token));
    let content_type = req
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return status(400, "BadRequest", format!("reading the body: {e}")),
    };
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.calls.push(format!("{method} {path}"));
    if !authorized {
        return status(401, "Unauthorized", "Unauthorized".into());
    }
    settle(&mut st);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let parsed = || serde_json::from_slice::<Value>(&body);
    match (&method, parts.as_slice()) {
        (&Method::GET, ["api", "v1", "pods"]) => list_pods(&st, None, &query),
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods"]) => list_pods(&st, Some(ns), &query),
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods"]) => {
            let Ok(mut pod) = parsed() else {
                return status(400, "BadRequest", "the body is not a JSON object".into());
            };
            let Some(name) = pod["metadata"]["name"].as_str().map(str::to_string) else {
                return status(
                    422,
                    "Invalid",
                    "Pod is invalid: metadata.name: Required value".into(),
                );
            };
            if let Err(e) = pod_info(&pod) {
                return status(422, "Invalid", format!("Pod \"{name}\" is invalid: {e}"));
            }
            let key = (ns.to_string(), name.clone());
            if st.pods.contains_key(&key) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("pods \"{name}\" already exists"),
                );
            }
            st.created += 1;
            let n = st.created;
            pod["metadata"]["namespace"] = json!(ns);
            pod["metadata"]["uid"] = json!(format!("pod-{n}"));
            pod["metadata"]["creationTimestamp"] = json!(now_rfc3339());
            pod["kind"] = json!("Pod");
            pod["apiVersion"] = json!("v1");
            pod["status"] = json!({"phase": "Pending"});
            st.pods.insert(
                key,
                (
                    n,
                    Pod {
                        object: pod.clone(),
                        started: None,
                    },
                ),
            );
            settle(&mut st);
            answer(201, pod)
        }
        (&Method::GET, ["api", "v1", "namespaces", ns, "pods", name]) => {
            match st.pods.get(&(ns.to_string(), name.to_string())) {
                Some((_, p)) => answer(200, p.object.clone()),
                None => not_found("pods", name),
            }
        }
        (&Method::DELETE, ["api", "v1", "namespaces", ns, "pods", name]) => {
            match st.pods.remove(&(ns.to_string(), name.to_string())) {
                Some((_, p)) => answer(200, p.object),
                None => not_found("pods", name),
            }
        }
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods", name, "eviction"]) => {
            match st.pods.remove(&(ns.to_string(), name.to_string())) {
                Some(_) => status(201, "", String::new()),
                None => not_found("pods", name),
            }
        }
        (&Method::GET, ["api", "v1", "nodes"]) => answer(
            200,
            json!({
                "kind": "NodeList",
                "apiVersion": "v1",
                "metadata": {},
                "items": st.nodes.values().map(|n| shown(n, config.grace)).collect::<Vec<_>>(),
            }),
        ),
        (&Method::GET, ["api", "v1", "nodes", name]) => match st.nodes.get(*name) {
            Some(n) => answer(200, shown(n, config.grace)),
            None => not_found("nodes", name),
        },
        (&Method::POST, ["api", "v1", "nodes"]) => {
            let Ok(mut node) = parsed() else {
                return status(400, "BadRequest", "the body is not a JSON object".into());
            };
            let Some(name) = node["metadata"]["name"].as_str().map(str::to_string) else {
                return status(
                    422,
                    "Invalid",
                    "Node is invalid: metadata.name: Required value".into(),
                );
            };
            if st.nodes.contains_key(&name) {
                return status(
                    409,
                    "AlreadyExists",
                    format!("nodes \"{name}\" already exists"),
                );
            }
            node["kind"] = json!("Node");
            node["apiVersion"] = json!("v1");
            node["metadata"]["creationTimestamp"] = json!(now_rfc3339());
            st.nodes.insert(
                name,
                Node {
                    object: node.clone(),
                    heartbeat: Instant::now(),
                },
            );
            answer(201, node)
        }
        (&Method::PATCH, ["api", "v1", "nodes", name, rest @ ..]) if rest.len() <= 1 => {
            let kind = content_type.split(';').next().unwrap_or("").trim();
            if kind != "application/merge-patch+json"
                && kind != "application/strategic-merge-patch+json"
            {
                return status(
                    415,
                    "UnsupportedMediaType",
                    format!(
                        "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (got {kind:?})"
                    ),
                );
            }
            let Ok(patch) = parsed() else {
                return status(400, "BadRequest", "the body is not JSON".into());
            };
            let is_status = rest == ["status"];
            if !rest.is_empty() && !is_status {
                return not_found("nodes", name);
            }
            let Some(n) = st.nodes.get_mut(*name) else {
                return not_found("nodes", name);
            };
            // The status subresource changes only the status, the object
            // only the rest.
            let mut p = patch.clone();
            if is_status {
                p = json!({"status": patch["status"].clone()});
                n.heartbeat = Instant::now();
            } else if let Some(o) = p.as_object_mut() {
                o.remove("status");
            }
            merge(&mut n.object, &p);
            answer(200, shown(n, config.grace))
        }
        (&Method::DELETE, ["api", "v1", "nodes", name]) => match st.nodes.remove(*name) {
            Some(n) => {
                st.pods
                    .retain(|_, (_, p)| p.object["spec"]["nodeName"].as_str() != Some(name));
                answer(200, n.object)
            }
            None => not_found("nodes", name),
        },
        _ => status(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({method} {path})"),
        ),
    }
}

fn list_pods(st: &State, ns: Option<&str>, query: &str) -> Answer {
    let sel = match selector(query) {
        Ok(s) => s,
        Err(e) => return status(400, "BadRequest", e),
    };
    let mut pods: Vec<&(u64, Pod)> = st
        .pods
        .iter()
        .filter(|((pns, _), _)| ns.is_none_or(|n| n == pns))
        .map(|(_, v)| v)
        .filter(|(_, p)| {
            sel.iter()
                .all(|(f, v, eq)| (field_of(&p.object, f) == v) == *eq)
        })
        .collect();
    pods.sort_by_key(|(n, _)| *n);
    answer(
        200,
        json!({
            "kind": "PodList",
            "apiVersion": "v1",
            "metadata": {},
            "items": pods.iter().map(|(_, p)| p.object.clone()).collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_as_rfc_7386() {
        let mut t = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge(&mut t, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(t, json!({"a": "z", "c": {"d": "e"}}));
        let mut t = json!({"spec": {}});
        merge(&mut t, &json!({"spec": {"unschedulable": true}}));
        assert_eq!(t["spec"]["unschedulable"], true);
    }

    #[test]
    fn field_selectors() {
        assert_eq!(
            selector("fieldSelector=status.phase!%3DSucceeded,spec.nodeName%3Dwn-1").unwrap(),
            vec![
                ("status.phase".into(), "Succeeded".into(), false),
                ("spec.nodeName".into(), "wn-1".into(), true)
            ]
        );
        assert!(selector("fieldSelector=spec.other%3Dx").is_err());
        assert!(selector("limit=5").unwrap().is_empty());
    }
}
