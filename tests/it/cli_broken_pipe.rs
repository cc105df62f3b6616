//! Output commands whose reader has gone away (`nubo radl json | head -1`)
//! end quietly, as other command-line tools do, instead of panicking on
//! the broken pipe. The pipe's read end is closed before nubo starts, so
//! its first write meets a closed pipe every time.

use std::path::Path;
use std::process::{Command, Stdio};

/// Runs nubo with a standard output nobody reads: (exit code, stderr).
fn into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .output()
        .expect("run nubo");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn radl_json_into_a_closed_pipe_exits_quietly() {
    let file = "examples/cluster.radl";
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(file).is_file());
    for args in [
        &["radl", "json", file][..],
        &["radl", "fmt", file],
        &["validate", file],
    ] {
        let (code, stderr) = into_closed_pipe(args);
        assert_eq!(code, Some(0), "nubo {args:?}: {stderr}");
        assert_eq!(stderr, "", "nubo {args:?} said something on stderr");
    }
}

#[test]
fn radl_json_into_a_full_disk_fails_and_says_so() {
    // /dev/full fails every write with ENOSPC: not a reader gone away.
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        return crate::support::skip_or_fail("no /dev/full here");
    };
    let out = Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["radl", "json", "examples/cluster.radl"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::from(full))
        .output()
        .expect("run nubo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot write to standard output"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
