//! Library operations behind the CLI commands. Each takes an options struct
//! and returns a result the CLI renders; none prints.

pub mod graph;
pub mod radl_file;
pub mod validate;
