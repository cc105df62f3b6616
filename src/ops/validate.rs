//! `nubo validate`: check files and report every problem.

use super::radl_file::{self, ReadError};
use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use crate::tosca;
use std::path::PathBuf;

pub struct ValidateOptions {
    pub files: Vec<PathBuf>,
    /// Where TOSCA URL imports are found (`--import-dir`), besides the cache.
    pub import_dirs: Vec<PathBuf>,
    /// Never download a URL import.
    pub offline: bool,
}

pub enum FileOutcome {
    Checked {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    /// The file could not be read at all.
    Unreadable(ReadError),
}

pub struct ValidateReport {
    pub sources: SourceMap,
    pub files: Vec<FileOutcome>,
}

impl ValidateReport {
    pub fn any_invalid(&self) -> bool {
        self.files.iter().any(|f| match f {
            FileOutcome::Checked { diagnostics, .. } => {
                diagnostics.iter().any(Diagnostic::is_error)
            }
            FileOutcome::Unreadable(_) => false,
        })
    }

    pub fn any_unreadable(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f, FileOutcome::Unreadable(_)))
    }
}

/// Checks each file: `.yaml`/`.yml` as TOSCA, anything else as RADL.
pub fn validate(opts: &ValidateOptions) -> ValidateReport {
    let mut sources = SourceMap::new();
    let imports = super::fetch::import_options(opts.import_dirs.clone(), opts.offline);
    let files = opts
        .files
        .iter()
        .map(|path| {
            let checked = if tosca::is_tosca_path(path) {
                tosca::load(&mut sources, path, &imports).map(|c| c.diagnostics)
            } else {
                radl_file::load(&mut sources, path).map(|(_, c)| c.diagnostics())
            };
            match checked {
                Ok(diagnostics) => FileOutcome::Checked {
                    path: path.clone(),
                    diagnostics,
                },
                Err(e) => FileOutcome::Unreadable(e),
            }
        })
        .collect();
    ValidateReport { sources, files }
}
