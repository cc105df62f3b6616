//! Invalid recipes and their expected diagnostics (snapshots).
//!
//! Every `tests/fixtures/recipe/invalid/NAME.yaml` goes through what the
//! launch does: `parse`, `expand_includes` (includes and templates served
//! from `tests/fixtures/recipe/includes/`), `render` with the test context
//! (`support::recipe_context`). It must yield an error, and the rendered
//! diagnostics must equal `NAME.expected` (`UPDATE_SNAPSHOTS=1` rewrites
//! them; then read them).
//!
//! A second test feeds truncated and mutated recipes (the fixtures, the
//! shipped `recipes/*.yaml`, the corpus's configure bodies) through the
//! same path: nothing may panic, and every diagnostic points inside a file
//! that was read.

use crate::snapshots;
use crate::support::{corpus_files, recipe_context};
use nubo::diagnostic::Diagnostic;
use nubo::radl::ast::ConfigureBody;
use nubo::recipe::{self, IncludeRef, RecipeSource};
use nubo::source::{FileId, SourceMap};
use std::path::{Path, PathBuf};

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recipe")
}

/// Serves `include: NAME` from `DIR/NAME.yaml` (or `DIR/NAME` when the
/// name has an extension), named `includes/...` in messages.
struct DirSource(PathBuf);

impl RecipeSource for DirSource {
    fn load(&self, r: &IncludeRef) -> Result<(String, String), String> {
        let IncludeRef::Name { name, .. } = r else {
            return Err("git references are not served in tests".into());
        };
        if name.contains("..") || name.starts_with('/') {
            return Err(format!("`{name}` leaves the recipe directory"));
        }
        let file = if Path::new(name).extension().is_some() {
            name.clone()
        } else {
            format!("{name}.yaml")
        };
        std::fs::read_to_string(self.0.join(&file))
            .map(|text| (format!("includes/{file}"), text))
            .map_err(|e| format!("cannot read includes/{file}: {e}"))
    }
}

/// parse → expand_includes → render; every diagnostic along the way.
fn run(sources: &mut SourceMap, id: FileId) -> Vec<Diagnostic> {
    run_with(sources, id, &DirSource(fixture_root().join("includes")))
}

/// `run`, with includes read from `src`.
fn run_with(sources: &mut SourceMap, id: FileId, src: &DirSource) -> Vec<Diagnostic> {
    let text = sources.text(id).to_string();
    let parsed = match recipe::parse(id, 0, &text) {
        Ok(r) => r,
        Err(d) => return d,
    };
    let expanded = match recipe::expand_includes(parsed, src, sources) {
        Ok(r) => r,
        Err(d) => return d,
    };
    match recipe::render(&expanded, &recipe_context()) {
        Ok(_) => Vec::new(),
        Err(d) => d,
    }
}

fn render(name: &str, text: &str) -> (String, bool) {
    let mut sources = SourceMap::new();
    let id = sources.add(name, text);
    let diags = run(&mut sources, id);
    let out = diags.iter().map(|d| d.render(&sources)).collect();
    (out, diags.iter().any(Diagnostic::is_error))
}

#[test]
fn invalid_fixtures_match_their_snapshots() {
    snapshots::check(&fixture_root().join("invalid"), "yaml", render);
}

#[test]
fn every_snapshot_has_its_fixture() {
    snapshots::check_no_orphans(&fixture_root().join("invalid"), "yaml");
}

#[test]
fn shipped_recipes_render() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes");
    let files = snapshots::fixtures(&dir, "yaml");
    assert!(files.len() >= 2, "recipes/ ships {} recipes", files.len());
    for path in files {
        let mut sources = SourceMap::new();
        let id = sources.add(
            path.display().to_string(),
            std::fs::read_to_string(&path).unwrap(),
        );
        // Shipped recipes include each other.
        let diags = run_with(&mut sources, id, &DirSource(dir.clone()));
        let rendered: Vec<_> = diags.iter().map(|d| d.render(&sources)).collect();
        assert!(diags.is_empty(), "{}", rendered.join(""));
    }
}

/// Runs `text` through the whole path and checks every span.
fn any_input(text: &str, what: &dyn Fn() -> String) {
    let mut sources = SourceMap::new();
    let id = sources.add("t.yaml", text);
    for d in run(&mut sources, id) {
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
    let _ = recipe::detect_ansible(text);
}

fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

#[test]
fn no_panic_on_truncated_or_mutated_recipes() {
    const INSERTS: &[&str] = &[
        ":",
        "- ",
        "{",
        "[",
        "'",
        "\"",
        "\n  x: ",
        "{{",
        "}}",
        "{{#each nodes}}",
        "\t",
        "é",
        "\n- file: ",
        "&a ",
        "*a",
        "---\n",
    ];
    let mut inputs: Vec<(String, String)> = Vec::new();
    let dirs = [
        fixture_root().join("invalid"),
        fixture_root().join("includes"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes"),
    ];
    for dir in &dirs {
        for p in snapshots::fixtures(dir, "yaml") {
            inputs.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    for path in corpus_files("radl", &["radl"]) {
        let text = std::fs::read_to_string(&path).unwrap();
        let v = nubo::radl::validate(FileId(0), &text);
        for c in v.document.configures {
            if let ConfigureBody::Recipe { text, .. } = c.body {
                inputs.push((format!("{} configure {}", path.display(), c.name), text));
            }
        }
    }
    let exhaustive = std::env::var("NUBO_EXHAUSTIVE").as_deref() == Ok("1");
    for (name, text) in &inputs {
        let points = if exhaustive { text.len().max(1) } else { 12 };
        for k in 0..=points {
            let at = boundary(text, k * text.len() / points);
            any_input(&text[..at], &|| format!("{name} cut at byte {at}"));
            if let Some(c) = text[at..].chars().next() {
                let mut m = text.clone();
                m.replace_range(at..at + c.len_utf8(), "");
                any_input(&m, &|| format!("{name} without the {c:?} at byte {at}"));
            }
            for ins in INSERTS {
                let mut m = text.clone();
                m.insert_str(at, ins);
                any_input(&m, &|| format!("{name} with {ins:?} inserted at byte {at}"));
            }
        }
    }
}

/// Every YAML example of recipes/README.md is a valid recipe.
#[test]
fn readme_examples_parse() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("recipes/README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut blocks = 0;
    let mut rest = text.as_str();
    while let Some(start) = rest.find("```yaml\n") {
        let body = &rest[start + "```yaml\n".len()..];
        let end = body.find("```").expect("a closed code block");
        let mut sources = SourceMap::new();
        let id = sources.add(
            format!("recipes/README.md example {}", blocks + 1),
            &body[..end],
        );
        if let Err(diags) = recipe::parse(id, 0, &body[..end]) {
            let rendered: Vec<_> = diags.iter().map(|d| d.render(&sources)).collect();
            panic!("{}", rendered.join(""));
        }
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 10, "only {blocks} examples");
}
