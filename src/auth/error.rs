//! [`AuthError`]: what is wrong in an auth file, and where.
//!
//! Messages name `file:line:column` and what was expected there. They never
//! quote a value: a value may be a password.

use std::fmt;
use std::io;

/// A place in an auth file: its path as given, a 1-based line, and a 1-based
/// column counted in characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path, self.line, self.column)
    }
}

/// One problem in an auth file. [`crate::auth::parse`] collects every one.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot read auth file {path}: {source}")]
    Read { path: String, source: io::Error },

    #[error("{at}: expected `key = value`, found no `=`")]
    MissingEquals { at: Location },

    #[error("{at}: expected a key before `=`")]
    MissingKey { at: Location },

    #[error("{at}: invalid key: a key takes letters, digits, `_`, `-` and `.`")]
    InvalidKey { at: Location },

    #[error(
        "{at}: unterminated {quote} quote: expected a closing {quote} before the end of the line"
    )]
    UnterminatedQuote { at: Location, quote: char },

    #[error("{at}: `{key}` has no value (write `{key} = VALUE`, or `{key} = ''` for an empty one)")]
    EmptyValue { at: Location, key: String },

    #[error("{at}: `{key}` is given twice in this credential (first at column {first_column})")]
    DuplicateKey {
        at: Location,
        key: String,
        first_column: usize,
    },

    #[error("{at}: this credential has no `type` (expected e.g. `type = OpenNebula`)")]
    MissingType { at: Location },

    #[error("{at}: unknown type `{kind}`; {hint}")]
    UnknownType {
        at: Location,
        kind: String,
        hint: String,
    },

    #[error("{at}: duplicate id `{id}` (first used on line {first_line})")]
    DuplicateId {
        at: Location,
        id: String,
        first_line: usize,
    },

    #[error("{at}: `file()` needs a path, as in `{key} = file(secret.txt)`")]
    EmptyFilePath { at: Location, key: String },

    #[error("{at}: cannot read `file({file})` for `{key}`: {source}")]
    FileValue {
        at: Location,
        key: String,
        file: String,
        source: io::Error,
    },

    #[error("{at}: {message}")]
    Json { at: Location, message: String },
}

impl AuthError {
    /// Where the problem is; `None` for an auth file that cannot be read.
    pub fn location(&self) -> Option<&Location> {
        match self {
            AuthError::Read { .. } => None,
            AuthError::MissingEquals { at }
            | AuthError::MissingKey { at }
            | AuthError::InvalidKey { at }
            | AuthError::UnterminatedQuote { at, .. }
            | AuthError::EmptyValue { at, .. }
            | AuthError::DuplicateKey { at, .. }
            | AuthError::MissingType { at }
            | AuthError::UnknownType { at, .. }
            | AuthError::DuplicateId { at, .. }
            | AuthError::EmptyFilePath { at, .. }
            | AuthError::FileValue { at, .. }
            | AuthError::Json { at, .. } => Some(at),
        }
    }
}
