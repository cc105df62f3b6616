//! The cluster's SSH key, made at its first launch and kept in the state
//! directory (0600): clouds inject its public half, recipes get it as
//! `ssh.public_key` (the local provider logs in as root with a key of its
//! own).

use super::env::Env;
use crate::provider::local::LocalError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot create the key directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the cluster's SSH key: {0}")]
    Key(#[from] LocalError),
}

/// Makes the key unless it is there, and returns its public half and the
/// private key's path.
pub fn cluster_key(env: &Env, name: &str) -> Result<(String, PathBuf), KeyError> {
    let path = cluster_key_path(env, name);
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| KeyError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
    }
    crate::provider::local::keys::ensure_keypair(&path, &format!("nubo-{name}"))?;
    let public = crate::provider::local::keys::public_key(&path)?;
    Ok((public, path))
}

/// The public half of the cluster's key, if it was made.
pub fn public_key(env: &Env, name: &str) -> Option<String> {
    crate::provider::local::keys::public_key(&cluster_key_path(env, name)).ok()
}

pub fn cluster_key_path(env: &Env, name: &str) -> PathBuf {
    env.store.dir().join("keys").join(name).join("id_ed25519")
}

/// The directory of the cluster's key, removed by destroy.
pub fn key_dir(env: &Env, name: &str) -> PathBuf {
    cluster_key_path(env, name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}
