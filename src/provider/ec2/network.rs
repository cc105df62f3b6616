//! RADL networks on EC2: where an instance goes (a subnet named by a
//! network's `provider_id`, else the region's default VPC) and the
//! ingress rules of the cluster's security group.
//!
//! `provider_id` takes IM's form `vpc-X.subnet-Y`, or a bare `subnet-Y`
//! (its VPC is looked up). The group has the rules of
//! [`crate::provider::cloud::ingress`]: members to members from port 0,
//! SSH always, and the `outports` of the cluster's public networks.

use super::error::Ec2Error;
use crate::model::NetworkSpec;
use crate::provider::cloud::{Ingress, ingress};

/// A subnet named by a network's `provider_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub vpc: Option<String>,
    pub subnet: String,
}

/// Reads a network's `provider_id`; `None` when it has none (the default
/// VPC's subnets).
pub fn subnet_of(net: &NetworkSpec) -> Result<Option<Subnet>, Ec2Error> {
    let Some(pid) = net
        .provider_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())
    else {
        return Ok(None);
    };
    let bad = || {
        Ec2Error::Request(format!(
            "network `{}`: provider_id `{pid}` is not an EC2 subnet: write `vpc-ID.subnet-ID` or `subnet-ID`",
            net.name
        ))
    };
    let valid = |s: &str, prefix: &str| {
        s.strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    match pid.split_once('.') {
        Some((vpc, subnet)) if valid(vpc, "vpc-") && valid(subnet, "subnet-") => Ok(Some(Subnet {
            vpc: Some(vpc.to_string()),
            subnet: subnet.to_string(),
        })),
        None if valid(pid, "subnet-") => Ok(Some(Subnet {
            vpc: None,
            subnet: pid.to_string(),
        })),
        _ => Err(bad()),
    }
}

/// The one subnet an instance on these networks goes into (`None`: the
/// default VPC). nubo gives an EC2 instance one network interface, so
/// networks naming two different subnets are refused.
pub fn subnet_for(networks: &[NetworkSpec]) -> Result<Option<Subnet>, Ec2Error> {
    let mut found: Option<Subnet> = None;
    for n in networks {
        if let Some(s) = subnet_of(n)? {
            match &found {
                Some(f) if f.subnet != s.subnet => {
                    return Err(Ec2Error::Request(format!(
                        "an EC2 instance gets one network interface from nubo, but its networks name two subnets (`{}` and `{}`)",
                        f.subnet, s.subnet
                    )));
                }
                Some(_) => {}
                None => found = Some(s),
            }
        }
    }
    Ok(found)
}

/// One ingress rule of the cluster's group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rule {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// Ports (`-1`, `-1` for every ICMP type and code).
    pub from: i32,
    pub to: i32,
    /// A CIDR, or `None` for the group itself.
    pub cidr: Option<String>,
}

impl From<Ingress> for Rule {
    fn from(r: Ingress) -> Rule {
        let (from, to) = r
            .ports
            .map_or((-1, -1), |(a, b)| (i32::from(a), i32::from(b)));
        Rule {
            protocol: r.protocol,
            from,
            to,
            cidr: r.cidr,
        }
    }
}

/// The rules for a cluster whose instances are on `networks`, without
/// repeats, in a fixed order: SSH always, the outports of the public
/// networks.
pub fn rules_for(networks: &[NetworkSpec]) -> Vec<Rule> {
    let outports = networks
        .iter()
        .filter(|n| n.public)
        .flat_map(|n| &n.outports);
    ingress(0, true, outports)
        .into_iter()
        .map(Rule::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::cloud::test_network as net;

    #[test]
    fn subnets_from_provider_ids() {
        assert_eq!(subnet_of(&net("n", false, None, "")).unwrap(), None);
        assert_eq!(
            subnet_of(&net("n", false, Some("vpc-1a2b.subnet-3c4d"), "")).unwrap(),
            Some(Subnet {
                vpc: Some("vpc-1a2b".into()),
                subnet: "subnet-3c4d".into()
            })
        );
        assert_eq!(
            subnet_of(&net("n", false, Some("subnet-9"), "")).unwrap(),
            Some(Subnet {
                vpc: None,
                subnet: "subnet-9".into()
            })
        );
        for bad in [
            "public",
            "vpc-1",
            "vpc-1.subnet-",
            "subnet-a b",
            "vpc-1.sg-2",
        ] {
            let e = subnet_of(&net("n", false, Some(bad), ""))
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("`{bad}`")), "{e}");
        }
        let two = [
            net("a", false, Some("subnet-1"), ""),
            net("b", true, Some("vpc-2.subnet-2"), ""),
        ];
        assert!(
            subnet_for(&two)
                .unwrap_err()
                .to_string()
                .contains("two subnets")
        );
        let same = [
            net("a", false, Some("subnet-1"), ""),
            net("b", true, None, ""),
        ];
        assert_eq!(subnet_for(&same).unwrap().unwrap().subnet, "subnet-1");
    }

    #[test]
    fn rules_from_outports() {
        // The rules themselves are `cloud::ingress`'s (tested there): EC2
        // opens from port 0, SSH always, the public networks' outports,
        // ICMP as -1/-1.
        let rules = rules_for(&[
            net("pub", true, None, "8000:8010/tcp,0/icmp"),
            net("priv", false, None, "9999"),
        ]);
        let rule = |protocol: &str, from: i32, to: i32, cidr: Option<&str>| Rule {
            protocol: protocol.into(),
            from,
            to,
            cidr: cidr.map(str::to_string),
        };
        assert_eq!(
            rules,
            [
                rule("tcp", 0, 65535, None),
                rule("udp", 0, 65535, None),
                rule("tcp", 22, 22, Some("0.0.0.0/0")),
                rule("tcp", 8000, 8010, Some("0.0.0.0/0")),
                rule("icmp", -1, -1, Some("0.0.0.0/0")),
            ]
        );
        assert_eq!(rules_for(&[net("priv", false, None, "")]).len(), 3);
    }
}
