//! `nubo validate`, `nubo radl fmt` and `nubo radl json` as a user runs
//! them: output format and exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn nubo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn valid_file_prints_ok_and_exits_0() {
    let o = nubo(&["validate", "examples/cluster.radl"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), "examples/cluster.radl: ok\n");
}

#[test]
fn invalid_file_prints_location_line_and_caret_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("nubo-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.radl");
    std::fs::write(&bad, "system front (\n  cpu.count = 'two'\n)\n").unwrap();
    let o = nubo(&["validate", "examples/cluster.radl", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.starts_with("examples/cluster.radl: ok\n"), "{out}");
    let expected = format!(
        "{}:2:15: error: `cpu.count` takes a number, found 'two'\n  |\n2 |   cpu.count = 'two'\n  |               ^^^^^\n",
        bad.display()
    );
    assert!(out.ends_with(&expected), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unreadable_file_exits_2_with_a_message() {
    let o = nubo(&["validate", "does/not/exist.radl"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read does/not/exist.radl"));
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(nubo(&["validate"]).status.code(), Some(2));
    assert_eq!(nubo(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(nubo(&["--help"]).status.code(), Some(0));
}

#[test]
fn fmt_output_validates_and_json_is_a_list_of_aspects() {
    let o = nubo(&["radl", "fmt", "examples/cluster.radl"]);
    assert_eq!(o.status.code(), Some(0));
    let dir = std::env::temp_dir().join(format!("nubo-fmt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let printed = dir.join("printed.radl");
    std::fs::write(&printed, &o.stdout).unwrap();
    assert_eq!(
        nubo(&["validate", printed.to_str().unwrap()]).status.code(),
        Some(0)
    );

    let o = nubo(&["radl", "json", "examples/cluster.radl"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let classes: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["class"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        classes,
        [
            "network",
            "network",
            "system",
            "system",
            "configure",
            "deploy",
            "deploy",
            "contextualize",
            "description"
        ]
    );
    assert_eq!(v[2]["memory.size_min"], 512_000_000);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(Path::new(&printed).parent().is_some());
}

#[test]
fn json_refuses_an_invalid_file_with_exit_1() {
    let o = nubo(&[
        "radl",
        "json",
        "../shared/corpus/radl/im/examples_glusterfs.radl",
    ]);
    if !Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .is_dir()
    {
        return crate::support::skip_or_fail("../shared/corpus is not present");
    }
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already set to 'wn-#N#'"));
}

#[test]
fn graph_prints_dot_with_networks_vms_and_steps() {
    let o = nubo(&["graph", "examples/cluster.radl"]);
    assert_eq!(o.status.code(), Some(0));
    let dot = stdout(&o);
    assert!(
        dot.starts_with("digraph \"examples/cluster.radl\" {"),
        "{dot}"
    );
    for line in [
        "\"vm wn-2\" [shape=box];",
        "\"network public\" -> \"vm front\" [style=solid];",
        "\"vm front\" -> \"configure front on front (step 1)\" [style=solid];",
    ] {
        assert!(dot.contains(line), "missing {line} in\n{dot}");
    }
    assert_eq!(
        nubo(&["graph", "does/not/exist.radl"]).status.code(),
        Some(2)
    );
}

#[test]
fn graph_composes_templates_and_add_as_launch_does() {
    let add = std::env::temp_dir().join(format!("nubo-graph-add-{}.radl", std::process::id()));
    std::fs::write(&add, "deploy wn 2\n").unwrap();
    let o = nubo(&[
        "graph",
        "slurm",
        "nfs",
        "local",
        "--add",
        add.to_str().unwrap(),
    ]);
    std::fs::remove_file(&add).unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let dot = stdout(&o);
    assert!(
        dot.starts_with("digraph \"slurm + nfs + local\" {"),
        "{dot}"
    );
    for line in [
        "\"vm wn-2\" [shape=box];",
        "\"vm front\" -> \"configure front on front (step 1)\" [style=solid];",
        "\"configure front on front (step 1)\" -> \"configure wn on wn-2 (step 2)\" [style=dashed];",
    ] {
        assert!(dot.contains(line), "missing {line} in\n{dot}");
    }
    assert!(!dot.contains("vm wn-3"), "{dot}");
    let bad = nubo(&["graph", "slurm", "no-such-template"]);
    assert_ne!(bad.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no-such-template"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn validate_checks_tosca_files_by_extension() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/tosca");
    if !dir.is_dir() {
        return crate::support::skip_or_fail("../shared/corpus is not present");
    }
    let ok = "../shared/corpus/tosca/im/test_files_tosca_simple.yml";
    let o = nubo(&["validate", ok, "examples/cluster.radl"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert_eq!(stdout(&o), format!("{ok}: ok\nexamples/cluster.radl: ok\n"));
    let bad = "../shared/corpus/tosca/grycap/slurm_elastic.yaml";
    let o = nubo(&[
        "validate",
        "--import-dir",
        "../shared/corpus/tosca/grycap",
        bad,
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).contains(&format!(
        "{bad}:72:31: error: `slurm_version` is not an input of this template"
    )));
}
