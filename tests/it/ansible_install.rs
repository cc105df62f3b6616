//! Without `ansible-playbook` on PATH, a launch of a cluster with an
//! Ansible configure installs the pinned ansible-core into nubo's data
//! directory first (once), saying so; a failed install names the command
//! and how to install by hand, and leaves no half-made directory. pip
//! installs from the wheels `scripts/install-test-deps.sh` downloads
//! (`PIP_NO_INDEX=1`, `PIP_FIND_LINKS`), never from the Internet. The
//! launch then fails on purpose: its cloud is a closed local port, so no
//! VM is ever made (and root is not needed).

use crate::support::{nubo_in, skip_or_fail};
use std::path::{Path, PathBuf};
use std::process::Output;

/// nubo's pinned ansible-core (src/ops/ansible_install.rs, `PINNED`).
const PINNED: &str = "2.19.14";
/// A PATH with python3 (/usr/bin/python3, with its venv module) and no
/// `ansible-playbook` (pyenv's shims and versions, which have one, left
/// out).
const PATH: &str = "/usr/bin:/bin";

const RADL: &str = "network public (outbound = 'yes')
system front (
  cpu.count >= 1 and memory.size >= 512m and
  net_interface.0.connection = 'public' and
  disk.0.image.url = 'ost://127.0.0.1/ubuntu-22.04' and
  disk.0.os.credentials.username = 'ubuntu'
)
configure front (
@begin
- name: hello
  debug:
    msg: hi
@end
)
deploy front 1
";

/// An OpenStack whose identity endpoint is a closed port.
const AUTH: &str = "id = ost; type = OpenStack; host = http://127.0.0.1:9; username = u; password = p; tenant = t; auth_version = 3.x_password\n";

fn wheels() -> Option<PathBuf> {
    let data = std::env::var_os("NUBO_TEST_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/nubo-test-data"));
    let w = data.join("wheels");
    if !w.join(format!(".ansible-core-{PINNED}")).is_file() {
        skip_or_fail(&format!(
            "no ansible-core {PINNED} wheels in {}: scripts/install-test-deps.sh downloads them",
            w.display()
        ));
        return None;
    }
    let venv_ok = std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import venv, ensurepip"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !venv_ok {
        skip_or_fail("no /usr/bin/python3 with its venv module (python3-venv)");
        return None;
    }
    Some(w)
}

fn setup() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("c.radl"), RADL).unwrap();
    let auth = tmp.path().join("auth.dat");
    std::fs::write(&auth, AUTH).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&auth, std::fs::Permissions::from_mode(0o600)).unwrap();
    tmp
}

fn launch(dir: &Path, find_links: &Path) -> Output {
    launch_cmd(dir, find_links, "c1")
        .output()
        .expect("run nubo")
}

fn launch_cmd(dir: &Path, find_links: &Path, cluster: &str) -> std::process::Command {
    let mut c = nubo_in(dir);
    c.args(["launch", cluster, "c.radl", "-a", "auth.dat"])
        .env("PATH", PATH)
        .env("PIP_NO_INDEX", "1")
        .env("PIP_FIND_LINKS", find_links)
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env("HOME", dir);
    c
}

fn installed(dir: &Path) -> PathBuf {
    dir.join("state/ansible-install")
        .join(format!("core-{PINNED}"))
}

const MESSAGE: &str = "installing ansible-core 2.19.14 into";

#[test]
fn without_ansible_on_path_launch_installs_the_pinned_core_once() {
    let Some(wheels) = wheels() else { return };
    let tmp = setup();
    let dir = tmp.path();
    let first = launch(dir, &wheels);
    let err = String::from_utf8_lossy(&first.stderr);
    assert_eq!(err.matches(MESSAGE).count(), 1, "{err}");
    assert!(err.contains("`ansible-playbook` is not on PATH"), "{err}");
    // It went on to the cloud (which is not there): the install did not stop it.
    assert!(err.contains("cannot reach OpenStack identity"), "{err}");
    let version = std::process::Command::new(installed(dir).join("bin/ansible-playbook"))
        .arg("--version")
        .env("PATH", PATH)
        .output()
        .expect("run the installed ansible-playbook");
    let text = String::from_utf8_lossy(&version.stdout);
    assert!(
        text.lines()
            .next()
            .is_some_and(|l| l.contains(&format!("[core {PINNED}]"))),
        "{text}"
    );
    for tool in ["ansible-vault", "ansible-galaxy"] {
        assert!(installed(dir).join("bin").join(tool).is_file(), "{tool}");
    }
    let second = launch(dir, &wheels);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!err.contains(MESSAGE), "installed again:\n{err}");
    assert!(err.contains("cannot reach OpenStack identity"), "{err}");
}

#[test]
fn a_failed_install_is_a_clear_error_and_leaves_nothing_half_made() {
    let Some(_) = wheels() else { return };
    let tmp = setup();
    let dir = tmp.path();
    let empty = dir.join("no-wheels");
    std::fs::create_dir_all(&empty).unwrap();
    let out = launch(dir, &empty);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(MESSAGE), "{err}");
    assert!(
        err.contains(&format!(
            "installing ansible-core {PINNED} into {} failed",
            installed(dir).display()
        )),
        "{err}"
    );
    // The command that failed, and how to install by hand.
    assert!(err.contains("bin/pip install"), "{err}");
    assert!(
        err.contains(&format!("pip install ansible-core=={PINNED}`")),
        "{err}"
    );
    // Before anything was made: the cloud was never called.
    assert!(!err.contains("OpenStack"), "{err}");
    assert!(!installed(dir).exists(), "a half-made install was left");
}

/// `contextualize (option ansible_version = 'X')`, as in IM's own test
/// (`test_files_test_ansible.radl`: `ansible` 12.3.0, which brings
/// ansible-core 2.19): X is the `ansible` package's version, installed
/// by the same mechanism into `ansible-X/` (no wheels for it here, so
/// the install fails, cleanly, before anything is made).
#[test]
fn the_ansible_version_option_installs_that_ansible_package() {
    let Some(_) = wheels() else { return };
    let tmp = setup();
    let dir = tmp.path();
    let radl = RADL.replace(
        "deploy front 1",
        "contextualize (\n  option ansible_version = '12.3.0'\n  system front configure front\n)\ndeploy front 1",
    );
    std::fs::write(dir.join("c.radl"), radl).unwrap();
    let empty = dir.join("no-wheels");
    std::fs::create_dir_all(&empty).unwrap();
    let out = launch(dir, &empty);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let target = dir.join("state/ansible-install/ansible-12.3.0");
    assert!(
        err.contains(&format!(
            "installing ansible 12.3.0 into {} (`ansible_version` is 12.3.0",
            target.display()
        )),
        "{err}"
    );
    assert!(err.contains("pip install ansible==12.3.0`"), "{err}");
    assert!(!err.contains("OpenStack"), "{err}");
    assert!(!target.exists(), "a half-made install was left");
    assert!(
        !installed(dir).exists(),
        "the pinned core was installed too"
    );
}

/// Two launches at once (two clusters, one state directory): one
/// installs, the other waits for its lock and uses what it installed.
#[test]
fn two_launches_at_once_install_once() {
    let Some(wheels) = wheels() else { return };
    let tmp = setup();
    let dir = tmp.path();
    let a = launch_cmd(dir, &wheels, "c1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let b = launch_cmd(dir, &wheels, "c2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    let (ea, eb) = (
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
    );
    assert_eq!(
        ea.matches(MESSAGE).count() + eb.matches(MESSAGE).count(),
        1,
        "{ea}\n---\n{eb}"
    );
    // Both went on to the cloud with the installed Ansible.
    assert!(ea.contains("cannot reach OpenStack identity"), "{ea}");
    assert!(eb.contains("cannot reach OpenStack identity"), "{eb}");
    assert!(installed(dir).join("bin/ansible-playbook").is_file());
}
