//! Invalid RADL inputs and their expected diagnostics (snapshots).
//!
//! Every `tests/fixtures/radl/invalid/NAME.radl` must yield at least one
//! error, and what `nubo validate` prints for it must equal
//! `NAME.expected`. Run with `UPDATE_SNAPSHOTS=1` to (re)write the
//! snapshots, then read them: each must point at the mistake and say what
//! was expected.
//!
//! A second test feeds truncated and mutated corpus files to the validator:
//! whatever the input, it must not panic, and syntax diagnostics must point
//! inside the text.

use crate::snapshots;
use crate::support::corpus_files;
use nubo::radl;
use nubo::source::SourceMap;
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/radl/invalid")
}

/// What `nubo validate` prints for one file, named by its file name only
/// (so the snapshot does not depend on where the checkout lives), and
/// whether any of it is an error.
fn render(name: &str, text: &str) -> (String, bool) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let diags = radl::validate(id, sources.text(id)).diagnostics();
    let out = diags.iter().map(|d| d.render(&sources)).collect();
    (out, diags.iter().any(|d| d.is_error()))
}

#[test]
fn invalid_fixtures_match_their_snapshots() {
    snapshots::check(&fixture_dir(), "radl", render);
}

#[test]
fn every_snapshot_has_its_fixture() {
    snapshots::check_no_orphans(&fixture_dir(), "radl");
}

/// Validates `text` and checks what must hold for any input: no panic
/// (the caller's), and every syntax diagnostic inside the text.
fn validate_any(text: &str, what: &dyn Fn() -> String) {
    let v = radl::validate(nubo::source::FileId(0), text);
    for d in &v.syntax {
        assert!(
            d.span.start <= d.span.end && d.span.end as usize <= text.len(),
            "{}: span {:?} of `{}` lies outside the text ({} bytes)",
            what(),
            d.span,
            d.message,
            text.len()
        );
    }
}

/// A position near `at` that is a char boundary of `text` (at or before it).
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[test]
fn no_panic_on_truncated_or_mutated_corpus() {
    const INSERTS: &[&str] = &["(", ")", "'", "\"", "@begin"];
    // At most this many prefixes per file, and this many mutation points,
    // spread evenly, to stay within a few seconds in a debug build.
    // `NUBO_EXHAUSTIVE=1` tries every position instead (minutes).
    let exhaustive = std::env::var("NUBO_EXHAUSTIVE").as_deref() == Ok("1");
    let max_prefixes = if exhaustive { usize::MAX } else { 500 };
    let mutation_points = |len: usize| if exhaustive { len } else { 24 };
    for path in corpus_files("radl", &["radl"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        // Prefixes ending on char boundaries: every one in small files, an
        // evenly spread sample of about `max_prefixes` in larger ones (the
        // cost grows with the square of the length), and the whole text.
        let stride = text.len().div_ceil(max_prefixes).max(1);
        let ends: Vec<usize> = (0..text.len())
            .step_by(stride)
            .map(|e| boundary(&text, e))
            .chain([text.len()])
            .collect();
        for end in ends {
            let prefix = &text[..end];
            validate_any(prefix, &|| format!("{name} cut at byte {end}"));
        }
        let n = mutation_points(text.len());
        let points: Vec<usize> = (0..n)
            .map(|k| boundary(&text, k * text.len() / n))
            .chain([text.len()])
            .collect();
        for &at in &points {
            // Delete the character at `at`.
            if let Some(c) = text[at..].chars().next() {
                let mut m = text.clone();
                m.replace_range(at..at + c.len_utf8(), "");
                validate_any(&m, &|| format!("{name} without the {c:?} at byte {at}"));
            }
            for ins in INSERTS {
                let mut m = text.clone();
                m.insert_str(at, ins);
                validate_any(&m, &|| format!("{name} with {ins:?} inserted at byte {at}"));
            }
        }
    }
}
