//! EC3's grammar and checks beyond IM's, each on a file written for the
//! test (tests/fixtures/radl/ec3): `ec3_inherit_from = system NAME`, a
//! description of any kind, and templates meant for composition (a
//! `component` declaring `disk.1` whose `disk.0` comes from an `images`
//! template), alone and composed with `nubo validate --compose`.

use nubo::radl::{self, ast::ConfigureBody, json};
use nubo::source::SourceMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/radl/ec3")
        .join(name)
}

fn validate(name: &str) -> (radl::Validated, SourceMap) {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut sources = SourceMap::new();
    let id = sources.add(name, text.clone());
    (radl::validate(id, &text), sources)
}

fn errors(v: &radl::Validated, sources: &SourceMap) -> Vec<String> {
    v.diagnostics()
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.render(sources))
        .collect()
}

fn nubo(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(args)
        .current_dir(fixture(""))
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn ec3_inherit_from_copies_the_system_and_its_own_features_win() {
    let (v, sources) = validate("inherit.radl");
    assert!(
        errors(&v, &sources).is_empty(),
        "{:?}",
        errors(&v, &sources)
    );
    let big = v.document.system("big").unwrap();
    let f = json::features(&big.features);
    assert_eq!(
        f["cpu.count_min"],
        serde_json::json!(8),
        "its own value wins"
    );
    assert_eq!(f["ec3_max_instances"], serde_json::json!(2));
    assert_eq!(f["net_interface.0.connection"], "net", "copied from wn");
    assert_eq!(f["disk.0.image.url"], "one://cloud.example/42");
    assert_eq!(f["ec3_node_type"], "wn");
    assert!(f.contains_key("memory.size_min"));
    assert!(
        !f.contains_key("ec3_inherit_from"),
        "the feature is consumed"
    );
    // wn is unchanged.
    let wn = json::features(&v.document.system("wn").unwrap().features);
    assert_eq!(wn["cpu.count_min"], serde_json::json!(2));
    // big's configure runs wn's recipe first, then its own.
    let conf = v.document.configure("big").unwrap();
    assert!(
        matches!(&conf.body, ConfigureBody::Recipe { text, .. } if text.contains("a worker")),
        "{conf:?}"
    );
    assert!(
        matches!(&conf.appended[..], [ConfigureBody::Recipe { text, .. }] if text.contains("a big worker")),
        "{conf:?}"
    );
    // The printer gives the reference back, and it parses again.
    let printed = radl::printer::print(&v.tree);
    assert!(
        printed.contains("ec3_inherit_from = system wn"),
        "{printed}"
    );
}

#[test]
fn ec3_inherit_from_a_system_not_declared_is_an_error_in_a_whole_description() {
    let text = "system a (\n  ec3_inherit_from = system nowhere and\n  cpu.count = 1\n)\n";
    let mut sources = SourceMap::new();
    let id = sources.add("missing.radl", text);
    let v = radl::validate(id, text);
    let errs = errors(&v, &sources);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("missing.radl:2:22: error: system `a` inherits from system `nowhere`, which is not declared"),
        "{errs:?}"
    );
    // A string is not a system: EC3 would fail on it.
    let text = "system b (cpu.count = 1)\nsystem a (ec3_inherit_from = 'b')\n";
    let id = sources.add("string.radl", text);
    let errs = errors(&radl::validate(id, text), &sources);
    assert!(
        errs.len() == 1 && errs[0].contains("as in `ec3_inherit_from = system wn`; found 'b'"),
        "{errs:?}"
    );
    // Two systems inheriting from each other.
    let text = "system a (ec3_inherit_from = system b)\nsystem b (ec3_inherit_from = system a)\n";
    let id = sources.add("cycle.radl", text);
    let errs = errors(&radl::validate(id, text), &sources);
    assert!(
        errs.len() == 2 && errs.iter().all(|e| e.contains("inherits from itself")),
        "{errs:?}"
    );
}

#[test]
fn a_description_of_any_kind_is_accepted() {
    let (v, sources) = validate("test-kind.radl");
    assert!(
        errors(&v, &sources).is_empty(),
        "{:?}",
        errors(&v, &sources)
    );
    let backup = json::features(&v.document.system("wn_backup").unwrap().features);
    assert_eq!(backup["disk.0.image.url"], "one://cloud.example/2");
    assert_eq!(backup["ec3_if_fail"], "");
    let o = nubo(&["validate", "test-kind.radl"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
}

#[test]
fn a_component_alone_leaves_to_composition_what_composition_can_fix() {
    let (v, sources) = validate("extra-disk.radl");
    assert!(
        errors(&v, &sources).is_empty(),
        "{:?}",
        errors(&v, &sources)
    );
    let o = nubo(&["validate", "extra-disk.radl", "images.radl"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // The same system in a whole description (no kind) is an error.
    let text = std::fs::read_to_string(fixture("extra-disk.radl"))
        .unwrap()
        .replace("kind = 'component'", "kind = 'main'");
    let mut sources = SourceMap::new();
    let id = sources.add("main.radl", text.clone());
    let errs = errors(&radl::validate(id, &text), &sources);
    assert!(
        errs.len() == 1 && errs[0].contains("`disk.1` skips index 0"),
        "{errs:?}"
    );
}

#[test]
fn a_component_still_gets_what_composition_cannot_fix() {
    let o = nubo(&["validate", "bad-component.radl"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let text = out(&o);
    assert!(
        text.contains("bad-component.radl:5:19: error: `disk.1.size` takes a number with an optional unit, found 'big'"),
        "{text}"
    );
    assert!(
        text.contains("bad-component.radl:1")
            && text.contains("error: the recipe is not valid YAML"),
        "{text}"
    );
    assert!(!text.contains("skips index"), "{text}");
}

#[test]
fn validate_compose_checks_the_composed_description() {
    let o = nubo(&["validate", "--compose", "images.radl", "extra-disk.radl"]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "images.radl + extra-disk.radl: ok\n"
    );
    // Composed without the images, disk.0 is missing.
    let o = nubo(&["validate", "--compose", "extra-disk.radl"]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("extra-disk.radl:9:5: error: `disk.1` skips index 0"),
        "{}",
        out(&o)
    );
    // Inheritance across templates: a system inheriting from one another
    // template declares.
    let dir = tempfile::tempdir().unwrap();
    let child = dir.path().join("spot.radl");
    std::fs::write(
        &child,
        "description spot (kind = 'component')\nsystem wn_spot (\n  ec3_inherit_from = system wn and\n  spot = 'yes'\n)\n",
    )
    .unwrap();
    let o = nubo(&["validate", child.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "alone: {}", out(&o));
    let images = fixture("images.radl");
    let o = nubo(&[
        "validate",
        "--compose",
        images.to_str().unwrap(),
        child.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = nubo(&["validate", "--compose", child.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("inherits from system `wn`, which is not declared"));
    // A template that does not exist.
    let o = nubo(&["validate", "--compose", "images.radl", "no-such-template"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("template `no-such-template` not found"));
}
