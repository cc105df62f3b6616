//! TOSCA inputs and outputs through `nubo launch`, `plan`, `reconfigure`
//! and `show`: values given with `--input NAME=VALUE` and `--inputs
//! FILE.yaml` are checked against the template's input definitions (each
//! problem at the value, with the definition's file:line:column), reach the
//! lowering, and are kept for `reconfigure`; the outputs are evaluated from
//! the launched VMs.
//!
//! The launch needs root (the local provider); the refused inputs do not
//! (nothing is made).

use crate::support::local::{Nubo, SERIAL, can_run};
use std::path::Path;
use std::process::Output;

/// A front-end serving the web on a port given as input, and a number of
/// workers given as input; outputs with their addresses and the port.
const TEMPLATE: &str = "\
tosca_definitions_version: tosca_simple_yaml_1_0
description: A front-end and workers; the workers' number and the web port are inputs
topology_template:
  inputs:
    wn_num:
      type: integer
      default: 1
      constraints:
        - in_range: [0, 3]
    web_port:
      type: integer
      constraints:
        - in_range: [1024, 65535]
  node_templates:
    front:
      type: tosca.nodes.Compute
      capabilities:
        host:
          properties:
            num_cpus: 1
            mem_size: 256 MB
        os:
          properties:
            type: linux
    web:
      type: tosca.nodes.WebServer
      capabilities:
        data_endpoint:
          properties:
            port: { get_input: web_port }
      requirements:
        - host: front
    wn:
      type: tosca.nodes.Compute
      capabilities:
        scalable:
          properties:
            default_instances: { get_input: wn_num }
        host:
          properties:
            num_cpus: 1
            mem_size: 256 MB
        os:
          properties:
            type: linux
  outputs:
    front_address:
      value: { get_attribute: [ front, public_address ] }
    web_port:
      value: { get_property: [ web, data_endpoint, port ] }
    web_url:
      value: { concat: [ 'http://', { get_attribute: [ front, private_address ] }, ':', { get_input: web_port } ] }
    wn_addresses:
      value: { get_attribute: [ wn, private_address ] }
";

fn write_template(dir: &Path) -> String {
    let path = dir.join("web.yaml");
    std::fs::write(&path, TEMPLATE).unwrap();
    path.display().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `nubo launch` with these input arguments, refused: exit 1 and the
/// message; nothing is made (the local provider's root stays absent).
fn refused(extra: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let template = write_template(tmp.path());
    let mut args = vec!["launch", "c1", template.as_str(), "local", "-y"];
    args.extend_from_slice(extra);
    let out = crate::support::nubo_in(tmp.path())
        .args(&args)
        .env("NUBO_HOME", tmp.path().join("state"))
        .env("NUBO_LOCAL_ROOT", tmp.path().join("local"))
        .output()
        .expect("run nubo");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        !tmp.path().join("local").exists(),
        "nothing was made for a refused launch: {err}"
    );
    err
}

#[test]
fn an_unknown_input_is_refused_with_the_inputs_there_are() {
    let err = refused(&["--input", "web_port=8080", "--input", "wn_count=2"]);
    assert!(
        err.contains("--input:1:1: error: no template has an input `wn_count`"),
        "{err}"
    );
    assert!(err.contains("the inputs are `wn_num`, `web_port`"), "{err}");
}

#[test]
fn a_value_of_the_wrong_type_names_the_input_and_its_definition() {
    let err = refused(&["--input", "web_port=8080", "--input", "wn_num=two"]);
    assert!(
        err.contains(
            "--input:1:8: error: the input `wn_num` takes an integer, found the string \"two\""
        ),
        "{err}"
    );
    assert!(
        err.contains("the input `wn_num` is defined at ") && err.contains("web.yaml:5:5"),
        "{err}"
    );
}

#[test]
fn a_constraint_violation_names_the_constraint() {
    let err = refused(&["--input", "web_port=80"]);
    assert!(
        err.contains(
            "--input:1:10: error: the input `web_port` must be in the range [1024, 65535], found 80"
        ),
        "{err}"
    );
    assert!(err.contains("the constraint `in_range` at "), "{err}");
    assert!(err.contains("web.yaml:13:11"), "{err}");
}

#[test]
fn a_missing_required_input_is_reported_at_its_definition() {
    let err = refused(&[]);
    assert!(
        err.contains("web.yaml:10:5: error: the input `web_port` is required and has no default"),
        "{err}"
    );
    assert!(err.contains("--input web_port=VALUE"), "{err}");
}

#[test]
fn a_bad_value_in_an_inputs_file_points_into_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("in.yaml");
    std::fs::write(&file, "web_port: 8080\nwn_num: 7\n").unwrap();
    let err = refused(&["--inputs", file.to_str().unwrap()]);
    assert!(
        err.contains("in.yaml:2:9: error: the input `wn_num` must be in the range [0, 3], found 7"),
        "{err}"
    );
}

#[test]
fn an_input_argument_without_equals_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let template = write_template(tmp.path());
    let out = crate::support::nubo_in(tmp.path())
        .args(["plan", "c1", &template, "local", "--input", "web_port"])
        .env("NUBO_HOME", tmp.path().join("state"))
        .output()
        .expect("run nubo");
    let err = stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("`--input web_port` is not of the form NAME=VALUE"),
        "{err}"
    );
}

/// The inputs decide the lowering: `nubo plan` with `wn_num=2` makes two
/// workers, with the default one.
#[test]
fn input_values_reach_the_lowering() {
    let tmp = tempfile::tempdir().unwrap();
    let template = write_template(tmp.path());
    let plan = |extra: &[&str]| {
        let mut args = vec![
            "plan",
            "c1",
            template.as_str(),
            "local",
            "--input",
            "web_port=8080",
        ];
        args.extend_from_slice(extra);
        let out = crate::support::nubo_in(tmp.path())
            .args(&args)
            .env("NUBO_HOME", tmp.path().join("state"))
            .output()
            .expect("run nubo");
        crate::support::stdout_of("nubo plan", out)
    };
    let two = plan(&["--input", "wn_num=2"]);
    assert!(
        two.contains("vm wn-1 (wn") && two.contains("vm wn-2 (wn"),
        "{two}"
    );
    let default = plan(&[]);
    assert!(
        default.contains("vm wn (wn") && !default.contains("wn-2"),
        "{default}"
    );
}

/// The launch of the must-show: a TOSCA template with `--input`
/// values on the local provider; `nubo show --json` gives the outputs (the
/// front-end's address, the port given); `reconfigure` keeps the inputs.
#[test]
fn a_tosca_launch_with_inputs_shows_its_outputs() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("tosca-in");
    let tmp = tempfile::tempdir().unwrap();
    let template = write_template(tmp.path());
    let out = n.run(&[
        "launch",
        &n.name,
        &template,
        "local",
        "--input",
        "wn_num=2",
        "--input",
        "web_port=8080",
        "-y",
    ]);
    assert!(out.status.success(), "launch: {}", stderr(&out));
    let shown = n.show();
    let vms = shown["vms"].as_array().unwrap();
    let address = |node: &str| {
        vms.iter()
            .find(|v| v["node"] == node)
            .unwrap_or_else(|| panic!("no VM {node}: {shown}"))["addresses"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let front = address("front");
    assert!(front.parse::<std::net::Ipv4Addr>().is_ok(), "{front}");
    let outputs = &shown["outputs"];
    assert_eq!(outputs["front_address"], front.as_str(), "{outputs}");
    assert_eq!(outputs["web_port"], 8080, "{outputs}");
    assert_eq!(
        outputs["web_url"],
        format!("http://{front}:8080").as_str(),
        "{outputs}"
    );
    assert_eq!(
        outputs["wn_addresses"],
        serde_json::json!([address("wn-1"), address("wn-2")]),
        "{outputs}"
    );
    let text = n.ok(&["show", &n.name]);
    assert!(
        text.contains("OUTPUTS") && text.contains(&format!("http://{front}:8080")),
        "{text}"
    );

    // The inputs are recorded with the cluster: the recorded plan keeps both
    // workers (the default would be one), and so does reconfigure.
    let plan = n.ok(&["plan", &n.name]);
    assert!(plan.contains("0 to destroy"), "{plan}");
    let out = n.run(&["reconfigure", &n.name]);
    assert!(out.status.success(), "reconfigure: {}", stderr(&out));
    let again = n.show();
    assert_eq!(again["vms"].as_array().unwrap().len(), 3, "{again}");
    assert_eq!(again["outputs"]["web_port"], 8080, "{again}");
}

#[test]
fn an_input_for_a_radl_only_launch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = crate::support::nubo_in(tmp.path())
        .args(["launch", "c1", "demo", "-y", "--input", "wn_num=2"])
        .env("NUBO_HOME", tmp.path().join("state"))
        .env("NUBO_LOCAL_ROOT", tmp.path().join("local"))
        .output()
        .expect("run nubo");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("--input:1:1: error: an input value (`wn_num`) is given, but none of the templates is TOSCA"),
        "{err}"
    );
    assert!(
        !tmp.path().join("local").exists(),
        "nothing was made: {err}"
    );
}
