//! The RADL lexer, written with nom over `&str`.
//!
//! It never stops at a bad character: it reports it and goes on, so one run
//! collects every lexical problem. Comments (`#` to end of line) and white
//! space are skipped everywhere outside strings and recipe bodies.

use super::token::{Token, TokenKind};
use crate::diagnostic::Diagnostic;
use crate::source::{FileId, Span};
use nom::{
    IResult,
    branch::alt,
    bytes::complete::{tag, take_while},
    character::complete::{char, digit0, digit1, satisfy},
    combinator::{opt, recognize},
    sequence::{pair, tuple},
};

/// Splits `text` into tokens (ending with [`TokenKind::Eof`]) and lexical diagnostics.
pub fn lex(file: FileId, text: &str) -> (Vec<Token<'_>>, Vec<Diagnostic>) {
    // About one token per 8 bytes of RADL; recipe bodies are one token.
    let mut tokens = Vec::with_capacity(text.len() / 8 + 8);
    let mut diags = Vec::new();
    let mut rest = text;
    let pos = |rest: &str| text.len() - rest.len();
    loop {
        rest = skip_trivia(rest);
        let start = pos(rest);
        if rest.is_empty() {
            tokens.push(Token {
                kind: TokenKind::Eof,
                span: Span::new(file, start, start),
                raw: "",
            });
            return (tokens, diags);
        }
        match token(rest) {
            Ok((after, (kind, raw))) => {
                let end = pos(after);
                if kind == TokenKind::Recipe && !after.starts_with("@end") {
                    diags.push(
                        Diagnostic::error(
                            Span::new(file, start, start + "@begin".len()),
                            "unterminated recipe: `@begin` has no matching `@end`",
                        )
                        .with_note("help: put `@end` at the start of a line after the recipe"),
                    );
                }
                let end = if kind == TokenKind::Recipe && after.starts_with("@end") {
                    end + "@end".len()
                } else {
                    end
                };
                tokens.push(Token {
                    kind,
                    span: Span::new(file, start, end),
                    raw,
                });
                rest = &text[end..];
            }
            Err(_) => {
                let c = rest.chars().next().unwrap_or(' ');
                let (msg, skip) = match c {
                    '\'' | '"' => (format!("unterminated string: no closing {c}"), rest.len()),
                    _ => (format!("unexpected character `{c}`"), c.len_utf8()),
                };
                diags.push(Diagnostic::error(
                    Span::new(file, start, start + c.len_utf8()),
                    msg,
                ));
                rest = &rest[skip..];
            }
        }
    }
}

fn skip_trivia(mut s: &str) -> &str {
    loop {
        // ASCII white space byte by byte; other white space as Unicode says.
        let ascii = s
            .bytes()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(s.len());
        let t = s[ascii..].trim_start();
        if let Some(c) = t.strip_prefix('#') {
            s = c.find('\n').map_or("", |i| &c[i..]);
        } else {
            return t;
        }
    }
}

fn token(i: &str) -> IResult<&str, (TokenKind, &str)> {
    // Dispatch on the first byte rather than trying each rule in turn.
    match i.as_bytes().first() {
        Some(b'@') => recipe(i),
        Some(b'\'') => alt((random, string))(i),
        Some(b'"') => string(i),
        Some(b'0'..=b'9') => number(i),
        Some(b'(' | b')' | b'[' | b']' | b',' | b'=' | b'<' | b'>') => punct(i),
        _ => ident(i),
    }
}

fn punct(i: &str) -> IResult<&str, (TokenKind, &str)> {
    use TokenKind::*;
    let (rest, raw) = alt((
        tag("<="),
        tag(">="),
        tag("="),
        tag("<"),
        tag(">"),
        tag("("),
        tag(")"),
        tag("["),
        tag("]"),
        tag(","),
    ))(i)?;
    let kind = match raw {
        "<=" => Le,
        ">=" => Ge,
        "=" => Eq,
        "<" => Lt,
        ">" => Gt,
        "(" => LParen,
        ")" => RParen,
        "[" => LBracket,
        "]" => RBracket,
        _ => Comma,
    };
    Ok((rest, (kind, raw)))
}

pub(crate) fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '.'
}

pub(crate) fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.' || c == '-'
}

fn ident(i: &str) -> IResult<&str, (TokenKind, &str)> {
    // ASCII names byte by byte; a name with other letters goes to nom.
    let b = i.as_bytes();
    if b.first()
        .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_' || c == b'.')
    {
        let end = b
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')))
            .unwrap_or(b.len());
        if b.get(end).is_none_or(u8::is_ascii) {
            return Ok((&i[end..], (TokenKind::Ident, &i[..end])));
        }
    }
    let (rest, raw) = recognize(pair(satisfy(is_ident_start), take_while(is_ident_continue)))(i)?;
    Ok((rest, (TokenKind::Ident, raw)))
}

fn number(i: &str) -> IResult<&str, (TokenKind, &str)> {
    let (rest, raw) = recognize(pair(digit1, opt(pair(char('.'), digit0))))(i)?;
    Ok((rest, (TokenKind::Number, raw)))
}

/// `'random(N)'`, as IM spells its generated-value marker.
fn random(i: &str) -> IResult<&str, (TokenKind, &str)> {
    let (rest, raw) = recognize(tuple((tag("'random("), digit1, tag(")'"))))(i)?;
    Ok((rest, (TokenKind::Random, &raw[8..raw.len() - 2])))
}

/// A quoted string; `raw` is the whole literal, quotes and escapes intact.
/// A backslash always takes the next character with it, so `\'` never ends
/// a single-quoted string (IM's rule).
fn string(i: &str) -> IResult<&str, (TokenKind, &str)> {
    let quote = match i.chars().next() {
        Some(q @ ('\'' | '"')) => q,
        _ => return fail(i),
    };
    let body = &i[1..];
    // By bytes: a quote or backslash byte is always that character in UTF-8.
    let (quote, bytes) = (quote as u8, body.as_bytes());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            c if c == quote => {
                return Ok((&body[at + 1..], (TokenKind::String, &i[..at + 2])));
            }
            _ => at += 1,
        }
    }
    fail(i)
}

/// `@begin` ... `@end`: the body runs from just after `@begin` to the first
/// `@end` that stands at the start of a line (or right after `@begin`).
/// On success the returned rest starts with `@end` (or is empty when the
/// block is unterminated; the caller reports that).
fn recipe(i: &str) -> IResult<&str, (TokenKind, &str)> {
    let (body, _) = tag("@begin")(i)?;
    let mut at = 0;
    loop {
        if body[at..].starts_with("@end") {
            return Ok((&body[at..], (TokenKind::Recipe, &body[..at])));
        }
        match body[at..].find('\n') {
            Some(nl) => at += nl + 1,
            None => return Ok(("", (TokenKind::Recipe, body))),
        }
    }
}

fn fail<T>(i: &str) -> IResult<&str, T> {
    Err(nom::Err::Error(nom::error::Error::new(
        i,
        nom::error::ErrorKind::Char,
    )))
}

/// Decodes the raw text of a string token.
///
/// Single-quoted strings follow IM: only `\'` is unescaped, every other
/// backslash stays as written (recipes and Windows paths keep theirs).
/// Double-quoted strings take `\\ \" \' \n \t \r`; an unknown escape is
/// returned as an error with its byte offset in `raw`.
pub fn unescape(raw: &str, double_quoted: bool) -> Result<String, (usize, char)> {
    if !raw.contains('\\') {
        return Ok(raw.to_string());
    }
    if !double_quoted {
        return Ok(raw.replace("\\'", "'"));
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.char_indices();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '\\')) => out.push('\\'),
            Some((_, '"')) => out.push('"'),
            Some((_, '\'')) => out.push('\''),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((at, other)) => return Err((at, other)),
            None => out.push('\\'),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(TokenKind, &str)> {
        let (toks, diags) = lex(FileId(0), s);
        assert!(diags.is_empty(), "{diags:?}");
        toks.into_iter().map(|t| (t.kind, t.raw)).collect()
    }

    #[test]
    fn numbers_units_and_comparators() {
        use TokenKind::*;
        assert_eq!(
            kinds("memory.size>=512m # c\n"),
            vec![
                (Ident, "memory.size"),
                (Ge, ">="),
                (Number, "512"),
                (Ident, "m"),
                (Eof, "")
            ]
        );
        assert_eq!(kinds("1.5GB")[..2], [(Number, "1.5"), (Ident, "GB")]);
    }

    #[test]
    fn strings_keep_escapes_and_hashes() {
        assert_eq!(kinds(r"'a\'b # c'")[0], (TokenKind::String, r"'a\'b # c'"));
        assert_eq!(unescape(r"a\'b\n", false).unwrap(), "a'b\\n");
        assert_eq!(unescape(r#"a\"b\n"#, true).unwrap(), "a\"b\n");
        assert_eq!(unescape(r"a\q", true), Err((2, 'q')));
    }

    #[test]
    fn recipe_ends_at_line_start_end() {
        let t = kinds("configure x (\n@begin\n  - x: 1 @end\n  @end\n@end\n)");
        assert_eq!(t[3], (TokenKind::Recipe, "\n  - x: 1 @end\n  @end\n"));
        assert_eq!(t[4].0, TokenKind::RParen);
    }

    #[test]
    fn random_value() {
        assert_eq!(kinds("'random(12)'")[0], (TokenKind::Random, "12"));
    }

    #[test]
    fn bad_characters_are_reported_and_skipped() {
        let (toks, diags) = lex(FileId(0), "a ; b 'open");
        assert_eq!(diags.len(), 2);
        assert!(diags[0].message.contains("`;`"));
        assert!(diags[1].message.contains("unterminated string"));
        assert_eq!(toks.len(), 3);
    }
}
