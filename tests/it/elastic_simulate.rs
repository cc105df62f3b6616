//! `nubo elastic simulate` through the binary: SWF logs (plain and the real
//! gzip-compressed corpus log), the time window and node mapping options,
//! errors with a place, `--baseline` and `--compare` (text and JSON), and
//! YAML traces still working.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn nubo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nubo"))
        .args(["elastic", "simulate"])
        .args(args)
        .output()
        .expect("nubo runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

fn corpus_log() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus/traces/NASA-iPSC-1993-3.1-cln.swf.gz");
    assert!(p.exists(), "the corpus log {} is missing", p.display());
    p.display().to_string()
}

const LOG: &str = "; two jobs\n\
    1    0 -1 100 2 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n\
    2 4000 -1  50 1 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n";

#[test]
fn an_swf_log_is_replayed_with_its_window_and_node_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(dir.path(), "t.swf", LOG);
    let o = nubo(&[
        log.to_str().unwrap(),
        "--nodes",
        "4",
        "--boot",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(s["jobs"], 2, "{s}");
    assert_eq!(s["completed"], 2, "{s}");
    // The 2-processor job on one-CPU nodes needs two nodes, booted 20 s.
    assert_eq!(s["power_ons"], 3, "{s}");
    assert_eq!(s["max_wait_s"], 20, "{s}");
    assert_eq!(v["policy"], "nubo");
    // The window keeps only the second job; two CPUs per node: one node.
    let o = nubo(&[
        log.to_str().unwrap(),
        "--from",
        "1000",
        "--cpus-per-node",
        "2",
        "--nodes",
        "1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["jobs"], 1, "{}", v["summary"]);
    assert_eq!(v["summary"]["power_ons"], 1, "{}", v["summary"]);
}

#[test]
fn a_bad_swf_line_is_named_by_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "bad.swf",
        "; c\n1 0 -1 ten 1 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n",
    );
    let o = nubo(&[log.to_str().unwrap()]);
    assert!(!o.status.success());
    let out = text(&o);
    assert!(
        out.contains("bad.swf:2:8: field 4 is `ten`, not a number"),
        "{out}"
    );
    let o = nubo(&[log.to_str().unwrap(), "--from", "10", "--to", "5"]);
    assert!(!o.status.success(), "{}", text(&o));
}

#[test]
fn baselines_and_compare_on_a_day_of_the_real_log() {
    let log = corpus_log();
    let o = nubo(&[&log, "--to", "86400", "--compare", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let (n, s, c) = (&v["nubo"], &v["static"], &v["clues"]);
    for x in [n, s, c] {
        assert!(x["jobs"].as_u64().unwrap() > 100, "{v}");
        assert_eq!(x["jobs"], x["completed"], "{v}");
        assert_eq!(x["never_run"], 0, "{v}");
    }
    // Static: nothing to power on, nobody waits, the most node-hours.
    assert_eq!(s["power_ons"], 0, "{v}");
    assert_eq!(s["p95_wait_s"], 0, "{v}");
    let hours = |x: &serde_json::Value| x["node_hours"].as_f64().unwrap();
    assert!(hours(n) < hours(s) && hours(c) < hours(s), "{v}");
    // CLUES keeps nodes 1800 s idle, nubo 60 s: nubo uses fewer hours.
    assert!(hours(n) < hours(c), "{v}");
    // Text table, and one baseline alone.
    let o = nubo(&[&log, "--to", "86400", "--compare"]);
    let out = text(&o);
    assert!(
        out.contains("node-hours") && out.contains("\nclues "),
        "{out}"
    );
    let o = nubo(&[&log, "--to", "86400", "--baseline", "clues", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["policy"], "clues");
    assert_eq!(v["summary"]["power_ons"], c["power_ons"]);
}

#[test]
fn yaml_traces_keep_working_and_refuse_swf_options() {
    let dir = tempfile::tempdir().unwrap();
    let t = write(
        dir.path(),
        "t.yaml",
        "boot: 10\ntypes: [{system: wn, max: 3, idle_time: 30, cooldown: 5}]\njobs: [{at: 0, duration: 20, count: 6}]\n",
    );
    let o = nubo(&[t.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["completed"], 6);
    assert_eq!(v["summary"]["ended_at"], 80);
    let o = nubo(&[t.to_str().unwrap(), "--baseline", "static", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["power_ons"], 0, "{v}");
    assert_eq!(v["summary"]["max_wait_s"], 20, "{v}");
    let o = nubo(&[t.to_str().unwrap(), "--nodes", "3"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("apply to SWF logs"), "{}", text(&o));
}

/// Two node types from a description (issue 19, item 1): 1-CPU `small`
/// nodes (4 at most) and 4-CPU `big` ones (2 at most, tried second). The
/// 2-processor job runs on one `big` node (CPUs per node default to the
/// most a type offers), the 1-processor one on a `small` node, a
/// 12-processor job fits no type and is never run, and the description's
/// idle time (600 s) decides the power-offs.
#[test]
fn node_types_come_from_a_description() {
    let dir = tempfile::tempdir().unwrap();
    let log = write(
        dir.path(),
        "t.swf",
        &format!("{LOG}    3 5000 -1 10 12 -1 -1 -1 -1 -1 -1 1 1 -1 -1 -1 -1 -1\n"),
    );
    let radl = write(
        dir.path(),
        "types.radl",
        "network public (outbound = 'yes')\n\
         system front (cpu.count >= 1 and memory.size >= 512m and net_interface.0.connection = 'public' and disk.0.image.url = 'dummy://img')\n\
         system small (cpu.count >= 1 and memory.size >= 1g and net_interface.0.connection = 'public' and disk.0.image.url = 'dummy://img' and ec3_max_instances = 4 and elastic_idle_time = 600)\n\
         system big (cpu.count >= 4 and memory.size >= 4g and net_interface.0.connection = 'public' and disk.0.image.url = 'dummy://img' and ec3_max_instances = 2 and ec3_prio = 5 and elastic_idle_time = 600)\n\
         deploy front 1\n\
         deploy small 0\n\
         deploy big 0\n",
    );
    let o = nubo(&[
        log.to_str().unwrap(),
        "--radl",
        radl.to_str().unwrap(),
        "--boot",
        "20",
        "--json",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["summary"];
    assert_eq!(
        (s["jobs"].as_u64(), s["completed"].as_u64()),
        (Some(3), Some(2)),
        "{s}"
    );
    assert_eq!(s["never_run"], 1, "{s}");
    let events: Vec<String> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{} {}", e["at"], e["what"].as_str().unwrap_or("")))
        .collect();
    let has = |line: &str| events.iter().any(|e| e.starts_with(line));
    // Job 1 (2 processors, 4 per node: one node) gets a `big` node, the
    // only type with 2 CPUs; job 2 (1 processor) a `small` one, first by
    // `ec3_prio`; each is powered off after the description's 600 s idle.
    assert!(has("0 power_on big-1:"), "{events:#?}");
    assert!(has("720 power_off big-1: idle for 600s"), "{events:#?}");
    assert!(has("4000 power_on small-1:"), "{events:#?}");
    assert!(has("4670 power_off small-1:"), "{events:#?}");
    // Job 3 (12 processors: 3 nodes of 4) fits in no type's maximum.
    assert!(
        has("5000 job 3: unschedulable: job 3 (3 nodes x 4 CPUs) needs more nodes"),
        "{events:#?}"
    );

    // A description with no elastic system is refused, naming it.
    let none = write(
        dir.path(),
        "none.radl",
        "network public (outbound = 'yes')\n\
         system front (cpu.count >= 1 and net_interface.0.connection = 'public' and disk.0.image.url = 'dummy://img')\n\
         deploy front 1\n",
    );
    let o = nubo(&[log.to_str().unwrap(), "--radl", none.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("none.radl"), "{}", text(&o));
    // A broken one names file:line:column.
    let bad = write(dir.path(), "bad.radl", "system front (cpu.count >= )\n");
    let o = nubo(&[log.to_str().unwrap(), "--radl", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("bad.radl:1:"), "{}", text(&o));
}
