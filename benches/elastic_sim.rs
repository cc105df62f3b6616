//! The elasticity policies on a real workload: the NASA Ames iPSC/860 log
//! (`../shared/corpus/traces/NASA-iPSC-1993-3.1-cln.swf.gz`, Parallel
//! Workloads Archive) replayed on the simulator's virtual clock for its
//! first 31 days, 128 one-CPU nodes as the maximum, 180 s from power-on to
//! a node the queue sees. nubo's rules at their defaults, a static cluster
//! (all 128 nodes always on) and CLUES's policy (`elastic::clues`) run the
//! same trace; the table gives node-hours, mean and p95 queue wait,
//! power-ons and jobs never run for each.
//!
//! Target: nubo's node-hours at most 60% of static's, with a p95 wait no
//! worse than CLUES-like's; reported MET or NOT MET, the trace is not tuned.
//!
//! Run with `cargo bench --bench elastic_sim`; `NUBO_BENCH_QUICK=1` replays
//! the first day only. Writes `target/bench/elastic_sim.md`. A missing
//! corpus log fails the benchmark.

#[path = "support/mod.rs"]
mod support;

use nubo::elastic::simulate::{Baseline, run_with};
use nubo::elastic::swf;
use std::process::ExitCode;
use std::time::Instant;

const NODES: u32 = 128;
const BOOT_S: u64 = 180;
const DAY: u64 = 86_400;

fn main() -> ExitCode {
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("elastic_sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), String> {
    let path = support::crate_root().join("../shared/corpus/traces/NASA-iPSC-1993-3.1-cln.swf.gz");
    let file = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| format!("{file}: {e}"))?;
    let log = swf::read(&file, &bytes).map_err(|e| e.to_string())?;
    let days = if support::quick() { 1 } else { 31 };
    let o = swf::SwfOptions {
        from: 0,
        to: Some(days * DAY),
        cpus_per_node: 1,
        nodes: NODES,
        boot: BOOT_S,
    };
    let trace = swf::to_trace(&log, &o).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for b in [Baseline::Nubo, Baseline::Static, Baseline::Clues] {
        let start = Instant::now();
        let r = run_with(&trace, b);
        rows.push((r, start.elapsed()));
    }
    for (r, _) in &rows {
        let s = &r.summary;
        if s.completed + s.never_run != s.jobs || s.jobs != trace.jobs.len() {
            return Err(format!("{}: jobs do not add up: {s:?}", r.policy));
        }
    }
    let (nubo, stat, clues) = (&rows[0].0.summary, &rows[1].0.summary, &rows[2].0.summary);
    let ratio = nubo.node_hours / stat.node_hours.max(f64::MIN_POSITIVE);
    let met = ratio <= 0.60 && nubo.p95_wait_s <= clues.p95_wait_s;
    let mut out = format!(
        "# elastic_sim: NASA iPSC/860 log, first {days} day(s), {} jobs, {NODES} one-CPU nodes at most, boot {BOOT_S} s\n\n\
         | policy | node-hours | mean wait (s) | p95 wait (s) | max wait (s) | power-ons | jobs never run | simulated in |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        trace.jobs.len()
    );
    for (r, took) in &rows {
        let s = &r.summary;
        let name = match r.policy.as_str() {
            "clues" => "CLUES-like",
            p => p,
        };
        out += &format!(
            "| {name} | {:.1} | {:.1} | {} | {} | {} | {} | {} |\n",
            s.node_hours,
            s.mean_wait_s,
            s.p95_wait_s,
            s.max_wait_s,
            s.power_ons,
            s.never_run,
            support::ms(*took)
        );
    }
    out += &format!(
        "\nTarget: nubo's node-hours at most 60% of static's ({:.1}%), p95 wait no worse than CLUES-like's ({} s vs {} s): {}\n\n\
         Machine: {}\n",
        ratio * 100.0,
        nubo.p95_wait_s,
        clues.p95_wait_s,
        if met { "MET" } else { "NOT MET" },
        support::machine_note()
    );
    support::publish("elastic_sim", &out)
}
