//! Reading a RADL file from disk into a source map, parsed and checked.

use crate::radl::{self, Validated};
pub use crate::source::ReadError;
use crate::source::{FileId, SourceMap, read_text};
use std::path::Path;

/// Reads `path` (`-` is standard input) into `sources` and validates it.
pub fn load(sources: &mut SourceMap, path: &Path) -> Result<(FileId, Validated), ReadError> {
    let text = read_text(path)?;
    let file = sources.add(path.display().to_string(), text);
    Ok((file, radl::validate(file, sources.text(file))))
}
