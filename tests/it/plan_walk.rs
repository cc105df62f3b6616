//! One plan for `nubo plan` and the walk (issue 13): what the plan says of
//! each VM and step is what the walk does, case by case, on the local
//! provider; and the regressions where the two used to disagree.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs.

use crate::support::local::{Nubo, SERIAL, can_run};
use nubo::ops::env::{Env, EnvOptions};
use nubo::ops::launch::{self, ReconfigureOptions};
use nubo::ops::observer::{Event, Observer};
use nubo::ops::plan::{self, PlanReport};
use nubo::plan::changes::{StepAction, StepReason, VmAction};
use nubo::state::{StepKey, StepStatus, VmState};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A front-end and one worker, each with a step that writes a file.
const CLUSTER: &str = "network private ()\n\
    system front (cpu.count >= 1 and memory.size >= 256m and \
      net_interface.0.connection = 'private' and net_interface.0.dns_name = 'front' and \
      disk.0.image.url = 'local://')\n\
    system wn (cpu.count >= 1 and memory.size >= 256m and \
      net_interface.0.connection = 'private' and net_interface.0.dns_name = 'wn-#N#' and \
      disk.0.image.url = 'local://')\n\
    configure mark (\n@begin\n- name: the mark\n  file:\n    path: /etc/nubo-mark\n    content: \"{{ node.name }}\\n\"\n@end\n)\n\
    contextualize (\n system front configure mark step 1\n system wn configure mark step 1\n)\n\
    deploy front 1\n\
    deploy wn 1\n";

/// What the walk did, from the observer's events.
#[derive(Default)]
struct Seen {
    vms: Mutex<BTreeMap<String, VmAction>>,
    steps: Mutex<BTreeMap<StepKey, (StepAction, StepReason)>>,
}

impl Observer for Seen {
    fn on(&self, e: &Event) {
        match e {
            Event::VmAction { node, action } => {
                self.vms.lock().unwrap().insert(node.clone(), *action);
            }
            Event::StepAction {
                key,
                action,
                reason,
            } => {
                self.steps
                    .lock()
                    .unwrap()
                    .insert(key.clone(), (*action, reason.clone()));
            }
            _ => {}
        }
    }
}

fn planned(
    p: &PlanReport,
) -> (
    BTreeMap<String, VmAction>,
    BTreeMap<StepKey, (StepAction, StepReason)>,
) {
    (
        p.vms.iter().map(|v| (v.node.clone(), v.action)).collect(),
        p.steps
            .iter()
            .map(|s| (s.key.clone(), (s.action, s.reason.clone())))
            .collect(),
    )
}

fn env(n: &Nubo) -> Env {
    Env::open(&EnvOptions {
        auth: None,
        state_dir: Some(n.home.clone()),
        local_root: Some(n.root.clone()),
    })
    .unwrap()
}

/// `nubo reconfigure` (with `force`) through the library, the walk's
/// decisions collected.
fn walk(n: &Nubo, force: bool) -> Arc<Seen> {
    let seen = Arc::new(Seen::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let report = rt
        .block_on(launch::reconfigure(
            &env(n),
            &ReconfigureOptions {
                name: n.name.clone(),
                force,
                ..Default::default()
            },
            seen.clone(),
        ))
        .unwrap();
    assert!(report.succeeded(), "{:?}", report.walk.outcomes);
    seen
}

fn assert_agree(case: &str, plan: &PlanReport, seen: &Seen) {
    let (vms, steps) = planned(plan);
    assert_eq!(vms, *seen.vms.lock().unwrap(), "{case}: VMs");
    assert_eq!(steps, *seen.steps.lock().unwrap(), "{case}: steps");
}

fn key(node: &str) -> StepKey {
    StepKey::new(node, "mark", 1)
}

/// The table: each case changes the records (or the machine), then `nubo
/// plan` and the walk must say the same of every VM and step, and the
/// expected actions.
#[test]
fn plan_and_walk_agree_case_by_case() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("planwalk");
    let dir = n.root.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("c.radl"), CLUSTER).unwrap();
    let radl = dir.join("c.radl");
    let radl = radl.to_str().unwrap();

    // A new cluster: the plan of `launch`, then the launch itself.
    let plan0 = plan::plan(
        &env(&n),
        &n.name,
        &[radl.to_string()],
        None,
        &Default::default(),
        &Default::default(),
    )
    .unwrap();
    let seen = Arc::new(Seen::default());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt
        .block_on(launch::launch(
            &env(&n),
            &launch::LaunchOptions {
                name: n.name.clone(),
                templates: vec![radl.to_string()],
                ..Default::default()
            },
            seen.clone(),
        ))
        .unwrap();
    assert!(r.succeeded());
    assert_agree("new cluster", &plan0, &seen);
    assert!(
        plan0
            .steps
            .iter()
            .all(|s| (s.action, &s.reason) == (StepAction::Run, &StepReason::NewVm))
    );

    type Setup = Box<dyn Fn(&Nubo)>;
    let store_of = |n: &Nubo| n.store();
    let cases: Vec<(&str, Setup, bool, VmAction, StepAction, StepReason)> = vec![
        (
            "nothing changed",
            Box::new(|_| {}),
            false,
            VmAction::Keep,
            StepAction::Keep,
            StepReason::Done,
        ),
        (
            "--force",
            Box::new(|_| {}),
            true,
            VmAction::Keep,
            StepAction::Rerun,
            StepReason::Forced,
        ),
        (
            "a step failed last time",
            Box::new(move |n| {
                let s = store_of(n);
                for node in ["front", "wn-1"] {
                    s.finish_step(&n.name, &key(node), StepStatus::Failed, Some(1))
                        .unwrap();
                }
            }),
            false,
            VmAction::Keep,
            StepAction::Rerun,
            StepReason::LastRun(StepStatus::Failed),
        ),
        (
            "the recorded script is another",
            Box::new(move |n| {
                let s = store_of(n);
                for node in ["front", "wn-1"] {
                    s.put_step(&n.name, &key(node), "0000000000000000").unwrap();
                    s.finish_step(&n.name, &key(node), StepStatus::Ok, Some(0))
                        .unwrap();
                }
            }),
            false,
            VmAction::Keep,
            StepAction::Rerun,
            StepReason::ScriptChanged,
        ),
        (
            "the cluster is stopped",
            Box::new(|n| {
                n.ok(&["stop", &n.name]);
            }),
            false,
            VmAction::Start,
            StepAction::Rerun,
            StepReason::VmStarted,
        ),
        (
            "the VMs are recorded failed",
            Box::new(move |n| {
                let s = store_of(n);
                for node in ["front", "wn-1"] {
                    s.set_vm_state(&n.name, node, VmState::Failed).unwrap();
                }
            }),
            false,
            VmAction::Recreate,
            StepAction::Rerun,
            StepReason::NewVm,
        ),
    ];
    for (case, setup, force, vm, step, reason) in cases {
        setup(&n);
        let p = plan::plan_recorded(&env(&n), &n.name, force, &Default::default()).unwrap();
        assert!(p.vms.iter().all(|v| v.action == vm), "{case}: {:?}", p.vms);
        assert!(
            p.steps
                .iter()
                .all(|s| s.action == step && s.reason == reason),
            "{case}: {:?}",
            p.steps
        );
        let seen = walk(&n, force);
        assert_agree(case, &p, &seen);
        for node in ["front", "wn-1"] {
            assert_eq!(
                n.ok(&["ssh", &n.name, node, "cat", "/etc/nubo-mark"])
                    .trim(),
                node,
                "{case}: {node} is configured"
            );
        }
    }
    // Exactly one VM per node on the host, whatever happened above.
    let on_host: Vec<String> = n
        .provider()
        .list_nodes(&n.name)
        .unwrap()
        .into_iter()
        .map(|x| x.name)
        .collect();
    assert_eq!(on_host, ["front", "wn-1"]);
}

/// Regression: a VM made again because it vanished at the provider kept
/// its steps recorded `ok`; with an unchanged script they were skipped, so
/// the node came back unconfigured while nubo reported success.
#[test]
fn a_vm_recreated_after_it_vanished_is_configured_again() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("vanish");
    let dir = n.root.parent().unwrap().to_path_buf();
    std::fs::write(dir.join("c.radl"), CLUSTER).unwrap();
    let radl = dir.join("c.radl");
    n.ok(&["launch", &n.name, radl.to_str().unwrap(), "-y"]);
    // wn-1 vanishes behind nubo's back.
    n.provider().destroy_node(&n.name, "wn-1").unwrap();
    n.ok(&["reconfigure", &n.name]);
    assert_eq!(
        n.ok(&["ssh", &n.name, "wn-1", "cat", "/etc/nubo-mark"])
            .trim(),
        "wn-1",
        "the new wn-1 is configured"
    );
    let shown = n.show();
    assert!(
        shown["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "ok"),
        "{shown:#}"
    );
}

/// Regression: a cluster launched with `contextualize ()` could not be
/// entered: no SSH connection was made during the launch, so no host key
/// was pinned, and `nubo ssh` failed with "Host key verification failed",
/// although the local provider made the host key itself.
#[test]
fn nubo_ssh_works_on_a_cluster_launched_without_configuration() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("noctx");
    let dir = n.root.parent().unwrap().to_path_buf();
    let text = CLUSTER.split("configure mark").next().unwrap().to_string()
        + "contextualize ()\ndeploy front 1\ndeploy wn 1\n";
    std::fs::write(dir.join("c.radl"), text).unwrap();
    let radl = dir.join("c.radl");
    n.ok(&["launch", &n.name, radl.to_str().unwrap(), "-y"]);
    assert_eq!(n.ok(&["ssh", &n.name, "--", "hostname"]).trim(), "front");
    assert_eq!(n.ok(&["ssh", &n.name, "wn-1", "hostname"]).trim(), "wn-1");
}
