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
            "80,443/tcp,8000:8010/tcp,53/udp,22/tcp,10.0.0.0/8-9090/tcp,8080/tcp-80/tcp,0/icmp",
        );
        let show: Vec<String> = ingress(1, true, &net.outports)
            .iter()
            .map(|r| {
                let (from, to) = r.ports.unwrap_or_default();
                let cidr = r.cidr.as_deref().unwrap_or("members");
                format!("{} {from}-{to} {cidr}", r.protocol)
            })
            .collect();
        assert_eq!(
            show,
            [
                "tcp 1-65535 members",
                "udp 1-65535 members",
                "tcp 22-22 0.0.0.0/0",
                "tcp 80-80 0.0.0.0/0",
                "tcp 443-443 0.0.0.0/0",
                "tcp 8000-8010 0.0.0.0/0",
                "udp 53-53 0.0.0.0/0",
                "tcp 9090-9090 10.0.0.0/8",
                // A mapping opens its remote port.
                "tcp 8080-8080 0.0.0.0/0",
                "icmp 0-0 0.0.0.0/0",
            ]
        );
        assert_eq!(ingress(0, false, []).len(), 2);
        assert_eq!(ingress(0, true, []).len(), 3);
    }
}
