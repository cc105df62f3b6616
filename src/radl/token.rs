//! RADL tokens. Keywords are not a token kind: RADL's keywords are
//! contextual (`system` starts a sentence at top level but is also a word
//! inside `contextualize`), so the parser recognises them by text.

use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A word: `[A-Za-z_.][A-Za-z0-9_.-]*` (also non-ASCII letters).
    Ident,
    /// Digits with an optional fraction: `512`, `1.5`, `2.`.
    Number,
    /// `'...'` (IM's quoting: only `\'` is an escape) or `"..."` (full escapes).
    String,
    /// `'random(N)'`: IM's generated-string value.
    Random,
    /// The text between `@begin` and `@end`, kept verbatim.
    Recipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    /// End of input; always the last token.
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub span: Span,
    /// The token's text. For strings, the literal with its quotes (still
    /// escaped); for `Random`, the digits; for recipes, the body between
    /// `@begin` and `@end`.
    pub raw: &'a str,
}

impl TokenKind {
    /// How the token is named in "expected ..., found ..." messages.
    pub fn describe(self) -> &'static str {
        match self {
            TokenKind::Ident => "a name",
            TokenKind::Number => "a number",
            TokenKind::String => "a string",
            TokenKind::Random => "a 'random(N)' value",
            TokenKind::Recipe => "an @begin ... @end block",
            TokenKind::LParen => "`(`",
            TokenKind::RParen => "`)`",
            TokenKind::LBracket => "`[`",
            TokenKind::RBracket => "`]`",
            TokenKind::Comma => "`,`",
            TokenKind::Eq => "`=`",
            TokenKind::Lt => "`<`",
            TokenKind::Gt => "`>`",
            TokenKind::Le => "`<=`",
            TokenKind::Ge => "`>=`",
            TokenKind::Eof => "end of file",
        }
    }
}

impl Token<'_> {
    /// A short rendering of the token for error messages.
    pub fn describe(&self) -> String {
        match self.kind {
            TokenKind::Ident => format!("`{}`", self.raw),
            TokenKind::Number => format!("number `{}`", self.raw),
            TokenKind::String => {
                let s: String = self.raw.chars().take(30).collect();
                if s.len() < self.raw.len() {
                    format!("string {s}...")
                } else {
                    format!("string {s}")
                }
            }
            k => k.describe().to_string(),
        }
    }

    pub fn is_word(&self, word: &str) -> bool {
        self.kind == TokenKind::Ident && self.raw == word
    }
}
