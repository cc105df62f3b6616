//! `nubo launch` refuses bad input before it makes anything: every problem
//! with its file:line:column, and a hint of what to do.

use std::path::Path;
use std::process::Output;

fn nubo(dir: &Path, args: &[&str]) -> Output {
    crate::support::nubo_in(dir)
        .args(args)
        .output()
        .expect("run nubo")
}

fn launch(text: &str) -> (Option<i32>, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("c.radl"), text).unwrap();
    let out = nubo(tmp.path(), &["launch", "c1", "c.radl", "-y"]);
    assert!(
        !tmp.path().join("local").exists(),
        "nothing was made for a refused launch"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_ansible_body_mixing_plays_and_tasks_is_refused_with_its_place() {
    let (code, err) = launch(
        "system front (disk.0.image.url = 'local://')\n\
         configure front (\n@begin\n---\n  - tasks:\n    - name: install\n      apt: name=slurm-wlm\n  - apt: name=x\n@end\n)\n\
         deploy front 1\n",
    );
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("c.radl:5:"),
        "points into the RADL file: {err}"
    );
    assert!(err.contains("mixes plays"), "{err}");
}

#[test]
fn a_missing_template_says_how_to_list_them() {
    let tmp = tempfile::tempdir().unwrap();
    let out = nubo(tmp.path(), &["launch", "c1", "no-such-template", "-y"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-template") && err.contains("nubo templates"),
        "{err}"
    );
}

#[test]
fn invalid_radl_is_reported_with_its_place() {
    let (code, err) = launch("system front (cpu.count = 'two')\ndeploy front 1\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("c.radl:1:"), "{err}");
}

#[test]
fn composed_templates_merge_same_named_systems_later_wins() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir_all(d.join("templates")).unwrap();
    std::fs::write(
        d.join("templates/base.radl"),
        "description base (kind = 'main' and short = 'a base')\n\
         system front (cpu.count >= 1 and memory.size >= 1g and disk.0.image.url = 'local://')\n\
         deploy front 1\n",
    )
    .unwrap();
    std::fs::write(
        d.join("templates/big.radl"),
        "description big (kind = 'component' and short = 'bigger front-end')\n\
         system front (cpu.count >= 4)\n",
    )
    .unwrap();
    let out = nubo(d, &["plan", "c1", "base", "big", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["vms"].as_array().unwrap().len(), 1);
    let list = nubo(d, &["templates", "-s", "^b"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        text.contains("base") && text.contains("big") && text.contains("bigger front-end"),
        "{text}"
    );
    assert!(!text.contains("demo"), "-s filters: {text}");
}
