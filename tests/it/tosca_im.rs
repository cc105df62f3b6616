//! Lowering against IM: every TOSCA file of the corpus that IM's own
//! `Tosca(text).to_radl()` converts offline is lowered by nubo too, and
//! the two RADL documents are compared in IM's JSON form: the networks,
//! the systems with all their features, the deploy counts and the
//! contextualization steps. Recipe bodies are not compared: IM downloads
//! each implementation and inlines it, nubo writes a reference to it.
//!
//! Driven by `tests/tools/tosca_im_lower.py` (`pip install im`); URL
//! imports are served from the corpus copy of the grycap custom types, and
//! nothing is fetched.

use crate::support::{corpus_dir, corpus_files, skip_or_fail};
use nubo::radl::{document::Document, json};
use nubo::source::SourceMap;
use nubo::tosca::{self, ImportOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

/// Files IM converts that nubo does not lower yet, and why.
const NOT_LOWERED: &[(&str, &str)] = &[
    (
        "grycap/faas_function.yaml",
        "OSCAR functions become IM-specific systems",
    ),
    (
        "im/examples_faas.yml",
        "OSCAR functions become IM-specific systems",
    ),
    (
        "im/test_files_tosca_oscar.yml",
        "OSCAR functions become IM-specific systems",
    ),
    (
        "im/test_files_tosca_oscar_host.yml",
        "OSCAR functions become IM-specific systems",
    ),
    (
        "im/test_files_tosca_k8s.yml",
        "container applications become IM-specific Kubernetes systems",
    ),
    (
        "im/test_files_tosca_ansible_host.yaml",
        "the AnsibleHost node becomes IM's `ansible` aspect",
    ),
];

fn im_available() -> bool {
    Command::new("python3")
        .args(["-c", "import IM.tosca.Tosca, radl"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The parts of a RADL JSON document that are compared, keyed so that
/// order does not matter.
fn summary(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for o in doc.as_array().into_iter().flatten() {
        match o["class"].as_str() {
            Some("network") | Some("system") | Some("ansible") => {
                let mut v = normalize(o);
                // nubo adds the `scalable` bounds as EC3's elasticity
                // features (for its daemon); IM's RADL has no place for
                // them. Everything else must match.
                if let Some(m) = v.as_object_mut() {
                    m.remove("ec3_max_instances");
                    m.remove("ec3_min_instances");
                }
                out.insert(format!("{} {}", o["class"].as_str().unwrap(), o["id"]), v);
            }
            Some("deploy") => {
                out.insert(format!("deploy {}", o["system"]), o["vm_number"].clone());
            }
            Some("contextualize") => {
                let mut items: Vec<String> = o["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| format!("{} {} {}", i["system"], i["configure"], i["step"]))
                    .collect();
                items.sort();
                out.insert("contextualize".into(), items.into());
            }
            _ => {}
        }
    }
    out
}

/// Numbers compared by value (Python writes 2.0 where serde writes 2).
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::Number::from_f64(n.as_f64().unwrap_or(f64::NAN))
            .map_or(v.clone(), Value::Number),
        Value::Array(a) => a.iter().map(normalize).collect(),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| (k.clone(), normalize(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        _ => v.clone(),
    }
}

#[test]
fn lowering_matches_im_on_corpus() {
    let files = corpus_files("tosca", &["yaml", "yml"]);
    if files.is_empty() {
        return;
    }
    if !im_available() {
        skip_or_fail("python3 with IM is not installed (pip install im)");
        return;
    }
    let corpus = corpus_dir().unwrap().join("tosca");
    let grycap = corpus.join("grycap");
    let scratch = std::env::temp_dir().join(format!("nubo-tosca-im-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/tosca_im_lower.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("--import-dir")
        .arg(&grycap)
        .args(&files)
        .current_dir(&scratch)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference: serde_json::Map<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let opts = ImportOptions {
        import_dirs: vec![grycap.clone()],
        cache_dir: None,
        fetch: None,
    };
    let (mut compared, mut failures, mut skipped) = (0, Vec::new(), Vec::new());
    for path in &files {
        let rel = path.strip_prefix(&corpus).unwrap().display().to_string();
        let r = &reference[&path.display().to_string()];
        if r["ok"] != Value::Bool(true) {
            continue;
        }
        if let Some((_, why)) = NOT_LOWERED.iter().find(|(f, _)| *f == rel) {
            skipped.push(format!("{rel}: {why}"));
            continue;
        }
        let mut sources = SourceMap::new();
        let checked = tosca::load(&mut sources, path, &opts).unwrap();
        if checked.has_errors() {
            let msgs: Vec<String> = checked
                .diagnostics
                .iter()
                .map(|d| d.render(&sources))
                .collect();
            failures.push(format!(
                "{rel}: IM converts it, nubo rejects it:\n{}",
                msgs.join("")
            ));
            continue;
        }
        let radl = tosca::lower::to_radl(&checked);
        let (doc, diags) = Document::build(&radl);
        assert!(
            diags.is_empty(),
            "{rel}: lowered RADL does not build: {diags:?}"
        );
        let ours = summary(&json::to_json(&doc));
        let theirs = summary(&r["json"]);
        if ours != theirs {
            let mut diff = String::new();
            for k in ours
                .keys()
                .chain(theirs.keys())
                .collect::<std::collections::BTreeSet<_>>()
            {
                if ours.get(k) != theirs.get(k) {
                    diff.push_str(&format!(
                        "  {k}\n    nubo: {}\n    IM:   {}\n",
                        ours.get(k).map_or("-".into(), |v| v.to_string()),
                        theirs.get(k).map_or("-".into(), |v| v.to_string())
                    ));
                }
            }
            failures.push(format!("{rel}:\n{diff}"));
        }
        compared += 1;
    }
    for s in &skipped {
        eprintln!("not compared: {s}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ from IM:\n{}",
        failures.len(),
        compared + failures.len(),
        failures.join("\n")
    );
    assert!(compared >= 8, "only {compared} files compared");
    eprintln!("{compared} corpus files: nubo's lowering equals IM's to_radl");
}

#[test]
fn scalable_bounds_become_the_elasticity_features() {
    let text = "tosca_definitions_version: tosca_simple_yaml_1_0\n\
topology_template:\n  node_templates:\n    wn:\n      type: tosca.nodes.Compute\n      capabilities:\n        scalable:\n          properties:\n            default_instances: 1\n            min_instances: 0\n            max_instances: 4\n";
    let mut sources = nubo::source::SourceMap::new();
    let id = sources.add("scal.yaml", text);
    let checked = tosca::validate(
        &mut sources,
        id,
        &tosca::Origin::Text,
        &ImportOptions::default(),
    );
    let msgs: String = checked
        .diagnostics
        .iter()
        .map(|d| d.render(&sources))
        .collect();
    assert!(!checked.has_errors(), "{msgs}");
    let radl = nubo::radl::printer::print(&tosca::lower::to_radl(&checked));
    assert!(radl.contains("ec3_max_instances = 4"), "{radl}");
    assert!(radl.contains("ec3_min_instances = 0"), "{radl}");
    assert!(radl.contains("deploy wn 1"), "{radl}");
}
