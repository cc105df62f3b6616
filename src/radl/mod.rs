//! The RADL front end: lexer → parser → tree, then the IM document view
//! (merged features), its checks and its JSON form.
//!
//! Invariant: this module knows nothing of providers, SSH or tokio, and
//! does no I/O; it works on text handed to it.

pub mod ast;
pub mod check;
pub mod document;
pub mod features;
pub mod json;
pub mod lexer;
pub mod outports;
pub mod parser;
pub mod printer;
pub mod recipe_yaml;
pub mod token;
pub mod units;

use crate::diagnostic::Diagnostic;
use crate::source::FileId;

/// Lexes and parses one RADL text. The tree holds every sentence that
/// parsed; the diagnostics say what did not.
pub fn parse(file: FileId, text: &str) -> (ast::Radl, Vec<Diagnostic>) {
    let (tokens, mut diags) = lexer::lex(file, text);
    // An unterminated string or recipe runs to the end of the file; parse
    // errors after its start, or at the end of the file, are follow-ons.
    let swallowed_from = diags
        .iter()
        .filter(|d| d.message.starts_with("unterminated"))
        .map(|d| d.span.start)
        .min();
    let (radl, parse_diags) = parser::parse_tokens(text, &tokens, swallowed_from.is_some());
    diags.extend(
        parse_diags
            .into_iter()
            .filter(|d| swallowed_from.is_none_or(|from| d.span.start < from)),
    );
    (radl, diags)
}

/// One RADL text, parsed, lowered to its document and checked.
pub struct Validated {
    pub tree: ast::Radl,
    pub document: document::Document,
    /// Lexing and parsing problems: the tree misses what they cover.
    pub syntax: Vec<Diagnostic>,
    /// Problems in a tree that parsed: conflicts and failed checks.
    pub semantic: Vec<Diagnostic>,
}

impl Validated {
    /// Every diagnostic, sorted by position.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        let mut all: Vec<_> = self.syntax.iter().chain(&self.semantic).cloned().collect();
        crate::diagnostic::sort(&mut all);
        all
    }
}

/// Parses, builds the document, applies EC3's inheritance and runs the
/// checks its scope asks for: a template meant for composition (EC3's
/// `component` and `images` kinds) gets only what composition cannot fix
/// ([`check::Scope`]).
pub fn validate(file: FileId, text: &str) -> Validated {
    let (tree, syntax) = parse(file, text);
    let (mut document, mut semantic) = document::Document::build(&tree);
    let scope = check::Scope::of(&document);
    semantic.extend(document.apply_inheritance(scope == check::Scope::Whole));
    semantic.extend(check::check_as(&document, scope));
    Validated {
        tree,
        document,
        syntax,
        semantic,
    }
}
