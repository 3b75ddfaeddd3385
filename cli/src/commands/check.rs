//! `mod-wasm check`: parse and validate a manifest, report every problem.

use std::path::Path;

use serde_json::json;

use crate::cli::CheckArgs;
use crate::exit::CliError;
use crate::manifest::{self, Checked};
use crate::output::Output;

/// Loads `path` and reports its problems; `Err` (already printed) when any is an error.
pub fn load_checked(path: &Path, out: &Output) -> Result<Checked, CliError> {
    let checked = manifest::load(path).map_err(|e| {
        CliError::user(miette::miette!(
            code = "manifest::read",
            help = "pass the manifest's path, e.g. `mod-wasm check samples/hello/app.kdl`",
            "{e}"
        ))
    })?;
    out.problems(&checked, &checked.problems);
    Ok(checked)
}

/// A one-line count of errors and warnings.
pub fn summary(checked: &Checked) -> String {
    let errors = checked.problems.iter().filter(|p| p.is_error()).count();
    let warnings = checked.problems.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    format!(
        "{}: {}, {}",
        checked.manifest.display_name(),
        plural(errors, "error"),
        plural(warnings, "warning")
    )
}

/// Runs `check`.
pub fn run(args: &CheckArgs, out: &Output) -> Result<(), CliError> {
    let checked = load_checked(&args.manifest, out)?;
    let m = &checked.manifest;
    out.json(&json!({
        "ok": !checked.has_errors(),
        "manifest": m.display_name(),
        "app": m.app.as_ref().map(|a| a.value.clone()),
        "modules": m.modules.iter().map(|x| x.name.value.clone()).collect::<Vec<_>>(),
        "routes": m.routes.iter().map(|r| r.path.value.clone()).collect::<Vec<_>>(),
        "problems": Output::problems_json(&checked, &checked.problems),
    }));
    if checked.has_errors() {
        if !out.json {
            eprintln!("{}", summary(&checked));
        }
        return Err(CliError::User(None));
    }
    out.result(format!(
        "{} is valid: app `{}`, {} module(s), {} route(s)",
        m.display_name(),
        m.app_name(),
        m.modules.len(),
        m.routes.len()
    ));
    Ok(())
}
