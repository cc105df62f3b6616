//! Configures written for Ansible, the way IM and EC3 write them, run on
//! the local provider with `ansible-playbook` (root; run under
//! `flock /var/tmp/nubo-system-tests.lock` with
//! `NUBO_REQUIRE_SYSTEM_TESTS=1`): IM's host variables and `groups`, a
//! role from a local git repository through IM's git form, a
//! Vault-encrypted body, a native configure in between; every task's
//! effect checked on the nodes, then `reconfigure` changes nothing. A
//! failing play names its task, host and Ansible's message, and `nubo
//! show` keeps its output. A Galaxy role that cannot be fetched stops the
//! launch before any VM is made.

use crate::support::local::{self, Nubo, SERIAL};
use crate::support::skip_or_fail;
use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn has_ansible() -> bool {
    for tool in ["ansible-playbook", "ansible-vault", "git"] {
        let ok = Command::new(tool)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            skip_or_fail(&format!(
                "no {tool}: scripts/install-test-deps.sh installs it"
            ));
            return false;
        }
    }
    true
}

fn run(dir: &Path, cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A bare git repository holding one role, `marker`, that writes
/// `/etc/role-marker`.
pub(crate) fn role_repo(base: &Path) -> String {
    let work = base.join("role-work");
    std::fs::create_dir_all(work.join("tasks")).unwrap();
    std::fs::write(
        work.join("tasks/main.yml"),
        "- name: role marker\n  copy:\n    dest: /etc/role-marker\n    content: \"{{ marker_text }} on {{ IM_NODE_HOSTNAME }}\\n\"\n",
    )
    .unwrap();
    run(&work, "git", &["init", "-q", "-b", "main"]);
    run(&work, "git", &["add", "-A"]);
    run(
        &work,
        "git",
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-qm",
            "role",
        ],
    );
    let bare = base.join("role.git");
    run(
        base,
        "git",
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    format!("file://{}", bare.display())
}

/// A body encrypted with `ansible-vault` under `password`.
pub(crate) fn vault_body(base: &Path, password: &Path) -> String {
    let f = base.join("secret.yml");
    std::fs::write(
        &f,
        "- tasks:\n  - name: secret file\n    copy:\n      dest: /etc/secret-marker\n      content: \"vault ok {{ IM_NODE_HOSTNAME }}\\n\"\n",
    )
    .unwrap();
    run(
        base,
        "ansible-vault",
        &[
            "encrypt",
            "--vault-password-file",
            password.to_str().unwrap(),
            f.to_str().unwrap(),
        ],
    );
    std::fs::read_to_string(&f).unwrap()
}

pub(crate) fn radl(role_url: &str, secret: &str) -> String {
    format!(
        r#"network public (outbound = 'yes')
network private ()

system front (
  net_interface.0.connection = 'public' and
  net_interface.0.dns_name = 'front' and
  disk.0.image.url = 'local://' and
  disk.0.os.name = 'linux' and
  disk.0.applications contains (name = 'ansible.modules.git+{role_url}|marker')
)

system wn (
  net_interface.0.connection = 'private' and
  net_interface.0.dns_name = 'wn-#N#' and
  disk.0.image.url = 'local://' and
  disk.0.os.name = 'linux'
)

configure front (
@begin
---
- name: IM variables on the front-end
  copy:
    dest: /etc/im-front
    content: "{{{{ IM_NODE_HOSTNAME }}}} {{{{ IM_NODE_FQDN }}}} {{{{ IM_MASTER_HOSTNAME }}}} {{{{ groups['wn'] | length }}}} {{{{ IM_INFRASTRUCTURE_ID }}}}\n"
@end
)

configure wn (
@begin
---
- tasks:
  - name: where the front-end is
    copy:
      dest: /etc/im-wn
      content: "{{{{ IM_NODE_HOSTNAME }}}} {{{{ IM_NODE_NUM }}}} {{{{ hostvars[groups['front'][0]]['IM_NODE_PRIVATE_IP'] }}}}\n"
@end
)

configure native (
@begin
- shell: echo native-{{{{node.name}}}} > /etc/native-marker
  creates: /etc/native-marker
@end
)

configure roles (
@begin
---
- roles:
  - role: marker
    marker_text: from-git-role
@end
)

configure secret (
@begin
{secret}@end
)

contextualize (
  system front configure front step 1
  system wn configure wn step 1
  system front configure native step 2
  system wn configure native step 2
  system wn configure roles step 3
  system front configure secret step 4
)

deploy front 1
deploy wn 2
"#
    )
}

fn nubo(n: &Nubo, cache: &Path, args: &[&str]) -> Output {
    n.cmd(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("run nubo")
}

fn ok(n: &Nubo, cache: &Path, args: &[&str]) -> String {
    crate::support::stdout_of(&format!("nubo {args:?}"), nubo(n, cache, args))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn im_style_ansible_cluster_on_local_nodes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !local::can_run() || !has_ansible() {
        return;
    }
    let n = Nubo::new("ansible");
    let base = n.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let cache = base.join("cache");
    let password = base.join("vault-pass");
    std::fs::write(&password, "s3cret-pass\n").unwrap();
    let url = role_repo(&base);
    let secret = vault_body(&base, &password);
    let file = base.join("c.radl");
    std::fs::write(&file, radl(&url, &secret)).unwrap();
    let f = file.to_str().unwrap();

    let out = nubo(
        &n,
        &cache,
        &[
            "launch",
            &n.name,
            f,
            "-y",
            "--vault-password-file",
            password.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "launch: {}", text(&out));
    let logged = text(&out);
    assert!(
        !logged.contains("s3cret-pass"),
        "the vault password is never shown"
    );

    let on = |node: &str, cmd: &str| ok(&n, &cache, &["ssh", &n.name, node, "--", cmd]);
    // IM's host and cluster variables, `groups`.
    assert_eq!(
        on("front", "cat /etc/im-front").trim(),
        format!("front front.localdomain front 2 {}", n.name)
    );
    let front_ip = on("front", "hostname -I")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    for (i, wn) in ["wn-1", "wn-2"].iter().enumerate() {
        assert_eq!(
            on(wn, "cat /etc/im-wn").trim(),
            format!("{wn} {} {front_ip}", i + 1),
            "hostvars of the front-end on {wn}"
        );
        // The native configure in between, then the role from git.
        assert_eq!(
            on(wn, "cat /etc/native-marker").trim(),
            format!("native-{wn}")
        );
        assert_eq!(
            on(wn, "cat /etc/role-marker").trim(),
            format!("from-git-role on {wn}")
        );
        assert!(on(wn, "test -e /etc/secret-marker || echo none").contains("none"));
    }
    assert_eq!(on("front", "cat /etc/native-marker").trim(), "native-front");
    assert_eq!(
        on("front", "cat /etc/secret-marker").trim(),
        "vault ok front"
    );
    assert!(on("front", "test -e /etc/role-marker || echo none").contains("none"));

    // The password is kept, owner-only, for reconfigure.
    let kept = n.home.join("ansible").join(&n.name).join("vault-password");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shown = ok(&n, &cache, &["show", &n.name, "--json"]);
    assert!(!shown.contains("s3cret-pass"));

    // Nothing changed: nothing runs again.
    let plan = ok(&n, &cache, &["plan", &n.name]);
    assert!(plan.contains("0 step(s) to run"), "{plan}");
    let out = nubo(&n, &cache, &["reconfigure", &n.name]);
    assert!(out.status.success(), "reconfigure: {}", text(&out));
    let t = text(&out);
    assert_eq!(
        t.matches("kept configure").count(),
        9,
        "every step kept: {t}"
    );

    // The role's repository moves on: its commit stays pinned until
    // `--update-recipes`, which runs the plays using it again.
    let work = base.join("role-work");
    std::fs::write(
        work.join("tasks/main.yml"),
        "- name: role marker\n  copy:\n    dest: /etc/role-marker\n    content: \"v2 {{ marker_text }} on {{ IM_NODE_HOSTNAME }}\\n\"\n",
    )
    .unwrap();
    run(
        &work,
        "git",
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-qam",
            "v2",
        ],
    );
    run(
        &work,
        "git",
        &[
            "push",
            "-q",
            base.join("role.git").to_str().unwrap(),
            "main",
        ],
    );
    let plan = ok(&n, &cache, &["plan", &n.name]);
    assert!(plan.contains("0 step(s) to run"), "pinned: {plan}");
    let out = nubo(&n, &cache, &["reconfigure", &n.name, "--update-recipes"]);
    assert!(
        out.status.success(),
        "reconfigure --update-recipes: {}",
        text(&out)
    );
    assert_eq!(
        on("wn-1", "cat /etc/role-marker").trim(),
        "v2 from-git-role on wn-1"
    );
    // Every Ansible step may use any of the cluster's roles (IM installs
    // them all for every play): those run again, the native ones are kept.
    assert_eq!(
        text(&out).matches("kept configure").count(),
        3,
        "the native steps kept, the Ansible ones run again: {}",
        text(&out)
    );
    assert!(text(&out).matches("kept configure native").count() == 3);
}

#[test]
fn a_failed_play_names_its_task_host_and_message_and_show_keeps_its_output() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !local::can_run() || !has_ansible() {
        return;
    }
    let n = Nubo::new("ansible-fail");
    let base = n.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let cache = base.join("cache");
    let file = base.join("c.radl");
    std::fs::write(
        &file,
        "system node (disk.0.image.url = 'local://' and disk.0.os.name = 'linux')\n\
         configure node (\n@begin\n- name: first goes well\n  command: touch /etc/first\n\
         - name: break on purpose\n  shell: echo out-of-luck >&2; exit 3\n@end\n)\n\
         deploy node 1\n",
    )
    .unwrap();
    let out = nubo(
        &n,
        &cache,
        &["launch", &n.name, file.to_str().unwrap(), "-y"],
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("task `break on purpose`"), "{t}");
    assert!(t.contains("on host node"), "{t}");
    assert!(t.contains("out-of-luck") && t.contains("rc 3"), "{t}");
    let shown = ok(&n, &cache, &["show", &n.name]);
    assert!(
        shown.contains("TASK [break on purpose]") && shown.contains("out-of-luck"),
        "show gives the play's output of the failed step: {shown}"
    );
}

#[test]
fn a_galaxy_role_that_cannot_be_fetched_stops_launch_before_any_vm() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_ansible() {
        return;
    }
    let n = Nubo::new("ansible-galaxy");
    let base = n.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let cache = base.join("cache");
    let file = base.join("c.radl");
    std::fs::write(
        &file,
        "system node (disk.0.image.url = 'local://' and \
         disk.0.applications contains (name = 'ansible.modules.nosuch.role'))\n\
         configure node (\n@begin\n- roles:\n  - nosuch.role\n@end\n)\n\
         deploy node 1\n",
    )
    .unwrap();
    for (var, value) in [
        ("NUBO_OFFLINE", "1"),
        // An unreachable Galaxy server on the loopback.
        ("ANSIBLE_GALAXY_SERVER", "http://127.0.0.1:9"),
    ] {
        let out = n
            .cmd(&["launch", &n.name, file.to_str().unwrap(), "-y"])
            .env("XDG_CACHE_HOME", &cache)
            .env(var, value)
            .output()
            .unwrap();
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{var}: {t}");
        assert!(t.contains("Ansible role `nosuch.role`"), "{var}: {t}");
        assert!(t.contains("git+URL|NAME"), "says how to provide it: {t}");
        assert!(
            !n.root.exists() || n.provider().list_nodes(&n.name).unwrap().is_empty(),
            "{var}: no VM was made"
        );
        assert!(
            !ok(&n, &cache, &["list"]).contains(&n.name),
            "{var}: nothing recorded"
        );
    }
}

#[test]
fn a_vault_body_without_its_password_stops_launch_before_any_vm() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_ansible() {
        return;
    }
    let n = Nubo::new("ansible-vault");
    let base = n.root.parent().unwrap().join("inputs");
    std::fs::create_dir_all(&base).unwrap();
    let cache = base.join("cache");
    let file = base.join("c.radl");
    std::fs::write(
        &file,
        "system node (disk.0.image.url = 'local://')\n\
         configure node (\n@begin\n$ANSIBLE_VAULT;1.1;AES256\n6331\n@end\n)\n\
         deploy node 1\n",
    )
    .unwrap();
    let out = nubo(
        &n,
        &cache,
        &["launch", &n.name, file.to_str().unwrap(), "-y"],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("configure `node` is encrypted with Ansible Vault")
            && t.contains("--vault-password-file"),
        "{t}"
    );
    assert!(
        !ok(&n, &cache, &["list"]).contains(&n.name),
        "nothing recorded"
    );
}
