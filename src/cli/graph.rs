use crate::ops::graph::{GraphError, GraphOptions, graph};
use crate::source::SourceMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The RADL file (`-` reads standard input).
    file: PathBuf,
}

pub fn run(args: Args) -> ExitCode {
    let mut sources = SourceMap::new();
    let title = args.file.display().to_string();
    match graph(&mut sources, &GraphOptions { file: args.file }) {
        Ok(g) => {
            print!("{}", g.to_dot(&title));
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
            eprintln!("nubo: {title} is not valid; fix the problems above");
            ExitCode::from(1)
        }
        Err(GraphError::Plan(e)) => {
            eprintln!("nubo: {e}");
            ExitCode::from(1)
        }
    }
}
