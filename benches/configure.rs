//! Configuring local nodes: nubo against `ansible-playbook`, in one run,
//! the same ten steps on the same kind of fresh nodes.
//!
//! Run with `cargo bench --bench configure` as root, after
//! `scripts/install-bench-deps.sh` (ansible-core, python3 and python3-apt
//! for the nodes; the local provider's tools).
//!
//! The nodes: `benches/fixtures/bench-node.radl`, one system `node`
//! deployed `NUBO_BENCH_NODES` times (default 20) on the local provider.
//! The work: `benches/fixtures/recipes/ten-steps.yaml` (nubo) and
//! `benches/fixtures/ansible/ten-steps.yml` (Ansible: `forks = 20`,
//! `pipelining = True`, host key checking off, `gather_facts: false`),
//! the same ten steps with the closest module each. After each side,
//! `benches/fixtures/check.sh` runs on every node over SSH and must find
//! every step's effect; a wrong result fails the benchmark.
//!
//! Each round makes fresh clusters, with `nubo launch` and
//! `contextualize ()`, so no recipe runs then (launch is not timed), and:
//! - Ansible: times `ansible-playbook` against the cluster's nodes;
//! - nubo: records the cluster's description with the recipe turned on
//!   (`contextualize (system node configure ten step 1)` added instead of
//!   `contextualize ()`, composed and recorded by nubo's own code, as
//!   `nubo launch` records a description) and times `nubo reconfigure`:
//!   a new process that reads the state, checks the nodes with the
//!   provider, opens an SSH connection to each node, renders and runs the
//!   script, and records the results. Like `ansible-playbook`'s time, it
//!   includes process start and connecting;
//! - cross-check: `nubo launch` with the recipe minus `nubo launch` without
//!   it, both on fresh clusters (the marginal cost of the recipe in a
//!   launch, where the SSH connections are made anyway);
//! - per-node overhead: `nubo reconfigure` with a one-step recipe (`true`)
//!   on 1 node and on N nodes; (T(N) − T(1)) / (N − 1) is what each further
//!   node costs beyond the step itself, which costs nothing.
//!
//! Every time is the fastest of `NUBO_BENCH_ROUNDS` rounds (default 3).
//! `NUBO_BENCH_QUICK=1` (CI): one round on 2 nodes, Ansible included, every
//! check made; the ratio's target is then reported, not judged.
//! CPU times (when cgroup accounting is available) count every process
//! involved: nubo or Ansible and their children, and the nodes' own
//! processes (sshd, the shells and Python modules run there).

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;
use support::{Best, Cluster, Node, Timed, Workspace, add_radl, ms, opt, secs};

const BENCH: &str = "configure";
const TARGET_RATIO: f64 = 5.0;
const STEPS: usize = 10;

/// How to start `ansible-playbook`, and its version line.
struct Ansible {
    program: PathBuf,
    prefix: Vec<String>,
    version: String,
}

impl Ansible {
    fn find() -> Result<Ansible, String> {
        let candidates: [(&str, &[&str]); 2] = [
            ("ansible-playbook", &[]),
            ("python3", &["-m", "ansible", "playbook"]),
        ];
        for (program, prefix) in candidates {
            let Ok(out) = Command::new(program).args(prefix).arg("--version").output() else {
                continue;
            };
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                return Ok(Ansible {
                    program: program.into(),
                    prefix: prefix.iter().map(|s| s.to_string()).collect(),
                    version: text.lines().next().unwrap_or("?").trim().to_string(),
                });
            }
        }
        Err("no ansible-playbook (nor `python3 -m ansible playbook`)".into())
    }
}

/// What the nodes need for Ansible's modules: the host's /usr/bin/python3
/// (nodes see the host's /usr) with python3-apt for the `apt` module.
fn node_python_missing() -> Option<String> {
    let ok = Command::new("/usr/bin/python3")
        .args(["-c", "import apt"])
        .output()
        .is_ok_and(|o| o.status.success());
    (!ok).then(|| "no /usr/bin/python3 with python3-apt for the nodes".to_string())
}

fn main() -> ExitCode {
    let (rounds, nodes) = match (
        support::env_count("NUBO_BENCH_ROUNDS", support::by_mode(3, 1)),
        support::env_count("NUBO_BENCH_NODES", support::by_mode(20, 2)),
    ) {
        (Ok(r), Ok(n)) if n >= 2 => (r, n),
        (Ok(_), Ok(_)) => {
            eprintln!("{BENCH}: NUBO_BENCH_NODES must be at least 2");
            return ExitCode::FAILURE;
        }
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(why) = support::local_unavailable() {
        return support::skip(BENCH, &why);
    }
    let ansible = match Ansible::find() {
        Ok(a) => a,
        Err(why) => {
            return support::skip(BENCH, &format!("{why}: run scripts/install-bench-deps.sh"));
        }
    };
    if let Some(why) = node_python_missing() {
        return support::skip(BENCH, &format!("{why}: run scripts/install-bench-deps.sh"));
    }
    let ws = match Workspace::new(BENCH) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("{BENCH}: {e}");
            return ExitCode::FAILURE;
        }
    };
    support::measure_and_publish(
        BENCH,
        || measure(&ws, &ansible, rounds, nodes),
        |m, b, a| report(m, &ansible, b, a),
    )
}

#[derive(Default)]
struct Measured {
    nodes: u32,
    rounds: u32,
    ansible: Best,
    nubo: Best,
    launch_plain: Best,
    launch_recipe: Best,
    one_1: Best,
    one_n: Best,
    cpu: bool,
}

fn measure(ws: &Workspace, ansible: &Ansible, rounds: u32, n: u32) -> Result<Measured, String> {
    let check = std::fs::read_to_string(support::fixtures().join("check.sh"))
        .map_err(|e| format!("cannot read check.sh: {e}"))?;
    let mut m = Measured {
        nodes: n,
        rounds,
        cpu: ws.has_cpu(),
        ..Measured::default()
    };
    for round in 1..=rounds {
        eprintln!("{BENCH}: round {round} of {rounds}: ansible-playbook on {n} nodes");
        m.ansible.add(&ansible_round(ws, ansible, n, &check)?);

        eprintln!("{BENCH}: round {round} of {rounds}: nubo reconfigure on {n} nodes");
        let (c, plain) = Cluster::launch(ws, "nubo", &add_radl(n, None))?;
        m.launch_plain.add(&plain);
        c.expect(n as usize, 0)?;
        let t = reconfigure_with(&c, n, "ten")?;
        let nodes = c.expect(n as usize, n as usize)?;
        verify(&c, &nodes, &check)?;
        m.nubo.add(&t);
        c.destroy()?;

        eprintln!("{BENCH}: round {round} of {rounds}: nubo launch with the recipe");
        let (c, t) = Cluster::launch(ws, "nubolaunch", &add_radl(n, Some("ten")))?;
        let nodes = c.expect(n as usize, n as usize)?;
        verify(&c, &nodes, &check)?;
        m.launch_recipe.add(&t);
        c.destroy()?;

        eprintln!("{BENCH}: round {round} of {rounds}: per-node overhead (1 and {n} nodes)");
        for (count, best) in [(1, &mut m.one_1), (n, &mut m.one_n)] {
            let (c, _) = Cluster::launch(ws, "one", &add_radl(count, None))?;
            let t = reconfigure_with(&c, count, "one")?;
            c.expect(count as usize, count as usize)?;
            best.add(&t);
            c.destroy()?;
        }
    }
    Ok(m)
}

/// Turns the recipe `configure` on in the recorded description of a
/// cluster launched with `contextualize ()` (through nubo's own composer
/// and state store, as a launch records a description), then times `nubo
/// reconfigure`.
fn reconfigure_with(c: &Cluster, n: u32, configure: &str) -> Result<Timed, String> {
    c.set_added(&add_radl(n, None), &add_radl(n, Some(configure)))?;
    c.reconfigure()
}

/// Runs check.sh on every node; each must hold every step's effect.
fn verify(c: &Cluster, nodes: &[Node], check: &str) -> Result<(), String> {
    support::verify_nodes(c, nodes, check, "the ten steps' effects")
}

/// One round of Ansible: fresh nodes, the play, the check.
fn ansible_round(ws: &Workspace, ansible: &Ansible, n: u32, check: &str) -> Result<Timed, String> {
    let (c, _) = Cluster::launch(ws, "ansible", &add_radl(n, None))?;
    let nodes = c.expect(n as usize, 0)?;
    let play = support::fixtures().join("ansible/ten-steps.yml");
    let timed = support::BarePlay {
        program: ansible.program.as_os_str(),
        prefix: &ansible.prefix,
        play: &play,
        forks: 20,
        var: ("cluster_name", &c.name),
        tasks: STEPS,
    }
    .run(ws, &c, &nodes, "ansible")?;
    verify(&c, &nodes, check)?;
    c.destroy()?;
    Ok(timed)
}

fn ratio(theirs: Duration, nubo: Duration) -> f64 {
    theirs.as_secs_f64() / nubo.as_secs_f64().max(1e-9)
}

fn format_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.1}x")
    }
}

fn report(m: &Measured, ansible: &Ansible, before: &str, after: &str) -> String {
    let n = m.nodes;
    let nubo = m.nubo.wall();
    let theirs = m.ansible.wall();
    let marginal = m.launch_recipe.wall().saturating_sub(m.launch_plain.wall());
    let mut out = String::new();
    out.push_str(&format!(
        "| configure {n} fresh local nodes, {STEPS} steps | nubo | ansible-playbook | ratio |\n"
    ));
    out.push_str("|---|---:|---:|---:|\n");
    out.push_str(&format!(
        "| wall time (`nubo reconfigure` / `ansible-playbook`) | {} | {} | {} |\n",
        secs(nubo),
        secs(theirs),
        format_ratio(ratio(theirs, nubo))
    ));
    out.push_str(&format!(
        "| CPU time, all processes | {} | {} | {} |\n",
        opt(m.nubo.cpu, secs),
        opt(m.ansible.cpu, secs),
        match (m.ansible.cpu, m.nubo.cpu) {
            (Some(a), Some(b)) => format_ratio(ratio(a, b)),
            _ => "n/a".into(),
        }
    ));
    out.push_str(&format!(
        "| cross-check: `nubo launch` with the recipe ({}) − without ({}) | {} | | {} |\n",
        secs(m.launch_recipe.wall()),
        secs(m.launch_plain.wall()),
        secs(marginal),
        format_ratio(ratio(theirs, marginal))
    ));
    out.push('\n');
    let per_node = m.one_n.wall().saturating_sub(m.one_1.wall()) / (n - 1);
    let per_node_cpu = m
        .one_n
        .cpu
        .zip(m.one_1.cpu)
        .map(|(a, b)| a.saturating_sub(b) / (n - 1));
    out.push_str(&format!(
        "| nubo per-node overhead (`nubo reconfigure`, one step: `true`) | 1 node | {n} nodes | per further node |\n"
    ));
    out.push_str("|---|---:|---:|---:|\n");
    out.push_str(&format!(
        "| wall time | {} | {} | {} |\n",
        ms(m.one_1.wall()),
        ms(m.one_n.wall()),
        ms(per_node)
    ));
    out.push_str(&format!(
        "| CPU time, all processes | {} | {} | {} |\n",
        opt(m.one_1.cpu, ms),
        opt(m.one_n.cpu, ms),
        opt(per_node_cpu, ms)
    ));
    out.push('\n');
    out.push_str(&format!(
        "times: fastest of {} rounds; fresh nodes for every measurement (launched with \
         `contextualize ()`, launch not timed)\n",
        m.rounds
    ));
    out.push_str(
        "nubo: `nubo reconfigure` after the recorded description was changed to run \
         recipes/ten-steps.yaml: process start, state, provider checks, one SSH connection \
         per node, one script per node, results recorded\n",
    );
    out.push_str(&format!(
        "ansible: {} with forks = 20, pipelining, no host key checking, gather_facts: false \
         (ansible/ten-steps.yml); python on the nodes: the host's /usr/bin/python3\n",
        ansible.version
    ));
    out.push_str(
        "per-node overhead: (T(N nodes) − T(1 node)) / (N − 1) for `nubo reconfigure` of a \
         one-step recipe whose step does nothing (`true`): the wall time each further node \
         adds beyond the commands themselves (SSH connection, script upload and run, \
         records), with the nodes handled in parallel\n",
    );
    out.push_str(&format!(
        "checked: every node of both sides holds every step's effect (benches/fixtures/check.sh); \
         all {STEPS} tasks ok on every host in Ansible's recap; every nubo step recorded ok\n"
    ));
    if m.cpu {
        out.push_str(
            "CPU time: every process of a cgroup holding nubo/Ansible and the nodes \
             (sshd, shells and Python modules on the nodes), the least of the rounds\n",
        );
    }
    out.push_str(&format!("machine: before {before}; after {after}\n"));
    let met = if ratio(theirs, nubo) >= TARGET_RATIO {
        "MET"
    } else {
        "NOT MET"
    };
    out.push_str(&format!(
        "target: nubo >= {TARGET_RATIO:.0}x faster than ansible-playbook on {n} nodes: {met} ({})\n",
        format_ratio(ratio(theirs, nubo))
    ));
    out
}
