//! `nubo list`, `show`, `ssh`, `destroy`, `stop`, `restart`.

use super::common::{EnvArgs, runtime, time};
use super::error::{CliError, CliResult, Message};
use super::output::{out, outln};
use super::progress::Progress;
use crate::ops::destroy::{self, DestroyOptions};
use crate::ops::info;
use crate::ops::lifecycle::{self, Action};
use std::io::{BufRead, IsTerminal, Write};
use std::os::unix::process::CommandExt;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct ListArgs {
    /// Print the list as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct ShowArgs {
    name: String,
    /// Print every step's whole log.
    #[arg(long)]
    logs: bool,
    /// Print the cluster as JSON (secrets are never included).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct SshArgs {
    name: String,
    /// The node [default: the front-end].
    node: Option<String>,
    /// A command to run instead of a login shell.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct DestroyArgs {
    name: String,
    /// Do not ask for confirmation (asked only on a terminal).
    #[arg(short = 'y', long)]
    yes: bool,
    /// Remove whatever the providers hold under the cluster's name even when
    /// the state has no record of it or is damaged.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    env: EnvArgs,
}

#[derive(clap::Args)]
pub struct PowerArgs {
    name: String,
    #[command(flatten)]
    env: EnvArgs,
}

pub fn list(args: ListArgs) -> CliResult {
    let env = args.env.open()?;
    let clusters = info::list(&env)?;
    if args.json {
        return print_json(&clusters);
    }
    if clusters.is_empty() {
        outln!("No clusters. `nubo launch NAME TEMPLATE...` makes one.");
        return Ok(());
    }
    outln!(
        "{:<20} {:<12} {:>5} {:>8}  {:<19}  TEMPLATES",
        "NAME",
        "STATUS",
        "VMS",
        "RUNNING",
        "CREATED (UTC)"
    );
    for s in clusters {
        outln!(
            "{:<20} {:<12} {:>5} {:>8}  {:<19}  {}{}",
            s.cluster.name,
            s.cluster.status.to_string(),
            s.vms,
            s.running_vms,
            time(s.cluster.created_at.as_millis()),
            s.cluster.templates.join(" "),
            if s.open_intents > 0 {
                format!(
                    "  ({} interrupted call(s): run `nubo show {}`)",
                    s.open_intents, s.cluster.name
                )
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

pub fn show(args: ShowArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let d = runtime().block_on(info::show(&env, &args.name))?;
    let outputs = crate::ops::outputs::outputs(&d).unwrap_or_else(|e| {
        eprintln!("nubo: warning: the cluster's outputs cannot be shown: {e}");
        Vec::new()
    });
    if args.json {
        let mut v = serde_json::to_value(&d).map_err(CliError::failed)?;
        if let Some(map) = v.as_object_mut() {
            map.insert(
                "outputs".into(),
                serde_json::Value::Object(
                    outputs
                        .iter()
                        .map(|o| {
                            (
                                o.name.clone(),
                                o.value.clone().unwrap_or(serde_json::Value::Null),
                            )
                        })
                        .collect(),
                ),
            );
        }
        return print_json(&v);
    }
    let c = &d.cluster;
    outln!("cluster   {}", c.name);
    outln!("status    {}", c.status);
    outln!("templates {}", c.templates.join(" "));
    outln!("created   {} UTC", time(c.created_at.as_millis()));
    outln!();
    outln!(
        "{:<16} {:<10} {:<8} {:<10} ADDRESSES",
        "NODE",
        "SYSTEM",
        "PROVIDER",
        "STATE"
    );
    for v in &d.vms {
        outln!(
            "{:<16} {:<10} {:<8} {:<10} {}",
            v.node,
            v.system,
            v.provider,
            v.state.to_string(),
            v.addresses.join(" ")
        );
    }
    if !d.git_pins.is_empty() {
        outln!();
        outln!(
            "RECIPES FROM GIT (pinned; `nubo reconfigure {} --update-recipes` moves them)",
            c.name
        );
        for p in &d.git_pins {
            outln!(
                "{} {} {}",
                p.url,
                p.rev.as_deref().unwrap_or("(default branch)"),
                p.commit
            );
        }
    }
    if !outputs.is_empty() {
        outln!();
        outln!("OUTPUTS");
        for o in &outputs {
            let value = match &o.value {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "(not known: the VM or the attribute is missing)".into(),
            };
            outln!("{:<16} {value}", o.name);
        }
    }
    if !d.steps.is_empty() {
        outln!();
        outln!(
            "{:<16} {:<16} {:>4} {:<8} {:>4}",
            "NODE",
            "CONFIGURE",
            "STEP",
            "STATUS",
            "EXIT"
        );
        for s in &d.steps {
            outln!(
                "{:<16} {:<16} {:>4} {:<8} {:>4}",
                s.key.node,
                s.key.configure,
                s.key.step,
                s.status.to_string(),
                s.exit_status.map(|e| e.to_string()).unwrap_or_default()
            );
        }
    }
    for s in &d.steps {
        let failed = s.status == crate::state::StepStatus::Failed;
        if args.logs || failed {
            outln!();
            outln!(
                "--- log of configure {} on {} (step {}){}",
                s.key.configure,
                s.key.node,
                s.key.step,
                if failed { ": FAILED" } else { "" }
            );
            out!("{}", s.log);
            if !s.log.ends_with('\n') && !s.log.is_empty() {
                outln!();
            }
        }
    }
    if !d.open_intents.is_empty() {
        outln!();
        outln!(
            "{} provider call(s) are still open (another nubo is working on this cluster)",
            d.open_intents.len()
        );
    }
    Ok(())
}

pub fn ssh(mut args: SshArgs) -> CliResult {
    // `nubo ssh NAME -- CMD`: clap fills NODE from after the `--`; a
    // command given after `--` right behind the name has no node.
    let raw: Vec<String> = std::env::args().collect();
    if let Some(pos) = raw.iter().position(|a| a == "--")
        && pos > 0
        && raw[pos - 1] == args.name
        && let Some(first) = args.node.take()
    {
        args.command.insert(0, first);
    }
    let env = args.env.open_for(&args.name)?;
    let place = runtime().block_on(info::ssh_place(&env, &args.name, args.node.as_deref()))?;
    let mut cmd = std::process::Command::new("ssh");
    cmd.args(ssh_options(&place));
    if let Some(front) = &place.via {
        // A node with only a private address: through the front-end, whose
        // own ssh checks its host key against the same file.
        let mut proxy = vec!["ssh".to_string()];
        proxy.extend(ssh_options(front));
        proxy.extend(["-W".to_string(), "%h:%p".to_string()]);
        proxy.push(format!("{}@{}", front.access.user, front.access.host));
        let proxy: Vec<String> = proxy.iter().map(|a| shell_quote(a)).collect();
        cmd.arg("-o")
            .arg(format!("ProxyCommand={}", proxy.join(" ")));
    }
    cmd.arg(format!("{}@{}", place.access.user, place.access.host));
    if !args.command.is_empty() {
        cmd.arg("--").args(&args.command);
    }
    let err = cmd.exec();
    Err(CliError::usage(Message(format!(
        "cannot run ssh: {err} (apt-get install openssh-client)"
    ))))
}

/// OpenSSH's options for a node: its key, the cluster's known hosts and
/// nothing else, its port.
fn ssh_options(place: &info::SshPlace) -> Vec<String> {
    let mut out = vec![
        "-i".to_string(),
        place.key_path.display().to_string(),
        "-o".to_string(),
        format!("UserKnownHostsFile={}", place.known_hosts.display()),
    ];
    for o in [
        "StrictHostKeyChecking=yes",
        "IdentitiesOnly=yes",
        "LogLevel=ERROR",
        "GlobalKnownHostsFile=/dev/null",
    ] {
        out.extend(["-o".to_string(), o.to_string()]);
    }
    out.extend(["-p".to_string(), place.access.port.to_string()]);
    out
}

/// `text` as one word for sh (OpenSSH runs a ProxyCommand with the user's
/// shell).
fn shell_quote(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

fn confirm(question: &str) -> bool {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

pub fn destroy(args: DestroyArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    if !args.yes
        && std::io::stdin().is_terminal()
        && !confirm(&format!("Destroy cluster `{}` and all its VMs?", args.name))
    {
        return Err(CliError::failed(Message("not destroyed".into())));
    }
    let progress = Arc::new(Progress::new(false));
    let result = runtime().block_on(destroy::destroy(
        &env,
        &DestroyOptions {
            name: args.name.clone(),
            force: args.force,
        },
        progress.clone(),
    ));
    progress.finish();
    let r = result?;
    for a in &r.reconciled {
        eprintln!("reconciled: {a}");
    }
    for s in &r.swept {
        eprintln!("swept unrecorded VM {s}");
    }
    eprintln!(
        "Cluster `{}` destroyed ({} VM(s)).",
        args.name,
        r.destroyed.len()
    );
    Ok(())
}

fn power(args: PowerArgs, action: Action) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let nodes = runtime().block_on(lifecycle::set_power(&env, &args.name, action))?;
    let verb = match action {
        Action::Stop => "stopped",
        Action::Start => "started",
    };
    eprintln!("Cluster `{}`: {verb} {} VM(s).", args.name, nodes.len());
    Ok(())
}

pub fn stop(args: PowerArgs) -> CliResult {
    power(args, Action::Stop)
}

pub fn restart(args: PowerArgs) -> CliResult {
    let env = args.env.open_for(&args.name)?;
    let progress = Arc::new(Progress::new(false));
    let result = runtime().block_on(lifecycle::restart(&env, &args.name, progress.clone()));
    progress.finish();
    let (nodes, report) = result?;
    eprintln!("Cluster `{}`: started {} VM(s).", args.name, nodes.len());
    match report {
        Some(r) if !r.succeeded() => Err(CliError::failed(Message(format!(
            "configuring cluster `{}` again failed: `nubo show {} --logs` shows why; `nubo reconfigure {}` tries again",
            args.name, args.name, args.name
        )))),
        Some(_) => {
            eprintln!("Configuration run again.");
            Ok(())
        }
        None => Ok(()),
    }
}

fn print_json(v: &impl serde::Serialize) -> CliResult {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).map_err(CliError::failed)?
    );
    Ok(())
}
