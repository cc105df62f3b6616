use super::common::fail;
use crate::ops::graph::{GraphError, GraphOptions, graph, graph_of_templates};
use crate::source::SourceMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Templates to compose, as for `launch` (names, see `nubo templates`,
    /// or paths); or `-`: one RADL description from standard input.
    #[arg(required = true, value_name = "TEMPLATE")]
    templates: Vec<String>,
    /// A RADL file composed after the templates.
    #[arg(long, value_name = "RADL")]
    add: Option<PathBuf>,
}

pub fn run(args: Args) -> ExitCode {
    if args.templates == ["-"] && args.add.is_none() {
        return from_stdin();
    }
    let add = match args
        .add
        .as_ref()
        .map(|p| crate::source::read_text(p))
        .transpose()
    {
        Ok(a) => a,
        Err(e) => return fail(2, e),
    };
    let title = args.templates.join(" + ");
    match graph_of_templates(&args.templates, add.as_deref()) {
        Ok(g) => {
            print!("{}", g.to_dot(&title));
            ExitCode::SUCCESS
        }
        Err(e) => super::launch::launch_error(e),
    }
}

fn from_stdin() -> ExitCode {
    let mut sources = SourceMap::new();
    let file = PathBuf::from("-");
    match graph(&mut sources, &GraphOptions { file }) {
        Ok(g) => {
            print!("{}", g.to_dot("-"));
            ExitCode::SUCCESS
        }
        Err(GraphError::Read(e)) => {
            eprintln!("nubo: {e}");
            ExitCode::from(2)
        }
        Err(GraphError::Invalid(diags)) => {
            for d in &diags {
                eprint!("{}", d.render(&sources));
            }
            eprintln!(
                "nubo: the description on standard input is not valid; fix the problems above"
            );
            ExitCode::from(1)
        }
        Err(GraphError::Plan(e)) => {
            eprintln!("nubo: {e}");
            ExitCode::from(1)
        }
    }
}
