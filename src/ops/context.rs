//! The context recipes are rendered with: this node, every node grouped by
//! system, every system's features (also of a system with no node now),
//! the front-end, cluster variables. Its shape is documented in
//! `recipes/README.md`.

use crate::model::{ClusterSpec, Instance};
use crate::radl::json;
use crate::state::Vm;
use serde_json::{Map, Value, json};

/// What the context is built from.
pub struct ContextInput<'a> {
    pub cluster: &'a str,
    pub spec: &'a ClusterSpec,
    /// Every VM the spec asks for, in number order.
    pub instances: &'a [Instance],
    /// The VMs as recorded (for addresses).
    pub vms: &'a [Vm],
    pub variables: &'a Value,
    pub public_key: &'a str,
}

fn node_json(input: &ContextInput<'_>, inst: &Instance) -> Value {
    let addresses: Vec<String> = input
        .vms
        .iter()
        .find(|v| v.node == inst.name)
        .map(|v| v.addresses.clone())
        .unwrap_or_default();
    let system = input.spec.system(&inst.system);
    let features = system
        .map(|s| Value::Object(json::features(&s.features)))
        .unwrap_or_else(|| Value::Object(Map::new()));
    let public = system.map_or(0, |s| {
        input
            .spec
            .networks_of(s)
            .iter()
            .filter(|n| n.public)
            .count()
    });
    let (ip, public_ip) = cluster_and_public_ip(&addresses, public);
    json!({
        "name": inst.name,
        "system": inst.system,
        "number": inst.number,
        "ip": ip,
        "public_ip": public_ip,
        "addresses": addresses,
        "features": features,
    })
}

/// A node's address inside the cluster (what the other nodes use: its
/// first private address) and its public address, if any. Providers list
/// a VM's public addresses first ([`crate::provider::VmInfo`]); a node has
/// at most one per interface on a public network, `public` of them. A node
/// with fewer addresses than that plus one (the local provider gives no
/// public address) is reached at its first address from everywhere.
fn cluster_and_public_ip(addresses: &[String], public: usize) -> (String, Option<String>) {
    let first = addresses.first().cloned().unwrap_or_default();
    if public == 0 || addresses.len() <= public {
        return (first, None);
    }
    (addresses[public].clone(), Some(first))
}

/// The front-end among `nodes`: the first of the system named `front`
/// (EC3's convention), else the first one.
pub fn front_end<T>(nodes: &[T], system: impl Fn(&T) -> &str) -> Option<&T> {
    nodes
        .iter()
        .find(|n| system(n) == "front")
        .or_else(|| nodes.first())
}

/// The context for a recipe running on `node`.
pub fn build(input: &ContextInput<'_>, node: &Instance) -> Value {
    let nodes: Vec<Value> = input
        .instances
        .iter()
        .map(|i| node_json(input, i))
        .collect();
    let mut systems = Map::new();
    for s in &input.spec.systems {
        let list: Vec<Value> = input
            .instances
            .iter()
            .zip(&nodes)
            .filter(|(i, _)| i.system == s.name)
            .map(|(_, n)| n.clone())
            .collect();
        systems.insert(s.name.clone(), Value::Array(list));
    }
    // Every name each system's nodes may have (elastic slots included), so
    // that configuration naming nodes not yet on (a batch system's node
    // list) does not change when they come and go.
    let mut slots = Map::new();
    for s in &input.spec.systems {
        let names: Vec<Value> = input
            .spec
            .slots_of(&s.name)
            .into_iter()
            .map(|i| Value::String(i.name))
            .collect();
        slots.insert(
            s.name.clone(),
            json!({"names": names, "min": s.min, "max": s.max}),
        );
    }
    // A system's features whatever its count, so a recipe sized from them
    // (the SLURM front-end's slurm.conf lists every worker slot) renders the
    // same text while the elasticity daemon adds and removes workers.
    let system_features: Map<String, Value> = input
        .spec
        .systems
        .iter()
        .map(|s| (s.name.clone(), Value::Object(json::features(&s.features))))
        .collect();
    let front = front_end(input.instances, |i| &i.system)
        .map(|f| node_json(input, f))
        .unwrap_or(Value::Null);
    json!({
        "cluster": {"name": input.cluster},
        "node": node_json(input, node),
        "nodes": nodes,
        "systems": systems,
        "slots": slots,
        "system_features": system_features,
        "front": front,
        "vars": input.variables,
        "ssh": {"public_key": input.public_key},
    })
}

#[cfg(test)]
mod tests {
    use super::cluster_and_public_ip;

    #[test]
    fn the_cluster_address_is_the_first_private_one() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        // A front-end with a floating IP (first) and a private address.
        assert_eq!(
            cluster_and_public_ip(&a(&["203.0.113.5", "10.0.0.5"]), 1),
            ("10.0.0.5".into(), Some("203.0.113.5".into()))
        );
        // A worker on a private network only.
        assert_eq!(
            cluster_and_public_ip(&a(&["10.0.0.6"]), 0),
            ("10.0.0.6".into(), None)
        );
        // A public interface the provider gave no public address (local).
        assert_eq!(
            cluster_and_public_ip(&a(&["10.250.3.10"]), 1),
            ("10.250.3.10".into(), None)
        );
        assert_eq!(cluster_and_public_ip(&[], 1), (String::new(), None));
    }
}
