//! The RADL front end: lexer → parser → tree, then the IM document view
//! (merged features), its checks and its JSON form.
//!
//! Invariant: this module knows nothing of providers, SSH or tokio, and
//! does no I/O; it works on text handed to it.

pub mod ast;
pub mod lexer;
pub mod parser;
pub mod printer;
pub mod token;

use crate::diagnostic::Diagnostic;
use crate::source::FileId;

/// Lexes and parses one RADL text. The tree holds every sentence that
/// parsed; the diagnostics say what did not.
pub fn parse(file: FileId, text: &str) -> (ast::Radl, Vec<Diagnostic>) {
    let (tokens, mut diags) = lexer::lex(file, text);
    let (radl, parse_diags) = parser::parse_tokens(text, &tokens);
    diags.extend(parse_diags);
    (radl, diags)
}
