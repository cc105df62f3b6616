//! `nubo launch`, `nubo plan`, `nubo reconfigure`.

use super::common::{EnvArgs, fail, runtime};
use super::progress::Progress;
use crate::ops::launch::{self, LaunchError, LaunchOptions, LaunchReport, ReconfigureOptions};
use crate::ops::plan::{self, Action};
use crate::plan::walk::Outcome;
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct LaunchArgs {
    /// The cluster's name.
    name: String,
    /// Templates to compose, by name (see `nubo templates`) or path, in
    /// order: later templates' values win.
    #[arg(required = true)]
    templates: Vec<String>,
    /// A RADL file composed after the templates.
    #[arg(long, value_name = "RADL")]
    add: Option<PathBuf>,
    /// Do not ask for confirmation (asked only on a terminal).
    #[arg(short = 'y', long)]
    yes: bool,
    /// Show the plan and stop.
    #[arg(long)]
    dry_run: bool,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The cluster's name (it may not exist yet).
    name: String,
    /// Templates to compose, as for `launch`.
    #[arg(required = true)]
    templates: Vec<String>,
    /// A RADL file composed after the templates.
    #[arg(long, value_name = "RADL")]
    add: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct ReconfigureArgs {
    /// The cluster's name.
    name: String,
    /// Run every step again, even those recorded `ok` with the same script.
    #[arg(long)]
    force: bool,
    /// Resolve the branches and tags of recipes from git again (needs the
    /// repositories) and record the new commits; without it, the commits
    /// recorded at launch are used, even if a branch has moved since.
    #[arg(long)]
    update_recipes: bool,
    #[command(flatten)]
    env: EnvArgs,
}

fn read_add(add: &Option<PathBuf>) -> Result<Option<String>, ExitCode> {
    add.as_ref()
        .map(|p| crate::source::read_text(p).map_err(|e| fail(2, e)))
        .transpose()
}

pub(super) fn launch_error(e: LaunchError) -> ExitCode {
    match e {
        LaunchError::Invalid {
            sources,
            diagnostics,
        } => {
            for d in &diagnostics {
                eprint!("{}", d.render(&sources));
            }
            let n = diagnostics.iter().filter(|d| d.is_error()).count();
            fail(
                1,
                format!("the cluster description has {n} error(s); fix them and launch again"),
            )
        }
        LaunchError::Template(e) => fail(2, e),
        LaunchError::State(e) => fail(2, e),
        e => fail(1, e),
    }
}

fn print_plan(p: &plan::PlanReport) {
    let sign = |a: Action| match a {
        Action::Create => "+",
        Action::Keep => "=",
        Action::Destroy => "-",
    };
    println!(
        "Plan for cluster `{}`{}:",
        p.cluster,
        if p.exists { " (recorded)" } else { " (new)" }
    );
    for v in &p.vms {
        println!(
            "  {} vm {} ({} on {})",
            sign(v.action),
            v.node,
            v.system,
            v.provider
        );
    }
    for s in &p.steps {
        println!(
            "  {} configure {} on {} (step {}): {}",
            sign(s.action),
            s.key.configure,
            s.key.node,
            s.key.step,
            s.reason
        );
    }
    let count = |a: Action| p.vms.iter().filter(|v| v.action == a).count();
    let runs = p
        .steps
        .iter()
        .filter(|s| s.action == Action::Create)
        .count();
    println!(
        "{} to create, {} to keep, {} to destroy; {} step(s) to run.",
        count(Action::Create),
        count(Action::Keep),
        count(Action::Destroy),
        runs
    );
}

fn report(r: &LaunchReport, json: bool) -> ExitCode {
    for d in &r.warnings {
        eprint!("{}", d.render(&r.sources));
    }
    if json {
        let outcomes: Vec<serde_json::Value> = r
            .walk
            .outcomes
            .iter()
            .map(|(v, o)| {
                let (status, detail) = match o {
                    Outcome::Done { attempts } => {
                        ("done", serde_json::json!({"attempts": attempts}))
                    }
                    Outcome::Failed { error, attempts } => (
                        "failed",
                        serde_json::json!({"error": error, "attempts": attempts}),
                    ),
                    Outcome::Skipped { because } => (
                        "skipped",
                        serde_json::json!({"because": because.to_string()}),
                    ),
                };
                serde_json::json!({"what": v.to_string(), "status": status, "detail": detail})
            })
            .collect();
        let v = serde_json::json!({
            "cluster": r.cluster,
            "templates": r.templates,
            "succeeded": r.succeeded(),
            "removed": r.removed,
            "reconciled": r.reconciled,
            "outcomes": outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    } else {
        for a in &r.reconciled {
            eprintln!("reconciled: {a}");
        }
    }
    if r.succeeded() {
        if !json {
            eprintln!(
                "Cluster `{}` is up: `nubo show {0}` lists its nodes, `nubo ssh {0}` logs in to its front-end.",
                r.cluster
            );
        }
        ExitCode::SUCCESS
    } else {
        for (v, e) in r.walk.failures() {
            eprintln!("nubo: {v} failed: {e}");
        }
        let skipped = r
            .walk
            .outcomes
            .values()
            .filter(|o| matches!(o, Outcome::Skipped { .. }))
            .count();
        if skipped > 0 {
            eprintln!("nubo: {skipped} step(s) skipped because of the failures above");
        }
        eprintln!(
            "nubo: cluster `{}` is not complete: fix the cause and run the same launch again (it keeps what is done), or `nubo destroy {0}`",
            r.cluster
        );
        ExitCode::from(1)
    }
}

pub fn launch(args: LaunchArgs) -> ExitCode {
    let env = match args.env.open_for(&args.name) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let add = match read_add(&args.add) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let opts = LaunchOptions {
        name: args.name.clone(),
        templates: args.templates.clone(),
        add,
        search: None,
        recipe_dirs: None,
        dry_run: args.dry_run,
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if args.dry_run || (interactive && !args.yes) {
        let p = match plan::plan(&env, &opts) {
            Ok(p) => p,
            Err(e) => return launch_error(e),
        };
        if args.json && args.dry_run {
            println!("{}", serde_json::to_string_pretty(&p).expect("JSON"));
        } else {
            print_plan(&p);
        }
        if args.dry_run {
            return ExitCode::SUCCESS;
        }
        eprint!("Launch cluster `{}`? [y/N] ", args.name);
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return fail(1, "not launched");
        }
    }
    let progress = Arc::new(Progress::new(args.json));
    let result = runtime().block_on(launch::launch(&env, &opts, progress.clone()));
    progress.finish();
    match result {
        Ok(r) => report(&r, args.json),
        Err(e) => launch_error(e),
    }
}

pub fn plan(args: PlanArgs) -> ExitCode {
    let env = match args.env.open_for(&args.name) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let add = match read_add(&args.add) {
        Ok(a) => a,
        Err(c) => return c,
    };
    let opts = LaunchOptions {
        name: args.name,
        templates: args.templates,
        add,
        ..LaunchOptions::default()
    };
    match plan::plan(&env, &opts) {
        Ok(p) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&p).expect("JSON"));
            } else {
                print_plan(&p);
            }
            ExitCode::SUCCESS
        }
        Err(e) => launch_error(e),
    }
}

pub fn reconfigure(args: ReconfigureArgs) -> ExitCode {
    let env = match args.env.open_for(&args.name) {
        Ok(e) => e,
        Err(c) => return c,
    };
    let progress = Arc::new(Progress::new(false));
    let opts = ReconfigureOptions {
        name: args.name.clone(),
        force: args.force,
        update_recipes: args.update_recipes,
        recipe_dirs: None,
    };
    let result = runtime().block_on(launch::reconfigure(&env, &opts, progress.clone()));
    progress.finish();
    match result {
        Ok(r) => report(&r, false),
        Err(e) => launch_error(e),
    }
}
