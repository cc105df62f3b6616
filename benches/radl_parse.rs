//! RADL front-end speed: nubo against the reference parser (PyPI radl 1.3.5).
//!
//! Run with `cargo bench --bench radl_parse`. Every `*.radl` under
//! `../shared/corpus/radl` (relative to the crate root) is read into memory,
//! then parsed `ITERATIONS` times by nubo (`radl::parse`, and the full front
//! end `radl::validate`) and, in the same run, by the reference through
//! `benches/radl_reference_bench.py`, which times itself in-process so the
//! Python interpreter's start-up is not counted. The result is a Markdown
//! table, printed and written to `target/bench/radl_parse.md`.
//!
//! Each side times `ITERATIONS` passes over the corpus in each of `ROUNDS`
//! rounds and reports its fastest round, so a burst of load from other work
//! on the machine does not decide the ratio. `NUBO_BENCH_ITERATIONS`
//! (default 100) and `NUBO_BENCH_ROUNDS` (default 3) override them;
//! `NUBO_BENCH_QUICK=1` (CI) makes both 1, the reference included.
//! If python3 or radl 1.3.5 is missing, only nubo's rows are measured; that
//! is an error only when `NUBO_REQUIRE_SYSTEM_TESTS=1`, as is a missing
//! corpus.

#[path = "support/mod.rs"]
mod support;

use nubo::source::FileId;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const DEFAULT_ITERATIONS: u32 = 100;
const DEFAULT_ROUNDS: u32 = 3;
const TARGET_RATIO: f64 = 100.0;
const REFERENCE: &str = "radl 1.3.5 (Python)";

/// What the reference script reports.
struct Reference {
    parse: Duration,
    parse_check: Duration,
    parse_rejected: u64,
    check_parse_rejected: u64,
    check_rejected: u64,
    python: String,
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus_dir = root.join("../shared/corpus/radl");
    let corpus_dir = corpus_dir.canonicalize().unwrap_or(corpus_dir);
    let (iterations, rounds) = match (
        support::env_count(
            "NUBO_BENCH_ITERATIONS",
            support::by_mode(DEFAULT_ITERATIONS, 1),
        ),
        support::env_count("NUBO_BENCH_ROUNDS", support::by_mode(DEFAULT_ROUNDS, 1)),
    ) {
        (Ok(i), Ok(r)) => (i, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("radl_parse: {e}");
            return ExitCode::FAILURE;
        }
    };

    let mut paths = Vec::new();
    if corpus_dir.is_dir() {
        collect_radl(&corpus_dir, &mut paths);
    }
    paths.sort();
    if paths.is_empty() {
        return support::skip(
            "radl_parse",
            &format!("no *.radl files under {}", corpus_dir.display()),
        );
    }
    let mut texts = Vec::with_capacity(paths.len());
    for path in &paths {
        match std::fs::read_to_string(path) {
            Ok(text) => texts.push(text),
            Err(e) => {
                eprintln!("radl_parse: cannot read {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        }
    }
    let files = texts.len();
    let bytes: usize = texts.iter().map(String::len).sum();

    // Warm-up, and how many files nubo finds errors in (for the report).
    let mut syntax_errors = 0;
    let mut any_errors = 0;
    for text in &texts {
        black_box(nubo::radl::parse(FileId(0), black_box(text)));
        let v = nubo::radl::validate(FileId(0), black_box(text));
        if v.syntax.iter().any(|d| d.is_error()) {
            syntax_errors += 1;
        }
        if v.diagnostics().iter().any(|d| d.is_error()) {
            any_errors += 1;
        }
    }

    let mut nubo_parse = Duration::MAX;
    let mut nubo_validate = Duration::MAX;
    for _ in 0..rounds {
        nubo_parse = nubo_parse.min(time_iterations(iterations, || {
            for text in &texts {
                black_box(nubo::radl::parse(FileId(0), black_box(text)));
            }
        }));
        nubo_validate = nubo_validate.min(time_iterations(iterations, || {
            for text in &texts {
                black_box(nubo::radl::validate(FileId(0), black_box(text)));
            }
        }));
    }

    let reference = run_reference(root, &paths, iterations, rounds);

    let mut out = String::new();
    out.push_str(&format!(
        "| what | files | iterations | nubo | {REFERENCE} | ratio |\n"
    ));
    out.push_str("|---|---:|---:|---:|---:|---:|\n");
    let rows: [(&str, Duration, Option<Duration>); 2] = [
        (
            "parse",
            nubo_parse,
            reference.as_ref().ok().map(|r| r.parse),
        ),
        (
            "parse + check",
            nubo_validate,
            reference.as_ref().ok().map(|r| r.parse_check),
        ),
    ];
    for (what, nubo, theirs) in rows {
        let (theirs, ratio) = match theirs {
            Some(t) => (ms(t), format_ratio(ratio(t, nubo))),
            None => ("n/a".to_string(), "n/a".to_string()),
        };
        out.push_str(&format!(
            "| {what} | {files} | {iterations} | {} | {theirs} | {ratio} |\n",
            ms(nubo)
        ));
    }
    out.push('\n');
    out.push_str(&format!(
        "times: all files x {iterations} iterations, fastest of {rounds} rounds on each side\n"
    ));
    let per_file = |d: Duration| d.as_secs_f64() * 1e6 / (f64::from(iterations) * files as f64);
    out.push_str(&format!(
        "nubo mean per file: parse {:.1} µs, parse + check {:.1} µs\n",
        per_file(nubo_parse),
        per_file(nubo_validate)
    ));
    out.push_str(&format!(
        "corpus: {files} files, {:.1} KiB ({})\n",
        bytes as f64 / 1024.0,
        corpus_dir.display()
    ));
    out.push_str(&format!(
        "nubo reports errors in {any_errors} of {files} files ({syntax_errors} with syntax errors)\n"
    ));
    let met = match &reference {
        Ok(r) => {
            out.push_str(&format!(
                "{REFERENCE} on Python {}: parse rejected {} of {files} files; \
                 parse + check: {} rejected by parse, {} by check \
                 (time until the exception is included)\n",
                r.python, r.parse_rejected, r.check_parse_rejected, r.check_rejected
            ));
            if ratio(r.parse, nubo_parse) >= TARGET_RATIO
                && ratio(r.parse_check, nubo_validate) >= TARGET_RATIO
            {
                "MET"
            } else {
                "NOT MET"
            }
        }
        Err(why) => {
            out.push_str(&format!("reference could not run: {why}\n"));
            "NOT MEASURED (the reference did not run)"
        }
    };
    out.push_str(&format!(
        "target: nubo >= {TARGET_RATIO:.0}x faster on parse and on parse + check: {met}\n"
    ));

    if let Err(e) = support::publish("radl_parse", &out) {
        eprintln!("radl_parse: {e}");
        return ExitCode::FAILURE;
    }

    if reference.is_err() && support::required() {
        eprintln!("radl_parse: NUBO_REQUIRE_SYSTEM_TESTS=1 and the reference did not run");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Every `*.radl` file under `dir`, recursively.
fn collect_radl(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_radl(&path, out);
        } else if path.extension().is_some_and(|e| e == "radl") {
            out.push(path);
        }
    }
}

fn time_iterations(iterations: u32, mut pass: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        pass();
    }
    start.elapsed()
}

/// Runs the reference script; `Err` says why it could not.
fn run_reference(
    root: &Path,
    paths: &[PathBuf],
    iterations: u32,
    rounds: u32,
) -> Result<Reference, String> {
    let script = root.join("benches/radl_reference_bench.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--iterations")
        .arg(iterations.to_string())
        .arg("--rounds")
        .arg(rounds.to_string())
        .args(paths)
        .output()
        .map_err(|e| format!("cannot start python3: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = match stdout.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(line) => serde_json::from_str(line).map_err(|e| {
            format!(
                "unreadable output from {} ({e}): {}",
                script.display(),
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })?,
        None => {
            return Err(format!(
                "{} printed nothing ({}): {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    };
    if json["ok"] != serde_json::Value::Bool(true) {
        return Err(json["error"]
            .as_str()
            .unwrap_or("the reference script failed")
            .to_string());
    }
    let secs = |key: &str| {
        json[key]
            .as_f64()
            .map(Duration::from_secs_f64)
            .ok_or_else(|| format!("the reference output has no {key}"))
    };
    let count = |key: &str| {
        json[key]
            .as_u64()
            .ok_or_else(|| format!("the reference output has no {key}"))
    };
    Ok(Reference {
        parse: secs("parse_seconds")?,
        parse_check: secs("parse_check_seconds")?,
        parse_rejected: count("parse_rejected")?,
        check_parse_rejected: count("parse_check_parse_rejected")?,
        check_rejected: count("parse_check_check_rejected")?,
        python: json["python"].as_str().unwrap_or("?").to_string(),
    })
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

/// How many times faster `nubo` is than `theirs`.
fn ratio(theirs: Duration, nubo: Duration) -> f64 {
    theirs.as_secs_f64() / nubo.as_secs_f64().max(1e-12)
}

fn format_ratio(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}x")
    } else {
        format!("{r:.1}x")
    }
}
