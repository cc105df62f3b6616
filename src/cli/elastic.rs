//! `nubo elastic`: the elasticity daemon and its tools.

use super::common::{EnvArgs, runtime, time};
use super::error::{CliError, CliResult, Message};
use super::output::outln;
use crate::elastic::simulate::{self, Baseline};
use crate::elastic::swf;
use crate::ops::elastic::{self, QueueKind, RunOptions};
use crate::ops::recipes::RecipeDirs;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Run the elasticity daemon for a cluster: every period it reads the
    /// job queue, powers worker nodes on and off within the elastic
    /// systems' rules (`ec3_max_instances`, `ec3_min_instances`,
    /// `elastic_idle_time`, ...), and records each decision with its reason.
    /// Stops on SIGTERM or Ctrl-C.
    Run(RunArgs),
    /// Show a cluster's elastic nodes, the last queue reading and recent
    /// decisions with their reasons.
    Status(StatusArgs),
    /// Replay a job trace (YAML, or a Standard Workload Format log:
    /// `.swf`, `.swf.gz`) against the decision rules on a virtual clock,
    /// with no machines; prints the timeline and a summary, or with
    /// `--compare` nubo's rules, a static cluster and CLUES's policy side by
    /// side.
    Simulate(SimulateArgs),
    /// Power nodes on now (usable as SLURM's ResumeProgram).
    Resume(PowerArgs),
    /// Power nodes off now (usable as SLURM's SuspendProgram).
    Suspend(PowerArgs),
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The cluster's name.
    name: String,
    /// The job queue: `slurm` (squeue/sinfo on the front-end), `sge`
    /// (Grid Engine's qstat on the front-end), `rabbitmq:QUEUE` (a RabbitMQ
    /// queue on the front-end's broker: one pending job per
    /// `elastic_messages_per_node` ready messages), `command:PROGRAM` (a
    /// program printing the queue as JSON), `sqs:QUEUE_URL` (an SQS queue:
    /// one message waiting is one job of one CPU; workers are used while
    /// messages are in flight) or `kubernetes:URL` (a Kubernetes API
    /// server: pending pods are jobs, Nodes are the workers; drained by
    /// cordon and eviction).
    #[arg(long, default_value = "slurm")]
    queue: QueueKind,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 1.0)]
    period: f64,
    /// Serve Prometheus metrics at this loopback address (e.g.
    /// 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Stop after this many rounds.
    #[arg(long, value_name = "N")]
    rounds: Option<u64>,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    name: String,
    /// How many recent decisions to show.
    #[arg(long, default_value_t = 20)]
    decisions: u32,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// The trace file (YAML: tick, boot, types, jobs; see the README), or
    /// an SWF log (a name ending in `.swf` or `.swf.gz`).
    trace: PathBuf,
    #[arg(long)]
    json: bool,
    /// Who powers nodes on and off instead of nubo's rules: `static` (every
    /// node always on) or `clues` (CLUES's policy).
    #[arg(long, value_parser = ["static", "clues"])]
    baseline: Option<String>,
    /// Run nubo's rules, `static` and `clues` and print their summaries
    /// side by side.
    #[arg(long, conflicts_with = "baseline")]
    compare: bool,
    /// SWF: the window's start, seconds from the log's start.
    #[arg(long, default_value_t = 0)]
    from: u64,
    /// SWF: the window's end, seconds from the log's start (default: the
    /// whole log).
    #[arg(long)]
    to: Option<u64>,
    /// SWF: processors per node (a job of P processors asks for
    /// ceil(P / N) nodes; default 1, or with --radl the most CPUs a node
    /// type offers).
    #[arg(long)]
    cpus_per_node: Option<u32>,
    /// SWF: the maximum number of nodes (of the one node type `wn`).
    #[arg(long, default_value_t = 128, conflicts_with = "radl")]
    nodes: u32,
    /// Take the node types from a description instead (its elastic
    /// systems with their rules: `ec3_max_instances`, `cpu.count`,
    /// `elastic_idle_time`, ...): templates or files as `nubo launch`
    /// takes them; repeat for several.
    #[arg(long, value_name = "TEMPLATE")]
    radl: Vec<String>,
    /// SWF: seconds from power-on until the queue sees a node.
    #[arg(long, default_value_t = 180)]
    boot: u64,
}

fn is_swf(p: &std::path::Path) -> bool {
    let name = p.to_string_lossy();
    name.ends_with(".swf") || name.ends_with(".swf.gz")
}

fn swf_only_options(a: &SimulateArgs) -> bool {
    a.from != 0 || a.to.is_some() || a.cpus_per_node.is_some() || a.nodes != 128 || a.boot != 180
}

#[derive(clap::Args)]
pub struct PowerArgs {
    /// The cluster's name.
    name: String,
    /// Nodes, as SLURM host lists (`wn-[1-3],wn-5`).
    #[arg(required = true)]
    nodes: Vec<String>,
    #[command(flatten)]
    env: EnvArgs,
}

pub fn run(cmd: Command) -> CliResult {
    match cmd {
        Command::Run(a) => daemon(a),
        Command::Status(a) => status(a),
        Command::Simulate(a) => simulate(a),
        Command::Resume(a) => power(a, true),
        Command::Suspend(a) => power(a, false),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

fn daemon(a: RunArgs) -> CliResult {
    if !(a.period.is_finite() && a.period >= 0.05) {
        return Err(CliError::usage(Message(
            "--period must be at least 0.05 seconds".into(),
        )));
    }
    let env = a.env.open_for(&a.name)?;
    let opts = RunOptions {
        cluster: a.name.clone(),
        queue: a.queue,
        period: Duration::from_secs_f64(a.period),
        metrics: a.metrics,
        rounds: a.rounds,
        dirs: RecipeDirs::default(),
    };
    elastic::before_runtime();
    Ok(runtime().block_on(elastic::run(&env, &opts, shutdown_signal()))?)
}

fn status(a: StatusArgs) -> CliResult {
    let env = a.env.open()?;
    let s = elastic::status(&env, &a.name, a.decisions)?;
    if a.json {
        outln!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return Ok(());
    }
    outln!(
        "Cluster {}: elasticity daemon {}",
        s.cluster,
        if s.daemon_running {
            "running"
        } else {
            "not running"
        }
    );
    if s.nodes.is_empty() {
        outln!(
            "No elastic node recorded yet: start `nubo elastic run {}`.",
            s.cluster
        );
    } else {
        outln!(
            "{:<16} {:<10} {:<13} {:<10} SINCE",
            "NODE",
            "SYSTEM",
            "STATE",
            "VM"
        );
        for n in &s.nodes {
            outln!(
                "{:<16} {:<10} {:<13} {:<10} {}",
                n.name,
                n.system,
                n.state.as_str(),
                s.vms.get(&n.name).map_or("-", |v| v.as_str()),
                time(n.since)
            );
        }
    }
    if let Some(q) = &s.queue
        && let Some(snap) = elastic::recorded_snapshot(q)
    {
        outln!(
            "Queue at {}: {} pending job(s), {} running",
            time(q.at.as_millis()),
            snap.pending.len(),
            snap.running
        );
    }
    if !s.decisions.is_empty() {
        outln!("Recent decisions:");
        for d in &s.decisions {
            outln!(
                "  {}  {:<22} {:<10} {}",
                time(d.at.as_millis()),
                d.action,
                d.node,
                d.reason
            );
        }
    }
    Ok(())
}

fn simulate(a: SimulateArgs) -> CliResult {
    let file = a.trace.display().to_string();
    let types = if a.radl.is_empty() {
        None
    } else {
        Some(elastic::node_types(&a.radl)?)
    };
    let trace = if is_swf(&a.trace) {
        let bytes = std::fs::read(&a.trace)
            .map_err(|e| CliError::failed(Message(format!("{file}: {e}"))))?;
        let log = swf::read(&file, &bytes).map_err(|e| CliError::failed(Message(e.to_string())))?;
        let o = swf::SwfOptions {
            from: a.from,
            to: a.to,
            cpus_per_node: a
                .cpus_per_node
                .unwrap_or_else(|| types.iter().flatten().map(|p| p.cpus).max().unwrap_or(1)),
            nodes: a.nodes,
            boot: a.boot,
        };
        let mut t = swf::to_trace(&log, &o).map_err(|e| CliError::usage(Message(e.to_string())))?;
        if types.is_some() {
            t.types.clear();
            t.policies = types;
        }
        t
    } else {
        if swf_only_options(&a) {
            return Err(CliError::usage(Message(
                "--from, --to, --cpus-per-node, --nodes and --boot apply to SWF logs (.swf, .swf.gz); a YAML trace sets its own".into(),
            )));
        }
        let text = crate::source::read_text(&a.trace)?;
        simulate::parse_with(&text, types)
            .map_err(|e| CliError::failed(Message(format!("{file}:{e}"))))?
    };
    if a.compare {
        let reports: Vec<simulate::Report> = [Baseline::Nubo, Baseline::Static, Baseline::Clues]
            .into_iter()
            .map(|b| simulate::run_with(&trace, b))
            .collect();
        if a.json {
            let summaries: serde_json::Map<String, serde_json::Value> = reports
                .iter()
                .map(|r| {
                    (
                        r.policy.clone(),
                        serde_json::to_value(&r.summary).unwrap_or_default(),
                    )
                })
                .collect();
            outln!(
                "{}",
                serde_json::to_string_pretty(&summaries).unwrap_or_default()
            );
            return Ok(());
        }
        outln!(
            "{:<8} {:>10} {:>12} {:>9} {:>10} {:>8} {:>10} {:>10}",
            "policy",
            "node-hours",
            "mean wait s",
            "p95 wait s",
            "power-ons",
            "jobs",
            "completed",
            "never run"
        );
        for r in &reports {
            let s = &r.summary;
            outln!(
                "{:<8} {:>10.1} {:>12.1} {:>9} {:>10} {:>8} {:>10} {:>10}",
                r.policy,
                s.node_hours,
                s.mean_wait_s,
                s.p95_wait_s,
                s.power_ons,
                s.jobs,
                s.completed,
                s.never_run
            );
        }
        return Ok(());
    }
    let baseline = match a.baseline.as_deref() {
        Some("static") => Baseline::Static,
        Some("clues") => Baseline::Clues,
        _ => Baseline::Nubo,
    };
    let report = simulate::run_with(&trace, baseline);
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return Ok(());
    }
    for e in &report.events {
        outln!("{:>6}s  {}", e.at, e.what);
    }
    let s = &report.summary;
    outln!(
        "\npolicy {} | jobs {} completed {} unschedulable {} never run {} | wait mean {:.1}s p95 {}s max {}s | nodes max {} node-hours {:.2} | power-ons {} power-offs {} failures {} | ended at {}s",
        report.policy,
        s.jobs,
        s.completed,
        s.unschedulable,
        s.never_run,
        s.mean_wait_s,
        s.p95_wait_s,
        s.max_wait_s,
        s.max_nodes_on,
        s.node_hours,
        s.power_ons,
        s.power_offs,
        s.failures,
        s.ended_at
    );
    Ok(())
}

fn power(a: PowerArgs, on: bool) -> CliResult {
    let env = a.env.open_for(&a.name)?;
    match runtime().block_on(elastic::power(
        &env,
        &a.name,
        &a.nodes,
        on,
        &RecipeDirs::default(),
    )) {
        Ok(nodes) => {
            for n in nodes {
                outln!("{} {}", n.name, n.state.as_str());
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
