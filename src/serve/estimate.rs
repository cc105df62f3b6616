//! `POST /infrastructures?dry_run=yes`: what a description would ask of
//! each cloud, in the form IM's `EstimateResouces` answers (IM's REST
//! `create_infrastructure` with `dry_run`): per cloud id its type and
//! endpoint, one `compute` entry per VM and one `storage` entry per
//! sized disk. Nothing is made.
//!
//! IM reads the sizes off the system after choosing the cloud's image and
//! instance type; nubo chooses a flavor or instance type only when it
//! makes the VM (that needs the cloud's list), so the sizes here are the
//! description's own: the lower bound of `cpu.count >= 2` is 2.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::model::{ClusterSpec, SystemSpec};
use crate::radl::ast::Number;

/// Where a system's VMs go: the cloud id, its type as the auth line
/// writes it, and its endpoint (the auth line's `host`, else "").
#[derive(Clone, Debug)]
pub struct Cloud {
    pub id: String,
    pub kind: String,
    pub endpoint: String,
}

/// One cloud's part of the estimate, as IM writes it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct CloudEstimate {
    cloud_type: String,
    cloud_endpoint: String,
    compute: Vec<Value>,
    storage: Vec<Value>,
}

/// The estimate, keyed by cloud id.
pub fn estimate(spec: &ClusterSpec, placed: &HashMap<String, Cloud>) -> Value {
    let mut out: BTreeMap<String, CloudEstimate> = BTreeMap::new();
    for sys in spec.systems.iter().filter(|s| s.count > 0) {
        let Some(cloud) = placed.get(&sys.name) else {
            continue;
        };
        let entry = out
            .entry(cloud.id.clone())
            .or_insert_with(|| CloudEstimate {
                cloud_type: cloud.kind.clone(),
                cloud_endpoint: cloud.endpoint.clone(),
                compute: Vec::new(),
                storage: Vec::new(),
            });
        let vm = compute(spec, sys);
        let disks = storage(sys);
        for _ in 0..sys.count {
            entry.compute.push(vm.clone());
            entry.storage.extend(disks.iter().cloned());
        }
    }
    serde_json::to_value(out).unwrap_or_default()
}

fn number(n: Number) -> Value {
    match n {
        Number::Int(i) => json!(i),
        Number::Float(f) if f.fract() == 0.0 => json!(f as i64),
        Number::Float(f) => json!(f),
    }
}

/// A size in whole units, as IM's `getValue('M')` and `getValue('G')`
/// give it (RADL's `M` and `G` are powers of 1000, `Mi` and `Gi` of 1024).
fn scaled(sys: &SystemSpec, feature: &str, unit: &str) -> Option<f64> {
    let per = crate::radl::units::factor(unit) as f64;
    sys.features
        .get_number(feature)
        .map(|n| (n.as_f64() / per).round())
}

fn compute(spec: &ClusterSpec, sys: &SystemSpec) -> Value {
    let mut vm = Map::new();
    vm.insert(
        "cpuCores".into(),
        sys.features
            .get_number("cpu.count")
            .map_or(Value::Null, number),
    );
    vm.insert(
        "memoryInMegabytes".into(),
        scaled(sys, "memory.size", "M").map_or(Value::Null, |m| json!(m as i64)),
    );
    if let Some(gpus) = sys.features.get_number("gpu.count") {
        vm.insert("GPU".into(), number(gpus));
    }
    let disk = scaled(sys, "disk.0.free_size", "G").unwrap_or(0.0)
        + scaled(sys, "disk.0.size", "G").unwrap_or(0.0);
    if disk > 0.0 {
        vm.insert("diskSizeInGigabytes".into(), json!(disk as i64));
    }
    if spec.networks_of(sys).iter().any(|n| n.public) {
        vm.insert("publicIP".into(), json!(1));
    }
    Value::Object(vm)
}

/// One entry per `disk.N.size`, N from 0 while a disk N is described.
fn storage(sys: &SystemSpec) -> Vec<Value> {
    let mut out = Vec::new();
    let mut n = 0;
    loop {
        let size = format!("disk.{n}.size");
        let described = sys.features.get_number(&size).is_some()
            || sys.features.get_str(&format!("disk.{n}.content")).is_some();
        if !described && n > 0 {
            return out;
        }
        if let Some(gb) = scaled(sys, &size, "G") {
            let mut vol = Map::new();
            vol.insert("sizeInGigabytes".into(), json!(gb as i64));
            if let Some(t) = sys.features.get_str(&format!("disk.{n}.type")) {
                vol.insert("type".into(), json!(t));
            }
            out.push(Value::Object(vol));
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> ClusterSpec {
        let v = crate::radl::validate(crate::source::FileId(0), text);
        assert!(v.diagnostics().is_empty(), "{:?}", v.diagnostics());
        crate::model::lower(&v.document).0
    }

    #[test]
    fn each_vm_and_each_sized_disk_is_counted_on_its_cloud() {
        let s = spec(
            "network pub (outbound = 'yes')
network priv ()
system front (cpu.count >= 2 and memory.size >= 2g and gpu.count >= 1 and
  net_interface.0.connection = 'pub' and net_interface.1.connection = 'priv' and
  disk.0.size = 20g and disk.1.size = 100g and disk.1.type = 'ceph')
system wn (cpu.count = 1 and memory.size >= 512m and net_interface.0.connection = 'priv')
deploy front 1
deploy wn 2
",
        );
        let cloud = |id: &str| Cloud {
            id: id.into(),
            kind: "OpenStack".into(),
            endpoint: "http://127.0.0.1:5000".into(),
        };
        let placed = HashMap::from([("front".into(), cloud("ost")), ("wn".into(), cloud("ost"))]);
        let got = estimate(&s, &placed);
        assert_eq!(
            got,
            json!({"ost": {
                "cloudType": "OpenStack",
                "cloudEndpoint": "http://127.0.0.1:5000",
                "compute": [
                    {"cpuCores": 2, "memoryInMegabytes": 2000, "GPU": 1,
                     "diskSizeInGigabytes": 20, "publicIP": 1},
                    {"cpuCores": 1, "memoryInMegabytes": 512},
                    {"cpuCores": 1, "memoryInMegabytes": 512},
                ],
                "storage": [
                    {"sizeInGigabytes": 20},
                    {"sizeInGigabytes": 100, "type": "ceph"},
                ],
            }})
        );
    }
}
