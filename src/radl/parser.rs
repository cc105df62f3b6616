//! The RADL parser: nom combinators over the token slice from [`super::lexer`].
//!
//! A failure inside a sentence is reported once ("expected X, found Y" at
//! the furthest token reached) and the parser resumes at the next sentence
//! keyword, so one run reports every syntax error in the file.

use super::ast::*;
use super::lexer::unescape;
use super::token::{Token, TokenKind};
use crate::diagnostic::Diagnostic;
use crate::source::Span;
use nom::{IResult, error::ErrorKind};

type Toks<'t> = &'t [Token<'t>];
type PResult<'t, O> = IResult<Toks<'t>, O, PErr>;

/// Words that start a top-level sentence.
pub const SENTENCE_KEYWORDS: &[&str] = &[
    "network",
    "system",
    "ansible",
    "description",
    "include",
    "configure",
    "contextualize",
    "deploy",
];

/// Words with a meaning somewhere in RADL; never read as a unit.
pub const KEYWORDS: &[&str] = &["and", "contains", "soft", "option", "step", "with"];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word) || SENTENCE_KEYWORDS.contains(&word)
}

/// A parse failure: how many tokens were left when it happened (the
/// furthest failure wins), what would have been accepted there, and
/// optionally a complete message replacing "expected ...".
#[derive(Debug, Clone)]
pub struct PErr {
    remaining: usize,
    expected: Expected,
    message: Option<(String, Option<Span>)>,
}

/// What would have been accepted where a parse failed, in order. One
/// name is kept without allocating (a parse tries and drops many
/// alternatives); more only when failures at one place merge.
#[derive(Debug, Clone, Default)]
struct Expected {
    first: Option<&'static str>,
    more: Vec<&'static str>,
}

impl Expected {
    fn one(what: &'static str) -> Expected {
        Expected {
            first: Some(what),
            more: Vec::new(),
        }
    }

    fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.first.into_iter().chain(self.more.iter().copied())
    }

    /// Adds `what` unless it is there already.
    fn add(&mut self, what: &'static str) {
        if self.iter().any(|e| e == what) {
            return;
        }
        if self.first.is_none() {
            self.first = Some(what);
        } else {
            self.more.push(what);
        }
    }
}

impl PErr {
    fn expected(input: Toks, what: &'static str) -> PErr {
        PErr {
            remaining: input.len(),
            expected: Expected::one(what),
            message: None,
        }
    }

    fn custom(input: Toks, message: String, span: Span) -> PErr {
        PErr {
            remaining: input.len(),
            expected: Expected::default(),
            message: Some((message, Some(span))),
        }
    }
}

impl<'t> nom::error::ParseError<Toks<'t>> for PErr {
    fn from_error_kind(input: Toks<'t>, _kind: ErrorKind) -> PErr {
        PErr::expected(input, "something else")
    }

    fn append(_input: Toks<'t>, _kind: ErrorKind, other: PErr) -> PErr {
        other
    }

    fn or(self, other: PErr) -> PErr {
        // Fewer remaining tokens means the failure happened further on.
        match self.remaining.cmp(&other.remaining) {
            std::cmp::Ordering::Less => self,
            std::cmp::Ordering::Greater => other,
            std::cmp::Ordering::Equal => {
                let mut merged = other;
                for e in self.expected.iter() {
                    merged.expected.add(e);
                }
                merged.message = merged.message.or(self.message);
                merged
            }
        }
    }
}

fn err<'t, O>(input: Toks<'t>, what: &'static str) -> PResult<'t, O> {
    Err(nom::Err::Error(PErr::expected(input, what)))
}

/// Turns a recoverable error into a fatal one (nom's `cut`), for use once a
/// sentence keyword has committed us to a rule.
fn fatal<O>(r: Result<O, nom::Err<PErr>>) -> Result<O, nom::Err<PErr>> {
    r.map_err(|e| match e {
        nom::Err::Error(e) => nom::Err::Failure(e),
        other => other,
    })
}

fn tok<'t>(kind: TokenKind) -> impl Fn(Toks<'t>) -> PResult<'t, &'t Token<'t>> {
    move |i: Toks<'t>| match i.first() {
        Some(t) if t.kind == kind => Ok((&i[1..], t)),
        _ => err(i, kind.describe()),
    }
}

fn word<'t>(w: &'static str) -> impl Fn(Toks<'t>) -> PResult<'t, &'t Token<'t>> {
    move |i: Toks<'t>| match i.first() {
        Some(t) if t.is_word(w) => Ok((&i[1..], t)),
        _ => err(i, backticked(w)),
    }
}

/// `word` as shown in "expected ..." messages.
fn backticked(w: &'static str) -> &'static str {
    match w {
        "and" => "`and`",
        "contains" => "`contains`",
        "soft" => "`soft`",
        "option" => "`option`",
        "step" => "`step`",
        "with" => "`with`",
        "system" => "`system`",
        "configure" => "`configure`",
        "network" => "`network`",
        "ansible" => "`ansible`",
        "description" => "`description`",
        "include" => "`include`",
        "contextualize" => "`contextualize`",
        "deploy" => "`deploy`",
        other => other,
    }
}

fn ident<'t>(what: &'static str) -> impl Fn(Toks<'t>) -> PResult<'t, Ident> {
    move |i: Toks<'t>| match i.first() {
        Some(t) if t.kind == TokenKind::Ident => Ok((
            &i[1..],
            Ident {
                text: t.raw.to_string(),
                span: t.span,
            },
        )),
        _ => err(i, what),
    }
}

fn peek_kind(i: Toks) -> TokenKind {
    i.first().map_or(TokenKind::Eof, |t| t.kind)
}

fn number<'t>(i: Toks<'t>) -> PResult<'t, (Number, Span)> {
    let (rest, t) = tok(TokenKind::Number)(i)?;
    let n = if t.raw.contains('.') {
        t.raw
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Number::Float)
    } else {
        t.raw.parse::<i64>().ok().map(Number::Int)
    };
    match n {
        Some(n) => Ok((rest, (n, t.span))),
        None => Err(nom::Err::Failure(PErr::custom(
            i,
            format!("number `{}` is too large", t.raw),
            t.span,
        ))),
    }
}

fn string<'t>(i: Toks<'t>) -> PResult<'t, (String, Span)> {
    let (rest, t) = tok(TokenKind::String)(i)?;
    let double = t.raw.starts_with('"');
    let inner = &t.raw[1..t.raw.len() - 1];
    match unescape(inner, double) {
        Ok(s) => Ok((rest, (s, t.span))),
        Err((at, c)) => {
            // `at` is the offset of the escaped character; the backslash is one before.
            let start = t.span.start as usize + at;
            Err(nom::Err::Failure(PErr::custom(
                i,
                format!(
                    "unknown escape `\\{c}` in a double-quoted string (known: \\\\ \\\" \\' \\n \\t \\r)"
                ),
                Span::new(t.span.file, start, start + 1 + c.len_utf8()),
            )))
        }
    }
}

/// Parses a whole token list (from lexing `text`). Returns the tree of
/// every sentence that parsed and one diagnostic per sentence that did not.
///
/// `eof_is_followon`: the lexer already reported an unterminated string or
/// recipe that ran to the end of the file, so "found end of file" errors are
/// not reported again.
pub fn parse_tokens(
    text: &str,
    tokens: &[Token],
    eof_is_followon: bool,
) -> (Radl, Vec<Diagnostic>) {
    let mut radl = Radl::default();
    let mut diags = Vec::new();
    let mut i: Toks = tokens;
    while peek_kind(i) != TokenKind::Eof {
        match sentence(i) {
            Ok((rest, s)) => {
                radl.sentences.push(s);
                i = rest;
            }
            Err(nom::Err::Error(e)) | Err(nom::Err::Failure(e)) => {
                let at_eof = e.remaining <= 1;
                if !(eof_is_followon && at_eof) {
                    diags.push(to_diagnostic(text, tokens, &e));
                }
                if let Some(placeholder) = declared_name(i) {
                    radl.sentences.push(placeholder);
                }
                let start = tokens.len() - i.len();
                let failed = tokens.len() - e.remaining;
                i = &tokens[recover(text, tokens, start, failed)..];
            }
            Err(nom::Err::Incomplete(_)) => unreachable!("complete parsers only"),
        }
    }
    (radl, diags)
}

/// A sentence that failed to parse still declares its name: it is kept
/// as a reference, so later checks do not also report it as missing.
fn declared_name(i: Toks) -> Option<Sentence> {
    let (kw, name) = (i.first()?, i.get(1)?);
    if name.kind != TokenKind::Ident || kw.kind != TokenKind::Ident {
        return None;
    }
    let name = Ident {
        text: name.raw.to_string(),
        span: name.span,
    };
    let keyword = if SENTENCE_KEYWORDS.contains(&kw.raw) {
        kw.raw
    } else {
        suggest_keyword(kw.raw)?
    };
    if keyword == "configure" {
        return Some(Sentence::Configure(Configure {
            keyword: kw.span,
            name,
            body: ConfigureBody::Reference,
        }));
    }
    AspectKind::from_keyword(keyword).map(|kind| {
        Sentence::Aspect(Aspect {
            kind,
            keyword: kw.span,
            name,
            body: None,
        })
    })
}

fn to_diagnostic(text: &str, tokens: &[Token], e: &PErr) -> Diagnostic {
    let n = (tokens.len() - e.remaining).min(tokens.len() - 1);
    let at = &tokens[n];
    if let Some((msg, span)) = &e.message {
        return Diagnostic::error(span.unwrap_or(at.span), msg.clone());
    }
    let expected: Vec<&str> = e.expected.iter().collect();
    let expected = match expected.as_slice() {
        [] => "something else".to_string(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {}", init.join(", "), last),
    };
    // When what was found is on a later line (or is the end of the file),
    // the mistake is at the end of the previous token: point there.
    let prev = n.checked_sub(1).map(|p| &tokens[p]);
    let mut d = match prev {
        Some(p)
            if at.kind == TokenKind::Eof
                || text[p.span.end as usize..at.span.start as usize].contains('\n') =>
        {
            let end = p.span.end as usize;
            Diagnostic::error(
                Span::new(p.span.file, end, end),
                format!("expected {expected} after {}", p.describe()),
            )
            .with_note(format!(
                "found {} instead",
                if at.kind == TokenKind::Eof {
                    "the end of the file".to_string()
                } else {
                    at.describe() + " on a later line"
                }
            ))
        }
        _ => Diagnostic::error(
            at.span,
            format!("expected {expected}, found {}", at.describe()),
        ),
    };
    // A string that runs over several lines just before the error is most
    // likely missing its closing quote.
    if let Some(s) = tokens[n.saturating_sub(3)..=n]
        .iter()
        .rev()
        .find(|t| t.kind == TokenKind::String && t.raw.contains('\n'))
    {
        d = d.with_related(
            s.span,
            "is a closing quote missing? this string runs over several lines; it starts",
        );
    }
    d
}

/// Sentence keyword closest to a misspelt word (`sytem` → `system`).
fn suggest_keyword(word: &str) -> Option<&'static str> {
    SENTENCE_KEYWORDS
        .iter()
        .copied()
        .find(|k| edit_distance(word, k) <= 2 && word.len() >= 3)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Where to resume after a sentence that started at token `start` failed at
/// token `failed`: the next sentence keyword outside parentheses, or one
/// that begins a line and is followed by `NAME (` (so a sentence whose `)`
/// is missing does not swallow the rest of the file).
fn recover(text: &str, tokens: &[Token], start: usize, failed: usize) -> usize {
    let mut depth = 0i32;
    for (n, t) in tokens.iter().enumerate().skip(start) {
        if n > start
            && n >= failed
            && t.kind == TokenKind::Ident
            && SENTENCE_KEYWORDS.contains(&t.raw)
        {
            let gap = &text[tokens[n - 1].span.end as usize..t.span.start as usize];
            let opens = tokens
                .get(n + 1)
                .is_some_and(|t| t.kind == TokenKind::Ident)
                && tokens
                    .get(n + 2)
                    .is_some_and(|t| t.kind == TokenKind::LParen);
            if depth <= 0 || (gap.contains('\n') && opens) {
                return n;
            }
        }
        match t.kind {
            TokenKind::LParen => depth += 1,
            TokenKind::RParen => depth -= 1,
            TokenKind::Eof => return n,
            _ => {}
        }
    }
    tokens.len() - 1
}

fn sentence<'t>(i: Toks<'t>) -> PResult<'t, Sentence> {
    let Some(first) = i.first() else {
        return err(i, "a sentence");
    };
    if first.kind == TokenKind::Ident {
        if let Some(kind) = AspectKind::from_keyword(first.raw) {
            return aspect(kind, i);
        }
        match first.raw {
            "configure" => return configure(i),
            "contextualize" => return contextualize(i),
            "deploy" => return deploy(i),
            _ => {}
        }
    }
    let next_is_comparator = i.get(1).is_some_and(|t| {
        matches!(
            t.kind,
            TokenKind::Eq | TokenKind::Lt | TokenKind::Gt | TokenKind::Le | TokenKind::Ge
        ) || t.is_word("contains")
    });
    let message = if first.kind == TokenKind::Ident && next_is_comparator {
        format!(
            "found feature {} outside parentheses: is a `(` missing after the sentence before it?",
            first.describe()
        )
    } else if let Some(k) = (first.kind == TokenKind::Ident)
        .then(|| suggest_keyword(first.raw))
        .flatten()
    {
        format!("unknown sentence {}: did you mean `{k}`?", first.describe())
    } else {
        format!(
            "expected a sentence (network, system, configure, contextualize, deploy, ansible, description or include), found {}",
            first.describe()
        )
    };
    Err(nom::Err::Failure(PErr::custom(i, message, first.span)))
}

fn aspect<'t>(kind: AspectKind, i: Toks<'t>) -> PResult<'t, Sentence> {
    let (i, kw) = word(kind.keyword())(i)?;
    let (i, name) = fatal(ident("a name")(i))?;
    let (i, body) = if peek_kind(i) == TokenKind::LParen || kind == AspectKind::Ansible {
        let (i, list) = fatal(feature_list(i))?;
        (i, Some(list))
    } else {
        (i, None)
    };
    Ok((
        i,
        Sentence::Aspect(Aspect {
            kind,
            keyword: kw.span,
            name,
            body,
        }),
    ))
}

fn feature_list<'t>(i: Toks<'t>) -> PResult<'t, FeatureList> {
    let (mut i, open) = tok(TokenKind::LParen)(i)?;
    let mut items = Vec::new();
    if let Ok((rest, close)) = tok(TokenKind::RParen)(i) {
        return Ok((
            rest,
            FeatureList {
                items,
                span: open.span.to(close.span),
            },
        ));
    }
    loop {
        let (rest, item) = fatal(feature_item(i))?;
        items.push(item);
        i = rest;
        if let Ok((rest, _)) = word("and")(i) {
            i = rest;
            continue;
        }
        let (rest, close) = match tok(TokenKind::RParen)(i) {
            Ok(ok) => ok,
            Err(_) => {
                let missing_and = i.first().is_some_and(|t| t.kind == TokenKind::Ident)
                    && i.get(1).is_some_and(|t| {
                        matches!(
                            t.kind,
                            TokenKind::Eq
                                | TokenKind::Lt
                                | TokenKind::Gt
                                | TokenKind::Le
                                | TokenKind::Ge
                        ) || t.is_word("contains")
                    });
                let what = if missing_and {
                    "`and` or `)` (features are joined with `and`)"
                } else {
                    "`and` or `)`"
                };
                return Err(nom::Err::Failure(PErr::expected(i, what)));
            }
        };
        return Ok((
            rest,
            FeatureList {
                items,
                span: open.span.to(close.span),
            },
        ));
    }
}

fn feature_item<'t>(i: Toks<'t>) -> PResult<'t, FeatureItem> {
    // `soft` is a keyword only when a weight follows it.
    if let (Ok((rest, kw)), TokenKind::Number) = (word("soft")(i), peek_kind(&i[1..])) {
        let (rest, (weight, _)) = number(rest)?;
        let (rest, features) = fatal(feature_list(rest))?;
        return Ok((
            rest,
            FeatureItem::Soft(Soft {
                keyword: kw.span,
                weight,
                features,
            }),
        ));
    }
    let (i, f) = feature(i)?;
    Ok((i, FeatureItem::Feature(f)))
}

fn comparator<'t>(i: Toks<'t>) -> PResult<'t, (Op, Span)> {
    let t = match i.first() {
        Some(t) => t,
        None => return err(i, "a comparator"),
    };
    let op = match t.kind {
        TokenKind::Eq => Op::Eq,
        TokenKind::Lt => Op::Lt,
        TokenKind::Gt => Op::Gt,
        TokenKind::Le => Op::Le,
        TokenKind::Ge => Op::Ge,
        _ => return err(i, "a comparator (=, <, >, <=, >=)"),
    };
    Ok((&i[1..], (op, t.span)))
}

fn feature<'t>(i: Toks<'t>) -> PResult<'t, Feature> {
    let (i, name) = ident("a feature name")(i)?;
    if let Ok((i, kw)) = word("contains")(i) {
        let (i, (value, value_span)) = match peek_kind(i) {
            TokenKind::LParen => {
                let (i, list) = feature_list(i)?;
                let span = list.span;
                (i, (Value::Features(list), span))
            }
            TokenKind::String => {
                let (i, (s, span)) = string(i)?;
                (i, (Value::String(s), span))
            }
            _ => return err(i, "`(` or a string after `contains`"),
        };
        return Ok((
            i,
            Feature {
                name,
                op: Op::Contains,
                op_span: kw.span,
                value,
                value_span,
            },
        ));
    }
    let (i, (op, op_span)) = match comparator(i) {
        Ok(ok) => ok,
        Err(_) => {
            return Err(nom::Err::Failure(PErr::expected(
                i,
                "a comparator (=, <, >, <=, >=) or `contains`",
            )));
        }
    };
    let (i, (value, value_span)) = fatal(value(i))?;
    Ok((
        i,
        Feature {
            name,
            op,
            op_span,
            value,
            value_span,
        },
    ))
}

fn value<'t>(i: Toks<'t>) -> PResult<'t, (Value, Span)> {
    match peek_kind(i) {
        TokenKind::Number => {
            let (rest, (n, span)) = number(i)?;
            // A word right after a number is its unit (`512m`, `1 GB`),
            // unless it is a keyword or the name of the next feature (a
            // comparator follows it), which means an `and` is missing.
            if let Some(t) = rest.first() {
                let next = rest.get(1).map_or(TokenKind::Eof, |t| t.kind);
                let is_comparator = matches!(
                    next,
                    TokenKind::Eq | TokenKind::Lt | TokenKind::Gt | TokenKind::Le | TokenKind::Ge
                );
                if t.kind == TokenKind::Ident && !is_keyword(t.raw) && !is_comparator {
                    let unit = Ident {
                        text: t.raw.to_string(),
                        span: t.span,
                    };
                    let span = span.to(t.span);
                    return Ok((&rest[1..], (Value::Number(n, Some(unit)), span)));
                }
            }
            Ok((rest, (Value::Number(n, None), span)))
        }
        TokenKind::String => {
            let (rest, (s, span)) = string(i)?;
            Ok((rest, (Value::String(s), span)))
        }
        TokenKind::Random => {
            let t = &i[0];
            match t.raw.parse::<u32>() {
                Ok(n) if n <= 4096 => Ok((&i[1..], (Value::Random(n), t.span))),
                _ => Err(nom::Err::Failure(PErr::custom(
                    i,
                    format!(
                        "'random({})' asks for too many characters (at most 4096)",
                        t.raw
                    ),
                    t.span,
                ))),
            }
        }
        TokenKind::LBracket => string_list(i),
        // EC3: `system wn` names another aspect (`ec3_inherit_from`).
        TokenKind::Ident => {
            let kind = AspectKind::from_keyword(i[0].raw);
            match (kind, i.get(1)) {
                (Some(kind), Some(name)) if name.kind == TokenKind::Ident => {
                    let ident = Ident {
                        text: name.raw.to_string(),
                        span: name.span,
                    };
                    let span = i[0].span.to(name.span);
                    Ok((&i[2..], (Value::Reference(kind, ident), span)))
                }
                (Some(_), _) => err(&i[1..], "the name of the aspect referred to"),
                _ => err(
                    i,
                    "a value (a number, a string, a ['list'] or an aspect such as `system wn`)",
                ),
            }
        }
        _ => err(
            i,
            "a value (a number, a string, a ['list'] or an aspect such as `system wn`)",
        ),
    }
}

fn string_list<'t>(i: Toks<'t>) -> PResult<'t, (Value, Span)> {
    let (mut i, open) = tok(TokenKind::LBracket)(i)?;
    let mut items = Vec::new();
    if let Ok((rest, close)) = tok(TokenKind::RBracket)(i) {
        return Ok((rest, (Value::List(items), open.span.to(close.span))));
    }
    loop {
        let (rest, (s, _)) = match string(i) {
            Ok(ok) => ok,
            Err(nom::Err::Error(_)) => return err(i, "a string in the list"),
            Err(e) => return Err(e),
        };
        items.push(s);
        i = rest;
        if let Ok((rest, _)) = tok(TokenKind::Comma)(i) {
            i = rest;
            continue;
        }
        return match tok(TokenKind::RBracket)(i) {
            Ok((rest, close)) => Ok((rest, (Value::List(items), open.span.to(close.span)))),
            Err(_) => err(i, "`,` or `]`"),
        };
    }
}

fn configure<'t>(i: Toks<'t>) -> PResult<'t, Sentence> {
    let (i, kw) = word("configure")(i)?;
    let (i, name) = fatal(ident("a configure name")(i))?;
    let (i, body) = if let Ok((i, _)) = tok(TokenKind::LParen)(i) {
        let (i, body) = match i.first() {
            Some(t) if t.kind == TokenKind::Recipe => {
                // The span points at the body's first byte, after `@begin`.
                let start = t.span.start as usize + "@begin".len();
                let span = Span::new(t.span.file, start, start + t.raw.len());
                (
                    &i[1..],
                    ConfigureBody::Recipe {
                        text: t.raw.to_string(),
                        span,
                    },
                )
            }
            _ => (i, ConfigureBody::Empty),
        };
        let (i, _) = match tok(TokenKind::RParen)(i) {
            Ok(ok) => ok,
            Err(_) => {
                let what = if body == ConfigureBody::Empty {
                    "`@begin` or `)`"
                } else {
                    "`)`"
                };
                return Err(nom::Err::Failure(PErr::expected(i, what)));
            }
        };
        (i, body)
    } else {
        (i, ConfigureBody::Reference)
    };
    Ok((
        i,
        Sentence::Configure(Configure {
            keyword: kw.span,
            name,
            body,
        }),
    ))
}

fn contextualize<'t>(i: Toks<'t>) -> PResult<'t, Sentence> {
    let (i, kw) = word("contextualize")(i)?;
    let (i, max_time) = match peek_kind(i) {
        TokenKind::Number => {
            let (i, n) = number(i)?;
            (i, Some(n))
        }
        _ => (i, None),
    };
    let (mut i, _) = fatal(tok(TokenKind::LParen)(i))?;
    let mut options = Vec::new();
    let mut items = Vec::new();
    loop {
        if let Ok((rest, close)) = tok(TokenKind::RParen)(i) {
            return Ok((
                rest,
                Sentence::Contextualize(Contextualize {
                    keyword: kw.span,
                    max_time,
                    options,
                    items,
                    span: kw.span.to(close.span),
                }),
            ));
        }
        if let Ok((rest, _)) = word("option")(i) {
            let (rest, name) = fatal(ident("an option name")(rest))?;
            let (rest, (op, op_span)) = fatal(comparator(rest))?;
            let (rest, (value, value_span)) = match peek_kind(rest) {
                TokenKind::String | TokenKind::Number => fatal(value(rest))?,
                _ => {
                    return Err(nom::Err::Failure(PErr::expected(
                        rest,
                        "a string or a number",
                    )));
                }
            };
            options.push(Feature {
                name,
                op,
                op_span,
                value,
                value_span,
            });
            i = rest;
            continue;
        }
        if let Ok((rest, _)) = word("system")(i) {
            let (rest, system) = fatal(ident("a system name")(rest))?;
            let (rest, _) = fatal(word("configure")(rest))?;
            let (mut rest, configure) = fatal(ident("a configure name")(rest))?;
            let mut step = None;
            let mut tool = None;
            if let Ok((r, _)) = word("step")(rest) {
                let (r, n) = match number(r) {
                    Ok(ok) => ok,
                    Err(_) => return Err(nom::Err::Failure(PErr::expected(r, "a step number"))),
                };
                step = Some(n);
                rest = r;
            }
            if let Ok((r, _)) = word("with")(rest) {
                let (r, t) = fatal(ident("a tool name (Ansible or cloud_init)")(r))?;
                tool = Some(t);
                rest = r;
            }
            items.push(ContextItem {
                system,
                configure,
                step,
                tool,
            });
            i = rest;
            continue;
        }
        return Err(nom::Err::Failure(PErr::expected(
            i,
            "`option`, `system` or `)` in contextualize",
        )));
    }
}

fn deploy<'t>(i: Toks<'t>) -> PResult<'t, Sentence> {
    let (i, kw) = word("deploy")(i)?;
    let (i, system) = fatal(ident("a system name")(i))?;
    let (i, count) = match number(i) {
        Ok(ok) => ok,
        Err(nom::Err::Error(_)) => {
            return Err(nom::Err::Failure(PErr::expected(i, "the number of VMs")));
        }
        Err(e) => return Err(e),
    };
    let (i, cloud) = match i.first() {
        Some(t) if t.kind == TokenKind::Ident && !SENTENCE_KEYWORDS.contains(&t.raw) => (
            &i[1..],
            Some(Ident {
                text: t.raw.to_string(),
                span: t.span,
            }),
        ),
        _ => (i, None),
    };
    Ok((
        i,
        Sentence::Deploy(Deploy {
            keyword: kw.span,
            system,
            count,
            cloud,
        }),
    ))
}
