//! `nubo validate`: check files and report every problem; with
//! `--compose`, the description the templates compose into, as `launch`
//! composes them.

use super::radl_file::{self, ReadError};
use super::templates::{self, TemplateError, TemplateSearch};
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
    /// Compose the files (templates: paths or names) in order and check
    /// the composed description instead of each file.
    pub compose: bool,
}

pub enum FileOutcome {
    Checked {
        path: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    /// The file could not be read at all.
    Unreadable(ReadError),
    /// A template to compose could not be found or read.
    Template(TemplateError),
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
            FileOutcome::Unreadable(_) | FileOutcome::Template(_) => false,
        })
    }

    pub fn any_unreadable(&self) -> bool {
        self.files
            .iter()
            .any(|f| matches!(f, FileOutcome::Unreadable(_) | FileOutcome::Template(_)))
    }
}

/// Checks each file: `.yaml`/`.yml` as TOSCA, anything else as RADL.
pub fn validate(opts: &ValidateOptions) -> ValidateReport {
    let mut sources = SourceMap::new();
    let imports = super::fetch::import_options(opts.import_dirs.clone(), opts.offline);
    if opts.compose {
        return composed(opts, imports);
    }
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

/// `--compose`: the templates composed in order (includes pulled in, EC3's
/// inheritance applied), checked as one whole description.
fn composed(opts: &ValidateOptions, imports: tosca::ImportOptions) -> ValidateReport {
    let search = TemplateSearch {
        imports,
        ..TemplateSearch::default()
    };
    let names: Vec<String> = opts.files.iter().map(|p| p.display().to_string()).collect();
    match templates::compose(&search, &names, None) {
        Ok(c) => {
            let mut diagnostics = c.diagnostics;
            crate::diagnostic::sort(&mut diagnostics);
            ValidateReport {
                sources: c.sources,
                files: vec![FileOutcome::Checked {
                    path: PathBuf::from(names.join(" + ")),
                    diagnostics,
                }],
            }
        }
        Err(e) => ValidateReport {
            sources: SourceMap::new(),
            files: vec![FileOutcome::Template(e)],
        },
    }
}
