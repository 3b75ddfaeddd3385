//! Typed access to one KDL node's arguments and properties, recording a [`Problem`] for every
//! wrong count, wrong type, unknown or repeated property, and value unsafe for httpd.conf.

use kdl::{KdlEntry, KdlNode, KdlValue};
use miette::SourceSpan;

use super::Spanned;
use super::suggest::did_you_mean;
use crate::problem::Problem;

/// Reads one node; call [`NodeReader::finish`] to report unknown properties.
pub struct NodeReader<'a> {
    node: &'a KdlNode,
    text: &'a str,
    problems: &'a mut Vec<Problem>,
}

/// The kind of a KDL value, for messages.
pub fn kind(value: &KdlValue) -> &'static str {
    match value {
        KdlValue::String(_) => "a string",
        KdlValue::Integer(_) => "an integer",
        KdlValue::Float(_) => "a number",
        KdlValue::Bool(_) => "a boolean",
        KdlValue::Null => "#null",
    }
}

pub use super::value_rules::config_unsafe;

impl<'a> NodeReader<'a> {
    /// A reader over `node`, whose source is `text`.
    pub fn new(node: &'a KdlNode, text: &'a str, problems: &'a mut Vec<Problem>) -> Self {
        NodeReader {
            node,
            text,
            problems,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &'a str {
        self.node.name().value()
    }

    /// Span of the node's name.
    pub fn name_span(&self) -> SourceSpan {
        self.node.name().span()
    }

    /// Span of the node without its children block (name and entries).
    pub fn head_span(&self) -> SourceSpan {
        let start = self.node.span().offset();
        let end = self
            .node
            .entries()
            .last()
            .map(|e| e.span().offset() + e.span().len())
            .unwrap_or(self.name_span().offset() + self.name_span().len());
        SourceSpan::from(start..end.max(start))
    }

    /// Records a problem.
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn args(&self) -> Vec<&'a KdlEntry> {
        self.node
            .entries()
            .iter()
            .filter(|e| e.name().is_none())
            .collect()
    }

    /// Checks there are exactly `n` arguments; `usage` shows the expected form, e.g.
    /// `env "NAME" "VALUE"`.
    pub fn expect_args(&mut self, n: usize, usage: &str) -> bool {
        self.expect_arg_count(n, format!("write it as: {usage}"))
    }

    /// Checks there are exactly `n` arguments; `help` says what the node takes.
    pub fn expect_arg_count(&mut self, n: usize, help: String) -> bool {
        let args = self.args();
        if args.len() == n {
            return true;
        }
        let name = self.name();
        let (span, label) = if args.len() > n {
            let extra = &args[n];
            (extra.span(), "unexpected argument".to_string())
        } else {
            (self.head_span(), format!("{} of {n} given", args.len()))
        };
        let plural = if n == 1 { "argument" } else { "arguments" };
        self.push(
            Problem::error(
                "manifest::arguments",
                format!("`{name}` takes {n} {plural}, found {}", args.len()),
                span,
                label,
            )
            .with_help(help),
        );
        false
    }

    /// The span of argument `i`.
    pub fn arg_span(&self, i: usize) -> Option<SourceSpan> {
        self.args().get(i).map(|e| e.span())
    }

    /// Argument `i` as a string.
    pub fn string_arg(&mut self, i: usize, what: &str) -> Option<Spanned<String>> {
        let entry = *self.args().get(i)?;
        self.string_of(entry, what)
    }

    /// Argument `i` as a boolean (`#true`/`#false`).
    pub fn bool_arg(&mut self, i: usize, what: &str) -> Option<bool> {
        let entry = *self.args().get(i)?;
        match entry.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                let name = self.name();
                self.push(
                    Problem::error(
                        "manifest::type",
                        format!("`{name}` expects a boolean {what}, found {}", kind(other)),
                        entry.span(),
                        "not a boolean",
                    )
                    .with_help("KDL 2 booleans are written `#true` and `#false`"),
                );
                None
            }
        }
    }

    /// Argument `i` as text: a string, or an integer written as its digits (sizes, durations),
    /// for a parser of such values to judge (a negative one too).
    pub fn text_or_int_arg(&mut self, i: usize, what: &str) -> Option<Spanned<String>> {
        let entry = *self.args().get(i)?;
        match entry.value() {
            KdlValue::Integer(n) => Some(Spanned::new(n.to_string(), entry.span())),
            _ => self.string_of(entry, what),
        }
    }

    fn string_of(&mut self, entry: &KdlEntry, what: &str) -> Option<Spanned<String>> {
        let span = self.value_span(entry);
        match entry.value() {
            KdlValue::String(s) => {
                if s.is_empty() {
                    self.push(
                        Problem::error(
                            "manifest::empty-value",
                            "empty values cannot be used",
                            span,
                            "empty",
                        )
                        .with_help("httpd.conf has no way to pass an empty directive argument"),
                    );
                    return None;
                }
                if let Some(reason) = config_unsafe(s) {
                    self.push(Problem::error(
                        "manifest::unsafe-value",
                        format!("this value cannot be used: {reason}"),
                        span,
                        "unsafe for httpd.conf",
                    ));
                    return None;
                }
                Some(Spanned::new(s.clone(), span))
            }
            other => {
                let name = self.name();
                let hint = match other {
                    KdlValue::Bool(b) => Some(format!("write it as a string: \"{b}\"")),
                    KdlValue::Integer(n) => Some(format!("write it as a string: \"{n}\"")),
                    _ => None,
                };
                self.push(
                    Problem::error(
                        "manifest::type",
                        format!("`{name}` expects a string {what}, found {}", kind(other)),
                        span,
                        "not a string",
                    )
                    .with_help_opt(hint),
                );
                None
            }
        }
    }

    /// The span of an entry's value (for a property, the part after `=`).
    pub fn value_span(&self, entry: &KdlEntry) -> SourceSpan {
        let whole = entry.span();
        let Some(name) = entry.name() else {
            return whole;
        };
        let end = whole.offset() + whole.len();
        let after_name = name.span().offset() + name.span().len();
        let rest = self.text.get(after_name..end).unwrap_or("");
        let skip = rest
            .find('=')
            .map(|i| i + 1 + rest[i + 1..].len() - rest[i + 1..].trim_start().len())
            .unwrap_or(0);
        SourceSpan::from(after_name + skip..end)
    }

    /// The property `key` (the last one when repeated, which is reported).
    pub fn prop(&mut self, key: &str) -> Option<&'a KdlEntry> {
        let matches: Vec<&'a KdlEntry> = self
            .node
            .entries()
            .iter()
            .filter(|e| e.name().map(|n| n.value()) == Some(key))
            .collect();
        if matches.len() > 1 {
            let first = matches[0].span();
            let name = self.name();
            self.push(
                Problem::error(
                    "manifest::duplicate-property",
                    format!("`{name}` has `{key}=` more than once"),
                    matches[1].span(),
                    "repeated here",
                )
                .with_related(first, "first given here"),
            );
        }
        matches.last().copied()
    }

    /// The names of the node's properties, each once, in the order written.
    pub fn prop_keys(&self) -> Vec<&'a str> {
        let mut keys: Vec<&'a str> = Vec::new();
        for key in self.node.entries().iter().filter_map(|e| e.name()) {
            if !keys.contains(&key.value()) {
                keys.push(key.value());
            }
        }
        keys
    }

    /// The span of the name of property `key` (its last occurrence).
    pub fn prop_key_span(&self, key: &str) -> Option<SourceSpan> {
        self.node
            .entries()
            .iter()
            .filter_map(|e| e.name())
            .rfind(|n| n.value() == key)
            .map(|n| n.span())
    }

    /// The string property `key`.
    pub fn string_prop(&mut self, key: &str) -> Option<Spanned<String>> {
        let entry = self.prop(key)?;
        self.string_of(entry, &format!("for `{key}=`"))
    }

    /// The boolean property `key` (`#true`/`#false`).
    pub fn bool_prop(&mut self, key: &str) -> Option<bool> {
        let entry = self.prop(key)?;
        match entry.value() {
            KdlValue::Bool(b) => Some(*b),
            other => {
                let name = self.name();
                let span = self.value_span(entry);
                self.push(
                    Problem::error(
                        "manifest::type",
                        format!(
                            "`{name}` expects a boolean for `{key}=`, found {}",
                            kind(other)
                        ),
                        span,
                        "not a boolean",
                    )
                    .with_help(format!("write it as {key}=#true or {key}=#false")),
                );
                None
            }
        }
    }

    /// The property `key` as text: a string, or an integer written as its digits (for a parser
    /// of sizes or counts to judge).
    pub fn text_or_int_prop(&mut self, key: &str) -> Option<Spanned<String>> {
        let entry = self.prop(key)?;
        match entry.value() {
            KdlValue::Integer(n) => Some(Spanned::new(n.to_string(), self.value_span(entry))),
            _ => self.string_of(entry, &format!("for `{key}=`")),
        }
    }

    /// A string property that must be present; reports `manifest::missing-property` if absent.
    pub fn required_string_prop(&mut self, key: &str, example: &str) -> Option<Spanned<String>> {
        if self.prop(key).is_none() {
            let name = self.name();
            let span = self.head_span();
            self.push(
                Problem::error(
                    "manifest::missing-property",
                    format!("`{name}` needs a `{key}=` property"),
                    span,
                    format!("no `{key}=` here"),
                )
                .with_help(format!("for example: {example}")),
            );
            return None;
        }
        self.string_prop(key)
    }

    /// Reports properties not in `allowed`, and a children block when `children` is false.
    pub fn finish(self, allowed: &[&str], children: bool) {
        let name = self.name();
        for entry in self.node.entries() {
            if let Some(key) = entry.name()
                && !allowed.contains(&key.value())
            {
                let hint = did_you_mean(key.value(), allowed).or_else(|| {
                    Some(if allowed.is_empty() {
                        format!("`{name}` takes no properties")
                    } else {
                        format!(
                            "`{name}` accepts: {}",
                            allowed
                                .iter()
                                .map(|a| format!("{a}="))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                });
                self.problems.push(
                    Problem::error(
                        "manifest::unknown-property",
                        format!("`{name}` has no property `{}`", key.value()),
                        key.span(),
                        "unknown property",
                    )
                    .with_help_opt(hint),
                );
            }
        }
        if !children && let Some(block) = self.node.children() {
            self.problems.push(Problem::error(
                "manifest::unexpected-children",
                format!("`{name}` takes no `{{ }}` block"),
                block.span(),
                "unexpected block",
            ));
        }
    }
}
