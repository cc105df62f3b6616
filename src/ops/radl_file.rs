//! Reading a RADL file from disk into a source map, parsed and checked.

use crate::radl::{self, Validated};
use crate::source::{FileId, SourceMap};
use std::path::Path;

/// Why a file could not be processed at all (as opposed to being invalid).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Reads `path` (`-` is standard input) into `sources` and validates it.
pub fn load(sources: &mut SourceMap, path: &Path) -> Result<(FileId, Validated), ReadError> {
    let text = if path == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|source| ReadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let file = sources.add(path.display().to_string(), text);
    Ok((file, radl::validate(file, sources.text(file))))
}
