//! The cloud-init user data a server boots with: its host name, the login
//! user with nubo's public key and password-less sudo (as IM's cloud-init
//! does for `cloudadm`), or root's key when the user is root. Values are
//! written as JSON strings, which YAML reads as they are.

/// The `#cloud-config` document.
pub fn cloud_config(hostname: &str, user: &str, public_key: &str) -> String {
    let q = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let key = q(public_key.trim());
    let mut out = String::from("#cloud-config\n");
    out.push_str(&format!("hostname: {}\n", q(hostname)));
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

/// Standard base64 with padding (RFC 4648), as Nova takes `user_data`.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
    }

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
    }
}
