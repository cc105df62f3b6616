use super::error::{CliError, CliResult, Message};
use super::output::out;
use crate::ops::graph::{GraphError, GraphOptions, graph, graph_of_templates};
use crate::source::SourceMap;
use std::path::PathBuf;

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

pub fn run(args: Args) -> CliResult {
    if args.templates == ["-"] && args.add.is_none() {
        return from_stdin();
    }
    let add = args
        .add
        .as_ref()
        .map(|p| crate::source::read_text(p))
        .transpose()?;
    let title = args.templates.join(" + ");
    let g = graph_of_templates(&args.templates, add.as_deref())?;
    out!("{}", g.to_dot(&title));
    Ok(())
}

fn from_stdin() -> CliResult {
    let mut sources = SourceMap::new();
    let file = PathBuf::from("-");
    match graph(&mut sources, &GraphOptions { file }) {
        Ok(g) => {
            out!("{}", g.to_dot("-"));
            Ok(())
        }
        Err(e @ GraphError::Read(_)) => Err(CliError::usage(e)),
        Err(GraphError::Invalid(diags)) => {
            for d in &diags {
                eprint!("{}", d.render(&sources));
            }
            Err(CliError::failed(Message(
                "the description on standard input is not valid; fix the problems above".into(),
            )))
        }
        Err(e @ GraphError::Plan(_)) => Err(CliError::failed(e)),
    }
}
