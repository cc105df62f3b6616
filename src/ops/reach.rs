//! How nubo reaches a node over SSH: straight to the address its provider
//! gives, or, for a node with no address on a public network, through the
//! cluster's front-end, as the Infrastructure Manager does (its master VM
//! carries the connections to VMs that only have private addresses).
//!
//! The front-end is the first node, in deploy order, of a system with an
//! interface on a public network (`outbound = 'yes'`). A cluster with no
//! such node is reached directly everywhere: nubo then runs where the
//! private addresses are routable (inside the cloud's network), as IM does
//! when no VM has a public address. A provider whose private addresses
//! this machine reaches anyway (the local provider sits on every bridge)
//! is reached directly too.

use crate::model::{ClusterSpec, Instance};

/// The way to a node's SSH server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Its own address.
    Direct,
    /// A `direct-tcpip` channel of the session to this node (the
    /// front-end).
    Through(String),
}

/// The route to `node`, one of `instances` (the cluster's nodes in deploy
/// order). `private_reachable`: the node's provider says this machine
/// reaches its private addresses.
pub fn route(
    spec: &ClusterSpec,
    instances: &[Instance],
    node: &str,
    private_reachable: bool,
) -> Route {
    let public = |system: &str| {
        spec.system(system)
            .is_some_and(|s| spec.networks_of(s).iter().any(|n| n.public))
    };
    if private_reachable {
        return Route::Direct;
    }
    let Some(me) = instances.iter().find(|i| i.name == node) else {
        return Route::Direct;
    };
    if public(&me.system) {
        return Route::Direct;
    }
    match instances.iter().find(|i| public(&i.system)) {
        Some(front) => Route::Through(front.name.clone()),
        None => Route::Direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::spec_of_radl as spec;

    const CLUSTER: &str = "
network public (outbound = 'yes')
network private ()
system front (net_interface.0.connection = 'public' and net_interface.0.dns_name = 'front' and net_interface.1.connection = 'private')
system wn (net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#')
deploy front 1
deploy wn 2
";

    #[test]
    fn private_nodes_go_through_the_first_public_node() {
        let spec = spec(CLUSTER);
        let nodes = spec.instances();
        let names: Vec<&str> = nodes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["front", "wn-1", "wn-2"]);
        assert_eq!(route(&spec, &nodes, "front", false), Route::Direct);
        assert_eq!(
            route(&spec, &nodes, "wn-2", false),
            Route::Through("front".into())
        );
        // A provider whose private addresses this machine reaches.
        assert_eq!(route(&spec, &nodes, "wn-2", true), Route::Direct);
    }

    #[test]
    fn a_cluster_without_a_public_node_is_reached_directly() {
        let spec = spec(&CLUSTER.replace("outbound = 'yes'", ""));
        let nodes = spec.instances();
        assert_eq!(route(&spec, &nodes, "wn-1", false), Route::Direct);
    }
}
