//! How nubo marks what it makes on EC2: tags on every instance, volume,
//! security group and key pair (`nubo:cluster`, and on instances
//! `nubo:node`, `nubo:token`, `nubo:ssh-user`; `Name` everywhere), the
//! names of the cluster's security group and key pair, and the
//! `ClientToken` of a RunInstances call.

/// The cluster a resource belongs to: what `destroy --force` looks for.
pub const TAG_CLUSTER: &str = "nubo:cluster";
/// The node an instance was made for.
pub const TAG_NODE: &str = "nubo:node";
/// The intent token it was made with (found again after a crash).
pub const TAG_TOKEN: &str = "nubo:token";
/// The user to log in as.
pub const TAG_SSH_USER: &str = "nubo:ssh-user";
/// EC2's display name.
pub const TAG_NAME: &str = "Name";
/// The prefix of the tags (`nubo:batch:0`, `nubo:batch:1`, ...) that
/// instances made by one call carry in place of `nubo:node` and
/// `nubo:token`: the call's `node=token` pairs, comma-separated, in
/// launch-index order, split across as many tags as EC2's 256-character
/// values need.
pub const TAG_BATCH: &str = "nubo:batch:";
/// The longest tag value EC2 takes.
const TAG_VALUE_MAX: usize = 256;
/// The most `nubo:batch:K` tags on one instance (EC2 allows 50 tags in
/// all).
pub const MAX_BATCH_TAGS: usize = 40;

/// The `nubo:batch:K` tags of a call making instances for `pairs`
/// (node, token) in this order; `None` when they do not fit in
/// [`MAX_BATCH_TAGS`] tags (or a node name holds `,` or `=`).
pub fn batch_tags(pairs: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
    let mut values: Vec<String> = Vec::new();
    for (node, token) in pairs {
        if node.contains([',', '=']) || token.contains([',', '=']) {
            return None;
        }
        let pair = format!("{node}={token}");
        if pair.len() > TAG_VALUE_MAX {
            return None;
        }
        match values.last_mut() {
            Some(v) if v.len() + 1 + pair.len() <= TAG_VALUE_MAX => {
                v.push(',');
                v.push_str(&pair);
            }
            _ => values.push(pair),
        }
    }
    (values.len() <= MAX_BATCH_TAGS).then(|| {
        values
            .into_iter()
            .enumerate()
            .map(|(k, v)| (format!("{TAG_BATCH}{k}"), v))
            .collect()
    })
}

/// The (node, token) of the instance at `index` of a call, read from its
/// `nubo:batch:K` tags.
pub fn batch_entry<'a>(
    tags: impl IntoIterator<Item = (&'a str, &'a str)>,
    index: usize,
) -> Option<(String, String)> {
    let mut parts: Vec<(usize, &str)> = tags
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(TAG_BATCH)?.parse().ok()?, v)))
        .collect();
    parts.sort();
    let joined = parts.iter().map(|(_, v)| *v).collect::<Vec<_>>().join(",");
    let pair = joined.split(',').nth(index)?;
    let (node, token) = pair.split_once('=')?;
    (!node.is_empty() && !token.is_empty()).then(|| (node.to_string(), token.to_string()))
}

/// An instance's `Name`: `nubo-CLUSTER-NODE`.
pub fn instance_name(cluster: &str, node: &str) -> String {
    format!("nubo-{cluster}-{node}")
}

/// The cluster's security group (one per VPC): `nubo-CLUSTER`.
pub fn group_name(cluster: &str) -> String {
    format!("nubo-{cluster}")
}

/// The key pair holding the cluster's public key: `nubo-CLUSTER-HASH`, the
/// hash of the key so that a key pair left over with another key is never
/// taken for this one.
pub fn key_name(cluster: &str, public_key: &str) -> String {
    format!(
        "nubo-{cluster}-{:08x}",
        fnv1a(public_key.trim().as_bytes(), FNV_OFFSET) as u32
    )
}

/// The `ClientToken` of the RunInstances call for one intent: at most 64
/// ASCII characters, the same for the same (cluster, node, token), so
/// EC2 answers a retried call with the instance the first one made.
pub fn client_token(cluster: &str, node: &str, token: &str) -> String {
    let mut data = Vec::new();
    for part in [cluster, node, token] {
        data.extend_from_slice(&(part.len() as u64).to_le_bytes());
        data.extend_from_slice(part.as_bytes());
    }
    let a = fnv1a(&data, FNV_OFFSET);
    let b = fnv1a(&data, FNV_OFFSET ^ 0x9e37_79b9_7f4a_7c15);
    format!("nubo-{a:016x}{b:016x}")
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, 64 bits: stable across builds and platforms (std's hashers
/// promise neither), and nothing here needs it to resist an adversary.
fn fnv1a(data: &[u8], offset: u64) -> u64 {
    let mut h = offset;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_tokens() {
        let t = client_token("c1", "wn-1", "tok");
        assert_eq!(t, client_token("c1", "wn-1", "tok"), "stable");
        assert!(t.len() <= 64 && t.is_ascii(), "{t}");
        assert_ne!(t, client_token("c1", "wn-2", "tok"));
        assert_ne!(t, client_token("c1", "wn-1", "tok2"));
        // Parts are length-prefixed: moving a character between them
        // changes the token.
        assert_ne!(
            client_token("c1", "wn-1", "x"),
            client_token("c1w", "n-1", "x")
        );
        // A known value, so a change of the function is noticed (a
        // changed token would make a retried launch's calls differ).
        assert_eq!(fnv1a(b"a", FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn batch_tags_round_trip() {
        let nodes: Vec<String> = (1..=50).map(|i| format!("wn-{i}")).collect();
        let pairs: Vec<(&str, &str)> = nodes
            .iter()
            .map(|n| (n.as_str(), "01JDXQ7ZK8Y3M5N2P4R6S8T0VW"))
            .collect();
        let tags = batch_tags(&pairs).unwrap();
        assert!(tags.len() > 1 && tags.len() <= MAX_BATCH_TAGS, "{tags:?}");
        assert!(tags.iter().all(|(_, v)| v.len() <= TAG_VALUE_MAX));
        // Read back in any tag order, with other tags beside them.
        let mut all: Vec<(&str, &str)> = tags
            .iter()
            .rev()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.push((TAG_CLUSTER, "c1"));
        for (i, n) in nodes.iter().enumerate() {
            assert_eq!(
                batch_entry(all.iter().copied(), i),
                Some((n.clone(), "01JDXQ7ZK8Y3M5N2P4R6S8T0VW".to_string()))
            );
        }
        assert_eq!(batch_entry(all.iter().copied(), 50), None);
        assert_eq!(batch_entry([(TAG_CLUSTER, "c1")], 0), None);
        assert_eq!(batch_tags(&[("a,b", "t")]), None);
        let long = "x".repeat(300);
        assert_eq!(batch_tags(&[(long.as_str(), "t")]), None);
        let many: Vec<(&str, &str)> = vec![(&nodes[0], "01JDXQ7ZK8Y3M5N2P4R6S8T0VW"); 400];
        assert_eq!(batch_tags(&many), None, "more than 40 tags");
    }

    #[test]
    fn names() {
        assert_eq!(instance_name("c1", "front"), "nubo-c1-front");
        assert_eq!(group_name("c1"), "nubo-c1");
        let k = key_name("c1", "ssh-ed25519 AAAA nubo\n");
        assert_eq!(k, key_name("c1", "ssh-ed25519 AAAA nubo"));
        assert_ne!(k, key_name("c1", "ssh-ed25519 BBBB nubo"));
        assert!(k.starts_with("nubo-c1-") && k.len() == "nubo-c1-".len() + 8);
    }
}
