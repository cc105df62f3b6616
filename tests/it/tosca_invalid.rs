//! Invalid TOSCA inputs and their expected diagnostics (snapshots).
//!
//! Every `tests/fixtures/tosca/invalid/NAME.yaml` must yield at least one
//! error, and the rendered diagnostics must equal `NAME.expected`. Run with
//! `UPDATE_SNAPSHOTS=1` to (re)write the snapshots, then read them: each
//! must point at the mistake and say what was expected.
//!
//! A second test feeds truncated and mutated corpus files to the front end:
//! whatever the input, it must not panic, and every diagnostic must point
//! inside a file it read.

use crate::snapshots;
use crate::support::{corpus_dir, corpus_files};
use nubo::source::SourceMap;
use nubo::tosca::{self, ImportOptions, Origin};
use std::path::{Path, PathBuf};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tosca/invalid")
}

/// The rendered diagnostics of one fixture (named by its file name only,
/// read with no import directory), and whether any is an error.
fn render(name: &str, text: &str) -> (String, bool) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let checked = tosca::validate(&mut sources, id, &Origin::Text, &ImportOptions::default());
    let out = checked
        .diagnostics
        .iter()
        .map(|d| d.render(&sources))
        .collect();
    (out, checked.has_errors())
}

#[test]
fn invalid_fixtures_match_their_snapshots() {
    snapshots::check(&fixture_dir(), "yaml", render);
}

#[test]
fn every_snapshot_has_its_fixture() {
    snapshots::check_no_orphans(&fixture_dir(), "yaml");
}

/// Validates and lowers `text` (imports served from the corpus copy) and
/// checks that every diagnostic points inside a file that was read.
fn validate_any(text: &str, opts: &ImportOptions, what: &dyn Fn() -> String) {
    let mut sources = SourceMap::new();
    let id = sources.add("t.yaml", text);
    let checked = tosca::validate(&mut sources, id, &Origin::Text, opts);
    for d in &checked.diagnostics {
        let len = sources.text(d.span.file).len();
        assert!(
            d.span.start <= d.span.end && d.span.end as usize <= len,
            "{}: span {:?} of `{}` lies outside its file ({len} bytes)",
            what(),
            d.span,
            d.message
        );
        let _ = d.render(&sources);
    }
    if !checked.has_errors() {
        let _ = nubo::radl::printer::print(&tosca::lower::to_radl(&checked));
    }
}

fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[test]
fn no_panic_on_truncated_or_mutated_corpus() {
    const INSERTS: &[&str] = &[":", "- ", "{", "[", "'", "\n  x: ", "{ get_input: x }"];
    let Some(corpus) = corpus_dir() else { return };
    let opts = ImportOptions {
        import_dirs: vec![corpus.join("tosca/grycap")],
        cache_dir: None,
        fetch: None,
    };
    let exhaustive = std::env::var("NUBO_EXHAUSTIVE").as_deref() == Ok("1");
    let points = if exhaustive { 400 } else { 2 };
    for path in corpus_files("tosca", &["yaml", "yml"]) {
        if path.ends_with("custom_types.yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.display().to_string();
        for k in 0..=points {
            let at = boundary(&text, k * text.len() / points);
            validate_any(&text[..at], &opts, &|| format!("{name} cut at byte {at}"));
            for ins in INSERTS {
                let mut m = text.clone();
                m.insert_str(at, ins);
                validate_any(&m, &opts, &|| {
                    format!("{name} with {ins:?} inserted at byte {at}")
                });
            }
        }
    }
}
