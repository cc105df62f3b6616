//! The Ansible inventory of a cluster, as IM's ConfManager writes it: a
//! group per system under `all`, each node with IM's host variables, and
//! IM's cluster variables on `all`. Built from the context native recipes
//! are rendered with (`ops::context`), so it changes exactly when what the
//! plays can see changes.
//!
//! Where nubo differs from IM: a host is named by its node name (`wn-1`),
//! not IM's `IP_N`; `IM_HOST` is that name. The master is the cluster's
//! front-end (the first node of a public system), as it is for native
//! recipes. `IM_NODE_NET_<n>_IP` is the node's n-th address as the
//! provider lists them. How to reach a node (`ansible_host`, the user, the
//! key, a jump host) is added by the caller ([`with_connections`]).

use serde_json::{Map, Value as Json, json};

/// IM's default domain for a node with no `dns_name` domain.
pub const DEFAULT_DOMAIN: &str = "localdomain";

/// The inventory (YAML inventory plugin's form, written as JSON) for the
/// cluster in `ctx`. `vm_ids` gives each node's VM id and cloud type
/// (`IM_NODE_VMID`, `IM_NODE_CLOUD_TYPE`), when known.
pub fn inventory(ctx: &Json, vm_ids: &dyn Fn(&str) -> (String, String)) -> Json {
    let nodes = ctx["nodes"].as_array().cloned().unwrap_or_default();
    let mut all_vars = Map::new();
    let mut children = Map::new();
    let front = &ctx["front"];
    let master_node = nodes
        .iter()
        .find(|n| front.is_object() && n["name"] == front["name"]);
    let (master, master_domain) = if let Some(f) = master_node {
        host_and_domain(f)
    } else {
        (String::new(), DEFAULT_DOMAIN.to_string())
    };
    if let Some(systems) = ctx["systems"].as_object() {
        for (system, members) in systems {
            let count = members.as_array().map_or(0, Vec::len);
            all_vars.insert(
                format!("IM_{}_NUM_VMS", system.to_uppercase()),
                json!(count.to_string()),
            );
            children.insert(system.clone(), json!({"hosts": {}}));
        }
    }
    for n in &nodes {
        let Some(name) = n["name"].as_str() else {
            continue;
        };
        let system = n["system"].as_str().unwrap_or("");
        let (host, domain) = host_and_domain(n);
        let mut vars = Map::new();
        if let Some(addrs) = n["addresses"].as_array() {
            for (i, a) in addrs.iter().enumerate() {
                vars.insert(format!("IM_NODE_NET_{i}_IP"), a.clone());
            }
        }
        let ip = n["ip"].as_str().unwrap_or("");
        match n["public_ip"].as_str() {
            Some(p) => {
                vars.insert("IM_NODE_PUBLIC_IP".into(), json!(p));
            }
            None if front.is_object() && front["name"] == n["name"] => {
                // The front-end is reached at its address from outside.
                vars.insert("IM_NODE_PUBLIC_IP".into(), json!(ip));
            }
            None => {}
        }
        vars.insert("IM_NODE_PRIVATE_IP".into(), json!(ip));
        vars.insert("IM_NODE_HOSTNAME".into(), json!(host));
        vars.insert("IM_NODE_FQDN".into(), json!(format!("{host}.{domain}")));
        vars.insert("IM_NODE_DOMAIN".into(), json!(domain));
        vars.insert(
            "IM_NODE_NUM".into(),
            json!(n["number"].as_u64().unwrap_or(0).to_string()),
        );
        let (vmid, cloud) = vm_ids(name);
        vars.insert("IM_NODE_VMID".into(), json!(vmid));
        vars.insert("IM_NODE_CLOUD_TYPE".into(), json!(cloud));
        if let Some(features) = n["features"].as_object() {
            for app in features
                .get("disk.0.applications")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let Some(app_name) = app["name"].as_str() else {
                    continue;
                };
                let upper = app_name.to_uppercase();
                if let Some(p) = app["path"].as_str() {
                    vars.insert(format!("IM_APP_{upper}_PATH"), json!(p));
                }
                if let Some(v) = app["version"].as_str() {
                    vars.insert(format!("IM_APP_{upper}_VERSION"), json!(v));
                }
            }
        }
        let group = children
            .entry(system.to_string())
            .or_insert_with(|| json!({"hosts": {}}));
        group["hosts"][name] = Json::Object(vars);
    }
    all_vars.insert("IM_MASTER_HOSTNAME".into(), json!(master));
    all_vars.insert(
        "IM_MASTER_FQDN".into(),
        json!(format!("{master}.{master_domain}")),
    );
    all_vars.insert("IM_MASTER_DOMAIN".into(), json!(master_domain));
    all_vars.insert(
        "IM_INFRASTRUCTURE_ID".into(),
        ctx["cluster"]["name"].clone(),
    );
    json!({"all": {"vars": all_vars, "children": children}})
}

/// A node's host name and domain: its `net_interface.0.dns_name` (with
/// IM's `#N#` replaced) when that has a domain, else its node name and
/// IM's default domain.
fn host_and_domain(n: &Json) -> (String, String) {
    let name = n["name"].as_str().unwrap_or("").to_string();
    let dns = n["features"]["net_interface.0.dns_name"]
        .as_str()
        .map(|d| d.replace("#N#", &n["number"].as_u64().unwrap_or(0).to_string()));
    match dns.as_deref().and_then(|d| d.split_once('.')) {
        Some((_, dom)) if !dom.is_empty() => (name, dom.to_string()),
        _ => (name, DEFAULT_DOMAIN.to_string()),
    }
}

/// Adds each host's connection variables (`ansible_host`, `ansible_port`,
/// `ansible_user`, `ansible_ssh_common_args`...) to an inventory.
pub fn with_connections(mut inv: Json, conn: &dyn Fn(&str) -> Option<Map<String, Json>>) -> Json {
    if let Some(children) = inv["all"]["children"].as_object_mut() {
        for group in children.values_mut() {
            if let Some(hosts) = group["hosts"].as_object_mut() {
                for (name, vars) in hosts.iter_mut() {
                    if let (Some(extra), Some(v)) = (conn(name), vars.as_object_mut()) {
                        v.extend(extra);
                    }
                }
            }
        }
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_and_im_variables() {
        let ctx = json!({
            "cluster": {"name": "c1"},
            "front": {"name": "front", "system": "front", "number": 0},
            "systems": {"front": [{}], "wn": [{}, {}]},
            "nodes": [
                {"name": "front", "system": "front", "number": 0, "ip": "10.0.0.2",
                 "public_ip": null, "addresses": ["10.0.0.2"],
                 "features": {"net_interface.0.dns_name": "front.example.org"}},
                {"name": "wn-1", "system": "wn", "number": 1, "ip": "10.0.0.3",
                 "public_ip": null, "addresses": ["10.0.0.3"], "features": {}},
            ]
        });
        let inv = inventory(&ctx, &|n| (format!("id-{n}"), "Local".into()));
        let all = &inv["all"];
        assert_eq!(all["vars"]["IM_MASTER_HOSTNAME"], "front");
        assert_eq!(all["vars"]["IM_MASTER_FQDN"], "front.example.org");
        assert_eq!(all["vars"]["IM_INFRASTRUCTURE_ID"], "c1");
        assert_eq!(all["vars"]["IM_WN_NUM_VMS"], "2");
        let f = &all["children"]["front"]["hosts"]["front"];
        assert_eq!(f["IM_NODE_PUBLIC_IP"], "10.0.0.2");
        assert_eq!(f["IM_NODE_DOMAIN"], "example.org");
        let w = &all["children"]["wn"]["hosts"]["wn-1"];
        assert_eq!(w["IM_NODE_FQDN"], "wn-1.localdomain");
        assert_eq!(w["IM_NODE_NUM"], "1");
        assert_eq!(w["IM_NODE_VMID"], "id-wn-1");
        assert_eq!(w["IM_NODE_NET_0_IP"], "10.0.0.3");
        assert!(w.get("IM_NODE_PUBLIC_IP").is_none());
        let inv = with_connections(inv, &|n| {
            let mut m = Map::new();
            m.insert("ansible_host".into(), json!(format!("h-{n}")));
            Some(m)
        });
        assert_eq!(
            inv["all"]["children"]["wn"]["hosts"]["wn-1"]["ansible_host"],
            "h-wn-1"
        );
    }
}
