//! How a deploy's outcome reaches the user: a [`Report`] as text or `--json`, a [`Failure`] as
//! a miette diagnostic with its code — the same for `deploy`, `deploy --from` and `rollback`.

use serde_json::json;

use super::{Failure, Report};
use crate::exit::CliError;
use crate::output::Output;

/// A deploy failure as the user sees it.
pub fn diagnostic(f: Failure) -> CliError {
    let details = f.details.trim().to_string();
    let help = match (&f.help, details.is_empty()) {
        (Some(h), true) => h.clone(),
        (Some(h), false) => format!("{h}\n\n{details}"),
        (None, false) => details,
        (None, true) => String::new(),
    };
    if help.is_empty() {
        CliError::user(miette::miette!(code = f.code, "{}", f.message))
    } else {
        CliError::user(miette::miette!(code = f.code, help = help, "{}", f.message))
    }
}

/// Prints a report (text or `--json`).
pub fn print_report(report: &Report, what: &str, out: &Output) {
    out.json(&json!(report));
    let t = &report.timings;
    match report.outcome.as_str() {
        "dry-run" => out.status(format!(
            "Dry run: release {} passed the configtest ({} ms); nothing changed",
            report.id, t.configtest_ms
        )),
        _ => out.status(format!(
            "{what} {} is live (previous: {}); configtest {} ms, preflight {} ms, switch {} ms, verify {} ms, total {} ms",
            report.id,
            report.previous.as_deref().unwrap_or("none"),
            t.configtest_ms,
            t.preflight_ms,
            t.switch_ms,
            t.verify_ms,
            t.total_ms
        )),
    }
    if !report.pruned.is_empty() {
        out.detail(format!("pruned: {}", report.pruned.join(", ")));
    }
}
