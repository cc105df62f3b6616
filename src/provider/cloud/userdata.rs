//! The cloud-init user data a server boots with: its host name, the login
//! user with nubo's public key and password-less sudo (as IM's cloud-init
//! does for `cloudadm`), or root's key when the user is root. Values are
//! written as JSON strings, which YAML reads as they are. OpenStack and
//! EC2 hand it over base64-encoded.
//!
//! User data shared by several servers (EC2 makes identical instances in
//! one call, with one user data) names no host: it keeps cloud-init from
//! setting one (`preserve_hostname`), and nubo names each node over SSH
//! once it runs, as IM's contextualization does.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The `#cloud-config` document of one server, named `hostname`.
pub fn cloud_config(hostname: &str, user: &str, public_key: &str) -> String {
    document(Some(hostname), user, public_key)
}

/// The `#cloud-config` document shared by servers that nubo names itself.
pub fn unnamed(user: &str, public_key: &str) -> String {
    document(None, user, public_key)
}

fn document(hostname: Option<&str>, user: &str, public_key: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let key = q(public_key.trim());
    let mut out = String::from("#cloud-config\n");
    match hostname {
        Some(h) => out.push_str(&format!("hostname: {}\n", q(h))),
        None => out.push_str("preserve_hostname: true\n"),
    }
    if user == "root" {
        out.push_str("disable_root: false\n");
        out.push_str(&format!("ssh_authorized_keys:\n  - {key}\n"));
    } else {
        out.push_str("users:\n  - default\n");
        out.push_str(&format!("  - name: {}\n", q(user)));
        out.push_str("    sudo: \"ALL=(ALL) NOPASSWD:ALL\"\n");
        out.push_str("    shell: /bin/bash\n");
        out.push_str("    lock_passwd: true\n");
        out.push_str(&format!("    ssh_authorized_keys:\n      - {key}\n"));
    }
    out
}

/// The `#cloud-config` document in standard base64 with padding (RFC
/// 4648), as Nova's `user_data` and EC2's `UserData` take it.
pub fn encoded(hostname: &str, user: &str, public_key: &str) -> String {
    STANDARD.encode(cloud_config(hostname, user, public_key))
}

/// [`unnamed`], encoded as [`encoded`] is.
pub fn encoded_unnamed(user: &str, public_key: &str) -> String {
    STANDARD.encode(unnamed(user, public_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_root() {
        let c = cloud_config("front", "cloudadm", "ssh-ed25519 AAAA nubo\n");
        assert!(c.starts_with("#cloud-config\n"));
        assert!(c.contains("hostname: \"front\""));
        assert!(c.contains("  - name: \"cloudadm\""));
        assert!(c.contains("      - \"ssh-ed25519 AAAA nubo\""));
        let r = cloud_config("front", "root", "ssh-ed25519 AAAA nubo");
        assert!(r.contains("disable_root: false"));
        assert!(r.contains("ssh_authorized_keys:\n  - \"ssh-ed25519 AAAA nubo\""));
        assert!(!r.contains("users:"));
        let sent = STANDARD
            .decode(encoded("front", "root", "ssh-ed25519 AAAA nubo"))
            .unwrap();
        assert_eq!(sent, r.as_bytes());
        let u = unnamed("cloudadm", "ssh-ed25519 AAAA nubo");
        assert!(u.contains("preserve_hostname: true\n"), "{u}");
        assert!(!u.contains("hostname: \""), "{u}");
        assert!(u.contains("  - name: \"cloudadm\""), "{u}");
    }
}
