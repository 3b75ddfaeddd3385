//! One problem found in a manifest: a code, a message, a labelled span in the KDL source and an
//! optional hint. Rendered by miette for people and serialised for `--json`.
//!
//! Found by the manifest reader, the module sources (files, registries) and the build alike, so
//! it lives beside them rather than inside any of them: none has to import another for it.

use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, Severity, SourceSpan};
use serde::Serialize;

/// How bad a problem is: errors stop `check` and `build`, warnings do not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// The manifest cannot be used.
    Error,
    /// Worth knowing; the manifest still works.
    Warning,
}

/// One problem, with everything needed to point at it.
#[derive(Clone, Debug)]
pub struct Problem {
    /// Stable code, e.g. `manifest::unknown-node`.
    pub code: &'static str,
    /// Error or warning.
    pub level: Level,
    /// What is wrong.
    pub message: String,
    /// Where (byte offsets into the manifest text).
    pub span: SourceSpan,
    /// Text of the label on `span`.
    pub label: String,
    /// How to fix it, when we can tell.
    pub help: Option<String>,
    /// A second place worth showing (e.g. "first defined here").
    pub related: Option<(SourceSpan, String)>,
}

impl Problem {
    /// An error at `span`.
    pub fn error(
        code: &'static str,
        message: impl Into<String>,
        span: SourceSpan,
        label: impl Into<String>,
    ) -> Problem {
        Problem {
            code,
            level: Level::Error,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            related: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(
        code: &'static str,
        message: impl Into<String>,
        span: SourceSpan,
        label: impl Into<String>,
    ) -> Problem {
        Problem {
            level: Level::Warning,
            ..Problem::error(code, message, span, label)
        }
    }

    /// Adds a hint.
    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }

    /// Adds an optional hint.
    pub fn with_help_opt(mut self, help: Option<String>) -> Problem {
        self.help = help;
        self
    }

    /// Adds a second labelled place.
    pub fn with_related(mut self, span: SourceSpan, label: impl Into<String>) -> Problem {
        self.related = Some((span, label.into()));
        self
    }

    /// Whether this problem stops the build.
    pub fn is_error(&self) -> bool {
        self.level == Level::Error
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// A problem bound to its source file, ready for miette to render.
#[derive(Debug)]
pub struct SourcedProblem {
    problem: Problem,
    source: NamedSource<Arc<String>>,
}

impl SourcedProblem {
    /// Binds `problem` to the manifest `name` with text `text`.
    pub fn new(problem: Problem, name: &str, text: Arc<String>) -> SourcedProblem {
        SourcedProblem {
            problem,
            source: NamedSource::new(name, text).with_language("kdl"),
        }
    }
}

impl std::fmt::Display for SourcedProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for SourcedProblem {}

impl Diagnostic for SourcedProblem {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.problem.code))
    }
    fn severity(&self) -> Option<Severity> {
        Some(match self.problem.level {
            Level::Error => Severity::Error,
            Level::Warning => Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.problem
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(self.problem.label.clone()),
            self.problem.span,
        )];
        if let Some((span, label)) = &self.problem.related {
            labels.push(LabeledSpan::new_with_span(Some(label.clone()), *span));
        }
        Some(Box::new(labels.into_iter()))
    }
}

/// The `--json` form of a problem.
#[derive(Debug, Serialize)]
pub struct ProblemJson<'a> {
    /// Diagnostic code.
    pub code: &'a str,
    /// `error` or `warning`.
    pub level: Level,
    /// What is wrong.
    pub message: &'a str,
    /// The manifest file.
    pub file: &'a str,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The label text.
    pub label: &'a str,
    /// The hint, if any.
    pub help: Option<&'a str>,
}

impl Problem {
    /// The `--json` form, with line and column computed from `text`.
    pub fn to_json<'a>(&'a self, file: &'a str, text: &str) -> ProblemJson<'a> {
        let (line, column) = line_col(text, self.span.offset());
        ProblemJson {
            code: self.code,
            level: self.level,
            message: &self.message,
            file,
            line,
            column,
            label: &self.label,
            help: self.help.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::line_col;

    #[test]
    fn line_and_column_count_characters() {
        let text = "ab\ncdé f\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 7), (2, 4));
        assert_eq!(line_col(text, 8), (2, 5));
    }
}
