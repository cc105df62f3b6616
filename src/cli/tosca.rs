use super::error::{Cause, CliError, CliResult, Message};
use super::output::{out, outln};
use crate::radl::printer;
use crate::source::SourceMap;
use crate::tosca::{self, ImportOptions};
use std::path::PathBuf;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Check TOSCA templates: prints `FILE: ok`, or each problem as
    /// file:line:col with the source line.
    Check {
        /// The templates (`-` reads standard input).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        imports: ImportArgs,
    },
    /// Print a TOSCA template lowered to RADL, as IM's conversion does.
    Radl {
        /// The template (`-` reads standard input).
        file: PathBuf,
        #[command(flatten)]
        imports: ImportArgs,
        /// Read or download each software node's operation implementations
        /// and inline them, as a launch does (without it, each is an
        /// `include_tasks` of its reference).
        #[arg(long)]
        inline: bool,
    },
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// A directory with local copies of URL imports (repeatable). For
    /// https://host/a/b.yaml nubo tries DIR/host/a/b.yaml, DIR/a/b.yaml and
    /// DIR/b.yaml, then the cache (~/.cache/nubo/tosca); a URL import found
    /// nowhere is downloaded into the cache (unless --offline).
    #[arg(long = "import-dir", value_name = "DIR")]
    import_dirs: Vec<PathBuf>,
    /// Never download a URL import (also NUBO_OFFLINE=1).
    #[arg(long)]
    offline: bool,
}

impl ImportArgs {
    fn options(self) -> ImportOptions {
        crate::ops::fetch::import_options(self.import_dirs, self.offline)
    }
}

pub fn run(cmd: Command) -> CliResult {
    match cmd {
        Command::Check { files, imports } => {
            let opts = imports.options();
            let mut sources = SourceMap::new();
            let (mut invalid, mut unreadable) = (false, false);
            for path in &files {
                match tosca::load(&mut sources, path, &opts) {
                    Ok(checked) => {
                        if checked.diagnostics.is_empty() {
                            outln!("{}: ok", path.display());
                        }
                        for d in &checked.diagnostics {
                            out!("{}", d.render(&sources));
                        }
                        invalid |= checked.has_errors();
                    }
                    Err(e) => {
                        eprintln!("nubo: {e}");
                        unreadable = true;
                    }
                }
            }
            if unreadable {
                Err(CliError::reported(Cause::Usage))
            } else if invalid {
                Err(CliError::reported(Cause::Failed))
            } else {
                Ok(())
            }
        }
        Command::Radl {
            file,
            imports,
            inline,
        } => {
            let opts = imports.options();
            let mut sources = SourceMap::new();
            let checked = tosca::load(&mut sources, &file, &opts).map_err(CliError::usage)?;
            let errors: Vec<_> = checked
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .collect();
            if !errors.is_empty() {
                for d in &errors {
                    eprint!("{}", d.render(&sources));
                }
                return Err(CliError::failed(Message(format!(
                    "{} is not a valid TOSCA template; fix the problems above",
                    file.display()
                ))));
            }
            let tree = if inline {
                let needed = tosca::lower::implementations(&checked, &[]);
                let (texts, _, failed) =
                    crate::ops::tosca_artifacts::resolve(&needed, &sources, &opts, &[]);
                if !failed.is_empty() {
                    for d in &failed {
                        eprint!("{}", d.render(&sources));
                    }
                    return Err(CliError::failed(Message(format!(
                        "the implementations of {} cannot all be had; fix the problems above",
                        file.display()
                    ))));
                }
                tosca::lower::to_radl_resolved(&checked, &[], &texts)
            } else {
                tosca::lower::to_radl(&checked)
            };
            out!("{}", printer::print(&tree));
            Ok(())
        }
    }
}
