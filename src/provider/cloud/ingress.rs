//! The ingress rules of the security groups nubo makes in a cloud: the
//! group's members reach each other on every TCP and UDP port, SSH
//! (22/tcp) is open to the world (nubo logs in over it), and each
//! `outports` entry is opened (ranges as they are; a `REMOTE-LOCAL`
//! mapping opens the remote port, as IM does, the clouds having no port
//! mapping) from its CIDR, `0.0.0.0/0` when none is given. Each cloud
//! writes them in its API's terms.

use crate::radl::outports::OutPort;

/// Where a rule lets traffic come from when `outports` names no CIDR.
pub const WORLD: &str = "0.0.0.0/0";

/// One ingress rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ingress {
    /// `tcp`, `udp` or `icmp`.
    pub protocol: String,
    /// The first and last port; `None` for every ICMP type and code.
    pub ports: Option<(u16, u16)>,
    /// A CIDR, or `None` for the group's own members.
    pub cidr: Option<String>,
}

/// The rules of one group, without repeats, in a fixed order: members to
/// members on TCP and UDP ports `first_port` to 65535, SSH from the world
/// when `ssh`, then `outports`.
pub fn ingress<'a>(
    first_port: u16,
    ssh: bool,
    outports: impl IntoIterator<Item = &'a OutPort>,
) -> Vec<Ingress> {
    let mut out: Vec<Ingress> = Vec::new();
    let mut add = |r: Ingress| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for protocol in ["tcp", "udp"] {
        add(Ingress {
            protocol: protocol.into(),
            ports: Some((first_port, 65535)),
            cidr: None,
        });
    }
    if ssh {
        add(Ingress {
            protocol: "tcp".into(),
            ports: Some((22, 22)),
            cidr: Some(WORLD.into()),
        });
    }
    for p in outports {
        let ports = match p.protocol.as_str() {
            "icmp" => None,
            // A range opens start..end; a single port or a mapping its
            // (remote) start.
            _ if p.range => Some((p.start, p.end)),
            _ => Some((p.start, p.start)),
        };
        add(Ingress {
            protocol: p.protocol.clone(),
            ports,
            cidr: Some(p.remote_cidr.clone().unwrap_or_else(|| WORLD.into())),
        });
    }
    out
}

/// A RADL network for the clouds' unit tests.
#[cfg(test)]
pub(crate) fn test_network(
    name: &str,
    public: bool,
    provider_id: Option<&str>,
    outports: &str,
) -> crate::model::NetworkSpec {
    crate::model::NetworkSpec {
        name: name.into(),
        public,
        outports: if outports.is_empty() {
            Vec::new()
        } else {
            crate::radl::outports::parse(outports).unwrap()
        },
        provider_id: provider_id.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_ssh_and_outports_without_repeats() {
        let net = test_network(
            "pub",
            true,
            None,
            "8080:8090/tcp,9000/udp-9100/udp,10.0.0.0/8-5000/tcp,0/icmp,22/tcp",
        );
        let rules = ingress(1, true, &net.outports);
        let r = |protocol: &str, ports: Option<(u16, u16)>, cidr: Option<&str>| Ingress {
            protocol: protocol.into(),
            ports,
            cidr: cidr.map(str::to_string),
        };
        assert_eq!(
            rules,
            [
                r("tcp", Some((1, 65535)), None),
                r("udp", Some((1, 65535)), None),
                r("tcp", Some((22, 22)), Some(WORLD)),
                r("tcp", Some((8080, 8090)), Some(WORLD)),
                r("udp", Some((9000, 9000)), Some(WORLD)),
                r("tcp", Some((5000, 5000)), Some("10.0.0.0/8")),
                r("icmp", None, Some(WORLD)),
            ]
        );
        assert_eq!(ingress(0, false, []).len(), 2);
    }
}
