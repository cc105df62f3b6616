use super::error::{Cause, CliError, CliResult};
use super::output::{out, outln};
use crate::ops::validate::{FileOutcome, ValidateOptions, validate};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Files to check: RADL, or TOSCA when named `.yaml`/`.yml` (`-` reads
    /// RADL from standard input).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// A directory holding local copies of TOSCA URL imports (repeatable).
    #[arg(long = "import-dir", value_name = "DIR")]
    import_dirs: Vec<PathBuf>,
    /// Never download a TOSCA URL import that has no local copy (also
    /// NUBO_OFFLINE=1); by default it is downloaded into the cache
    /// (~/.cache/nubo/tosca).
    #[arg(long)]
    offline: bool,
    /// Compose the files (templates, by path or name) in order, as `nubo
    /// launch` does, and check the composed description as a whole.
    /// Without it, a template whose description has kind `component` or
    /// `images` is checked only for what composition cannot fix.
    #[arg(long)]
    compose: bool,
}

pub fn run(args: Args) -> CliResult {
    let report = validate(&ValidateOptions {
        files: args.files,
        import_dirs: args.import_dirs,
        offline: args.offline,
        compose: args.compose,
    });
    for outcome in &report.files {
        match outcome {
            FileOutcome::Checked { path, diagnostics } => {
                if diagnostics.is_empty() {
                    outln!("{}: ok", path.display());
                }
                for d in diagnostics {
                    out!("{}", d.render(&report.sources));
                }
            }
            FileOutcome::Unreadable(e) => eprintln!("nubo: {e}"),
            FileOutcome::Template(e) => eprintln!("nubo: {e}"),
        }
    }
    if report.any_unreadable() {
        Err(CliError::reported(Cause::Usage))
    } else if report.any_invalid() {
        Err(CliError::reported(Cause::Failed))
    } else {
        Ok(())
    }
}
