//! Running one configure written for Ansible on the nodes of one step:
//! the playbook (IM's header merged into the body's plays,
//! `recipe::playbook`, for those nodes) and the inventory
//! (`recipe::inventory`, with how to reach each node and `IM_HOST` set on
//! each node to itself, as IM's contextualization agent sets it for each
//! VM) written into a private working directory, one `ansible-playbook`
//! run from the machine running nubo. Its output goes to the caller as
//! it comes.

use crate::recipe::playbook;
use serde_json::Value as Json;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// How to get Ansible, for messages.
pub const INSTALL: &str = "install ansible-core 2.15 or later (`pip install ansible-core`, \
    or `pipx install ansible-core`, or your system's `ansible-core` package) so that \
    `ansible-playbook` is on PATH";

/// How long `ansible-vault` may take to decrypt one body.
const VAULT_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum AnsibleError {
    #[error("`{program}` is not on PATH: {INSTALL}")]
    NotInstalled { program: &'static str },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "configure `{configure}` is encrypted with Ansible Vault: give its password to launch with `--vault-password-file FILE`"
    )]
    NoVaultPassword { configure: String },
    #[error("configure `{configure}` cannot be decrypted with the vault password given: {detail}")]
    Vault { configure: String, detail: String },
    #[error("configure `{configure}`: {detail}")]
    Body { configure: String, detail: String },
    #[error("`ansible-playbook` could not be run to its end: {0}")]
    Run(String),
    #[error(transparent)]
    Install(Box<super::ansible_install::InstallError>),
}

impl From<super::ansible_install::InstallError> for AnsibleError {
    fn from(e: super::ansible_install::InstallError) -> Self {
        AnsibleError::Install(Box::new(e))
    }
}

/// The front-end a private node is reached through.
pub struct Jump<'a> {
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub key: &'a Path,
}

/// `ansible_ssh_common_args` for a node: the cluster's known_hosts file
/// and no other, strict host key checking, the node's key only; through
/// `jump` (a `ProxyCommand` with the same checks) for a node with only a
/// private address, as `nubo ssh` reaches it.
pub fn ssh_common_args(known_hosts: &str, key: &Path, jump: Option<Jump<'_>>) -> String {
    let options = |key: &Path| {
        format!(
            "-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes \
             -o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR -i {}",
            key.display()
        )
    };
    let mut out = options(key);
    if let Some(j) = jump {
        out.push_str(&format!(
            " -o ProxyCommand=\"ssh {} -p {} -W %h:%p {}@{}\"",
            options(j.key),
            j.port,
            j.user,
            j.host
        ));
    }
    out
}

/// One `ansible-playbook` run.
pub struct Job<'a> {
    /// A directory of its own, made private, removed afterwards.
    pub workdir: PathBuf,
    pub inventory: &'a Json,
    pub playbook: &'a Json,
    /// The `roles/` links (`ansible_roles::link_all`), if any.
    pub roles_dir: Option<&'a Path>,
    /// Facts gathered on each node, kept for plays on the others.
    pub facts_dir: &'a Path,
    pub vault_password: Option<&'a Path>,
    /// Hosts worked on at once (`ANSIBLE_FORKS`): every node of the run.
    pub forks: usize,
    /// The Ansible to run.
    pub tools: &'a super::ansible_install::Tools,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AnsibleError + '_ {
    move |source| AnsibleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &[u8]) -> Result<(), AnsibleError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io(path))?;
    f.write_all(text).map_err(io(path))
}

/// A directory readable by its owner only (made with its parents).
pub fn private_dir(dir: &Path) -> Result<(), AnsibleError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io(dir))
}

/// The plaintext of a Vault body, decrypted with `ansible-vault`.
pub async fn decrypt(
    tools: &super::ansible_install::Tools,
    configure: &str,
    text: &str,
    password: Option<&Path>,
) -> Result<String, AnsibleError> {
    let Some(password) = password else {
        return Err(AnsibleError::NoVaultPassword {
            configure: configure.to_string(),
        });
    };
    let out = crate::process::Program::new(tools.program("ansible-vault"), VAULT_TIMEOUT)
        .args(["decrypt", "--output", "-", "--vault-password-file"])
        .arg(password)
        .arg("-")
        .stdin(text.trim().as_bytes().to_vec())
        .output()
        .await;
    match out {
        Ok(o) if o.success() => Ok(o.stdout_text()),
        Ok(o) => Err(AnsibleError::Vault {
            configure: configure.to_string(),
            detail: o.stderr_text().trim().to_string(),
        }),
        Err(crate::process::ProcessError::NotFound { .. }) => Err(AnsibleError::NotInstalled {
            program: "ansible-vault",
        }),
        Err(e) => Err(AnsibleError::Vault {
            configure: configure.to_string(),
            detail: e.to_string(),
        }),
    }
}

/// The playbook of a body whose parts are given as plaintext, for the
/// nodes `hosts`.
pub fn playbook_of(
    configure: &str,
    texts: &[String],
    hosts: &[String],
) -> Result<Json, AnsibleError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    playbook::playbook(&refs, &hosts.join(":")).map_err(|detail| AnsibleError::Body {
        configure: configure.to_string(),
        detail,
    })
}

/// Runs the job; `on_output` gets its standard output and error as they
/// come. Returns the exit status (-1 when killed by a signal).
pub async fn run(job: &Job<'_>, mut on_output: impl FnMut(&str)) -> Result<i32, AnsibleError> {
    let inventory = job.workdir.join("inventory.yml");
    let playbook = job.workdir.join("playbook.yml");
    let files = {
        let (workdir, facts) = (job.workdir.clone(), job.facts_dir.to_path_buf());
        let (inv_text, play_text) = (job.inventory.to_string(), job.playbook.to_string());
        let (inv, play) = (inventory.clone(), playbook.clone());
        tokio::task::spawn_blocking(move || {
            private_dir(&workdir)?;
            private_dir(&facts)?;
            write_private(&inv, inv_text.as_bytes())?;
            write_private(&play, play_text.as_bytes())
        })
        .await
        .map_err(|e| AnsibleError::Run(e.to_string()))?
    };
    let result = match files {
        Ok(()) => run_in(job, &inventory, &playbook, &mut on_output).await,
        Err(e) => Err(e),
    };
    let workdir = job.workdir.clone();
    let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(workdir)).await;
    result
}

async fn run_in(
    job: &Job<'_>,
    inventory: &Path,
    playbook: &Path,
    on_output: &mut impl FnMut(&str),
) -> Result<i32, AnsibleError> {
    let mut cmd = tokio::process::Command::new(job.tools.program("ansible-playbook"));
    cmd.arg("-i").arg(inventory);
    if let Some(p) = job.vault_password {
        cmd.arg("--vault-password-file").arg(p);
    }
    cmd.arg(playbook)
        .current_dir(&job.workdir)
        .env("ANSIBLE_HOST_KEY_CHECKING", "True")
        .env("ANSIBLE_RETRY_FILES_ENABLED", "False")
        .env("ANSIBLE_NOCOLOR", "1")
        .env("ANSIBLE_FORCE_COLOR", "0")
        .env("ANSIBLE_PYTHON_INTERPRETER", "auto_silent")
        .env("ANSIBLE_PIPELINING", "True")
        .env("ANSIBLE_STDOUT_CALLBACK", "default")
        .env("ANSIBLE_LOCALHOST_WARNING", "False")
        .env("ANSIBLE_CACHE_PLUGIN", "jsonfile")
        .env("ANSIBLE_CACHE_PLUGIN_CONNECTION", job.facts_dir)
        .env("ANSIBLE_LOCAL_TEMP", job.workdir.join("tmp"))
        .env("PYTHONUNBUFFERED", "1")
        .env("ANSIBLE_FORKS", job.forks.clamp(5, 50).to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(r) = job.roles_dir {
        cmd.env("ANSIBLE_ROLES_PATH", r);
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AnsibleError::NotInstalled {
                program: "ansible-playbook",
            }
        } else {
            AnsibleError::Run(e.to_string())
        }
    })?;
    let (mut out, mut err) = match (child.stdout.take(), child.stderr.take()) {
        (Some(o), Some(e)) => (o, e),
        _ => return Err(AnsibleError::Run("its output pipes were not made".into())),
    };
    let (mut a, mut b) = ([0u8; 8192], [0u8; 8192]);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        tokio::select! {
            r = out.read(&mut a), if out_open => match r {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => on_output(&String::from_utf8_lossy(&a[..n])),
            },
            r = err.read(&mut b), if err_open => match r {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => on_output(&String::from_utf8_lossy(&b[..n])),
            },
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| AnsibleError::Run(e.to_string()))?;
    Ok(status.code().unwrap_or(-1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_nodes_go_through_the_front_end_with_the_same_checks() {
        let direct = ssh_common_args("/s/kh", Path::new("/s/key"), None);
        assert!(direct.contains("-o UserKnownHostsFile=/s/kh"));
        assert!(direct.contains("StrictHostKeyChecking=yes"));
        assert!(direct.contains("-i /s/key"));
        assert!(!direct.contains("ProxyCommand"));
        let through = ssh_common_args(
            "/s/kh",
            Path::new("/s/key"),
            Some(Jump {
                host: "203.0.113.5",
                port: 2222,
                user: "cloudadm",
                key: Path::new("/s/front-key"),
            }),
        );
        let proxy = &through[through.find("ProxyCommand=").unwrap()..];
        assert!(proxy.starts_with("ProxyCommand=\"ssh -o UserKnownHostsFile=/s/kh"));
        assert!(proxy.contains("-i /s/front-key -p 2222 -W %h:%p cloudadm@203.0.113.5\""));
        assert!(proxy.contains("StrictHostKeyChecking=yes"));
    }
}
