//! `nubo validate`: check files and report every problem.

use super::radl_file::{self, ReadError};
use crate::diagnostic::Diagnostic;
use crate::source::SourceMap;
use std::path::PathBuf;

pub struct ValidateOptions {
    pub files: Vec<PathBuf>,
}

pub enum FileOutcome {
    Checked {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
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

pub fn validate(opts: &ValidateOptions) -> ValidateReport {
    let mut sources = SourceMap::new();
    let files = opts
        .files
        .iter()
        .map(|path| match radl_file::load(&mut sources, path) {
            Ok((_, checked)) => FileOutcome::Checked {
                path: path.clone(),
                diagnostics: checked.diagnostics(),
            },
            Err(e) => FileOutcome::Unreadable(e),
        })
        .collect();
    ValidateReport { sources, files }
}
