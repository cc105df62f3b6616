//! Ansible configures through nubo against `ansible-playbook` run by
//! hand, in one run: the same play on the same kind of fresh local nodes
//! (must-show 4 of the Ansible issue: nubo's wall time at most 1.3 times
//! the bare run).
//!
//! Run with `cargo bench --bench ansible` as root, after
//! `scripts/install-bench-deps.sh` (ansible-core, python3 and python3-apt
//! for the nodes; the local provider's tools).
//!
//! The nodes: `benches/fixtures/bench-node.radl`, one system `node`
//! deployed `NUBO_BENCH_NODES` times (default 10). The play:
//! `benches/fixtures/ansible/ten-steps.yml` (ten tasks, `gather_facts:
//! false`), its template `node-info-im.j2` naming the node and the
//! cluster by IM's `IM_INFRASTRUCTURE_ID`. Both sides run the same tasks:
//! - bare: `ansible-playbook` on the play as it is (`hosts: all`), an
//!   inventory of the cluster's nodes with `IM_INFRASTRUCTURE_ID` set,
//!   `forks` = the node count, pipelining, no host key checking; the
//!   nodes are launched first with `contextualize ()` (not timed);
//! - nubo: the play as a RADL configure body written the IM way (the
//!   play without `hosts:`, which IM's header gives), run by `nubo
//!   launch` on fresh nodes; nubo's time is that launch minus a launch of
//!   the same nodes without the configure (making the nodes), and, as a
//!   cross-check, `nubo reconfigure` running the play on nodes launched
//!   without it (the description changed as a user would).
//!
//! After each side `benches/fixtures/check.sh` runs on every node over
//! SSH and must find every task's effect; a wrong result fails the
//! benchmark. Every time is the fastest of `NUBO_BENCH_ROUNDS` rounds
//! (default 3). `NUBO_BENCH_QUICK=1` (CI): one round on 2 nodes, every
//! check made; the target is then reported, not judged.

#[path = "support/mod.rs"]
mod support;

use std::process::{Command, ExitCode};
use std::time::Duration;
use support::{Best, Cluster, Node, Timed, Workspace, opt, secs};

const BENCH: &str = "ansible";
const TARGET: f64 = 1.3;
const TASKS: usize = 10;

fn main() -> ExitCode {
    let (rounds, nodes) = match (
        support::env_count("NUBO_BENCH_ROUNDS", support::by_mode(3, 1)),
        support::env_count("NUBO_BENCH_NODES", support::by_mode(10, 2)),
    ) {
        (Ok(r), Ok(n)) => (r, n),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = support::local_unavailable() {
        return support::skip(BENCH, &why);
    }
    let version = match Command::new("ansible-playbook").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .lines()
            .next()
            .unwrap_or("?")
            .trim()
            .to_string(),
        _ => {
            return support::skip(
                BENCH,
                "no ansible-playbook on PATH: run scripts/install-bench-deps.sh",
            );
        }
    };
    let ws = match Workspace::new(BENCH) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    support::measure_and_publish(
        BENCH,
        || measure(&ws, rounds, nodes),
        |m, b, a| report(m, &version, b, a),
    )
}

#[derive(Default)]
struct Measured {
    nodes: u32,
    rounds: u32,
    bare: Best,
    launch_plain: Best,
    launch_plays: Best,
    reconfigure: Best,
}

/// The play, with its template found by absolute path.
fn play_text() -> Result<String, String> {
    let dir = support::fixtures().join("ansible");
    let text = std::fs::read_to_string(dir.join("ten-steps.yml"))
        .map_err(|e| format!("cannot read ten-steps.yml: {e}"))?;
    Ok(text.replace(
        "src: node-info.j2",
        &format!("src: {}", dir.join("node-info-im.j2").display()),
    ))
}

/// The play as a configure body written the IM way: IM's header gives
/// `hosts`, so the body's play has none.
fn im_body(play: &str) -> Result<String, String> {
    let body = play
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    if !body.contains("- hosts: all\n  gather_facts: false\n") {
        return Err(
            "ten-steps.yml no longer starts with `- hosts: all`, `gather_facts: false`".into(),
        );
    }
    Ok(body.replace(
        "- hosts: all\n  gather_facts: false\n",
        "- gather_facts: false\n",
    ) + "\n")
}

/// `deploy node N` and the configure `plays` run at step 1 (or nothing).
fn add(nodes: u32, body: Option<&str>) -> String {
    match body {
        Some(b) => format!(
            "configure plays (\n@begin\n{b}@end\n)\ndeploy node {nodes}\n\
             contextualize (\n    system node configure plays step 1\n)\n"
        ),
        None => format!("deploy node {nodes}\ncontextualize ()\n"),
    }
}

fn measure(ws: &Workspace, rounds: u32, n: u32) -> Result<Measured, String> {
    let check = std::fs::read_to_string(support::fixtures().join("check.sh"))
        .map_err(|e| format!("cannot read check.sh: {e}"))?;
    let play = play_text()?;
    let body = im_body(&play)?;
    let mut m = Measured {
        nodes: n,
        rounds,
        ..Measured::default()
    };
    for round in 1..=rounds {
        eprintln!("{BENCH}: round {round} of {rounds}: ansible-playbook on {n} nodes");
        m.bare.add(&bare_round(ws, &play, n, &check)?);

        eprintln!("{BENCH}: round {round} of {rounds}: nubo launch without and with the play");
        let (c, t) = Cluster::launch(ws, "plain", &add(n, None))?;
        c.expect(n as usize, 0)?;
        m.launch_plain.add(&t);
        c.destroy()?;
        let (c, t) = Cluster::launch(ws, "plays", &add(n, Some(&body)))?;
        let nodes = c.expect(n as usize, n as usize)?;
        verify(&c, &nodes, &check)?;
        m.launch_plays.add(&t);
        c.destroy()?;

        eprintln!("{BENCH}: round {round} of {rounds}: nubo reconfigure running the play");
        let (c, _) = Cluster::launch(ws, "reconf", &add(n, None))?;
        c.set_added(&add(n, None), &add(n, Some(&body)))?;
        let t = c.reconfigure()?;
        let nodes = c.expect(n as usize, n as usize)?;
        verify(&c, &nodes, &check)?;
        m.reconfigure.add(&t);
        c.destroy()?;
    }
    Ok(m)
}

/// Runs check.sh on every node; each must hold every task's effect.
fn verify(c: &Cluster, nodes: &[Node], check: &str) -> Result<(), String> {
    support::verify_nodes(c, nodes, check, "the tasks' effects")
}

/// One bare round: fresh nodes, `ansible-playbook`, the check.
fn bare_round(ws: &Workspace, play: &str, n: u32, check: &str) -> Result<Timed, String> {
    let (c, _) = Cluster::launch(ws, "bare", &add(n, None))?;
    let nodes = c.expect(n as usize, 0)?;
    let play_path = ws.dir.join(format!("{}.yml", c.name));
    std::fs::write(&play_path, play)
        .map_err(|e| format!("cannot write {}: {e}", play_path.display()))?;
    let timed = support::BarePlay {
        program: std::ffi::OsStr::new("ansible-playbook"),
        prefix: &[],
        play: &play_path,
        forks: n,
        var: ("IM_INFRASTRUCTURE_ID", &c.name),
        tasks: TASKS,
    }
    .run(ws, &c, &nodes, "a")?;
    verify(&c, &nodes, check)?;
    c.destroy()?;
    Ok(timed)
}

fn ratio(nubo: Duration, bare: Duration) -> f64 {
    nubo.as_secs_f64() / bare.as_secs_f64().max(1e-9)
}

fn report(m: &Measured, version: &str, before: &str, after: &str) -> String {
    let n = m.nodes;
    let bare = m.bare.wall();
    let through = m.launch_plays.wall().saturating_sub(m.launch_plain.wall());
    let reconf = m.reconfigure.wall();
    let mut out = String::new();
    out.push_str(&format!(
        "| the same play ({TASKS} tasks) on {n} fresh local nodes | wall time | CPU time, all processes | nubo / bare |\n"
    ));
    out.push_str("|---|---:|---:|---:|\n");
    out.push_str(&format!(
        "| bare `ansible-playbook` | {} | {} | 1 |\n",
        secs(bare),
        opt(m.bare.cpu, secs)
    ));
    out.push_str(&format!(
        "| through `nubo launch`: with the play ({}) − without ({}) | {} | | {:.2} |\n",
        secs(m.launch_plays.wall()),
        secs(m.launch_plain.wall()),
        secs(through),
        ratio(through, bare)
    ));
    out.push_str(&format!(
        "| cross-check: `nubo reconfigure` running the play | {} | {} | {:.2} |\n",
        secs(reconf),
        opt(m.reconfigure.cpu, secs),
        ratio(reconf, bare)
    ));
    out.push('\n');
    out.push_str(&format!(
        "times: fastest of {} rounds; fresh nodes for every measurement\n",
        m.rounds
    ));
    out.push_str(&format!(
        "bare: {version}, benches/fixtures/ansible/ten-steps.yml (hosts: all), forks = {n}, \
         pipelining, no host key checking, gather_facts: false\n"
    ));
    out.push_str(
        "nubo: the same tasks as an IM-style configure body (IM's header gives hosts), one \
         ansible-playbook for the nodes of the step, over nubo's SSH access (pinned host keys, \
         the cluster's key), IM's inventory, step records and logs\n",
    );
    out.push_str(
        "checked: every node of every side holds every task's effect (benches/fixtures/check.sh); \
         all tasks ok on every host in the bare recap; every nubo step recorded ok\n",
    );
    out.push_str(&format!("machine: before {before}; after {after}\n"));
    let r = ratio(through, bare);
    let met = if r <= TARGET { "MET" } else { "NOT MET" };
    out.push_str(&format!(
        "target: nubo's wall time through `nubo launch` at most {TARGET}x the bare run on {n} nodes: {met} ({r:.2}x)\n"
    ));
    out
}
