//! `SshTarget`: which machine to reach and how to log in to it.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// A machine to reach over SSH: where it listens, which user to log in as,
/// and the private key to authenticate with.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// An IP address (`10.0.0.5`, `::1`) or a DNS name.
    pub host: String,
    pub port: u16,
    pub user: String,
    /// An OpenSSH private key without a passphrase (ed25519, ECDSA or RSA).
    pub key_path: PathBuf,
    /// The machine to go through when this one has no address the caller
    /// can reach (a worker on a private network behind its front-end): the
    /// connection runs over a `direct-tcpip` channel of a session to `via`.
    pub via: Option<Box<SshTarget>>,
}

impl SshTarget {
    /// `host` is anything that prints as an address or a name: an
    /// [`IpAddr`], a `&str`, a `String`.
    pub fn new(
        host: impl ToString,
        port: u16,
        user: impl Into<String>,
        key_path: impl Into<PathBuf>,
    ) -> SshTarget {
        SshTarget {
            host: host.to_string(),
            port,
            user: user.into(),
            key_path: key_path.into(),
            via: None,
        }
    }

    /// This target reached through `jump` (see [`SshTarget::via`]).
    pub fn through(mut self, jump: SshTarget) -> SshTarget {
        self.via = Some(Box::new(jump));
        self
    }

    /// The host's name in OpenSSH's known_hosts form: `host` on port 22,
    /// `[host]:port` on any other port.
    pub fn known_hosts_name(&self) -> String {
        known_hosts_name(&self.host, self.port)
    }

    /// `host:port`, with an IPv6 address in brackets.
    pub fn address(&self) -> String {
        if self.host.parse::<IpAddr>().is_ok_and(|ip| ip.is_ipv6()) {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `host` on port 22, `[host]:port` otherwise, as OpenSSH writes
/// known_hosts entries, so the file works with `ssh -o UserKnownHostsFile=`.
pub(crate) fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

impl fmt::Display for SshTarget {
    /// `user@host:port`, and ` via user@host:port` for a target reached
    /// through another.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.user, self.address())?;
        if let Some(via) = &self.via {
            write!(f, " via {via}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn names_and_display() {
        let t = SshTarget::new("10.0.0.5", 2222, "root", "/k");
        assert_eq!(t.to_string(), "root@10.0.0.5:2222");
        assert_eq!(t.known_hosts_name(), "[10.0.0.5]:2222");
        let t = SshTarget::new(Ipv6Addr::LOCALHOST, 22, "u", "/k");
        assert_eq!(t.to_string(), "u@[::1]:22");
        assert_eq!(t.known_hosts_name(), "::1");
        let front = SshTarget::new("10.250.224.5", 22, "cloudadm", "/k");
        let t = SshTarget::new("10.250.225.7", 22, "cloudadm", "/k").through(front);
        assert_eq!(
            t.to_string(),
            "cloudadm@10.250.225.7:22 via cloudadm@10.250.224.5:22"
        );
        assert_eq!(t.known_hosts_name(), "10.250.225.7");
    }
}
