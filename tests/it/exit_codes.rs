//! Every cause of a CLI failure with its exit code, the same for the same
//! cause in every command (`cli::error::Cause`: 1 failed, 2 could not run,
//! 3 busy), through the binary. No root needed: nothing is launched.

use nubo::state::StateStore;
use std::path::Path;

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = crate::support::nubo_in(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run nubo");
    // `validate` reports on standard output, errors go to standard error.
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ),
    )
}

#[test]
fn each_cli_error_cause_has_its_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(dir.join("bad.radl"), "system front (cpu.count >= )\n").unwrap();
    std::fs::write(dir.join("bad.dat"), "id = x type = Local\n").unwrap();
    std::fs::write(
        dir.join("ok.radl"),
        "system front (disk.0.image.url = 'local://')\ncontextualize ()\ndeploy front 1\n",
    )
    .unwrap();
    // (what, arguments, exit code, words the message must have)
    let cases: &[(&str, &[&str], i32, &str)] = &[
        ("success", &["list"], 0, ""),
        ("bad arguments", &["launch"], 2, "required"),
        ("an unknown command", &["lanch"], 2, "unrecognized"),
        (
            "an unreadable file",
            &["validate", "no-such.radl"],
            2,
            "no-such.radl",
        ),
        (
            "an unreadable --add file",
            &["plan", "c1", "ok.radl", "--add", "no-such.radl"],
            2,
            "no-such.radl",
        ),
        (
            "a bad auth file",
            &["list", "-a", "bad.dat"],
            2,
            "bad.dat:1:",
        ),
        (
            "an unknown template",
            &["plan", "c1", "no-such-template"],
            2,
            "no-such-template",
        ),
        (
            "an invalid description (plan)",
            &["plan", "c1", "bad.radl"],
            1,
            "error(s)",
        ),
        (
            "an invalid description (validate)",
            &["validate", "bad.radl"],
            1,
            "bad.radl:1:",
        ),
        (
            "an invalid description (graph)",
            &["graph", "bad.radl"],
            1,
            "bad.radl:1:",
        ),
        (
            "a bad --period",
            &["elastic", "run", "c9", "--period", "0"],
            2,
            "--period",
        ),
        (
            "a cluster not found (show)",
            &["show", "c9"],
            1,
            "not found",
        ),
        (
            "a cluster not found (destroy)",
            &["destroy", "c9", "-y"],
            1,
            "not found",
        ),
        (
            "a cluster not found (stop)",
            &["stop", "c9"],
            1,
            "not found",
        ),
        (
            "a cluster not found (restart)",
            &["restart", "c9"],
            1,
            "not found",
        ),
        (
            "a cluster not found (reconfigure)",
            &["reconfigure", "c9"],
            1,
            "not found",
        ),
        ("a cluster not found (ssh)", &["ssh", "c9"], 1, "not found"),
        (
            "a cluster not found (plan of a reconfigure)",
            &["plan", "c9"],
            1,
            "c9",
        ),
        (
            "a cluster not found (elastic status)",
            &["elastic", "status", "c9"],
            1,
            "not found",
        ),
    ];
    let mut wrong = Vec::new();
    for (what, args, code, words) in cases {
        let (got, stderr) = run(dir, args);
        if got != Some(*code) || !stderr.contains(words) {
            wrong.push(format!(
                "{what}: nubo {args:?} exited {got:?} (want {code}, message with {words:?}): {stderr}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A cluster another nubo holds is busy, exit 3, in every command that
/// takes the cluster's lock; a second elasticity daemon too.
#[test]
fn a_busy_cluster_is_exit_3_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("ok.radl"),
        "system front (disk.0.image.url = 'local://')\ncontextualize ()\ndeploy front 1\n",
    )
    .unwrap();
    let store = StateStore::open(dir.join("state")).unwrap();
    let _held = store.lock_cluster("c1").unwrap();
    let _daemon = store.lock_daemon("c1").unwrap();
    let cases: &[&[&str]] = &[
        &["launch", "c1", "ok.radl", "-y"],
        &["reconfigure", "c1"],
        &["destroy", "c1", "-y"],
        &["stop", "c1"],
        &["restart", "c1"],
        &["elastic", "run", "c1"],
    ];
    let mut wrong = Vec::new();
    for args in cases {
        let (got, stderr) = run(dir, args);
        if got != Some(3) {
            wrong.push(format!("nubo {args:?} exited {got:?}, not 3: {stderr}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn help_lists_the_exit_codes() {
    let out = crate::support::nubo_in(Path::new("/"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "0 success",
        "1 the input is invalid",
        "2 nubo could not run",
        "3 the cluster is busy",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
}
