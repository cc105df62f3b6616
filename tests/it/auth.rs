//! The auth file: invalid files and their expected errors (snapshots), and
//! reading a file from disk.
//!
//! Every `tests/fixtures/auth/invalid/NAME.auth` (the line form) and
//! `NAME.json` (the JSON form) must be refused, and its errors, one a line,
//! must equal `NAME.expected` (`UPDATE_SNAPSHOTS=1` rewrites them). No
//! snapshot may show a password from its fixture.

use std::path::{Path, PathBuf};

use crate::snapshots;
use nubo::auth::{self, AuthFile, ProviderKind};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/auth/invalid")
}

/// The errors for one fixture, named by its file name; `file(...)` paths
/// are relative to the fixture directory.
fn render(name: &str, text: &str) -> (String, bool) {
    match auth::parse(name, text, &fixture_dir()) {
        Ok(a) => (format!("accepted: {a:?}\n"), false),
        Err(errors) => {
            let out: String = errors.iter().map(|e| format!("{e}\n")).collect();
            for secret in ["hunter2", "hunter3", "s3cr3t", "pw1", "pw3"] {
                assert!(!out.contains(secret), "{name} shows a secret:\n{out}");
            }
            (out, true)
        }
    }
}

#[test]
fn invalid_line_form_fixtures_match_their_snapshots() {
    snapshots::check_at_least(&fixture_dir(), "auth", 10, render);
}

#[test]
fn invalid_json_form_fixtures_match_their_snapshots() {
    snapshots::check_at_least(&fixture_dir(), "json", 5, render);
}

#[test]
fn every_snapshot_has_its_fixture() {
    let orphans: Vec<_> = snapshots::fixtures(&fixture_dir(), "expected")
        .into_iter()
        .filter(|p| !p.with_extension("auth").is_file() && !p.with_extension("json").is_file())
        .collect();
    assert!(
        orphans.is_empty(),
        "snapshots without a fixture: {orphans:?}"
    );
}

#[test]
fn reads_a_file_with_file_values_and_both_forms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::write(dir.path().join("keys/one.pass"), "from-file\n").unwrap();
    let path = dir.path().join("auth.dat");
    std::fs::write(
        &path,
        "# clouds\nid = local; type = Local\n\nid = one; type = OpenNebula; host = http://127.0.0.1:2633/RPC2; username = alice; password = file(keys/one.pass)\n",
    )
    .unwrap();
    let a = AuthFile::read(&path).unwrap();
    assert_eq!(a.entries.len(), 2);
    assert_eq!(a.by_id("local").unwrap().kind, ProviderKind::Local);
    let one = a.of_kind(ProviderKind::OpenNebula).next().unwrap();
    assert_eq!(one.line, 4);
    assert_eq!(one.value("password"), Some("from-file"));
    assert!(!format!("{a:?}").contains("from-file"));

    let json = dir.path().join("auth.json");
    std::fs::write(&json, r#"[{"id": "local", "type": "Local"}]"#).unwrap();
    assert_eq!(
        AuthFile::read(&json).unwrap().by_id("local").unwrap().kind,
        ProviderKind::Local
    );
}
