//! `nubo launch`, `nubo plan`, `nubo reconfigure`.

use super::common::{EnvArgs, runtime};
use super::error::{CliError, CliResult, Message};
use super::output::outln;
use super::progress::Progress;
use crate::ops::executor::ExecError;
use crate::ops::launch::{self, LaunchOptions, LaunchReport, ReconfigureOptions};
use crate::ops::plan;
use crate::plan::changes::VmAction;
use crate::plan::walk::{Failure, Outcome};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
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
    /// The Ansible Vault password of configures encrypted with it (kept
    /// with the cluster, readable by you only, for `nubo reconfigure`).
    #[arg(long, value_name = "FILE")]
    vault_password_file: Option<PathBuf>,
    #[command(flatten)]
    inputs: InputArgs,
    #[command(flatten)]
    env: EnvArgs,
}

/// Input values for TOSCA templates.
#[derive(clap::Args)]
pub struct InputArgs {
    /// A TOSCA input's value, as YAML (`workers=3`, `ports=[80, 443]`);
    /// repeatable; later values win, and over `--inputs` files.
    #[arg(long = "input", value_name = "NAME=VALUE")]
    input: Vec<String>,
    /// A YAML file of TOSCA input values (`NAME: VALUE` lines); repeatable.
    #[arg(long = "inputs", value_name = "FILE.yaml")]
    inputs: Vec<PathBuf>,
}

impl InputArgs {
    /// Where templates are found, with these input values.
    fn search(&self) -> crate::ops::templates::TemplateSearch {
        crate::ops::templates::TemplateSearch {
            inputs: crate::ops::templates::InputValues {
                args: self.input.clone(),
                files: self.inputs.clone(),
                require_all: true,
            },
            ..Default::default()
        }
    }
}

#[derive(clap::Args)]
pub struct PlanArgs {
    /// The cluster's name (it may not exist yet).
    name: String,
    /// Templates to compose, as for `launch`; none: what `nubo
    /// reconfigure` would do to the recorded cluster.
    templates: Vec<String>,
    /// With no templates: plan `reconfigure --force` (every step again).
    #[arg(long)]
    force: bool,
    /// A RADL file composed after the templates.
    #[arg(long, value_name = "RADL")]
    add: Option<PathBuf>,
    /// Print the plan as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    inputs: InputArgs,
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

fn read_add(add: &Option<PathBuf>) -> Result<Option<String>, CliError> {
    Ok(add
        .as_ref()
        .map(|p| crate::source::read_text(p))
        .transpose()?)
}

fn print_plan(p: &plan::PlanReport) {
    outln!(
        "Plan for cluster `{}`{}:",
        p.cluster,
        if p.exists { " (recorded)" } else { " (new)" }
    );
    for v in &p.vms {
        outln!(
            "  {} vm {} ({} on {}): {}",
            v.action.sign(),
            v.node,
            v.system,
            v.provider,
            v.action
        );
    }
    for s in &p.steps {
        outln!(
            "  {} configure {} on {} (step {}): {} ({})",
            s.action.sign(),
            s.key.configure,
            s.key.node,
            s.key.step,
            s.action,
            s.reason
        );
    }
    let count = |a: VmAction| p.vms.iter().filter(|v| v.action == a).count();
    let runs = p.steps.iter().filter(|s| s.action.runs()).count();
    outln!(
        "{} to create, {} to keep, {} to start, {} to recreate, {} to destroy, {} to stop; {} step(s) to run.",
        count(VmAction::Create),
        count(VmAction::Keep),
        count(VmAction::Start),
        count(VmAction::Recreate),
        count(VmAction::Destroy),
        count(VmAction::Stop),
        runs
    );
}

/// A failed vertex's error: a recipe that cannot be rendered shows its
/// diagnostics (rendered here, once); anything else its cause chain.
fn render_failure(f: &Failure) -> String {
    if let Some(ExecError::Render {
        diagnostics,
        sources,
        ..
    }) = f.downcast_ref::<ExecError>()
    {
        let mut out = format!("{}\n", f.error());
        for d in diagnostics {
            out.push_str(&d.render(sources));
        }
        return out;
    }
    f.to_string()
}

fn report(r: &LaunchReport, json: bool) -> CliResult {
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
                        serde_json::json!({"error": render_failure(error), "attempts": attempts}),
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
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(CliError::failed)?
        );
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
        Ok(())
    } else {
        for (v, e) in r.walk.failures() {
            eprintln!("nubo: {v} failed: {}", render_failure(e));
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
        Err(CliError::failed(Message(format!(
            "cluster `{}` is not complete: fix the cause and run the same launch again (it keeps what is done), or `nubo destroy {0}`",
            r.cluster
        ))))
    }
}

pub fn launch(args: LaunchArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let add = read_add(&args.add)?;
    let opts = LaunchOptions {
        name: args.name.clone(),
        templates: args.templates.clone(),
        add,
        search: Some(args.inputs.search()),
        recipe_dirs: None,
        dry_run: args.dry_run,
        vault_password_file: args.vault_password_file.clone(),
    };
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if args.dry_run || (interactive && !args.yes) {
        let p = plan::plan(
            &env,
            &opts.name,
            &opts.templates,
            opts.add.as_deref(),
            &args.inputs.search(),
            &Default::default(),
        )?;
        if args.json && args.dry_run {
            print_json(&p)?;
        } else {
            print_plan(&p);
        }
        if args.dry_run {
            return Ok(());
        }
        eprint!("Launch cluster `{}`? [y/N] ", args.name);
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(CliError::failed(Message("not launched".into())));
        }
    }
    let progress = Arc::new(Progress::new(args.json));
    let result = runtime().block_on(launch::launch(&env, &opts, progress.clone()));
    progress.finish();
    report(&result?, args.json)
}

fn print_json(v: &impl serde::Serialize) -> CliResult {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).map_err(CliError::failed)?
    );
    Ok(())
}

pub fn plan(args: PlanArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let add = read_add(&args.add)?;
    if args.templates.is_empty() && !(args.inputs.input.is_empty() && args.inputs.inputs.is_empty())
    {
        return Err(CliError::usage(Message(
            "--input and --inputs go with templates: `nubo plan NAME TEMPLATE... --input NAME=VALUE` (a recorded cluster keeps the values it was launched with)".into(),
        )));
    }
    if args.templates.is_empty() && add.is_some() {
        return Err(CliError::usage(Message(
            "--add goes with templates: `nubo plan NAME TEMPLATE... --add RADL`".into(),
        )));
    }
    let p = if args.templates.is_empty() {
        plan::plan_recorded(&env, &args.name, args.force, &Default::default())?
    } else {
        plan::plan(
            &env,
            &args.name,
            &args.templates,
            add.as_deref(),
            &args.inputs.search(),
            &Default::default(),
        )?
    };
    if args.json {
        print_json(&p)
    } else {
        print_plan(&p);
        Ok(())
    }
}

pub fn reconfigure(args: ReconfigureArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let progress = Arc::new(Progress::new(false));
    let opts = ReconfigureOptions {
        name: args.name.clone(),
        force: args.force,
        update_recipes: args.update_recipes,
        recipe_dirs: None,
    };
    let result = runtime().block_on(launch::reconfigure(&env, &opts, progress.clone()));
    progress.finish();
    report(&result?, false)
}
