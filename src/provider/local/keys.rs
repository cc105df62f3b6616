//! The cluster's two SSH key pairs, made once with `ssh-keygen`.
//!
//! - the user key (`id_ed25519`): nubo logs in as root with it; its public
//!   half is every node's only authorized key;
//! - the host key (`ssh_host_ed25519_key`): every node's sshd presents it, so
//!   one known-hosts line covers the whole cluster.
//!
//! Private halves are mode 0600, in the cluster directory (mode 0700).

use std::path::{Path, PathBuf};

use super::cmd;
use super::error::LocalError;

/// The public half's path: `KEY.pub`.
pub fn public_path(private: &Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Makes the key pair unless both halves are there (a half-made pair, from
/// a crash, is made anew). Blocks while `ssh-keygen` runs (through the
/// process runner, at most 30 s): async callers use
/// `tokio::task::spawn_blocking`.
pub fn ensure_keypair(private: &Path, comment: &str) -> Result<(), LocalError> {
    let public = public_path(private);
    let nonempty = |p: &Path| p.metadata().is_ok_and(|m| m.len() > 0);
    if nonempty(private) && nonempty(&public) {
        return Ok(());
    }
    for p in [private, &public] {
        match std::fs::remove_file(p) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LocalError::io("cannot remove", p, e));
            }
            _ => {}
        }
    }
    let path = private.to_str().ok_or_else(|| LocalError::BadRoot {
        path: private.to_path_buf(),
        why: "it is not UTF-8",
    })?;
    cmd::run(
        "making an SSH key",
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
        None,
    )?;
    // ssh-keygen makes it 0600 already; say so whatever its umask.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(private, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| LocalError::io("cannot set the mode of", private, e))
}

/// `TYPE BASE64` of a public key file, without its comment.
pub fn public_key(private: &Path) -> Result<String, LocalError> {
    let public = public_path(private);
    let text = std::fs::read_to_string(&public)
        .map_err(|e| LocalError::io("cannot read public key", &public, e))?;
    let mut parts = text.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(kind), Some(b64)) => Ok(format!("{kind} {b64}")),
        _ => Err(LocalError::io(
            "malformed public key",
            &public,
            std::io::Error::new(std::io::ErrorKind::InvalidData, "expected `TYPE BASE64`"),
        )),
    }
}
