//! From RADL networks to Neutron: which networks a server's ports go on,
//! which external network its floating IP comes from, and the rules of
//! the security group nubo makes for each RADL network.
//!
//! As IM's OpenStack connector does: a network with `provider_id` is the
//! Neutron network of that id or name. A public network (`outbound =
//! 'yes'`) that is external (`router:external`) is not attached: the
//! server gets a floating IP from it on a port of another network. A
//! public network without `provider_id` means the first external network;
//! a private one the first other network not used yet.
//!
//! Each security group has the rules of [`crate::provider::cloud::ingress`]:
//! members to members from port 1, SSH on public networks, and the
//! network's `outports`.

use serde_json::json;

use super::api::{Network, SecurityGroupRule};
use super::error::OstError;
use crate::model::NetworkSpec;
use crate::provider::cloud::ingress;

/// Where a server's networks are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetPlan {
    /// Neutron network ids to put ports on, in interface order.
    pub attach: Vec<String>,
    /// The external network to take a floating IP from.
    pub floating: Option<String>,
}

fn find<'a>(available: &'a [Network], provider_id: &str) -> Result<&'a Network, OstError> {
    if let Some(n) = available.iter().find(|n| n.id == provider_id) {
        return Ok(n);
    }
    let named: Vec<&Network> = available.iter().filter(|n| n.name == provider_id).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(OstError::Request(format!(
            "no Neutron network has the id or name `{provider_id}` (provider_id); this project sees: {}",
            names(available)
        ))),
        many => Err(OstError::Request(format!(
            "{} Neutron networks are named `{provider_id}` (provider_id): give its id ({})",
            many.len(),
            many.iter()
                .map(|n| n.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn names(available: &[Network]) -> String {
    if available.is_empty() {
        return "no network".to_string();
    }
    available
        .iter()
        .map(|n| {
            if n.external {
                format!("`{}` (external)", n.name)
            } else {
                format!("`{}`", n.name)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Maps the networks of a server's interfaces to Neutron's.
pub fn plan(requested: &[NetworkSpec], available: &[Network]) -> Result<NetPlan, OstError> {
    let mut plan = NetPlan::default();
    let attach = |plan: &mut NetPlan, id: &str| {
        if !plan.attach.iter().any(|a| a == id) {
            plan.attach.push(id.to_string());
        }
    };
    for net in requested {
        let pid = net.provider_id.as_deref().filter(|p| !p.is_empty());
        match (pid, net.public) {
            (Some(pid), public) => {
                let n = find(available, pid)?;
                if public && n.external {
                    if plan.floating.is_none() {
                        plan.floating = Some(n.id.clone());
                    }
                } else {
                    attach(&mut plan, &n.id);
                }
            }
            (None, true) => {
                let n = available.iter().find(|n| n.external).ok_or_else(|| {
                    OstError::Request(format!(
                        "network `{}` is public, but this project sees no external network to take a floating IP from ({})",
                        net.name,
                        names(available)
                    ))
                })?;
                if plan.floating.is_none() {
                    plan.floating = Some(n.id.clone());
                }
            }
            (None, false) => {
                let n = available
                    .iter()
                    .find(|n| !n.external && !plan.attach.contains(&n.id))
                    .ok_or_else(|| {
                        OstError::Request(format!(
                            "network `{}` has no `provider_id` and no other Neutron network is left for it ({})",
                            net.name,
                            names(available)
                        ))
                    })?;
                attach(&mut plan, &n.id);
            }
        }
    }
    // A floating IP needs a port on some other network.
    if plan.floating.is_some() && plan.attach.is_empty() {
        let n = available.iter().find(|n| !n.external).ok_or_else(|| {
            OstError::Request(format!(
                "a floating IP needs a port on a network that is not external, and this project sees none ({})",
                names(available)
            ))
        })?;
        plan.attach.push(n.id.clone());
    }
    Ok(plan)
}

/// One ingress rule of a group nubo makes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub protocol: String,
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// A CIDR, or `None` for the group itself.
    pub remote_ip_prefix: Option<String>,
}

impl RuleSpec {
    /// The body of `POST /v2.0/security-group-rules`.
    pub fn body(&self, group_id: &str) -> serde_json::Value {
        let mut rule = json!({
            "security_group_id": group_id,
            "direction": "ingress",
            "ethertype": "IPv4",
            "protocol": self.protocol,
        });
        if let (Some(min), Some(max)) = (self.min, self.max) {
            rule["port_range_min"] = json!(min);
            rule["port_range_max"] = json!(max);
        }
        match &self.remote_ip_prefix {
            Some(cidr) => rule["remote_ip_prefix"] = json!(cidr),
            None => rule["remote_group_id"] = json!(group_id),
        }
        json!({ "security_group_rule": rule })
    }

    /// Whether a group already has this rule.
    pub fn is_in(&self, group_id: &str, rules: &[SecurityGroupRule]) -> bool {
        rules.iter().any(|r| {
            r.direction == "ingress"
                && r.ethertype.eq_ignore_ascii_case("IPv4")
                && r.protocol.as_deref() == Some(self.protocol.as_str())
                && r.port_range_min == self.min
                && r.port_range_max == self.max
                && match &self.remote_ip_prefix {
                    Some(cidr) => r.remote_ip_prefix.as_deref() == Some(cidr.as_str()),
                    None => r.remote_group_id.as_deref() == Some(group_id),
                }
        })
    }
}

/// The rules of a network's group, without repeats: SSH when the
/// network is public, its `outports`.
pub fn rules_for(network: &NetworkSpec) -> Vec<RuleSpec> {
    ingress(1, network.public, &network.outports)
        .into_iter()
        .map(|r| RuleSpec {
            protocol: r.protocol,
            min: r.ports.map(|(min, _)| u32::from(min)),
            max: r.ports.map(|(_, max)| u32::from(max)),
            remote_ip_prefix: r.cidr,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::cloud::test_network as spec;

    fn net(id: &str, name: &str, external: bool) -> Network {
        Network {
            id: id.into(),
            name: name.into(),
            external,
            status: "ACTIVE".into(),
        }
    }

    fn available() -> Vec<Network> {
        vec![
            net("n-pub", "public", true),
            net("n-priv", "private", false),
            net("n-sto", "storage", false),
        ]
    }

    #[test]
    fn plans() {
        let a = available();
        let p = plan(
            &[
                spec("pub", true, Some("public"), ""),
                spec("priv", false, Some("n-priv"), ""),
            ],
            &a,
        )
        .unwrap();
        assert_eq!(p.attach, ["n-priv"]);
        assert_eq!(p.floating.as_deref(), Some("n-pub"));

        // Only a public network: a port goes on the first other network.
        let p = plan(&[spec("pub", true, None, "")], &a).unwrap();
        assert_eq!(p.attach, ["n-priv"]);
        assert_eq!(p.floating.as_deref(), Some("n-pub"));

        // Two private networks without provider_id take two networks.
        let p = plan(
            &[spec("a", false, None, ""), spec("b", false, None, "")],
            &a,
        )
        .unwrap();
        assert_eq!(p.attach, ["n-priv", "n-sto"]);
        assert_eq!(p.floating, None);

        // A public network that is not external is attached directly.
        let p = plan(&[spec("pub", true, Some("storage"), "")], &a).unwrap();
        assert_eq!(p.attach, ["n-sto"]);
        assert_eq!(p.floating, None);

        let e = plan(&[spec("x", false, Some("nope"), "")], &a)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nope`") && e.contains("`private`"), "{e}");
        let twice = vec![net("a1", "dup", false), net("a2", "dup", false)];
        let e = plan(&[spec("x", false, Some("dup"), "")], &twice)
            .unwrap_err()
            .to_string();
        assert!(e.contains("give its id"), "{e}");
        let e = plan(
            &[spec("pub", true, None, "")],
            &[net("p", "private", false)],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no external network"), "{e}");
    }

    #[test]
    fn rules_from_outports() {
        // The rules themselves are `cloud::ingress`'s (tested there):
        // OpenStack opens from port 1, SSH on public networks, every
        // outport of the network, ICMP without ports.
        let rules = rules_for(&spec("pub", true, None, "8000:8010/tcp,0/icmp"));
        let rule = |protocol: &str, ports: Option<(u32, u32)>, cidr: Option<&str>| RuleSpec {
            protocol: protocol.into(),
            min: ports.map(|p| p.0),
            max: ports.map(|p| p.1),
            remote_ip_prefix: cidr.map(str::to_string),
        };
        assert_eq!(
            rules,
            [
                rule("tcp", Some((1, 65535)), None),
                rule("udp", Some((1, 65535)), None),
                rule("tcp", Some((22, 22)), Some("0.0.0.0/0")),
                rule("tcp", Some((8000, 8010)), Some("0.0.0.0/0")),
                rule("icmp", None, Some("0.0.0.0/0")),
            ]
        );
        // A private network opens no SSH to the world.
        let private = rules_for(&spec("priv", false, None, ""));
        assert_eq!(private.len(), 2);
        let b = rules[0].body("g1");
        assert_eq!(b["security_group_rule"]["remote_group_id"], "g1");
        assert_eq!(b["security_group_rule"]["port_range_max"], 65535);
        let existing: Vec<SecurityGroupRule> = serde_json::from_value(json!([
            {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
             "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0",
             "remote_group_id": null},
            {"id": "r2", "direction": "egress", "ethertype": "IPv4", "protocol": null,
             "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null,
             "remote_group_id": null}
        ]))
        .unwrap();
        assert!(rules[2].is_in("g1", &existing));
        assert!(!rules[0].is_in("g1", &existing));
    }
}
