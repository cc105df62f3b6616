//! TOSCA front-end speed: nubo against tosca-parser 2.15.0, in one run.
//!
//! Run with `cargo bench --bench tosca_parse`. Every `*.yaml`/`*.yml` under
//! `../shared/corpus/tosca` is checked `ITERATIONS` times by nubo
//! (`tosca::load`: YAML, imports from the corpus copy of the grycap custom
//! types, all checks) and, in the same run, by tosca-parser through
//! `benches/tosca_reference_bench.py` (`ToscaTemplate(path)`, which also
//! reads the imports and validates), timed in-process. Each side reports
//! its fastest of `ROUNDS` rounds. The Markdown table is printed and
//! written to `target/bench/tosca_parse.md`. `NUBO_BENCH_ITERATIONS`
//! (default 5) and `NUBO_BENCH_ROUNDS` (default 3) override the counts;
//! `NUBO_BENCH_QUICK=1` (CI) makes both 1, tosca-parser included. A missing
//! corpus or reference is an error when `NUBO_REQUIRE_SYSTEM_TESTS=1`.

#[path = "support/mod.rs"]
mod support;

use nubo::source::SourceMap;
use nubo::tosca::{self, ImportOptions};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 30.0;

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus/tosca");
    let corpus = corpus.canonicalize().unwrap_or(corpus);
    let (iterations, rounds) = match (
        support::env_count("NUBO_BENCH_ITERATIONS", support::by_mode(5, 1)),
        support::env_count("NUBO_BENCH_ROUNDS", support::by_mode(3, 1)),
    ) {
        (Ok(i), Ok(r)) => (i, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("tosca_parse: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut paths = Vec::new();
    collect(&corpus, &mut paths);
    paths.sort();
    if paths.is_empty() {
        return support::skip(
            "tosca_parse",
            &format!("no TOSCA files under {}", corpus.display()),
        );
    }
    let import_dir = corpus.join("grycap");
    let opts = ImportOptions {
        import_dirs: vec![import_dir.clone()],
        cache_dir: None,
        fetch: None,
    };
    let pass = || -> Result<usize, String> {
        let mut rejected = 0;
        for p in &paths {
            let mut sources = SourceMap::new();
            let checked = tosca::load(&mut sources, black_box(p), &opts)
                .map_err(|e| format!("{}: {e}", p.display()))?;
            rejected += usize::from(checked.has_errors());
            black_box(&checked);
        }
        Ok(rejected)
    };
    let rejected = match pass() {
        Ok(r) => r, // and the warm-up
        Err(e) => {
            eprintln!("tosca_parse: FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut nubo = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iterations {
            if let Err(e) = pass() {
                eprintln!("tosca_parse: FAILED: {e}");
                return ExitCode::FAILURE;
            }
        }
        nubo = nubo.min(start.elapsed());
    }
    let output = Command::new("python3")
        .arg(root.join("benches/tosca_reference_bench.py"))
        .arg("--import-dir")
        .arg(&import_dir)
        .args([
            "--iterations",
            &iterations.to_string(),
            "--rounds",
            &rounds.to_string(),
        ])
        .args(&paths)
        .output();
    let reference: Result<(Duration, u64), String> = match output {
        Err(e) => Err(format!("cannot start python3: {e}")),
        Ok(o) => {
            let stdout = String::from_utf8_lossy(&o.stdout);
            match stdout
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(serde_json::from_str::<serde_json::Value>)
            {
                Some(Ok(j)) if j["ok"] == true => Ok((
                    Duration::from_secs_f64(j["seconds"].as_f64().unwrap_or(0.0)),
                    j["rejected"].as_u64().unwrap_or(0),
                )),
                Some(Ok(j)) => Err(j["error"].as_str().unwrap_or("failed").to_string()),
                _ => Err(format!(
                    "no result: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )),
            }
        }
    };
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1e3);
    let files = paths.len();
    let mut out = String::from(
        "| what | files | iterations | nubo | tosca-parser 2.15.0 (Python) | ratio |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let (theirs, ratio) = match &reference {
        Ok((t, _)) => (
            ms(*t),
            Some(t.as_secs_f64() / nubo.as_secs_f64().max(1e-12)),
        ),
        Err(_) => ("n/a".into(), None),
    };
    out.push_str(&format!(
        "| parse + imports + check | {files} | {iterations} | {} | {theirs} | {} |\n\n",
        ms(nubo),
        ratio.map_or("n/a".into(), |r| format!("{r:.0}x"))
    ));
    out.push_str(&format!(
        "times: all files x {iterations} iterations, fastest of {rounds} rounds on each side\n"
    ));
    out.push_str(&format!(
        "nubo mean per file: {:.2} ms; nubo rejects {rejected} of {files} files\n",
        nubo.as_secs_f64() * 1e3 / (f64::from(iterations) * files as f64)
    ));
    match &reference {
        Ok((_, r)) => out.push_str(&format!("tosca-parser rejects {r} of {files} files\n")),
        Err(why) => out.push_str(&format!("reference could not run: {why}\n")),
    }
    out.push_str(&format!(
        "target: nubo >= {TARGET_RATIO:.0}x faster: {}\n",
        match ratio {
            Some(r) if r >= TARGET_RATIO => "MET",
            Some(_) => "NOT MET",
            None => "NOT MEASURED",
        }
    ));
    if let Err(e) = support::publish("tosca_parse", &out) {
        eprintln!("tosca_parse: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(why) = &reference
        && support::required()
    {
        eprintln!("tosca_parse: NUBO_REQUIRE_SYSTEM_TESTS=1 and tosca-parser did not run: {why}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
