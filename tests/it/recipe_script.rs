//! Recipe scripts run for real: rendered, piped to `sh -s` on this
//! machine, against paths under a temporary directory, twice. The first
//! run does the work; the second must report no `changed` step.
//!
//! Commands that would touch the host (package managers, `service`, user
//! management) are replaced by stubs put first on `PATH`, which record
//! their calls.

use crate::support::recipe_context;
use nubo::recipe::{self, Outcome, Script, StepResult};
use nubo::source::FileId;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

fn script(text: &str) -> Script {
    let r = recipe::parse(FileId(0), 0, text).unwrap_or_else(|d| panic!("{d:#?}"));
    recipe::render(&r, &recipe_context()).unwrap_or_else(|d| panic!("{d:#?}"))
}

/// Pipes the script to `sh -s` with extra environment; its exit status,
/// results and whole output.
fn run(s: &Script, env: &[(&str, String)]) -> (i32, Vec<StepResult>, String) {
    run_text(&s.text, env)
}

fn run_text(text: &str, env: &[(&str, String)]) -> (i32, Vec<StepResult>, String) {
    let mut cmd = Command::new("sh");
    cmd.arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (
        out.status.code().unwrap_or(-1),
        recipe::parse_results(&stdout),
        format!("{stdout}\n--- stderr ---\n{stderr}"),
    )
}

fn outcomes(results: &[StepResult]) -> Vec<Outcome> {
    results.iter().map(|r| r.outcome).collect()
}

/// Writes an executable stub `dir/name` running `body`.
fn stub(dir: &Path, name: &str, body: &str) {
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn file_line_and_guarded_shell_steps_are_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display();
    let text = format!(
        "
- name: hosts
  file:
    path: {d}/etc/hosts
    mode: '0600'
    content: |
      127.0.0.1 localhost
      {{{{#each nodes}}}}
      {{{{ip}}}} {{{{name}}}}
      {{{{/each}}}}
- line: {{path: {d}/etc/app.conf, line: 'port = {{{{vars.port}}}}', regexp: '^port *='}}
- line: {{path: {d}/etc/app.conf, line: 'debug = no'}}
- shell: touch {d}/made && echo made
  creates: {d}/made
- shell: echo once >> {d}/log
  unless: grep -q once {d}/log
- name: skipped by when
  shell: echo never > {d}/never
  when: eq node.system \"front\"
"
    );
    std::fs::create_dir_all(tmp.path().join("etc")).unwrap();
    std::fs::write(tmp.path().join("etc/app.conf"), "# app\nport = 1\nname = x").unwrap();
    let s = script(&text);
    let (status, first, out) = run(&s, &[]);
    assert_eq!(status, 0, "{out}");
    use Outcome::*;
    assert_eq!(
        outcomes(&first),
        [Changed, Changed, Changed, Changed, Changed, Skipped],
        "{out}"
    );
    assert_eq!(first[3].output, "made\n");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("etc/hosts")).unwrap(),
        "127.0.0.1 localhost\n10.250.3.10 front\n10.250.3.11 wn-1\n10.250.3.12 wn-2\n"
    );
    let mode = std::fs::metadata(tmp.path().join("etc/hosts"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("etc/app.conf")).unwrap(),
        "# app\nport = 8080\nname = x\ndebug = no\n"
    );
    assert!(!tmp.path().join("never").exists());

    let (status, second, out) = run(&s, &[]);
    assert_eq!(status, 0, "{out}");
    assert_eq!(
        outcomes(&second),
        [Ok, Ok, Ok, Skipped, Skipped, Skipped],
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("log")).unwrap(),
        "once\n"
    );
    // A changed file is written again, and only its bytes count.
    std::fs::write(tmp.path().join("etc/hosts"), "edited\n").unwrap();
    let (_, third, _) = run(&s, &[]);
    assert_eq!(third[0].outcome, Changed);
}

#[test]
fn a_failing_step_stops_the_script_with_its_status() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display();
    let s = script(&format!(
        "- shell: echo before\n- shell: |\n    echo partial\n    sh -c 'exit 3'\n    echo not reached\n- shell: touch {d}/after\n"
    ));
    let (status, results, out) = run(&s, &[]);
    assert_eq!(status, 3, "{out}");
    assert_eq!(
        outcomes(&results),
        [Outcome::Changed, Outcome::Failed(3)],
        "{out}"
    );
    assert_eq!(results[1].output, "partial\n");
    assert!(!tmp.path().join("after").exists());
}

#[test]
fn steps_cannot_read_the_script_and_a_cut_script_runs_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().display();
    // `cat` would eat the rest of the script from standard input.
    let s = script(&format!("- shell: cat\n- shell: touch {d}/second\n"));
    let (status, results, out) = run(&s, &[]);
    assert_eq!(status, 0, "{out}");
    assert_eq!(results.len(), 2, "{out}");
    assert!(tmp.path().join("second").exists());
    // The script calls its main function on its last line only.
    std::fs::remove_file(tmp.path().join("second")).unwrap();
    let cut = &s.text[..s.text.len() - "nubo_main\n".len()];
    let (_, results, out) = run_text(cut, &[]);
    assert!(results.is_empty(), "{out}");
    assert!(!tmp.path().join("second").exists());
}

#[test]
fn scripts_with_interpreters() {
    let s = script(
        "- script: |\n    #!/bin/sh\n    echo one\n    false\n    echo not reached\n  unless: 'false'\n- script: |\n    x=2\n    echo \"two $x\"\n",
    );
    let (status, results, out) = run(&s, &[]);
    // `-e` is added to a plain shell interpreter: the first script stops
    // at `false`.
    assert_eq!(status, 1, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Failed(1)], "{out}");
    assert_eq!(results[0].output, "one\n");
    let s = script("- script: |\n    x=2\n    echo \"two $x\"\n  interpreter: /bin/sh\n");
    let (status, results, out) = run(&s, &[]);
    assert_eq!(status, 0, "{out}");
    assert_eq!(results[0].output, "two 2\n");
}

#[test]
fn packages_already_installed_run_no_package_manager() {
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls");
    for tool in ["apt-get", "dnf", "yum", "apk"] {
        stub(
            bin.path(),
            tool,
            &format!("echo {tool} \"$@\" >> '{}'", calls.display()),
        );
    }
    let env = [("PATH", path_with(bin.path()))];
    if Command::new("dpkg-query")
        .arg("--version")
        .output()
        .is_err()
    {
        crate::support::skip_or_fail("no dpkg-query: the package test needs a Debian host");
        return;
    }
    let s = script("- package: coreutils\n- package: [coreutils, dash]\n");
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Ok, Outcome::Ok], "{out}");
    assert!(!calls.exists(), "a package manager ran: {out}");
    // A missing package is installed (by the stub) and reported changed.
    let s = script("- package: [coreutils, nubo-no-such-package]\n");
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "apt-get install -y nubo-no-such-package\n"
    );
}

/// Stops the daemon whose pidfile is `pidfile`: its whole process group
/// (the daemon leads one, from `setsid`).
fn stop_daemon(pidfile: &Path) {
    if let Ok(pid) = std::fs::read_to_string(pidfile)
        && let Ok(pid) = pid.trim().parse::<i32>()
        && pid > 1
    {
        // SAFETY: kill(2) with a process group id we started.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
    }
}

struct DaemonGuard(std::path::PathBuf);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        stop_daemon(&self.0);
    }
}

#[test]
fn daemons_start_once_and_are_ok_while_alive() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("NUBO_RUN_DIR", tmp.path().join("run").display().to_string()),
        ("NUBO_LOG_DIR", tmp.path().join("log").display().to_string()),
    ];
    let pidfile = tmp.path().join("run/daemons/sleeper.pid");
    let _guard = DaemonGuard(pidfile.clone());
    let s = script(
        "- daemon:\n    name: sleeper\n    command: echo \"up as $GREETING\"; exec sleep 300\n    env: {GREETING: '{{node.name}}'}\n",
    );
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let log = std::fs::read_to_string(tmp.path().join("log/sleeper.log")).unwrap();
    assert!(log.contains("up as wn-1"), "{log}");
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Ok], "{out}");
    // Once it is gone, the next run starts it again.
    stop_daemon(&pidfile);
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (_, results, out) = run(&s, &env);
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
}

#[test]
fn a_daemon_that_dies_at_once_fails_with_its_log() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("NUBO_RUN_DIR", tmp.path().join("run").display().to_string()),
        ("NUBO_LOG_DIR", tmp.path().join("log").display().to_string()),
    ];
    let s = script("- daemon: {name: broken, command: echo cannot start; exit 2}\n");
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 1, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Failed(1)], "{out}");
    assert!(out.contains("cannot start"), "{out}");
}

#[test]
fn services_without_systemd_use_the_service_command() {
    if Path::new("/run/systemd/system").is_dir() {
        crate::support::skip_or_fail("systemd runs here; the service test stubs `service` only");
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    let state = bin.path().join("running");
    stub(
        bin.path(),
        "service",
        &format!(
            "echo \"service $*\" >> '{calls}'\ncase $2 in\nstatus) [ -e '{s}' ] ;;\nstart|restart) touch '{s}' ;;\nstop) rm -f '{s}' ;;\nesac",
            calls = bin.path().join("calls").display(),
            s = state.display()
        ),
    );
    let env = [("PATH", path_with(bin.path()))];
    let s = script("- service: {name: web, state: started}\n");
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
    let (_, results, out) = run(&s, &env);
    assert_eq!(outcomes(&results), [Outcome::Ok], "{out}");
    let s = script("- service: {name: web, state: stopped}\n");
    let (_, results, out) = run(&s, &env);
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
    assert!(!state.exists());
    assert_eq!(
        std::fs::read_to_string(bin.path().join("calls")).unwrap(),
        "service web status\nservice web start\nservice web status\nservice web status\nservice web stop\n"
    );
}

#[test]
fn users_get_their_keys_once() {
    // Stubs keep the accounts in files under the temporary directory.
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path().display();
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    stub(
        &bin,
        "id",
        &format!(
            "u=$2; [ -e '{t}/users/'\"$u\" ] || exit 1\ncase $1 in -u) echo 1000 ;; -g) echo 1000 ;; -nG) cat '{t}/users/'\"$u\" ;; esac"
        ),
    );
    stub(
        &bin,
        "useradd",
        &format!(
            "echo \"useradd $*\" >> '{t}/calls'\nfor u; do :; done\nmkdir -p '{t}/users' '{t}/home/'\"$u\"\necho \"$u\" > '{t}/users/'\"$u\""
        ),
    );
    stub(
        &bin,
        "getent",
        &format!("[ -e '{t}/users/'\"$2\" ] && echo \"$2:x:1000:1000::{t}/home/$2:/bin/sh\""),
    );
    stub(&bin, "chown", &format!("echo \"chown $*\" >> '{t}/calls'"));
    stub(
        &bin,
        "usermod",
        &format!("echo \"usermod $*\" >> '{t}/calls'"),
    );
    let env = [("PATH", path_with(&bin))];
    let s = script(
        "- user:\n    name: nubo\n    shell: /bin/sh\n    authorized_keys: ['{{ssh.public_key}}', ssh-ed25519 BBBB other]\n",
    );
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Changed], "{out}");
    let keys = tmp.path().join("home/nubo/.ssh/authorized_keys");
    assert_eq!(
        std::fs::read_to_string(&keys).unwrap(),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDemoKey nubo@demo\nssh-ed25519 BBBB other\n"
    );
    let (status, results, out) = run(&s, &env);
    assert_eq!(status, 0, "{out}");
    assert_eq!(outcomes(&results), [Outcome::Ok], "{out}");
    let calls = std::fs::read_to_string(tmp.path().join("calls")).unwrap();
    assert!(calls.starts_with("useradd -m -s /bin/sh nubo\n"), "{calls}");
    assert_eq!(calls.matches("useradd").count(), 1, "{calls}");
}

#[test]
fn every_kind_writes_valid_sh() {
    let s = script(
        "
- shell: ls
- script: echo
- file: {path: /x, content: y, mode: '0644', owner: root, group: root}
- line: {path: /x, line: a, regexp: '^a'}
- package: [curl]
- service: {name: ssh, state: restarted, enabled: yes}
- daemon: {name: d, command: sleep 1, user: nobody, env: {A: b}}
- user: {name: u, shell: /bin/sh, home: /home/u, groups: [a, b], authorized_keys: [k]}
",
    );
    for shell in ["dash", "bash"] {
        let Ok(out) = Command::new(shell)
            .arg("-n")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(s.text.as_bytes())?;
                c.wait_with_output()
            })
        else {
            continue;
        };
        assert!(
            out.status.success(),
            "{shell} -n: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
