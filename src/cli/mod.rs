//! The command line: argument definitions and thin commands that call
//! [`crate::ops`] and render the result. Diagnostics are rendered here,
//! once.

mod common;
mod elastic;
pub mod error;
mod graph;
mod launch;
mod manage;
mod output;
mod progress;
mod radl;
mod serve;
mod templates;
mod tosca;
mod validate;

use clap::{Parser, Subcommand};
pub use error::{Cause, CliError, CliResult};
use std::process::ExitCode;

/// `--help`'s closing text: the exit codes (from [`error::Cause`]) and logs.
fn after_help() -> String {
    format!(
        "{}\n\nLogs: NUBO_LOG=debug (or any tracing filter) on standard error.",
        error::exit_codes_help()
    )
}

#[derive(Parser)]
#[command(name = "nubo", version, about = "Declarative elastic clusters from RADL and TOSCA", after_help = after_help())]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check RADL and TOSCA files: prints `FILE: ok`, or each problem as
    /// file:line:col with the source line. Exit 0 all valid, 1 some invalid, 2 a file
    /// could not be read.
    Validate(validate::Args),
    /// RADL tools: pretty-print, or print IM's JSON form.
    #[command(subcommand)]
    Radl(radl::Command),
    /// TOSCA tools: check templates, or print one lowered to RADL.
    #[command(subcommand)]
    Tosca(tosca::Command),
    /// Print the graph `launch` would walk for these templates as Graphviz
    /// DOT: networks, VMs and configuration steps, with what waits for what.
    Graph(graph::Args),
    /// Launch a cluster from templates on the local provider (or on the
    /// clouds of the auth file given with -a), configure it over SSH, and
    /// record it. Run again after a failure or a crash, it
    /// converges: it keeps what is done and does the rest.
    Launch(launch::LaunchArgs),
    /// Show what `launch` would do against the recorded state (VMs to
    /// create, keep, start, recreate or destroy; steps to run, rerun, keep
    /// or skip, with why), without doing it; with no templates, what
    /// `reconfigure` would do. The walk decides by the same rules.
    Plan(launch::PlanArgs),
    /// Run a cluster's configuration again: steps whose script changed or
    /// that did not finish (all with --force). Recipes from git come from
    /// the commits recorded at launch (--update-recipes fetches their
    /// branches and tags again).
    Reconfigure(launch::ReconfigureArgs),
    /// List the recorded clusters.
    List(manage::ListArgs),
    /// Show a cluster: its VMs, addresses, steps and failed steps' logs.
    Show(manage::ShowArgs),
    /// Log in to a node (default: the front-end), or run a command there.
    Ssh(manage::SshArgs),
    /// Destroy a cluster's VMs and everything made for it, then forget it.
    Destroy(manage::DestroyArgs),
    /// Stop a cluster's VMs, keeping their disks.
    Stop(manage::PowerArgs),
    /// Start a stopped cluster's VMs again, then run its configuration
    /// again (every step: services started by steps come back).
    Restart(manage::PowerArgs),
    /// List the templates `launch` can compose (./templates, the user's
    /// config directory, built-in).
    Templates(templates::Args),
    /// The elasticity daemon: grow and shrink a cluster by its job queue.
    #[command(subcommand)]
    Elastic(elastic::Command),
    /// Serve the Infrastructure Manager's REST API (for im_client.py, ec3
    /// and CLUES): create, list, inspect, stop, start, reconfigure and
    /// destroy infrastructures from RADL; each is a cluster in the state
    /// directory, named by its id. See the README for what is not served
    /// yet.
    Serve(serve::ServeArgs),
}

pub fn run(cli: Cli) -> CliResult {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Radl(cmd) => radl::run(cmd),
        Command::Tosca(cmd) => tosca::run(cmd),
        Command::Graph(args) => graph::run(args),
        Command::Launch(args) => launch::launch(args),
        Command::Plan(args) => launch::plan(args),
        Command::Reconfigure(args) => launch::reconfigure(args),
        Command::List(args) => manage::list(args),
        Command::Show(args) => manage::show(args),
        Command::Ssh(args) => manage::ssh(args),
        Command::Destroy(args) => manage::destroy(args),
        Command::Stop(args) => manage::stop(args),
        Command::Restart(args) => manage::restart(args),
        Command::Templates(args) => templates::run(args),
        Command::Elastic(cmd) => elastic::run(cmd),
        Command::Serve(args) => serve::run(args),
    }
}

/// The process: parse the arguments, set up logging, run the command, and
/// turn its result into the exit code (the only place that does).
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's help and version requests are not errors.
            return if e.use_stderr() {
                ExitCode::from(Cause::Usage.code())
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NUBO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never in a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = run(cli);
    output::flush();
    match result {
        // The output could not be written (not a reader gone away).
        Ok(()) if output::failed() => ExitCode::from(Cause::Failed.code()),
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.exit(),
    }
}
