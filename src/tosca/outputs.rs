//! A TOSCA template's `outputs`, evaluated after launch: inputs and
//! properties as at launch, `get_attribute` from the VMs made (their
//! addresses and ids), `concat`/`join`/`token` over those.
//!
//! The attributes of a node come from the VMs of its Compute node (the
//! node itself, or the one it is hosted on, as `HOST` finds it), as IM
//! gives them: `public_address` (the first public address, else the
//! first private one, as IM falls back), `private_address`, `ip_address`
//! (as `public_address`), `tosca_name`, `tosca_id` (the provider's id). A
//! system of several VMs gives a list, one entry per VM.

use super::Checked;
use super::functions::{self, Context};
use super::template::NodeTemplate;
use super::types::Kind;
use super::yaml::{Node, Value};
use crate::source::Span;
use std::net::IpAddr;

/// A VM of the launched cluster, as outputs see it.
#[derive(Clone, Debug)]
pub struct LiveVm {
    /// The RADL system: the TOSCA Compute node's name.
    pub system: String,
    pub node: String,
    pub id: Option<String>,
    pub addresses: Vec<String>,
}

/// One output: its value, or `None` when it cannot be evaluated (a VM not
/// made, an attribute nubo does not know).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Evaluated {
    pub name: String,
    pub value: Option<serde_json::Value>,
}

/// Evaluates every output of `checked` with the input values of the
/// launch and the cluster's VMs.
pub fn evaluate(checked: &Checked, inputs: &[(String, Node)], vms: &[LiveVm]) -> Vec<Evaluated> {
    let types = checked.types();
    let topology = &checked.topology;
    let attributes = |node: &NodeTemplate, args: &[String]| -> Option<Node> {
        let cx = Context {
            topology,
            types: &types,
            inputs,
            attributes: None,
        };
        let compute = compute_of(&cx, node)?;
        let (name, path) = args.split_first()?;
        let mine: Vec<&LiveVm> = vms
            .iter()
            .filter(|v| v.system == compute.name.text)
            .collect();
        if mine.is_empty() {
            return None;
        }
        let one = |vm: &LiveVm| -> Option<Node> {
            let s = match name.as_str() {
                "public_address" | "ip_address" => public(vm).or_else(|| private(vm))?,
                "private_address" => private(vm).or_else(|| public(vm))?,
                "tosca_name" => vm.node.clone(),
                "tosca_id" => vm.id.clone()?,
                _ => return None,
            };
            Some(Node::new(Value::Str(s), Span::default()))
        };
        let value = if mine.len() == 1 {
            one(mine[0])?
        } else {
            Node::new(
                Value::Seq(mine.iter().map(|v| one(v)).collect::<Option<Vec<_>>>()?),
                Span::default(),
            )
        };
        index(value, path)
    };
    let cx = Context {
        topology,
        types: &types,
        inputs,
        attributes: Some(&attributes),
    };
    topology
        .outputs
        .values()
        .map(|o| Evaluated {
            name: o.name.text.clone(),
            value: o
                .value
                .as_ref()
                .and_then(|v| functions::eval(v, None, &cx, 0))
                .map(|v| super::yaml::to_json(&v)),
        })
        .collect()
}

/// The Compute node whose VMs hold `node`'s attributes: itself, or its
/// host, transitively.
fn compute_of<'t>(cx: &'t Context, node: &'t NodeTemplate) -> Option<&'t NodeTemplate> {
    let mut at = node;
    for _ in 0..16 {
        if cx
            .types
            .is_a(Kind::Node, &at.ty.text, "tosca.nodes.Compute")
        {
            return Some(at);
        }
        at = cx.host_of(at)?;
    }
    None
}

fn index(mut v: Node, path: &[String]) -> Option<Node> {
    for p in path {
        v = match &v.value {
            Value::Seq(items) => items.get(p.parse::<usize>().ok()?)?.clone(),
            Value::Map(_) => v.get(p)?.clone(),
            _ => return None,
        };
    }
    Some(v)
}

fn is_private(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_private()
                || v4.is_link_local()
                || v4.is_loopback()
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

fn addresses(vm: &LiveVm, private: bool) -> Option<String> {
    vm.addresses
        .iter()
        .find(|a| {
            a.parse::<IpAddr>()
                .is_ok_and(|ip| is_private(&ip) == private)
        })
        .cloned()
}

fn public(vm: &LiveVm) -> Option<String> {
    addresses(vm, false)
}

fn private(vm: &LiveVm) -> Option<String> {
    addresses(vm, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    const TEMPLATE: &str = "\
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    port: { type: integer, default: 80 }
  node_templates:
    front:
      type: tosca.nodes.Compute
    app:
      type: tosca.nodes.WebServer
      requirements:
        - host: front
      capabilities:
        data_endpoint:
          properties:
            port: 8080
    wn:
      type: tosca.nodes.Compute
  outputs:
    public: { value: { get_attribute: [ front, public_address ] } }
    private: { value: { get_attribute: [ front, private_address ] } }
    url: { value: { concat: [ 'http://', { get_attribute: [ front, public_address ] }, ':', { get_input: port } ] } }
    app_port: { value: { get_property: [ app, data_endpoint, port ] } }
    workers: { value: { get_attribute: [ wn, private_address ] } }
    joined: { value: { join: [ { get_attribute: [ wn, private_address ] }, ',' ] } }
    unknown: { value: { get_attribute: [ front, networks ] } }
";

    fn vm(system: &str, node: &str, addresses: &[&str]) -> LiveVm {
        LiveVm {
            system: system.into(),
            node: node.into(),
            id: Some(node.into()),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn outputs_read_the_vms_of_the_compute_nodes() {
        let mut sources = SourceMap::new();
        let file = sources.add("t.yaml", TEMPLATE);
        let checked = crate::tosca::validate(
            &mut sources,
            file,
            &crate::tosca::Origin::Text,
            &Default::default(),
        );
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        let vms = [
            vm("front", "front", &["10.0.0.1", "158.42.1.2"]),
            vm("wn", "wn-1", &["10.0.0.2"]),
            vm("wn", "wn-2", &["10.0.0.3"]),
        ];
        let out = evaluate(&checked, &[], &vms);
        let get = |name: &str| {
            out.iter()
                .find(|o| o.name == name)
                .unwrap()
                .value
                .clone()
                .unwrap_or(serde_json::Value::Null)
        };
        assert_eq!(get("public"), "158.42.1.2");
        assert_eq!(get("private"), "10.0.0.1");
        assert_eq!(get("url"), "http://158.42.1.2:80");
        assert_eq!(get("app_port"), 8080);
        assert_eq!(get("workers"), serde_json::json!(["10.0.0.2", "10.0.0.3"]));
        assert_eq!(get("joined"), "10.0.0.2,10.0.0.3");
        assert_eq!(get("unknown"), serde_json::Value::Null);
    }

    #[test]
    fn a_vm_with_only_a_private_address_gives_it_as_public_address() {
        let mut sources = SourceMap::new();
        let file = sources.add("t.yaml", TEMPLATE);
        let checked = crate::tosca::validate(
            &mut sources,
            file,
            &crate::tosca::Origin::Text,
            &Default::default(),
        );
        let out = evaluate(&checked, &[], &[vm("front", "front", &["192.168.1.5"])]);
        assert_eq!(out[0].value, Some(serde_json::json!("192.168.1.5")));
        // No VM for `wn`: its outputs are not known.
        let workers = out.iter().find(|o| o.name == "workers").unwrap();
        assert_eq!(workers.value, None);
    }
}
