//! Differential test: for every corpus RADL file the reference parser
//! (`radl` 1.3.5 from PyPI) accepts, nubo's JSON equals the reference's
//! (keys sorted, numbers compared by value).

use crate::support::{corpus_files, skip_or_fail};
use nubo::radl::{self, json};
use nubo::source::FileId;
use serde_json::Value;
use std::process::Command;

fn reference_available() -> bool {
    Command::new("python3")
        .args([
            "-c",
            "import radl, importlib.metadata as m; assert m.version('radl') == '1.3.5'",
        ])
        .status()
        .is_ok_and(|s| s.success())
}

/// JSON equality with numbers compared as numbers (Python writes `2.0`
/// where the value is a float; serde may write `2.0` or `2`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// Known reference bug, not copied: `description` has no `getId`, so the
/// reference writes Python's `id(self)` (a memory address) as its `id`.
/// nubo writes the description's name. Where the reference's id is an
/// integer, it is replaced by ours before comparing; all else must match.
fn reference_description_id_is_an_object_address(ours: &Value, theirs: &mut Value) {
    let ours_desc = ours
        .as_array()
        .and_then(|a| a.iter().find(|o| o["class"] == "description"));
    for o in theirs.as_array_mut().into_iter().flatten() {
        if let Some(d) = ours_desc.filter(|_| o["class"] == "description" && o["id"].is_i64()) {
            o["id"] = d["id"].clone();
        }
    }
}

#[test]
fn json_matches_reference_parser_on_corpus() {
    let files = corpus_files("radl", &["radl"]);
    if files.is_empty() {
        return;
    }
    if !reference_available() {
        skip_or_fail("python3 with radl==1.3.5 is not installed (pip install radl==1.3.5)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/radl_reference.py");
    let out = Command::new("python3")
        .arg(script)
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut compared = 0;
    let mut failures = Vec::new();
    for path in &files {
        let key = path.display().to_string();
        let text = std::fs::read_to_string(path).unwrap();
        let v = radl::validate(FileId(0), &text);
        // Every corpus file parses in nubo, whatever the reference says.
        assert!(v.syntax.is_empty(), "{key}: {:?}", v.syntax);
        let r = &reference[&key];
        if r["ok"] != Value::Bool(true) {
            eprintln!("reference rejects {key}: {}", r["error"]);
            continue;
        }
        let ours = json::to_json(&v.document);
        let mut theirs = r["json"].clone();
        reference_description_id_is_an_object_address(&ours, &mut theirs);
        if !same(&ours, &theirs) {
            failures.push(format!(
                "{key}\n  nubo:      {}\n  reference: {}",
                serde_json::to_string(&ours).unwrap(),
                serde_json::to_string(&r["json"]).unwrap()
            ));
        }
        compared += 1;
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 20, "only {compared} files compared");
    eprintln!("{compared} corpus files: nubo's JSON equals the reference's");
}
