//! Snapshot tests of invalid inputs, shared by the RADL and TOSCA front
//! ends: every `DIR/NAME.EXT` must yield an error, and what it renders must
//! equal `DIR/NAME.expected` (`UPDATE_SNAPSHOTS=1` rewrites them).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Every fixture `DIR/*.EXT`, sorted by name.
pub fn fixtures(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// Checks (or, under `UPDATE_SNAPSHOTS=1`, writes) every fixture's
/// snapshot. `render(file name, text)` gives the rendered diagnostics and
/// whether any is an error. All mismatches are reported at once. A front
/// end has at least 30 fixtures.
pub fn check(dir: &Path, ext: &str, render: impl Fn(&str, &str) -> (String, bool)) {
    check_at_least(dir, ext, 30, render)
}

/// [`check`], for a fixture set of at least `min` files.
pub fn check_at_least(
    dir: &Path,
    ext: &str,
    min: usize,
    render: impl Fn(&str, &str) -> (String, bool),
) {
    let update = std::env::var("UPDATE_SNAPSHOTS").as_deref() == Ok("1");
    let files = fixtures(dir, ext);
    let mut problems = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let (actual, has_error) = render(name, &text);
        if !has_error {
            problems.push(format!("{name}: no error reported\n{actual}"));
        }
        let snapshot = path.with_extension("expected");
        if update {
            std::fs::write(&snapshot, &actual).unwrap();
            continue;
        }
        match std::fs::read_to_string(&snapshot) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => problems.push(format!(
                "{name}: output differs from {} (- expected, + actual):\n{}",
                snapshot.file_name().unwrap().to_string_lossy(),
                diff(&expected, &actual)
            )),
            Err(e) => problems.push(format!(
                "{name}: cannot read {}: {e}\nactual output:\n{actual}",
                snapshot.display()
            )),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} fixtures fail (rerun with UPDATE_SNAPSHOTS=1 to accept the new output, then review it):\n\n{}",
        problems.len(),
        files.len(),
        problems.join("\n")
    );
    assert!(files.len() >= min, "only {} fixtures", files.len());
}

/// Fails on a `.expected` file whose `.EXT` fixture is gone.
pub fn check_no_orphans(dir: &Path, ext: &str) {
    let orphans: Vec<_> = fixtures(dir, "expected")
        .into_iter()
        .filter(|p| !p.with_extension(ext).is_file())
        .collect();
    assert!(
        orphans.is_empty(),
        "snapshots without a fixture: {orphans:?}"
    );
}

/// A line-by-line comparison: common lines with two spaces, expected-only
/// lines with `-`, actual-only lines with `+` (a longest-common-subsequence
/// diff; fixtures are small).
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        }
    }
    out
}
