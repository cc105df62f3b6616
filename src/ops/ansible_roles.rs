//! The Ansible roles a cluster's applications name, made available before
//! the first play: Galaxy roles installed with `ansible-galaxy` into
//! nubo's cache (once per name and version; offline once cached), roles
//! from git taken from the git cache at their recorded commit
//! (`GitRecipes::role_tree`). Each play sees them through a `roles/`
//! directory of links.

use crate::process::{ProcessError, Program};
use crate::recipe::playbook::Role;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one `ansible-galaxy role install` may take.
const GALAXY_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("cannot tell where to cache Ansible roles: set XDG_CACHE_HOME (or HOME)")]
    NoCacheDir,
    #[error(
        "Ansible role `{name}` is not in the cache ({}) and nubo is offline (NUBO_OFFLINE=1); {HOW}",
        dir.display()
    )]
    Offline { name: String, dir: PathBuf },
    #[error("Ansible role `{name}` cannot be installed from Ansible Galaxy: {detail}; {HOW}")]
    Fetch { name: String, detail: String },
    #[error("Ansible role `{name}`: {}: {source}", path.display())]
    Io {
        name: String,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to provide a role nubo cannot fetch.
const HOW: &str = "give it from a git repository instead \
    (`disk.0.applications contains (name = 'ansible.modules.git+URL|NAME')`, \
    a local one as `git+file:///PATH|NAME`), or install it into that cache directory yourself \
    (`ansible-galaxy role install -p DIR NAME`)";

/// `$XDG_CACHE_HOME/nubo/galaxy`, else `~/.cache/nubo/galaxy`.
pub fn galaxy_cache() -> Option<PathBuf> {
    super::git::GitCache::default_dir().and_then(|git| git.parent().map(|p| p.join("galaxy")))
}

/// The directory a Galaxy role is installed in (its `-p` directory).
fn galaxy_dir(cache: &Path, name: &str, version: Option<&str>) -> PathBuf {
    cache.join(format!("{name}@{}", version.unwrap_or("latest")))
}

/// Where a role's files are.
pub fn role_path(cache: &Path, role: &Role) -> PathBuf {
    match role {
        Role::Galaxy { name, version } => galaxy_dir(cache, name, version.as_deref()).join(name),
        Role::Git { tree, .. } => tree.clone(),
    }
}

/// Installs every Galaxy role not cached yet (roles from git are already
/// in the git cache). Called at launch and reconfigure, before any VM is
/// made.
pub async fn install(
    tools: &super::ansible_install::Tools,
    roles: &[Role],
) -> Result<(), RoleError> {
    if !roles.iter().any(|r| matches!(r, Role::Galaxy { .. })) {
        return Ok(());
    }
    let cache = galaxy_cache().ok_or(RoleError::NoCacheDir)?;
    let offline = std::env::var_os("NUBO_OFFLINE").is_some_and(|v| v == "1");
    for role in roles {
        let Role::Galaxy { name, version } = role else {
            continue;
        };
        let dir = galaxy_dir(&cache, name, version.as_deref());
        if dir.join(name).is_dir() {
            continue;
        }
        if offline {
            return Err(RoleError::Offline {
                name: name.clone(),
                dir,
            });
        }
        let spec = match version {
            Some(v) => format!("{name},{v}"),
            None => name.clone(),
        };
        let out = Program::new(tools.program("ansible-galaxy"), GALAXY_TIMEOUT)
            .args(["role", "install", "--force", "-p"])
            .arg(&dir)
            .arg(&spec)
            .output()
            .await;
        let detail = match out {
            Ok(o) if o.success() && dir.join(name).is_dir() => continue,
            Ok(o) => {
                let text = format!("{}{}", o.stdout_text(), o.stderr_text());
                let last: Vec<&str> = text
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .rev()
                    .take(3)
                    .collect();
                last.into_iter().rev().collect::<Vec<_>>().join(" / ")
            }
            Err(ProcessError::NotFound { .. }) => {
                format!(
                    "`ansible-galaxy` is not on PATH: {}",
                    super::ansible::INSTALL
                )
            }
            Err(e) => e.to_string(),
        };
        // Nothing half-installed stays in the cache.
        let _ = std::fs::remove_dir_all(&dir);
        return Err(RoleError::Fetch {
            name: name.clone(),
            detail,
        });
    }
    Ok(())
}

/// A `roles/` directory of links to every role, for `ANSIBLE_ROLES_PATH`.
pub fn link_all(roles: &[Role], dir: &Path) -> Result<(), RoleError> {
    let io = |name: &str, path: &Path, source| RoleError::Io {
        name: name.to_string(),
        path: path.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(|e| io("", dir, e))?;
    let cache = galaxy_cache();
    for role in roles {
        let target = match (role, &cache) {
            (Role::Git { .. }, _) => role_path(Path::new(""), role),
            (Role::Galaxy { .. }, Some(c)) => role_path(c, role),
            (Role::Galaxy { .. }, None) => return Err(RoleError::NoCacheDir),
        };
        let link = dir.join(role.name());
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).map_err(|e| io(role.name(), &link, e))?;
    }
    Ok(())
}
