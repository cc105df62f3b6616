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
    fn names() {
        assert_eq!(instance_name("c1", "front"), "nubo-c1-front");
        assert_eq!(group_name("c1"), "nubo-c1");
        let k = key_name("c1", "ssh-ed25519 AAAA nubo\n");
        assert_eq!(k, key_name("c1", "ssh-ed25519 AAAA nubo"));
        assert_ne!(k, key_name("c1", "ssh-ed25519 BBBB nubo"));
        assert!(k.starts_with("nubo-c1-") && k.len() == "nubo-c1-".len() + 8);
    }
}
