//! `nubo launch` end to end on the local provider, through the binary: the
//! README's main job, and SIGKILL at chosen points of a launch followed by
//! `destroy` and by a relaunch.
//!
//! Needs root and what `scripts/install-local-deps.sh` installs.

use crate::support::local::{Nubo, SERIAL, assert_nothing_left, can_run, lines};
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

#[test]
fn main_job_demo_launch_ssh_destroy_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("demo");
    let out = n.launch();
    assert!(
        out.status.success(),
        "launch: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = n.show();
    let vms = shown["vms"].as_array().unwrap();
    let nodes: Vec<&str> = vms.iter().map(|v| v["node"].as_str().unwrap()).collect();
    assert_eq!(nodes, ["front", "wn-1", "wn-2"]);
    assert!(vms.iter().all(|v| v["state"] == "running"));
    let steps = shown["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6, "{steps:#?}");
    assert!(steps.iter().all(|s| s["status"] == "ok"), "{steps:#?}");
    assert!(
        shown.to_string().find("PRIVATE KEY").is_none(),
        "show never prints a private key"
    );

    // `nubo ssh NAME NODE CMD` reaches each node by name.
    for node in &nodes {
        assert_eq!(n.ok(&["ssh", &n.name, node, "hostname"]).trim(), *node);
    }
    // /etc/hosts on every node lists every node; the host's does not.
    let ips: Vec<&str> = vms
        .iter()
        .map(|v| v["addresses"][0].as_str().unwrap())
        .collect();
    for node in &nodes {
        let hosts = n.ok(&["ssh", &n.name, node, "cat", "/etc/hosts"]);
        for (other, ip) in nodes.iter().zip(&ips) {
            assert!(
                lines(&hosts)
                    .iter()
                    .any(|l| l.split_whitespace().collect::<Vec<_>>() == [*ip, *other]),
                "{node}'s /etc/hosts lacks `{ip} {other}`:\n{hosts}"
            );
        }
    }
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap();
    assert!(
        !host_hosts.contains(ips[0]),
        "the host's /etc/hosts was changed"
    );
    // The user `nubo` logs in with the cluster key on every node.
    let key = n.home.join("keys").join(&n.name).join("id_ed25519");
    let known = n.home.join("known_hosts").join(&n.name);
    for ip in &ips {
        let out = Command::new("timeout")
            .args(["30", "ssh", "-i"])
            .arg(&key)
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .args([
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
            ])
            .arg(format!("nubo@{ip}"))
            .arg("id -un")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "nubo",
            "ssh nubo@{ip}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The front-end's service answered each worker.
    for w in ["wn-1", "wn-2"] {
        let page = n.ok(&["ssh", &n.name, w, "cat", "/etc/demo-front.txt"]);
        assert_eq!(page.trim(), format!("hello from front of {}", n.name));
    }
    // Relaunching a launched cluster is refused; a plan keeps everything.
    let again = n.launch();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("nubo reconfigure"));
    let plan = n.ok(&["plan", &n.name, "demo"]);
    assert!(
        plan.contains(
            "0 to create, 3 to keep, 0 to start, 0 to recreate, 0 to destroy, 0 to stop; 0 step(s) to run."
        ),
        "{plan}"
    );
    // Reconfigure reruns nothing that is done, and succeeds.
    n.ok(&["reconfigure", &n.name]);
    // Stop, then restart: the front-end's web server (a `daemon` step) is
    // back, since a restart runs the configuration again.
    n.ok(&["stop", &n.name]);
    n.ok(&["restart", &n.name]);
    let page = n.ok(&[
        "ssh",
        &n.name,
        "wn-1",
        "busybox",
        "wget",
        "-q",
        "-O",
        "-",
        "http://front:8080/",
    ]);
    assert!(page.starts_with("hello from front"), "{page}");

    n.ok(&["destroy", &n.name, "-y"]);
    assert_nothing_left(&n, "after destroy");
    // Idempotent from the user's side: a second destroy says it is gone.
    let second = n.run(&["destroy", &n.name, "-y"]);
    assert_eq!(second.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&second.stderr).contains("not found"));
}

/// Checks the cluster runs exactly the demo's three nodes, configured.
fn assert_exactly_the_demo(n: &Nubo, when: &str) {
    let shown = n.show();
    let vms: Vec<(String, String)> = shown["vms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["state"] != "destroyed")
        .map(|v| {
            (
                v["node"].as_str().unwrap().to_string(),
                v["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let running = |n: &str| (n.to_string(), "running".to_string());
    assert_eq!(
        vms,
        [running("front"), running("wn-1"), running("wn-2")],
        "{when}"
    );
    let on_host: Vec<(String, bool)> = n
        .provider()
        .list_nodes(&n.name)
        .unwrap()
        .into_iter()
        .map(|x| (x.name, x.running))
        .collect();
    assert_eq!(
        on_host,
        [
            ("front".to_string(), true),
            ("wn-1".to_string(), true),
            ("wn-2".to_string(), true)
        ],
        "{when}: nodes on the host"
    );
    assert!(
        shown["open_intents"].as_array().unwrap().is_empty(),
        "{when}"
    );
    assert!(
        n.store().open_intents(&n.name).unwrap().is_empty(),
        "{when}: open intents"
    );
    let steps = shown["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 6, "{when}");
    assert!(
        steps.iter().all(|s| s["status"] == "ok"),
        "{when}: {steps:#?}"
    );
}

#[test]
fn sigkill_during_launch_then_destroy_or_relaunch() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    // Five places a launch can die: with a network call open, with a VM
    // call open (before and after the provider made the VM), with a step
    // running, and after a step ran but before it was recorded.
    let points = [
        "network-intent",
        "vm-intent:2",
        "vm-created:3",
        "step-started:2",
        "step-ran:4",
    ];
    for point in points {
        let n = Nubo::new("kill");
        let when = format!("killed at {point}");
        // 1. Killed, then destroyed: nothing is left.
        let out = n.killed_launch(point);
        assert_eq!(
            out.status.signal(),
            Some(9),
            "{when}: nubo was not killed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        n.ok(&["destroy", &n.name, "-y"]);
        assert_nothing_left(&n, &format!("{when}, then destroy"));

        // 2. Killed, then launched again: exactly the requested nodes.
        let out = n.killed_launch(point);
        assert_eq!(out.status.signal(), Some(9), "{when} (second time)");
        n.assert_every_node_tracked(&when);
        let out = n.launch();
        assert!(
            out.status.success(),
            "{when}, relaunch: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let open = n.store().open_intents(&n.name).unwrap();
        assert!(
            open.is_empty(),
            "{when}: the relaunch left open intents: {open:#?}"
        );
        assert_exactly_the_demo(&n, &format!("{when}, then launch"));
        n.ok(&["destroy", &n.name, "-y"]);
        assert_nothing_left(&n, &format!("{when}, relaunch, destroy"));
    }
}

/// The state and the provider agree even when the state is lost: `destroy
/// --force` sweeps the provider by the cluster's name.
#[test]
fn destroy_force_sweeps_a_cluster_the_state_forgot() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    let n = Nubo::new("force");
    // The local provider chosen by an auth file, as IM's users write it.
    let auth = n.root.parent().unwrap().join("auth.dat");
    std::fs::write(&auth, "id = local; type = Local\n").unwrap();
    let out = n.run(&[
        "launch",
        &n.name,
        "demo",
        "-y",
        "-a",
        auth.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&n.home).unwrap();
    let plain = n.run(&["destroy", &n.name, "-y"]);
    assert_eq!(plain.status.code(), Some(1), "without --force: not found");
    assert_eq!(n.provider().list_nodes(&n.name).unwrap().len(), 3);
    n.ok(&["destroy", &n.name, "-y", "--force"]);
    assert!(n.traces().is_empty(), "{:#?}", n.traces());
}

/// On a terminal (a pseudo-terminal from util-linux's `script`), `launch`
/// and `destroy` draw a bar per phase, each left complete at the end.
#[test]
fn launch_on_a_terminal_draws_a_bar_per_phase() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !can_run() {
        return;
    }
    if Command::new("script").arg("--version").output().is_err() {
        return crate::support::skip_or_fail("no `script`: apt-get install bsdutils");
    }
    let n = Nubo::new("tty");
    let on_a_terminal = |args: &str| {
        let line = format!("{} {args}", env!("CARGO_BIN_EXE_nubo"));
        let mut s = Command::new("script");
        s.args(["-q", "-e", "-c", &line, "/dev/null"])
            .env("NUBO_HOME", &n.home)
            .env("NUBO_LOCAL_ROOT", &n.root)
            .env("COLUMNS", "120")
            .env_remove("NUBO_LOG")
            .env_remove("NUBO_TEST_KILL_AT")
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        let out = s.output().expect("run script");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "nubo {args}: {}\n{text}", out.status);
        text
    };
    let launched = on_a_terminal(&format!("launch {} demo -y", n.name));
    for bar in ["networks [", "VMs [", "configuration ["] {
        assert!(launched.contains(bar), "no {bar} bar in\n{launched}");
    }
    // The last drawing shows each phase complete: 1 network, 3 VMs, 6 steps.
    let last = launched.rsplit("networks [").next().unwrap();
    for done in ["1/1", "3/3", "6/6"] {
        assert!(last.contains(done), "not {done} at the end:\n{last}");
    }
    assert!(
        !launched.contains("  done vm"),
        "lines are for logs, not terminals"
    );
    let destroyed = on_a_terminal(&format!("destroy {} -y", n.name));
    assert!(destroyed.contains("destroy ["), "{destroyed}");
    assert!(destroyed.contains("3/3"), "{destroyed}");
    assert_nothing_left(&n, "after destroy on a terminal");
}
