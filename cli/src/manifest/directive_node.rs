//! Reading a node that stands for a server directive (`timeout "5s"` for `WasmTimeout 5s`): its
//! arguments are read by what the directive takes, and checked by the directive's own validator
//! from the runtime's table (`wasm_runtime::directives`), the very function `mod_wasm.c` calls
//! for `apachectl -t`. So the manifest accepts what Apache accepts, and a refusal carries the
//! validator's words.

use kdl::KdlNode;
use wasm_runtime::directives::{Directive, ValueKind};

use super::Spanned;
use super::reader::NodeReader;
use super::schema::DIR_PROPS;
use super::suggest::did_you_mean;
use crate::problem::Problem;

/// A directive node's value, checked.
#[derive(Debug)]
pub struct DirectiveValue {
    /// The arguments as written (integers as their digits, booleans as `On`/`Off`).
    pub args: Vec<Spanned<String>>,
    /// What the validator returned: milliseconds, bytes, a count, 1 for `On` or read-only.
    pub number: u64,
}

impl DirectiveValue {
    /// Argument `i` as written.
    pub fn text(&self, i: usize) -> String {
        self.args[i].value.clone()
    }

    /// Argument `i` with its span.
    pub fn spanned(&self, i: usize) -> Spanned<String> {
        self.args[i].clone()
    }

    /// For a flag, On; for `dir`/`map-dir`, read-only.
    pub fn is_set(&self) -> bool {
        self.number == 1
    }
}

/// The manifest's arguments for a directive that takes `kind`: one word per argument, for
/// messages. A folder's access mode is the `readonly=` property instead of a third argument,
/// and `module-limits` has properties only.
fn arguments(kind: ValueKind) -> &'static [&'static str] {
    match kind {
        ValueKind::Env => &["variable name", "value"],
        ValueKind::MapDir => &["guest path", "host folder"],
        ValueKind::Dir => &["host folder"],
        ValueKind::Path => &["path"],
        ValueKind::Text => &["argument"],
        ValueKind::Name => &["name"],
        ValueKind::Flag => &["value"],
        ValueKind::Duration => &["duration"],
        ValueKind::Size => &["size"],
        ValueKind::Count { .. } => &["whole number"],
        ValueKind::OptLevel => &["level"],
        ValueKind::ModuleLimit => &[],
        ValueKind::Outbound => &["host[:port]"],
    }
}

/// Whether the directive's last argument is an access mode (`ro`/`rw`), written `readonly=`.
fn has_access_mode(kind: ValueKind) -> bool {
    matches!(kind, ValueKind::Dir | ValueKind::MapDir)
}

/// Whether a KDL integer may stand for the value (`timeout 5`, `pooling-max-instances 64`).
fn numeric(kind: ValueKind) -> bool {
    matches!(
        kind,
        ValueKind::Duration | ValueKind::Size | ValueKind::Count { .. }
    )
}

/// The diagnostic code and label of a value the validator refuses.
pub fn refusal(kind: ValueKind) -> (&'static str, &'static str) {
    match kind {
        ValueKind::Duration => ("manifest::duration", "not a duration"),
        ValueKind::Size => ("manifest::size", "not a size"),
        ValueKind::Count { .. } => ("manifest::count", "not a whole number in range"),
        ValueKind::OptLevel => ("manifest::opt-level", "not an opt-level"),
        ValueKind::Env => ("manifest::env-name", "bad name"),
        ValueKind::ModuleLimit => ("manifest::limit-value", "not a usable limit"),
        ValueKind::Outbound => ("manifest::outbound", "not a host[:port]"),
        ValueKind::Path
        | ValueKind::Text
        | ValueKind::Name
        | ValueKind::Flag
        | ValueKind::Dir
        | ValueKind::MapDir => ("manifest::value", "refused"),
    }
}

/// What the node takes, from the table: "`timeout` takes duration: `"500ms"`, …".
pub fn takes(node: &str, d: &Directive) -> String {
    format!("`{node}` takes {}", d.manifest_form)
}

/// The words a value may be, when the directive takes one of a few (`none|speed|…`).
fn choices(d: &Directive) -> Vec<&'static str> {
    match d.value {
        ValueKind::OptLevel => d.syntax.split('|').collect(),
        _ => Vec::new(),
    }
}

/// Reads `node`, which stands for directive `d`: its arguments by what `d` takes, then checks
/// them with `d`'s validator. `None` when a problem was recorded.
pub fn read(mut r: NodeReader<'_>, node: &KdlNode, d: &Directive) -> Option<DirectiveValue> {
    let name = node.name().value();
    let access_mode = has_access_mode(d.value);
    let readonly = if access_mode {
        r.bool_prop("readonly")
    } else {
        None
    };
    let value = read_args(&mut r, name, d).and_then(|args| {
        let mut words: Vec<&str> = args.iter().map(|a| a.value.as_str()).collect();
        if access_mode {
            words.push(if readonly == Some(true) { "ro" } else { "rw" });
        }
        match d.parse(&words) {
            Ok(number) => Some(DirectiveValue { args, number }),
            Err(why) => {
                r.push(refused(name, d, &args[0], &why));
                None
            }
        }
    });
    r.finish(if access_mode { DIR_PROPS } else { &[] }, false);
    value
}

/// The arguments of a node for `d`, each read as the kind of value `d` takes (every one is read,
/// so each wrong one is reported).
fn read_args(r: &mut NodeReader<'_>, name: &str, d: &Directive) -> Option<Vec<Spanned<String>>> {
    let words = arguments(d.value);
    if !r.expect_arg_count(words.len(), takes(name, d)) {
        return None;
    }
    let args: Vec<Option<Spanned<String>>> = words
        .iter()
        .enumerate()
        .map(|(i, what)| {
            if d.value == ValueKind::Flag {
                let span = r.arg_span(i)?;
                let on = r.bool_arg(i, what)?;
                Some(Spanned::new(
                    if on { "On" } else { "Off" }.to_string(),
                    span,
                ))
            } else if numeric(d.value) {
                r.text_or_int_arg(i, what)
            } else {
                r.string_arg(i, what)
            }
        })
        .collect();
    args.into_iter().collect()
}

/// The problem of `value` (of node `name`, for directive `d`) refused by `d`'s validator: the
/// validator's words in the message, so `mod-wasm check` and `apachectl -t` say the same.
pub fn refused(name: &str, d: &Directive, value: &Spanned<String>, why: &str) -> Problem {
    let (code, label) = refusal(d.value);
    let hint = did_you_mean(&value.value, &choices(d)).unwrap_or_else(|| takes(name, d));
    Problem::error(code, format!("bad `{name}`: {why}"), value.span, label).with_help(hint)
}
