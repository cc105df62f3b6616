//! How nubo marks what it makes in OpenStack, so it finds it again
//! without records.
//!
//! - A server is named `nubo-CLUSTER-NODE` and carries the metadata
//!   `nubo_cluster`, `nubo_node`, `nubo_token` (the intent's idempotency
//!   token), `nubo_ssh_user`, and `nubo_floating_network` (the external
//!   network its floating IP comes from) when it gets one. The metadata
//!   decides; the name is for people.
//! - A security group is named `nubo-CLUSTER-NET`; its description
//!   `nubo cluster=CLUSTER network=NET` decides (a name alone is ambiguous
//!   when cluster or network names hold dashes).
//! - A floating IP's description is `nubo cluster=CLUSTER node=NODE
//!   token=TOKEN`.
//!
//! Cluster names, node names, network names and tokens hold no blanks and
//! no `=`, so descriptions split without quoting.

use std::collections::BTreeMap;

pub const META_CLUSTER: &str = "nubo_cluster";
pub const META_NODE: &str = "nubo_node";
pub const META_TOKEN: &str = "nubo_token";
pub const META_SSH_USER: &str = "nubo_ssh_user";
pub const META_FLOATING: &str = "nubo_floating_network";

/// Nova's limit on a server name.
const MAX_NAME: usize = 255;

pub fn server_name(cluster: &str, node: &str) -> String {
    let mut name = format!("nubo-{cluster}-{node}");
    name.truncate(MAX_NAME);
    name
}

pub fn group_name(cluster: &str, network: &str) -> String {
    let mut name = format!("nubo-{cluster}-{network}");
    name.truncate(MAX_NAME);
    name
}

pub fn group_description(cluster: &str, network: &str) -> String {
    format!("nubo cluster={cluster} network={network}")
}

pub fn floating_description(cluster: &str, node: &str, token: &str) -> String {
    format!("nubo cluster={cluster} node={node} token={token}")
}

/// The `key=value` pairs of a description nubo wrote, if it is one.
pub fn parse_description(d: &str) -> Option<BTreeMap<String, String>> {
    let rest = d.strip_prefix("nubo ")?;
    let mut out = BTreeMap::new();
    for part in rest.split_whitespace() {
        let (k, v) = part.split_once('=')?;
        out.insert(k.to_string(), v.to_string());
    }
    out.contains_key("cluster").then_some(out)
}

/// Whether a description marks something of `cluster`.
pub fn marks_cluster(description: &str, cluster: &str) -> bool {
    parse_description(description).is_some_and(|m| m["cluster"] == cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_name_the_cluster_exactly() {
        let d = group_description("web-prod", "net");
        assert!(marks_cluster(&d, "web-prod"));
        assert!(!marks_cluster(&d, "web"));
        // The names of these two are the same; their descriptions are not.
        assert_eq!(group_name("web", "prod-net"), group_name("web-prod", "net"));
        assert!(!marks_cluster(
            &group_description("web", "prod-net"),
            "web-prod"
        ));
        let f = parse_description(&floating_description("web", "front", "01J9")).unwrap();
        assert_eq!(f["node"], "front");
        assert_eq!(f["token"], "01J9");
        assert_eq!(parse_description("Security group created by the IM"), None);
        assert_eq!(parse_description("nubo network=x"), None);
        assert_eq!(server_name("web", "wn-1"), "nubo-web-wn-1");
    }
}
