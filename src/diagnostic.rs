//! Diagnostics: collected by every front-end pass, rendered once at the edge.

use crate::source::{SourceMap, Span};
use std::fmt::Write as _;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in the input, pointing at the spot that causes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub span: Span,
    pub message: String,
    /// Extra lines printed after the snippet ("help: ...", "note: ...").
    pub notes: Vec<String>,
    /// Other places that explain this one ("first defined here"), printed
    /// as `note: <message> at file:line:col`.
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            notes: Vec::new(),
            related: Vec::new(),
        }
    }

    pub fn with_related(mut self, span: Span, message: impl Into<String>) -> Diagnostic {
        self.related.push((span, message.into()));
        self
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Diagnostic {
        self.notes.push(note.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col: error: message`, then the source line and a caret
    /// line under the span, then the notes.
    pub fn render(&self, sources: &SourceMap) -> String {
        let file = sources.get(self.span.file);
        let start = file.line_col(self.span.start as usize);
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = format!("{}:{}: {kind}: {}\n", file.name, start, self.message);
        let line = file.line_text(start.line);
        let gutter = start.line.to_string().len();
        let _ = writeln!(out, "{:gutter$} |", "");
        let _ = writeln!(out, "{} | {}", start.line, line.replace('\t', " "));
        // Width of the caret: the span's characters on this line, at least one.
        let end = file.line_col(self.span.end as usize);
        let width = if end.line == start.line {
            end.col.saturating_sub(start.col).max(1)
        } else {
            (line.chars().count() + 1).saturating_sub(start.col).max(1)
        };
        let _ = writeln!(
            out,
            "{:gutter$} | {}{}",
            "",
            " ".repeat(start.col - 1),
            "^".repeat(width)
        );
        for (span, msg) in &self.related {
            let f = sources.get(span.file);
            let at = f.line_col(span.start as usize);
            let _ = writeln!(out, "{:gutter$} = note: {msg} at {}:{at}", "", f.name);
        }
        for note in &self.notes {
            let _ = writeln!(out, "{:gutter$} = {note}", "");
        }
        out
    }
}

/// Sorts diagnostics by file and position so output is deterministic.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (a.span.file, a.span.start, &a.message).cmp(&(b.span.file, b.span.start, &b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_line_and_caret() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.radl", "system x (\n  cpu.count = 'two'\n)\n");
        let d = Diagnostic::error(Span::new(f, 25, 30), "expected a number").with_note("help: x");
        assert_eq!(
            d.render(&sm),
            "a.radl:2:15: error: expected a number\n  |\n2 |   cpu.count = 'two'\n  |               ^^^^^\n  = help: x\n"
        );
    }
}
