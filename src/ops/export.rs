//! A cluster handed over whole: its records ([`StateStore::export_cluster`])
//! with its SSH key and pinned host keys, as one JSON value; that value
//! recorded again under the same name with the importer's clouds; and a
//! cluster forgotten here without touching its VMs. `nubo serve` answers
//! IM's export (`GET .../data`, `delete`) and import (`PUT
//! /infrastructures`) with these. The cloud credentials it was launched
//! with never travel. Blocking.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use super::env::{AUTH_SECRET, Env, EnvError};
use crate::state::{StateError, VmState};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the cluster's VM {node} is on cloud `{provider}`, which the importing credentials do not name: add a line with `id = {provider}`"
    )]
    UnknownCloud { node: String, provider: String },
    #[error("not a nubo export: {0}")]
    Malformed(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_optional(path: &Path) -> Result<Option<String>, ExportError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

fn write_private(path: &Path, text: &str, mode: u32) -> Result<(), ExportError> {
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(mode)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

/// Cluster `name` as one JSON value: its records without the cloud
/// credentials, its SSH key pair and known_hosts file.
pub fn export(env: &Env, name: &str) -> Result<serde_json::Value, ExportError> {
    let mut data = env.store.export_cluster(name, &[AUTH_SECRET])?;
    let key = super::keys::cluster_key_path(env, name);
    let mut files = serde_json::Map::new();
    if let Some(t) = read_optional(&key)? {
        files.insert("key".into(), t.into());
    }
    if let Some(t) = read_optional(&key.with_extension("pub"))? {
        files.insert("key.pub".into(), t.into());
    }
    if let Some(t) = read_optional(&env.known_hosts_path(name))? {
        files.insert("known_hosts".into(), t.into());
    }
    data["files"] = files.into();
    Ok(data)
}

/// Records an [`export`]ed cluster here under its own name, with `env`'s
/// auth as its clouds (each VM's cloud must be among them). Returns the
/// name. Nothing is left recorded when it fails.
pub fn import(env: &Env, data: &serde_json::Value) -> Result<String, ExportError> {
    let vms = data
        .pointer("/tables/vms")
        .and_then(|v| v.as_array())
        .ok_or_else(|| ExportError::Malformed("no VM table".into()))?;
    for vm in vms {
        let provider = vm["provider"].as_str().unwrap_or_default();
        let destroyed = vm["state"].as_str() == Some(VmState::Destroyed.as_str());
        if !destroyed && env.providers.by_id(provider).is_none() {
            return Err(ExportError::UnknownCloud {
                node: vm["node"].as_str().unwrap_or("?").to_string(),
                provider: provider.to_string(),
            });
        }
    }
    let name = env.store.import_cluster(data)?;
    let files = || -> Result<(), ExportError> {
        let key = super::keys::cluster_key_path(env, &name);
        if let Some(t) = data.pointer("/files/key").and_then(|v| v.as_str()) {
            write_private(&key, t, 0o600)?;
        }
        if let Some(t) = data.pointer("/files/key.pub").and_then(|v| v.as_str()) {
            write_private(&key.with_extension("pub"), t, 0o644)?;
        }
        if let Some(t) = data.pointer("/files/known_hosts").and_then(|v| v.as_str()) {
            write_private(&env.known_hosts_path(&name), t, 0o600)?;
        }
        env.record_auth(&name)?;
        Ok(())
    };
    if let Err(e) = files() {
        let _ = forget(env, &name);
        return Err(e);
    }
    Ok(name)
}

/// Forgets cluster `name` here (its records, key and known_hosts) without
/// touching its VMs: what IM's `data?delete=yes` does after an export.
pub fn forget(env: &Env, name: &str) -> Result<(), ExportError> {
    env.store.purge_cluster(name)?;
    let dir = super::keys::key_dir(env, name);
    for path in [dir, env.known_hosts_path(name), env.ansible_dir(name)] {
        let r = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&path)(e)),
            _ => {}
        }
    }
    Ok(())
}
