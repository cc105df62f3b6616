//! How nubo marks the VMs it makes, so it finds them again without records.
//!
//! Every VM gets the name `nubo.CLUSTER.NODE.TOKEN` and the user-template
//! attributes `NUBO_CLUSTER`, `NUBO_NODE`, `NUBO_TOKEN` (and
//! `NUBO_SSH_USER`). `one.vmpool.info` answers a short VM body whose user
//! template leaves custom attributes out, so the pool is searched by name;
//! the attributes are what `one.vm.info` shows and what decides when a
//! name is unclear. Node names and tokens have no `.`, so a name splits
//! from the right even when the cluster name has dots.

/// The marks of one VM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub cluster: String,
    pub node: String,
    pub token: String,
}

/// The prefix of every name nubo gives.
pub const PREFIX: &str = "nubo.";

/// OpenNebula refuses longer object names.
pub const MAX_NAME: usize = 128;

pub const ATTR_CLUSTER: &str = "NUBO_CLUSTER";
pub const ATTR_NODE: &str = "NUBO_NODE";
pub const ATTR_TOKEN: &str = "NUBO_TOKEN";
pub const ATTR_SSH_USER: &str = "NUBO_SSH_USER";

impl Label {
    /// The VM name; cut to [`MAX_NAME`] characters when longer (such a
    /// name no longer parses, and the VM is recognised by its attributes).
    pub fn vm_name(&self) -> String {
        let mut name = format!("{PREFIX}{}.{}.{}", self.cluster, self.node, self.token);
        name.truncate(MAX_NAME);
        name
    }

    /// The label a name carries, if it is one nubo gave.
    pub fn from_name(name: &str) -> Option<Label> {
        let rest = name.strip_prefix(PREFIX)?;
        let mut parts = rest.rsplitn(3, '.');
        let token = parts.next()?;
        let node = parts.next()?;
        let cluster = parts.next()?;
        if [cluster, node, token].iter().any(|s| s.is_empty()) {
            return None;
        }
        Some(Label {
            cluster: cluster.into(),
            node: node.into(),
            token: token.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_even_with_dots_in_the_cluster() {
        for cluster in ["web", "web.prod", "a-b_c.d"] {
            let l = Label {
                cluster: cluster.into(),
                node: "wn-1".into(),
                token: "01J9ZQ4X8M3N5P7R9T1V3X5Z7B".into(),
            };
            assert_eq!(Label::from_name(&l.vm_name()), Some(l));
        }
        assert_eq!(Label::from_name("web-server"), None);
        assert_eq!(Label::from_name("nubo.x.y"), None);
        assert_eq!(Label::from_name("nubo..y.z"), None);
    }

    #[test]
    fn long_names_are_cut() {
        let l = Label {
            cluster: "c".repeat(64),
            node: "n".repeat(63),
            token: "01J9ZQ4X8M3N5P7R9T1V3X5Z7B".into(),
        };
        let name = l.vm_name();
        assert_eq!(name.len(), MAX_NAME);
        assert_ne!(Label::from_name(&name), Some(l));
    }
}
