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
//! (default 5) and `NUBO_BENCH_ROUNDS` (default 3) override the counts.

use nubo::source::SourceMap;
use nubo::tosca::{self, ImportOptions};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const TARGET_RATIO: f64 = 30.0;

fn env_count(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

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
    let iterations = env_count("NUBO_BENCH_ITERATIONS", 5);
    let rounds = env_count("NUBO_BENCH_ROUNDS", 3);
    let mut paths = Vec::new();
    collect(&corpus, &mut paths);
    paths.sort();
    if paths.is_empty() {
        println!(
            "tosca_parse: no TOSCA files under {}; nothing to measure",
            corpus.display()
        );
        return ExitCode::SUCCESS;
    }
    let import_dir = corpus.join("grycap");
    let opts = ImportOptions {
        import_dirs: vec![import_dir.clone()],
        cache_dir: None,
        fetch: None,
    };
    let pass = || {
        let mut rejected = 0;
        for p in &paths {
            let mut sources = SourceMap::new();
            let checked =
                tosca::load(&mut sources, black_box(p), &opts).expect("corpus file readable");
            rejected += usize::from(checked.has_errors());
            black_box(&checked);
        }
        rejected
    };
    let rejected = pass(); // warm-up
    let mut nubo = Duration::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..iterations {
            pass();
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
    print!("{out}");
    let dir = root.join("target/bench");
    let _ = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("tosca_parse.md"), &out));
    if reference.is_err() && std::env::var("NUBO_REQUIRE_SYSTEM_TESTS").as_deref() == Ok("1") {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
