//! The command line: argument definitions and thin commands that call
//! [`crate::ops`] and render the result. Diagnostics are rendered here,
//! once.

mod graph;
mod radl;
mod tosca;
mod validate;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

const EXIT_CODES: &str = "Exit codes: 0 success; 1 the input is invalid or the operation failed; 2 nubo could not run (bad arguments, unreadable file).";

#[derive(Parser)]
#[command(name = "nubo", version, about = "Declarative elastic clusters from RADL", after_help = EXIT_CODES)]
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
    /// Print the deployment graph of a RADL file as Graphviz DOT: networks,
    /// VMs and configuration steps, with what waits for what.
    Graph(graph::Args),
}

pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Radl(cmd) => radl::run(cmd),
        Command::Tosca(cmd) => tosca::run(cmd),
        Command::Graph(args) => graph::run(args),
    }
}
