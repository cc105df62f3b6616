//! Which Ansible nubo runs: `ansible-playbook` from PATH when its
//! ansible-core is recent enough (2.15 or later), else a pinned
//! ansible-core installed once into nubo's data directory, in a Python
//! virtual environment of its own (`<state>/ansible-install/core-VERSION/`,
//! `python3 -m venv` then its `pip install ansible-core==VERSION`).
//!
//! `contextualize (option ansible_version = 'X')` is honoured as IM
//! honours it: IM installs the `ansible` package (the community bundle,
//! which brings its own ansible-core) at version X on the master node
//! (`conf-ansible.yml`: `ansible={{ ANSIBLE_VERSION }}`). nubo then uses
//! PATH's Ansible only when `ansible-community --version` says X, else
//! installs `ansible==X` the same way into `ansible-X/`. The
//! install runs under a lock file, so two nubo processes do not install
//! at once; one that fails removes its half-made directory. pip's own
//! environment (`PIP_INDEX_URL`, `PIP_NO_INDEX`, `PIP_FIND_LINKS`, proxies)
//! applies. `ansible-playbook`, `ansible-vault` and `ansible-galaxy` are
//! then run from there ([`program`]).

use crate::process::{ProcessError, Program};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ansible-core installed when PATH has none recent enough.
pub const PINNED: &str = "2.19.14";
/// The oldest ansible-core taken from PATH.
const MIN: (u32, u32) = (2, 15);

const VERSION_TIMEOUT: Duration = Duration::from_secs(60);
const VENV_TIMEOUT: Duration = Duration::from_secs(300);
const PIP_TIMEOUT: Duration = Duration::from_secs(1200);
/// Written last: its presence says the install finished.
const DONE: &str = ".nubo-installed";

/// The Ansible a launch runs, as [`ensure`] chose it: an installed one's
/// `bin` directory, or PATH's. Passed to each run (not kept process-wide),
/// so launches in one process (`nubo serve`) may use different ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tools {
    bin: Option<PathBuf>,
}

impl Tools {
    /// The Ansible on PATH.
    pub fn on_path() -> Tools {
        Tools { bin: None }
    }

    fn installed(bin: PathBuf) -> Tools {
        Tools { bin: Some(bin) }
    }

    /// The program to run for `name` (`ansible-playbook`, `ansible-vault`,
    /// `ansible-galaxy`): the installed one's, else the name, found on
    /// PATH.
    pub fn program(&self, name: &str) -> PathBuf {
        match &self.bin {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("`ansible_version` '{0}' is not a version (digits and dots, as `9.1.0`)")]
    BadVersion(String),
    #[error(
        "installing {package} {version} into {} failed: {detail}\n\
         (to install it by hand: `python3 -m venv {dir} && {dir}/bin/pip install {package}=={version}`, \
         or put ansible-core 2.15 or later on PATH: `pip install ansible-core`)",
        dir.display(), dir = dir.display()
    )]
    Failed {
        package: &'static str,
        version: String,
        dir: PathBuf,
        detail: String,
    },
}

/// ansible-core's version in `ansible-playbook --version`'s first line
/// (`ansible-playbook [core 2.19.14]`).
pub fn core_version(text: &str) -> Option<(u32, u32, u32)> {
    let re = regex::Regex::new(r"\[core (\d+)\.(\d+)(?:\.(\d+))?").ok()?;
    let c = re.captures(text)?;
    let n = |i: usize| c.get(i).and_then(|m| m.as_str().parse().ok());
    Some((n(1)?, n(2)?, n(3).unwrap_or(0)))
}

/// Whether a PATH ansible-core of `found` version will do.
pub fn fits(found: (u32, u32, u32)) -> bool {
    (found.0, found.1) >= MIN
}

/// Where `package` (`ansible-core`, `ansible`) `version` is installed
/// under `base` (`Env::ansible_install_dir`).
pub fn install_dir(base: &Path, package: &str, version: &str) -> PathBuf {
    let short = package.strip_suffix("-core").map_or(package, |_| "core");
    base.join(format!("{short}-{version}"))
}

/// The `ansible` package's version in `ansible-community --version`
/// (`Ansible community version 9.1.0`).
pub fn community_version(text: &str) -> Option<&str> {
    text.split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
}

fn valid_version(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit())
        && v.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Chooses the Ansible to run: PATH's when it fits, else the pinned
/// ansible-core under `base`, installed first if it is not there yet
/// (`note` says so, in one line). With `wanted` (the `ansible_version`
/// option), the `ansible` package of that version instead.
pub async fn ensure(
    base: &Path,
    wanted: Option<&str>,
    note: impl Fn(String),
) -> Result<Tools, InstallError> {
    if let Some(v) = wanted {
        return ensure_community(base, v, &note).await;
    }
    let on_path = Program::new("ansible-playbook", VERSION_TIMEOUT)
        .arg("--version")
        .output()
        .await;
    let found = match &on_path {
        Ok(o) if o.success() => core_version(&o.stdout_text()),
        _ => None,
    };
    if found.is_some_and(fits) {
        return Ok(Tools::on_path());
    }
    let dir = install_dir(base, "ansible-core", PINNED);
    let why = match found {
        Some((a, b, c)) => format!("ansible-core {a}.{b}.{c} on PATH is older than 2.15"),
        None => "`ansible-playbook` is not on PATH".to_string(),
    };
    install(&dir, "ansible-core", PINNED, &why, &note).await?;
    Ok(Tools::installed(dir.join("bin")))
}

async fn ensure_community(
    base: &Path,
    version: &str,
    note: &impl Fn(String),
) -> Result<Tools, InstallError> {
    if !valid_version(version) {
        return Err(InstallError::BadVersion(version.to_string()));
    }
    let on_path = Program::new("ansible-community", VERSION_TIMEOUT)
        .arg("--version")
        .output()
        .await;
    let found = match &on_path {
        Ok(o) if o.success() => community_version(&o.stdout_text()).map(str::to_string),
        _ => None,
    };
    if found.as_deref() == Some(version) {
        return Ok(Tools::on_path());
    }
    let why = match found {
        Some(f) => format!("`ansible_version` is {version}, Ansible {f} is on PATH"),
        None => format!("`ansible_version` is {version}, no Ansible community package on PATH"),
    };
    let dir = install_dir(base, "ansible", version);
    install(&dir, "ansible", version, &why, note).await?;
    Ok(Tools::installed(dir.join("bin")))
}

/// Installs ansible-core `version` into `dir` unless a finished install
/// is there, under `dir`'s lock file.
async fn install(
    dir: &Path,
    package: &'static str,
    version: &str,
    why: &str,
    note: &impl Fn(String),
) -> Result<(), InstallError> {
    let fail = |detail: String| InstallError::Failed {
        package,
        version: version.to_string(),
        dir: dir.to_path_buf(),
        detail,
    };
    let lock_path = {
        let mut p = dir.as_os_str().to_owned();
        p.push(".lock");
        PathBuf::from(p)
    };
    let done = dir.join(DONE);
    let lock = {
        let path = lock_path.clone();
        tokio::task::spawn_blocking(move || lock_file(&path))
            .await
            .map_err(|e| fail(e.to_string()))?
            .map_err(|e| fail(format!("{}: {e}", lock_path.display())))?
    };
    if exists(&done).await {
        drop(lock);
        return Ok(());
    }
    note(format!(
        "installing {package} {version} into {} ({why}; once)",
        dir.display()
    ));
    let result = install_unlocked(dir, package, version).await.map_err(fail);
    let result = match result {
        Ok(()) => {
            let done = done.clone();
            tokio::task::spawn_blocking(move || std::fs::write(&done, b"").map_err(|e| (done, e)))
                .await
                .map_err(|e| fail(e.to_string()))
                .and_then(|r| r.map_err(|(p, e)| fail(format!("{}: {e}", p.display()))))
        }
        Err(e) => Err(e),
    };
    if result.is_err() {
        let d = dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d)).await;
    }
    drop(lock);
    result
}

async fn install_unlocked(dir: &Path, package: &str, version: &str) -> Result<(), String> {
    {
        // A half-made directory left by a process that was killed.
        let d = dir.to_path_buf();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(d)).await;
    }
    let run = |p: Program| async move {
        p.run().await.map_err(|e| match e {
            ProcessError::NotFound { .. } => {
                format!("{e} (python3 with its venv module is needed to install ansible-core)")
            }
            e => e.to_string(),
        })
    };
    run(Program::new("python3", VENV_TIMEOUT)
        .args(["-m", "venv"])
        .arg(dir)
        .package("python3-venv"))
    .await?;
    run(Program::new(dir.join("bin/pip"), PIP_TIMEOUT)
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .arg(format!("{package}=={version}")))
    .await?;
    Ok(())
}

async fn exists(p: &Path) -> bool {
    tokio::fs::metadata(p).await.is_ok()
}

/// Opens `path` (made with its parents) and takes its exclusive lock,
/// waiting for another process holding it; the lock goes with the file.
fn lock_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    loop {
        // SAFETY: flock on a descriptor this function owns.
        let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_core_version() {
        let text = "ansible-playbook [core 2.19.14]\n  config file = None\n";
        assert_eq!(core_version(text), Some((2, 19, 14)));
        assert_eq!(core_version("ansible-playbook [core 2.9]"), Some((2, 9, 0)));
        assert_eq!(core_version("ansible-playbook 2.9.27"), None);
        assert!(fits((2, 15, 0)));
        assert!(fits((2, 19, 14)));
        assert!(!fits((2, 14, 9)));
        assert!(!fits((2, 9, 0)));
    }

    #[test]
    fn reads_the_community_version_and_checks_the_option() {
        assert_eq!(
            community_version("Ansible community version 9.1.0\n"),
            Some("9.1.0")
        );
        assert_eq!(community_version("nothing here"), None);
        assert!(valid_version("9.1.0"));
        assert!(valid_version("2.9"));
        assert!(!valid_version("9.1.0 --index-url=http://x"));
        assert!(!valid_version("latest"));
        assert!(!valid_version("9..1"));
        let base = Path::new("/s/ansible-install");
        assert_eq!(
            install_dir(base, "ansible-core", "2.19.14"),
            base.join("core-2.19.14")
        );
        assert_eq!(
            install_dir(base, "ansible", "9.1.0"),
            base.join("ansible-9.1.0")
        );
    }
}
