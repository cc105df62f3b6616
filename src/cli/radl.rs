use super::error::{CliError, CliResult, Message};
use super::output::{out, outln};
use crate::ops::radl_file;
use crate::radl::{json, printer};
use crate::source::SourceMap;
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Pretty-print a RADL file in nubo's canonical layout.
    Fmt {
        /// The RADL file (`-` reads standard input).
        file: PathBuf,
    },
    /// Print the JSON form of a RADL file (as IM's `radl_json.dump_radl`).
    Json {
        /// The RADL file (`-` reads standard input).
        file: PathBuf,
    },
}

pub fn run(cmd: Command) -> CliResult {
    let (file, fmt) = match cmd {
        Command::Fmt { file } => (file, true),
        Command::Json { file } => (file, false),
    };
    let mut sources = SourceMap::new();
    let (_, checked) = radl_file::load(&mut sources, &file).map_err(CliError::usage)?;
    // Formatting needs only a complete tree; JSON needs a valid document.
    let blocking: Vec<_> = if fmt {
        checked.syntax.clone()
    } else {
        checked
            .diagnostics()
            .into_iter()
            .filter(|d| d.is_error())
            .collect()
    };
    if !blocking.is_empty() {
        for d in &blocking {
            eprint!("{}", d.render(&sources));
        }
        return Err(CliError::failed(Message(format!(
            "{} is not valid RADL; fix the problems above (`nubo validate` lists them all)",
            file.display()
        ))));
    }
    if fmt {
        out!("{}", printer::print(&checked.tree));
    } else {
        let out = json::to_json(&checked.document);
        outln!(
            "{}",
            serde_json::to_string_pretty(&out).expect("JSON values always serialise")
        );
    }
    Ok(())
}
